//! SQL migrations for both supported databases, embedded at compile time.
//!
//! Each migration exists twice with the same file name: `sqlite/NNNN_name.sql` and
//! `postgres/NNNN_name.sql`. Numbers are reserved per area (0001 foundation, 0002 knowledge,
//! 0003 engine, 0004+ later work). Migrations are append-only: never edit an applied one.
//!
//! - [`SQLITE`] — the migrator for SQLite databases.
//! - [`POSTGRES`] — the migrator for PostgreSQL databases.

use sqlx::migrate::Migrator;

/// Migrations for SQLite (the embedded default).
pub static SQLITE: Migrator = sqlx::migrate!("./sqlite");

/// Migrations for PostgreSQL.
pub static POSTGRES: Migrator = sqlx::migrate!("./postgres");
