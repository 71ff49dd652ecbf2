//! The `icp-audit` command line: `audit` an inventory, `check` one domain, list the
//! `findings` catalogue and `explain` one notice.
//!
//! Exit status: 0 no findings, 1 findings, 2 bad usage or unreadable input (the message names
//! the file, line and column at fault).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use icp_audit::address::AddressPolicy;
use icp_audit::audit::{AuditOptions, Auditor, SiteReport};
use icp_audit::batch::{self, InventoryDigest, RunMeta, Shard};
use icp_audit::catalogue::Catalogue;
use icp_audit::cloud::CloudRanges;
use icp_audit::date::Date;
use icp_audit::fetch::FetchConfig;
use icp_audit::history::{History, Status};
use icp_audit::html::{self, HtmlRow};
use icp_audit::inventory::{Deduplicator, FilingRecord, InventoryReader, strict_problem};
use icp_audit::registry::RegistryConfig;
use icp_audit::report::{self, CsvSink, Format, JsonlSink};
use icp_audit::resolve::DnsConfig;
use icp_audit::suppress::Suppressions;
use std::collections::HashSet;

#[derive(Parser)]
#[command(
    name = "icp-audit",
    version,
    about = "Audits ICP-filed websites the way the hosting provider's inspection (备案核查) does"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
enum ListFormat {
    Text,
    Json,
}

#[derive(Args)]
struct AuditArgs {
    /// The inventory: CSV with a header row (domain, filing_number, site_name, …) or JSON Lines.
    inventory: PathBuf,
    /// Where to write the report (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Stop at the first row that cannot be audited (exit status 2, naming its line).
    #[arg(long)]
    strict: bool,
    /// Continue a killed run: audit only the sites not yet in --out.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Audit only the rows whose domain hashes to shard K of N (K from 0), e.g. 0/4.
    #[arg(long, value_name = "K/N")]
    shard: Option<Shard>,
    /// Most new sites started per second, overall.
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    no_progress: bool,
    /// Keep every run in this SQLite file; the report gains status, first_seen and days_open.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// Accepted findings (TOML `[[suppress]]` tables): still reported, not counted.
    #[arg(long, value_name = "FILE")]
    suppressions: Option<PathBuf>,
    /// Which findings make the exit status 1: any, only new (or reopened) ones, or none.
    #[arg(long, value_enum, default_value = "any")]
    fail_on: FailOn,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    Any,
    New,
    None,
}

#[derive(Args)]
struct CheckArgs {
    /// The domain to audit.
    domain: String,
    /// The filed number (e.g. 京ICP备12345678号-1); without it the footer is only reported.
    #[arg(long)]
    filing_number: Option<String>,
    /// The filed site name; without it the page's names are only reported.
    #[arg(long)]
    site_name: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Args)]
struct NetArgs {
    /// A DNS resolver to ask instead of the system's (repeatable).
    #[arg(long = "resolver", value_name = "IP:PORT")]
    resolvers: Vec<SocketAddr>,
    /// A file of the cloud's CIDR prefixes (repeatable; default: the shipped Huawei Cloud list).
    #[arg(long = "cloud-ranges", value_name = "FILE")]
    cloud_ranges: Vec<PathBuf>,
    /// A PEM file of extra trusted CA certificates (repeatable).
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Seconds for all of one site's network work.
    #[arg(long, default_value_t = 20.0)]
    timeout: f64,
    /// Sites audited at once (default: 64 per CPU core, at most 256).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Most requests in flight at once to one address (many sites share a server).
    #[arg(long, default_value_t = 16)]
    per_ip: usize,
    /// Allow connections to loopback, private, link-local and reserved addresses.
    #[arg(long)]
    allow_private: bool,
    /// Allow connections into one non-public prefix only, e.g. 127.0.0.0/8 (repeatable).
    #[arg(long = "allow-net", value_name = "CIDR")]
    allow_nets: Vec<ipnet::IpNet>,
    /// The date to audit as of, YYYY-MM-DD (default: today in China).
    #[arg(long, value_name = "YYYY-MM-DD")]
    as_of: Option<String>,
    /// Days before an expiry date that raise an "expiring soon" finding.
    #[arg(long, default_value_t = 30)]
    warn_days: u32,
    /// Most bytes of a page read and analysed.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Skip the registry checks (域名过期, 域名注册时间晚于备案时间) and their lookups.
    #[arg(long)]
    no_registry: bool,
    /// IANA's RDAP bootstrap file for DNS (default: the copy shipped in data/rdap-dns.json).
    #[arg(long, value_name = "FILE")]
    rdap_bootstrap: Option<PathBuf>,
    /// Ask this RDAP base URL for every domain.
    #[arg(long, value_name = "URL")]
    rdap_server: Option<url::Url>,
    /// WHOIS server for suffixes without RDAP (default for .cn: whois.cnnic.cn:43).
    #[arg(long, value_name = "HOST:PORT")]
    whois_server: Option<String>,
    /// Keep registry answers in this directory between runs.
    #[arg(long, value_name = "DIR")]
    registry_cache: Option<PathBuf>,
    /// Hours a cached registry answer stays valid.
    #[arg(long, default_value_t = 24.0, value_name = "HOURS")]
    registry_cache_hours: f64,
    /// Most registry requests per second to one server.
    #[arg(long, default_value_t = 1.0, value_name = "R")]
    registry_rate: f64,
    /// Port for http:// URLs without one (for test worlds; 80 on the internet).
    #[arg(long, default_value_t = 80, hide_short_help = true)]
    http_port: u16,
    /// Port for https:// URLs without one (for test worlds; 443 on the internet).
    #[arg(long, default_value_t = 443, hide_short_help = true)]
    https_port: u16,
}

impl NetArgs {
    fn options(&self) -> Result<AuditOptions> {
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
    fn fingerprint(&self, options: &AuditOptions) -> String {
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

    fn cloud(&self) -> Result<CloudRanges> {
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
fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (64 * cores).min(256)
}

/// Caps glibc's malloc arenas at two (unless MALLOC_ARENA_MAX is set): with one arena per
/// worker thread, a long run's peak memory kept growing with its length; measured on 10k and
/// 100k sites, two arenas cut peak RSS by a fifth at no cost in speed (benches/README.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator tuning; it is called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("icp-audit: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// A reader that went away (`icp-audit findings | head`) is not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ICP_AUDIT_LOG")
        .unwrap_or_else(|_| "warn,icp_audit=info".into());
    use std::io::IsTerminal;

    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Findings { format } => list_findings(format),
        Command::Explain { code } => explain(&code),
        Command::Report { history, out, run } => html_from_history(&history, &out, run),
        Command::Diff {
            reports,
            history,
            from,
            to,
        } => diff(&reports, history.as_deref(), from, to),
        Command::Merge { reports, out } => {
            let meta = batch::merge(&reports, &out)?;
            eprintln!(
                "icp-audit: merged {} reports of run {} into {}",
                reports.len(),
                meta.run,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(args) => runtime()?.block_on(audit(args)),
        Command::Check(args) => runtime()?.block_on(check(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn list_findings(format: ListFormat) -> Result<ExitCode> {
    let catalogue = Catalogue::embedded();
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            let all: Vec<_> = catalogue.iter().collect();
            serde_json::to_writer_pretty(&mut out, &all)?;
            writeln!(out)?;
        }
        ListFormat::Text => {
            for n in catalogue.iter() {
                let variant = n
                    .variant
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<8} {:<9} {:<10} {}{variant}",
                    n.code,
                    n.detection.label(),
                    n.group,
                    n.notice
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn explain(code: &str) -> Result<ExitCode> {
    let Some(n) = Catalogue::embedded().lookup(code) else {
        bail!("no catalogue entry for {code:?}; `icp-audit findings` lists them");
    };
    let variant = n
        .variant
        .as_deref()
        .map(|v| format!(" — {v}"))
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {}{variant}", n.code, n.notice)?;
    writeln!(
        out,
        "组别 group: {}   严重程度 severity: {}   检测 detection: {}\n",
        n.group,
        n.severity.label(),
        n.detection.label()
    )?;
    writeln!(out, "整改通知\n  {}\nNotice\n  {}\n", n.gist_zh, n.gist_en)?;
    let list = |title: &str, items: &[String]| -> String {
        let mut s = format!("{title}\n");
        for item in items {
            s.push_str(&format!("  - {item}\n"));
        }
        s
    };
    writeln!(
        out,
        "{}{}",
        list("可能原因", &n.causes_zh),
        list("Likely causes", &n.causes_en)
    )?;
    writeln!(
        out,
        "{}{}",
        list("整改建议", &n.fixes_zh),
        list("Suggested fixes", &n.fixes_en)
    )?;
    writeln!(
        out,
        "检查方法\n  {}\nHow it is checked\n  {}",
        n.check_zh, n.check_en
    )?;
    if !n.sources.is_empty() {
        writeln!(out, "\nSources: {}", n.sources.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(args: AuditArgs) -> Result<ExitCode> {
    let mut options = args.net.options()?;
    options.rate = args.rate;
    let as_of = options.as_of;
    let warn_days = options.warn_days;
    let digest = InventoryDigest::of_file(&args.inventory)
        .with_context(|| format!("{}: cannot read", args.inventory.display()))?;
    let reader = InventoryReader::open(&args.inventory)?;
    let meta = RunMeta::new(
        &args.inventory,
        &digest,
        args.net.fingerprint(&options),
        args.shard,
        format_name(args.format),
    );
    let mut tracker = Tracker::open(&args, &meta, as_of)?;
    let (mut sink, done) = open_report(&args, &meta)?;
    let auditor = Auditor::new(options)?;

    let (row_tx, row_rx) = tokio::sync::mpsc::channel(1024);
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(1024);
    let feed = Feed {
        strict: args.strict,
        shard: args.shard,
        done,
    };
    let feeder = tokio::task::spawn_blocking(move || feed.run(reader, row_tx));
    let runner = tokio::spawn(async move { auditor.run(row_rx, report_tx).await });

    let expected = if args.shard.is_some() {
        None
    } else {
        Some(digest.rows)
    };
    let mut progress = Progress::new(expected, !args.no_progress);
    let mut summary = Summary::default();
    while let Some(mut report) = report_rx.recv().await {
        tracker.annotate(&mut report)?;
        summary.add(&report);
        progress.update(&summary);
        sink.write(&report).context("cannot write the report")?;
    }
    progress.finish();
    let skipped = feeder.await.context("the inventory reader failed")??;
    runner.await.context("the audit failed")?;

    let runs = tracker.finish(&mut sink)?;
    sink.finish(&runs).context("cannot write the report")?;
    eprintln!("{}", summary.render(skipped));
    for line in tracker.suppressions.summary(as_of, warn_days) {
        eprintln!("  {line}");
    }
    Ok(exit_status(&summary, args.fail_on))
}

fn exit_status(summary: &Summary, fail_on: FailOn) -> ExitCode {
    let failing = match fail_on {
        FailOn::Any => summary.counted_findings,
        FailOn::New => summary.new_findings,
        FailOn::None => 0,
    };
    if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// History and suppressions applied to each site as it completes.
struct Tracker {
    history: Option<(History, i64)>,
    suppressions: Suppressions,
    as_of: Date,
}

impl Tracker {
    fn open(args: &AuditArgs, meta: &RunMeta, as_of: Date) -> Result<Tracker> {
        let suppressions = match &args.suppressions {
            Some(path) => Suppressions::load(path, Catalogue::embedded())?,
            None => Suppressions::default(),
        };
        let history = match &args.history {
            Some(path) => {
                let history = History::open(path)?;
                let run = history.begin_run(
                    &icp_audit::date::now_rfc3339(),
                    as_of,
                    &meta.inventory_digest,
                    &meta.options,
                )?;
                Some((history, run))
            }
            None => None,
        };
        Ok(Tracker {
            history,
            suppressions,
            as_of,
        })
    }

    fn annotate(&mut self, report: &mut SiteReport) -> Result<()> {
        let domain = if report.evidence.domain.is_empty() {
            report.record.domain.clone()
        } else {
            report.evidence.domain.clone()
        };
        if let Some((history, run)) = &self.history {
            // A site counts as decided unless its DNS or HTTP checks were inconclusive.
            let decided = !report
                .verdict
                .inconclusive
                .iter()
                .any(|i| matches!(i.check.as_str(), "dns" | "http" | "domain" | "inventory"));
            let items: Vec<_> = report
                .verdict
                .findings
                .iter()
                .map(|f| {
                    (
                        f.code.clone(),
                        f.fact.clone(),
                        f.severity.label().to_string(),
                        f.evidence.clone(),
                    )
                })
                .collect();
            let tracked = history.record_site(*run, self.as_of, &domain, decided, &items)?;
            for (finding, tracking) in report.verdict.findings.iter_mut().zip(tracked) {
                finding.tracking = Some(tracking);
            }
        }
        for finding in &mut report.verdict.findings {
            finding.suppressed = self.suppressions.apply(&domain, &finding.code, self.as_of);
        }
        Ok(())
    }

    /// Writes the resolved findings, closes the run, and returns the runs for the chart.
    fn finish(&mut self, sink: &mut Sink) -> Result<Vec<icp_audit::history::RunRecord>> {
        let Some((history, run)) = &self.history else {
            return Ok(Vec::new());
        };
        for finding in history.resolved(*run)? {
            sink.write_row(report::resolved_row(
                &finding,
                Catalogue::embedded(),
                self.as_of,
            ))?;
        }
        history.finish_run(*run, &icp_audit::date::now_rfc3339())?;
        Ok(history.runs()?)
    }
}

fn html_from_history(path: &Path, out: &Path, run: Option<i64>) -> Result<ExitCode> {
    let history = History::open(path)?;
    let runs = history.runs()?;
    let Some(run) = run.or_else(|| runs.last().map(|r| r.id)) else {
        bail!("{}: the history holds no finished run", path.display());
    };
    let rows: Vec<HtmlRow> = history
        .findings(run)?
        .into_iter()
        .map(|f| HtmlRow {
            domain: f.domain,
            result: "finding".into(),
            code: f.code,
            severity: f.severity,
            status: f.status.label().into(),
            first_seen: f.first_seen,
            evidence: f.evidence,
            ..HtmlRow::default()
        })
        .collect();
    let title = format!("icp-audit report — run {run}");
    std::fs::write(
        out,
        html::render(&title, &rows, &runs, Catalogue::embedded()),
    )
    .with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Compares two runs (history) or two CSV reports by finding identity.
fn diff(
    reports: &[PathBuf],
    history: Option<&Path>,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<ExitCode> {
    let (old, new) = match (history, reports) {
        (Some(path), []) => identities_from_history(path, from, to)?,
        (None, [old, new]) => (identities_from_csv(old)?, identities_from_csv(new)?),
        _ => bail!("diff needs two CSV reports, or --history FILE"),
    };
    let mut out = std::io::stdout().lock();
    for (id, line) in &new {
        if !old.contains_key(id) {
            writeln!(out, "new        {line}")?;
        }
    }
    for (id, line) in &old {
        if !new.contains_key(id) {
            writeln!(out, "resolved   {line}")?;
        }
    }
    let persisting = new.keys().filter(|id| old.contains_key(*id)).count();
    writeln!(out, "persisting {persisting}")?;
    Ok(ExitCode::SUCCESS)
}

type Identities = std::collections::BTreeMap<String, String>;

fn identities_from_history(
    path: &Path,
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(Identities, Identities)> {
    let history = History::open(path)?;
    let runs: Vec<i64> = history.runs()?.iter().map(|r| r.id).collect();
    let to = to
        .or_else(|| runs.last().copied())
        .context("the history holds no finished run")?;
    let from = from
        .or_else(|| runs.iter().rev().find(|r| **r < to).copied())
        .context("the history holds no run before the one compared")?;
    let load = |run| -> Result<Identities> {
        Ok(history
            .findings(run)?
            .into_iter()
            .map(|f| (f.identity, format!("{} {} {}", f.domain, f.code, f.fact)))
            .collect())
    };
    Ok((load(from)?, load(to)?))
}

fn identities_from_csv(path: &Path) -> Result<Identities> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name}", path.display()))
    };
    let (domain, result, code, fact) = (col("domain")?, col("result")?, col("code")?, col("fact")?);
    let mut ids = Identities::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        if &record[result] != "finding" {
            continue;
        }
        let d = icp_audit::domain::Domain::parse(&record[domain])
            .map(|d| d.to_string())
            .unwrap_or_else(|_| record[domain].to_string());
        let fact = record[fact].trim_start_matches('\'').to_string();
        ids.insert(
            icp_audit::history::identity(&d, &record[code], &fact),
            format!("{d} {} {fact}", &record[code]),
        );
    }
    Ok(ids)
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
        Format::Text => "text",
        Format::Html => "html",
    }
}

/// Opens the report: fresh, or for `--resume` the existing one with its finished lines.
fn open_report(args: &AuditArgs, meta: &RunMeta) -> Result<(Sink, HashSet<u64>)> {
    let Some(out) = args.out.as_deref() else {
        return Ok((open_sink(None, args.format)?, HashSet::new()));
    };
    let resumable = args.resume && std::fs::metadata(out).is_ok_and(|m| m.len() > 0);
    if !resumable {
        meta.write(out)
            .with_context(|| format!("{}: cannot write the run description", out.display()))?;
        return Ok((open_sink(Some(out), args.format)?, HashSet::new()));
    }

    let previous = RunMeta::read(out)?;
    if previous.run != meta.run {
        bail!(
            "{}: --resume: the report was written by another run (inventory or options differ: {} vs {})",
            out.display(),
            previous.options,
            meta.options
        );
    }
    let state = batch::prepare_resume(out, format_name(args.format))?;
    eprintln!(
        "icp-audit: resuming {}: {} sites already done",
        out.display(),
        state.done.len()
    );
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(out)
        .with_context(|| format!("{}: cannot append", out.display()))?;
    let boxed: Box<dyn Write + Send> = Box::new(file);
    let catalogue = Catalogue::embedded();
    let sink = match args.format {
        Format::Csv => Sink::Csv(Box::new(CsvSink::append(boxed, catalogue))),
        Format::Jsonl => Sink::Jsonl(JsonlSink::new(boxed, catalogue)),
        Format::Text => Sink::Text(boxed),
        Format::Html => {
            bail!("--resume cannot continue an HTML report; use csv or jsonl with --history")
        }
    };
    Ok((sink, state.done))
}

/// Reads the inventory on a blocking thread and hands rows to the audit.
struct Feed {
    strict: bool,
    shard: Option<Shard>,
    done: HashSet<u64>,
}

impl Feed {
    /// Sends the rows to audit; returns how many were skipped as already done.
    fn run(
        self,
        reader: InventoryReader,
        rows: tokio::sync::mpsc::Sender<Result<FilingRecord, icp_audit::inventory::RowError>>,
    ) -> Result<u64> {
        let path = reader.path().to_path_buf();
        let mut dedupe = Deduplicator::default();
        let mut skipped = 0;
        for row in reader {
            if let (Some(shard), Ok(record)) = (self.shard, &row)
                && !shard.holds(record)
            {
                continue;
            }
            let row = dedupe.check(row, &path);
            if let Some(problem) = self.strict.then(|| strict_problem(&row)).flatten() {
                bail!("{problem} (--strict stops at the first row that cannot be audited)");
            }
            let line = match &row {
                Ok(record) => record.line,
                Err(error) => error.line,
            };
            if self.done.contains(&line) {
                skipped += 1;
                continue;
            }
            if rows.blocking_send(row).is_err() {
                break;
            }
        }
        Ok(skipped)
    }
}

/// A progress bar on a terminal; periodic log lines otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_log: std::time::Instant,
}

impl Progress {
    fn new(expected: Option<u64>, enabled: bool) -> Progress {
        use std::io::IsTerminal;

        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = expected.map_or_else(
                indicatif::ProgressBar::no_length,
                indicatif::ProgressBar::new,
            );
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} sites  {msg}  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            last_log: std::time::Instant::now(),
        }
    }

    fn update(&mut self, summary: &Summary) {
        let msg = format!(
            "{} with findings, {} inconclusive",
            summary.findings_sites, summary.inconclusive_sites
        );
        if let Some(bar) = &self.bar {
            bar.set_position(summary.sites);
            bar.set_message(msg);
        } else if self.last_log.elapsed() >= Duration::from_secs(10) {
            self.last_log = std::time::Instant::now();
            tracing::info!(
                sites = summary.sites,
                findings = summary.findings_sites,
                inconclusive = summary.inconclusive_sites,
                per_sec = format!("{:.1}", summary.rate()),
                "progress"
            );
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

async fn check(args: CheckArgs) -> Result<ExitCode> {
    let auditor = Auditor::new(args.net.options()?)?;
    let record = FilingRecord {
        line: 0,
        domain: args.domain.clone(),
        filing_number: args.filing_number.clone().unwrap_or_default(),
        site_name: args.site_name.clone().unwrap_or_default(),
        ..FilingRecord::default()
    };
    let mut report = auditor.audit(record).await;
    // Without a filed number or name there is nothing to compare: show what the site shows.
    report
        .verdict
        .inconclusive
        .retain(|i| i.reason != icp_audit::finding::Reason::MissingValue);

    let mut sink = open_sink(None, args.format)?;
    sink.write(&report)?;
    Ok(if report.verdict.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A report writer for the chosen format.
enum Sink {
    Csv(Box<CsvSink<Box<dyn Write + Send>>>),
    Jsonl(JsonlSink<Box<dyn Write + Send>>),
    Text(Box<dyn Write + Send>),
    /// HTML needs every row before it can be written.
    Html(Box<dyn Write + Send>, Vec<HtmlRow>),
}

fn open_sink(path: Option<&Path>, format: Format) -> Result<Sink> {
    let out: Box<dyn Write + Send> = match path {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create the report", path.display()))?;
            Box::new(std::io::BufWriter::new(file))
        }
        None => Box::new(std::io::stdout()),
    };
    let catalogue = Catalogue::embedded();
    Ok(match format {
        Format::Csv => Sink::Csv(Box::new(CsvSink::new(out, catalogue)?)),
        Format::Jsonl => Sink::Jsonl(JsonlSink::new(out, catalogue)),
        Format::Text => Sink::Text(out),
        Format::Html => Sink::Html(out, Vec::new()),
    })
}

impl Sink {
    fn write(&mut self, report: &SiteReport) -> std::io::Result<()> {
        match self {
            Sink::Csv(sink) => sink.write(report),
            Sink::Jsonl(sink) => sink.write(report),
            Sink::Text(out) => {
                out.write_all(report::text_report(report, Catalogue::embedded()).as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()
            }
            Sink::Html(_, rows) => {
                rows.extend(report::html_rows(report, Catalogue::embedded()));
                Ok(())
            }
        }
    }

    /// Writes one CSV-shaped row (resolved findings); JSON Lines gets an object.
    fn write_row(&mut self, row: Vec<String>) -> std::io::Result<()> {
        match self {
            Sink::Csv(sink) => sink.write_rows(vec![row]),
            Sink::Html(_, rows) => {
                rows.push(report::html_row(&row));
                Ok(())
            }
            Sink::Jsonl(_) | Sink::Text(_) => {
                let object: std::collections::BTreeMap<&str, &String> =
                    report::CSV_COLUMNS.iter().copied().zip(&row).collect();
                let line = serde_json::to_string(&object).map_err(std::io::Error::other)?;
                match self {
                    Sink::Jsonl(sink) => sink.write_raw(&line),
                    Sink::Text(out) => writeln!(out, "{line}"),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Ends the report (HTML is rendered here, with the history's runs for the chart).
    fn finish(&mut self, runs: &[icp_audit::history::RunRecord]) -> std::io::Result<()> {
        if let Sink::Html(out, rows) = self {
            let page = html::render("icp-audit report", rows, runs, Catalogue::embedded());
            out.write_all(page.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }
}

/// Counts for the closing summary.
struct Summary {
    sites: u64,
    passed: u64,
    findings_sites: u64,
    inconclusive_sites: u64,
    per_notice: std::collections::BTreeMap<String, u64>,
    per_reason: std::collections::BTreeMap<&'static str, u64>,
    started: std::time::Instant,
    /// Findings not suppressed.
    counted_findings: u64,
    /// Findings not suppressed that are new or reopened (all of them without history).
    new_findings: u64,
    suppressed: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            sites: 0,
            passed: 0,
            findings_sites: 0,
            inconclusive_sites: 0,
            per_notice: Default::default(),
            per_reason: Default::default(),
            started: std::time::Instant::now(),
            counted_findings: 0,
            new_findings: 0,
            suppressed: 0,
        }
    }
}

impl Summary {
    fn rate(&self) -> f64 {
        self.sites as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn add(&mut self, report: &SiteReport) {
        self.sites += 1;
        match report.verdict.result() {
            icp_audit::finding::SiteResult::Pass => self.passed += 1,
            icp_audit::finding::SiteResult::Finding => self.findings_sites += 1,
            icp_audit::finding::SiteResult::Inconclusive => self.inconclusive_sites += 1,
        }
        for f in &report.verdict.findings {
            *self.per_notice.entry(f.code.clone()).or_default() += 1;
            if f.suppressed.is_some() {
                self.suppressed += 1;
                continue;
            }
            self.counted_findings += 1;
            let fresh = f
                .tracking
                .as_ref()
                .is_none_or(|t| matches!(t.status, Status::New | Status::Reopened));
            self.new_findings += u64::from(fresh);
        }
        for i in &report.verdict.inconclusive {
            *self.per_reason.entry(i.reason.label()).or_default() += 1;
        }
    }

    fn render(&self, skipped: u64) -> String {
        let catalogue = Catalogue::embedded();
        let elapsed = self.started.elapsed().as_secs_f64();
        let mut text = format!(
            "icp-audit: {} sites: {} pass, {} with findings, {} inconclusive; {elapsed:.1} s, {:.1} sites/s",
            self.sites,
            self.passed,
            self.findings_sites,
            self.inconclusive_sites,
            self.rate()
        );
        if skipped > 0 {
            text.push_str(&format!(
                "\n  {skipped:>7}  already in the report (resumed)"
            ));
        }
        for (code, count) in &self.per_notice {
            let notice = catalogue.get(code).map_or("", |n| n.notice.as_str());
            text.push_str(&format!("\n  {count:>7}  {code} {notice}"));
        }
        for (reason, count) in &self.per_reason {
            text.push_str(&format!("\n  {count:>7}  inconclusive: {reason}"));
        }
        text
    }
}
