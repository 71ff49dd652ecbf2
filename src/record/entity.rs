//! SUBJ-03 证件号码错误: the subject's certificate number, judged by the holder's type.
//!
//! Reads `entity_type` and `entity_id`. An individual (个人) must file an 18-character resident
//! ID number; any other type is an organisation and must file an 18-character unified social
//! credit code, not an old organisation code or registration number. With `entity_type` blank,
//! the holder is inferred from the number's shape, and the evidence says so. Lower-case ASCII
//! letters are read as capitals; the algorithms themselves live in [`super::ids`].

use crate::codes;
use crate::date::Date;
use crate::finding::{Confidence, Finding, Verdict};
use crate::inventory::FilingRecord;

use super::ids::{self, birth_date, is_registration_authority, legacy_number};
use super::{RecordContext, fact, notice_severity};

const TYPE_COLUMN: &str = "entity_type";
const ID_COLUMN: &str = "entity_id";

/// Who holds the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Individual,
    Organisation,
}

impl Holder {
    /// 个人 is an individual; so are the English words, for inventories kept in English.
    fn from_type(entity_type: &str) -> Holder {
        let individual = ["个人", "individual", "personal"];
        if individual
            .iter()
            .any(|t| entity_type.eq_ignore_ascii_case(t))
        {
            Holder::Individual
        } else {
            Holder::Organisation
        }
    }

    fn label(self) -> &'static str {
        match self {
            Holder::Individual => "an individual",
            Holder::Organisation => "an organisation",
        }
    }
}

/// What is wrong with a number, as evidence and how sure we are.
struct Problem {
    evidence: String,
    confidence: Confidence,
}

pub(super) fn check(record: &FilingRecord, ctx: &RecordContext) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(raw) = record.field(ID_COLUMN) else {
        return verdict;
    };
    let number = raw.to_ascii_uppercase();

    let problem = match record.field(TYPE_COLUMN) {
        Some(entity_type) => judge_declared(&number, entity_type, ctx.as_of),
        None => judge_inferred(&number, ctx.as_of),
    };

    if let Some(problem) = problem {
        let code = codes::ENTITY_ID_WRONG;
        let mut finding = Finding::new(code, notice_severity(code), fact(ID_COLUMN, raw))
            .evidence(problem.evidence);
        finding.confidence = problem.confidence;
        verdict.finding(finding);
    }
    verdict
}

fn judge_declared(number: &str, entity_type: &str, as_of: Date) -> Option<Problem> {
    let problem = judge(number, Holder::from_type(entity_type), as_of)?;
    Some(Problem {
        evidence: format!("{entity_type} number {number}: {}", problem.evidence),
        ..problem
    })
}

fn judge_inferred(number: &str, as_of: Date) -> Option<Problem> {
    let Some((holder, shape)) = infer_holder(number) else {
        let length = number.chars().count();
        let evidence = format!(
            "entity_type is blank and {number} ({length} characters) is neither a unified social \
             credit code nor a resident ID number"
        );
        return Some(Problem {
            evidence,
            confidence: Confidence::Certain,
        });
    };

    let problem = judge(number, holder, as_of)?;
    let evidence = format!(
        "entity_type is blank; {number} taken as {} from its shape ({shape}): {}",
        holder.label(),
        problem.evidence
    );
    Some(Problem {
        evidence,
        ..problem
    })
}

fn judge(number: &str, holder: Holder, as_of: Date) -> Option<Problem> {
    match holder {
        Holder::Organisation => ids::check_organisation_number(number)
            .err()
            .map(|e| Problem {
                evidence: e.to_string(),
                confidence: e.confidence(),
            }),
        Holder::Individual => ids::check_resident_id(number, as_of)
            .err()
            .map(|e| Problem {
                evidence: e.to_string(),
                confidence: Confidence::Certain,
            }),
    }
}

/// Guesses the holder from the number alone, with the shape that decided it.
///
/// 18 digits (or 17 and an X) with a real birth date in positions 7–14 read as a resident ID;
/// other 18-character numbers with letters or a registration-authority code first read as a
/// credit code; the old organisation forms read as an organisation.
fn infer_holder(number: &str) -> Option<(Holder, &'static str)> {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() == 18 && looks_like_resident_id(&chars) {
        return Some((
            Holder::Individual,
            "18 digits with a birth date in positions 7-14",
        ));
    }

    let has_letters = chars.iter().any(char::is_ascii_alphabetic);
    let authority_first = chars.first().is_some_and(|&c| is_registration_authority(c));
    if chars.len() == 18 && (has_letters || authority_first) {
        let shape = "18 characters led by a registration-authority code or holding letters";
        return Some((Holder::Organisation, shape));
    }

    legacy_number(number).map(|_| (Holder::Organisation, "an old organisation number"))
}

fn looks_like_resident_id(chars: &[char]) -> bool {
    let digits_first = chars.iter().take(17).all(char::is_ascii_digit);
    let last_ok = chars
        .get(17)
        .is_some_and(|&c| c.is_ascii_digit() || c == 'X');
    let birth: String = chars.get(6..14).unwrap_or_default().iter().collect();
    digits_first && last_ok && birth_date(&birth).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(cells: &[(&str, &str)]) -> Verdict {
        let fields = cells
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let record = FilingRecord {
            fields,
            ..Default::default()
        };
        let ctx = RecordContext {
            as_of: Date::new(2026, 3, 15).unwrap(),
            warn_days: 30,
        };
        check(&record, &ctx)
    }

    fn only_finding(cells: &[(&str, &str)]) -> Finding {
        let verdict = verdict(cells);
        assert_eq!(verdict.findings.len(), 1, "{verdict:?}");
        verdict.findings.into_iter().next().unwrap()
    }

    #[test]
    fn valid_numbers_for_their_holder_pass() {
        let cases = [
            ("企业", "91350200776049653A"),
            ("事业单位", "91110108551385082Q"),
            ("基金会", "91110108551385082q"),
            ("个人", "11010519491231002X"),
            ("个人", "440524188001010014"),
        ];
        for (entity_type, id) in cases {
            let cells = [("entity_type", entity_type), ("entity_id", id)];
            assert_eq!(verdict(&cells), Verdict::default(), "{entity_type} {id}");
        }
    }

    #[test]
    fn organisation_with_old_numbers_is_certain() {
        for (id, form) in [
            ("77604965-3", "9-character"),
            ("776049653", "9-character"),
            ("110108000000016", "15-digit"),
        ] {
            let finding = only_finding(&[("entity_type", "企业"), ("entity_id", id)]);
            assert_eq!(finding.code, "SUBJ-03");
            assert_eq!(finding.confidence, Confidence::Certain);
            assert!(finding.evidence.contains(form), "{}", finding.evidence);
            assert!(
                finding.evidence.contains("since 2015-10-01"),
                "{}",
                finding.evidence
            );
        }
    }

    #[test]
    fn organisation_checksum_failure_is_likely() {
        let finding = only_finding(&[("entity_type", "企业"), ("entity_id", "91350200776049653B")]);
        assert_eq!(finding.confidence, Confidence::Likely);
        assert_eq!(
            finding.evidence,
            "企业 number 91350200776049653B: check character is B, expected A"
        );
        assert_eq!(finding.fact, "entity_id=91350200776049653B");
    }

    #[test]
    fn a_resident_id_filed_for_an_organisation_is_wrong() {
        let finding = only_finding(&[
            ("entity_type", "社会团体"),
            ("entity_id", "11010519491231002X"),
        ]);
        assert!(
            finding.evidence.contains("check character"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn individual_with_bad_numbers() {
        let finding = only_finding(&[("entity_type", "个人"), ("entity_id", "110105194913310026")]);
        assert_eq!(
            finding.evidence,
            "个人 number 110105194913310026: birth date 19491331 is not a date"
        );
        assert_eq!(finding.confidence, Confidence::Certain);

        let finding = only_finding(&[("entity_type", "个人"), ("entity_id", "91350200776049653A")]);
        assert!(
            finding
                .evidence
                .ends_with("position 18 is 'A', not a digit or X")
        );
    }

    #[test]
    fn holder_is_inferred_when_the_type_is_blank() {
        assert_eq!(
            verdict(&[("entity_id", "11010519491231002X")]),
            Verdict::default()
        );
        assert_eq!(
            verdict(&[("entity_id", "91350200776049653A")]),
            Verdict::default()
        );

        let finding = only_finding(&[("entity_id", "110105194912310021")]);
        assert!(
            finding
                .evidence
                .starts_with("entity_type is blank; 110105194912310021 taken as an individual")
        );
        assert!(
            finding
                .evidence
                .ends_with("check character is 1, expected X")
        );

        let finding = only_finding(&[("entity_id", "91350200776049653B")]);
        assert!(
            finding.evidence.contains("taken as an organisation"),
            "{}",
            finding.evidence
        );
        assert_eq!(finding.confidence, Confidence::Likely);
    }

    #[test]
    fn unrecognisable_number_without_type_is_a_finding() {
        let finding = only_finding(&[("entity_id", "证件号码")]);
        assert!(
            finding.evidence.contains("(4 characters) is neither"),
            "{}",
            finding.evidence
        );
        let finding = only_finding(&[("entity_id", "012345679913012345")]);
        assert!(
            finding.evidence.contains("is neither"),
            "{}",
            finding.evidence
        );
    }

    #[test]
    fn type_without_number_is_not_checked() {
        assert_eq!(verdict(&[("entity_type", "企业")]), Verdict::default());
    }
}
