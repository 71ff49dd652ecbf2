//! Progress while a batch runs (a bar on a terminal, log lines otherwise) and the closing
//! summary.

use std::time::Duration;

use icp_audit::audit::SiteReport;
use icp_audit::catalogue::Catalogue;
use icp_audit::history::Status;

/// A progress bar on a terminal; periodic log lines otherwise.
pub(crate) struct Progress {
    pub(crate) bar: Option<indicatif::ProgressBar>,
    pub(crate) last_log: std::time::Instant,
}

impl Progress {
    pub(crate) fn new(expected: Option<u64>, enabled: bool) -> Progress {
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

    pub(crate) fn update(&mut self, summary: &Summary) {
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

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Counts for the closing summary.
pub(crate) struct Summary {
    pub(crate) sites: u64,
    pub(crate) passed: u64,
    pub(crate) findings_sites: u64,
    pub(crate) inconclusive_sites: u64,
    pub(crate) per_notice: std::collections::BTreeMap<String, u64>,
    pub(crate) per_reason: std::collections::BTreeMap<&'static str, u64>,
    pub(crate) started: std::time::Instant,
    /// Findings not suppressed.
    pub(crate) counted_findings: u64,
    /// Findings not suppressed that are new or reopened (all of them without history).
    pub(crate) new_findings: u64,
    pub(crate) suppressed: u64,
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
    pub(crate) fn rate(&self) -> f64 {
        self.sites as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    pub(crate) fn add(&mut self, report: &SiteReport) {
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

    pub(crate) fn render(&self, skipped: u64) -> String {
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
