//! Cloud prefix lookup: `CloudRanges::contains` over the shipped Huawei Cloud list, in
//! lookups per second, on a fixed mix of addresses inside the list and outside it.
//!
//! The addresses are drawn once from a fixed-seed generator: every other one is taken from
//! inside a shipped prefix (a hit), the rest are arbitrary IPv4 addresses (almost all misses),
//! plus a few IPv6 ones. Run with `cargo bench --bench cloud`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use icp_audit::cloud::{CloudRanges, DEFAULT_RANGES};

/// Addresses looked up per iteration.
const BATCH: usize = 4096;

/// A tiny deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The shipped IPv4 prefixes as (network, host bits).
fn shipped_prefixes() -> Vec<(u32, u32)> {
    DEFAULT_RANGES
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.split_once('/'))
        .map(|(ip, len)| {
            let ip: Ipv4Addr = ip.parse().expect("shipped prefix");
            let len: u32 = len.parse().expect("shipped prefix length");
            (u32::from(ip), 32 - len)
        })
        .collect()
}

/// Half inside the shipped prefixes, half random IPv4, one in 64 IPv6.
fn addresses() -> Vec<IpAddr> {
    let prefixes = shipped_prefixes();
    let mut rng = Rng(0x0000_c10d_5eed);
    (0..BATCH)
        .map(|i| {
            let r = rng.next();
            if i % 64 == 63 {
                return IpAddr::V6(Ipv6Addr::from(u128::from(r) << 64 | u128::from(r)));
            }
            if i % 2 == 0 {
                let (net, host_bits) = prefixes[r as usize % prefixes.len()];
                let host = (r >> 32) as u32 & ((1u64 << host_bits) - 1) as u32;
                return IpAddr::V4(Ipv4Addr::from(net | host));
            }
            IpAddr::V4(Ipv4Addr::from(r as u32))
        })
        .collect()
}

fn contains(c: &mut Criterion) {
    let ranges = CloudRanges::huawei_default();
    let addrs = addresses();
    let hits = addrs.iter().filter(|a| ranges.contains(**a)).count();
    assert!(
        hits >= BATCH / 2 - BATCH / 64,
        "expected about half hits, got {hits}"
    );

    let mut group = c.benchmark_group("cloud");
    group.throughput(Throughput::Elements(addrs.len() as u64));
    group.bench_function("contains/mixed", |b| {
        b.iter(|| {
            black_box(&addrs)
                .iter()
                .filter(|a| ranges.contains(**a))
                .count()
        })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = contains
}
criterion_main!(benches);
