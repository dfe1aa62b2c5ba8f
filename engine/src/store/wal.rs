//! The SQLite WAL checkpointer: copies committed pages from the write-ahead log back into the
//! database file in the background, so no request pays for it.
//!
//! Left to itself, SQLite checkpoints inside the `COMMIT` that grows the log past
//! `wal_autocheckpoint` pages (1,000 by default): that commit writes the pages back and waits
//! for two `fsync`s while the single writer connection, and every write queued behind it,
//! waits. Here the automatic threshold is raised to a safety net ([`AUTOCHECKPOINT_PAGES`])
//! and a task runs a `PASSIVE` checkpoint on a reader connection: passive checkpoints never
//! take the writer's lock, they copy what no reader still needs and try again next time.
//!
//! They still cost the writer something. The commit that restarts the log after a complete
//! checkpoint syncs the log's new header, and that sync waits behind the checkpoint's own
//! `fsync` of the database file; under load, the writer's appends also wait on log pages the
//! checkpoint is writing back. Both waits grow with the pages a checkpoint copies. Measured on
//! the 2-core machine (`scripts/bench-chat.sh`, docs/foundation.md "Performance"): a
//! checkpoint every 250 ms copied up to 10,000 pages at a time and the chat endpoint's p99 was
//! 10-25 ms; every 50 ms it was 4-9 ms. Once the turn itself got cheaper (3,600 turns a second
//! instead of 2,400, so the log grows faster), 50 ms let the p99 at 8 connections climb back to
//! 10-13 ms; every 20 ms it is 7 ms. So the checkpointer runs every [`BUSY_INTERVAL`] while
//! the log is growing and backs off to [`IDLE_INTERVAL`] when nothing was written.

use std::time::Duration;

use sqlx::AnyPool;
use tokio::task::JoinHandle;

/// The automatic checkpoint threshold while the background checkpointer runs: about 40 MB
/// of log with 4 KiB pages, reached only if the checkpointer falls far behind.
pub(super) const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The pause between checkpoints while writes arrive: short, so each checkpoint copies few
/// pages and its `fsync`s are short.
const BUSY_INTERVAL: Duration = Duration::from_millis(20);

/// The longest pause, reached after a few checkpoints that found nothing new: an idle server
/// wakes four times a second for a lock check.
const IDLE_INTERVAL: Duration = Duration::from_millis(250);

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
        let mut interval = BUSY_INTERVAL;
        let mut last: Option<LogState> = None;
        loop {
            tokio::time::sleep(interval).await;
            if pool.is_closed() {
                return;
            }
            let now = checkpoint(&pool).await;
            interval = next_interval(interval, last, now);
            if now.is_some() {
                last = now;
            }
        }
    }))
}

/// What a checkpoint reported: frames in the log and frames copied to the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LogState {
    frames: i64,
    copied: i64,
}

/// The pause before the next checkpoint. Busy (the log changed since the last checkpoint, a
/// checkpoint could not copy everything, or it failed): [`BUSY_INTERVAL`]. Otherwise the
/// pause doubles, up to [`IDLE_INTERVAL`].
fn next_interval(current: Duration, last: Option<LogState>, now: Option<LogState>) -> Duration {
    let busy = match now {
        None => true,
        Some(now) => now.copied < now.frames || last != Some(now),
    };
    if busy {
        BUSY_INTERVAL
    } else {
        (current * 2).min(IDLE_INTERVAL)
    }
}

/// Runs one passive checkpoint and returns what it reported; a failure is logged (and
/// retried soon) and gives `None`.
#[tracing::instrument(name = "wal_checkpoint", skip_all)]
async fn checkpoint(pool: &AnyPool) -> Option<LogState> {
    // The row: busy (1 when a lock stopped it), frames in the log, frames checkpointed.
    let row: Result<(i64, i64, i64), sqlx::Error> =
        sqlx::query_as("pragma wal_checkpoint(passive)")
            .fetch_one(pool)
            .await;
    match row {
        Ok((0, frames, copied)) => Some(LogState { frames, copied }),
        // A lock stopped it: try again soon.
        Ok(_) => None,
        Err(err) if pool.is_closed() => {
            tracing::debug!(error = %err, "the pool is closed");
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, "the background WAL checkpoint failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(frames: i64, copied: i64) -> Option<LogState> {
        Some(LogState { frames, copied })
    }

    #[test]
    fn a_growing_log_is_checkpointed_at_the_busy_pace() {
        let pace = next_interval(IDLE_INTERVAL, state(100, 100), state(250, 250));
        assert_eq!(pace, BUSY_INTERVAL);
        // The log restarted and grew back to a different size: written meanwhile.
        let pace = next_interval(IDLE_INTERVAL, state(900, 900), state(40, 40));
        assert_eq!(pace, BUSY_INTERVAL);
    }

    #[test]
    fn an_unchanged_log_backs_off_to_the_idle_pace() {
        let mut pace = BUSY_INTERVAL;
        let mut seen = Vec::new();
        for _ in 0..5 {
            pace = next_interval(pace, state(250, 250), state(250, 250));
            seen.push(pace.as_millis());
        }
        assert_eq!(seen, vec![40, 80, 160, 250, 250]);
    }

    #[test]
    fn a_checkpoint_that_left_frames_or_failed_is_retried_soon() {
        // Frames a reader still needed stayed in the log.
        let pace = next_interval(IDLE_INTERVAL, state(300, 120), state(300, 120));
        assert_eq!(pace, BUSY_INTERVAL);
        let pace = next_interval(IDLE_INTERVAL, state(300, 300), None);
        assert_eq!(pace, BUSY_INTERVAL);
    }

    /// The database file's size in bytes.
    fn file_size(path: &std::path::Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_a_checkpoint_by_any_request() {
        let (store, dir) = crate::store::test_support::sqlite_store().await;
        let db = dir.path().join("store.db");
        sqlx::query("create table filler (id integer primary key, body text not null)")
            .execute(store.writer())
            .await
            .expect("the table is created");
        let before = file_size(&db);
        // About 2 MB, far below the automatic checkpoint threshold (40 MB): only the
        // background checkpointer copies it out of the log.
        for n in 0..64 {
            sqlx::query("insert into filler (id, body) values ($1, $2)")
                .bind(n)
                .bind("x".repeat(32 * 1024))
                .execute(store.writer())
                .await
                .expect("the row is written");
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while file_size(&db) < before + 2_000_000 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            file_size(&db) >= before + 2_000_000,
            "the database file is still {} bytes (was {before})",
            file_size(&db)
        );
        let (rows,): (i64,) = sqlx::query_as("select count(*) from filler")
            .fetch_one(store.pool())
            .await
            .expect("the rows are read");
        assert_eq!(rows, 64);
    }

    #[test]
    fn the_first_checkpoint_counts_as_busy() {
        assert_eq!(
            next_interval(BUSY_INTERVAL, None, state(0, 0)),
            BUSY_INTERVAL
        );
    }
}
