//! The registry checks as a pure function of the filing record and the registry's evidence:
//! 域名过期 (NET-01) and 域名注册时间晚于备案时间 (NET-03).
//!
//! NET-01: the expiry date is the domain's last valid day, judged like certificate dates
//! (expired when before the audit date, "expiring soon" at low severity within the warning
//! window). A registry saying the domain does not exist is NET-01 too, as likely rather than
//! certain: the domain lapsed and was deleted, or was never registered under that name.
//! NET-03: the registry's creation date is later than the filing's approval date (`filed_on`),
//! so the domain was registered again after it was filed; the fix is to deregister and re-file.
//! A lookup that did not answer makes both checks inconclusive, and nothing else.

use std::str::FromStr;

use super::{RegistryEvidence, RegistryOutcome};

use crate::codes;
use crate::date::Date;
use crate::finding::{Finding, Inconclusive, Reason, Severity, Verdict};
use crate::inventory::FilingRecord;
use crate::record::dates::{ExpiryStatus, days, expiry_status};
use crate::record::notice_severity;

/// The name of the registry checks in inconclusive results.
pub const REGISTRY_CHECK: &str = "registry";
/// The inventory column holding the filing's approval date, `YYYY-MM-DD`.
pub const FILED_ON: &str = "filed_on";

/// Judges one site's filing record against the registry's answer for its domain.
pub fn registry_rule(
    record: &FilingRecord,
    evidence: &RegistryEvidence,
    as_of: Date,
    warn_days: u32,
) -> Verdict {
    let mut verdict = Verdict::default();
    let filed_on = match record.field(FILED_ON).map(Date::from_str) {
        None => None,
        Some(Ok(date)) => Some(date),
        Some(Err(error)) => {
            let detail = format!("{FILED_ON}: {error}");
            verdict.inconclusive(Inconclusive::new(FILED_ON, Reason::UnreadableCell, detail));
            None
        }
    };

    match evidence.outcome {
        RegistryOutcome::Found => {
            verdict.extend(expiry(evidence, as_of, warn_days));
            if let Some(filed_on) = filed_on {
                verdict.extend(registration(evidence, filed_on));
            }
        }
        RegistryOutcome::NotFound => verdict.finding(not_found(evidence)),
        _ => verdict.inconclusive(unavailable(evidence, evidence.outcome.label())),
    }
    verdict
}

/// NET-01 from the expiry date.
fn expiry(evidence: &RegistryEvidence, as_of: Date, warn_days: u32) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(expires) = evidence.expires else {
        verdict.inconclusive(unavailable(evidence, "the answer gives no expiry date"));
        return verdict;
    };
    let name = &evidence.registrable;
    let fact = format!("expires={expires}");

    match expiry_status(expires, as_of, warn_days) {
        ExpiryStatus::Valid => {}
        ExpiryStatus::Expired { days_ago } => {
            let text = format!(
                "{name} expired: its last valid day was {expires}, {} before the audit date \
                 {as_of} (source: {})",
                days(days_ago),
                evidence.source
            );
            let severity = notice_severity(codes::DOMAIN_EXPIRED);
            verdict.finding(Finding::new(codes::DOMAIN_EXPIRED, severity, fact).evidence(text));
        }
        ExpiryStatus::ExpiresSoon { days_left } => {
            let text = format!(
                "{name} expires soon: its last valid day is {expires}, {} left on {as_of} \
                 (warning window {}; source: {})",
                days(days_left),
                days(i64::from(warn_days)),
                evidence.source
            );
            let finding = Finding::new(codes::DOMAIN_EXPIRED, Severity::Low, fact);
            verdict.finding(finding.evidence(text));
        }
    }
    verdict
}

/// NET-03 from the creation date.
fn registration(evidence: &RegistryEvidence, filed_on: Date) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(registered) = evidence.registered else {
        verdict.inconclusive(unavailable(
            evidence,
            "the answer gives no registration date",
        ));
        return verdict;
    };
    if registered <= filed_on {
        return verdict;
    }

    let text = format!(
        "{} was registered on {registered}, after the filing was approved on {filed_on} \
         ({FILED_ON}); it was probably registered again after lapsing, so the filing must be \
         deregistered and filed again (source: {})",
        evidence.registrable, evidence.source
    );
    let code = codes::DOMAIN_REGISTERED_AFTER_FILING;
    let fact = format!("registered={registered}");
    verdict.finding(Finding::new(code, notice_severity(code), fact).evidence(text));
    verdict
}

/// NET-01 when the registry has no record of the domain.
fn not_found(evidence: &RegistryEvidence) -> Finding {
    let text = format!(
        "the registry has no record of {}: the domain lapsed and was deleted, or was never \
         registered ({}; source: {})",
        evidence.registrable, evidence.detail, evidence.source
    );
    let severity = notice_severity(codes::DOMAIN_EXPIRED);
    Finding::new(codes::DOMAIN_EXPIRED, severity, "registry=not_found")
        .evidence(text)
        .likely()
}

fn unavailable(evidence: &RegistryEvidence, why: &str) -> Inconclusive {
    let detail = format!(
        "{} ({why}): {} (source: {})",
        evidence.registrable, evidence.detail, evidence.source
    );
    Inconclusive::new(REGISTRY_CHECK, Reason::RegistryUnavailable, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Confidence;
    use crate::registry::RegistrySource;

    fn as_of() -> Date {
        Date::new(2026, 3, 15).unwrap()
    }

    fn record(filed_on: Option<&str>) -> FilingRecord {
        let fields = filed_on
            .map(|f| (FILED_ON.to_string(), f.to_string()))
            .into_iter()
            .collect();
        FilingRecord {
            line: 2,
            domain: "www.example.cn".into(),
            fields,
            ..Default::default()
        }
    }

    fn found(registered: &str, expires: &str) -> RegistryEvidence {
        RegistryEvidence {
            registrable: "example.cn".into(),
            source: RegistrySource::Whois {
                server: "whois.cnnic.cn:43".into(),
            },
            registered: registered.parse().ok(),
            expires: expires.parse().ok(),
            outcome: RegistryOutcome::Found,
            detail: "WHOIS record".into(),
        }
    }

    fn judge(filed_on: Option<&str>, evidence: &RegistryEvidence) -> Verdict {
        registry_rule(&record(filed_on), evidence, as_of(), 30)
    }

    #[test]
    fn a_healthy_domain_passes() {
        let evidence = found("2003-03-17", "2030-03-17");
        assert_eq!(judge(Some("2019-05-01"), &evidence), Verdict::default());
        assert_eq!(judge(None, &evidence), Verdict::default());
        let same_day = found("2019-05-01", "2030-03-17");
        assert_eq!(judge(Some("2019-05-01"), &same_day), Verdict::default());
    }

    #[test]
    fn expired_yesterday_is_net_01_high() {
        let verdict = judge(None, &found("2003-03-17", "2026-03-14"));
        let finding = &verdict.findings[0];
        assert_eq!(finding.code, "NET-01");
        assert_eq!(finding.severity, Severity::High);
        assert_eq!(finding.fact, "expires=2026-03-14");
        assert!(
            finding.evidence.contains("1 day before"),
            "{}",
            finding.evidence
        );
        assert!(finding.evidence.contains("WHOIS whois.cnnic.cn:43"));
    }

    #[test]
    fn expiring_today_or_within_the_window_is_low() {
        for (expires, left) in [
            ("2026-03-15", "0 days left"),
            ("2026-04-14", "30 days left"),
        ] {
            let verdict = judge(None, &found("2003-03-17", expires));
            assert_eq!(verdict.findings[0].code, "NET-01");
            assert_eq!(verdict.findings[0].severity, Severity::Low);
            assert!(verdict.findings[0].evidence.contains(left));
        }
        assert_eq!(
            judge(None, &found("2003-03-17", "2026-04-15")),
            Verdict::default()
        );
    }

    #[test]
    fn registered_after_filing_is_net_03() {
        let verdict = judge(Some("2019-05-01"), &found("2019-05-02", "2030-03-17"));
        let finding = &verdict.findings[0];
        assert_eq!(finding.code, "NET-03");
        assert_eq!(finding.confidence, Confidence::Certain);
        assert_eq!(finding.fact, "registered=2019-05-02");
        assert!(finding.evidence.contains("2019-05-01"));
        assert!(finding.evidence.contains("deregistered and filed again"));
    }

    #[test]
    fn not_found_is_a_likely_net_01() {
        let evidence = RegistryEvidence {
            outcome: RegistryOutcome::NotFound,
            registered: None,
            expires: None,
            ..found("", "")
        };
        let verdict = judge(Some("2019-05-01"), &evidence);
        assert_eq!(verdict.findings.len(), 1);
        assert_eq!(verdict.findings[0].code, "NET-01");
        assert_eq!(verdict.findings[0].confidence, Confidence::Likely);
        assert!(verdict.inconclusive.is_empty());
    }

    #[test]
    fn failed_lookups_are_one_inconclusive() {
        for outcome in [
            RegistryOutcome::RateLimited,
            RegistryOutcome::Refused,
            RegistryOutcome::Timeout,
            RegistryOutcome::Malformed,
            RegistryOutcome::NoService,
            RegistryOutcome::Failed,
        ] {
            let evidence = RegistryEvidence {
                outcome,
                ..found("", "")
            };
            let verdict = judge(Some("2019-05-01"), &evidence);
            assert!(verdict.findings.is_empty());
            assert_eq!(verdict.inconclusive.len(), 1, "{outcome:?}");
            assert_eq!(verdict.inconclusive[0].check, "registry");
            assert_eq!(verdict.inconclusive[0].reason, Reason::RegistryUnavailable);
        }
    }

    #[test]
    fn unreadable_filed_on_is_inconclusive_and_expiry_still_checked() {
        let verdict = judge(Some("2019-13-01"), &found("2020-01-01", "2026-01-01"));
        assert_eq!(verdict.inconclusive[0].check, "filed_on");
        assert_eq!(verdict.inconclusive[0].reason, Reason::UnreadableCell);
        assert_eq!(verdict.findings.len(), 1);
        assert_eq!(verdict.findings[0].code, "NET-01");

        let blank = judge(Some("  "), &found("2020-01-01", "2030-01-01"));
        assert_eq!(blank, Verdict::default());
    }

    #[test]
    fn missing_dates_make_only_their_check_inconclusive() {
        let no_expiry = found("2020-01-01", "");
        let verdict = judge(Some("2019-05-01"), &no_expiry);
        assert_eq!(verdict.findings[0].code, "NET-03");
        assert_eq!(verdict.inconclusive.len(), 1);

        let no_creation = found("", "2030-01-01");
        assert_eq!(judge(None, &no_creation), Verdict::default());
        assert_eq!(
            judge(Some("2019-05-01"), &no_creation).inconclusive.len(),
            1
        );
    }
}
