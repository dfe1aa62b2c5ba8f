//! Foundation scenarios (issue 2), each run on SQLite and on PostgreSQL against the real
//! server over loopback HTTP.

mod foundation {
    pub mod auth;
    pub mod chat;
    pub mod conversations;
    pub mod dashboard;
    pub mod errors;
    pub mod limits;
    pub mod lifecycle;
}
