//! Reliability, security and scale-out suites (issue 12): several replicas on one PostgreSQL,
//! the database going away and coming back, load shedding past capacity, and the tenant
//! isolation matrix over every published route. The log capture of secrets lives in
//! `reliability_logs.rs` (it needs a process of its own).
//!
//! `cargo test -p tests --test reliability` (PostgreSQL from scripts/ensure-postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "webhooks/receiver.rs"]
mod receiver;

mod reliability {
    pub mod isolation;
    pub mod outage;
    pub mod overload;
    pub mod replicas;
}
