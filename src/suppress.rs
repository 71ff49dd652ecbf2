//! Suppressions: findings accepted on purpose, by whom, why and until when.
//!
//! A TOML file of `[[suppress]]` tables, each matching a domain (exact, or `*.` for any
//! subdomain) and a notice (by title or code). A suppressed finding is still reported, marked
//! with the reason, and does not count for the exit status. An expired suppression no longer
//! applies; one that matched nothing in a run is stale. Both are named in the summary.

use std::path::Path;

use serde::Deserialize;

use crate::date::Date;
use crate::domain::Domain;

/// One accepted finding pattern, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    pub domain: String,
    #[serde(default)]
    pub notice: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    pub reason: String,
    pub approved_by: String,
    pub expires: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuppressionFile {
    #[serde(default)]
    suppress: Vec<Suppression>,
}

/// A problem in the suppressions file, naming the entry and field.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: suppression {index} ({domain}): {message}")]
    Entry {
        path: String,
        index: usize,
        domain: String,
        message: String,
    },
}

/// A loaded, checked suppression.
#[derive(Debug, Clone)]
struct Rule {
    entry: Suppression,
    expires: Date,
    /// The notice title, resolved from `code` when only a code was given.
    codes: Vec<String>,
}

/// All suppressions of a run, with what each matched.
#[derive(Debug, Clone, Default)]
pub struct Suppressions {
    rules: Vec<Rule>,
    matched: Vec<u64>,
}

/// The suppression that applies to a finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SuppressionNote {
    pub reason: String,
    pub approved_by: String,
    pub expires: String,
}

impl Suppressions {
    /// Loads a suppressions file; `catalogue_codes` maps notice titles to codes.
    pub fn load(
        path: &Path,
        catalogue: &crate::catalogue::Catalogue,
    ) -> Result<Suppressions, SuppressionError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| SuppressionError::Io {
            path: name.clone(),
            error,
        })?;
        let file: SuppressionFile = toml::from_str(&text).map_err(|e| SuppressionError::Parse {
            path: name.clone(),
            message: e.to_string(),
        })?;

        let mut rules = Vec::new();
        for (i, entry) in file.suppress.into_iter().enumerate() {
            let fail = |message: String| SuppressionError::Entry {
                path: name.clone(),
                index: i + 1,
                domain: entry.domain.clone(),
                message,
            };
            let expires: Date = entry
                .expires
                .parse()
                .map_err(|e| fail(format!("field expires: {e}")))?;
            let codes = rule_codes(&entry, catalogue).map_err(fail)?;
            rules.push(Rule {
                entry,
                expires,
                codes,
            });
        }
        let matched = vec![0; rules.len()];
        Ok(Suppressions { rules, matched })
    }

    /// The suppression for a finding, if one applies on `as_of`; counts the match.
    pub fn apply(&mut self, domain: &str, code: &str, as_of: Date) -> Option<SuppressionNote> {
        let index = self.rules.iter().position(|r| {
            as_of <= r.expires
                && r.codes.iter().any(|c| c == code)
                && domain_matches(&r.entry.domain, domain)
        })?;
        self.matched[index] += 1;
        let entry = &self.rules[index].entry;
        Some(SuppressionNote {
            reason: entry.reason.clone(),
            approved_by: entry.approved_by.clone(),
            expires: entry.expires.clone(),
        })
    }

    /// Lines for the summary: expired, expiring soon, and stale suppressions.
    pub fn summary(&self, as_of: Date, warn_days: u32) -> Vec<String> {
        let mut lines = Vec::new();
        for (rule, &matched) in self.rules.iter().zip(&self.matched) {
            let what = format!("{} {}", rule.entry.domain, rule.codes.join("/"));
            let left = as_of.days_until(rule.expires);
            if left < 0 {
                lines.push(format!(
                    "suppression expired on {}, no longer applies: {what}",
                    rule.expires
                ));
            } else if left <= i64::from(warn_days) {
                lines.push(format!(
                    "suppression expires in {left} days ({}): {what}",
                    rule.expires
                ));
            }
            if matched == 0 && left >= 0 {
                lines.push(format!("stale suppression, matched nothing: {what}"));
            }
        }
        lines
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

fn rule_codes(
    entry: &Suppression,
    catalogue: &crate::catalogue::Catalogue,
) -> Result<Vec<String>, String> {
    match (&entry.code, &entry.notice) {
        (Some(code), _) => {
            let notice = catalogue
                .get(code)
                .ok_or_else(|| format!("field code: {code:?} is not in the catalogue"))?;
            Ok(vec![notice.code.clone()])
        }
        (None, Some(title)) => {
            let codes: Vec<String> = catalogue
                .iter()
                .filter(|n| n.notice == *title)
                .map(|n| n.code.clone())
                .collect();
            if codes.is_empty() {
                return Err(format!(
                    "field notice: {title:?} is not a notice title in the catalogue"
                ));
            }
            Ok(codes)
        }
        (None, None) => Err("needs a notice or a code".to_string()),
    }
}

/// `example.cn` matches itself; `*.example.cn` matches any subdomain (not the apex).
fn domain_matches(pattern: &str, domain: &str) -> bool {
    let normalise = |d: &str| {
        Domain::parse(d)
            .map(|d| d.to_string())
            .unwrap_or_else(|_| d.trim().to_lowercase())
    };
    let domain = normalise(domain);
    match pattern.trim().strip_prefix("*.") {
        Some(suffix) => domain.ends_with(&format!(".{}", normalise(suffix))),
        None => normalise(pattern) == domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;

    fn load(text: &str) -> Result<Suppressions, SuppressionError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, text).unwrap();
        Suppressions::load(&path, Catalogue::embedded())
    }

    const FILE: &str = r#"
[[suppress]]
domain = "*.example.cn"
notice = "网站名称与备案信息不符"
reason = "brand rename filed, awaiting approval"
approved_by = "li.wei"
expires = "2026-12-20"

[[suppress]]
domain = "old.cn"
code = "NET-07a"
reason = "migration"
approved_by = "zhang.min"
expires = "2026-11-30"

[[suppress]]
domain = "never.cn"
code = "WEB-04"
reason = "x"
approved_by = "y"
expires = "2027-06-01"
"#;

    #[test]
    fn suppressions_match_by_domain_pattern_and_notice() {
        let mut s = load(FILE).unwrap();
        let today: Date = "2026-12-03".parse().unwrap();
        assert!(s.apply("shop.example.cn", "WEB-03", today).is_some());
        assert!(
            s.apply("example.cn", "WEB-03", today).is_none(),
            "*. does not match the apex"
        );
        assert!(s.apply("shop.example.cn", "WEB-04", today).is_none());
        assert!(s.apply("old.cn", "NET-07a", today).is_none(), "expired");

        let summary = s.summary(today, 30);
        assert!(
            summary.iter().any(|l| l.contains("expires in 17 days")),
            "{summary:?}"
        );
        assert!(
            summary.iter().any(|l| l.contains("expired on 2026-11-30")),
            "{summary:?}"
        );
        assert!(
            summary
                .iter()
                .any(|l| l.contains("stale") && l.contains("never.cn")),
            "{summary:?}"
        );
    }

    #[test]
    fn bad_entries_name_the_field() {
        let err = load("[[suppress]]\ndomain = \"a.cn\"\ncode = \"NOPE\"\nreason = \"r\"\napproved_by = \"a\"\nexpires = \"2026-01-01\"\n").unwrap_err();
        assert!(
            err.to_string().contains("suppression 1 (a.cn): field code"),
            "{err}"
        );
        let err = load("[[suppress]]\ndomain = \"a.cn\"\ncode = \"WEB-04\"\nreason = \"r\"\napproved_by = \"a\"\nexpires = \"soon\"\n").unwrap_err();
        assert!(err.to_string().contains("field expires"), "{err}");
    }
}
