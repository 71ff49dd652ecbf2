//! Politeness towards shared servers: at most `--per-ip` requests in flight to one address,
//! and a pause for an address that answered 429 or 503.
//!
//! Many filed sites share one cloud server, so a batch of thousands of sites can land on a
//! handful of addresses. Every HTTP request takes a permit for the address it will connect
//! to and holds it until its body is read; an address that asked us to slow down is left
//! alone until its `Retry-After` (capped) has passed. Idle entries are dropped, so memory
//! follows the addresses in use, not the addresses seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The longest pause a server's `Retry-After` can impose on us.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Above this many tracked addresses, idle ones are dropped.
const TIDY_ABOVE: usize = 4096;

struct Gate {
    permits: Arc<Semaphore>,
    paused_until: Mutex<Option<Instant>>,
}

/// Per-address limits shared by all sites of a run.
pub struct PerIpLimiter {
    per_ip: usize,
    gates: Mutex<HashMap<IpAddr, Arc<Gate>>>,
}

/// Held while a request to an address is in flight.
pub struct IpPermit {
    _permit: OwnedSemaphorePermit,
}

impl PerIpLimiter {
    pub fn new(per_ip: usize) -> PerIpLimiter {
        PerIpLimiter {
            per_ip: per_ip.max(1),
            gates: Mutex::new(HashMap::new()),
        }
    }

    fn gate(&self, ip: IpAddr) -> Arc<Gate> {
        let mut gates = self.gates.lock().unwrap_or_else(|e| e.into_inner());
        if gates.len() > TIDY_ABOVE {
            let per_ip = self.per_ip;
            gates.retain(|_, g| Arc::strong_count(g) > 1 || g.permits.available_permits() < per_ip);
        }
        gates
            .entry(ip)
            .or_insert_with(|| {
                Arc::new(Gate {
                    permits: Arc::new(Semaphore::new(self.per_ip)),
                    paused_until: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Waits for a permit to `ip` (and for any pause to end), or gives up at `deadline`.
    pub async fn acquire(&self, ip: IpAddr, deadline: Instant) -> Option<IpPermit> {
        let gate = self.gate(ip);
        let paused = *gate.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = paused.filter(|u| *u > Instant::now()) {
            if until >= deadline {
                return None;
            }
            tracing::debug!(%ip, wait_ms = (until - Instant::now()).as_millis() as u64, "paused by the server");
            tokio::time::sleep_until(until).await;
        }
        let permit = tokio::time::timeout_at(deadline, gate.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        Some(IpPermit { _permit: permit })
    }

    /// Leaves `ip` alone for `pause` (capped at [`MAX_BACKOFF`]).
    pub fn pause(&self, ip: IpAddr, pause: Duration) {
        let until = Instant::now() + pause.min(MAX_BACKOFF);
        let gate = self.gate(ip);
        let mut paused = gate.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    /// Addresses currently tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.gates.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The pause a 429 or 503 asks for: `Retry-After` in seconds, or one second.
pub fn retry_after(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_most_n_requests_per_address() {
        let limiter = Arc::new(PerIpLimiter::new(2));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let deadline = Instant::now() + Duration::from_millis(200);
        let a = limiter.acquire(ip, deadline).await;
        let b = limiter.acquire(ip, deadline).await;
        assert!(a.is_some() && b.is_some());
        assert!(
            limiter.acquire(ip, deadline).await.is_none(),
            "a third waits until the deadline"
        );
        drop(a);
        assert!(
            limiter
                .acquire(ip, Instant::now() + Duration::from_millis(50))
                .await
                .is_some()
        );
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(
            limiter.acquire(other, deadline).await.is_some(),
            "addresses are independent"
        );
    }

    #[tokio::test]
    async fn a_paused_address_waits_or_gives_up() {
        let limiter = PerIpLimiter::new(4);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        limiter.pause(ip, Duration::from_millis(100));
        let start = Instant::now();
        assert!(
            limiter
                .acquire(ip, start + Duration::from_secs(1))
                .await
                .is_some()
        );
        assert!(start.elapsed() >= Duration::from_millis(100));
        limiter.pause(ip, Duration::from_secs(10));
        assert!(
            limiter
                .acquire(ip, Instant::now() + Duration::from_millis(50))
                .await
                .is_none()
        );
    }

    #[test]
    fn retry_after_is_capped() {
        assert_eq!(retry_after(Some("5")), Duration::from_secs(5));
        assert_eq!(retry_after(Some("86400")), MAX_BACKOFF);
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Duration::from_secs(1)
        );
        assert_eq!(retry_after(None), Duration::from_secs(1));
    }
}
