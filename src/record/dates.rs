//! Expiry dates in the filing record: the subject principal's ID card (SUBJ-07), the site
//! principal's ID card (NET-06) and the pre-approval document (NET-04).
//!
//! A cell holds `YYYY-MM-DD` or 长期 (long-term, never expires). The date written on a
//! certificate is its last valid day: a certificate expiring on the audit date is still valid
//! that day, and has expired when the date is before the audit date. Expired certificates get
//! the notice's severity; ones within the warning window (0 to `warn_days` days left, both
//! ends included) get a low-severity "expiring soon" finding under the same code. A cell that
//! is neither is inconclusive for that column only.

use std::str::FromStr;

use crate::codes;
use crate::date::Date;
use crate::finding::{Finding, Inconclusive, Reason, Severity, Verdict};
use crate::inventory::FilingRecord;

use super::{RecordContext, fact, notice_severity};

/// The words that mean "never expires": 长期 as the filing system writes it, and the
/// 长期有效 printed on ID cards.
const LONG_TERM: [&str; 2] = ["长期", "长期有效"];

/// A column holding an expiry date, and the notice it raises.
struct ExpiryColumn {
    column: &'static str,
    code: &'static str,
    /// What expires, as the evidence names it.
    document: &'static str,
}

const EXPIRY_COLUMNS: [ExpiryColumn; 3] = [
    ExpiryColumn {
        column: "principal_id_expires",
        code: codes::PRINCIPAL_ID_EXPIRED,
        document: "the subject principal's ID card",
    },
    ExpiryColumn {
        column: "site_principal_id_expires",
        code: codes::SITE_PRINCIPAL_ID_EXPIRED,
        document: "the site principal's ID card",
    },
    ExpiryColumn {
        column: "approval_expires",
        code: codes::APPROVAL_EXPIRED,
        document: "the pre-approval document",
    },
];

/// How long a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// 长期: it never expires.
    LongTerm,
    /// Valid up to and including this day.
    LastDay(Date),
}

/// Reads an expiry cell, or `None` when it is neither a date nor 长期.
pub fn parse_validity(cell: &str) -> Option<Validity> {
    let cell = cell.trim();
    if LONG_TERM.contains(&cell) {
        return Some(Validity::LongTerm);
    }
    Date::from_str(cell).ok().map(Validity::LastDay)
}

/// Where a last valid day stands relative to the audit date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStatus {
    /// More than the warning window away.
    Valid,
    /// Still valid, with this many days left (0 = the audit date is the last valid day).
    ExpiresSoon { days_left: i64 },
    /// Expired this many days before the audit date (at least 1).
    Expired { days_ago: i64 },
}

/// Compares a last valid day with the audit date.
pub fn expiry_status(last_day: Date, as_of: Date, warn_days: u32) -> ExpiryStatus {
    let days_left = as_of.days_until(last_day);
    if days_left < 0 {
        ExpiryStatus::Expired {
            days_ago: -days_left,
        }
    } else if days_left <= i64::from(warn_days) {
        ExpiryStatus::ExpiresSoon { days_left }
    } else {
        ExpiryStatus::Valid
    }
}

pub(super) fn check(record: &FilingRecord, ctx: &RecordContext) -> Verdict {
    let mut verdict = Verdict::default();
    for column in &EXPIRY_COLUMNS {
        let Some(cell) = record.field(column.column) else {
            continue;
        };

        match parse_validity(cell) {
            None => verdict.inconclusive(unreadable(column.column, cell)),
            Some(Validity::LongTerm) => {}
            Some(Validity::LastDay(day)) => {
                if let Some(finding) = judge(column, day, ctx) {
                    verdict.finding(finding);
                }
            }
        }
    }
    verdict
}

fn unreadable(column: &str, cell: &str) -> Inconclusive {
    let detail = format!("{column}: expected YYYY-MM-DD or 长期, got {cell:?}");
    Inconclusive::new(column, Reason::UnreadableCell, detail)
}

fn judge(column: &ExpiryColumn, day: Date, ctx: &RecordContext) -> Option<Finding> {
    let fact = fact(column.column, &day.to_string());
    let document = column.document;

    match expiry_status(day, ctx.as_of, ctx.warn_days) {
        ExpiryStatus::Valid => None,
        ExpiryStatus::Expired { days_ago } => {
            let evidence = format!(
                "{document} expired: its last valid day was {day}, {} before the audit date {}",
                days(days_ago),
                ctx.as_of
            );
            let severity = notice_severity(column.code);
            Some(Finding::new(column.code, severity, fact).evidence(evidence))
        }
        ExpiryStatus::ExpiresSoon { days_left } => {
            let evidence = format!(
                "{document} expires soon: its last valid day is {day}, {} left on {} \
                 (warning window {})",
                days(days_left),
                ctx.as_of,
                days(i64::from(ctx.warn_days))
            );
            Some(Finding::new(column.code, Severity::Low, fact).evidence(evidence))
        }
    }
}

/// `1 day`, `3 days`.
pub(crate) fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_of() -> Date {
        Date::new(2026, 3, 15).unwrap()
    }

    fn verdict(column: &str, cell: &str, warn_days: u32) -> Verdict {
        let fields = [(column.to_string(), cell.to_string())]
            .into_iter()
            .collect();
        let record = FilingRecord {
            fields,
            ..Default::default()
        };
        check(
            &record,
            &RecordContext {
                as_of: as_of(),
                warn_days,
            },
        )
    }

    fn day_offset(offset: i64) -> String {
        Date::from_days(as_of().days() + offset).to_string()
    }

    #[test]
    fn status_around_the_audit_date() {
        let status =
            |offset: i64| expiry_status(Date::from_days(as_of().days() + offset), as_of(), 30);

        assert_eq!(status(-1), ExpiryStatus::Expired { days_ago: 1 });
        assert_eq!(status(0), ExpiryStatus::ExpiresSoon { days_left: 0 });
        assert_eq!(status(7), ExpiryStatus::ExpiresSoon { days_left: 7 });
        assert_eq!(status(30), ExpiryStatus::ExpiresSoon { days_left: 30 });
        assert_eq!(status(31), ExpiryStatus::Valid);
        assert_eq!(
            expiry_status(as_of(), as_of(), 0),
            ExpiryStatus::ExpiresSoon { days_left: 0 }
        );
        assert_eq!(
            expiry_status(as_of(), Date::new(2026, 3, 14).unwrap(), 0),
            ExpiryStatus::Valid
        );
    }

    #[test]
    fn expired_yesterday_has_the_notice_severity() {
        let verdict = verdict("principal_id_expires", &day_offset(-1), 30);
        let finding = &verdict.findings[0];

        assert_eq!(finding.code, "SUBJ-07");
        assert_eq!(finding.severity, Severity::Medium);
        assert_eq!(finding.fact, "principal_id_expires=2026-03-14");
        assert_eq!(
            finding.evidence,
            "the subject principal's ID card expired: its last valid day was 2026-03-14, 1 day \
             before the audit date 2026-03-15"
        );
    }

    #[test]
    fn expiring_today_and_within_the_window_is_low() {
        for (offset, left) in [(0, "0 days left"), (1, "1 day left"), (30, "30 days left")] {
            let verdict = verdict("site_principal_id_expires", &day_offset(offset), 30);
            let finding = &verdict.findings[0];
            assert_eq!(finding.code, "NET-06");
            assert_eq!(finding.severity, Severity::Low);
            assert!(finding.evidence.contains(left), "{}", finding.evidence);
        }
    }

    #[test]
    fn beyond_the_window_and_long_term_pass() {
        assert_eq!(
            verdict("approval_expires", &day_offset(31), 30),
            Verdict::default()
        );
        assert_eq!(
            verdict("approval_expires", &day_offset(1), 0),
            Verdict::default()
        );
        assert_eq!(verdict("approval_expires", "长期", 30), Verdict::default());
        assert_eq!(
            verdict("approval_expires", " 长期有效 ", 30),
            Verdict::default()
        );
    }

    #[test]
    fn expired_approval_raises_net_04() {
        let verdict = verdict("approval_expires", "2001/2/3", 30);
        assert_eq!(verdict.findings[0].code, "NET-04");
        assert_eq!(verdict.findings[0].fact, "approval_expires=2001-02-03");
    }

    #[test]
    fn unreadable_cells_are_inconclusive() {
        for cell in ["2026-02-30", "next year", "20260315", "长期？", "永久"] {
            let verdict = verdict("principal_id_expires", cell, 30);
            assert!(verdict.findings.is_empty(), "{cell}");

            let inconclusive = &verdict.inconclusive[0];
            assert_eq!(inconclusive.check, "principal_id_expires");
            assert_eq!(inconclusive.reason, Reason::UnreadableCell);
            let expected =
                format!("principal_id_expires: expected YYYY-MM-DD or 长期, got {cell:?}");
            assert_eq!(inconclusive.detail, expected);
        }
    }

    #[test]
    fn odd_cells_never_panic() {
        let long = "9".repeat(100_000);
        for cell in [
            "-",
            "--",
            "9999999999-01-01",
            "２０２６-０３-１５",
            long.as_str(),
        ] {
            let _ = verdict("approval_expires", cell, u32::MAX);
        }
    }
}
