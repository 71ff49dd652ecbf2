//! The audit pipeline end to end: 2,000 compliant sites through `Auditor::run` against the
//! in-process loopback world of the integration tests (hickory-server DNS, raw HTTP server),
//! in sites per second.
//!
//! The zone holds 2,000 names under `cn.`, all pointing at 127.0.0.1, and every host gets the
//! same ~30 KB compliant page, so each site costs two DNS queries, one TCP connection, one
//! HTTP exchange and one page analysis. Every run must end with every site `pass`; anything
//! else fails the benchmark, since a fast wrong audit measures nothing. Run with
//! `cargo bench --bench pipeline`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use icp_audit::address::AddressPolicy;
use icp_audit::audit::{AuditOptions, Auditor, SiteReport};
use icp_audit::cloud::CloudRanges;
use icp_audit::fetch::FetchConfig;
use icp_audit::finding::SiteResult;
use icp_audit::inventory::FilingRecord;
use icp_audit::resolve::DnsConfig;
use support::{Reply, Request, World, WorldSpec};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

#[path = "fixture/mod.rs"]
mod fixture;
#[path = "../tests/support/mod.rs"]
mod support;

/// Sites audited per iteration.
const SITES: usize = 2_000;

/// Sites in flight, one benchmark each.
const CONCURRENCY: &[usize] = &[64, 256];

fn domain(i: usize) -> String {
    format!("www.p{i:06}.cn")
}

/// A `cn.` zone with every benchmark host at 127.0.0.1.
fn zone() -> String {
    let mut zone = String::from(
        "$ORIGIN cn.\n$TTL 3600\n@ IN SOA ns.cn. admin.cn. 1 3600 600 86400 3600\n\
         @ IN NS ns.cn.\nns IN A 127.0.0.1\n",
    );
    for i in 0..SITES {
        zone.push_str(&format!("www.p{i:06} IN A 127.0.0.1\n"));
    }
    zone
}

async fn start_world() -> World {
    let page = Reply::html(&fixture::page(30_000));
    let router: support::Router = Arc::new(move |_: &Request| page.clone());
    World::start(WorldSpec::new(vec![zone()], router)).await
}

fn options(world: &World, concurrency: usize) -> AuditOptions {
    let mut cloud = CloudRanges::default();
    cloud
        .add_text("bench", "127.0.0.1/32\n")
        .expect("static prefix");
    AuditOptions {
        dns: DnsConfig {
            servers: vec![world.dns],
            query_timeout: Duration::from_secs(2),
            retries: 2,
        },
        fetch: FetchConfig {
            policy: AddressPolicy::allow_private(),
            http_port: world.http_port,
            https_port: world.https_port,
            ..FetchConfig::default()
        },
        ca_files: vec![world.ca_file.clone()],
        cloud,
        timeout: Duration::from_secs(20),
        concurrency,
        ..AuditOptions::default()
    }
}

fn record(i: usize) -> FilingRecord {
    FilingRecord {
        line: i as u64 + 2,
        domain: domain(i),
        filing_number: fixture::NUMBER.into(),
        site_name: fixture::NAME.into(),
        ..FilingRecord::default()
    }
}

/// Audits every site once; panics unless every one passes.
async fn run_all(auditor: &Auditor) {
    let (row_tx, row_rx) = mpsc::channel(256);
    let (report_tx, mut report_rx) = mpsc::channel::<SiteReport>(256);
    let feed = tokio::spawn(async move {
        for i in 0..SITES {
            let _ = row_tx.send(Ok(record(i))).await;
        }
    });
    let collect = tokio::spawn(async move {
        let mut passed = 0;
        while let Some(report) = report_rx.recv().await {
            let verdict = &report.verdict;
            assert_eq!(verdict.result(), SiteResult::Pass, "{verdict:?}");
            passed += 1;
        }
        passed
    });

    auditor.run(row_rx, report_tx).await;
    feed.await.expect("feeder");
    assert_eq!(collect.await.expect("collector"), SITES);
}

fn pipeline(c: &mut Criterion) {
    let runtime = Runtime::new().expect("tokio runtime");
    let world = runtime.block_on(start_world());

    let mut group = c.benchmark_group("pipeline");
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(SITES as u64));
    for &concurrency in CONCURRENCY {
        let auditor = Auditor::new(options(&world, concurrency)).expect("auditor");
        let id = BenchmarkId::new("sites", format!("c{concurrency}"));
        group.bench_function(id, |b| b.iter(|| runtime.block_on(run_all(&auditor))));
    }
    group.finish();
    drop(world);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(30))
}

criterion_group! {
    name = benches;
    config = config();
    targets = pipeline
}
criterion_main!(benches);
