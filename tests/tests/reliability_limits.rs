//! Resource limits (issue 12, "Hostile input"): compressed-body, zip and PDF bombs, uploads
//! past the limit, deeply nested JSON, very long fields, multipart abuse, slow-loris
//! connections and trickling bodies. Every case checks what the client sees (status and `detail`), that the
//! server stays healthy afterwards (`/healthz` 200 and a normal chat answered), and, where a
//! bomb could inflate, that memory stays bounded (the server runs in this process, so its
//! resident set is this process's, sampled from `/proc/self/status` while the request runs).
//!
//! `cargo test -p tests --test reliability_limits` (PostgreSQL from scripts/ensure-postgres.sh).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability_limits {
    pub mod bodies;
    pub mod connections;
    pub mod support;
    pub mod uploads;
}
