//! Registry lookups against loopback RDAP (JSON over HTTP) and WHOIS (text over TCP) servers
//! that answer from `fixtures/registry/`: registered, expired, expiring, re-registered, not
//! found, rate-limited, malformed and silent; WHOIS in the `.cn` and `.com` layouts; one
//! query per registrable domain; the disk cache; and the address policy.
//!
//! The servers count the requests they receive, so the tests can prove what was not asked.
//! Deadlines are a few hundred milliseconds, to keep the suite fast on a shared machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use icp_audit::address::AddressPolicy;
use icp_audit::date::Date;
use icp_audit::domain::Domain;
use icp_audit::finding::{Confidence, Reason, Severity, Verdict};
use icp_audit::inventory::FilingRecord;
use icp_audit::registry::{
    RegistryClient, RegistryConfig, RegistryEvidence, RegistryOutcome, RegistrySource,
    registry_rule,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::Instant;

const SHORT: Duration = Duration::from_millis(400);

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/registry")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn as_of() -> Date {
    Date::new(2026, 3, 15).unwrap()
}

fn soon() -> Instant {
    Instant::now() + SHORT
}

/// What a loopback server does with one request.
#[derive(Clone)]
enum Reply {
    /// An HTTP answer (RDAP) or the text of a WHOIS answer (status and headers unused).
    Answer {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: String,
    },
    /// Read the request and never answer.
    Silent,
}

fn json(status: u16, fixture_name: &str) -> Reply {
    Reply::Answer {
        status,
        headers: vec![("Content-Type", "application/rdap+json")],
        body: fixture(fixture_name),
    }
}

fn text(fixture_name: &str) -> Reply {
    Reply::Answer {
        status: 0,
        headers: Vec::new(),
        body: fixture(fixture_name),
    }
}

/// A loopback server; the router sees the query (RDAP path or WHOIS line) and how many
/// requests came before it.
struct Server {
    addr: SocketAddr,
    queries: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

type Router = Arc<dyn Fn(&str, usize) -> Reply + Send + Sync>;

impl Server {
    async fn rdap(router: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Server {
        Server::start(Arc::new(router), Protocol::Http).await
    }

    async fn whois(router: impl Fn(&str, usize) -> Reply + Send + Sync + 'static) -> Server {
        Server::start(Arc::new(router), Protocol::Whois).await
    }

    async fn start(router: Router, protocol: Protocol) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));

        let seen = queries.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (router, seen) = (router.clone(), seen.clone());
                tokio::spawn(serve(stream, router, seen, protocol));
            }
        });
        Server {
            addr,
            queries,
            task,
        }
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.queries.lock().unwrap().len()
    }

    fn base_url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/rdap/", self.addr)).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy)]
enum Protocol {
    Http,
    Whois,
}

async fn serve(
    stream: tokio::net::TcpStream,
    router: Router,
    seen: Arc<Mutex<Vec<String>>>,
    protocol: Protocol,
) {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    if reader.read_line(&mut first).await.is_err() {
        return;
    }
    let query = match protocol {
        Protocol::Http => first.split(' ').nth(1).unwrap_or("").to_string(),
        Protocol::Whois => first.clone(),
    };
    if let Protocol::Http = protocol {
        read_head(&mut reader).await;
    }

    let earlier = {
        let mut seen = seen.lock().unwrap();
        seen.push(query.clone());
        seen.len() - 1
    };
    let reply = router(&query, earlier);
    let mut stream = reader.into_inner();
    match (reply, protocol) {
        (Reply::Silent, _) => {
            let mut sink = [0u8; 64];
            let _ = stream.read(&mut sink).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        (Reply::Answer { body, .. }, Protocol::Whois) => {
            let _ = stream.write_all(body.as_bytes()).await;
        }
        (
            Reply::Answer {
                status,
                headers,
                body,
            },
            Protocol::Http,
        ) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        }
    }
    let _ = stream.shutdown().await;
}

async fn read_head(reader: &mut BufReader<tokio::net::TcpStream>) {
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" || line == "\n" => return,
            Ok(_) => {}
        }
    }
}

fn rdap_config(server: &Server) -> RegistryConfig {
    RegistryConfig {
        rdap_server: Some(server.base_url()),
        per_server_rate: 1000.0,
        policy: AddressPolicy::allow_private(),
        ..RegistryConfig::default()
    }
}

fn whois_config(server: &Server) -> RegistryConfig {
    RegistryConfig {
        whois_server: Some(server.addr.to_string()),
        per_server_rate: 1000.0,
        policy: AddressPolicy::allow_private(),
        ..RegistryConfig::default()
    }
}

fn domain(name: &str) -> Domain {
    Domain::parse(name).unwrap()
}

async fn lookup(config: RegistryConfig, name: &str) -> RegistryEvidence {
    let client = RegistryClient::new(config).unwrap();
    ask(&client, name).await
}

async fn ask(client: &RegistryClient, name: &str) -> RegistryEvidence {
    client.lookup(&domain(name), soon()).await
}

fn judge(evidence: &RegistryEvidence, filed_on: Option<&str>) -> Verdict {
    let fields = filed_on
        .map(|f| ("filed_on".to_string(), f.to_string()))
        .into_iter()
        .collect();
    let record = FilingRecord {
        line: 2,
        domain: evidence.registrable.clone(),
        fields,
        ..Default::default()
    };
    registry_rule(&record, evidence, as_of(), 30)
}

fn codes(verdict: &Verdict) -> Vec<(&str, Severity)> {
    let found = verdict.findings.iter();
    found.map(|f| (f.code.as_str(), f.severity)).collect()
}

/// RDAP answers by domain, as a registry would give them.
fn rdap_registry(path: &str, _earlier: usize) -> Reply {
    let table: HashMap<&str, Reply> = [
        (
            "/rdap/domain/example.com",
            json(200, "rdap-registered.json"),
        ),
        ("/rdap/domain/lapsed.com", json(200, "rdap-expired.json")),
        ("/rdap/domain/soon.com", json(200, "rdap-expiring.json")),
        (
            "/rdap/domain/rebought.com",
            json(200, "rdap-reregistered.json"),
        ),
        ("/rdap/domain/broken.com", json(200, "rdap-malformed.json")),
        ("/rdap/domain/silent.com", Reply::Silent),
    ]
    .into_iter()
    .collect();
    table
        .get(path)
        .cloned()
        .unwrap_or_else(|| json(404, "rdap-not-found.json"))
}

#[tokio::test]
async fn rdap_answers_become_findings() {
    let server = Server::rdap(rdap_registry).await;
    let client = RegistryClient::new(rdap_config(&server)).unwrap();
    let ask = |name| ask(&client, name);

    let registered = ask("www.example.com").await;
    assert_eq!(registered.outcome, RegistryOutcome::Found);
    assert_eq!(registered.registrable, "example.com");
    assert_eq!(registered.registered.unwrap().to_string(), "1995-08-14");
    assert_eq!(registered.expires.unwrap().to_string(), "2030-08-13");
    let url = format!("{}domain/example.com", server.base_url());
    assert_eq!(registered.source, RegistrySource::Rdap { url });
    assert_eq!(judge(&registered, Some("2019-05-01")), Verdict::default());

    let expired = judge(&ask("lapsed.com").await, Some("2019-05-01"));
    assert_eq!(codes(&expired), [("NET-01", Severity::High)]);
    assert!(expired.findings[0].evidence.contains("2026-02-01"));

    let expiring = judge(&ask("soon.com").await, None);
    assert_eq!(codes(&expiring), [("NET-01", Severity::Low)]);
    assert!(expiring.findings[0].evidence.contains("10 days left"));

    let rebought = judge(&ask("shop.rebought.com").await, Some("2019-05-01"));
    assert_eq!(codes(&rebought), [("NET-03", Severity::High)]);
    assert_eq!(rebought.findings[0].fact, "registered=2024-06-01");
    assert!(
        rebought.findings[0]
            .evidence
            .contains("RDAP http://127.0.0.1")
    );
}

#[tokio::test]
async fn rdap_404_is_not_found_and_a_likely_net_01() {
    let server = Server::rdap(rdap_registry).await;
    let evidence = lookup(rdap_config(&server), "gone.com").await;
    assert_eq!(evidence.outcome, RegistryOutcome::NotFound);

    let verdict = judge(&evidence, Some("2019-05-01"));
    assert_eq!(codes(&verdict), [("NET-01", Severity::High)]);
    assert_eq!(verdict.findings[0].confidence, Confidence::Likely);
    assert_eq!(server.queries(), ["/rdap/domain/gone.com"]);
}

#[tokio::test]
async fn rdap_malformed_and_silent_servers_are_inconclusive() {
    let server = Server::rdap(rdap_registry).await;

    let broken = lookup(rdap_config(&server), "broken.com").await;
    assert_eq!(broken.outcome, RegistryOutcome::Malformed);

    let started = Instant::now();
    let silent = lookup(rdap_config(&server), "silent.com").await;
    assert_eq!(silent.outcome, RegistryOutcome::Timeout);
    assert!(started.elapsed() < SHORT + Duration::from_millis(300));

    for evidence in [broken, silent] {
        let verdict = judge(&evidence, Some("2019-05-01"));
        assert!(verdict.findings.is_empty());
        assert_eq!(verdict.inconclusive.len(), 1);
        assert_eq!(verdict.inconclusive[0].reason, Reason::RegistryUnavailable);
    }
}

#[tokio::test]
async fn rdap_429_is_retried_once_when_the_back_off_fits() {
    let server = Server::rdap(|_: &str, earlier: usize| match earlier {
        0 => Reply::Answer {
            status: 429,
            headers: vec![("Retry-After", "0")],
            body: String::new(),
        },
        _ => json(200, "rdap-registered.json"),
    })
    .await;

    let evidence = lookup(rdap_config(&server), "example.com").await;
    assert_eq!(evidence.outcome, RegistryOutcome::Found);
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn rdap_429_beyond_the_deadline_is_rate_limited() {
    let server = Server::rdap(|_: &str, _| Reply::Answer {
        status: 429,
        headers: vec![("Retry-After", "5")],
        body: String::new(),
    })
    .await;

    let started = Instant::now();
    let evidence = lookup(rdap_config(&server), "example.com").await;
    assert_eq!(evidence.outcome, RegistryOutcome::RateLimited);
    assert!(
        evidence.detail.contains("Retry-After 5 s"),
        "{}",
        evidence.detail
    );
    assert_eq!(server.count(), 1, "no retry past the deadline");
    assert!(started.elapsed() < SHORT);

    let verdict = judge(&evidence, Some("2019-05-01"));
    assert_eq!(verdict.inconclusive[0].reason, Reason::RegistryUnavailable);
}

#[tokio::test]
async fn whois_cn_layout_and_one_query_per_registrable_domain() {
    let server = Server::whois(|query: &str, _| match query {
        "shared.cn\r\n" => text("whois-cn-registered.txt"),
        _ => text("whois-cn-not-found.txt"),
    })
    .await;
    let client = RegistryClient::new(whois_config(&server)).unwrap();

    let (www, shop) = tokio::join!(
        ask(&client, "www.shared.cn"),
        ask(&client, "shop.shared.cn")
    );
    assert_eq!(server.queries(), ["shared.cn\r\n"]);
    assert_eq!(www, shop);
    assert_eq!(www.outcome, RegistryOutcome::Found);
    assert_eq!(www.registered.unwrap().to_string(), "2003-03-17");
    assert_eq!(www.expires.unwrap().to_string(), "2030-03-17");
    let server_name = server.addr.to_string();
    assert_eq!(
        www.source,
        RegistrySource::Whois {
            server: server_name
        }
    );

    let missing = ask(&client, "www.missing.com.cn").await;
    assert_eq!(missing.registrable, "missing.com.cn");
    assert_eq!(missing.outcome, RegistryOutcome::NotFound);
    assert_eq!(server.queries()[1], "missing.com.cn\r\n");
}

#[tokio::test]
async fn whois_com_layout_where_the_bootstrap_has_no_rdap() {
    let server = Server::whois(|query: &str, _| match query {
        "example.com\r\n" => text("whois-com-registered.txt"),
        _ => text("whois-com-not-found.txt"),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = write_empty_bootstrap(dir.path());
    let config = RegistryConfig {
        bootstrap: Some(bootstrap),
        ..whois_config(&server)
    };
    let client = RegistryClient::new(config).unwrap();

    let example = ask(&client, "example.com").await;
    assert_eq!(example.registered.unwrap().to_string(), "1995-08-14");
    assert_eq!(example.expires.unwrap().to_string(), "2030-08-13");

    let nope = ask(&client, "nope-icp-audit.com").await;
    assert_eq!(nope.outcome, RegistryOutcome::NotFound);
}

fn write_empty_bootstrap(dir: &Path) -> PathBuf {
    let path = dir.join("dns.json");
    let body = r#"{"version":"1.0","publication":"2026-03-15T00:00:00Z","services":[]}"#;
    std::fs::write(&path, body).unwrap();
    path
}

#[tokio::test]
async fn whois_failures_are_typed() {
    let server = Server::whois(|query: &str, _| match query {
        "busy.cn\r\n" => text("whois-cn-rate-limited.txt"),
        "odd.cn\r\n" => text("whois-malformed.txt"),
        _ => Reply::Silent,
    })
    .await;
    // A client per case: a failure backs the server off for the next lookup.
    let (odd, silent, busy) = tokio::join!(
        lookup(whois_config(&server), "odd.cn"),
        lookup(whois_config(&server), "silent.cn"),
        lookup(whois_config(&server), "busy.cn"),
    );

    assert_eq!(odd.outcome, RegistryOutcome::Malformed);
    assert_eq!(silent.outcome, RegistryOutcome::Timeout);
    assert_eq!(busy.outcome, RegistryOutcome::RateLimited);
    assert!(judge(&busy, None).findings.is_empty());
    assert_eq!(
        server.count(),
        4,
        "busy.cn is asked twice (one retry after 200 ms)"
    );
}

#[tokio::test]
async fn the_disk_cache_answers_a_second_run_but_failures_are_asked_again() {
    let server = Server::whois(|query: &str, _| match query {
        "shared.cn\r\n" => text("whois-cn-registered.txt"),
        _ => text("whois-malformed.txt"),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = RegistryConfig {
        cache_dir: Some(dir.path().join("cache")),
        ..whois_config(&server)
    };

    for _run in 0..2 {
        let client = RegistryClient::new(config.clone()).unwrap();
        ask(&client, "www.shared.cn").await;
        ask(&client, "odd.cn").await;
    }
    let second = RegistryClient::new(config).unwrap();
    let cached = ask(&second, "shared.cn").await;

    let queries = server.queries();
    assert_eq!(queries.iter().filter(|q| *q == "shared.cn\r\n").count(), 1);
    assert_eq!(queries.iter().filter(|q| *q == "odd.cn\r\n").count(), 2);
    assert!(matches!(cached.source, RegistrySource::Cache { .. }));
    assert_eq!(cached.expires.unwrap().to_string(), "2030-03-17");
    assert!(judge(&cached, Some("2019-05-01")).findings.is_empty());
}

#[tokio::test]
async fn the_address_policy_is_checked_before_connecting() {
    let rdap = Server::rdap(rdap_registry).await;
    let whois = Server::whois(|_: &str, _| text("whois-cn-registered.txt")).await;
    let public_only = |config: RegistryConfig| RegistryConfig {
        policy: AddressPolicy::public_only(),
        ..config
    };

    let over_rdap = lookup(public_only(rdap_config(&rdap)), "example.com").await;
    let over_whois = lookup(public_only(whois_config(&whois)), "shared.cn").await;

    assert_eq!(over_rdap.outcome, RegistryOutcome::Refused);
    assert_eq!(over_whois.outcome, RegistryOutcome::Refused);
    assert_eq!((rdap.count(), whois.count()), (0, 0));
}

#[tokio::test]
async fn a_suffix_without_a_known_server_is_no_service() {
    let config = RegistryConfig {
        policy: AddressPolicy::allow_private(),
        ..RegistryConfig::default()
    };
    let evidence = lookup(config, "www.example.zz").await;
    assert_eq!(evidence.outcome, RegistryOutcome::NoService);
    assert_eq!(evidence.source, RegistrySource::NoServer);

    let verdict = judge(&evidence, None);
    assert_eq!(verdict.inconclusive[0].reason, Reason::RegistryUnavailable);
}

#[test]
fn bad_settings_stop_the_run() {
    let bad_whois = RegistryConfig {
        whois_server: Some("whois.example:port".into()),
        ..RegistryConfig::default()
    };
    assert!(RegistryClient::new(bad_whois).is_err());

    let bad_rate = RegistryConfig {
        per_server_rate: 0.0,
        ..RegistryConfig::default()
    };
    assert!(RegistryClient::new(bad_rate).is_err());

    let missing = RegistryConfig {
        bootstrap: Some(PathBuf::from("/nonexistent/dns.json")),
        ..RegistryConfig::default()
    };
    assert!(RegistryClient::new(missing).is_err());
}
