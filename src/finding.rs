//! The outcomes of checks: findings (the site is at fault) and inconclusive results (the
//! auditor could not tell), kept apart everywhere.
//!
//! Checks produce these from evidence; the report turns them into rows. A finding carries the
//! catalogue code of its notice, the evidence a person can verify, and the `fact` at fault,
//! which together with the domain and code identifies the same problem run after run.

use serde::{Deserialize, Serialize};

/// How urgent a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// How sure the check is that the notice applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The evidence shows the fault directly.
    Certain,
    /// A strong signal, not proof (a default web-server page, a checksum that does not compute).
    Likely,
}

impl Confidence {
    pub fn label(self) -> &'static str {
        match self {
            Confidence::Certain => "certain",
            Confidence::Likely => "likely",
        }
    }
}

/// One problem found at a site or in its filing record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Catalogue code of the notice, e.g. `WEB-04`.
    pub code: String,
    /// Severity of this finding; lower than the notice's for "expiring soon".
    pub severity: Severity,
    pub confidence: Confidence,
    /// The thing at fault, stable across runs (an address, a column, a number).
    pub fact: String,
    /// What was seen, in words a person can verify or dispute.
    pub evidence: String,
    /// Where the finding stands in the history (`--history`).
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub tracking: Option<crate::history::Tracking>,
    /// The suppression that applies (`--suppressions`).
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub suppressed: Option<crate::suppress::SuppressionNote>,
}

impl Finding {
    pub fn new(code: &str, severity: Severity, fact: impl Into<String>) -> Self {
        Finding {
            code: code.to_string(),
            severity,
            confidence: Confidence::Certain,
            fact: fact.into(),
            evidence: String::new(),
            tracking: None,
            suppressed: None,
        }
    }

    pub fn evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = evidence.into();
        self
    }

    pub fn likely(mut self) -> Self {
        self.confidence = Confidence::Likely;
        self
    }
}

/// Why a check could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The resolver did not answer in time, after retries.
    DnsTimeout,
    /// The resolver answered SERVFAIL.
    DnsServfail,
    /// The resolver answered REFUSED.
    DnsRefused,
    /// Another resolver failure (malformed answer, no usable transport).
    DnsFailure,
    /// The site's addresses are in private or reserved space and `--allow-private` is off.
    AddressNotAllowed,
    /// The inventory row's domain is not a usable host name.
    InvalidDomain,
    /// A column the check needs is empty in this row.
    MissingValue,
    /// A cell could not be read (a date that is not a date).
    UnreadableCell,
    /// The inventory row itself could not be read.
    UnreadableRow,
    /// The row repeats an earlier one, which was audited instead.
    DuplicateRow,
    /// The domain registry could not be asked or did not answer.
    RegistryUnavailable,
    /// The page could not be fetched for a reason that says nothing about the site.
    FetchUnavailable,
    /// The page was fetched but its analysis ran out of time.
    AnalysisTimeout,
    /// Our own politeness limits kept the request from going out within the time budget.
    Throttled,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::DnsTimeout => "dns_timeout",
            Reason::DnsServfail => "dns_servfail",
            Reason::DnsRefused => "dns_refused",
            Reason::DnsFailure => "dns_failure",
            Reason::AddressNotAllowed => "address_not_allowed",
            Reason::InvalidDomain => "invalid_domain",
            Reason::MissingValue => "missing_value",
            Reason::UnreadableCell => "unreadable_cell",
            Reason::UnreadableRow => "unreadable_row",
            Reason::DuplicateRow => "duplicate_row",
            Reason::RegistryUnavailable => "registry_unavailable",
            Reason::FetchUnavailable => "fetch_unavailable",
            Reason::AnalysisTimeout => "analysis_timeout",
            Reason::Throttled => "throttled",
        }
    }
}

/// A check that could not decide, and why. Never reported as a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inconclusive {
    /// The check that could not run to a verdict, e.g. `dns`, `footer`, `entity_id`.
    pub check: String,
    pub reason: Reason,
    pub detail: String,
}

impl Inconclusive {
    pub fn new(check: &str, reason: Reason, detail: impl Into<String>) -> Self {
        Inconclusive {
            check: check.to_string(),
            reason,
            detail: detail.into(),
        }
    }
}

/// Findings and inconclusive checks gathered for one site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub findings: Vec<Finding>,
    pub inconclusive: Vec<Inconclusive>,
}

impl Verdict {
    pub fn extend(&mut self, other: Verdict) {
        self.findings.extend(other.findings);
        self.inconclusive.extend(other.inconclusive);
    }

    pub fn finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    pub fn inconclusive(&mut self, inconclusive: Inconclusive) {
        self.inconclusive.push(inconclusive);
    }

    /// The site's overall result.
    pub fn result(&self) -> SiteResult {
        if !self.findings.is_empty() {
            SiteResult::Finding
        } else if !self.inconclusive.is_empty() {
            SiteResult::Inconclusive
        } else {
            SiteResult::Pass
        }
    }
}

/// A site's overall result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteResult {
    Pass,
    Finding,
    Inconclusive,
}

impl SiteResult {
    pub fn label(self) -> &'static str {
        match self {
            SiteResult::Pass => "pass",
            SiteResult::Finding => "finding",
            SiteResult::Inconclusive => "inconclusive",
        }
    }
}
