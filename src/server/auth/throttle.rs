//! Slows down repeated failed logins: each failure from an address within the last minute
//! doubles the wait before the client hears "password authentication failed" (100 ms, 200 ms,
//! ... up to 5 s). A successful login from the address starts the count again. Guessing
//! passwords gets slow; a user who mistypes once barely notices.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures older than this no longer count.
const WINDOW: Duration = Duration::from_secs(60);
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Addresses tracked at most; the stalest are dropped first.
const MAX_TRACKED: usize = 10_000;

/// Recent failed logins per client address.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl LoginThrottle {
    /// Records a failure from `ip` and returns how long to wait before answering.
    pub fn failed(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, last)| now.duration_since(*last) < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) >= WINDOW {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        delay_after(entry.0)
    }

    /// Forgets the failures of `ip` after it logged in.
    pub fn succeeded(&self, ip: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&ip);
    }
}

/// The wait after the `n`th recent failure.
fn delay_after(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset_on_success() {
        let throttle = LoginThrottle::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let waits: Vec<Duration> = (0..8).map(|_| throttle.failed(ip)).collect();
        assert_eq!(waits[0], Duration::from_millis(100));
        assert_eq!(waits[1], Duration::from_millis(200));
        assert_eq!(waits[3], Duration::from_millis(800));
        assert_eq!(waits[7], MAX_DELAY);
        assert_eq!(throttle.failed(other), FIRST_DELAY);
        throttle.succeeded(ip);
        assert_eq!(throttle.failed(ip), FIRST_DELAY);
    }
}
