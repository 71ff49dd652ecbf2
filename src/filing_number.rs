//! ICP filing numbers (备案号): parsing, folding and comparing them as a reviewer would.
//!
//! A website number reads `京ICP备12345678号-1`: a province character, `ICP备` (or `ICP证` for
//! a commercial licence), the subject's serial, `号`, and the site's `-N` suffix. Footers
//! write them with full-width characters, stray spaces and assorted dashes, so comparison
//! happens on a folded form: NFKC, no whitespace, ASCII dashes, upper-case Latin letters.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

/// Province characters a filing number may start with. Sichuan and Gansu appear as both
/// 川/蜀 and 甘/陇 in real footers; 贵 and 云 are accepted defensively (icp-rules.md §2.4).
pub const PROVINCES: &str =
    "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川蜀黔贵滇云藏陕甘陇青宁新";

/// Matches a filing number in folded text; `号` is optional because some footers drop it.
pub static NUMBER_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"([{PROVINCES}])ICP([备证])(\d{{5,12}})(号)?(?:-(\d{{1,4}})(A)?)?"
    ))
    .expect("static pattern")
});

/// Whether the number is a filing (`ICP备`) or a commercial licence (`ICP证`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberKind {
    Filing,
    Licence,
}

/// A parsed filing number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FilingNumber {
    pub province: char,
    pub kind: NumberKind,
    /// The subject's serial digits.
    pub serial: String,
    /// The site (or App) suffix after `-`; `None` for a subject number.
    pub site: Option<u32>,
    /// Whether the suffix ends in `A` (an App filing).
    pub app: bool,
}

/// Why a text is not a filing number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a filing number like 京ICP备12345678号-1")]
pub struct FilingNumberError(pub String);

impl FilingNumber {
    /// Parses a number as written in a filing record or footer.
    pub fn parse(text: &str) -> Result<FilingNumber, FilingNumberError> {
        let folded = fold(text);
        let caps = NUMBER_IN_TEXT
            .captures(&folded)
            .filter(|c| {
                c.get(0)
                    .is_some_and(|m| m.start() == 0 && m.end() == folded.len())
            })
            .ok_or_else(|| FilingNumberError(text.to_string()))?;
        Ok(FilingNumber::from_captures(&caps))
    }

    /// Builds a number from a match of [`NUMBER_IN_TEXT`].
    pub fn from_captures(caps: &regex::Captures<'_>) -> FilingNumber {
        let province = caps[1].chars().next().unwrap_or('?');
        let kind = if &caps[2] == "证" {
            NumberKind::Licence
        } else {
            NumberKind::Filing
        };
        FilingNumber {
            province,
            kind,
            serial: caps[3].to_string(),
            site: caps.get(5).and_then(|m| m.as_str().parse().ok()),
            app: caps.get(6).is_some(),
        }
    }

    /// The subject number (主体备案号): this number without its site suffix.
    pub fn subject(&self) -> FilingNumber {
        FilingNumber {
            site: None,
            app: false,
            ..self.clone()
        }
    }

    pub fn is_subject_number(&self) -> bool {
        self.site.is_none()
    }

    /// Guangdong (粤) sites may show the subject number instead of the website number.
    pub fn subject_number_suffices(&self) -> bool {
        self.province == '粤'
    }
}

impl fmt::Display for FilingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            NumberKind::Filing => "备",
            NumberKind::Licence => "证",
        };
        write!(f, "{}ICP{}{}号", self.province, kind, self.serial)?;
        if let Some(site) = self.site {
            write!(f, "-{site}")?;
            if self.app {
                f.write_str("A")?;
            }
        }
        Ok(())
    }
}

/// Folds text for comparison: NFKC, whitespace removed, dashes made ASCII, Latin upper-cased.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// Appends the folded form of one character (possibly none, possibly several).
pub fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        if !c.is_ascii_whitespace() {
            out.push(c.to_ascii_uppercase());
        }
        return;
    }
    if ('\u{4e00}'..='\u{9fff}').contains(&c) {
        out.push(c);
        return;
    }
    for n in std::iter::once(c).nfkc() {
        if n.is_whitespace() {
            continue;
        }
        out.push(match n {
            '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{fe58}' | '\u{fe63}' | '\u{ff0d}' => '-',
            other => other.to_ascii_uppercase(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_website_subject_licence_and_app_numbers() {
        let n = FilingNumber::parse("京ICP备12345678号-1").unwrap();
        assert_eq!(
            (n.province, n.serial.as_str(), n.site),
            ('京', "12345678", Some(1))
        );
        assert!(!n.is_subject_number());
        assert_eq!(n.subject().to_string(), "京ICP备12345678号");

        let s = FilingNumber::parse("粤ICP备2026033844号").unwrap();
        assert!(s.is_subject_number() && s.subject_number_suffices());

        let l = FilingNumber::parse("京ICP证030173号-1").unwrap();
        assert_eq!(l.kind, NumberKind::Licence);

        let a = FilingNumber::parse("陕ICP备2024026116号-1A").unwrap();
        assert!(a.app);
        assert_eq!(a.to_string(), "陕ICP备2024026116号-1A");
    }

    #[test]
    fn folds_full_width_spaces_and_dashes() {
        let n = FilingNumber::parse(" 川ＩＣＰ备 09003078号 － 2 ").unwrap();
        assert_eq!(n.to_string(), "川ICP备09003078号-2");
        assert_eq!(fold("京icp备１２３号—1"), "京ICP备123号-1");
    }

    #[test]
    fn rejects_near_misses() {
        for bad in [
            "",
            "ICP备12345678号",
            "京ICP12345678号",
            "京ICP备1234号",
            "X京ICP备12345678号",
            "京ICP备12345678号-1 extra",
            "京公网安备11010802020321号",
        ] {
            assert!(FilingNumber::parse(bad).is_err(), "{bad}");
        }
    }
}
