//! The stop signal every part of a scan waits on: SIGINT/SIGTERM, the maintenance
//! window's end or a failed journal stops new requests at once. It sits below the driver,
//! the journal and the orchestrator, which all read it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Why a scan stopped before it was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// SIGINT/SIGTERM, or the caller asked.
    Interrupted,
    /// The maintenance window (or `--until`) ended.
    WindowEnded,
    /// The journal could not be written: going on would risk losing results.
    JournalFailed,
}

/// A cheap, cloneable stop flag that async code can wait on.
#[derive(Debug, Clone)]
pub struct StopSignal {
    tx: Arc<watch::Sender<Option<StopReason>>>,
    rx: watch::Receiver<Option<StopReason>>,
}

impl Default for StopSignal {
    fn default() -> Self {
        Self::new()
    }
}

impl StopSignal {
    pub fn new() -> StopSignal {
        let (tx, rx) = watch::channel(None);
        StopSignal {
            tx: Arc::new(tx),
            rx,
        }
    }

    /// Asks the scan to stop; the first reason given wins.
    pub fn stop(&self, reason: StopReason) {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    pub fn reason(&self) -> Option<StopReason> {
        *self.rx.borrow()
    }

    pub fn is_stopped(&self) -> bool {
        self.reason().is_some()
    }

    /// Resolves once a stop is asked.
    pub async fn stopped(&self) {
        let mut rx = self.rx.clone();
        // The sender lives in `self`, so `wait_for` cannot fail while we hold it.
        let _ = rx.wait_for(|r| r.is_some()).await;
    }

    /// Sleeps until `at`; returns `false` (at once) if the scan stops first.
    pub async fn sleep_until(&self, at: tokio::time::Instant) -> bool {
        if self.is_stopped() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => !self.is_stopped(),
            () = self.stopped() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn stop_signal_wakes_sleepers_and_keeps_first_reason() {
        let s = StopSignal::new();
        let s2 = s.clone();
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let sleeper = tokio::spawn(async move { s2.sleep_until(far).await });
        s.stop(StopReason::WindowEnded);
        s.stop(StopReason::Interrupted);
        assert!(!sleeper.await.unwrap());
        assert_eq!(s.reason(), Some(StopReason::WindowEnded));
    }
}
