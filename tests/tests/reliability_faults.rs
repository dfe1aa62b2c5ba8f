//! Fault suites (issue 12): the language model down, slow or failing; the vector index
//! unreachable, also when a replica starts during the outage; a replica's keyword index
//! learning what another replica indexed or deleted; the process SIGKILLed while a channel
//! reply is being sent, while a webhook delivery is in flight, while a document is being
//! ingested and while a confirmed refund is with the organization's backend (`node` runs the
//! real server as a child process to kill). Each fault is staged for real where the machine
//! can (a closed port, a silent port, a provider, a webhook receiver or an action backend that
//! holds a request, a child process killed with SIGKILL) and checked the way a customer and an
//! operator would see it: the answer, how long it took, `/readyz`, the log line, the audit log.
//!
//! `cargo test -p tests --test reliability_faults` (PostgreSQL from scripts/ensure-postgres.sh).
//! A binary of its own: the log capture is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod reliability_faults {
    pub mod channels;
    pub mod kill_ingestion;
    pub mod kill_refund;
    pub mod kill_webhooks;
    pub mod llm;
    pub mod node;
    pub mod replica_keywords;
    pub mod support;
    pub mod vector;
    pub mod vector_restart;
}
