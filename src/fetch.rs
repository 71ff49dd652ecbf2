//! Fetching the home page: `http://DOMAIN/` over the addresses DNS returned, redirects and
//! meta refreshes followed by hand so every hop is checked and recorded.
//!
//! Each site gets its own reqwest client whose resolver answers only from the site's pin
//! table, so no connection ever follows a second lookup, and every address passes the
//! [`AddressPolicy`] before it is dialled. Bodies are read chunk by chunk up to a cap (decoded
//! bytes, so compression bombs stop there too), within the site's one time budget.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::address::{AddressClass, AddressPolicy};
use crate::charset;
use crate::domain::Domain;
use crate::page::{self, PageEvidence};
use crate::politeness::{self, PerIpLimiter};
use crate::resolve::{HostLookup, LookupOutcome, SiteResolver};
use crate::tls::{CertNote, CertRecord, TlsTrust};

/// Most time one page's decoding and analysis may take. The markup guard keeps an 8 MB page
/// well inside it; it exists so that no page can hold a site's result forever.
pub const ANALYSIS_BUDGET: Duration = Duration::from_secs(30);

/// Bodies up to this size are decoded and analysed on the async worker itself: a guarded
/// page this small takes well under a millisecond to a few tens of milliseconds at worst, and
/// handing it to the blocking pool costs a thread hand-off per site. Larger bodies go to the
/// blocking pool under [`ANALYSIS_BUDGET`].
const INLINE_ANALYSIS_BYTES: usize = 64 * 1024;

/// Fetch settings shared by all sites of a run.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub policy: AddressPolicy,
    /// Most bytes of (decoded) body read; the rest is not analysed.
    pub max_body_bytes: usize,
    /// Most redirects and meta refreshes followed.
    pub max_hops: usize,
    /// Meta refreshes with a longer delay are not followed: a visitor sees the first page.
    pub max_refresh_delay_secs: u64,
    /// Ports used for URLs without an explicit port (80 and 443 outside test worlds).
    pub http_port: u16,
    pub https_port: u16,
    pub user_agent: String,
    /// Most requests in flight at once to one address, over all sites.
    pub per_ip: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            policy: AddressPolicy::public_only(),
            max_body_bytes: 8 * 1024 * 1024,
            max_hops: 10,
            max_refresh_delay_secs: 10,
            http_port: 80,
            https_port: 443,
            per_ip: 16,
            user_agent: concat!(
                "Mozilla/5.0 (compatible; icp-audit/",
                env!("CARGO_PKG_VERSION"),
                ")"
            )
            .to_string(),
        }
    }
}

/// How a hop was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopVia {
    Start,
    /// Port 80 did not answer, so `https://` was tried.
    HttpsFallback,
    Redirect,
    MetaRefresh,
}

/// One request of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub url: String,
    pub via: HopVia,
    /// The address connected to, when a connection was made.
    pub address: Option<SocketAddr>,
    pub status: Option<u16>,
    /// What went wrong at this hop, when something did.
    pub error: Option<FailureKind>,
}

/// Why fetching did not end at a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    ConnectionRefused,
    ConnectionReset,
    Timeout,
    /// The TLS handshake failed (not a certificate verdict: those are recorded, not fatal).
    Tls,
    /// The server's answer was not valid HTTP, or the connection closed before it ended.
    Protocol,
    RedirectLoop,
    TooManyRedirects,
    /// A redirect whose Location is not an http(s) URL.
    BadRedirect,
    /// A redirect to a host that does not resolve.
    RedirectUnresolved,
    /// The final status is not 2xx.
    HttpStatus,
    /// The final answer is not HTML (an image, JSON, …).
    NotHtml,
    EmptyBody,
    /// Every address of a hop is in space the policy forbids.
    AddressNotAllowed,
    /// The resolver could not answer for a redirect's host.
    DnsUnavailable,
    /// Our own per-address limit (`--per-ip`) or a server's pause kept the request from being
    /// sent within the time budget.
    Throttled,
    /// Analysing the page took longer than [`ANALYSIS_BUDGET`] (the auditor's limit).
    AnalysisTimeout,
    Other,
}

impl FailureKind {
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::ConnectionRefused => "connection_refused",
            FailureKind::ConnectionReset => "connection_reset",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls_handshake",
            FailureKind::Protocol => "protocol_error",
            FailureKind::RedirectLoop => "redirect_loop",
            FailureKind::TooManyRedirects => "too_many_redirects",
            FailureKind::BadRedirect => "bad_redirect",
            FailureKind::RedirectUnresolved => "redirect_unresolved",
            FailureKind::HttpStatus => "http_status",
            FailureKind::NotHtml => "not_html",
            FailureKind::EmptyBody => "empty_body",
            FailureKind::AddressNotAllowed => "address_not_allowed",
            FailureKind::DnsUnavailable => "dns_unavailable",
            FailureKind::Throttled => "throttled",
            FailureKind::AnalysisTimeout => "analysis_timeout",
            FailureKind::Other => "other",
        }
    }

    /// Whether this says nothing about the site (the auditor's own limits or resolver).
    pub fn is_auditor_side(self) -> bool {
        matches!(
            self,
            FailureKind::AddressNotAllowed
                | FailureKind::DnsUnavailable
                | FailureKind::AnalysisTimeout
                | FailureKind::Throttled
        )
    }
}

/// What fetching found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HttpEvidence {
    pub hops: Vec<Hop>,
    /// `None` when a page was reached.
    pub failure: Option<FailureKind>,
    /// Details of the failure, for people.
    pub detail: String,
    pub final_url: Option<String>,
    pub content_type: Option<String>,
    pub body_bytes: usize,
    /// The body was longer than the cap, and only the start was analysed.
    pub truncated: bool,
    /// The charset used, and where it came from.
    pub charset: Option<String>,
    pub certificates: Vec<CertNote>,
    /// Addresses refused by the policy, with their class.
    pub refused: Vec<(IpAddr, AddressClass)>,
}

impl HttpEvidence {
    /// `http://a.cn/ 301 → https://a.cn/ 200`, for evidence.
    pub fn describe_chain(&self) -> String {
        let hops: Vec<String> = self
            .hops
            .iter()
            .map(|h| {
                let outcome = match (h.status, h.error) {
                    (Some(s), _) => s.to_string(),
                    (None, Some(e)) => e.label().to_string(),
                    (None, None) => "?".to_string(),
                };
                let at = h.address.map(|a| format!(" @{a}")).unwrap_or_default();
                format!("{} {outcome}{at}", h.url)
            })
            .collect();
        hops.join(" → ")
    }
}

/// A fetched page: evidence of the fetch and, when a page was reached, of the page.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub http: HttpEvidence,
    pub page: Option<PageEvidence>,
}

/// Every address the fetch stage was asked to dial, for tests and audits of the auditor. Kept
/// only when a caller asks for one ([`Fetcher::with_dial_log`]): it grows with every site.
#[derive(Debug, Clone, Default)]
pub struct DialLog(Arc<Mutex<Vec<SocketAddr>>>);

impl DialLog {
    fn record(&self, addrs: &[SocketAddr]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(addrs);
    }

    pub fn dialled(&self) -> Vec<SocketAddr> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Fetches home pages; one per run.
#[derive(Clone)]
pub struct Fetcher {
    config: Arc<FetchConfig>,
    trust: TlsTrust,
    resolver: SiteResolver,
    dial_log: Option<DialLog>,
    limiter: Arc<PerIpLimiter>,
}

impl Fetcher {
    pub fn new(config: FetchConfig, trust: TlsTrust, resolver: SiteResolver) -> Fetcher {
        Fetcher {
            limiter: Arc::new(PerIpLimiter::new(config.per_ip)),
            config: Arc::new(config),
            trust,
            resolver,
            dial_log: None,
        }
    }

    /// Shares a dial log with the caller.
    pub fn with_dial_log(mut self, log: DialLog) -> Fetcher {
        self.dial_log = Some(log);
        self
    }

    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Fetches `http://host/` (then `https://` if port 80 does not answer) from `lookup`'s
    /// addresses, following redirects and meta refreshes until `deadline`.
    pub async fn fetch(&self, host: &Domain, lookup: &HostLookup, deadline: Instant) -> Fetched {
        let mut session = match Session::new(self, deadline) {
            Ok(session) => session,
            Err(detail) => return Fetched::failed(FailureKind::Other, detail),
        };
        session.pin(host.as_str(), &lookup.addresses);

        let start =
            url::Url::parse(&format!("http://{host}/")).expect("a normalised domain makes a URL");
        let fetched = session.run(start).await;
        Fetched {
            http: HttpEvidence {
                certificates: session.certs.notes(),
                ..fetched.http
            },
            page: fetched.page,
        }
    }
}

impl Fetched {
    fn failed(kind: FailureKind, detail: String) -> Fetched {
        Fetched {
            http: HttpEvidence {
                failure: Some(kind),
                detail,
                ..HttpEvidence::default()
            },
            page: None,
        }
    }
}

/// The pin table: host → addresses the site's client may connect to.
#[derive(Clone, Default)]
struct Pins {
    table: Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>,
    log: Option<DialLog>,
}

impl reqwest::dns::Resolve for Pins {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addrs = self
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name.as_str())
            .cloned();
        let log = self.log.clone();
        Box::pin(async move {
            let addrs =
                addrs.ok_or_else(|| format!("{} was not resolved by the audit", name.as_str()))?;
            if let Some(log) = log {
                log.record(&addrs);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// One site's fetch: its client, pins and the chain so far.
struct Session<'a> {
    fetcher: &'a Fetcher,
    client: reqwest::Client,
    pins: Pins,
    certs: CertRecord,
    deadline: Instant,
    evidence: HttpEvidence,
}

/// The answer to one request, before deciding what comes next.
enum Step {
    Redirect(url::Url, HopVia),
    Page(Vec<u8>),
    Failed(FailureKind, String),
}

impl<'a> Session<'a> {
    fn new(fetcher: &'a Fetcher, deadline: Instant) -> Result<Session<'a>, String> {
        let (tls, certs) = fetcher.trust.site_config().map_err(|e| e.to_string())?;
        let pins = Pins {
            table: Arc::default(),
            log: fetcher.dial_log.clone(),
        };
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::new(pins.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(fetcher.config.user_agent.clone())
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Session {
            fetcher,
            client,
            pins,
            certs,
            deadline,
            evidence: HttpEvidence::default(),
        })
    }

    /// Adds permitted addresses for a host to the pin table; refused ones go to the evidence.
    fn pin(&mut self, host: &str, addresses: &[IpAddr]) -> usize {
        let mut permitted = Vec::new();
        for &ip in addresses {
            match self.fetcher.config.policy.permits(ip) {
                Ok(()) => permitted.push(SocketAddr::new(ip, 0)),
                Err(class) => {
                    tracing::debug!(%host, %ip, class = class.label(), "address refused");
                    self.evidence.refused.push((ip, class));
                }
            }
        }
        let count = permitted.len();
        self.pins
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_string(), permitted);
        count
    }

    async fn run(&mut self, start: url::Url) -> Fetched {
        let mut url = start;
        let mut via = HopVia::Start;
        let mut seen = std::collections::HashSet::new();

        loop {
            if !seen.insert(url.to_string()) {
                return self.fail(
                    FailureKind::RedirectLoop,
                    format!("{url} was reached twice"),
                );
            }
            if self.evidence.hops.len() > self.fetcher.config.max_hops {
                let detail = format!("more than {} redirects", self.fetcher.config.max_hops);
                return self.fail(FailureKind::TooManyRedirects, detail);
            }

            match self.step(&url, via).await {
                Step::Redirect(next, next_via) => (url, via) = (next, next_via),
                Step::Page(body) => match self.page(&url, body).await {
                    Ok(fetched) => return fetched,
                    Err(next) => (url, via) = (next, HopVia::MetaRefresh),
                },
                Step::Failed(kind, detail) if via == HopVia::Start && should_try_https(kind) => {
                    let mut https = url.clone();
                    let _ = https.set_scheme("https");
                    tracing::debug!(url = %url, failure = kind.label(), "trying https");
                    self.evidence.detail = detail;
                    (url, via) = (https, HopVia::HttpsFallback);
                }
                Step::Failed(kind, detail) => return self.fail(kind, detail),
            }
        }
    }

    fn fail(&mut self, kind: FailureKind, detail: String) -> Fetched {
        self.evidence.failure = Some(kind);
        if !self.evidence.detail.is_empty() && self.evidence.detail != detail {
            self.evidence.detail = format!("{}; then {detail}", self.evidence.detail);
        } else {
            self.evidence.detail = detail;
        }
        Fetched {
            http: std::mem::take(&mut self.evidence),
            page: None,
        }
    }

    /// One request: connect, read the head, and either redirect, read the body, or fail.
    async fn step(&mut self, url: &url::Url, via: HopVia) -> Step {
        self.evidence.hops.push(Hop {
            url: url.to_string(),
            via,
            address: None,
            status: None,
            error: None,
        });
        if let Err((kind, detail)) = self.ensure_pinned(url).await {
            return self.hop_failed(kind, detail);
        }

        let Some(ip) = self.first_address(url) else {
            return self.hop_failed(FailureKind::AddressNotAllowed, format!("{url}: no address"));
        };
        for attempt in 0..2 {
            let Some(permit) = self.fetcher.limiter.acquire(ip, self.deadline).await else {
                let detail =
                    format!("no free request slot to {ip} within the time budget (--per-ip)");
                return self.hop_failed(FailureKind::Throttled, detail);
            };
            let response = match self.send(url).await {
                Ok(response) => response,
                Err((kind, detail)) => return self.hop_failed(kind, detail),
            };

            let status = response.status().as_u16();
            if matches!(status, 429 | 503) && attempt == 0 {
                let pause = politeness::retry_after(header(&response, "retry-after").as_deref());
                self.fetcher.limiter.pause(ip, pause);
                if Instant::now() + pause < self.deadline {
                    tracing::debug!(%url, status, pause_ms = pause.as_millis() as u64, "server asked to slow down");
                    continue;
                }
            }

            let hop = self.evidence.hops.last_mut().expect("pushed above");
            hop.address = response.remote_addr();
            hop.status = Some(status);
            let step = self.after_head(url, response).await;
            drop(permit);
            return step;
        }
        unreachable!("the second attempt always returns")
    }

    /// Sends one GET within the deadline.
    async fn send(&self, url: &url::Url) -> Result<reqwest::Response, (FailureKind, String)> {
        let request = self
            .client
            .get(self.wire_url(url))
            .header("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
            .header("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5");
        match tokio::time::timeout_at(self.deadline, request.send()).await {
            Err(_) => Err((
                FailureKind::Timeout,
                "no answer within the time budget".into(),
            )),
            Ok(Err(error)) => Err((classify(&error), describe(&error))),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// The address a request to this URL will connect to first.
    fn first_address(&self, url: &url::Url) -> Option<IpAddr> {
        let host = url.host_str()?.trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Some(ip);
        }
        let table = self.pins.table.lock().unwrap_or_else(|e| e.into_inner());
        table.get(&host)?.first().map(SocketAddr::ip)
    }

    async fn after_head(&mut self, url: &url::Url, response: reqwest::Response) -> Step {
        let status = response.status();
        if status.is_redirection() {
            return match redirect_target(url, &response) {
                Some(next) => Step::Redirect(next, HopVia::Redirect),
                None => Step::Failed(
                    FailureKind::BadRedirect,
                    format!("{status} without a usable Location"),
                ),
            };
        }

        self.evidence.content_type = header(&response, "content-type");
        let (body, end) = self.read_body(response).await;
        self.evidence.body_bytes = body.len();
        self.evidence.truncated = end == BodyEnd::Capped;
        if let Some(step) = body_failure(end, body.len()) {
            return step;
        }
        if !status.is_success() {
            return Step::Failed(FailureKind::HttpStatus, format!("final status {status}"));
        }
        Step::Page(body)
    }

    /// Reads the body chunk by chunk (decoded, so compression bombs stop at the cap too).
    async fn read_body(&self, mut response: reqwest::Response) -> (Vec<u8>, BodyEnd) {
        let cap = self.fetcher.config.max_body_bytes;
        let mut body = Vec::new();
        loop {
            match tokio::time::timeout_at(self.deadline, response.chunk()).await {
                Err(_) => return (body, BodyEnd::TimedOut),
                Ok(Ok(Some(chunk))) => {
                    let room = cap - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() >= room {
                        tracing::debug!(bytes = body.len(), "body cap reached");
                        return (body, BodyEnd::Capped);
                    }
                }
                Ok(Ok(None)) => return (body, BodyEnd::Complete),
                Ok(Err(error)) => {
                    tracing::debug!(%error, bytes = body.len(), "body ended early");
                    return (body, BodyEnd::Broken(classify(&error)));
                }
            }
        }
    }

    /// Decodes and analyses a body; `Err(next)` when a meta refresh leads on.
    async fn page(&mut self, url: &url::Url, body: Vec<u8>) -> Result<Fetched, url::Url> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(self.fail(
                FailureKind::EmptyBody,
                "status 2xx with an empty body".into(),
            ));
        }
        if !looks_like_html(self.evidence.content_type.as_deref(), &body) {
            let ct = self
                .evidence
                .content_type
                .clone()
                .unwrap_or_else(|| "no Content-Type".into());
            return Ok(self.fail(
                FailureKind::NotHtml,
                format!("the answer is not HTML ({ct})"),
            ));
        }

        let content_type = self.evidence.content_type.clone();
        let inline = body.len() <= INLINE_ANALYSIS_BYTES;
        let tld = url
            .host_str()
            .and_then(|h| h.rsplit('.').next())
            .map(|t| t.as_bytes().to_vec());
        let analyse = move || {
            let decoded = charset::decode(&body, content_type.as_deref(), tld.as_deref());
            let charset =
                format!("{} ({:?})", decoded.encoding.name(), decoded.source).to_lowercase();
            (page::analyse(&decoded.text), charset)
        };
        let (page, charset) = if inline {
            analyse()
        } else {
            let analysis = tokio::task::spawn_blocking(analyse);
            match tokio::time::timeout(ANALYSIS_BUDGET, analysis).await {
                Ok(Ok(done)) => done,
                Ok(Err(error)) => (PageEvidence::default(), format!("analysis failed: {error}")),
                Err(_) => {
                    let detail = format!("the page was not analysed within {ANALYSIS_BUDGET:?}");
                    return Ok(self.fail(FailureKind::AnalysisTimeout, detail));
                }
            }
        };
        self.evidence.charset = Some(charset);

        if let Some(next) = self.refresh_target(url, &page) {
            return Err(next);
        }
        self.evidence.final_url = Some(url.to_string());
        Ok(Fetched {
            http: std::mem::take(&mut self.evidence),
            page: Some(page),
        })
    }

    fn refresh_target(&self, url: &url::Url, page: &PageEvidence) -> Option<url::Url> {
        let refresh = page.meta_refresh.as_ref()?;
        if refresh.delay_secs > self.fetcher.config.max_refresh_delay_secs {
            return None;
        }
        let next = url.join(&refresh.url).ok()?;
        (matches!(next.scheme(), "http" | "https") && next != *url).then_some(next)
    }

    fn hop_failed(&mut self, kind: FailureKind, detail: String) -> Step {
        if let Some(hop) = self.evidence.hops.last_mut() {
            hop.error = Some(kind);
        }
        Step::Failed(kind, detail)
    }

    /// Makes sure the URL's host has permitted addresses, resolving a new host once.
    async fn ensure_pinned(&mut self, url: &url::Url) -> Result<(), (FailureKind, String)> {
        let host = url
            .host_str()
            .unwrap_or("")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return self.fetcher.config.policy.permits(ip).map_err(|class| {
                self.evidence.refused.push((ip, class));
                (
                    FailureKind::AddressNotAllowed,
                    format!("{ip} is {} space", class.label()),
                )
            });
        }

        let known = self
            .pins
            .table
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&host)
            .map(Vec::len);
        let permitted = match known {
            Some(n) => n,
            None => self.resolve_new_host(&host).await?,
        };
        if permitted == 0 {
            let refused: Vec<String> = self
                .evidence
                .refused
                .iter()
                .map(|(ip, c)| format!("{ip} ({})", c.label()))
                .collect();
            return Err((
                FailureKind::AddressNotAllowed,
                format!(
                    "{host}: no address the audit may connect to; refused {}",
                    refused.join(", ")
                ),
            ));
        }
        Ok(())
    }

    async fn resolve_new_host(&mut self, host: &str) -> Result<usize, (FailureKind, String)> {
        let domain = Domain::from_ascii_unchecked(host);
        let lookup = self.fetcher.resolver.lookup(&domain, self.deadline).await;
        match lookup.outcome {
            LookupOutcome::Addresses => Ok(self.pin(host, &lookup.addresses)),
            outcome if outcome.is_transient() => Err((
                FailureKind::DnsUnavailable,
                format!("{host}: {}", lookup.describe()),
            )),
            _ => Err((
                FailureKind::RedirectUnresolved,
                format!("{host} does not resolve: {}", lookup.describe()),
            )),
        }
    }

    /// The URL as sent: the configured port where the URL names none.
    fn wire_url(&self, url: &url::Url) -> url::Url {
        let mut wire = url.clone();
        if url.port().is_none() {
            let port = if url.scheme() == "https" {
                self.fetcher.config.https_port
            } else {
                self.fetcher.config.http_port
            };
            if Some(port) != url.port_or_known_default() {
                let _ = wire.set_port(Some(port));
            }
        }
        wire
    }
}

/// Whether an http:// start that failed this way should be retried over https://.
fn should_try_https(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::ConnectionRefused
            | FailureKind::ConnectionReset
            | FailureKind::Timeout
            | FailureKind::Protocol
    )
}

fn redirect_target(url: &url::Url, response: &reqwest::Response) -> Option<url::Url> {
    let location = header(response, "location")?;
    let next = url.join(location.trim()).ok()?;
    matches!(next.scheme(), "http" | "https").then_some(next)
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    let value = response.headers().get(name)?;
    Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
}

fn looks_like_html(content_type: Option<&str>, body: &[u8]) -> bool {
    let mime = content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match mime.as_deref() {
        Some("text/html" | "application/xhtml+xml") => true,
        Some("") | None => sniff_html(body),
        Some(_) => false,
    }
}

fn sniff_html(body: &[u8]) -> bool {
    let head: Vec<u8> = body.iter().take(512).map(u8::to_ascii_lowercase).collect();
    let text = String::from_utf8_lossy(&head);
    [
        "<!doctype html",
        "<html",
        "<head",
        "<body",
        "<title",
        "<meta",
        "<div",
        "<p",
        "<a ",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// How reading a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEnd {
    Complete,
    /// The cap was reached; the rest was not read.
    Capped,
    /// The site's time budget ran out while the body was still arriving.
    TimedOut,
    /// The connection broke (reset, closed early, bad chunking) before the body ended.
    Broken(FailureKind),
}

/// The failure a body's end means, if it means one.
fn body_failure(end: BodyEnd, bytes: usize) -> Option<Step> {
    let (kind, detail) = match end {
        BodyEnd::Complete | BodyEnd::Capped => return None,
        BodyEnd::TimedOut => (
            FailureKind::Timeout,
            format!(
                "the body was still arriving when the time budget ran out ({bytes} bytes read)"
            ),
        ),
        BodyEnd::Broken(kind) => (
            kind,
            format!(
                "the connection broke after {bytes} bytes of the body ({})",
                kind.label()
            ),
        ),
    };
    Some(Step::Failed(kind, detail))
}

/// Turns a reqwest error into a failure kind by the error's type and its sources, not its text.
fn classify(error: &reqwest::Error) -> FailureKind {
    if error.is_timeout() {
        return FailureKind::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return FailureKind::ConnectionRefused,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => {
                    return FailureKind::ConnectionReset;
                }
                std::io::ErrorKind::TimedOut => return FailureKind::Timeout,
                _ => {}
            }
        }
        if err.downcast_ref::<rustls::Error>().is_some() {
            return FailureKind::Tls;
        }
        source = err.source();
    }
    if error.is_connect() {
        return FailureKind::Other;
    }
    // What remains once I/O, TLS and timeouts are ruled out is a malformed or cut-off answer.
    FailureKind::Protocol
}

/// The error and its sources in one line, for people.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(err) = source {
        let s = err.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = err.source();
    }
    text
}
