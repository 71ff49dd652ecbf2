//! DNS: resolving a filed domain's A and AAAA records through its CNAME chain with
//! hickory-resolver, and keeping the chain, addresses and response code as evidence.
//!
//! Lookups go to the configured resolvers (`--resolver IP:PORT`) or the system's, never to
//! /etc/hosts. A transient failure (timeout, SERVFAIL) is retried with back-off inside the
//! site's deadline; what remains after that is reported as an outcome of its own, because a
//! silent resolver says nothing about the site.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;
use tokio::time::Instant;

use crate::domain::Domain;

/// How one host's lookup ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupOutcome {
    /// At least one address at the end of the chain.
    Addresses,
    /// NXDOMAIN.
    NxDomain,
    /// The name (or the end of its CNAME chain) exists but has no A or AAAA record.
    NoAddress,
    Timeout,
    ServFail,
    Refused,
    /// Any other failure: malformed answers, no usable transport.
    Failed,
}

impl LookupOutcome {
    pub fn label(self) -> &'static str {
        match self {
            LookupOutcome::Addresses => "addresses",
            LookupOutcome::NxDomain => "nxdomain",
            LookupOutcome::NoAddress => "no_address",
            LookupOutcome::Timeout => "timeout",
            LookupOutcome::ServFail => "servfail",
            LookupOutcome::Refused => "refused",
            LookupOutcome::Failed => "failed",
        }
    }

    /// Whether the outcome is about the resolver rather than the domain.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            LookupOutcome::Timeout
                | LookupOutcome::ServFail
                | LookupOutcome::Refused
                | LookupOutcome::Failed
        )
    }

    /// The worse of two outcomes for the same host (A and AAAA lookups).
    fn combine(self, other: LookupOutcome) -> LookupOutcome {
        use LookupOutcome::*;
        match (self, other) {
            (Addresses, _) | (_, Addresses) => Addresses,
            (a, _) if a.is_transient() => a,
            (_, b) if b.is_transient() => b,
            (NxDomain, NxDomain) => NxDomain,
            _ => NoAddress,
        }
    }
}

/// The evidence of resolving one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostLookup {
    pub host: String,
    /// The CNAME targets followed, in order, from `host` to the name holding the addresses.
    pub chain: Vec<String>,
    pub addresses: Vec<IpAddr>,
    pub outcome: LookupOutcome,
    /// What went wrong, when something did (the resolver's own words, for people).
    pub detail: String,
}

impl HostLookup {
    /// `www.a.cn → cdn.b.net → 1.2.3.4, 5.6.7.8`, for evidence.
    pub fn describe(&self) -> String {
        let mut text = self.host.clone();
        for name in &self.chain {
            text.push_str(" → ");
            text.push_str(name);
        }
        match self.outcome {
            LookupOutcome::Addresses => {
                let addrs: Vec<String> = self.addresses.iter().map(IpAddr::to_string).collect();
                text.push_str(&format!(" → {}", addrs.join(", ")));
            }
            other => text.push_str(&format!(" ({})", other.label())),
        }
        text
    }
}

/// Resolver settings.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Resolvers to ask; empty means the system's (/etc/resolv.conf).
    pub servers: Vec<SocketAddr>,
    /// Time for one query before it counts as lost.
    pub query_timeout: Duration,
    /// Extra tries after a transient failure.
    pub retries: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            query_timeout: Duration::from_secs(3),
            retries: 2,
        }
    }
}

/// A problem building the resolver.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct ResolverSetupError(String);

/// Resolves hosts for the audit; one per run, shared by all sites (its cache included).
#[derive(Clone)]
pub struct SiteResolver {
    resolver: TokioResolver,
    retries: u32,
}

impl SiteResolver {
    pub fn new(config: &DnsConfig) -> Result<SiteResolver, ResolverSetupError> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if config.servers.is_empty() {
            Resolver::builder(provider).map_err(|e| ResolverSetupError(e.to_string()))?
        } else {
            Resolver::builder_with_config(name_servers(&config.servers), provider)
        };

        let opts = builder.options_mut();
        opts.timeout = config.query_timeout;
        opts.attempts = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        opts.preserve_intermediates = true;
        opts.edns0 = true;
        opts.try_tcp_on_error = true;
        opts.max_active_requests = 4096;
        opts.num_concurrent_reqs = 1;
        opts.ndots = 0;

        let resolver = builder
            .build()
            .map_err(|e| ResolverSetupError(e.to_string()))?;
        Ok(SiteResolver {
            resolver,
            retries: config.retries,
        })
    }

    /// Resolves A and AAAA for a host, retrying transient failures until `deadline`.
    pub async fn lookup(&self, host: &Domain, deadline: Instant) -> HostLookup {
        let mut attempt = 0;
        loop {
            let result = self.lookup_once(host, deadline).await;
            let transient = matches!(
                result.outcome,
                LookupOutcome::Timeout | LookupOutcome::ServFail | LookupOutcome::Failed
            );
            if !transient || attempt >= self.retries {
                return result;
            }

            let backoff = Duration::from_millis(200 << attempt);
            if Instant::now() + backoff >= deadline {
                return result;
            }
            tracing::debug!(host = %host, attempt, outcome = result.outcome.label(), "dns retry");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn lookup_once(&self, host: &Domain, deadline: Instant) -> HostLookup {
        let fqdn = format!("{host}.");
        let (v4, v6) = tokio::join!(
            tokio::time::timeout_at(deadline, self.resolver.lookup(fqdn.as_str(), RecordType::A)),
            tokio::time::timeout_at(
                deadline,
                self.resolver.lookup(fqdn.as_str(), RecordType::AAAA)
            ),
        );
        let v4 = RecordSet::from_result(v4.unwrap_or(Err(NetError::Timeout)));
        let v6 = RecordSet::from_result(v6.unwrap_or(Err(NetError::Timeout)));

        let chain = if v4.chain.len() >= v6.chain.len() {
            v4.chain.clone()
        } else {
            v6.chain.clone()
        };
        let mut addresses = v4.addresses;
        addresses.extend(v6.addresses);
        let detail = [v4.detail, v6.detail]
            .into_iter()
            .filter(|d| !d.is_empty())
            .collect::<Vec<_>>()
            .join("; ");

        HostLookup {
            host: host.to_string(),
            chain: order_chain(host.as_str(), chain),
            addresses,
            outcome: v4.outcome.combine(v6.outcome),
            detail,
        }
    }
}

fn name_servers(servers: &[SocketAddr]) -> ResolverConfig {
    let configs = servers
        .iter()
        .map(|addr| {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
        })
        .collect();
    ResolverConfig::from_name_servers(configs)
}

/// What one record-type lookup returned.
struct RecordSet {
    /// CNAME edges as (owner, target), lower-case without the final dot.
    chain: Vec<(String, String)>,
    addresses: Vec<IpAddr>,
    outcome: LookupOutcome,
    detail: String,
}

impl RecordSet {
    fn from_result(result: Result<hickory_resolver::lookup::Lookup, NetError>) -> RecordSet {
        let lookup = match result {
            Ok(lookup) => lookup,
            Err(error) => return RecordSet::from_error(&error),
        };

        let mut set = RecordSet {
            chain: Vec::new(),
            addresses: Vec::new(),
            outcome: LookupOutcome::NoAddress,
            detail: String::new(),
        };
        for record in lookup.answers() {
            match &record.data {
                RData::A(a) => set.addresses.push(IpAddr::V4(a.0)),
                RData::AAAA(a) => set.addresses.push(IpAddr::V6(a.0)),
                RData::CNAME(target) => set.chain.push((
                    name_text(&record.name.to_string()),
                    name_text(&target.0.to_string()),
                )),
                _ => {}
            }
        }
        if !set.addresses.is_empty() {
            set.outcome = LookupOutcome::Addresses;
        }
        set
    }

    fn from_error(error: &NetError) -> RecordSet {
        let outcome = match error {
            e if e.is_nx_domain() => LookupOutcome::NxDomain,
            e if e.is_no_records_found() => LookupOutcome::NoAddress,
            NetError::Timeout => LookupOutcome::Timeout,
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => {
                LookupOutcome::ServFail
            }
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => LookupOutcome::Refused,
            NetError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => LookupOutcome::Timeout,
            _ => LookupOutcome::Failed,
        };
        let detail = match outcome {
            LookupOutcome::NxDomain | LookupOutcome::NoAddress => String::new(),
            _ => error.to_string(),
        };
        RecordSet {
            chain: Vec::new(),
            addresses: Vec::new(),
            outcome,
            detail,
        }
    }
}

fn name_text(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Orders CNAME edges into a chain starting at `host`; edges off the chain are kept at the end.
fn order_chain(host: &str, mut edges: Vec<(String, String)>) -> Vec<String> {
    edges.dedup();
    let mut chain = Vec::new();
    let mut current = host.to_string();
    while let Some(i) = edges.iter().position(|(owner, _)| *owner == current) {
        let (_, target) = edges.remove(i);
        chain.push(target.clone());
        current = target;
    }
    chain.extend(edges.into_iter().map(|(_, target)| target));
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_ordered_from_the_host() {
        let edges = vec![
            ("b.cn".to_string(), "c.cn".to_string()),
            ("a.cn".to_string(), "b.cn".to_string()),
        ];
        assert_eq!(order_chain("a.cn", edges), vec!["b.cn", "c.cn"]);
    }

    #[test]
    fn outcomes_combine_towards_addresses_then_uncertainty() {
        use LookupOutcome::*;
        assert_eq!(Addresses.combine(Timeout), Addresses);
        assert_eq!(NoAddress.combine(Timeout), Timeout);
        assert_eq!(NxDomain.combine(NxDomain), NxDomain);
        assert_eq!(NxDomain.combine(NoAddress), NoAddress);
        assert_eq!(ServFail.combine(NxDomain), ServFail);
    }
}
