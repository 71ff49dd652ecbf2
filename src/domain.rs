//! Domain names as filed: normalised to lower-case ASCII (punycode) without a trailing dot,
//! and split into the registrable part where that matters.
//!
//! Inventories are typed by people: upper case, a trailing dot, a pasted URL, an IDN written
//! in Chinese. Everything downstream (DNS, the HTTP pin table, shard hashing) keys on the
//! normalised form produced here.

use std::fmt;

/// A host name that passed normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain {
    ascii: String,
}

/// Why a domain cell cannot be audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the domain is empty")]
    Empty,
    #[error("{0:?} contains whitespace")]
    Whitespace(String),
    #[error("{0:?} is an IP address, not a domain")]
    IpAddress(String),
    #[error("{0:?} is not a valid host name: {1}")]
    Invalid(String, &'static str),
}

impl Domain {
    /// Normalises a domain as written in an inventory or on the command line.
    ///
    /// Accepts upper case, one trailing dot, Unicode (IDN) labels and a pasted `http(s)://`
    /// URL (its host is taken, any path ignored).
    pub fn parse(input: &str) -> Result<Domain, DomainError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::Empty);
        }
        if trimmed.chars().any(char::is_whitespace) {
            return Err(DomainError::Whitespace(input.to_string()));
        }

        let host = host_of(trimmed);
        let host = host.strip_suffix('.').unwrap_or(host);
        if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
            return Err(DomainError::IpAddress(input.to_string()));
        }

        let ascii = idna::domain_to_ascii(host)
            .map_err(|_| DomainError::Invalid(input.to_string(), "not a valid IDN"))?;
        check_labels(&ascii).map_err(|why| DomainError::Invalid(input.to_string(), why))?;
        Ok(Domain { ascii })
    }

    /// Builds a domain from a name already in normalised ASCII form (from a DNS answer or URL).
    pub fn from_ascii_unchecked(ascii: &str) -> Domain {
        Domain {
            ascii: ascii.trim_end_matches('.').to_ascii_lowercase(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.ascii
    }

    /// The name in Unicode, for people (`xn--fiqs8s` → `中国`).
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.ascii).0
    }

    /// The registrable domain (`www.shop.example.com.cn` → `example.com.cn`), when known.
    pub fn registrable(&self) -> Option<Domain> {
        let reg = psl::domain_str(&self.ascii)?;
        Some(Domain {
            ascii: reg.to_string(),
        })
    }

    /// Whether this is exactly a registrable domain (`example.cn`, `shop.com.cn`), the form
    /// filings often list while the site lives at `www.`.
    pub fn is_registrable(&self) -> bool {
        psl::domain_str(&self.ascii) == Some(self.ascii.as_str())
    }

    /// `www.` + this domain.
    pub fn with_www(&self) -> Domain {
        Domain {
            ascii: format!("www.{}", self.ascii),
        }
    }
}

/// Takes the host out of a pasted URL; returns the input when it is not one.
fn host_of(text: &str) -> &str {
    let lower_starts = |p: &str| {
        text.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    let rest = if lower_starts("http://") {
        &text[7..]
    } else if lower_starts("https://") {
        &text[8..]
    } else {
        return text;
    };

    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    match authority.rfind(':') {
        Some(i) if authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &authority[..i],
        _ => authority,
    }
}

fn check_labels(ascii: &str) -> Result<(), &'static str> {
    if ascii.len() > 253 {
        return Err("longer than 253 characters");
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("needs at least two labels");
    }
    for label in labels {
        if label.is_empty() {
            return Err("has an empty label");
        }
        if label.len() > 63 {
            return Err("has a label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("has a character not allowed in host names");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("has a label that starts or ends with a hyphen");
        }
    }
    Ok(())
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ascii)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_what_people_type() {
        let ok = |s: &str| Domain::parse(s).unwrap().to_string();
        assert_eq!(ok("WWW.Example.CN"), "www.example.cn");
        assert_eq!(ok("example.cn."), "example.cn");
        assert_eq!(ok("  example.cn "), "example.cn");
        assert_eq!(ok("中文网站.cn"), "xn--fiq228c37oz8d.cn");
        assert_eq!(ok("https://www.example.cn:8443/path?q=1"), "www.example.cn");
        assert_eq!(ok("HTTP://example.cn"), "example.cn");
    }

    #[test]
    fn rejects_what_cannot_be_audited() {
        assert_eq!(Domain::parse(""), Err(DomainError::Empty));
        assert!(matches!(
            Domain::parse("exa mple.cn"),
            Err(DomainError::Whitespace(_))
        ));
        assert!(matches!(
            Domain::parse("10.0.0.5"),
            Err(DomainError::IpAddress(_))
        ));
        assert!(matches!(
            Domain::parse("localhost"),
            Err(DomainError::Invalid(..))
        ));
        assert!(matches!(
            Domain::parse("a..cn"),
            Err(DomainError::Invalid(..))
        ));
        assert!(matches!(
            Domain::parse("-a.cn"),
            Err(DomainError::Invalid(..))
        ));
        assert!(matches!(
            Domain::parse("a!b.cn"),
            Err(DomainError::Invalid(..))
        ));
    }

    #[test]
    fn knows_registrable_domains() {
        let d = |s: &str| Domain::parse(s).unwrap();
        assert!(d("example.cn").is_registrable());
        assert!(d("shop.com.cn").is_registrable());
        assert!(!d("www.shop.com.cn").is_registrable());
        assert_eq!(
            d("www.shop.example.com.cn").registrable().unwrap().as_str(),
            "example.com.cn"
        );
        assert_eq!(d("example.cn").with_www().as_str(), "www.example.cn");
    }
}
