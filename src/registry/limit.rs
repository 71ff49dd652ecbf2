//! A per-server rate limit with back-off, so a run over thousands of sites asks each registry
//! politely.
//!
//! Each server has a next free slot; a request takes the slot and pushes it one interval
//! (1 / rate) later, which is a token bucket holding one token. A 429 or a failure pushes the
//! slot further: the server's Retry-After or an exponential back-off, whichever is longer. A
//! request whose slot falls after its deadline is not sent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The first back-off after a failure; it doubles with each failure in a row.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// No back-off or Retry-After is honoured beyond this.
const BACKOFF_CAP: Duration = Duration::from_secs(60);
/// A slot leaving less time than this before the deadline is not taken: the request could
/// only time out, and "held back by the rate limit" is the truer account.
const MIN_TIME_TO_ASK: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
struct ServerState {
    next_slot: Instant,
    failures_in_a_row: u32,
}

#[derive(Debug)]
pub(super) struct RateLimiter {
    interval: Duration,
    servers: Mutex<HashMap<String, ServerState>>,
}

impl RateLimiter {
    /// `rate` requests per second per server; the caller checked it is positive.
    pub(super) fn new(rate: f64) -> RateLimiter {
        let interval = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(BACKOFF_CAP);
        RateLimiter {
            interval: interval.min(BACKOFF_CAP),
            servers: Mutex::default(),
        }
    }

    /// Waits for this server's next slot; `Err(wait)` without waiting when the slot leaves
    /// less than [`MIN_TIME_TO_ASK`] before the deadline.
    pub(super) async fn wait_turn(&self, server: &str, deadline: Instant) -> Result<(), Duration> {
        let now = Instant::now();
        let slot = {
            let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
            let state = servers.entry(server.to_string()).or_insert(ServerState {
                next_slot: now,
                failures_in_a_row: 0,
            });
            let slot = state.next_slot.max(now);
            if slot + MIN_TIME_TO_ASK > deadline {
                return Err(slot - now);
            }
            state.next_slot = slot + self.interval;
            slot
        };

        tokio::time::sleep_until(slot).await;
        Ok(())
    }

    pub(super) fn succeeded(&self, server: &str) {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = servers.get_mut(server) {
            state.failures_in_a_row = 0;
        }
    }

    /// Pushes the server's next slot back by the longer of `asked` (Retry-After) and the
    /// exponential back-off, both capped.
    pub(super) fn failed(&self, server: &str, asked: Duration) {
        let now = Instant::now();
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let state = servers.entry(server.to_string()).or_insert(ServerState {
            next_slot: now,
            failures_in_a_row: 0,
        });

        state.failures_in_a_row = state.failures_in_a_row.saturating_add(1);
        let doublings = (state.failures_in_a_row - 1).min(16);
        let backoff = BACKOFF_BASE.saturating_mul(1 << doublings);
        let wait = backoff.max(asked).min(BACKOFF_CAP);

        state.next_slot = state.next_slot.max(now + wait);
        tracing::debug!(
            server,
            wait_ms = wait.as_millis() as u64,
            "registry back-off"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RateLimiter {
        fn next_slot(&self, server: &str) -> Instant {
            self.servers.lock().unwrap()[server].next_slot
        }
    }

    #[tokio::test]
    async fn spaces_requests_to_one_server_only() {
        let limiter = RateLimiter::new(20.0);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(10);

        limiter.wait_turn("a", deadline).await.unwrap();
        limiter.wait_turn("b", deadline).await.unwrap();
        assert!(Instant::now() - start < Duration::from_millis(40));

        limiter.wait_turn("a", deadline).await.unwrap();
        assert!(Instant::now() - start >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn refuses_slots_past_the_deadline_without_waiting() {
        let limiter = RateLimiter::new(100.0);
        let start = Instant::now();

        limiter.failed("a", Duration::from_secs(5));
        let early = limiter.wait_turn("a", start + Duration::from_secs(1)).await;
        assert!(early.unwrap_err() > Duration::from_secs(4));
        assert!(Instant::now() - start < Duration::from_millis(100));
    }

    #[test]
    fn back_off_doubles_is_capped_and_resets_on_success() {
        let limiter = RateLimiter::new(1000.0);
        let pushed = |asked: Duration| {
            let before = Instant::now();
            limiter.failed("a", asked);
            let wait = limiter.next_slot("a") - before;
            limiter
                .servers
                .lock()
                .unwrap()
                .get_mut("a")
                .unwrap()
                .next_slot = before;
            wait
        };
        let about = |wait: Duration, ms: u64| wait.as_millis().abs_diff(u128::from(ms)) < 20;

        assert!(about(pushed(Duration::ZERO), 200));
        assert!(about(pushed(Duration::ZERO), 400));
        assert!(about(pushed(Duration::from_secs(2)), 2000));
        assert!(about(pushed(Duration::from_secs(3600)), 60_000));

        limiter.succeeded("a");
        assert!(about(pushed(Duration::ZERO), 200));
    }
}
