//! Politeness (issue 5): at most `--per-ip` requests in flight to one address however many
//! sites share it, and a server answering 429 with Retry-After is left alone, then retried.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use icp_audit::address::AddressPolicy;
use icp_audit::audit::{AuditOptions, Auditor};
use icp_audit::cloud::CloudRanges;
use icp_audit::fetch::FetchConfig;
use icp_audit::finding::SiteResult;
use icp_audit::inventory::FilingRecord;
use icp_audit::resolve::DnsConfig;
use support::{World, WorldSpec, routes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PAGE: &str = r#"<html><head><title>星河商城</title></head><body><p>商品</p><footer><a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a></footer></body></html>"#;

/// A server on 127.0.0.1 that answers slowly and counts requests in flight; the first
/// `refuse_first` requests get 429 with Retry-After: 1.
struct SlowServer {
    port: u16,
    in_flight_max: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn slow_server(delay: Duration, refuse_first: usize) -> SlowServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (active, max, requests) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (a, m, r) = (active.clone(), max.clone(), requests.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (a, m, r) = (a.clone(), m.clone(), r.clone());
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let now = a.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                let n = r.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let reply = if n < refuse_first {
                    "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                        PAGE.len()
                    )
                };
                let _ = stream.write_all(reply.as_bytes()).await;
                a.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    SlowServer {
        port,
        in_flight_max: max,
        requests,
    }
}

async fn dns_world() -> World {
    let zone = "$ORIGIN polite.test.\n$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n* IN A 127.0.0.1\n";
    World::start(WorldSpec::new(vec![zone.to_string()], routes(vec![]))).await
}

fn options(world: &World, http_port: u16, per_ip: usize) -> AuditOptions {
    let mut cloud = CloudRanges::default();
    cloud.add_text("test", "127.0.0.1/32").unwrap();
    AuditOptions {
        dns: DnsConfig {
            servers: vec![world.dns],
            ..DnsConfig::default()
        },
        fetch: FetchConfig {
            policy: AddressPolicy::allow_private(),
            http_port,
            https_port: http_port,
            per_ip,
            ..FetchConfig::default()
        },
        cloud,
        timeout: Duration::from_secs(10),
        concurrency: 12,
        ..AuditOptions::default()
    }
}

fn record(i: usize) -> FilingRecord {
    FilingRecord {
        line: i as u64 + 2,
        domain: format!("s{i}.polite.test"),
        filing_number: "京ICP备12345678号-1".into(),
        site_name: "星河商城".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_to_one_address_are_capped() {
    let world = dns_world().await;
    let server = slow_server(Duration::from_millis(150), 0).await;
    let auditor = Auditor::new(options(&world, server.port, 3)).unwrap();

    let sites = (0..12).map(|i| {
        let auditor = auditor.clone();
        tokio::spawn(async move { auditor.audit(record(i)).await })
    });
    for site in sites {
        let report = site.await.unwrap();
        assert_eq!(
            report.verdict.result(),
            SiteResult::Pass,
            "{:?}",
            report.verdict
        );
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 12);
    let max = server.in_flight_max.load(Ordering::SeqCst);
    assert!((1..=3).contains(&max), "at most 3 in flight, saw {max}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_pauses_the_address_then_the_request_is_retried() {
    let world = dns_world().await;
    let server = slow_server(Duration::ZERO, 1).await;
    let auditor = Auditor::new(options(&world, server.port, 4)).unwrap();

    let started = std::time::Instant::now();
    let report = auditor.audit(record(0)).await;
    assert_eq!(
        report.verdict.result(),
        SiteResult::Pass,
        "{:?}",
        report.verdict
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited for Retry-After"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    assert_eq!(report.evidence.http.unwrap().hops[0].status, Some(200));
}
