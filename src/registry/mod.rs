//! Registry lookups for the two notices that need the domain registry: 域名过期 (NET-01) and
//! 域名注册时间晚于备案时间 (NET-03).
//!
//! This stage sits beside DNS and fetching: it gathers evidence (a [`RegistryEvidence`] per
//! registrable domain) and [`registry_rule`] turns it into findings without the network. A
//! domain is looked up over RDAP when IANA's bootstrap data (a copy shipped in
//! `data/rdap-dns.json`, replaceable with `--rdap-bootstrap`) names a server for its suffix,
//! and over WHOIS on port 43 otherwise (`.cn` is the common case). Registries are rate-limited
//! dependencies, so the [`RegistryClient`] asks once per registrable domain per run, spaces
//! requests to each server, backs off on 429s and errors, and keeps answers in an optional
//! on-disk cache.

mod bootstrap;
mod cache;
mod limit;
mod rdap;
mod rule;
mod stamp;
mod whois;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use url::Url;

use crate::address::AddressPolicy;
use crate::date::Date;
use crate::domain::Domain;

pub use bootstrap::Bootstrap;
pub use rule::{REGISTRY_CHECK, registry_rule};
pub use stamp::registry_date;
pub use whois::{WhoisAnswer, WhoisServer, parse_whois};

/// How many registrable domains the client remembers in memory; beyond this, finished
/// lookups are forgotten (the on-disk cache, when enabled, still answers for them).
const REMEMBERED_LOOKUPS: usize = 4096;

/// Settings of the registry stage, one set per run.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// `--rdap-bootstrap FILE`: IANA's `dns.json`; `None` uses the copy built in.
    pub bootstrap: Option<PathBuf>,
    /// `--rdap-server URL`: ask this RDAP base URL for every domain.
    pub rdap_server: Option<Url>,
    /// `--whois-server HOST:PORT`: ask this WHOIS server for suffixes without RDAP.
    pub whois_server: Option<String>,
    /// `--registry-cache DIR`: one JSON file per registrable domain; `None` disables it.
    pub cache_dir: Option<PathBuf>,
    /// Cached answers older than this are ignored. Default 1 day.
    pub cache_ttl: Duration,
    /// Requests per second sent to any one server. Default 1.
    pub per_server_rate: f64,
    /// Which addresses registry servers may have.
    pub policy: AddressPolicy,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            bootstrap: None,
            rdap_server: None,
            whois_server: None,
            cache_dir: None,
            cache_ttl: Duration::from_secs(24 * 3600),
            per_server_rate: 1.0,
            policy: AddressPolicy::public_only(),
        }
    }
}

/// How a lookup ended. The report prints [`RegistryOutcome::label`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryOutcome {
    /// The registry knows the domain.
    Found,
    /// The registry says the domain does not exist (RDAP 404, WHOIS "no match").
    NotFound,
    /// The registry asked us to slow down (HTTP 429, a WHOIS quota message), or our own rate
    /// limit left no slot before the deadline.
    RateLimited,
    /// The server would not serve us (HTTP 401/403, connection refused), or the address
    /// policy forbids its address.
    Refused,
    /// No answer before the deadline.
    Timeout,
    /// An answer that could not be read (bad JSON, no dates, an unknown WHOIS layout).
    Malformed,
    /// No RDAP or WHOIS server is known for the domain's suffix.
    NoService,
    /// Any other failure (DNS of the server, a reset, an HTTP 5xx).
    Failed,
}

impl RegistryOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RegistryOutcome::Found => "found",
            RegistryOutcome::NotFound => "not_found",
            RegistryOutcome::RateLimited => "rate_limited",
            RegistryOutcome::Refused => "refused",
            RegistryOutcome::Timeout => "timeout",
            RegistryOutcome::Malformed => "malformed",
            RegistryOutcome::NoService => "no_service",
            RegistryOutcome::Failed => "failed",
        }
    }

    /// Whether the registry answered about the domain (found or not), so checks can decide.
    pub fn is_answer(self) -> bool {
        matches!(self, RegistryOutcome::Found | RegistryOutcome::NotFound)
    }
}

/// Where an answer came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegistrySource {
    /// An RDAP query; `url` is the domain's RDAP URL.
    Rdap { url: String },
    /// A WHOIS query to `server` (`host:port`).
    Whois { server: String },
    /// The on-disk cache, holding an answer fetched at `fetched_at` from `origin`.
    Cache {
        fetched_at: String,
        origin: Box<RegistrySource>,
    },
    /// No server was asked.
    NoServer,
}

impl fmt::Display for RegistrySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrySource::Rdap { url } => write!(f, "RDAP {url}"),
            RegistrySource::Whois { server } => write!(f, "WHOIS {server}"),
            RegistrySource::Cache { fetched_at, origin } => {
                write!(f, "{origin} (cached at {fetched_at})")
            }
            RegistrySource::NoServer => f.write_str("no registry server"),
        }
    }
}

/// What the registry said about one registrable domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEvidence {
    /// The registrable domain asked about (`www.shop.example.com.cn` → `example.com.cn`).
    pub registrable: String,
    pub source: RegistrySource,
    /// The creation date (RDAP `registration` event, WHOIS "Registration Time").
    #[serde(with = "stamp::serde_date")]
    pub registered: Option<Date>,
    /// The last valid day (RDAP `expiration` event, WHOIS "Expiration Time").
    #[serde(with = "stamp::serde_date")]
    pub expires: Option<Date>,
    pub outcome: RegistryOutcome,
    /// What happened, in words a person can check.
    pub detail: String,
}

/// A problem with the registry settings that stops the run.
#[derive(Debug, thiserror::Error)]
pub enum RegistrySetupError {
    #[error("{path}: cannot read the RDAP bootstrap file: {source}")]
    BootstrapRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: not an RDAP bootstrap file: {source}")]
    BootstrapFormat {
        origin: String,
        source: serde_json::Error,
    },
    #[error("--whois-server {0:?}: expected HOST:PORT")]
    WhoisServer(String),
    #[error("the registry rate must be a positive number of requests per second, got {0}")]
    Rate(f64),
    #[error("{path}: cannot create the registry cache directory: {source}")]
    CacheDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot set up TLS for RDAP: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot build the RDAP HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// The server a registrable domain is asked at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Rdap(Url),
    Whois(WhoisServer),
    None,
}

/// What one attempt at a server produced, before it becomes evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    outcome: RegistryOutcome,
    registered: Option<Date>,
    expires: Option<Date>,
    detail: String,
    /// The wait the server asked for (HTTP Retry-After), when it limited us.
    retry_after: Option<Duration>,
}

impl Answer {
    fn failure(outcome: RegistryOutcome, detail: impl Into<String>) -> Answer {
        Answer {
            outcome,
            registered: None,
            expires: None,
            detail: detail.into(),
            retry_after: None,
        }
    }

    fn found(registered: Option<Date>, expires: Option<Date>, detail: impl Into<String>) -> Self {
        Answer {
            registered,
            expires,
            ..Answer::failure(RegistryOutcome::Found, detail)
        }
    }
}

/// Registry lookups for one run; clones share the lookups, the rate limit and the cache.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistryConfig,
    bootstrap: Bootstrap,
    whois_override: Option<WhoisServer>,
    http: reqwest::Client,
    limiter: limit::RateLimiter,
    lookups: Mutex<HashMap<String, Arc<OnceCell<RegistryEvidence>>>>,
}

impl RegistryClient {
    /// Reads the bootstrap data, checks the settings and builds the HTTP client.
    pub fn new(config: RegistryConfig) -> Result<RegistryClient, RegistrySetupError> {
        if !(config.per_server_rate.is_finite() && config.per_server_rate > 0.0) {
            return Err(RegistrySetupError::Rate(config.per_server_rate));
        }
        let bootstrap = match &config.bootstrap {
            Some(path) => Bootstrap::from_file(path)?,
            None => Bootstrap::embedded()?,
        };
        let whois_override = match &config.whois_server {
            Some(text) => Some(WhoisServer::parse(text)?),
            None => None,
        };

        if let Some(dir) = &config.cache_dir {
            std::fs::create_dir_all(dir).map_err(|source| RegistrySetupError::CacheDir {
                path: dir.clone(),
                source,
            })?;
        }
        let http = rdap::http_client(&config.policy)?;
        let limiter = limit::RateLimiter::new(config.per_server_rate);

        let inner = Inner {
            config,
            bootstrap,
            whois_override,
            http,
            limiter,
            lookups: Mutex::default(),
        };
        Ok(RegistryClient {
            inner: Arc::new(inner),
        })
    }

    /// What the registry says about `domain`'s registrable domain. Sites sharing one
    /// registrable domain share one lookup per run, whatever its outcome; the first caller's
    /// deadline bounds it.
    pub async fn lookup(&self, domain: &Domain, deadline: Instant) -> RegistryEvidence {
        let registrable = domain.registrable().unwrap_or_else(|| domain.clone());
        let name = registrable.as_str().to_string();
        let cell = self.inner.cell_for(&name);
        // TODO: the wait for a rate-limit slot counts against `deadline`, so with N domains
        // on one server at r requests/s the last waits N/r s; callers must size the deadline
        // to the queue (or run lookups as their own pass), else they end `rate_limited`.

        let evidence = cell.get_or_init(|| self.inner.lookup_once(&name, deadline));
        evidence.await.clone()
    }
}

impl Inner {
    /// The shared slot for one registrable domain, forgetting finished ones when full.
    fn cell_for(&self, name: &str) -> Arc<OnceCell<RegistryEvidence>> {
        let mut lookups = self.lookups.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cell) = lookups.get(name) {
            return cell.clone();
        }

        if lookups.len() >= REMEMBERED_LOOKUPS {
            // TODO: forgets every finished lookup at once rather than the least recently used;
            // enough for a bound, and the disk cache still answers for them.
            lookups.retain(|_, cell| !cell.initialized());
        }
        let cell = Arc::new(OnceCell::new());
        lookups.insert(name.to_string(), cell.clone());
        cell
    }

    /// One lookup: the disk cache, else the registry, then the cache is refreshed.
    async fn lookup_once(&self, name: &str, deadline: Instant) -> RegistryEvidence {
        if let Some(dir) = &self.config.cache_dir
            && let Some(cached) = cache::read(dir, name, self.config.cache_ttl).await
        {
            tracing::debug!(registrable = name, "registry answer from cache");
            return cached;
        }

        let evidence = self.ask_registry(name, deadline).await;
        tracing::debug!(
            registrable = name,
            source = %evidence.source,
            outcome = evidence.outcome.label(),
            "registry lookup"
        );

        if let Some(dir) = &self.config.cache_dir
            && evidence.outcome.is_answer()
            && let Err(error) = cache::write(dir, &evidence).await
        {
            tracing::warn!(registrable = name, %error, "cannot write the registry cache");
        }
        evidence
    }

    async fn ask_registry(&self, name: &str, deadline: Instant) -> RegistryEvidence {
        let (source, answer) = match self.route(name) {
            Route::Rdap(base) => {
                let url = rdap::domain_url(&base, name);
                let answer = self.ask_rdap(&url, deadline).await;
                let source = RegistrySource::Rdap {
                    url: url.to_string(),
                };
                (source, answer)
            }
            Route::Whois(server) => {
                let answer = self.ask_whois(&server, name, deadline).await;
                let source = RegistrySource::Whois {
                    server: server.to_string(),
                };
                (source, answer)
            }
            Route::None => {
                let detail = format!("no RDAP or WHOIS server is known for {name}'s suffix");
                let answer = Answer::failure(RegistryOutcome::NoService, detail);
                (RegistrySource::NoServer, answer)
            }
        };

        RegistryEvidence {
            registrable: name.to_string(),
            source,
            registered: answer.registered,
            expires: answer.expires,
            outcome: answer.outcome,
            detail: answer.detail,
        }
    }

    /// Which server to ask: a forced RDAP server, the bootstrap's, then WHOIS.
    fn route(&self, name: &str) -> Route {
        if let Some(url) = &self.config.rdap_server {
            return Route::Rdap(url.clone());
        }
        if let Some(base) = self.bootstrap.base_for(name) {
            return Route::Rdap(base.clone());
        }
        if let Some(server) = &self.whois_override {
            return Route::Whois(server.clone());
        }
        whois::default_server(name).map_or(Route::None, Route::Whois)
    }

    async fn ask_rdap(&self, url: &Url, deadline: Instant) -> Answer {
        let server = url[..url::Position::BeforePath].to_string();
        let policy = &self.config.policy;
        let once = || rdap::query(&self.http, policy, url);
        self.with_retry(&server, deadline, once).await
    }

    async fn ask_whois(&self, server: &WhoisServer, name: &str, deadline: Instant) -> Answer {
        let policy = &self.config.policy;
        let once = || whois::query(server, policy, name);
        self.with_retry(&server.to_string(), deadline, once).await
    }

    /// Asks through the server's rate limit, at most twice: a rate-limited first attempt is
    /// repeated once when the back-off still fits before the deadline.
    async fn with_retry<F, Fut>(&self, server: &str, deadline: Instant, mut once: F) -> Answer
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Answer>,
    {
        let mut answer = Answer::failure(RegistryOutcome::Failed, "not asked");
        for attempt in 1..=2 {
            if let Err(wait) = self.limiter.wait_turn(server, deadline).await {
                return held_back(server, wait, attempt, answer);
            }

            answer = match tokio::time::timeout_at(deadline, once()).await {
                Ok(answer) => answer,
                Err(_) => timed_out(server),
            };
            tracing::trace!(
                server,
                attempt,
                outcome = answer.outcome.label(),
                "registry answer"
            );

            match answer.outcome {
                RegistryOutcome::Found | RegistryOutcome::NotFound => {
                    self.limiter.succeeded(server);
                    return answer;
                }
                RegistryOutcome::RateLimited => {
                    self.limiter
                        .failed(server, answer.retry_after.unwrap_or_default());
                }
                _ => {
                    self.limiter.failed(server, Duration::ZERO);
                    return answer;
                }
            }
        }
        answer
    }
}

/// The answer when our rate limit (or the server's back-off) leaves no slot before the deadline.
fn held_back(server: &str, wait: Duration, attempt: u32, previous: Answer) -> Answer {
    if attempt > 1 {
        let detail = format!(
            "{}; no retry: the back-off ({} ms) ends after the deadline",
            previous.detail,
            wait.as_millis()
        );
        return Answer::failure(RegistryOutcome::RateLimited, detail);
    }
    let detail = format!(
        "not asked: the rate limit for {server} has no slot before the deadline (next in {} ms)",
        wait.as_millis()
    );
    Answer::failure(RegistryOutcome::RateLimited, detail)
}

fn timed_out(server: &str) -> Answer {
    let detail = format!("{server} did not answer before the deadline");
    Answer::failure(RegistryOutcome::Timeout, detail)
}
