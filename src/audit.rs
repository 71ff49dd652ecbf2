//! Auditing sites: one site from its record to a verdict, and a whole inventory streamed
//! through a bounded number of sites in flight.
//!
//! Each site has one time budget covering DNS, every HTTP hop and the body. Record checks run
//! first (they need no network); an inventory row that cannot be read or audited still ends
//! as a report with an inconclusive result naming why, so every row appears in the report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cloud::CloudRanges;
use crate::date::{self, Date};
use crate::domain::Domain;
use crate::fetch::{DialLog, FetchConfig, Fetcher};
use crate::finding::{Inconclusive, Reason, Verdict};
use crate::inventory::{FilingRecord, RowError};
use crate::record::{self, RecordContext};
use crate::registry::{RegistryClient, RegistryConfig, RegistryEvidence, registry_rule};
use crate::resolve::{DnsConfig, HostLookup, LookupOutcome, SiteResolver};
use crate::rules::{self, SiteEvidence};
use crate::tls::TlsTrust;

/// Everything that shapes an audit run.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub dns: DnsConfig,
    pub fetch: FetchConfig,
    pub ca_files: Vec<PathBuf>,
    pub cloud: CloudRanges,
    /// One budget for all of a site's network work.
    pub timeout: Duration,
    /// Sites in flight at once.
    pub concurrency: usize,
    /// "Today", for expiry checks.
    pub as_of: Date,
    /// Days before expiry that raise an "expiring soon" finding.
    pub warn_days: u32,
    /// Most new sites started per second, over the whole run.
    pub rate: Option<f64>,
    /// Registry lookups (RDAP/WHOIS) for 域名过期 and 域名注册时间晚于备案时间; `None` skips them.
    pub registry: Option<RegistryConfig>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            dns: DnsConfig::default(),
            fetch: FetchConfig::default(),
            ca_files: Vec::new(),
            cloud: CloudRanges::huawei_default(),
            timeout: Duration::from_secs(20),
            concurrency: 64,
            as_of: Date::today_in_china(),
            warn_days: 30,
            rate: None,
            registry: None,
        }
    }
}

/// A problem setting up the auditor (resolver or TLS configuration).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Resolver(#[from] crate::resolve::ResolverSetupError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistrySetupError),
}

/// The result of auditing one inventory row.
#[derive(Debug, Clone)]
pub struct SiteReport {
    pub record: FilingRecord,
    pub evidence: SiteEvidence,
    pub verdict: Verdict,
}

/// Audits sites; one per run, shared by all tasks.
#[derive(Clone)]
pub struct Auditor {
    resolver: SiteResolver,
    fetcher: Fetcher,
    cloud: Arc<CloudRanges>,
    timeout: Duration,
    record_ctx: RecordContext,
    concurrency: usize,
    rate: Option<f64>,
    registry: Option<RegistryClient>,
}

impl Auditor {
    pub fn new(options: AuditOptions) -> Result<Auditor, SetupError> {
        let resolver = SiteResolver::new(&options.dns)?;
        let trust = TlsTrust::new(&options.ca_files)?;
        let fetcher = Fetcher::new(options.fetch, trust, resolver.clone());
        let registry = options.registry.map(RegistryClient::new).transpose()?;
        Ok(Auditor {
            registry,
            resolver,
            fetcher,
            cloud: Arc::new(options.cloud),
            timeout: options.timeout,
            record_ctx: RecordContext {
                as_of: options.as_of,
                warn_days: options.warn_days,
            },
            concurrency: options.concurrency.max(1),
            rate: options.rate.filter(|r| *r > 0.0 && r.is_finite()),
        })
    }

    /// Records every address the fetch stage dials into `log`.
    pub fn with_dial_log(mut self, log: DialLog) -> Auditor {
        self.fetcher = self.fetcher.with_dial_log(log);
        self
    }

    /// Audits one site.
    pub async fn audit(&self, record: FilingRecord) -> SiteReport {
        let mut verdict = record::check_record(&record, &self.record_ctx);
        let mut evidence = SiteEvidence {
            probed_at: date::now_rfc3339(),
            ..SiteEvidence::default()
        };

        let domain = match Domain::parse(&record.domain) {
            Ok(domain) => domain,
            Err(error) => {
                verdict.inconclusive(Inconclusive::new(
                    "domain",
                    Reason::InvalidDomain,
                    error.to_string(),
                ));
                return SiteReport {
                    record,
                    evidence,
                    verdict,
                };
            }
        };
        evidence.domain = domain.to_string();

        let deadline = Instant::now() + self.timeout;
        let (_, registry) = tokio::join!(
            self.probe(&record, &domain, deadline, &mut evidence, &mut verdict),
            self.registry_lookup(&domain, deadline),
        );
        if let Some(registry) = registry {
            let ctx = &self.record_ctx;
            verdict.extend(registry_rule(&record, &registry, ctx.as_of, ctx.warn_days));
            evidence.registry = Some(registry);
        }
        verdict.extend(rules::judge(&record, &evidence, &self.cloud));
        tracing::debug!(domain = %domain, result = verdict.result().label(), findings = verdict.findings.len(), "site audited");
        SiteReport {
            record,
            evidence,
            verdict,
        }
    }

    async fn probe(
        &self,
        record: &FilingRecord,
        domain: &Domain,
        deadline: Instant,
        evidence: &mut SiteEvidence,
        verdict: &mut Verdict,
    ) {
        let hosts = probe_hosts(domain);
        let lookups = futures_join(hosts.iter().map(|h| self.resolver.lookup(h, deadline))).await;
        let app = self.app_lookups(record, deadline, verdict).await;
        evidence.app_dns = app;

        let target = hosts
            .iter()
            .zip(&lookups)
            .find(|(_, l)| l.outcome == LookupOutcome::Addresses);
        if let Some((host, lookup)) = target {
            let fetched = self.fetcher.fetch(host, lookup, deadline).await;
            evidence.fetched_host = Some(host.to_string());
            evidence.http = Some(fetched.http);
            evidence.page = fetched.page;
        }
        evidence.dns = lookups;
    }

    async fn registry_lookup(
        &self,
        domain: &Domain,
        deadline: Instant,
    ) -> Option<RegistryEvidence> {
        let client = self.registry.as_ref()?;
        Some(client.lookup(domain, deadline).await)
    }

    async fn app_lookups(
        &self,
        record: &FilingRecord,
        deadline: Instant,
        verdict: &mut Verdict,
    ) -> Vec<HostLookup> {
        let mut domains = Vec::new();
        for raw in record::app_domains(record) {
            match Domain::parse(&raw) {
                Ok(d) => domains.push(d),
                Err(e) => verdict.inconclusive(Inconclusive::new(
                    "app_domains",
                    Reason::UnreadableCell,
                    e.to_string(),
                )),
            }
        }
        futures_join(domains.iter().map(|d| self.resolver.lookup(d, deadline))).await
    }

    /// A report for a row that could not be read.
    pub fn unreadable_row(error: RowError) -> SiteReport {
        let mut verdict = Verdict::default();
        let reason = if error.duplicate_of.is_some() {
            Reason::DuplicateRow
        } else {
            Reason::UnreadableRow
        };
        verdict.inconclusive(Inconclusive::new("inventory", reason, error.to_string()));
        let record = FilingRecord {
            line: error.line,
            domain: error.raw.clone(),
            ..FilingRecord::default()
        };
        SiteReport {
            record,
            evidence: SiteEvidence::default(),
            verdict,
        }
    }

    /// Audits rows as they arrive, at most `concurrency` at once, sending each report as it
    /// completes (not in inventory order).
    pub async fn run(
        &self,
        mut rows: mpsc::Receiver<Result<FilingRecord, RowError>>,
        reports: mpsc::Sender<SiteReport>,
    ) {
        let mut tasks = tokio::task::JoinSet::new();
        let period = self.rate.map(|r| Duration::from_secs_f64(1.0 / r));
        let mut next_start = Instant::now();
        while let Some(row) = rows.recv().await {
            while tasks.len() >= self.concurrency {
                if let Some(Ok(report)) = tasks.join_next().await {
                    let _ = reports.send(report).await;
                }
            }
            match row {
                Ok(record) => {
                    if let Some(period) = period {
                        tokio::time::sleep_until(next_start).await;
                        next_start = next_start.max(Instant::now() - period) + period;
                    }
                    let auditor = self.clone();
                    tasks.spawn(async move { auditor.audit(record).await });
                }
                Err(error) => {
                    let _ = reports.send(Auditor::unreadable_row(error)).await;
                }
            }
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(report) => {
                    let _ = reports.send(report).await;
                }
                Err(error) => tracing::error!(%error, "a site task failed"),
            }
        }
    }
}

/// The hosts to probe: the domain, and `www.` too when the filing lists a bare registrable
/// domain (the provider keeps a filing alive when any of its hosts points at its servers).
pub fn probe_hosts(domain: &Domain) -> Vec<Domain> {
    let mut hosts = vec![domain.clone()];
    if domain.is_registrable() {
        hosts.push(domain.with_www());
    }
    hosts
}

/// Runs a few futures concurrently and collects their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    use std::task::Poll;

    let mut pending: Vec<_> = futures.map(|f| Some(Box::pin(f))).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            let Some(fut) = slot else { continue };
            match fut.as_mut().poll(cx) {
                Poll::Ready(value) => {
                    *output = Some(value);
                    *slot = None;
                }
                Poll::Pending => all_done = false,
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}
