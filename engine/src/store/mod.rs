//! Relational storage: one [`Store`] over a `sqlx::AnyPool`, so the same SQL serves SQLite (the
//! embedded default) and PostgreSQL (several replicas).
//!
//! Portable SQL only: `$1, $2` placeholders; BIGINT (i64), DOUBLE PRECISION (f64) and TEXT
//! columns; timestamps as unix milliseconds; booleans as 0/1; JSON as TEXT; casts on aggregates
//! (`cast(count(*) as bigint)`) because PostgreSQL would return NUMERIC otherwise.
//! Never bind an `Option<f64>` that may be `None`: sqlx 0.8.6's Any driver sends a NULL double
//! as float4 to PostgreSQL, and the cached statement then rejects real float8 values
//! ("incorrect binary data format"); bind a number plus a presence flag instead
//! (see `messages::insert_message`).
//!
//! Each domain adds its own `impl Store { ... }` block in a file of this folder:
//! - [`actions`] — action hooks, their execution log and pending (unfinished) actions.
//! - [`orgs`] — organizations.
//! - [`keys`] — API keys (hashed secrets, rotation, revocation).
//! - [`customers`] — customer records (the caller's `customer_id` per organization).
//! - [`conversations`] — conversations and their listing with cursor pagination.
//! - [`messages`] — the messages of a conversation.
//! - [`turn_context`] — what a continuing chat turn reads first, in one query.
//! - [`agent_configs`] — each organization's agent configuration.
//! - [`usage`] — monthly counters behind the free-plan quota.
//! - [`events`] — the event outbox and its deliveries (claim, complete, replay).
//! - [`intents`] — an organization's changes to the default intent set.
//! - [`webhooks`] — webhook endpoints and their delivery log.
//! - [`widget`] — the embed widget's token key and customer-signing secret.
//! - [`analytics`] — the aggregates behind the analytics summary.
//! - [`analytics_fold`] — moves the rollup's appended deltas into it (PostgreSQL).
//! - [`channels`] — channel accounts, identities, threads, inbound dedupe, the send queue.
//! - [`knowledge_chunks`] — the chunks of each knowledge document generation (the keyword
//!   index's source when the vector index cannot be read).
//! - [`limits`] — shared token buckets (the rate limiter several replicas agree on).
//! - [`lifecycle`] — status changes and their log, human replies, CSAT, the inbox, auto-resolve.
//! - [`recording`] — the per-organization recording switch and recorded turns (replay).
//! - [`users`] — dashboard team members, their sessions and the configuration audit log.
//! - [`sign_in_failures`] — failed dashboard sign-in attempts, shared by replicas.
//! - `wal` — the background WAL checkpointer (SQLite).
//! - `test_support` (unit tests only) — a migrated SQLite store and an organization in it.
//! - `cache` — in-process caches of the rows every turn reads (keys, customer ids, agent
//!   configurations, the recording switch), with short times to live.
//!
//! Writes on SQLite go through one writer connection ([`Store::begin`], [`Store::writer`]):
//! SQLite admits one writer at a time anyway, and waiting for it in process is a fair FIFO
//! queue, where waiting inside SQLite is a busy handler that sleeps in growing steps (up to
//! 100 ms a try) and let a writer sleep far longer than the lock was held. Reads use the
//! reader pool ([`Store::pool`]) and run beside the writer (WAL).

pub mod actions;
pub mod agent_configs;
pub mod analytics;
pub mod analytics_fold;
mod batch;
mod cache;
pub mod channels;
pub mod conversations;
pub mod customers;
pub mod events;
pub mod intents;
pub mod keys;
pub mod knowledge;
pub mod knowledge_chunks;
pub mod lifecycle;
pub mod limits;
pub mod memory;
pub mod messages;
pub mod orgs;
pub mod recording;
pub mod sign_in_failures;
#[cfg(test)]
pub(crate) mod test_support;
pub mod turn_context;
pub mod usage;
pub mod users;
mod wal;
pub mod webhooks;
pub mod widget;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::error::{Error, Result, ResultExt};

/// Which SQL dialect the pool speaks; only used where the two truly differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The database handle shared by the whole process. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Every statement on PostgreSQL; the readers on SQLite.
    pool: AnyPool,
    /// SQLite: the one writer connection. PostgreSQL: the same pool as `pool`.
    writer: AnyPool,
    dialect: Dialect,
    /// SQLite files: the background WAL checkpointer, stopped with the last clone.
    _checkpointer: Option<Arc<wal::Checkpointer>>,
    /// Rows every turn reads, cached in process (see `cache`).
    caches: Arc<cache::StoreCaches>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

/// Pool sizes. SQLite serialises writers anyway, so a handful of connections covers the
/// readers (plus the one writer connection); PostgreSQL gets more so concurrent requests do
/// not queue on the pool.
const SQLITE_MAX_CONNECTIONS: u32 = 8;
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// A PostgreSQL connection idle for longer than this is pinged before it is handed out (a
/// server restart or a cut network is then noticed before a request fails on it). Busier
/// connections are not: sqlx's default pings on every acquire, one extra round trip per
/// statement.
const POSTGRES_PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// How long a request may wait for a free connection before the store reports itself
/// unavailable (503) rather than hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long SQLite waits on a locked database before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

impl Store {
    /// Connects to `url` (`sqlite://path/to/file.db` or `postgres://...`). For SQLite the file
    /// and its parent folder are created when missing, and every connection runs in WAL mode
    /// with foreign keys on and a busy timeout.
    #[tracing::instrument(skip_all, fields(dialect))]
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let dialect = dialect_of(url)?;
        tracing::Span::current().record("dialect", tracing::field::debug(dialect));
        let url = match dialect {
            Dialect::Sqlite => prepare_sqlite_url(url)?,
            Dialect::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| Error::invalid("the database URL is not valid").with_source(e))?;
        let unavailable =
            |e: sqlx::Error| Error::unavailable("could not connect to the database").with_source(e);
        match dialect {
            Dialect::Sqlite => {
                // A private in-memory database exists once per connection, so it cannot have
                // a separate writer, nor a log to checkpoint.
                let in_memory = url.contains(":memory:") || url.contains("mode=memory");
                let background = !in_memory && tokio::runtime::Handle::try_current().is_ok();
                let autocheckpoint = background.then_some(wal::AUTOCHECKPOINT_PAGES);
                let pool = sqlite_pool(SQLITE_MAX_CONNECTIONS, autocheckpoint)
                    .connect_with(options.clone())
                    .await
                    .map_err(unavailable)?;
                let writer = if in_memory {
                    pool.clone()
                } else {
                    sqlite_pool(1, autocheckpoint)
                        .connect_with(options)
                        .await
                        .map_err(unavailable)?
                };
                let checkpointer = background.then(|| Arc::new(wal::spawn(pool.clone())));
                Ok(Store {
                    pool,
                    writer,
                    dialect,
                    _checkpointer: checkpointer,
                    caches: Arc::new(cache::StoreCaches::new()),
                })
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_MAX_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > POSTGRES_PING_AFTER_IDLE {
                                conn.ping().await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_with(options)
                    .await
                    .map_err(unavailable)?;
                Ok(Store {
                    writer: pool.clone(),
                    pool,
                    dialect,
                    _checkpointer: None,
                    caches: Arc::new(cache::StoreCaches::new()),
                })
            }
        }
    }

    /// Applies every pending migration of this store's dialect.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &migrations::SQLITE,
            Dialect::Postgres => &migrations::POSTGRES,
        };
        migrator
            .run(&self.pool)
            .await
            .or_internal("applying database migrations failed")
    }

    /// The underlying pool, for domain modules and tests. On SQLite its connections are
    /// meant for reads: a write through it waits in SQLite's busy handler for the writer
    /// connection's lock; write with [`Store::writer`] or [`Store::begin`] instead.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The pool for a single-statement write outside a transaction: on SQLite the one
    /// writer connection (writes queue for it in process, in order), on PostgreSQL the pool.
    /// Never use it while holding a transaction from [`Store::begin`]: on SQLite that waits
    /// for itself until the acquire timeout.
    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    fn caches(&self) -> &cache::StoreCaches {
        &self.caches
    }

    /// Starts a write transaction. On SQLite it runs on the one writer connection, so it
    /// waits in process for the transaction before it to finish, then takes the write lock
    /// up front (`begin immediate`), so two transactions never deadlock upgrading a read
    /// lock. Keep it short and never call a model or a remote service while it is open: every
    /// other write waits for it. Never start a second one while holding one (on SQLite it
    /// would wait for itself until the acquire timeout).
    pub async fn begin(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("begin immediate").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Runs `select 1`: tells whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

/// The options of a SQLite pool of `max` connections. Every connection runs in WAL mode with
/// foreign keys on and a busy timeout; `autocheckpoint` replaces SQLite's automatic
/// checkpoint threshold while the background checkpointer runs ([`wal`]).
fn sqlite_pool(max: u32, autocheckpoint: Option<u32>) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // A local file cannot hang up: sqlx's default ping before each acquire would only
        // add a round trip to the connection's thread per statement.
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the one writer; NORMAL sync is durable across
                // application crashes (not power loss of the last transactions), the usual
                // trade-off for WAL.
                conn.execute("pragma journal_mode = wal").await?;
                conn.execute("pragma synchronous = normal").await?;
                conn.execute("pragma foreign_keys = on").await?;
                conn.execute(format!("pragma busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}").as_str())
                    .await?;
                if let Some(pages) = autocheckpoint {
                    conn.execute(format!("pragma wal_autocheckpoint = {pages}").as_str())
                        .await?;
                }
                conn.execute(batch::CREATE_CHECK_TABLE).await?;
                Ok(())
            })
        })
}

/// Milliseconds since the unix epoch, the unit of every stored timestamp.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

fn dialect_of(url: &str) -> Result<Dialect> {
    if url.starts_with("sqlite:") {
        Ok(Dialect::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Dialect::Postgres)
    } else {
        Err(Error::invalid(
            "the database URL must start with sqlite:// or postgres://",
        ))
    }
}

/// Makes sure the SQLite file can be created: creates its parent folder and adds
/// `mode=rwc` unless the URL already sets a mode or points at memory.
fn prepare_sqlite_url(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" || query.is_some_and(|q| q.contains("mode=memory")) {
        return Ok(url.to_owned());
    }
    if let Some(parent) = Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| {
                Error::unavailable(format!(
                    "could not create the database folder {}",
                    parent.display()
                ))
                .with_source(e)
            })?;
        }
    }
    Ok(match query {
        Some(q) if q.contains("mode=") => url.to_owned(),
        Some(q) => format!("sqlite://{path}?{q}&mode=rwc"),
        None => format!("sqlite://{path}?mode=rwc"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_gain_create_mode_and_keep_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/nested/x.db", dir.path().display());
        let prepared = prepare_sqlite_url(&url).unwrap();
        assert_eq!(prepared, format!("{url}?mode=rwc"));
        assert!(dir.path().join("nested").is_dir());
    }

    #[test]
    fn unknown_url_schemes_are_rejected_with_a_clear_message() {
        let err = dialect_of("mysql://x").unwrap_err();
        assert!(err.message().contains("sqlite://"), "{err}");
    }

    #[tokio::test]
    async fn a_fresh_sqlite_file_is_created_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/data/blaigent.db", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        assert!(dir.path().join("data/blaigent.db").is_file());
        // Migrating twice is a no-op.
        store.migrate().await.unwrap();
    }
}
