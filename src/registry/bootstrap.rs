//! IANA's RDAP bootstrap data for domain names (RFC 9224): which RDAP base URL serves which
//! suffix.
//!
//! A copy of IANA's file is built in from `data/rdap-dns.json`; `--rdap-bootstrap FILE` replaces it with
//! IANA's full `dns.json`. A name is matched on its longest suffix of whole labels that an
//! entry lists, and the first HTTPS base URL of that entry is used.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use url::Url;

use super::RegistrySetupError;

const EMBEDDED: &str = include_str!("../../data/rdap-dns.json");

/// The file as IANA publishes it; only `services` matters here.
#[derive(Debug, Deserialize)]
struct BootstrapFile {
    services: Vec<(Vec<String>, Vec<String>)>,
}

/// RDAP base URLs by suffix.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    bases: HashMap<String, Url>,
}

impl Bootstrap {
    /// The copy of IANA's file shipped in the project.
    pub fn embedded() -> Result<Bootstrap, RegistrySetupError> {
        Bootstrap::parse(EMBEDDED, "built-in data/rdap-dns.json")
    }

    /// A `dns.json` file, as `--rdap-bootstrap` names it.
    pub fn from_file(path: &Path) -> Result<Bootstrap, RegistrySetupError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| RegistrySetupError::BootstrapRead {
                path: path.to_path_buf(),
                source,
            })?;
        Bootstrap::parse(&text, &path.display().to_string())
    }

    /// Reads bootstrap JSON; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Bootstrap, RegistrySetupError> {
        let file: BootstrapFile =
            serde_json::from_str(text).map_err(|source| RegistrySetupError::BootstrapFormat {
                origin: origin.to_string(),
                source,
            })?;

        let mut bases = HashMap::new();
        for (suffixes, urls) in file.services {
            let Some(base) = pick_base(&urls) else {
                continue;
            };
            for suffix in suffixes {
                let suffix = suffix.trim_matches('.').to_ascii_lowercase();
                bases.insert(suffix, base.clone());
            }
        }
        Ok(Bootstrap { bases })
    }

    /// The RDAP base URL for a domain name, from its longest listed suffix.
    pub fn base_for(&self, name: &str) -> Option<&Url> {
        let name = name.trim_end_matches('.');
        let mut rest = name;
        loop {
            let (_, suffix) = rest.split_once('.')?;
            if let Some(base) = self.bases.get(suffix) {
                return Some(base);
            }
            rest = suffix;
        }
    }
}

/// The first HTTPS URL of an entry (IANA lists HTTPS first when both exist), else the first
/// URL that parses; the base always ends in `/`.
fn pick_base(urls: &[String]) -> Option<Url> {
    let parsed: Vec<Url> = urls
        .iter()
        .filter_map(|u| Url::parse(&with_slash(u)).ok())
        .collect();
    let https = parsed.iter().find(|u| u.scheme() == "https");
    https.or(parsed.first()).cloned()
}

pub(super) fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_knows_com_and_not_cn() {
        let bootstrap = Bootstrap::embedded().unwrap();
        let com = bootstrap.base_for("example.com").unwrap();
        assert_eq!(com.as_str(), "https://rdap.verisign.com/com/v1/");
        assert!(bootstrap.base_for("example.cn").is_none());
        assert!(bootstrap.base_for("example.com.cn").is_none());
        assert!(bootstrap.base_for("com").is_none());
    }

    #[test]
    fn longest_suffix_wins_and_https_is_preferred() {
        let text = r#"{"version":"1.0","publication":"x","services":[
            [["uk"],["https://rdap.example/uk"]],
            [["co.uk"],["http://plain.example/co/","https://rdap.example/co/"]],
            [["bad"],["not a url"]]
        ]}"#;
        let bootstrap = Bootstrap::parse(text, "test").unwrap();

        let base = |name: &str| bootstrap.base_for(name).map(Url::to_string);
        assert_eq!(base("a.co.uk").as_deref(), Some("https://rdap.example/co/"));
        assert_eq!(base("a.uk").as_deref(), Some("https://rdap.example/uk/"));
        assert_eq!(base("a.couk"), None);
        assert_eq!(base("a.bad"), None);
    }

    #[test]
    fn a_file_of_another_shape_is_an_error() {
        let error = Bootstrap::parse(r#"{"services": [["com"]]}"#, "odd.json").unwrap_err();
        assert!(matches!(error, RegistrySetupError::BootstrapFormat { .. }));
    }
}
