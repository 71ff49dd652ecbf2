//! The hostile web, DNS side (issue 4): CNAME loops and long chains, answers too large for
//! UDP, SERVFAIL, silence, private answers and names that change their answer. Each ends in a
//! definite lookup outcome, and nothing is dialled that the policy refuses.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::ResponseCode;
use icp_audit::address::AddressPolicy;
use icp_audit::audit::{AuditOptions, Auditor};
use icp_audit::domain::Domain;
use icp_audit::fetch::DialLog;
use icp_audit::finding::{Reason, SiteResult};
use icp_audit::inventory::FilingRecord;
use icp_audit::resolve::{DnsConfig, LookupOutcome, SiteResolver};
use support::{DnsAnswer, Reply, Request, Router, ScriptedDns, World, WorldSpec, codes};
use tokio::time::Instant;

const NUMBER: &str = "京ICP备12345678号-1";
const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn good_page() -> String {
    format!(
        r#"<html><title>星河商城</title><footer><a href="https://beian.miit.gov.cn/">{NUMBER}</a></footer></html>"#
    )
}

fn zone() -> String {
    let mut zone = "$ORIGIN test.\n$TTL 60\n@ IN SOA ns.test. admin.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n\
                    ns IN A 127.0.0.1\nloop1 IN CNAME loop2.test.\nloop2 IN CNAME loop1.test.\n"
        .to_string();
    for i in 1..20 {
        zone.push_str(&format!("c{i} IN CNAME c{}.test.\n", i + 1));
    }
    zone.push_str("c20 IN A 127.0.0.1\n");
    for i in 0..300 {
        zone.push_str(&format!("big IN A 127.0.{}.{}\n", i / 250, i % 250 + 1));
    }
    for (name, ip) in [
        ("ten", "10.0.0.5"),
        ("oneseventwo", "172.16.0.1"),
        ("oneninetwo", "192.168.1.1"),
        ("metadata", "169.254.169.254"),
        ("cgnat", "100.64.0.1"),
        ("zero", "0.0.0.0"),
        ("multicast", "224.0.0.1"),
        ("reserved", "240.0.0.1"),
        ("loop", "127.0.0.1"),
    ] {
        zone.push_str(&format!("{name} IN A {ip}\n"));
    }
    zone.push_str("ula IN AAAA fd00::1\nlinklocal6 IN AAAA fe80::1\n");
    zone
}

async fn world() -> World {
    let router: Router = Arc::new(|_: &Request| Reply::html(&good_page()));
    World::start(WorldSpec::new(vec![zone()], router)).await
}

/// The world's options, asking `dns` instead of the world's own server.
fn options(dns: SocketAddr, world: &World) -> AuditOptions {
    let mut options = world.audit_options("127.0.0.0/8\n", Duration::from_secs(2));
    options.dns.servers = vec![dns];
    options.dns.query_timeout = Duration::from_millis(300);
    options.concurrency = AuditOptions::default().concurrency;
    options
}

fn record(domain: &str) -> FilingRecord {
    support::record(domain, NUMBER, "星河商城")
}

async fn lookup(dns: SocketAddr, host: &str) -> icp_audit::resolve::HostLookup {
    let resolver = SiteResolver::new(&DnsConfig {
        servers: vec![dns],
        query_timeout: Duration::from_millis(300),
        retries: 0,
    })
    .unwrap();
    resolver
        .lookup(
            &Domain::parse(host).unwrap(),
            Instant::now() + Duration::from_secs(2),
        )
        .await
}

#[tokio::test]
async fn cname_loop_does_not_resolve() {
    let w = world().await;
    let l = lookup(w.dns, "loop1.test").await;
    // The loop is the domain's own fault: no address, a definite finding, not "try later".
    assert_eq!(
        (l.outcome, l.addresses.len()),
        (LookupOutcome::NoAddress, 0),
        "{l:?}"
    );
    let r = Auditor::new(options(w.dns, &w))
        .unwrap()
        .audit(record("loop1.test"))
        .await;
    assert!(r.evidence.http.is_none(), "nothing is fetched");
    assert_eq!(codes(&r), vec!["NET-07a"], "{:?}", r.verdict);
    assert_eq!(r.verdict.findings[0].fact, "no_address");
}

#[tokio::test]
async fn chain_of_twenty_cnames_is_followed_and_recorded() {
    let w = world().await;
    let l = lookup(w.dns, "c1.test").await;
    assert_eq!(l.outcome, LookupOutcome::Addresses, "{l:?}");
    assert_eq!(l.addresses, vec![LOOPBACK]);
    assert_eq!(l.chain.len(), 19, "{:?}", l.chain);
    assert_eq!(l.chain.last().map(String::as_str), Some("c20.test"));
}

#[tokio::test]
async fn answer_too_large_for_udp_arrives_over_tcp() {
    let w = world().await;
    let l = lookup(w.dns, "big.test").await;
    assert_eq!(l.outcome, LookupOutcome::Addresses, "{l:?}");
    // 300 A records are 4,800 bytes of answer: more than any UDP answer carries here.
    assert_eq!(l.addresses.len(), 300);
}

async fn scripted(answer: DnsAnswer) -> ScriptedDns {
    ScriptedDns::start(Arc::new(move |_: &str, _: &str, _: usize| answer.clone())).await
}

#[tokio::test]
async fn servfail_is_inconclusive_never_a_finding() {
    let w = world().await;
    let dns = scripted(DnsAnswer::Code(ResponseCode::ServFail)).await;
    assert_eq!(
        lookup(dns.addr, "site.test").await.outcome,
        LookupOutcome::ServFail
    );
    let r = Auditor::new(options(dns.addr, &w))
        .unwrap()
        .audit(record("site.test"))
        .await;
    assert!(r.verdict.findings.is_empty(), "{:?}", r.verdict);
    assert_eq!(r.verdict.inconclusive[0].reason, Reason::DnsServfail);
}

#[tokio::test]
async fn silent_name_server_is_a_dns_timeout() {
    let w = world().await;
    let dns = scripted(DnsAnswer::Silent).await;
    let started = std::time::Instant::now();
    let r = Auditor::new(options(dns.addr, &w))
        .unwrap()
        .audit(record("site.test"))
        .await;
    assert!(r.verdict.findings.is_empty(), "{:?}", r.verdict);
    assert_eq!(r.verdict.inconclusive[0].reason, Reason::DnsTimeout);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(dns.count("site.test", "A") >= 1);
}

#[tokio::test]
async fn private_and_reserved_answers_are_refused_before_any_dial() {
    let w = world().await;
    let mut opts = options(w.dns, &w);
    opts.fetch.policy = AddressPolicy::public_only();
    let log = DialLog::default();
    let auditor = Auditor::new(opts).unwrap().with_dial_log(log.clone());
    let hosts = [
        "ten",
        "oneseventwo",
        "oneninetwo",
        "metadata",
        "cgnat",
        "zero",
        "multicast",
        "reserved",
        "loop",
        "ula",
        "linklocal6",
    ];
    for host in hosts {
        let r = auditor.audit(record(&format!("{host}.test"))).await;
        assert!(!codes(&r).contains(&"WEB-06"), "{host}: {:?}", r.verdict);
        assert!(
            r.verdict
                .inconclusive
                .iter()
                .any(|i| i.reason == Reason::AddressNotAllowed),
            "{host}: {:?}",
            r.verdict
        );
        let http = r.evidence.http.as_ref().unwrap();
        assert_eq!(http.refused.len(), 1, "{host}: {http:?}");
        assert!(http.hops[0].address.is_none());
    }
    assert!(log.dialled().is_empty(), "dialled {:?}", log.dialled());
    assert_eq!(w.connections_to(LOOPBACK), 0);
}

#[tokio::test]
async fn a_name_that_changes_its_answer_is_looked_up_once() {
    let router: Router = Arc::new(|req: &Request| match req.path.as_str() {
        "/" => Reply::redirect(302, "/home"),
        _ => Reply::html(&good_page()),
    });
    let mut spec = WorldSpec::new(vec![zone()], router);
    spec.web_ips = vec!["127.0.0.2".parse().unwrap()];
    let w = World::start(spec).await;
    // First answer 127.0.0.1, every later one 127.0.0.2 (TTL 0, so nothing is cached).
    let dns = ScriptedDns::start(Arc::new(|_: &str, rtype: &str, nth: usize| {
        match (rtype, nth) {
            ("A", 1) => DnsAnswer::Addresses(vec![LOOPBACK]),
            ("A", _) => DnsAnswer::Addresses(vec!["127.0.0.2".parse().unwrap()]),
            _ => DnsAnswer::Addresses(Vec::new()),
        }
    }))
    .await;
    let log = DialLog::default();
    let r = Auditor::new(options(dns.addr, &w))
        .unwrap()
        .with_dial_log(log.clone())
        .audit(record("flip.test"))
        .await;
    assert_eq!(r.verdict.result(), SiteResult::Pass, "{:?}", r.verdict);
    assert_eq!(
        dns.count("flip.test", "A"),
        1,
        "{:?}",
        dns.queries.lock().unwrap()
    );
    let http = r.evidence.http.as_ref().unwrap();
    assert_eq!(http.hops.len(), 2);
    assert!(
        http.hops
            .iter()
            .all(|h| h.address.map(|a| a.ip()) == Some(LOOPBACK)),
        "{http:?}"
    );
    assert_eq!(w.connections_to("127.0.0.2".parse().unwrap()), 0);
}
