//! The SQLite WAL checkpointer: copies committed pages from the write-ahead log back into the
//! database file in the background, so no request pays for it.
//!
//! Left to itself, SQLite checkpoints inside the `COMMIT` that grows the log past
//! `wal_autocheckpoint` pages (1,000 by default): that commit writes the pages back and waits
//! for two `fsync`s while the single writer connection, and every write queued behind it,
//! waits. Under load that is (by estimate) every hundred turns or so, a p99 by itself. Here the
//! automatic threshold is raised to a safety net ([`AUTOCHECKPOINT_PAGES`]) and a task runs a
//! `PASSIVE` checkpoint every [`INTERVAL`] on a reader connection: passive checkpoints never
//! block readers or the writer, they copy what no reader still needs and try again next time.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::task::JoinHandle;

/// The automatic checkpoint threshold while the background checkpointer runs: about 40 MB
/// of log with 4 KiB pages, reached only if the checkpointer falls far behind.
pub(super) const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// How often the background checkpointer runs. Short enough that the log stays a few
/// megabytes at full load; a checkpoint with nothing new to copy costs one lock check.
const INTERVAL: Duration = Duration::from_millis(250);

/// The running checkpointer; stops when dropped (the last [`super::Store`] clone gone).
pub(super) struct Checkpointer(JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts checkpointing the database behind `pool` until the pool is closed.
pub(super) fn spawn(pool: AnyPool) -> Checkpointer {
    Checkpointer(tokio::spawn(async move {
        loop {
            tokio::time::sleep(INTERVAL).await;
            if pool.is_closed() {
                return;
            }
            checkpoint(&pool).await;
        }
    }))
}

/// Runs one passive checkpoint; a failure is logged and retried at the next tick.
#[tracing::instrument(name = "wal_checkpoint", skip_all)]
async fn checkpoint(pool: &AnyPool) {
    match sqlx::query("pragma wal_checkpoint(passive)")
        .execute(pool)
        .await
    {
        Ok(_) => {}
        Err(err) if pool.is_closed() => tracing::debug!(error = %err, "the pool is closed"),
        Err(err) => tracing::warn!(error = %err, "the background WAL checkpoint failed"),
    }
}
