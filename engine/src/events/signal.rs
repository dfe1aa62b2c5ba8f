//! Wakes this process's webhook dispatchers once an event is committed, so a delivery starts
//! within milliseconds instead of at the next poll.
//!
//! A `watch` channel rather than a bare `Notify`: a dispatcher busy delivering when the event
//! is committed still sees the change on its next `changed()`, so no wake-up is lost. Other
//! replicas are not woken; they find the event at their next poll.

use std::sync::LazyLock;

use tokio::sync::watch;

static COMMITTED: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Tells the dispatchers that new deliveries may be due. Call it after the commit: a wake-up
/// before the commit would find nothing to deliver.
pub fn notify_committed() {
    COMMITTED.send_modify(|n| *n = n.wrapping_add(1));
}

/// A receiver whose `changed()` resolves after the next [`notify_committed`].
pub fn subscribe() -> watch::Receiver<u64> {
    COMMITTED.subscribe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_before_waiting_is_not_lost() {
        let mut rx = subscribe();
        notify_committed();
        let woke = tokio::time::timeout(std::time::Duration::from_secs(1), rx.changed()).await;
        assert!(
            woke.is_ok(),
            "the receiver missed a notification sent before it waited"
        );
    }
}
