//! Checks a filing record allows on its own, without the network (issue 3).
//!
//! Every check here is a pure function of one [`FilingRecord`] and the audit date: certificate
//! numbers and their check characters (SUBJ-03), expiry dates (SUBJ-07, NET-06, NET-04),
//! principals' phone numbers (SUBJ-08, NET-05) and the App's feature data (APP-02, APP-03,
//! APP-04). A check runs only when its column is present and non-blank; a blank cell is never
//! a finding. A cell that cannot be read becomes an [`Inconclusive`](crate::finding::Inconclusive)
//! for that check alone, and the row's other checks go on.

pub mod app;
pub mod dates;
mod entity;
pub mod ids;
pub mod phone;

pub use app::app_domains;

use crate::catalogue::Catalogue;
use crate::date::Date;
use crate::finding::{Severity, Verdict};
use crate::inventory::FilingRecord;

/// What the record checks need besides the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordContext {
    /// The audit date: expiry and birth dates are judged against it.
    pub as_of: Date,
    /// A date this many days or fewer after `as_of` is reported as "expiring soon".
    pub warn_days: u32,
}

/// Runs every record check on one row.
pub fn check_record(record: &FilingRecord, ctx: &RecordContext) -> Verdict {
    let mut verdict = Verdict::default();
    verdict.extend(entity::check(record, ctx));
    verdict.extend(dates::check(record, ctx));
    verdict.extend(phone::check(record));
    verdict.extend(app::check(record));
    verdict
}

/// The severity the catalogue gives a notice; the catalogue test proves every code a check
/// raises is there, so the fallback is never used in a tested build.
pub(crate) fn notice_severity(code: &str) -> Severity {
    Catalogue::embedded()
        .get(code)
        .map_or(Severity::Medium, |notice| notice.severity)
}

/// The stable `fact` of a record finding: the column and the value at fault.
fn fact(column: &str, value: &str) -> String {
    format!("{column}={value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Reason;

    fn record(cells: &[(&str, &str)]) -> FilingRecord {
        let fields = cells
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FilingRecord {
            line: 2,
            domain: "example.cn".into(),
            fields,
            ..Default::default()
        }
    }

    fn ctx() -> RecordContext {
        RecordContext {
            as_of: Date::new(2026, 3, 15).unwrap(),
            warn_days: 30,
        }
    }

    #[test]
    fn a_clean_record_passes() {
        let row = record(&[
            ("entity_type", "企业"),
            ("entity_id", "91110108551385082Q"),
            ("principal_id_expires", "长期"),
            ("site_principal_id_expires", "2030-01-01"),
            ("approval_expires", "2029-12-31"),
            ("principal_phone", "+86 138-0013-8000"),
            ("site_principal_phone", "13900139000"),
            ("app_package", "com.example.app"),
            ("app_platform", "Android; iOS"),
            ("app_md5", "0123456789abcdef0123456789ABCDEF"),
            ("app_public_key", &"a1".repeat(128)),
        ]);
        assert_eq!(check_record(&row, &ctx()), Verdict::default());
    }

    #[test]
    fn blank_cells_raise_nothing() {
        let columns = [
            "entity_type",
            "entity_id",
            "principal_id_expires",
            "principal_phone",
        ];
        let row = record(&columns.map(|c| (c, "  ")));
        assert_eq!(check_record(&row, &ctx()), Verdict::default());
    }

    #[test]
    fn an_unreadable_date_does_not_stop_the_other_checks() {
        let row = record(&[
            ("principal_id_expires", "soon"),
            ("principal_phone", "12345"),
        ]);
        let verdict = check_record(&row, &ctx());

        assert_eq!(verdict.inconclusive.len(), 1);
        assert_eq!(verdict.inconclusive[0].reason, Reason::UnreadableCell);
        assert_eq!(verdict.findings.len(), 1);
        assert_eq!(verdict.findings[0].code, "SUBJ-08");
    }

    #[test]
    fn findings_carry_the_catalogue_severity() {
        let row = record(&[
            ("entity_id", "77604965-3"),
            ("approval_expires", "2020-01-01"),
        ]);
        let verdict = check_record(&row, &ctx());

        let codes: Vec<_> = verdict
            .findings
            .iter()
            .map(|f| (f.code.as_str(), f.severity))
            .collect();
        assert_eq!(
            codes,
            [("SUBJ-03", Severity::High), ("NET-04", Severity::Medium)]
        );
    }
}
