//! History and suppressions applied to an audit as sites complete, and the commands that read
//! the history back: `report` (HTML) and `diff`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::args::AuditArgs;
use super::sink::Sink;
use anyhow::{Context, Result, bail};
use icp_audit::audit::SiteReport;
use icp_audit::batch::RunMeta;
use icp_audit::catalogue::Catalogue;
use icp_audit::date::Date;
use icp_audit::history::History;
use icp_audit::html::{self, HtmlRow};
use icp_audit::report::{self};
use icp_audit::suppress::Suppressions;

/// History and suppressions applied to each site as it completes.
pub(crate) struct Tracker {
    pub(crate) history: Option<(History, i64)>,
    pub(crate) suppressions: Suppressions,
    pub(crate) as_of: Date,
}

impl Tracker {
    pub(crate) fn open(args: &AuditArgs, meta: &RunMeta, as_of: Date) -> Result<Tracker> {
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

    pub(crate) fn annotate(&mut self, report: &mut SiteReport) -> Result<()> {
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
    pub(crate) fn finish(&mut self, sink: &mut Sink) -> Result<Vec<icp_audit::history::RunRecord>> {
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

pub(crate) fn html_from_history(path: &Path, out: &Path, run: Option<i64>) -> Result<ExitCode> {
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
pub(crate) fn diff(
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

pub(crate) type Identities = std::collections::BTreeMap<String, String>;

pub(crate) fn identities_from_history(
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

pub(crate) fn identities_from_csv(path: &Path) -> Result<Identities> {
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
