//! Principals' phone numbers: the subject principal's (SUBJ-08) and the site principal's
//! (NET-05).
//!
//! Only the format is checked: after removing a +86, 0086 or 86 country prefix and the usual
//! separators, the number must be a mainland mobile number as libphonenumber's CN metadata
//! defines it (icp-rules.md §5.3). Whether the line is live, and whose it is, only a phone
//! call can tell; the catalogue says so.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::codes;
use crate::finding::{Finding, Verdict};
use crate::inventory::FilingRecord;

use super::{fact, notice_severity};

/// libphonenumber's CN mobile pattern (python-phonenumbers 9.0.43, `region_CN.py`), anchored.
static MOBILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:1(?:610\d|740[0-5])\d{6}|1(?:[38]\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\d{8})$",
    )
    .expect("the mobile pattern is a valid regex")
});

/// The phone columns and the notice each raises.
const PHONE_COLUMNS: [(&str, &str); 2] = [
    ("principal_phone", codes::PRINCIPAL_PHONE),
    ("site_principal_phone", codes::SITE_PRINCIPAL_PHONE),
];

/// Why a number is not a mainland mobile number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneError {
    /// Nothing but separators.
    NoDigits,
    /// A character that is neither a digit nor a separator.
    NotDigit(char),
    /// Starts with 0: an area code, so a landline.
    Landline { area_code: String },
    /// Not 11 digits.
    Length(usize),
    /// 11 digits, but this prefix is no mobile segment.
    Segment(String),
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::NoDigits => write!(f, "no digits"),
            PhoneError::NotDigit(c) => write!(f, "contains {c:?}, not a digit"),
            PhoneError::Landline { area_code } => {
                write!(
                    f,
                    "a landline number (area code {area_code}), not a mobile number"
                )
            }
            PhoneError::Length(n) => write!(f, "{n} digits; a mobile number has 11"),
            PhoneError::Segment(prefix) => write!(f, "prefix {prefix} is not a mobile segment"),
        }
    }
}

/// Removes separators (whitespace, hyphens, parentheses, full-width ones too) and a country
/// prefix: +86 and 0086 always, a bare 86 only when 11 digits follow it.
pub fn normalise_phone(raw: &str) -> String {
    let separator = |c: char| c.is_whitespace() || "-()（）－".contains(c);
    let joined: String = raw.chars().filter(|&c| !separator(c)).collect();

    if let Some(rest) = joined
        .strip_prefix("+86")
        .or_else(|| joined.strip_prefix("0086"))
    {
        return rest.to_string();
    }
    match joined.strip_prefix("86") {
        Some(rest) if rest.chars().count() == 11 => rest.to_string(),
        _ => joined,
    }
}

/// Checks that `raw` is a mainland mobile number; returns the 11 digits.
pub fn check_mobile(raw: &str) -> Result<String, PhoneError> {
    let digits = normalise_phone(raw);
    if digits.is_empty() {
        return Err(PhoneError::NoDigits);
    }
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
        return Err(PhoneError::NotDigit(c));
    }

    if digits.starts_with('0') {
        return Err(PhoneError::Landline {
            area_code: area_code(&digits).to_string(),
        });
    }
    if digits.len() != 11 {
        return Err(PhoneError::Length(digits.len()));
    }
    if !MOBILE.is_match(&digits) {
        return Err(PhoneError::Segment(segment_prefix(&digits).to_string()));
    }
    Ok(digits)
}

/// A mainland area code: 0 and two digits for 010 and 020–029, 0 and three digits otherwise.
fn area_code(digits: &str) -> &str {
    let short = matches!(digits.get(1..2), Some("1" | "2"));
    let len = if short { 3 } else { 4 };
    digits.get(..len).unwrap_or(digits)
}

/// The shortest prefix that rules the number out, for evidence. The regex decides; this only
/// names the part at fault, following the pattern's branches (1610…, 1740[0-5]…, 1xy…).
fn segment_prefix(digits: &str) -> &str {
    let second_ok = matches!(
        digits.get(1..2),
        Some("3" | "4" | "5" | "6" | "7" | "8" | "9")
    );
    let len = match digits.get(..3) {
        _ if !digits.starts_with('1') => 1,
        _ if !second_ok => 2,
        Some("174") if digits.get(3..4) == Some("0") => 5,
        Some("161" | "174") => 4,
        _ => 3,
    };
    digits.get(..len).unwrap_or(digits)
}

pub(super) fn check(record: &FilingRecord) -> Verdict {
    let mut verdict = Verdict::default();
    for (column, code) in PHONE_COLUMNS {
        let Some(raw) = record.field(column) else {
            continue;
        };

        if let Err(error) = check_mobile(raw) {
            let evidence = format!("{raw}: {error}");
            let finding = Finding::new(code, notice_severity(code), fact(column, raw));
            verdict.finding(finding.evidence(evidence));
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_in_every_segment_pass() {
        let numbers = [
            "13800138000",
            "14512345678",
            "14712345678",
            "15012345678",
            "15912345678",
            "16212345678",
            "16512345678",
            "16712345678",
            "16101234567",
            "17001234567",
            "17401234567",
            "17405123456",
            "17812345678",
            "18012345678",
            "19112345678",
            "19912345678",
        ];
        for number in numbers {
            assert_eq!(check_mobile(number).as_deref(), Ok(number), "{number}");
        }
    }

    #[test]
    fn prefixes_and_separators_are_removed() {
        for raw in [
            "+86 138 0013 8000",
            "0086-138-0013-8000",
            "8613800138000",
            "(+86)138-0013-8000",
        ] {
            assert_eq!(check_mobile(raw).as_deref(), Ok("13800138000"), "{raw}");
        }
        assert_eq!(
            check_mobile("１３８ 0013 8000"),
            Err(PhoneError::NotDigit('１'))
        );
    }

    #[test]
    fn near_misses_say_what_is_wrong() {
        let error = |raw: &str| check_mobile(raw).unwrap_err().to_string();

        assert_eq!(error("1380013800"), "10 digits; a mobile number has 11");
        assert_eq!(error("138001380001"), "12 digits; a mobile number has 11");
        assert_eq!(error("12345678901"), "prefix 12 is not a mobile segment");
        assert_eq!(error("11012345678"), "prefix 11 is not a mobile segment");
        assert_eq!(error("14012345678"), "prefix 140 is not a mobile segment");
        assert_eq!(error("15412345678"), "prefix 154 is not a mobile segment");
        assert_eq!(error("16112345678"), "prefix 1611 is not a mobile segment");
        assert_eq!(error("17912345678"), "prefix 179 is not a mobile segment");
        assert_eq!(error("17411234567"), "prefix 1741 is not a mobile segment");
        assert_eq!(error("17406123456"), "prefix 17406 is not a mobile segment");
        assert_eq!(error("23800138000"), "prefix 2 is not a mobile segment");
        assert_eq!(
            error("010-6275 1234"),
            "a landline number (area code 010), not a mobile number"
        );
        assert_eq!(
            error("0755-8888 8888"),
            "a landline number (area code 0755), not a mobile number"
        );
        assert_eq!(error("138 0013 800x"), "contains 'x', not a digit");
        assert_eq!(error("--"), "no digits");
    }

    #[test]
    fn a_bare_86_is_kept_unless_eleven_digits_follow() {
        assert_eq!(normalise_phone("86123"), "86123");
        assert_eq!(check_mobile("8613800138000").as_deref(), Ok("13800138000"));
    }

    #[test]
    fn both_columns_raise_their_own_notice() {
        let fields = [
            ("principal_phone", "010-12345678"),
            ("site_principal_phone", "1380013800"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let verdict = check(&FilingRecord {
            fields,
            ..Default::default()
        });

        let codes: Vec<_> = verdict.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["SUBJ-08", "NET-05"]);
        assert_eq!(
            verdict.findings[1].evidence,
            "1380013800: 10 digits; a mobile number has 11"
        );
        assert_eq!(verdict.findings[1].fact, "site_principal_phone=1380013800");
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "1".repeat(100_000);
        for raw in ["+", "+86", "0", "\u{200b}", "电话", long.as_str()] {
            assert!(check_mobile(raw).is_err(), "{raw}");
        }
    }
}
