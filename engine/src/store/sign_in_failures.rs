//! Failed dashboard sign-in attempts, counted per subject (an e-mail address or a client
//! address, hashed by the caller) in the database, so every replica on it sees the same
//! count. The limit itself (how many, how long) is the dashboard's
//! (`api/src/dashboard/login_limit.rs`).

use super::{Result, Store};

/// The failures of one subject inside a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    pub count: i64,
    /// When the oldest of them happened (unix milliseconds); `None` when there are none.
    pub oldest_ms: Option<i64>,
}

impl Store {
    /// The failures of `subject` at or after `since_ms`.
    pub async fn sign_in_failures(&self, subject: &str, since_ms: i64) -> Result<FailureCount> {
        let (count, oldest_ms): (i64, Option<i64>) = sqlx::query_as(
            "select count(*), min(failed_at) from sign_in_failures \
             where subject = $1 and failed_at >= $2",
        )
        .bind(subject)
        .bind(since_ms)
        .fetch_one(self.pool())
        .await?;
        Ok(FailureCount { count, oldest_ms })
    }

    /// Records one failure at `at_ms` for each of `subjects`, and deletes every failure older
    /// than `forget_before_ms` (of any subject: none of them counts any more).
    pub async fn record_sign_in_failure(
        &self,
        subjects: &[&str],
        at_ms: i64,
        forget_before_ms: i64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("delete from sign_in_failures where failed_at < $1")
            .bind(forget_before_ms)
            .execute(&mut *tx)
            .await?;
        for subject in subjects {
            sqlx::query(
                "insert into sign_in_failures (id, subject, failed_at) values ($1, $2, $3)",
            )
            .bind(format!("sif_{}", crate::ids::fresh_suffix()))
            .bind(*subject)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forgets every failure of `subject` (after a successful sign-in).
    pub async fn clear_sign_in_failures(&self, subject: &str) -> Result<()> {
        sqlx::query("delete from sign_in_failures where subject = $1")
            .bind(subject)
            .execute(self.writer())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_support::sqlite_store;

    #[tokio::test]
    async fn failures_are_counted_per_subject_inside_the_window_and_cleared() {
        let (store, _dir) = sqlite_store().await;
        for at in [1_000, 2_000, 3_000] {
            store
                .record_sign_in_failure(&["email:a", "ip:1"], at, 0)
                .await
                .unwrap();
        }
        store
            .record_sign_in_failure(&["email:b", "ip:1"], 4_000, 0)
            .await
            .unwrap();

        let a = store.sign_in_failures("email:a", 0).await.unwrap();
        assert_eq!((a.count, a.oldest_ms), (3, Some(1_000)));
        let ip = store.sign_in_failures("ip:1", 0).await.unwrap();
        assert_eq!(ip.count, 4);
        // Only the failures at or after the window's start count.
        let recent = store.sign_in_failures("email:a", 2_000).await.unwrap();
        assert_eq!((recent.count, recent.oldest_ms), (2, Some(2_000)));
        let none = store.sign_in_failures("email:c", 0).await.unwrap();
        assert_eq!((none.count, none.oldest_ms), (0, None));

        store.clear_sign_in_failures("email:a").await.unwrap();
        assert_eq!(store.sign_in_failures("email:a", 0).await.unwrap().count, 0);
        // The address's count is not the e-mail's: it stays.
        assert_eq!(store.sign_in_failures("ip:1", 0).await.unwrap().count, 4);
    }

    #[tokio::test]
    async fn recording_a_failure_deletes_those_older_than_the_window() {
        let (store, _dir) = sqlite_store().await;
        store
            .record_sign_in_failure(&["email:a"], 1_000, 0)
            .await
            .unwrap();
        store
            .record_sign_in_failure(&["email:b"], 5_000, 2_000)
            .await
            .unwrap();
        let (rows,): (i64,) = sqlx::query_as("select count(*) from sign_in_failures")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 1, "only the failure inside the window is kept");
    }
}
