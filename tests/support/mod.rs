//! A test world on loopback: an authoritative DNS server (hickory-server) serving zone text,
//! and HTTP and HTTPS servers that route on the Host header to behaviours a test chooses,
//! from ordinary pages to servers that hang, trickle, reset or never finish a handshake.
//!
//! Everything binds to 127.0.0.0/8 and is torn down when the world is dropped. The same world
//! backs the integration tests and the `demo` example.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the world"
)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::proto::rr::LowerName;
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// What a fixture server does with one request.
#[derive(Clone)]
pub enum Reply {
    /// A complete answer.
    Page {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Bytes written as they are, then the connection is closed.
    Raw(Vec<u8>),
    /// Read the request and never answer.
    Hang,
    /// Send the head, then the body one byte every `interval`.
    Trickle {
        head: Vec<u8>,
        body: Vec<u8>,
        interval: Duration,
    },
    /// Send the head and part of the body, then reset the connection.
    ResetMidBody { head: Vec<u8>, partial: Vec<u8> },
    /// Send the head, then body bytes until the client goes away.
    Endless { head: Vec<u8> },
}

impl Reply {
    /// A 200 HTML page in UTF-8.
    pub fn html(body: &str) -> Reply {
        Reply::page(200, "text/html; charset=utf-8", body.as_bytes().to_vec())
    }

    pub fn page(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply::Page {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body,
        }
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::Page {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Page { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// The request as the router sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub host: String,
    pub path: String,
    pub https: bool,
    pub local: SocketAddr,
}

pub type Router = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Sites by host name, each a fixed reply; unknown hosts get a 404.
pub fn routes(sites: Vec<(&str, Reply)>) -> Router {
    let table: HashMap<String, Reply> =
        sites.into_iter().map(|(h, r)| (h.to_string(), r)).collect();
    Arc::new(move |req: &Request| {
        table
            .get(&req.host)
            .cloned()
            .unwrap_or_else(|| Reply::page(404, "text/html", b"<h1>404</h1>".to_vec()))
    })
}

/// Certificates for the HTTPS server: a test CA and per-host leaf certificates.
pub struct TestCa {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// How a host's certificate is made.
#[derive(Clone, Copy, Debug)]
pub enum CertKind {
    Valid,
    Expired,
    /// Issued for another name.
    WrongHost,
    /// Self-signed, not by the test CA.
    SelfSigned,
}

impl TestCa {
    pub fn new(dir: &std::path::Path) -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "icp-audit test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ca_file = dir.join("test-ca.pem");
        std::fs::write(&ca_file, cert.pem()).unwrap();
        TestCa {
            ca_pem: cert.pem(),
            ca_file,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn certified_key(&self, host: &str, kind: CertKind) -> Arc<rustls::sign::CertifiedKey> {
        let name = match kind {
            CertKind::WrongHost => "someone-else.test".to_string(),
            _ => host.to_string(),
        };
        let mut params = rcgen::CertificateParams::new(vec![name]).unwrap();
        if let CertKind::Expired = kind {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = match kind {
            CertKind::SelfSigned => params.self_signed(&key).unwrap(),
            _ => params.signed_by(&key, &self.issuer).unwrap(),
        };
        let der_key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let provider = rustls::crypto::ring::default_provider();
        let signing = provider.key_provider.load_private_key(der_key).unwrap();
        Arc::new(rustls::sign::CertifiedKey::new(
            vec![cert.der().clone()],
            signing,
        ))
    }
}

#[derive(Debug)]
struct SniCerts {
    certs: HashMap<String, Arc<rustls::sign::CertifiedKey>>,
    fallback: Arc<rustls::sign::CertifiedKey>,
}

impl rustls::server::ResolvesServerCert for SniCerts {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name().unwrap_or("");
        Some(
            self.certs
                .get(name)
                .cloned()
                .unwrap_or_else(|| self.fallback.clone()),
        )
    }
}

/// A running world. Dropping it stops every server.
pub struct World {
    pub dns: SocketAddr,
    pub http_port: u16,
    pub https_port: u16,
    pub ca_file: PathBuf,
    /// TCP connections accepted by the HTTP and HTTPS servers, per local address.
    pub connections: Arc<Mutex<HashMap<SocketAddr, usize>>>,
    pub dns_queries: Arc<AtomicUsize>,
    pub dir: tempfile::TempDir,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What to start.
pub struct WorldSpec {
    /// Zone texts in zone-file syntax, each with its `$ORIGIN`.
    pub zones: Vec<String>,
    pub router: Router,
    /// Loopback addresses the web servers listen on (127.0.0.1 is always included).
    pub web_ips: Vec<IpAddr>,
    /// Certificate kinds per host; hosts not listed get a valid certificate.
    pub certs: Vec<(String, CertKind)>,
    /// Hosts whose TLS handshake never completes (the server stalls after accepting).
    pub stall_tls: Vec<String>,
}

impl WorldSpec {
    pub fn new(zones: Vec<String>, router: Router) -> WorldSpec {
        WorldSpec {
            zones,
            router,
            web_ips: Vec::new(),
            certs: Vec::new(),
            stall_tls: Vec::new(),
        }
    }
}

impl World {
    pub async fn start(spec: WorldSpec) -> World {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new(dir.path());
        let connections = Arc::new(Mutex::new(HashMap::new()));
        let mut tasks = Vec::new();

        let (dns, dns_queries, dns_task) = start_dns(&spec.zones).await;
        tasks.push(dns_task);

        let mut ips = vec![IpAddr::from([127, 0, 0, 1])];
        for ip in &spec.web_ips {
            if !ips.contains(ip) {
                ips.push(*ip);
            }
        }
        let (http_port, https_port, listeners) = bind_web(&ips).await;

        let tls = Arc::new(tls_config(&ca, &spec));
        for (http, https) in listeners {
            tasks.push(tokio::spawn(serve(
                http,
                None,
                spec.router.clone(),
                connections.clone(),
                Vec::new(),
            )));
            let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
            tasks.push(tokio::spawn(serve(
                https,
                Some(acceptor),
                spec.router.clone(),
                connections.clone(),
                spec.stall_tls.clone(),
            )));
        }

        World {
            dns,
            http_port,
            https_port,
            ca_file: ca.ca_file.clone(),
            connections,
            dns_queries,
            dir,
            tasks,
        }
    }

    /// Connections accepted on one address (HTTP and HTTPS ports together).
    pub fn connections_to(&self, ip: IpAddr) -> usize {
        let table = self.connections.lock().unwrap();
        table
            .iter()
            .filter(|(addr, _)| addr.ip() == ip)
            .map(|(_, n)| n)
            .sum()
    }

    /// Audit options that reach this world: its resolver, ports and CA, loopback allowed,
    /// `cloud` (prefixes, one a line) as the cloud, a 500 ms DNS query timeout without
    /// retries, and `timeout` for each site.
    pub fn audit_options(&self, cloud: &str, timeout: Duration) -> icp_audit::audit::AuditOptions {
        let mut ranges = icp_audit::cloud::CloudRanges::default();
        ranges.add_text("test", cloud).unwrap();
        icp_audit::audit::AuditOptions {
            dns: icp_audit::resolve::DnsConfig {
                servers: vec![self.dns],
                query_timeout: Duration::from_millis(500),
                retries: 0,
            },
            fetch: icp_audit::fetch::FetchConfig {
                policy: icp_audit::address::AddressPolicy::allow_private(),
                http_port: self.http_port,
                https_port: self.https_port,
                ..icp_audit::fetch::FetchConfig::default()
            },
            ca_files: vec![self.ca_file.clone()],
            cloud: ranges,
            timeout,
            concurrency: 8,
            ..icp_audit::audit::AuditOptions::default()
        }
    }

    /// Writes a cloud-ranges file holding the given prefixes.
    pub fn ranges_file(&self, prefixes: &[&str]) -> PathBuf {
        let path = self.dir.path().join("ranges.txt");
        std::fs::write(&path, prefixes.join("\n")).unwrap();
        path
    }
}

/// Binds an HTTP and an HTTPS listener on every address, on one port pair shared by all
/// addresses. Ports are taken, not merely checked, so parallel tests cannot steal them; a
/// pair busy on some address is let go and another is tried.
async fn bind_web(ips: &[IpAddr]) -> (u16, u16, Vec<(TcpListener, TcpListener)>) {
    for _ in 0..100 {
        let first_http = TcpListener::bind((ips[0], 0)).await.unwrap();
        let first_https = TcpListener::bind((ips[0], 0)).await.unwrap();
        let (a, b) = (
            first_http.local_addr().unwrap().port(),
            first_https.local_addr().unwrap().port(),
        );
        let mut listeners = vec![(first_http, first_https)];
        for ip in &ips[1..] {
            match (
                TcpListener::bind((*ip, a)).await,
                TcpListener::bind((*ip, b)).await,
            ) {
                (Ok(http), Ok(https)) => listeners.push((http, https)),
                _ => break,
            }
        }
        if listeners.len() == ips.len() {
            return (a, b, listeners);
        }
    }
    panic!("no port pair free on every one of {ips:?}");
}

fn tls_config(ca: &TestCa, spec: &WorldSpec) -> rustls::ServerConfig {
    let mut certs = HashMap::new();
    for (host, kind) in &spec.certs {
        certs.insert(host.clone(), ca.certified_key(host, *kind));
    }
    let hosts = hosts_in(&spec.zones);
    for host in hosts {
        certs
            .entry(host.clone())
            .or_insert_with(|| ca.certified_key(&host, CertKind::Valid));
    }
    let fallback = ca.certified_key("fallback.test", CertKind::Valid);
    let resolver = SniCerts { certs, fallback };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Owner names that appear in the zones (for certificates).
fn hosts_in(zones: &[String]) -> Vec<String> {
    let mut hosts = Vec::new();
    for zone in zones {
        let origin = zone
            .lines()
            .find_map(|l| l.strip_prefix("$ORIGIN"))
            .map(|o| o.trim().trim_end_matches('.').to_string())
            .unwrap_or_default();
        for line in zone.lines() {
            let Some(owner) = line.split_whitespace().next() else {
                continue;
            };
            if owner.starts_with('$')
                || owner.starts_with(';')
                || line.starts_with(char::is_whitespace)
            {
                continue;
            }
            let name = match owner {
                "@" => origin.clone(),
                o if o.ends_with('.') => o.trim_end_matches('.').to_string(),
                o => format!("{o}.{origin}"),
            };
            if !hosts.contains(&name) {
                hosts.push(name);
            }
        }
    }
    hosts
}

/// A UDP socket and a TCP listener on the same loopback port (retrying when TCP's is taken).
async fn dns_sockets() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

async fn start_dns(
    zones: &[String],
) -> (SocketAddr, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let mut catalog = Catalog::new();
    for text in zones {
        let (origin, records) = Parser::new(text.as_str(), None, None).parse().unwrap();
        let zone = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::new(
            origin.clone(),
            records,
            ZoneType::Primary,
            AxfrPolicy::Deny,
        )
        .unwrap();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    }
    let (udp, tcp) = dns_sockets().await;
    let addr = udp.local_addr().unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 4096);
    let queries = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    (addr, queries, task)
}

async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    connections: Arc<Mutex<HashMap<SocketAddr, usize>>>,
    stall: Vec<String>,
) {
    let local = listener.local_addr().unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        *connections.lock().unwrap().entry(local).or_default() += 1;
        let router = router.clone();
        let tls = tls.clone();
        let stall = stall.clone();
        tokio::spawn(async move {
            match tls {
                None => handle(stream, router, local, false).await,
                Some(acceptor) => {
                    if !stall.is_empty() {
                        // A handshake that never completes: hold the socket without answering.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    if let Ok(tls_stream) = acceptor.accept(stream).await {
                        handle(tls_stream, router, local, true).await;
                    }
                }
            }
        });
    }
}

/// A stream whose close can be turned into a reset.
trait Linger {
    fn linger_zero(&self);
}

impl Linger for TcpStream {
    #[expect(
        deprecated,
        reason = "blocking on drop is what a test reset wants: it is immediate"
    )]
    fn linger_zero(&self) {
        let _ = self.set_linger(Some(Duration::ZERO));
    }
}

impl Linger for tokio_rustls::server::TlsStream<TcpStream> {
    fn linger_zero(&self) {
        self.get_ref().0.linger_zero();
    }
}

/// Serves requests on one connection until it closes.
async fn handle<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Linger>(
    mut stream: S,
    router: Router,
    local: SocketAddr,
    https: bool,
) {
    loop {
        let Some(head) = read_head(&mut stream).await else {
            return;
        };
        let request = parse_request(&head, local, https);
        let reply = router(&request);
        if matches!(reply, Reply::ResetMidBody { .. }) {
            // Closing with a zero linger sends RST instead of FIN: a real reset.
            stream.linger_zero();
        }
        if !write_reply(&mut stream, reply).await {
            return;
        }
    }
}

async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 || buf.len() > 65_536 {
            return None;
        }
        buf.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn parse_request(head: &str, local: SocketAddr, https: bool) -> Request {
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let host = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .map_or(host.as_str(), |(h, _)| h)
        .to_ascii_lowercase();
    Request {
        host,
        path,
        https,
        local,
    }
}

/// Writes a reply; returns whether the connection may carry another request.
async fn write_reply<S: tokio::io::AsyncWrite + Unpin>(stream: &mut S, reply: Reply) -> bool {
    match reply {
        Reply::Page {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n",
                reason(status),
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes()).await.is_ok()
                && stream.write_all(&body).await.is_ok()
                && stream.flush().await.is_ok()
        }
        Reply::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
            false
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            false
        }
        Reply::Trickle {
            head,
            body,
            interval,
        } => {
            let _ = stream.write_all(&head).await;
            for b in body {
                if stream.write_all(&[b]).await.is_err() || stream.flush().await.is_err() {
                    return false;
                }
                tokio::time::sleep(interval).await;
            }
            false
        }
        Reply::ResetMidBody { head, partial } => {
            let _ = stream.write_all(&head).await;
            let _ = stream.write_all(&partial).await;
            let _ = stream.flush().await;
            false
        }
        Reply::Endless { head } => {
            let _ = stream.write_all(&head).await;
            let chunk = vec![b'a'; 64 * 1024];
            while stream.write_all(&chunk).await.is_ok() {}
            false
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

/// A filing record for `domain`, on line 2 of an inventory.
pub fn record(domain: &str, number: &str, name: &str) -> icp_audit::inventory::FilingRecord {
    icp_audit::inventory::FilingRecord {
        line: 2,
        domain: domain.into(),
        filing_number: number.into(),
        site_name: name.into(),
        ..Default::default()
    }
}

/// The codes of a report's findings, in order.
pub fn codes(report: &icp_audit::audit::SiteReport) -> Vec<&str> {
    report
        .verdict
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

/// The router of a fixture world directory: `sites.txt` lines `host status page-or-location`,
/// a `https:` prefix on the host for answers over TLS only.
pub fn router_from_dir(dir: &std::path::Path) -> std::io::Result<Router> {
    let mut routes = HashMap::new();
    for line in std::fs::read_to_string(dir.join("sites.txt"))?.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [host, status, target] = fields.as_slice() else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue;
        };
        let reply = if (300..400).contains(&status) {
            Reply::redirect(status, target)
        } else {
            Reply::page(status, "text/html", std::fs::read(dir.join(target))?)
        };
        routes.insert(host.to_string(), reply);
    }
    Ok(Arc::new(move |req: &Request| {
        let key = if req.https {
            format!("https:{}", req.host)
        } else {
            req.host.clone()
        };
        routes
            .get(&key)
            .or_else(|| routes.get(&req.host))
            .cloned()
            .unwrap_or_else(|| Reply::page(404, "text/html", b"<h1>404</h1>".to_vec()))
    }))
}

/// A refused port: bound, then closed, so connections to it are refused. Use an address no
/// other test listens on, or a parallel test may be given the same port.
pub async fn refused_port(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// What a scripted name server does with one query.
#[derive(Clone, Debug)]
pub enum DnsAnswer {
    /// These addresses, with TTL 0 so nothing is cached.
    Addresses(Vec<IpAddr>),
    /// An answer with this response code and no records (SERVFAIL, REFUSED, …).
    Code(hickory_server::proto::op::ResponseCode),
    /// No answer at all.
    Silent,
}

/// A name server on loopback UDP that answers by a script and counts the queries per name and
/// type, for tests that need what an authoritative zone cannot do (SERVFAIL, silence, an
/// answer that changes between queries).
pub struct ScriptedDns {
    pub addr: SocketAddr,
    /// Queries seen, as `name type` (`flip.test. A`).
    pub queries: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The script: (query name without the final dot, record type, queries of that name and type
/// so far, counting this one) → the answer.
pub type DnsScript = Arc<dyn Fn(&str, &str, usize) -> DnsAnswer + Send + Sync>;

impl ScriptedDns {
    pub async fn start(script: DnsScript) -> ScriptedDns {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = queries.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                if let Some(reply) = scripted_reply(&buf[..n], &script, &seen) {
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        ScriptedDns {
            addr,
            queries,
            task,
        }
    }

    /// How many queries asked for `name` (without the final dot) with type `rtype`.
    pub fn count(&self, name: &str, rtype: &str) -> usize {
        let key = format!("{name}. {rtype}");
        self.queries
            .lock()
            .unwrap()
            .iter()
            .filter(|q| **q == key)
            .count()
    }
}

impl Drop for ScriptedDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn scripted_reply(bytes: &[u8], script: &DnsScript, seen: &Mutex<Vec<String>>) -> Option<Vec<u8>> {
    use hickory_server::proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_server::proto::rr::{RData, Record, rdata};

    let query = Message::from_vec(bytes).ok()?;
    let question = query.queries.first()?.clone();
    let name = question.name().to_string();
    let rtype = question.query_type().to_string();
    let key = format!("{name} {rtype}");
    let nth = {
        let mut seen = seen.lock().unwrap();
        seen.push(key.clone());
        seen.iter().filter(|q| **q == key).count()
    };

    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(question.clone());
    match script(name.trim_end_matches('.'), &rtype, nth) {
        DnsAnswer::Silent => return None,
        DnsAnswer::Code(code) => reply.metadata.response_code = code,
        DnsAnswer::Addresses(ips) => {
            reply.metadata.response_code = ResponseCode::NoError;
            for ip in ips {
                let data = match ip {
                    IpAddr::V4(v4) if rtype == "A" => RData::A(rdata::A(v4)),
                    IpAddr::V6(v6) if rtype == "AAAA" => RData::AAAA(rdata::AAAA(v6)),
                    _ => continue,
                };
                reply.add_answer(Record::from_rdata(question.name().clone(), 0, data));
            }
        }
    }
    reply.to_vec().ok()
}
