//! Webhook scenarios (issue 6), each run on SQLite and on PostgreSQL: the real server delivers
//! to a receiver on loopback that records every request and can be told how to answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod webhooks {
    pub mod api;
    pub mod delivery;
    pub mod durability;
    pub mod receiver;
    pub mod signatures;
}
