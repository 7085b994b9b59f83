//! Admission: how much work the server takes on at once. A [`Gate`] lets a bounded number of
//! requests in, keeps a bounded number waiting for a turn, and turns the rest away at once with
//! 503 and `Retry-After`, which every client already treats as "try again later". Memory and
//! latency are then bounded by the gate's sizes, not by how many devices happen to sync at once:
//! a push waiting at the gate has not had its body read yet.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// A bounded number of requests at once, a bounded queue, and 503 beyond (see the module docs).
#[derive(Debug)]
pub struct Gate {
    permits: Arc<Semaphore>,
    size: usize,
    queue: usize,
    waiting: AtomicUsize,
    wait: Duration,
    retry_after_secs: u64,
    busy_text: (&'static str, &'static str),
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue was full.
    Full,
    /// It waited longer than the gate allows.
    Waited,
}

impl Gate {
    /// A gate letting `size` requests in at once (at least one), with up to `queue` more waiting at
    /// most `wait` each; a refusal asks the client to come back after `retry_after_secs`.
    pub fn new(size: usize, queue: usize, wait: Duration, retry_after_secs: u64) -> Gate {
        let size = size.max(1);
        Gate {
            permits: Arc::new(Semaphore::new(size)),
            size,
            queue,
            waiting: AtomicUsize::new(0),
            wait,
            retry_after_secs,
            busy_text: (
                "Máy chủ đang bận; thiết bị sẽ tự gửi lại sau ít giây.",
                "The server is busy; the device will send again in a few seconds.",
            ),
        }
    }

    /// How many requests are inside now.
    pub fn inside(&self) -> usize {
        self.size - self.permits.available_permits()
    }

    /// Waits for a turn: the permit lets the request in until it is dropped.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refused> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Full);
        }
        let turn = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match turn {
            Ok(Ok(p)) => Ok(p),
            // The semaphore is never closed; a timeout is the only other way out.
            _ => Err(Refused::Waited),
        }
    }

    /// The same gate telling a refused caller `vi` / `en` instead of the push's words.
    pub fn saying(mut self, vi: &'static str, en: &'static str) -> Gate {
        self.busy_text = (vi, en);
        self
    }

    /// The 503 a refused request gets.
    pub fn busy(&self) -> ApiError {
        ApiError::busy(self.retry_after_secs, self.busy_text.0, self.busy_text.1)
    }
}

/// The number of exports streamed at once when the settings leave it to the machine: one per core,
/// at least two (an export keeps a core busy formatting rows, and a database connection).
pub fn default_export_concurrency(cores: usize) -> usize {
    cores.max(2)
}

/// The number of pushes let in at once when the settings leave it to the machine: enough to keep
/// every core preparing and the database writing while others wait on it, few enough that their
/// bodies and parsed forms stay small in memory (8 per core).
pub fn default_push_concurrency(cores: usize) -> usize {
    cores.max(1) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_lets_its_size_in_queues_the_next_and_refuses_the_rest() {
        let gate = Arc::new(Gate::new(2, 1, Duration::from_millis(200), 3));
        let a = gate.enter().await.unwrap();
        let _b = gate.enter().await.unwrap();
        assert_eq!(gate.inside(), 2);
        // The third waits for a turn; the fourth finds the queue full.
        let waiter = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.enter().await.unwrap_err(), Refused::Full);
        drop(a);
        assert_eq!(waiter.await.unwrap(), Ok(()));
        // Nobody leaves: a waiter gives up after the wait.
        let _c = gate.enter().await.unwrap();
        assert_eq!(gate.enter().await.unwrap_err(), Refused::Waited);
        let busy = gate.busy();
        assert_eq!(busy.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.code(), "busy");
    }

    #[test]
    fn the_default_size_follows_the_cores() {
        assert_eq!(default_push_concurrency(0), 8);
        assert_eq!(default_push_concurrency(2), 16);
        assert_eq!(default_export_concurrency(1), 2);
        assert_eq!(default_export_concurrency(4), 4);
    }
}
