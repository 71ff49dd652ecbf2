//! Allocator tuning for long runs on glibc: two malloc arenas instead of one per worker
//! thread, and freed memory handed back to the kernel every few seconds. A 100,000-site run
//! frees far more than it keeps; without the periodic trim glibc holds on to the freed pages
//! between live allocations and peak memory creeps up with the run's length instead of
//! staying a function of `--concurrency` (figures in benches/README.md). Elsewhere both are
//! no-ops.

use std::time::Duration;

/// How often freed memory is returned.
const TRIM_EVERY: Duration = Duration::from_secs(2);

/// Caps glibc's malloc arenas at two (unless MALLOC_ARENA_MAX is set); call before any thread
/// starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator tuning; it is called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn limit_malloc_arenas() {}

/// Returns freed heap pages to the kernel every [`TRIM_EVERY`] until the runtime stops.
pub(crate) fn spawn_trimmer() {
    tokio::spawn(async {
        let mut ticks = tokio::time::interval(TRIM_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            trim();
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free memory; it takes the arena locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
