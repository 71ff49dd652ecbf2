//! The hostile web, server side (issue 4): every broken, slow or adversarial behaviour a filed
//! site can show, served by a real loopback server, must end in a definite result with
//! evidence, within the site's time budget and the body cap.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use icp_audit::address::AddressPolicy;
use icp_audit::audit::{AuditOptions, Auditor, SiteReport};
use icp_audit::fetch::{DialLog, FailureKind, HttpEvidence};
use icp_audit::finding::{Reason, SiteResult};
use icp_audit::inventory::FilingRecord;
use support::{CertKind, Reply, Request, Router, World, WorldSpec, routes};

const NUMBER: &str = "京ICP备12345678号-1";
const NAME: &str = "星河商城";
const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
const SECOND: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

fn good_page() -> String {
    format!(
        r#"<html><head><meta charset="utf-8"><title>{NAME}</title></head><body><p>欢迎</p>
        <footer><a href="https://beian.miit.gov.cn/">{NUMBER}</a></footer></body></html>"#
    )
}

fn zone() -> String {
    "$ORIGIN test.\n$TTL 60\n@ IN SOA ns.test. admin.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n\
     ns IN A 127.0.0.1\n\
     site IN A 127.0.0.1\n\
     other IN A 127.0.0.2\n\
     private IN A 10.0.0.5\n\
     metadata IN A 169.254.169.254\n\
     lo2 IN A 127.0.0.2\n\
     v6only IN AAAA ::1\n"
        .to_string()
}

async fn world_with(router: Router) -> World {
    let mut spec = WorldSpec::new(vec![zone()], router);
    spec.web_ips = vec![SECOND];
    World::start(spec).await
}

async fn world(reply: Reply) -> World {
    world_with(routes(vec![("site.test", reply)])).await
}

/// Options for a 2-second budget, any address allowed, cloud = 127.0.0.0/8 and ::1.
fn options(world: &World) -> AuditOptions {
    let mut options = world.audit_options("127.0.0.0/8\n::1/128\n", Duration::from_secs(2));
    options.concurrency = 4;
    options
}

fn record(domain: &str) -> FilingRecord {
    support::record(domain, NUMBER, NAME)
}

async fn audit_with(options: AuditOptions, domain: &str) -> SiteReport {
    Auditor::new(options).unwrap().audit(record(domain)).await
}

async fn audit(world: &World) -> SiteReport {
    audit_with(options(world), "site.test").await
}

fn http(report: &SiteReport) -> &HttpEvidence {
    report.evidence.http.as_ref().expect("a fetch was made")
}

/// Asserts WEB-06 with this fact, and returns the evidence text.
fn assert_unreachable(report: &SiteReport, fact: FailureKind) -> String {
    let finding = report.verdict.findings.iter().find(|f| f.code == "WEB-06");
    let finding = finding.unwrap_or_else(|| panic!("no WEB-06: {:?}", report.verdict));
    assert_eq!(finding.fact, fact.label(), "{:?}", report.verdict);
    assert_eq!(http(report).failure, Some(fact));
    finding.evidence.clone()
}

fn assert_pass(report: &SiteReport) {
    assert_eq!(
        report.verdict.result(),
        SiteResult::Pass,
        "{:?} {:?}",
        report.verdict,
        report.evidence.http
    );
}

fn head(extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{extra}\r\n").into_bytes()
}

#[tokio::test]
async fn no_answer_after_connect_times_out_within_the_budget() {
    let w = world(Reply::Hang).await;
    let started = Instant::now();
    let r = audit(&w).await;
    assert_unreachable(&r, FailureKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(w.connections_to(LOOPBACK) >= 1);
}

#[tokio::test]
async fn trickling_body_ends_at_the_budget() {
    let body = good_page().into_bytes();
    let w = world(Reply::Trickle {
        head: head(&format!("Content-Length: {}\r\n", body.len())),
        body,
        interval: Duration::from_millis(200),
    })
    .await;
    let started = Instant::now();
    let r = audit(&w).await;
    let evidence = assert_unreachable(&r, FailureKind::Timeout);
    assert!(evidence.contains("still arriving"), "{evidence}");
    assert!(
        http(&r).body_bytes > 0 && http(&r).body_bytes < 20,
        "{}",
        http(&r).body_bytes
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn reset_mid_body_is_a_reset() {
    let w = world(Reply::ResetMidBody {
        head: head("Content-Length: 100000\r\n"),
        partial: b"<html><body>half".to_vec(),
    })
    .await;
    let r = audit(&w).await;
    let evidence = assert_unreachable(&r, FailureKind::ConnectionReset);
    assert!(evidence.contains("broke after 16 bytes"), "{evidence}");
    assert!(r.evidence.page.is_none());
}

#[tokio::test]
async fn endless_body_stops_at_the_cap_and_the_start_is_analysed() {
    let w = world(Reply::Endless { head: head("") }).await;
    let mut opts = options(&w);
    opts.fetch.max_body_bytes = 1024 * 1024;
    let r = audit_with(opts, "site.test").await;
    let h = http(&r);
    assert_eq!(
        (h.body_bytes, h.truncated, h.failure),
        (1024 * 1024, true, None)
    );
    let footer = r
        .verdict
        .findings
        .iter()
        .find(|f| f.code == "WEB-04")
        .expect("WEB-04");
    assert!(
        footer.evidence.contains("only the first 1048576 bytes"),
        "{}",
        footer.evidence
    );
}

#[tokio::test]
async fn gzip_bomb_is_stopped_by_the_decoded_cap() {
    let bomb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/hostile/bomb-64m-a.gz"
    ))
    .unwrap();
    assert!(bomb.len() < 100_000, "small on the wire");
    let w =
        world(Reply::page(200, "text/html", bomb).with_header("Content-Encoding", "gzip")).await;
    let mut opts = options(&w);
    opts.fetch.max_body_bytes = 1024 * 1024;
    let r = audit_with(opts, "site.test").await;
    let h = http(&r);
    assert_eq!(
        (h.body_bytes, h.truncated, h.failure),
        (1024 * 1024, true, None)
    );
    assert!(r.evidence.page.is_some());
}

#[tokio::test]
async fn brotli_bomb_is_stopped_by_the_decoded_cap() {
    let mut wire = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut wire, 64 * 1024, 1, 22);
        let block = vec![b'a'; 1024 * 1024];
        for _ in 0..32 {
            std::io::Write::write_all(&mut writer, &block).unwrap();
        }
    }
    assert!(wire.len() < 100_000, "small on the wire: {}", wire.len());
    let w = world(Reply::page(200, "text/html", wire).with_header("Content-Encoding", "br")).await;
    let mut opts = options(&w);
    opts.fetch.max_body_bytes = 1024 * 1024;
    let r = audit_with(opts, "site.test").await;
    let h = http(&r);
    assert_eq!(
        (h.body_bytes, h.truncated, h.failure),
        (1024 * 1024, true, None)
    );
}

#[tokio::test]
async fn fifty_megabyte_page_is_read_to_the_default_cap_and_analysed() {
    let mut body = good_page().replace("</body></html>", "").into_bytes();
    body.resize(50 * 1024 * 1024, b' ');
    let w = world(Reply::page(200, "text/html; charset=utf-8", body)).await;
    let mut opts = options(&w);
    opts.timeout = Duration::from_secs(10);
    let r = audit_with(opts, "site.test").await;
    let h = http(&r);
    assert_eq!((h.body_bytes, h.truncated), (8 * 1024 * 1024, true));
    assert_pass(&r);
    assert_eq!(r.evidence.page.as_ref().unwrap().numbers[0].text, NUMBER);
}

fn chain_router(len: usize) -> Router {
    Arc::new(move |req: &Request| {
        let n: usize = req.path.trim_start_matches("/r/").parse().unwrap_or(0);
        if n < len {
            Reply::redirect(302, &format!("/r/{}", n + 1))
        } else {
            Reply::html(&good_page())
        }
    })
}

#[tokio::test]
async fn redirect_chain_of_thirty_stops_after_ten_hops() {
    let w = world_with(chain_router(30)).await;
    let r = audit(&w).await;
    assert_unreachable(&r, FailureKind::TooManyRedirects);
    assert_eq!(http(&r).hops.len(), 11);
}

#[tokio::test]
async fn redirect_loop_is_named() {
    let router: Router = Arc::new(|req: &Request| {
        if req.path == "/a" {
            Reply::redirect(302, "/b")
        } else {
            Reply::redirect(302, "/a")
        }
    });
    let w = world_with(router).await;
    let r = audit(&w).await;
    assert_unreachable(&r, FailureKind::RedirectLoop);
}

#[tokio::test]
async fn redirect_to_another_domain_is_resolved_and_pinned() {
    let router: Router = Arc::new(|req: &Request| match req.host.as_str() {
        "site.test" => Reply::redirect(301, "http://other.test/home"),
        _ => Reply::html(&good_page()),
    });
    let w = world_with(router).await;
    let log = DialLog::default();
    let r = Auditor::new(options(&w))
        .unwrap()
        .with_dial_log(log.clone())
        .audit(record("site.test"))
        .await;
    assert_pass(&r);
    let h = http(&r);
    assert_eq!(h.final_url.as_deref(), Some("http://other.test/home"));
    assert_eq!(h.hops[1].address.map(|a| a.ip()), Some(SECOND));
    let dialled: Vec<IpAddr> = log.dialled().iter().map(SocketAddr::ip).collect();
    assert_eq!(dialled, vec![LOOPBACK, SECOND]);
    assert_eq!(w.connections_to(SECOND), 1);
}

/// Only 127.0.0.1 stands in for the public internet; everything else is refused.
fn guarded(world: &World) -> AuditOptions {
    let mut opts = options(world);
    opts.fetch.policy = AddressPolicy::public_only().allow_net("127.0.0.1/32".parse().unwrap());
    opts
}

#[tokio::test]
async fn redirects_and_refreshes_into_private_space_are_refused_before_any_dial() {
    let targets = [
        "http://127.0.0.2/",
        "http://lo2.test/",
        "http://10.0.0.5/",
        "http://private.test/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.test/",
        "http://[::1]/",
        "http://[fe80::1]/",
    ];
    for target in targets {
        for refresh in [false, true] {
            let reply = if refresh {
                Reply::html(&format!(
                    r#"<html><head><meta http-equiv="refresh" content="0;url={target}"></head></html>"#
                ))
            } else {
                Reply::redirect(302, target)
            };
            let w = world(reply).await;
            let log = DialLog::default();
            let r = Auditor::new(guarded(&w))
                .unwrap()
                .with_dial_log(log.clone())
                .audit(record("site.test"))
                .await;
            assert!(
                !r.verdict.findings.iter().any(|f| f.code == "WEB-06"),
                "{target}: {:?}",
                r.verdict
            );
            let refused = r
                .verdict
                .inconclusive
                .iter()
                .find(|i| i.reason == Reason::AddressNotAllowed);
            assert!(
                refused.is_some(),
                "{target} refresh={refresh}: {:?}",
                r.verdict
            );
            assert_eq!(http(&r).failure, Some(FailureKind::AddressNotAllowed));
            assert!(!http(&r).refused.is_empty(), "{target}");
            let dialled: Vec<IpAddr> = log.dialled().iter().map(SocketAddr::ip).collect();
            assert_eq!(dialled, vec![LOOPBACK], "{target}");
            assert_eq!(w.connections_to(SECOND), 0, "{target}");
        }
    }
}

#[tokio::test]
async fn huge_and_malformed_headers_are_protocol_errors() {
    let huge = format!(
        "HTTP/1.1 200 OK\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(2 * 1024 * 1024)
    )
    .into_bytes();
    let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X-A: b\r\n".repeat(5_000)).into_bytes();
    let malformed = b"HTTP/1.1 200 OK\r\nContent-Type text/html\r\n\r\n<html>x</html>".to_vec();
    let garbage = b"HTTX/9 OK\r\n\r\n".to_vec();
    for raw in [huge, many, malformed, garbage] {
        let w = world(Reply::Raw(raw)).await;
        let r = audit(&w).await;
        assert_unreachable(&r, FailureKind::Protocol);
        assert_eq!(
            http(&r).hops.len(),
            2,
            "https was tried after a broken http answer"
        );
    }
}

#[tokio::test]
async fn http10_without_length_and_1xx_first_are_read() {
    let http10 = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{}",
        good_page()
    );
    let early = format!(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
         HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{}",
        good_page().len(),
        good_page()
    );
    for raw in [http10, early] {
        let w = world(Reply::Raw(raw.into_bytes())).await;
        let r = audit(&w).await;
        assert_pass(&r);
        assert_eq!(http(&r).hops[0].status, Some(200));
    }
}

#[tokio::test]
async fn empty_and_non_html_bodies_are_named() {
    let cases = [
        (
            Reply::page(200, "text/html", Vec::new()),
            FailureKind::EmptyBody,
        ),
        (
            Reply::page(200, "image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
            FailureKind::NotHtml,
        ),
        (
            Reply::page(200, "application/json", br#"{"title":"x"}"#.to_vec()),
            FailureKind::NotHtml,
        ),
    ];
    for (reply, kind) in cases {
        let w = world(reply).await;
        let r = audit(&w).await;
        let evidence = assert_unreachable(&r, kind);
        if kind == FailureKind::NotHtml {
            assert!(
                evidence.contains(http(&r).content_type.as_deref().unwrap()),
                "{evidence}"
            );
        }
    }
}

#[tokio::test]
async fn wrong_label_invalid_utf8_malformed_html_and_nul_bytes_still_show_the_footer() {
    let page = good_page();
    let (gbk, _, _) = encoding_rs::GBK.encode(&page);
    let mut invalid = good_page().into_bytes();
    invalid.splice(10..10, [0xff, 0xfe, 0xc3]);
    let malformed = format!(
        "<html><title>{NAME}</title><body><form><form><div><p><b><i>\0 unclosed <table><td>\0\
         <footer><a href=https://beian.miit.gov.cn/>{NUMBER}</a>"
    );
    let cases = [
        (gbk.into_owned(), Some("gbk")),
        (invalid, None),
        (malformed.into_bytes(), None),
    ];
    for (body, charset) in cases {
        let w = world(Reply::page(200, "text/html; charset=utf-8", body)).await;
        let r = audit(&w).await;
        assert_pass(&r);
        assert_eq!(r.evidence.page.as_ref().unwrap().numbers[0].text, NUMBER);
        if let Some(charset) = charset {
            assert!(
                http(&r).charset.as_deref().unwrap().starts_with(charset),
                "{:?}",
                http(&r).charset
            );
        }
    }
}

#[tokio::test]
async fn deeply_nested_page_is_analysed_and_the_guard_is_in_the_evidence() {
    let page = "<div>".repeat(100_000) + &good_page();
    let w = world(Reply::html(&page)).await;
    let started = Instant::now();
    let r = audit(&w).await;
    assert_pass(&r);
    let page = r.evidence.page.clone().unwrap();
    let guard = page.markup_guard.expect("the guard fired");
    assert!(
        guard.dropped_start_tags >= 100_000 - icp_audit::page::MAX_DEPTH,
        "{guard:?}"
    );
    let number = &page.numbers[0];
    assert!(number.linked_to_miit && number.in_footer, "{number:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

fn https_only() -> Router {
    Arc::new(|req: &Request| {
        if req.https {
            Reply::html(&good_page())
        } else {
            Reply::redirect(301, "https://site.test/")
        }
    })
}

#[tokio::test]
async fn bad_certificates_are_recorded_and_the_page_still_checked() {
    for (kind, label) in [
        (CertKind::WrongHost, "wrong_host"),
        (CertKind::Expired, "expired"),
        (CertKind::SelfSigned, "unknown_issuer"),
    ] {
        let mut spec = WorldSpec::new(vec![zone()], https_only());
        spec.certs = vec![("site.test".into(), kind)];
        let w = World::start(spec).await;
        let r = audit(&w).await;
        assert_pass(&r);
        let certs = &http(&r).certificates;
        assert_eq!(certs[0].host, "site.test");
        assert_eq!(certs[0].verdict.label(), label);
    }
}

#[tokio::test]
async fn tls_handshake_that_never_completes_times_out() {
    let mut spec = WorldSpec::new(vec![zone()], https_only());
    spec.stall_tls = vec!["site.test".into()];
    let w = World::start(spec).await;
    let started = Instant::now();
    let r = audit(&w).await;
    assert_unreachable(&r, FailureKind::Timeout);
    assert_eq!(http(&r).hops.last().unwrap().url, "https://site.test/");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn ipv6_only_site_is_fetched_over_ipv6() {
    let v6: IpAddr = "::1".parse().unwrap();
    let mut spec = WorldSpec::new(
        vec![zone()],
        routes(vec![("v6only.test", Reply::html(&good_page()))]),
    );
    spec.web_ips = vec![v6];
    let w = World::start(spec).await;
    let r = audit_with(options(&w), "v6only.test").await;
    assert_pass(&r);
    assert_eq!(r.evidence.dns[0].addresses, vec![v6]);
    assert_eq!(http(&r).hops[0].address.map(|a| a.ip()), Some(v6));
    assert_eq!(w.connections_to(v6), 1);
}
