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
use icp_audit::inventory::{Deduplicator, FilingRecord, InventoryReader, strict_problem};
use icp_audit::report::{self, CsvSink, Format, JsonlSink};
use icp_audit::resolve::DnsConfig;
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
    #[command(flatten)]
    net: NetArgs,
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
    /// Sites audited at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
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
        let fetch = FetchConfig {
            policy,
            max_body_bytes: self.max_body_bytes.max(1024),
            http_port: self.http_port,
            https_port: self.https_port,
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
            concurrency: self.concurrency.max(1),
            as_of,
            warn_days: self.warn_days,
            rate: None,
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
            "as_of={} warn_days={} timeout={} max_body={} allow_private={} allow_net={:?} cloud={:?}",
            options.as_of,
            options.warn_days,
            self.timeout,
            self.max_body_bytes,
            self.allow_private,
            self.allow_nets,
            ranges
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

fn main() -> ExitCode {
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Findings { format } => list_findings(format),
        Command::Explain { code } => explain(&code),
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
    while let Some(report) = report_rx.recv().await {
        summary.add(&report);
        progress.update(&summary);
        sink.write(&report).context("cannot write the report")?;
    }
    progress.finish();
    let skipped = feeder.await.context("the inventory reader failed")??;
    runner.await.context("the audit failed")?;

    eprintln!("{}", summary.render(skipped));
    Ok(if summary.findings_sites > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
        Format::Text => "text",
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
        }
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
