//! The check-character algorithms of Chinese certificate numbers, as pure functions:
//! the unified social credit code (GB 32100-2015), the organisation code nested in it
//! (GB 11714), and the resident ID number (GB 11643-1999, ISO 7064 MOD 11-2).
//!
//! Nothing here knows about filing records or findings; the `entity` module turns these
//! results into SUBJ-03 findings. Every function walks `char`s, so any text, however long or
//! non-ASCII, gets an answer rather than a panic. Error messages are the evidence a report
//! prints, so they name the position and the character at fault.

use std::fmt;

use crate::date::Date;
use crate::finding::Confidence;

/// The 31 characters of a unified social credit code, in value order (no I, O, S, V, Z).
const CREDIT_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1–17 of a credit code: 3^(i-1) mod 31.
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Weights of positions 1–8 of an organisation code (GB 11714).
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Weights of positions 1–17 of a resident ID number: 2^(18-i) mod 11.
const RESIDENT_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The resident ID check character for each value of the weighted sum mod 11.
const RESIDENT_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// Registration-authority codes, the first character of a credit code (GB 32100 annex):
/// 1 staffing, 2 foreign affairs, 3 justice, 4 culture, 5 civil affairs, 6 tourism,
/// 7 religion, 8 trade unions, 9 market regulation, A military staffing, N agriculture,
/// Y other.
const REGISTRATION_AUTHORITIES: &str = "123456789ANY";

/// Province-level codes, the first two digits of an address code. From GB/T 2260 (mainland
/// provinces, 71 Taiwan, 81 Hong Kong, 82 Macao), plus 83, which the residence permits of
/// Taiwan residents carry since 2018 (the residence-permit rules, not GB/T 2260).
const PROVINCE_CODES: [u8; 35] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

/// The value of a credit-code character (0–30), or `None` outside the alphabet.
pub fn credit_value(c: char) -> Option<u32> {
    CREDIT_ALPHABET
        .chars()
        .position(|a| a == c)
        .map(|i| i as u32)
}

/// The value of an organisation-code character: digits 0–9, letters A–Z 10–35.
pub fn org_value(c: char) -> Option<u32> {
    c.to_digit(36).filter(|_| !c.is_ascii_lowercase())
}

/// Whether `c` is a registration-authority code that may open a credit code.
pub fn is_registration_authority(c: char) -> bool {
    REGISTRATION_AUTHORITIES.contains(c)
}

/// Whether `code` is a province-level code of GB/T 2260 (mainland provinces, 71, 81, 82 and 83).
pub fn is_province_code(code: u8) -> bool {
    PROVINCE_CODES.contains(&code)
}

/// The check character of a credit code from its first 17 characters, or `None` when the
/// text is not 17 characters of the code alphabet.
pub fn credit_check_char(first17: &str) -> Option<char> {
    let values: Vec<u32> = first17.chars().map(credit_value).collect::<Option<_>>()?;
    if values.len() != CREDIT_WEIGHTS.len() {
        return None;
    }

    let sum: u32 = values.iter().zip(CREDIT_WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    CREDIT_ALPHABET.chars().nth(check as usize)
}

/// The check character of an organisation code from its first 8 characters, or `None` when
/// the text is not 8 digits or capital letters.
pub fn org_check_char(first8: &str) -> Option<char> {
    let values: Vec<u32> = first8.chars().map(org_value).collect::<Option<_>>()?;
    if values.len() != ORG_WEIGHTS.len() {
        return None;
    }

    let sum: u32 = values.iter().zip(ORG_WEIGHTS).map(|(v, w)| v * w).sum();
    match 11 - sum % 11 {
        10 => Some('X'),
        11 => Some('0'),
        n => char::from_digit(n, 10),
    }
}

/// The check character of a resident ID number from its first 17 digits, or `None` when the
/// text is not 17 ASCII digits.
pub fn resident_check_char(first17: &str) -> Option<char> {
    let digits: Vec<u32> = first17.chars().map(ascii_digit).collect::<Option<_>>()?;
    if digits.len() != RESIDENT_WEIGHTS.len() {
        return None;
    }

    let sum: u32 = digits
        .iter()
        .zip(RESIDENT_WEIGHTS)
        .map(|(d, w)| d * w)
        .sum();
    RESIDENT_CHECK.get((sum % 11) as usize).copied()
}

fn ascii_digit(c: char) -> Option<u32> {
    c.is_ascii_digit().then(|| c.to_digit(10)).flatten()
}

/// Why a number is not a valid unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditCodeError {
    /// Not 18 characters long.
    Length(usize),
    /// A character outside the 31-character alphabet, at a 1-based position.
    Alphabet { position: usize, found: char },
    /// The final check character does not compute.
    CheckChar { found: char, expected: char },
    /// The organisation code in positions 9–17 has a check character that does not compute.
    NestedCheckChar { found: char, expected: char },
}

impl CreditCodeError {
    /// Checksum failures are strong signals, not proof: a public validator hard-codes an
    /// issued code whose check character does not compute (icp-rules.md §5.2).
    pub fn confidence(&self) -> Confidence {
        match self {
            CreditCodeError::CheckChar { .. } | CreditCodeError::NestedCheckChar { .. } => {
                Confidence::Likely
            }
            CreditCodeError::Length(_) | CreditCodeError::Alphabet { .. } => Confidence::Certain,
        }
    }
}

impl fmt::Display for CreditCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreditCodeError::Length(n) => {
                write!(f, "{n} characters; a unified social credit code has 18")
            }
            CreditCodeError::Alphabet { position, found } => write!(
                f,
                "position {position} is {found:?}, not in the code alphabet \
                 (0-9 and A-Z without I, O, S, V, Z)"
            ),
            CreditCodeError::CheckChar { found, expected } => {
                write!(f, "check character is {found}, expected {expected}")
            }
            CreditCodeError::NestedCheckChar { found, expected } => write!(
                f,
                "the organisation code in positions 9-17 has check character {found}, \
                 expected {expected}"
            ),
        }
    }
}

/// Checks a unified social credit code: length, alphabet, check character, then the nested
/// organisation-code check character.
pub fn check_credit_code(code: &str) -> Result<(), CreditCodeError> {
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(CreditCodeError::Length(chars.len()));
    }

    let stray = chars.iter().position(|&c| credit_value(c).is_none());
    if let Some(index) = stray {
        let found = chars[index];
        return Err(CreditCodeError::Alphabet {
            position: index + 1,
            found,
        });
    }

    let first17: String = chars[..17].iter().collect();
    let expected = credit_check_char(&first17).unwrap_or('?');
    if chars[17] != expected {
        return Err(CreditCodeError::CheckChar {
            found: chars[17],
            expected,
        });
    }

    let org_body: String = chars[8..16].iter().collect();
    let expected = org_check_char(&org_body).unwrap_or('?');
    if chars[16] != expected {
        return Err(CreditCodeError::NestedCheckChar {
            found: chars[16],
            expected,
        });
    }
    Ok(())
}

/// An organisation number in a form that predates the unified social credit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyNumber {
    /// A 9-character organisation code, `XXXXXXXX-X` or without the hyphen.
    OrganisationCode,
    /// A 15-digit business registration number.
    RegistrationNumber,
}

impl fmt::Display for LegacyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            LegacyNumber::OrganisationCode => "a 9-character organisation code",
            LegacyNumber::RegistrationNumber => "a 15-digit business registration number",
        };
        write!(
            f,
            "{what}; since 2015-10-01 the filing must carry the 18-character unified social \
             credit code"
        )
    }
}

/// Recognises the old organisation numbers by their shape (their own check characters are
/// not verified: they are wrong for a filing either way).
pub fn legacy_number(number: &str) -> Option<LegacyNumber> {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() == 15 && chars.iter().all(char::is_ascii_digit) {
        return Some(LegacyNumber::RegistrationNumber);
    }

    let body: Vec<char> = chars.iter().copied().filter(|&c| c != '-').collect();
    let hyphens = chars.len() - body.len();
    let hyphen_in_place = hyphens == 0 || (hyphens == 1 && chars.get(8) == Some(&'-'));
    let shaped = body.len() == 9 && body.iter().all(|&c| org_value(c).is_some());
    (hyphen_in_place && shaped).then_some(LegacyNumber::OrganisationCode)
}

/// Why a number is not a valid organisation number for a filing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganisationNumberError {
    Legacy(LegacyNumber),
    CreditCode(CreditCodeError),
}

impl OrganisationNumberError {
    pub fn confidence(&self) -> Confidence {
        match self {
            OrganisationNumberError::Legacy(_) => Confidence::Certain,
            OrganisationNumberError::CreditCode(e) => e.confidence(),
        }
    }
}

impl fmt::Display for OrganisationNumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrganisationNumberError::Legacy(legacy) => legacy.fmt(f),
            OrganisationNumberError::CreditCode(e) => e.fmt(f),
        }
    }
}

/// Checks the number an organisation files under: an old form, else a credit code.
pub fn check_organisation_number(number: &str) -> Result<(), OrganisationNumberError> {
    if let Some(legacy) = legacy_number(number) {
        return Err(OrganisationNumberError::Legacy(legacy));
    }
    check_credit_code(number).map_err(OrganisationNumberError::CreditCode)
}

/// Why a number is not a valid resident ID number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidentIdError {
    /// A 15-digit first-generation number, without check character.
    FirstGeneration,
    /// Not 18 characters long.
    Length(usize),
    /// A character that is not a digit (positions 1–17) or a digit or X (position 18).
    NotDigit { position: usize, found: char },
    /// The first two digits are not a province-level code.
    Province(String),
    /// Positions 7–14 are not a calendar date.
    BirthDate(String),
    /// The birth date is after the audit date.
    BornAfter { birth: Date, as_of: Date },
    /// The check character does not compute.
    CheckChar { found: char, expected: char },
}

impl fmt::Display for ResidentIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResidentIdError::FirstGeneration => write!(
                f,
                "a 15-digit first-generation ID number; the filing must carry the 18-character \
                 resident ID number"
            ),
            ResidentIdError::Length(n) => {
                write!(f, "{n} characters; a resident ID number has 18")
            }
            ResidentIdError::NotDigit {
                position: 18,
                found,
            } => {
                write!(f, "position 18 is {found:?}, not a digit or X")
            }
            ResidentIdError::NotDigit { position, found } => {
                write!(f, "position {position} is {found:?}, not a digit")
            }
            ResidentIdError::Province(code) => {
                write!(
                    f,
                    "address code starts with {code}, not a province code of GB/T 2260"
                )
            }
            ResidentIdError::BirthDate(digits) => write!(f, "birth date {digits} is not a date"),
            ResidentIdError::BornAfter { birth, as_of } => {
                write!(f, "birth date {birth} is after the audit date {as_of}")
            }
            ResidentIdError::CheckChar { found, expected } => {
                write!(f, "check character is {found}, expected {expected}")
            }
        }
    }
}

/// Checks a resident ID number: length, digits, province, birth date (a real day, not after
/// `as_of`), then the check character. A lower-case `x` is read as `X`.
pub fn check_resident_id(id: &str, as_of: Date) -> Result<(), ResidentIdError> {
    let chars: Vec<char> = id.chars().map(|c| c.to_ascii_uppercase()).collect();
    if chars.len() == 15 && chars.iter().all(char::is_ascii_digit) {
        return Err(ResidentIdError::FirstGeneration);
    }
    if chars.len() != 18 {
        return Err(ResidentIdError::Length(chars.len()));
    }
    check_resident_digits(&chars)?;

    let province: String = chars[..2].iter().collect();
    if !province.parse().is_ok_and(is_province_code) {
        return Err(ResidentIdError::Province(province));
    }
    check_birth_date(&chars, as_of)?;

    let first17: String = chars[..17].iter().collect();
    let expected = resident_check_char(&first17).unwrap_or('?');
    if chars[17] != expected {
        return Err(ResidentIdError::CheckChar {
            found: chars[17],
            expected,
        });
    }
    Ok(())
}

fn check_resident_digits(chars: &[char]) -> Result<(), ResidentIdError> {
    let bad = chars.iter().enumerate().find(|&(i, &c)| {
        let last_x = i == 17 && c == 'X';
        !c.is_ascii_digit() && !last_x
    });
    match bad {
        Some((i, &found)) => Err(ResidentIdError::NotDigit {
            position: i + 1,
            found,
        }),
        None => Ok(()),
    }
}

fn check_birth_date(chars: &[char], as_of: Date) -> Result<(), ResidentIdError> {
    let digits: String = chars.get(6..14).unwrap_or_default().iter().collect();
    let Some(birth) = birth_date(&digits) else {
        return Err(ResidentIdError::BirthDate(digits));
    };

    if birth > as_of {
        return Err(ResidentIdError::BornAfter { birth, as_of });
    }
    Ok(())
}

/// Reads `YYYYMMDD` (8 ASCII digits) as a date, or `None` when it is no calendar day.
pub fn birth_date(digits: &str) -> Option<Date> {
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }

    let year = digits.get(..4)?.parse().ok()?;
    let month = digits.get(4..6)?.parse().ok()?;
    let day = digits.get(6..8)?.parse().ok()?;
    Date::new(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn as_of() -> Date {
        Date::new(2026, 3, 15).unwrap()
    }

    /// Credit-code check computed independently: weights as powers of 3, values by `find`.
    fn credit_check_by_formula(first17: &str) -> char {
        let mut weight = 1u32;
        let mut sum = 0;
        for c in first17.chars() {
            sum += CREDIT_ALPHABET.find(c).unwrap() as u32 * weight;
            weight = weight * 3 % 31;
        }
        let value = (31 - sum % 31) % 31;
        CREDIT_ALPHABET.as_bytes()[value as usize] as char
    }

    /// Resident-ID check computed independently: weights as powers of 2 mod 11.
    fn resident_check_by_formula(first17: &str) -> char {
        let sum: u32 = first17
            .bytes()
            .enumerate()
            .map(|(i, b)| u32::from(b - b'0') * (2u32.pow(17 - i as u32) % 11))
            .sum();
        b"10X98765432"[(sum % 11) as usize] as char
    }

    /// Organisation-code check computed from the GB 11714 rule, written out.
    fn org_check_by_formula(first8: &str) -> char {
        let weights = [3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = first8
            .chars()
            .zip(weights)
            .map(|(c, w)| c.to_digit(36).unwrap() * w)
            .sum();
        match 11 - sum % 11 {
            10 => 'X',
            11 => '0',
            n => char::from_digit(n, 10).unwrap(),
        }
    }

    /// A valid credit code built from a 16-character head: nested check, then final check.
    fn build_credit_code(head16: &str) -> String {
        let org_body = &head16[8..16];
        let with_org = format!("{head16}{}", org_check_by_formula(org_body));
        format!("{with_org}{}", credit_check_by_formula(&with_org))
    }

    fn build_resident_id(first17: &str) -> String {
        format!("{first17}{}", resident_check_by_formula(first17))
    }

    #[test]
    fn weight_tables_match_their_formulas() {
        let mut weight = 1;
        for w in CREDIT_WEIGHTS {
            assert_eq!(w, weight);
            weight = weight * 3 % 31;
        }
        for (i, w) in RESIDENT_WEIGHTS.iter().enumerate() {
            assert_eq!(*w, 2u32.pow(17 - i as u32) % 11);
        }
    }

    #[test]
    fn worked_credit_codes_are_valid() {
        for code in ["91350200776049653A", "91110108551385082Q"] {
            assert_eq!(check_credit_code(code), Ok(()), "{code}");
            assert_eq!(
                credit_check_char(&code[..17]),
                Some(credit_check_by_formula(&code[..17]))
            );
        }
    }

    #[test]
    fn built_credit_codes_are_valid() {
        for head in [
            "9144030071526726",
            "12100000400001XY",
            "5311000050000PQR",
            "Y1110000MA01ABCD",
        ] {
            let code = build_credit_code(head);
            assert_eq!(check_credit_code(&code), Ok(()), "{code}");
        }
    }

    #[test]
    fn wrong_credit_check_character_is_likely() {
        let err = check_credit_code("91350200776049653B").unwrap_err();
        assert_eq!(err.to_string(), "check character is B, expected A");
        assert_eq!(err.confidence(), Confidence::Likely);
    }

    #[test]
    fn wrong_nested_check_is_reported_even_when_the_last_character_fits() {
        let head17 = "91350200776049654";
        let code = format!("{head17}{}", credit_check_by_formula(head17));
        let err = check_credit_code(&code).unwrap_err();
        assert_eq!(
            err,
            CreditCodeError::NestedCheckChar {
                found: '4',
                expected: '3'
            }
        );
        assert_eq!(err.confidence(), Confidence::Likely);
    }

    #[test]
    fn credit_code_alphabet_and_length_are_certain() {
        let err = check_credit_code("9135O200776049653A").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("position 5 is 'O', not in the code alphabet")
        );
        assert_eq!(err.confidence(), Confidence::Certain);

        assert_eq!(
            check_credit_code("9135020077604965"),
            Err(CreditCodeError::Length(16))
        );
        let lower = check_credit_code("91350200776049653a").unwrap_err();
        assert_eq!(
            lower,
            CreditCodeError::Alphabet {
                position: 18,
                found: 'a'
            }
        );
    }

    #[test]
    fn every_excluded_letter_is_rejected() {
        for letter in ['I', 'O', 'S', 'V', 'Z'] {
            assert_eq!(credit_value(letter), None, "{letter}");
        }
        assert_eq!(credit_value('Y'), Some(30));
    }

    #[test]
    fn legacy_numbers_are_recognised() {
        let org = "77604965";
        let with_check = format!("{org}{}", org_check_by_formula(org));
        assert_eq!(
            legacy_number(&with_check),
            Some(LegacyNumber::OrganisationCode)
        );
        assert_eq!(
            legacy_number(&format!("{org}-3")),
            Some(LegacyNumber::OrganisationCode)
        );
        assert_eq!(
            legacy_number("110108000000016"),
            Some(LegacyNumber::RegistrationNumber)
        );

        assert_eq!(legacy_number("7760-49653"), None);
        assert_eq!(legacy_number("776049653A"), None);
        assert_eq!(legacy_number("11010800000001"), None);
    }

    #[test]
    fn legacy_number_evidence_names_the_form() {
        let err = check_organisation_number("77604965-3").unwrap_err();
        assert_eq!(
            err.to_string(),
            "a 9-character organisation code; since 2015-10-01 the filing must carry the \
             18-character unified social credit code"
        );
        assert_eq!(err.confidence(), Confidence::Certain);
    }

    #[test]
    fn worked_resident_ids_are_valid() {
        for id in [
            "11010519491231002X",
            "440524188001010014",
            "11010519491231002x",
        ] {
            assert_eq!(check_resident_id(id, as_of()), Ok(()), "{id}");
        }
        assert_eq!(resident_check_char("11010519491231002"), Some('X'));
    }

    #[test]
    fn built_resident_ids_are_valid_across_provinces() {
        for province in PROVINCE_CODES {
            let digits = format!("{province}0102200002291234");
            let id = build_resident_id(&digits[..17]);
            assert_eq!(check_resident_id(&id, as_of()), Ok(()), "{id}");
        }
    }

    #[test]
    fn resident_id_errors_say_what_is_wrong() {
        let check = |id: &str| check_resident_id(id, as_of()).unwrap_err().to_string();

        assert_eq!(
            check("110105194912310021"),
            "check character is 1, expected X"
        );
        assert_eq!(
            check("110105194913310026"),
            "birth date 19491331 is not a date"
        );
        assert_eq!(
            check("99010519491231002X"),
            "address code starts with 99, not a province code of GB/T 2260"
        );
        assert_eq!(
            check("1101051949123100Y2"),
            "position 17 is 'Y', not a digit"
        );
        assert_eq!(
            check("11010519491231002Y"),
            "position 18 is 'Y', not a digit or X"
        );
        assert_eq!(
            check("1101051949123100"),
            "16 characters; a resident ID number has 18"
        );
        assert!(check("110105491231002").starts_with("a 15-digit first-generation ID number"));
    }

    #[test]
    fn birth_dates_around_the_audit_date() {
        let today = build_resident_id("11010520260315123");
        assert_eq!(check_resident_id(&today, as_of()), Ok(()));

        let tomorrow = build_resident_id("11010520260316123");
        let err = check_resident_id(&tomorrow, as_of()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "birth date 2026-03-16 is after the audit date 2026-03-15"
        );

        let not_leap = build_resident_id("11010519000229123");
        assert_eq!(
            check_resident_id(&not_leap, as_of()),
            Err(ResidentIdError::BirthDate("19000229".into()))
        );
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "9".repeat(10_000);
        let inputs = [
            "",
            "统一社会信用代码统一社会信用代码统一",
            "９１３５０２００７７６０４９６５３Ａ",
            "\u{0}",
            &long,
        ];
        for input in inputs {
            assert!(check_credit_code(input).is_err());
            assert!(check_resident_id(input, as_of()).is_err());
            assert!(check_organisation_number(input).is_err());
            let _ = legacy_number(input);
        }
        assert_eq!(credit_check_char("短"), None);
        assert_eq!(org_check_char("1234567é"), None);
        assert_eq!(resident_check_char("1101051949123100٣"), None);
        assert_eq!(birth_date("1949١231"), None);
    }
}
