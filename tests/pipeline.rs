//! The audit pipeline end to end against a loopback world: DNS → cloud → HTTP → footer and
//! name → findings keyed to the notices (issue 2). Each notice has fixtures that raise it and
//! near-misses that must not.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use icp_audit::address::AddressPolicy;
use icp_audit::audit::{AuditOptions, Auditor, SiteReport};
use icp_audit::fetch::DialLog;
use icp_audit::finding::{Reason, SiteResult};
use icp_audit::inventory::FilingRecord;
use support::{Reply, World, WorldSpec, routes};

const NUMBER: &str = "京ICP备12345678号-1";
const NAME: &str = "星河商城";

/// A compliant page for the filed number and name.
fn good_page() -> String {
    format!(
        r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>{NAME} - 首页</title></head>
        <body><main><p>欢迎光临</p></main><footer>©2026 <a href="https://beian.miit.gov.cn/" target="_blank">{NUMBER}</a></footer></body></html>"#
    )
}

fn page_with_footer(footer: &str) -> String {
    format!(
        r#"<html><head><title>{NAME}</title></head><body><p>内容</p><footer>{footer}</footer></body></html>"#
    )
}

/// The zone used by most tests: hosts in the "cloud" (127.0.0.1) and one outside (127.0.0.2).
fn zone() -> String {
    "$ORIGIN test.\n$TTL 60\n@ IN SOA ns.test. admin.test. 1 3600 600 86400 60\n@ IN NS ns.test.\nns IN A 127.0.0.1\n\
     good IN A 127.0.0.1\n\
     alias IN CNAME alias2.test.\nalias2 IN CNAME good.test.\n\
     outside IN A 127.0.0.2\n\
     chainout IN CNAME outside.test.\n\
     dangling IN CNAME nowhere.test.\n\
     private IN A 10.0.0.5\n\
     metadata IN A 169.254.169.254\n\
     page IN A 127.0.0.1\n\
     refused IN A 127.0.0.253\n"
        .to_string()
}

async fn world(sites: Vec<(&str, Reply)>) -> World {
    let mut spec = WorldSpec::new(vec![zone()], routes(sites));
    spec.web_ips = vec!["127.0.0.2".parse().unwrap()];
    World::start(spec).await
}

fn options(world: &World) -> AuditOptions {
    let mut options = world.audit_options("127.0.0.1/32", Duration::from_secs(5));
    options.dns.query_timeout = Duration::from_millis(800);
    options.dns.retries = 1;
    options
}

fn record(domain: &str) -> FilingRecord {
    support::record(domain, NUMBER, NAME)
}

async fn audit(world: &World, domain: &str) -> SiteReport {
    Auditor::new(options(world))
        .unwrap()
        .audit(record(domain))
        .await
}

use support::codes;

#[tokio::test]
async fn compliant_site_passes_with_evidence() {
    let w = world(vec![("good.test", Reply::html(&good_page()))]).await;
    let r = audit(&w, "good.test").await;
    assert_eq!(r.verdict.result(), SiteResult::Pass, "{:?}", r.verdict);
    let http = r.evidence.http.as_ref().unwrap();
    assert_eq!(http.hops[0].status, Some(200));
    assert_eq!(
        http.hops[0].address.map(|a| a.ip()),
        Some(IpAddr::from([127, 0, 0, 1]))
    );
    assert_eq!(r.evidence.page.as_ref().unwrap().numbers[0].text, NUMBER);
}

#[tokio::test]
async fn cname_chain_into_the_cloud_passes_and_is_recorded() {
    let w = world(vec![("alias.test", Reply::html(&good_page()))]).await;
    let r = audit(&w, "alias.test").await;
    assert_eq!(r.verdict.result(), SiteResult::Pass, "{:?}", r.verdict);
    assert_eq!(r.evidence.dns[0].chain, vec!["alias2.test", "good.test"]);
}

#[tokio::test]
async fn cname_chain_out_of_the_cloud_names_the_address() {
    let w = world(vec![("chainout.test", Reply::html(&good_page()))]).await;
    let r = audit(&w, "chainout.test").await;
    assert_eq!(codes(&r), vec!["NET-07a"]);
    assert_eq!(r.verdict.findings[0].fact, "127.0.0.2");
    assert!(
        r.verdict.findings[0].evidence.contains("outside.test"),
        "{}",
        r.verdict.findings[0].evidence
    );
}

#[tokio::test]
async fn nxdomain_and_dangling_cname_are_not_resolved() {
    let w = world(vec![]).await;
    let r = audit(&w, "missing.test").await;
    assert_eq!(codes(&r), vec!["NET-07a"]);
    assert_eq!(r.verdict.findings[0].fact, "nxdomain");
    let r = audit(&w, "dangling.test").await;
    assert_eq!(codes(&r), vec!["NET-07a"]);
}

#[tokio::test]
async fn silent_resolver_is_inconclusive_never_a_finding() {
    let w = world(vec![]).await;
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut opts = options(&w);
    opts.dns.servers = vec![silent.local_addr().unwrap()];
    opts.dns.query_timeout = Duration::from_millis(200);
    opts.timeout = Duration::from_secs(2);
    let r = Auditor::new(opts).unwrap().audit(record("good.test")).await;
    assert!(r.verdict.findings.is_empty(), "{:?}", r.verdict.findings);
    assert_eq!(r.verdict.result(), SiteResult::Inconclusive);
    assert_eq!(r.verdict.inconclusive[0].reason, Reason::DnsTimeout);
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    let w = world(vec![]).await;
    let mut opts = options(&w);
    // 127.0.0.253 is an address no other test listens on, so the closed ports stay closed.
    let unused = IpAddr::from([127, 0, 0, 253]);
    opts.cloud.add_text("test", "127.0.0.253/32").unwrap();
    opts.fetch.http_port = support::refused_port(unused).await;
    opts.fetch.https_port = support::refused_port(unused).await;
    let r = Auditor::new(opts)
        .unwrap()
        .audit(record("refused.test"))
        .await;
    assert_eq!(codes(&r), vec!["WEB-06"]);
    assert_eq!(r.verdict.findings[0].fact, "connection_refused");
    assert_eq!(
        r.evidence.http.as_ref().unwrap().hops.len(),
        2,
        "https was tried after http"
    );
}

#[tokio::test]
async fn error_statuses_and_redirect_loops_are_unreachable() {
    let w = world(vec![
        (
            "good.test",
            Reply::page(404, "text/html", b"<h1>not found</h1>".to_vec()),
        ),
        ("page.test", Reply::redirect(302, "/again")),
    ])
    .await;
    let r = audit(&w, "good.test").await;
    assert_eq!(codes(&r), vec!["WEB-06"]);
    assert_eq!(r.verdict.findings[0].fact, "http_status");

    let r = audit(&w, "page.test").await;
    assert_eq!(codes(&r), vec!["WEB-06"]);
    assert!(["redirect_loop", "too_many_redirects"].contains(&r.verdict.findings[0].fact.as_str()));
}

#[tokio::test]
async fn server_error_is_unreachable_but_a_2xx_other_than_200_is_not() {
    let w = world(vec![
        (
            "good.test",
            Reply::page(500, "text/html", b"<h1>error</h1>".to_vec()),
        ),
        (
            "page.test",
            Reply::Page {
                status: 203,
                headers: vec![("Content-Type".into(), "text/html".into())],
                body: good_page().into_bytes(),
            },
        ),
    ])
    .await;
    let r = audit(&w, "good.test").await;
    assert_eq!(codes(&r), vec!["WEB-06"]);
    assert!(
        r.verdict.findings[0].evidence.contains("500"),
        "{}",
        r.verdict.findings[0].evidence
    );
    let r = audit(&w, "page.test").await;
    assert_eq!(r.verdict.result(), SiteResult::Pass, "{:?}", r.verdict);
}

#[tokio::test]
async fn http_to_https_redirect_is_followed() {
    let router: support::Router = std::sync::Arc::new(|req: &support::Request| {
        if req.https {
            Reply::html(&good_page())
        } else {
            Reply::redirect(301, "https://good.test/")
        }
    });
    let w = World::start(WorldSpec::new(vec![zone()], router)).await;
    let r = audit(&w, "good.test").await;
    assert_eq!(r.verdict.result(), SiteResult::Pass, "{:?}", r.verdict);
    let http = r.evidence.http.as_ref().unwrap();
    assert_eq!(
        http.hops.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![Some(301), Some(200)]
    );
    assert_eq!(http.certificates[0].verdict.label(), "trusted");
}

#[tokio::test]
async fn meta_refresh_is_followed() {
    let router: support::Router = std::sync::Arc::new(|req: &support::Request| {
        if req.path == "/home" {
            Reply::html(&good_page())
        } else {
            Reply::html(
                r#"<html><head><meta http-equiv="refresh" content="0;url=/home"></head></html>"#,
            )
        }
    });
    let w = World::start(WorldSpec::new(vec![zone()], router)).await;
    let r = audit(&w, "good.test").await;
    assert_eq!(r.verdict.result(), SiteResult::Pass, "{:?}", r.verdict);
}

#[tokio::test]
async fn gbk_and_gzip_pages_are_decoded() {
    let gbk_page = good_page().replace("utf-8", "gbk");
    let (gbk, _, _) = encoding_rs::GBK.encode(&gbk_page);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, good_page().as_bytes()).unwrap();
    let w = world(vec![
        ("good.test", Reply::page(200, "text/html", gbk.into_owned())),
        (
            "page.test",
            Reply::page(200, "text/html; charset=utf-8", gz.finish().unwrap())
                .with_header("Content-Encoding", "gzip"),
        ),
    ])
    .await;
    for domain in ["good.test", "page.test"] {
        let r = audit(&w, domain).await;
        assert_eq!(
            r.verdict.result(),
            SiteResult::Pass,
            "{domain}: {:?}",
            r.verdict
        );
    }
}

#[tokio::test]
async fn footer_faults_raise_web04_and_near_misses_do_not() {
    let cases = [
        (format!("<!-- {NUMBER} --> 版权所有"), true),
        (
            format!(r#"<a href="https://beian.miit.gov.cn.example.com/">{NUMBER}</a>"#),
            true,
        ),
        (
            format!(r#"{NUMBER} <a href="https://beian.miit.gov.cn/">备案查询</a>"#),
            true,
        ),
        (
            r#"<a href="https://beian.miit.gov.cn/">京ICP备12345678号</a>"#.to_string(),
            true,
        ),
        (
            format!(r#"<a href="http://www.beian.miit.gov.cn">{NUMBER}</a>"#),
            false,
        ),
        (
            r#"<a href="//BEIAN.miit.gov.cn/#/Integrated/index">京 ICP 备 1234 5678 号 －１</a>"#
                .to_string(),
            false,
        ),
    ];
    for (footer, raises) in cases {
        let w = world(vec![("good.test", Reply::html(&page_with_footer(&footer)))]).await;
        let r = audit(&w, "good.test").await;
        assert_eq!(
            codes(&r).contains(&"WEB-04"),
            raises,
            "{footer}: {:?}",
            r.verdict
        );
    }
}

#[tokio::test]
async fn guangdong_subject_number_passes_elsewhere_it_does_not() {
    let footer = r#"<a href="https://beian.miit.gov.cn/">粤ICP备12345678号</a>"#;
    let w = world(vec![("good.test", Reply::html(&page_with_footer(footer)))]).await;
    let mut rec = record("good.test");
    rec.filing_number = "粤ICP备12345678号-2".into();
    let r = Auditor::new(options(&w)).unwrap().audit(rec).await;
    assert!(!codes(&r).contains(&"WEB-04"), "{:?}", r.verdict);
}

#[tokio::test]
async fn site_names_match_titles_with_suffixes_and_entities() {
    let page = |title: &str| {
        format!(
            r#"<html><head><title>{title}</title></head><body><footer><a href="https://beian.miit.gov.cn/">{NUMBER}</a></footer></body></html>"#
        )
    };
    for (title, raises) in [
        ("星河商城 - 首页", false),
        ("&#26143;&#27827;&#21830;&#22478;", false),
        ("银河超市", true),
        ("", true),
    ] {
        let w = world(vec![("good.test", Reply::html(&page(title)))]).await;
        let r = audit(&w, "good.test").await;
        assert_eq!(
            codes(&r).contains(&"WEB-03"),
            raises,
            "{title}: {:?}",
            r.verdict
        );
    }
}

#[tokio::test]
async fn default_page_is_likely_not_in_use() {
    let w = world(vec![("good.test", Reply::html("<html><head><title>Welcome to nginx!</title></head><body><h1>Welcome to nginx!</h1></body></html>"))]).await;
    let r = audit(&w, "good.test").await;
    assert!(codes(&r).contains(&"WEB-05"), "{:?}", r.verdict);
    let f = r
        .verdict
        .findings
        .iter()
        .find(|f| f.code == "WEB-05")
        .unwrap();
    assert_eq!(f.confidence.label(), "likely");
}

#[tokio::test]
async fn private_answers_are_refused_before_any_dial() {
    let w = world(vec![("good.test", Reply::html(&good_page()))]).await;
    let mut opts = options(&w);
    opts.fetch.policy = AddressPolicy::public_only();
    let log = DialLog::default();
    let auditor = Auditor::new(opts).unwrap().with_dial_log(log.clone());

    for domain in ["private.test", "metadata.test", "good.test"] {
        let r = auditor.audit(record(domain)).await;
        assert!(!codes(&r).contains(&"WEB-06"), "{domain}: {:?}", r.verdict);
        assert!(
            r.verdict
                .inconclusive
                .iter()
                .any(|i| i.reason == Reason::AddressNotAllowed),
            "{domain}: {:?}",
            r.verdict
        );
    }
    assert!(log.dialled().is_empty(), "dialled {:?}", log.dialled());
    assert_eq!(w.connections_to(IpAddr::from([127, 0, 0, 1])), 0);
}

/// A WHOIS server on loopback answering every query with `answer`.
async fn whois_server(answer: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    addr
}

#[tokio::test]
async fn registry_answers_reach_the_verdict() {
    let w = world(vec![("good.test", Reply::html(&good_page()))]).await;
    let whois = whois_server("Domain Name: good.test\r\nRegistration Time: 2026-06-01 10:00:00\r\nExpiration Time: 2026-12-10 10:00:00\r\n").await;
    let mut opts = options(&w);
    opts.as_of = "2026-12-03".parse().unwrap();
    opts.registry = Some(icp_audit::registry::RegistryConfig {
        whois_server: Some(whois.to_string()),
        policy: AddressPolicy::allow_private(),
        ..Default::default()
    });
    let mut rec = record("good.test");
    rec.fields.insert("filed_on".into(), "2025-03-01".into());
    let r = Auditor::new(opts).unwrap().audit(rec).await;

    let mut found = codes(&r);
    found.sort();
    assert_eq!(found, vec!["NET-01", "NET-03"], "{:?}", r.verdict);
    let expiring = r
        .verdict
        .findings
        .iter()
        .find(|f| f.code == "NET-01")
        .unwrap();
    assert_eq!(
        expiring.severity.label(),
        "low",
        "expires in 7 days: expiring soon"
    );
    assert!(r.evidence.registry.is_some());
}
