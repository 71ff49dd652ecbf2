//! The `icp-audit` command line: `audit` an inventory, `check` one domain, list the
//! `findings` catalogue and `explain` one notice.
//!
//! Exit status: 0 no findings, 1 findings, 2 bad usage or unreadable input (the message names
//! the file, line and column at fault).

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;
use icp_audit::audit::Auditor;
use icp_audit::batch::{self, InventoryDigest, RunMeta, Shard};
use icp_audit::inventory::{Deduplicator, FilingRecord, InventoryReader, strict_problem};

mod cli;

use cli::args::{AuditArgs, CheckArgs, Cli, Command, FailOn};
use cli::catalogue::{explain, list_findings};
use cli::progress::{Progress, Summary};
use cli::sink::{format_name, open_report, open_sink};
use cli::tracking::{Tracker, diff, html_from_history};

fn main() -> ExitCode {
    cli::memory::limit_malloc_arenas();
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
    cli::memory::spawn_trimmer();

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
