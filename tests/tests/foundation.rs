//! Foundation scenarios (issue 2), each run on SQLite and on PostgreSQL against the real
//! server over loopback HTTP.

// Test code: a panic is how a scenario reports failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod foundation {
    pub mod auth;
    pub mod chat;
    pub mod conversations;
    pub mod dashboard;
    pub mod errors;
    pub mod lifecycle;
    pub mod limits;
    pub mod shutdown;
}
