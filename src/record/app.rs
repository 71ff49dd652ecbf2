//! An App filing's own data: package name (APP-02), runtime platform (APP-03) and feature data,
//! the signature MD5 and public key (APP-04); and the App's domains, which the probe stage
//! resolves for APP-05.
//!
//! These are syntax checks: whether a well-formed package name or key is the App's real one
//! needs the installation package, which icp-audit never sees. A cell may list several values
//! (one per platform), separated by `;` or `,` (platforms also by `/` or `、`), and each is
//! judged on its own.

use std::fmt;

use crate::codes;
use crate::finding::{Finding, Verdict};
use crate::inventory::FilingRecord;

use super::{fact, notice_severity};

const PACKAGE_COLUMN: &str = "app_package";
const PLATFORM_COLUMN: &str = "app_platform";
const MD5_COLUMN: &str = "app_md5";
const PUBLIC_KEY_COLUMN: &str = "app_public_key";
const DOMAINS_COLUMN: &str = "app_domains";

/// Separators between the values of one cell (ASCII and full-width).
const LIST_SEPARATORS: [char; 4] = [';', ',', '；', '，'];

/// The operating systems a filing may name, by normalised spelling (lower case, no spaces).
const OPERATING_SYSTEMS: &[(&str, &str)] = &[
    ("android", "Android"),
    ("安卓", "Android"),
    ("ios", "iOS"),
    ("苹果", "iOS"),
    ("harmonyos", "HarmonyOS"),
    ("鸿蒙", "HarmonyOS"),
    ("openharmony", "HarmonyOS"),
    ("harmonyosnext", "HarmonyOS"),
    ("鸿蒙next", "HarmonyOS"),
    ("windows", "Windows"),
    ("macos", "macOS"),
    ("linux", "Linux"),
];

/// App stores that filings name by mistake as the platform, normalised the same way.
const APP_STORES: &[&str] = &[
    "华为应用市场",
    "华为应用商店",
    "appgallery",
    "huaweiappgallery",
    "荣耀应用市场",
    "appstore",
    "appleappstore",
    "苹果应用商店",
    "应用宝",
    "腾讯应用宝",
    "小米应用商店",
    "小米应用市场",
    "oppo软件商店",
    "oppo应用商店",
    "vivo应用商店",
    "魅族应用商店",
    "googleplay",
    "豌豆荚",
    "360手机助手",
    "百度手机助手",
    "酷安",
];

/// The App's domains, split on `;`, `,` and whitespace, blanks dropped, as written.
pub fn app_domains(record: &FilingRecord) -> Vec<String> {
    let Some(cell) = record.field(DOMAINS_COLUMN) else {
        return Vec::new();
    };
    cell.split(|c: char| LIST_SEPARATORS.contains(&c) || c.is_whitespace())
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

/// The non-blank values of a list cell, trimmed.
fn values(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(LIST_SEPARATORS)
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Why a package name is malformed; segments are counted from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageError {
    /// No dot: a package name needs at least two segments.
    OneSegment,
    /// Two dots in a row, or a dot at either end.
    EmptySegment { index: usize },
    /// A segment that does not start with a letter.
    BadStart {
        index: usize,
        segment: String,
        found: char,
    },
    /// A character other than a letter, digit, underscore or hyphen.
    BadChar {
        index: usize,
        segment: String,
        found: char,
    },
}

impl fmt::Display for PackageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PackageError::OneSegment => write!(
                f,
                "one segment; a package name needs at least two, as in com.example.app"
            ),
            PackageError::EmptySegment { index } => write!(f, "segment {index} is empty"),
            PackageError::BadStart {
                index,
                segment,
                found,
            } => {
                write!(
                    f,
                    "segment {index} {segment:?} starts with {found:?}, not a letter"
                )
            }
            PackageError::BadChar {
                index,
                segment,
                found,
            } => write!(
                f,
                "segment {index} {segment:?} contains {found:?}; only letters, digits, _ and - \
                 are allowed"
            ),
        }
    }
}

/// Checks Java package syntax, also allowing the hyphens of iOS bundle ids: at least two
/// dot-separated segments, each an ASCII letter followed by letters, digits, `_` or `-`.
pub fn check_package(name: &str) -> Result<(), PackageError> {
    let segments: Vec<&str> = name.split('.').collect();
    if segments.len() < 2 {
        return Err(PackageError::OneSegment);
    }

    for (i, segment) in segments.iter().enumerate() {
        check_segment(i + 1, segment)?;
    }
    Ok(())
}

fn check_segment(index: usize, segment: &str) -> Result<(), PackageError> {
    let mut chars = segment.chars();
    let Some(first) = chars.next() else {
        return Err(PackageError::EmptySegment { index });
    };
    let segment_owned = || segment.to_string();

    if !first.is_ascii_alphabetic() {
        return Err(PackageError::BadStart {
            index,
            segment: segment_owned(),
            found: first,
        });
    }
    let allowed = |c: &char| c.is_ascii_alphanumeric() || *c == '_' || *c == '-';
    match chars.find(|c| !allowed(c)) {
        Some(found) => Err(PackageError::BadChar {
            index,
            segment: segment_owned(),
            found,
        }),
        None => Ok(()),
    }
}

/// What a platform cell's value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// An operating system, by its canonical name.
    OperatingSystem(&'static str),
    /// An app store: the mistake APP-03 is about.
    AppStore,
    /// Neither, as far as icp-audit knows.
    Unknown,
}

/// Classifies one platform value, ignoring case and whitespace.
pub fn classify_platform(value: &str) -> Platform {
    let key: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();

    if let Some((_, name)) = OPERATING_SYSTEMS.iter().find(|(k, _)| *k == key) {
        return Platform::OperatingSystem(name);
    }
    if APP_STORES.contains(&key.as_str()) {
        return Platform::AppStore;
    }
    Platform::Unknown
}

/// Why a feature value (MD5 or public key) is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeatureError {
    /// A character that is not a hex digit (colons and whitespace are allowed and removed).
    NotHex(char),
    /// An MD5 with the wrong number of hex digits.
    Md5Length(usize),
    /// A public key whose size is outside 512–4096 bits.
    KeySize { hex_digits: usize, bits: usize },
}

impl fmt::Display for FeatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeatureError::NotHex(c) => write!(f, "contains {c:?}, not a hex digit"),
            FeatureError::Md5Length(n) => write!(f, "{n} hex digits; an MD5 has 32"),
            FeatureError::KeySize { hex_digits, bits } => write!(
                f,
                "{hex_digits} significant hex digits, a {bits}-bit number; an RSA modulus here \
                 has 512-4096 bits (128-1024 hex digits)"
            ),
        }
    }
}

/// The hex digits of a feature value, with colons and whitespace removed.
fn hex_digits(value: &str) -> Result<String, FeatureError> {
    let digits: String = value
        .chars()
        .filter(|&c| c != ':' && !c.is_whitespace())
        .collect();
    match digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        Some(c) => Err(FeatureError::NotHex(c)),
        None => Ok(digits),
    }
}

/// Checks an MD5 signature: 32 hex digits, any case, colons allowed (`AA:BB:…`).
pub fn check_md5(value: &str) -> Result<(), FeatureError> {
    let digits = hex_digits(value)?;
    if digits.len() != 32 {
        return Err(FeatureError::Md5Length(digits.len()));
    }
    Ok(())
}

/// Checks a public key given as the hex RSA modulus; returns its size in bits. Leading zeros
/// (the sign byte of a DER integer) do not count towards the size.
pub fn check_public_key(value: &str) -> Result<usize, FeatureError> {
    let digits = hex_digits(value)?;
    let significant = digits.trim_start_matches('0');

    let bits = bit_length(significant);
    if !(128..=1024).contains(&significant.len()) {
        return Err(FeatureError::KeySize {
            hex_digits: significant.len(),
            bits,
        });
    }
    Ok(bits)
}

/// The bit length of a hex number without leading zeros.
fn bit_length(hex: &str) -> usize {
    let Some(lead) = hex.chars().next().and_then(|c| c.to_digit(16)) else {
        return 0;
    };
    let lead_bits = (u32::BITS - lead.leading_zeros()) as usize;
    (hex.len() - 1) * 4 + lead_bits
}

pub(super) fn check(record: &FilingRecord) -> Verdict {
    let mut verdict = Verdict::default();
    check_packages(record, &mut verdict);
    check_platforms(record, &mut verdict);
    check_features(record, &mut verdict);
    verdict
}

fn check_packages(record: &FilingRecord, verdict: &mut Verdict) {
    let code = codes::APP_PACKAGE;
    let Some(cell) = record.field(PACKAGE_COLUMN) else {
        return;
    };

    for name in values(cell) {
        if let Err(error) = check_package(name) {
            let finding = Finding::new(code, notice_severity(code), fact(PACKAGE_COLUMN, name));
            verdict.finding(finding.evidence(format!("{name}: {error}")));
        }
    }
}

fn check_platforms(record: &FilingRecord, verdict: &mut Verdict) {
    let code = codes::APP_PLATFORM;
    let Some(cell) = record.field(PLATFORM_COLUMN) else {
        return;
    };

    let separator = |c: char| LIST_SEPARATORS.contains(&c) || c == '/' || c == '、';
    let platforms = cell
        .split(separator)
        .map(str::trim)
        .filter(|v| !v.is_empty());
    for value in platforms {
        let finding = Finding::new(code, notice_severity(code), fact(PLATFORM_COLUMN, value));
        match classify_platform(value) {
            Platform::OperatingSystem(_) => {}
            Platform::AppStore => verdict.finding(finding.evidence(format!(
                "{value:?} is an app store, not an operating system"
            ))),
            Platform::Unknown => verdict.finding(finding.likely().evidence(format!(
                "{value:?} is not an operating system (expected Android, iOS, HarmonyOS, \
                 Windows, macOS or Linux)"
            ))),
        }
    }
}

/// A check of one feature value.
type FeatureCheck = fn(&str) -> Result<(), FeatureError>;

fn check_features(record: &FilingRecord, verdict: &mut Verdict) {
    let code = codes::APP_FEATURES;
    let columns: [(&str, FeatureCheck); 2] = [
        (MD5_COLUMN, check_md5),
        (PUBLIC_KEY_COLUMN, |value| {
            check_public_key(value).map(|_| ())
        }),
    ];

    for (column, check) in columns {
        let Some(cell) = record.field(column) else {
            continue;
        };
        for value in values(cell) {
            if let Err(error) = check(value) {
                let finding = Finding::new(code, notice_severity(code), fact(column, value));
                verdict.finding(finding.evidence(format!("{column}: {error}")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Confidence;

    fn record(cells: &[(&str, &str)]) -> FilingRecord {
        let fields = cells
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FilingRecord {
            fields,
            ..Default::default()
        }
    }

    fn evidence(cells: &[(&str, &str)]) -> Vec<String> {
        check(&record(cells))
            .findings
            .into_iter()
            .map(|f| f.evidence)
            .collect()
    }

    #[test]
    fn package_names_and_bundle_ids_pass() {
        for name in [
            "com.example.app",
            "cn.gov.beijing_2",
            "com.Example.My-App",
            "a.b",
            "com.huawei.hmos.foo",
        ] {
            assert_eq!(check_package(name), Ok(()), "{name}");
        }
        let cells = [("app_package", "com.example.app; com.example.app-ios")];
        assert!(evidence(&cells).is_empty());
    }

    #[test]
    fn bad_package_names_name_the_segment() {
        let error = |name: &str| check_package(name).unwrap_err().to_string();

        assert_eq!(
            error("myapp"),
            "one segment; a package name needs at least two, as in com.example.app"
        );
        assert_eq!(error("com..app"), "segment 2 is empty");
        assert_eq!(error(".com.app"), "segment 1 is empty");
        assert_eq!(error("com.app."), "segment 3 is empty");
        assert_eq!(
            error("com.1app"),
            "segment 2 \"1app\" starts with '1', not a letter"
        );
        assert_eq!(
            error("com._app"),
            "segment 2 \"_app\" starts with '_', not a letter"
        );
        assert_eq!(
            error("com.my app"),
            "segment 2 \"my app\" contains ' '; only letters, digits, _ and - are allowed"
        );
        assert_eq!(
            error("com.应用.app"),
            "segment 2 \"应用\" starts with '应', not a letter"
        );
        assert_eq!(
            error("com.app$x"),
            "segment 2 \"app$x\" contains '$'; only letters, digits, _ and - are allowed"
        );
    }

    #[test]
    fn every_operating_system_is_accepted() {
        let spellings = [
            "Android",
            "android",
            "安卓",
            "iOS",
            "IOS",
            "苹果",
            "HarmonyOS",
            "鸿蒙",
            "OpenHarmony",
            "HarmonyOS NEXT",
            "harmonyos  next",
            "鸿蒙 NEXT",
            "Windows",
            "macOS",
            "MacOS",
            "Linux",
            " linux ",
        ];
        for spelling in spellings {
            assert!(
                matches!(classify_platform(spelling), Platform::OperatingSystem(_)),
                "{spelling}"
            );
        }
        assert!(evidence(&[("app_platform", "Android;iOS,鸿蒙；Windows/Linux、macOS")]).is_empty());
    }

    #[test]
    fn every_store_is_named_as_a_store() {
        let stores = [
            "华为应用市场",
            "AppGallery",
            "App Store",
            "苹果应用商店",
            "应用宝",
            "小米应用商店",
            "OPPO软件商店",
            "vivo应用商店",
            "Google Play",
            "豌豆荚",
            "360手机助手",
            "百度手机助手",
            "华为应用商店",
            "荣耀应用市场",
            "魅族应用商店",
            "酷安",
        ];
        for store in stores {
            assert_eq!(classify_platform(store), Platform::AppStore, "{store}");
            let findings = check(&record(&[("app_platform", store)])).findings;
            assert_eq!(findings[0].code, "APP-03");
            assert_eq!(findings[0].confidence, Confidence::Certain);
            assert!(
                findings[0]
                    .evidence
                    .ends_with("is an app store, not an operating system")
            );
        }
    }

    #[test]
    fn unknown_platforms_are_likely_findings() {
        let findings = check(&record(&[("app_platform", "Android; Symbian")])).findings;
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].confidence, Confidence::Likely);
        assert!(
            findings[0]
                .evidence
                .starts_with("\"Symbian\" is not an operating system")
        );
        assert_eq!(findings[0].fact, "app_platform=Symbian");

        for near_miss in ["Andriod", "iOS 17", "微信小程序"] {
            assert_eq!(
                classify_platform(near_miss),
                Platform::Unknown,
                "{near_miss}"
            );
        }
    }

    #[test]
    fn md5_forms() {
        let md5 = "0123456789abcdef0123456789ABCDEF";
        let colons: Vec<String> = md5
            .as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        assert_eq!(check_md5(md5), Ok(()));
        assert_eq!(check_md5(&colons.join(":")), Ok(()));

        assert_eq!(check_md5(&md5[1..]), Err(FeatureError::Md5Length(31)));
        assert_eq!(
            check_md5(&format!("{md5}0")),
            Err(FeatureError::Md5Length(33))
        );
        assert_eq!(
            check_md5("0123456789abcdeg0123456789abcdef"),
            Err(FeatureError::NotHex('g'))
        );
        assert_eq!(
            check_md5("0123456789abcdef0123456789abcde-"),
            Err(FeatureError::NotHex('-'))
        );
    }

    #[test]
    fn public_key_sizes() {
        assert_eq!(check_public_key(&"f".repeat(128)), Ok(512));
        assert_eq!(check_public_key(&"8".repeat(512)), Ok(2048));
        assert_eq!(
            check_public_key(&format!("00{}", "c".repeat(1024))),
            Ok(4096)
        );
        assert_eq!(check_public_key(&format!("1{}", "0".repeat(127))), Ok(509));

        let short = check_public_key(&"a".repeat(64)).unwrap_err();
        assert_eq!(
            short,
            FeatureError::KeySize {
                hex_digits: 64,
                bits: 256
            }
        );
        assert!(
            short
                .to_string()
                .starts_with("64 significant hex digits, a 256-bit number")
        );
        let long = check_public_key(&"1".repeat(1025)).unwrap_err();
        assert_eq!(
            long,
            FeatureError::KeySize {
                hex_digits: 1025,
                bits: 4097
            }
        );
        assert_eq!(
            check_public_key(&"f".repeat(127)),
            Err(FeatureError::KeySize {
                hex_digits: 127,
                bits: 508
            })
        );
        assert_eq!(
            check_public_key("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
            Err(FeatureError::NotHex('M'))
        );
        assert_eq!(
            check_public_key("0000"),
            Err(FeatureError::KeySize {
                hex_digits: 0,
                bits: 0
            })
        );
    }

    #[test]
    fn feature_findings_name_the_column() {
        let key = "ab:cd ".repeat(64);
        let cells = [("app_md5", "abc"), ("app_public_key", key.as_str())];
        let findings = check(&record(&cells)).findings;

        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "APP-04");
        assert_eq!(findings[0].evidence, "app_md5: 3 hex digits; an MD5 has 32");
    }

    #[test]
    fn domains_are_split_on_separators_and_whitespace() {
        let row = record(&[(
            "app_domains",
            " api.example.cn; cdn.example.cn,img.example.cn  static.example.cn；;",
        )]);
        assert_eq!(
            app_domains(&row),
            [
                "api.example.cn",
                "cdn.example.cn",
                "img.example.cn",
                "static.example.cn"
            ]
        );
        assert!(app_domains(&record(&[])).is_empty());
    }

    #[test]
    fn odd_input_never_panics() {
        let long = "é".repeat(50_000);
        let cells = ["", ";;;", "..", "\u{0}", "🙂.🙂", long.as_str()];
        for cell in cells {
            let row = record(&[
                ("app_package", cell),
                ("app_platform", cell),
                ("app_md5", cell),
                ("app_public_key", cell),
                ("app_domains", cell),
            ]);
            let _ = check(&row);
            let _ = app_domains(&row);
        }
    }
}
