//! Command-line arguments: the subcommands and the options they share, and how the network
//! options become the library's `AuditOptions`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use icp_audit::address::AddressPolicy;
use icp_audit::audit::AuditOptions;
use icp_audit::batch::Shard;
use icp_audit::cloud::CloudRanges;
use icp_audit::date::Date;
use icp_audit::fetch::FetchConfig;
use icp_audit::registry::RegistryConfig;
use icp_audit::report::Format;
use icp_audit::resolve::DnsConfig;

#[derive(Parser)]
#[command(
    name = "icp-audit",
    version,
    about = "Audits ICP-filed websites the way the hosting provider's inspection (备案核查) does"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Audit every site of an inventory (CSV or JSON Lines) and write a report.
    Audit(AuditArgs),
    /// Audit one domain and show what was checked, what was found and what to do.
    Check(CheckArgs),
    /// List the catalogue of rectification notices.
    Findings {
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
    },
    /// Print one catalogue entry in Chinese and English (a code or the notice title).
    Explain { code: String },
    /// Write the HTML report of a run kept in a history file.
    Report {
        #[arg(long, value_name = "FILE")]
        history: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The run (default: the latest).
        #[arg(long)]
        run: Option<i64>,
    },
    /// Compare two runs from a history file, or two CSV reports, without probing.
    Diff {
        /// Two CSV reports (old, new); or none with --history.
        reports: Vec<PathBuf>,
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
        /// The older run (default: the one before --to).
        #[arg(long)]
        from: Option<i64>,
        /// The newer run (default: the latest).
        #[arg(long)]
        to: Option<i64>,
    },
    /// Join shard reports of one run into one report.
    Merge {
        /// The shard reports (each with its REPORT.run.json beside it).
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// The merged report.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ListFormat {
    Text,
    Json,
}

#[derive(Args)]
pub(crate) struct AuditArgs {
    /// The inventory: CSV with a header row (domain, filing_number, site_name, …) or JSON Lines.
    pub(crate) inventory: PathBuf,
    /// Where to write the report (default: standard output).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "csv")]
    pub(crate) format: Format,
    /// Stop at the first row that cannot be audited (exit status 2, naming its line).
    #[arg(long)]
    pub(crate) strict: bool,
    /// Continue a killed run: audit only the sites not yet in --out.
    #[arg(long, requires = "out")]
    pub(crate) resume: bool,
    /// Audit only the rows whose domain hashes to shard K of N (K from 0), e.g. 0/4.
    #[arg(long, value_name = "K/N")]
    pub(crate) shard: Option<Shard>,
    /// Most new sites started per second, overall.
    #[arg(long, value_name = "R")]
    pub(crate) rate: Option<f64>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Keep every run in this SQLite file; the report gains status, first_seen and days_open.
    #[arg(long, value_name = "FILE")]
    pub(crate) history: Option<PathBuf>,
    /// Accepted findings (TOML `[[suppress]]` tables): still reported, not counted.
    #[arg(long, value_name = "FILE")]
    pub(crate) suppressions: Option<PathBuf>,
    /// Which findings make the exit status 1: any, only new (or reopened) ones, or none.
    #[arg(long, value_enum, default_value = "any")]
    pub(crate) fail_on: FailOn,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FailOn {
    Any,
    New,
    None,
}

#[derive(Args)]
pub(crate) struct CheckArgs {
    /// The domain to audit.
    pub(crate) domain: String,
    /// The filed number (e.g. 京ICP备12345678号-1); without it the footer is only reported.
    #[arg(long)]
    pub(crate) filing_number: Option<String>,
    /// The filed site name; without it the page's names are only reported.
    #[arg(long)]
    pub(crate) site_name: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) format: Format,
    #[command(flatten)]
    pub(crate) net: NetArgs,
}

#[derive(Args)]
pub(crate) struct NetArgs {
    /// A DNS resolver to ask instead of the system's (repeatable).
    #[arg(long = "resolver", value_name = "IP:PORT")]
    pub(crate) resolvers: Vec<SocketAddr>,
    /// A file of the cloud's CIDR prefixes (repeatable; default: the shipped Huawei Cloud list).
    #[arg(long = "cloud-ranges", value_name = "FILE")]
    pub(crate) cloud_ranges: Vec<PathBuf>,
    /// A PEM file of extra trusted CA certificates (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub(crate) ca_certs: Vec<PathBuf>,
    /// Seconds for all of one site's network work.
    #[arg(long, default_value_t = 20.0)]
    pub(crate) timeout: f64,
    /// Sites audited at once (default: 64 per CPU core, at most 256).
    #[arg(long)]
    pub(crate) concurrency: Option<usize>,
    /// Most requests in flight at once to one address (many sites share a server).
    #[arg(long, default_value_t = 16)]
    pub(crate) per_ip: usize,
    /// Allow connections to loopback, private, link-local and reserved addresses.
    #[arg(long)]
    pub(crate) allow_private: bool,
    /// Allow connections into one non-public prefix only, e.g. 127.0.0.0/8 (repeatable).
    #[arg(long = "allow-net", value_name = "CIDR")]
    pub(crate) allow_nets: Vec<ipnet::IpNet>,
    /// The date to audit as of, YYYY-MM-DD (default: today in China).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) as_of: Option<String>,
    /// Days before an expiry date that raise an "expiring soon" finding.
    #[arg(long, default_value_t = 30)]
    pub(crate) warn_days: u32,
    /// Most bytes of a page read and analysed.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub(crate) max_body_bytes: usize,
    /// Skip the registry checks (域名过期, 域名注册时间晚于备案时间) and their lookups.
    #[arg(long)]
    pub(crate) no_registry: bool,
    /// IANA's RDAP bootstrap file for DNS (default: the copy shipped in data/rdap-dns.json).
    #[arg(long, value_name = "FILE")]
    pub(crate) rdap_bootstrap: Option<PathBuf>,
    /// Ask this RDAP base URL for every domain.
    #[arg(long, value_name = "URL")]
    pub(crate) rdap_server: Option<url::Url>,
    /// WHOIS server for suffixes without RDAP (default for .cn: whois.cnnic.cn:43).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) whois_server: Option<String>,
    /// Keep registry answers in this directory between runs.
    #[arg(long, value_name = "DIR")]
    pub(crate) registry_cache: Option<PathBuf>,
    /// Hours a cached registry answer stays valid.
    #[arg(long, default_value_t = 24.0, value_name = "HOURS")]
    pub(crate) registry_cache_hours: f64,
    /// Most registry requests per second to one server.
    #[arg(long, default_value_t = 1.0, value_name = "R")]
    pub(crate) registry_rate: f64,
    /// Port for http:// URLs without one (for test worlds; 80 on the internet).
    #[arg(long, default_value_t = 80, hide_short_help = true)]
    pub(crate) http_port: u16,
    /// Port for https:// URLs without one (for test worlds; 443 on the internet).
    #[arg(long, default_value_t = 443, hide_short_help = true)]
    pub(crate) https_port: u16,
}

impl NetArgs {
    pub(crate) fn options(&self) -> Result<AuditOptions> {
        if !(self.timeout > 0.0 && self.timeout.is_finite()) {
            bail!(
                "--timeout: expected a positive number of seconds, got {}",
                self.timeout
            );
        }
        let as_of = match &self.as_of {
            Some(text) => text
                .parse::<Date>()
                .with_context(|| format!("--as-of {text:?}"))?,
            None => Date::today_in_china(),
        };
        let mut policy = if self.allow_private {
            AddressPolicy::allow_private()
        } else {
            AddressPolicy::public_only()
        };
        for net in &self.allow_nets {
            policy = policy.allow_net(*net);
        }
        let registry = (!self.no_registry).then(|| RegistryConfig {
            bootstrap: self.rdap_bootstrap.clone(),
            rdap_server: self.rdap_server.clone(),
            whois_server: self.whois_server.clone(),
            cache_dir: self.registry_cache.clone(),
            cache_ttl: Duration::from_secs_f64(self.registry_cache_hours.max(0.0) * 3600.0),
            per_server_rate: self.registry_rate,
            policy: policy.clone(),
        });
        let fetch = FetchConfig {
            policy,
            max_body_bytes: self.max_body_bytes.max(1024),
            http_port: self.http_port,
            https_port: self.https_port,
            per_ip: self.per_ip.max(1),
            ..FetchConfig::default()
        };
        Ok(AuditOptions {
            dns: DnsConfig {
                servers: self.resolvers.clone(),
                ..DnsConfig::default()
            },
            fetch,
            ca_files: self.ca_certs.clone(),
            cloud: self.cloud()?,
            timeout: Duration::from_secs_f64(self.timeout),
            concurrency: self.concurrency.unwrap_or_else(default_concurrency).max(1),
            as_of,
            warn_days: self.warn_days,
            rate: None,
            registry,
        })
    }

    /// The options that change verdicts, as recorded in the run description.
    pub(crate) fn fingerprint(&self, options: &AuditOptions) -> String {
        let mut ranges: Vec<String> = self
            .cloud_ranges
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        ranges.sort();
        format!(
            "as_of={} warn_days={} timeout={} max_body={} allow_private={} allow_net={:?} cloud={:?} registry={}",
            options.as_of,
            options.warn_days,
            self.timeout,
            self.max_body_bytes,
            self.allow_private,
            self.allow_nets,
            ranges,
            !self.no_registry
        )
    }

    pub(crate) fn cloud(&self) -> Result<CloudRanges> {
        if self.cloud_ranges.is_empty() {
            return Ok(CloudRanges::huawei_default());
        }
        let mut ranges = CloudRanges::default();
        for path in &self.cloud_ranges {
            ranges.add_file(path)?;
        }
        Ok(ranges)
    }
}

/// Sites in flight by default: mostly waiting on the network, so 64 per core, capped where
/// the benchmark stopped gaining (256).
pub(crate) fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (64 * cores).min(256)
}
