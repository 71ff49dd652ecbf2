//! The catalogue of rectification notices (整改通知), loaded from the TOML files in `findings/`.
//!
//! Each entry names one notice exactly as the provider titles it, with its group, severity,
//! how icp-audit detects it, and the causes and fixes in Chinese and English. The files are
//! embedded in the binary at build time; checks refer to entries by their stable `code`, and
//! the CLI's `findings` and `explain` commands are generated from this data alone.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::finding::Severity;

/// The TOML sources, one per notice group, embedded at build time.
const SOURCES: &[(&str, &str)] = &[
    (
        "findings/subject.toml",
        include_str!("../findings/subject.toml"),
    ),
    (
        "findings/internet.toml",
        include_str!("../findings/internet.toml"),
    ),
    (
        "findings/content.toml",
        include_str!("../findings/content.toml"),
    ),
    ("findings/app.toml", include_str!("../findings/app.toml")),
];

/// How a notice is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detection {
    /// Probing the site: DNS, HTTP and the page.
    Probe,
    /// The filing record alone (checksums, dates, formats).
    Record,
    /// A domain registry lookup (RDAP or WHOIS).
    Registry,
    /// Only a person can tell; listed so reports can say it was not automated.
    Manual,
}

impl Detection {
    /// The stable label printed in reports.
    pub fn label(self) -> &'static str {
        match self {
            Detection::Probe => "probe",
            Detection::Record => "record",
            Detection::Registry => "registry",
            Detection::Manual => "manual",
        }
    }
}

/// One rectification notice, or one variant (整改通知一 / 二) of a notice.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// Stable code, e.g. `NET-07a`; never reused for another notice.
    pub code: String,
    /// The notice title exactly as the provider names it.
    pub notice: String,
    /// The variant label (`整改通知一`, `整改通知二`) where the leaf has more than one notice.
    #[serde(default)]
    pub variant: Option<String>,
    /// The group the notice belongs to, e.g. `网站内容不合格`.
    pub group: String,
    pub severity: Severity,
    pub detection: Detection,
    pub gist_zh: String,
    pub gist_en: String,
    pub causes_zh: Vec<String>,
    pub causes_en: Vec<String>,
    pub fixes_zh: Vec<String>,
    pub fixes_en: Vec<String>,
    /// What icp-audit checks, or for manual notices what a person must check.
    pub check_zh: String,
    pub check_en: String,
    /// Reference tags from `icp-rules.md` that the entry rests on.
    #[serde(default)]
    pub sources: Vec<String>,
}

impl Notice {
    /// The fix in one line, Chinese first, as the report's `remediation` cell shows it.
    pub fn remediation(&self) -> String {
        format!(
            "{} / {}",
            self.fixes_zh.join("；"),
            self.fixes_en.join("; ")
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    notice: Vec<Notice>,
}

/// A problem in the catalogue's data files, found when they are loaded.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: code {code} appears twice")]
    DuplicateCode { file: String, code: String },
}

/// All notices, keyed by code.
#[derive(Debug, Clone)]
pub struct Catalogue {
    notices: BTreeMap<String, Notice>,
}

impl Catalogue {
    /// Parses TOML sources given as `(file name, text)` pairs.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Self, CatalogueError> {
        let mut notices = BTreeMap::new();
        for (file, text) in sources {
            let parsed: CatalogueFile =
                toml::from_str(text).map_err(|e| CatalogueError::Parse {
                    file: file.to_string(),
                    message: e.to_string(),
                })?;

            for notice in parsed.notice {
                let code = notice.code.clone();
                if notices.insert(code.clone(), notice).is_some() {
                    return Err(CatalogueError::DuplicateCode {
                        file: file.to_string(),
                        code,
                    });
                }
            }
        }
        Ok(Catalogue { notices })
    }

    /// The catalogue embedded in this build.
    pub fn embedded() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            Catalogue::from_sources(SOURCES).expect("the embedded catalogue is checked by tests")
        })
    }

    pub fn get(&self, code: &str) -> Option<&Notice> {
        self.notices.get(code)
    }

    /// Finds an entry by code (any letter case) or by the provider's notice title.
    ///
    /// A title shared by several variants returns the first variant.
    pub fn lookup(&self, code_or_title: &str) -> Option<&Notice> {
        let wanted = code_or_title.trim();
        if let Some(n) = self
            .notices
            .values()
            .find(|n| n.code.eq_ignore_ascii_case(wanted))
        {
            return Some(n);
        }
        self.notices.values().find(|n| n.notice == wanted)
    }

    /// Every notice, ordered by code.
    pub fn iter(&self) -> impl Iterator<Item = &Notice> {
        self.notices.values()
    }

    pub fn len(&self) -> usize {
        self.notices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notices.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;

    fn catalogue() -> Catalogue {
        Catalogue::from_sources(SOURCES).unwrap_or_else(|e| panic!("catalogue: {e}"))
    }

    fn blank_fields(n: &Notice) -> Vec<&'static str> {
        let texts = [
            ("notice", n.notice.as_str()),
            ("group", n.group.as_str()),
            ("gist_zh", n.gist_zh.as_str()),
            ("gist_en", n.gist_en.as_str()),
            ("check_zh", n.check_zh.as_str()),
            ("check_en", n.check_en.as_str()),
        ];
        let lists = [
            ("causes_zh", &n.causes_zh),
            ("causes_en", &n.causes_en),
            ("fixes_zh", &n.fixes_zh),
            ("fixes_en", &n.fixes_en),
        ];

        let blank_text = texts
            .iter()
            .filter(|(_, t)| t.trim().is_empty())
            .map(|(f, _)| *f);
        let blank_list = lists
            .iter()
            .filter(|(_, l)| l.is_empty() || l.iter().any(|t| t.trim().is_empty()))
            .map(|(f, _)| *f);
        blank_text.chain(blank_list).collect()
    }

    #[test]
    fn every_entry_has_text_in_both_languages() {
        let catalogue = catalogue();
        assert!(!catalogue.is_empty());

        for notice in catalogue.iter() {
            let blank = blank_fields(notice);
            assert!(blank.is_empty(), "{}: blank {blank:?}", notice.code);
        }
    }

    #[test]
    fn codes_are_unique_across_files() {
        let mut seen = std::collections::BTreeSet::new();
        for (file, text) in SOURCES {
            let parsed: CatalogueFile = toml::from_str(text).unwrap();
            for notice in parsed.notice {
                assert!(
                    seen.insert(notice.code.clone()),
                    "{file}: {} twice",
                    notice.code
                );
            }
        }
        assert_eq!(seen.len(), catalogue().len());
    }

    #[test]
    fn every_raised_code_is_catalogued_and_automated() {
        let catalogue = catalogue();
        for code in codes::ALL {
            let notice = catalogue
                .get(code)
                .unwrap_or_else(|| panic!("{code} not catalogued"));
            assert_ne!(
                notice.detection,
                Detection::Manual,
                "{code} is raised but marked manual"
            );
        }
    }

    #[test]
    fn variants_share_a_title_and_are_labelled() {
        let catalogue = catalogue();
        for notice in catalogue.iter() {
            let siblings = catalogue
                .iter()
                .filter(|n| n.notice == notice.notice)
                .count();
            assert_eq!(siblings > 1, notice.variant.is_some(), "{}", notice.code);
        }
    }

    #[test]
    fn reference_leaves_are_all_present() {
        let catalogue = catalogue();
        let subject = (1..=9).map(|i| format!("SUBJ-0{i}"));
        let internet = [
            "NET-01", "NET-02a", "NET-02b", "NET-03", "NET-04", "NET-05", "NET-06",
        ];
        let app = [
            "APP-01a", "APP-01b", "APP-02", "APP-03", "APP-04", "APP-05", "APP-06a", "APP-06b",
        ];
        let listed = internet.iter().chain(app.iter()).map(|c| c.to_string());

        for code in subject.chain(listed) {
            assert!(catalogue.get(&code).is_some(), "{code} missing");
        }
    }
}
