//! Report sinks: CSV for the people who fix things (Excel-safe, one row per finding), JSON
//! Lines for machines (one object per site with all evidence), and a readable text report
//! for a spot check on the terminal.
//!
//! Every inventory row yields at least one report row: `pass`, one row per finding, or one
//! row per inconclusive check. Text from sites and inventories is untrusted: CSV cells that a
//! spreadsheet would run as a formula are neutralised, and JSON is escaped by serde.

use std::io::{self, Write};

use serde::Serialize;

use crate::audit::SiteReport;
use crate::catalogue::Catalogue;
use crate::finding::{Finding, Inconclusive, SiteResult};

/// The CSV columns, in order. The first ten are a contract; more may be added at the end.
pub const CSV_COLUMNS: &[&str] = &[
    "domain",
    "filing_number",
    "site_name",
    "result",
    "code",
    "notice",
    "group",
    "severity",
    "evidence",
    "remediation",
    "confidence",
    "detection",
    "check",
    "reason",
    "line",
    "probed_at",
    "site_rows",
    "fact",
    "status",
    "first_seen",
    "days_open",
    "suppressed",
];

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    Text,
    /// One self-contained HTML file, written when the run ends.
    Html,
}

/// Prefixes a cell that a spreadsheet would read as a formula with a single quote (OWASP).
pub fn neutralise_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// Writes reports as CSV, UTF-8 with a BOM so spreadsheets read the Chinese text.
///
/// Each site's rows go out in one write and are flushed, so a killed run leaves whole sites
/// behind (and at worst one torn last site, which `--resume` detects by `site_rows`).
pub struct CsvSink<W: Write> {
    out: W,
    catalogue: &'static Catalogue,
}

impl<W: Write> CsvSink<W> {
    /// Starts a report: BOM and header row.
    pub fn new(mut out: W, catalogue: &'static Catalogue) -> io::Result<CsvSink<W>> {
        out.write_all("\u{feff}".as_bytes())?;
        let header = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
        out.write_all(&csv_bytes(std::iter::once(header))?)?;
        out.flush()?;
        Ok(CsvSink { out, catalogue })
    }

    /// Continues a report whose header is already written (resuming).
    pub fn append(out: W, catalogue: &'static Catalogue) -> CsvSink<W> {
        CsvSink { out, catalogue }
    }

    /// Writes one site's rows and flushes them.
    pub fn write(&mut self, report: &SiteReport) -> io::Result<()> {
        self.write_rows(rows(report, self.catalogue))
    }

    /// Writes rows (neutralised) in one write, and flushes them.
    pub fn write_rows(&mut self, rows: Vec<Vec<String>>) -> io::Result<()> {
        let rows = rows.into_iter().map(|row| {
            row.iter()
                .map(|c| neutralise_cell(c).into_owned())
                .collect()
        });
        self.out.write_all(&csv_bytes(rows)?)?;
        self.out.flush()
    }
}

/// CSV text of some rows.
fn csv_bytes(rows: impl Iterator<Item = Vec<String>>) -> io::Result<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
    for row in rows {
        writer.write_record(&row)?;
    }
    writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))
}

/// The CSV rows of one site, unescaped.
pub fn rows(report: &SiteReport, catalogue: &Catalogue) -> Vec<Vec<String>> {
    let base = |result: SiteResult| {
        let r = &report.record;
        vec![
            r.domain.clone(),
            r.filing_number.clone(),
            r.site_name.clone(),
            result.label().to_string(),
        ]
    };
    let tail = |row: &mut Vec<String>| {
        row.push(report.record.line.to_string());
        row.push(report.evidence.probed_at.clone());
    };

    let mut rows = Vec::new();
    let mut extras = Vec::new();
    for finding in &report.verdict.findings {
        let mut row = base(SiteResult::Finding);
        row.extend(finding_cells(finding, catalogue));
        tail(&mut row);
        rows.push(row);
        extras.push(tracking_cells(finding));
    }
    for inconclusive in &report.verdict.inconclusive {
        let mut row = base(SiteResult::Inconclusive);
        row.extend(inconclusive_cells(inconclusive));
        tail(&mut row);
        rows.push(row);
        extras.push(vec![String::new(); 5]);
    }
    if rows.is_empty() {
        let mut row = base(SiteResult::Pass);
        row.extend(std::iter::repeat_n(String::new(), 10));
        tail(&mut row);
        rows.push(row);
        extras.push(vec![String::new(); 5]);
    }
    let count = rows.len().to_string();
    for (row, extra) in rows.iter_mut().zip(extras) {
        row.push(count.clone());
        row.extend(extra);
    }
    rows
}

/// The CSV row of a finding that the history says was resolved since the previous run.
pub fn resolved_row(
    finding: &crate::history::StoredFinding,
    catalogue: &Catalogue,
    as_of: crate::date::Date,
) -> Vec<String> {
    let notice = catalogue.get(&finding.code);
    let days_open = finding
        .first_seen
        .parse::<crate::date::Date>()
        .map(|d| d.days_until(as_of).to_string())
        .unwrap_or_default();
    let mut row = vec![
        finding.domain.clone(),
        String::new(),
        String::new(),
        "resolved".to_string(),
        finding.code.clone(),
    ];
    row.push(notice.map(|n| n.notice.clone()).unwrap_or_default());
    row.push(notice.map(|n| n.group.clone()).unwrap_or_default());
    row.push(finding.severity.clone());
    row.push(format!(
        "resolved since the previous run; was: {}",
        finding.evidence
    ));
    row.extend(std::iter::repeat_n(String::new(), 5));
    row.extend([
        "0".to_string(),
        String::new(),
        "1".to_string(),
        finding.fact.clone(),
        "resolved".to_string(),
    ]);
    row.extend([finding.first_seen.clone(), days_open, String::new()]);
    row
}

/// The HTML rows of one site.
pub fn html_rows(report: &SiteReport, catalogue: &Catalogue) -> Vec<crate::html::HtmlRow> {
    rows(report, catalogue)
        .iter()
        .map(|row| html_row(row))
        .collect()
}

/// An HTML row from a CSV row.
pub fn html_row(row: &[String]) -> crate::html::HtmlRow {
    let cell = |name: &str| {
        CSV_COLUMNS
            .iter()
            .position(|c| *c == name)
            .and_then(|i| row.get(i))
            .cloned()
            .unwrap_or_default()
    };
    crate::html::HtmlRow {
        domain: cell("domain"),
        result: cell("result"),
        code: cell("code"),
        severity: cell("severity"),
        status: cell("status"),
        first_seen: cell("first_seen"),
        days_open: cell("days_open"),
        suppressed: cell("suppressed"),
        evidence: cell("evidence"),
    }
}

/// `fact`, `status`, `first_seen`, `days_open`, `suppressed` of a finding row.
fn tracking_cells(finding: &Finding) -> Vec<String> {
    let (status, first_seen, days) = match &finding.tracking {
        Some(t) => (
            t.status.label().to_string(),
            t.first_seen.to_string(),
            t.days_open.to_string(),
        ),
        None => Default::default(),
    };
    let suppressed = finding
        .suppressed
        .as_ref()
        .map(|s| {
            format!(
                "{} (approved by {}, until {})",
                s.reason, s.approved_by, s.expires
            )
        })
        .unwrap_or_default();
    vec![finding.fact.clone(), status, first_seen, days, suppressed]
}

fn finding_cells(finding: &Finding, catalogue: &Catalogue) -> Vec<String> {
    let notice = catalogue.get(&finding.code);
    vec![
        finding.code.clone(),
        notice.map(|n| n.notice.clone()).unwrap_or_default(),
        notice.map(|n| n.group.clone()).unwrap_or_default(),
        finding.severity.label().to_string(),
        finding.evidence.clone(),
        notice.map(|n| n.remediation()).unwrap_or_default(),
        finding.confidence.label().to_string(),
        notice
            .map(|n| n.detection.label().to_string())
            .unwrap_or_default(),
        String::new(),
        String::new(),
    ]
}

fn inconclusive_cells(inconclusive: &Inconclusive) -> Vec<String> {
    vec![
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        inconclusive.detail.clone(),
        String::new(),
        String::new(),
        String::new(),
        inconclusive.check.clone(),
        inconclusive.reason.label().to_string(),
    ]
}

/// One site as a JSON object: record, result, findings with their notices, and evidence.
#[derive(Serialize)]
struct JsonSite<'a> {
    line: u64,
    domain: &'a str,
    filing_number: &'a str,
    site_name: &'a str,
    result: &'static str,
    findings: Vec<JsonFinding<'a>>,
    inconclusive: &'a [Inconclusive],
    record: &'a std::collections::BTreeMap<String, String>,
    evidence: &'a crate::rules::SiteEvidence,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    notice: Option<&'a str>,
    group: Option<&'a str>,
    remediation: Option<String>,
}

/// Writes one JSON object per site, each flushed as it completes.
pub struct JsonlSink<W: Write> {
    out: W,
    catalogue: &'static Catalogue,
}

impl<W: Write> JsonlSink<W> {
    pub fn new(out: W, catalogue: &'static Catalogue) -> JsonlSink<W> {
        JsonlSink { out, catalogue }
    }

    /// Writes one already-serialised JSON object as a line.
    pub fn write_raw(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    pub fn write(&mut self, report: &SiteReport) -> io::Result<()> {
        let line = json_line(report, self.catalogue);
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// The JSON object for one site, on one line.
pub fn json_line(report: &SiteReport, catalogue: &Catalogue) -> String {
    let findings = report
        .verdict
        .findings
        .iter()
        .map(|finding| {
            let notice = catalogue.get(&finding.code);
            JsonFinding {
                finding,
                notice: notice.map(|n| n.notice.as_str()),
                group: notice.map(|n| n.group.as_str()),
                remediation: notice.map(|n| n.remediation()),
            }
        })
        .collect();
    let site = JsonSite {
        line: report.record.line,
        domain: &report.record.domain,
        filing_number: &report.record.filing_number,
        site_name: &report.record.site_name,
        result: report.verdict.result().label(),
        findings,
        inconclusive: &report.verdict.inconclusive,
        record: &report.record.fields,
        evidence: &report.evidence,
    };
    serde_json::to_string(&site)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise: {e}\"}}"))
}

/// A readable report for one site: what was checked, what was found, what to do.
pub fn text_report(report: &SiteReport, catalogue: &Catalogue) -> String {
    let mut out = String::new();
    let ev = &report.evidence;
    out.push_str(&format!(
        "{}  —  {}\n",
        report.record.domain,
        report.verdict.result().label().to_uppercase()
    ));
    out.push_str(&format!("probed at {}\n\n", ev.probed_at));

    out.push_str("DNS\n");
    for lookup in &ev.dns {
        out.push_str(&format!("  {}\n", lookup.describe()));
    }
    for lookup in &ev.app_dns {
        out.push_str(&format!("  app: {}\n", lookup.describe()));
    }
    if let Some(http) = &ev.http {
        out.push_str(&format!("HTTP\n  {}\n", http.describe_chain()));
        for cert in &http.certificates {
            out.push_str(&format!(
                "  certificate of {}: {}\n",
                cert.host,
                cert.verdict.label()
            ));
        }
        if let Some(charset) = &http.charset {
            out.push_str(&format!(
                "  {} bytes, charset {charset}{}\n",
                http.body_bytes,
                if http.truncated { ", truncated" } else { "" }
            ));
        }
    }
    if let Some(page) = &ev.page {
        out.push_str(&page_section(page));
    }

    out.push_str(&verdict_section(report, catalogue));
    out
}

fn page_section(page: &crate::page::PageEvidence) -> String {
    let mut out = String::from("PAGE\n");
    out.push_str(&format!(
        "  title: {}\n",
        page.title.as_deref().unwrap_or("(none)")
    ));
    for name in page.names.iter().filter(|n| n.source != "title") {
        out.push_str(&format!("  {}: {}\n", name.source, name.text));
    }
    if page.numbers.is_empty() {
        out.push_str(&format!(
            "  no filing number found; the page ends: «{}»\n",
            page.tail
        ));
    }
    for n in &page.numbers {
        let link = n.link.as_ref().map_or("not linked".to_string(), |l| {
            format!("linked to {}", l.href)
        });
        out.push_str(&format!(
            "  number {} ({link}{})\n",
            n.text,
            if n.in_footer { ", in footer" } else { "" }
        ));
    }
    for p in &page.psb_numbers {
        out.push_str(&format!(
            "  公网安备 {} ({})\n",
            p.digits,
            if p.linked { "linked" } else { "not linked" }
        ));
    }
    out
}

fn verdict_section(report: &SiteReport, catalogue: &Catalogue) -> String {
    let mut out = String::new();
    if report.verdict.findings.is_empty() && report.verdict.inconclusive.is_empty() {
        out.push_str("\nNo findings.\n");
    }
    for f in &report.verdict.findings {
        let notice = catalogue.get(&f.code);
        let title = notice.map_or("", |n| n.notice.as_str());
        out.push_str(&format!(
            "\nFINDING {} {title} [{}, {}]\n",
            f.code,
            f.severity.label(),
            f.confidence.label()
        ));
        out.push_str(&format!("  found: {}\n", f.evidence));
        if let Some(n) = notice {
            for fix in n.fixes_zh.iter().chain(&n.fixes_en) {
                out.push_str(&format!("  fix: {fix}\n"));
            }
        }
    }
    for i in &report.verdict.inconclusive {
        out.push_str(&format!(
            "\nINCONCLUSIVE {} ({}): {}\n",
            i.check,
            i.reason.label(),
            i.detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        for bad in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(neutralise_cell(bad).starts_with('\''), "{bad}");
        }
        assert_eq!(neutralise_cell("星河商城"), "星河商城");
        assert_eq!(neutralise_cell(""), "");
    }
}
