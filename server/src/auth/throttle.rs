//! Throttling of failed logins per username and per client IP (in process memory).
//!
//! After `max` failures inside the window the key is locked until the window has passed since the
//! last failure; a locked key answers 429 with `Retry-After` before any password is checked. Several
//! server processes each keep their own counts, so the effective limit is per process.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    first: Instant,
    last: Instant,
}

/// Failure counts by key (`user:NAME`, `ip:ADDR`).
#[derive(Debug)]
pub struct LoginThrottle {
    window: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl LoginThrottle {
    /// A throttle whose failures expire after `window`.
    pub fn new(window: Duration) -> LoginThrottle {
        LoginThrottle {
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when `key` has `max` or more recent failures.
    pub fn check(&self, key: &str, max: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(key).copied() {
            Some(e) if now.duration_since(e.last) >= self.window => {
                map.remove(key);
                Ok(())
            }
            Some(e) if e.failures >= max => {
                Err(self.window.saturating_sub(now.duration_since(e.last)))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure for `key`.
    pub fn fail(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Bound memory under a spray of usernames: forget expired entries.
            let window = self.window;
            map.retain(|_, e| now.duration_since(e.last) < window);
        }
        let e = map.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            first: now,
            last: now,
        });
        if now.duration_since(e.last) >= self.window {
            e.failures = 0;
            e.first = now;
        }
        e.failures += 1;
        e.last = now;
    }

    /// Forgets `key` (after a successful login).
    pub fn clear(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_clears() {
        let t = LoginThrottle::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(t.check("user:a", 3).is_ok());
            t.fail("user:a");
        }
        let retry = t.check("user:a", 3).unwrap_err();
        assert!(retry > Duration::from_secs(55));
        assert!(t.check("user:b", 3).is_ok());
        t.clear("user:a");
        assert!(t.check("user:a", 3).is_ok());
    }

    #[test]
    fn failures_expire_after_the_window() {
        let t = LoginThrottle::new(Duration::from_millis(20));
        t.fail("k");
        t.fail("k");
        assert!(t.check("k", 2).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.check("k", 2).is_ok());
    }
}
