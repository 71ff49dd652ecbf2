//! WHOIS over TCP port 43 (RFC 3912) for suffixes without RDAP, `.cn` above all, and the
//! parser for the answers' dates.
//!
//! The query is the name and CRLF; the answer is text up to EOF, read with a size cap. There
//! is no standard layout, so the parser knows the labels of CNNIC (`Registration Time`,
//! `Expiration Time`, `No matching record.`), of Verisign and other ICANN registries
//! (`Creation Date`, `Registry Expiry Date`, `No match for "X".`) and a few common variants.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stamp::registry_date;
use super::{Answer, RegistryOutcome, RegistrySetupError};
use crate::address::AddressPolicy;
use crate::date::Date;

/// Answers are cut off here; the dates come near the top.
const MAX_ANSWER: u64 = 64 * 1024;
const WHOIS_PORT: u16 = 43;

/// WHOIS servers for suffixes that IANA's RDAP bootstrap does not cover.
const DEFAULT_SERVERS: &[(&str, &str)] = &[
    ("cn", "whois.cnnic.cn"),
    // .中国 and .中國, also run by CNNIC.
    ("xn--fiqs8s", "whois.cnnic.cn"),
    ("xn--fiqz9s", "whois.cnnic.cn"),
];

/// Labels of the creation date, most specific first.
const REGISTERED_LABELS: &[&str] = &[
    "registration time",
    "creation date",
    "domain registration date",
    "registration date",
    "created on",
    "created",
    "registered on",
    "registered",
];

/// Labels of the expiry date; the registry's own before the registrar's copy.
const EXPIRES_LABELS: &[&str] = &[
    "expiration time",
    "registry expiry date",
    "expiry date",
    "expiration date",
    "domain expiration date",
    "registrar registration expiration date",
    "expires on",
    "expires",
    "paid-till",
];

/// Phrases by which registries say the name is not registered.
const NOT_FOUND_PHRASES: &[&str] = &[
    "no matching record",
    "no match for",
    "no data found",
    "no entries found",
    "domain not found",
    "status: free",
];

/// Phrases by which registries say a client asks too often (CNNIC's is the first).
const RATE_LIMIT_PHRASES: &[&str] = &[
    "queried interval is too short",
    "query rate limit exceeded",
    "limit exceeded",
    "too many requests",
];

/// A WHOIS server as `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoisServer {
    pub host: String,
    pub port: u16,
}

impl WhoisServer {
    /// `HOST:PORT`, `[IPv6]:PORT`, or a bare host (port 43).
    pub fn parse(text: &str) -> Result<WhoisServer, RegistrySetupError> {
        let bad = || RegistrySetupError::WhoisServer(text.to_string());
        let text = text.trim();
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(WhoisServer {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }

        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
            None => (text, WHOIS_PORT),
        };
        let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_';
        if host.is_empty() || !host.bytes().all(plain) {
            return Err(bad());
        }
        Ok(WhoisServer {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for WhoisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            _ => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// The built-in WHOIS server for a name's top-level domain, if any.
pub(super) fn default_server(name: &str) -> Option<WhoisServer> {
    let tld = name.rsplit('.').next()?;
    let (_, host) = DEFAULT_SERVERS.iter().find(|(t, _)| *t == tld)?;
    Some(WhoisServer {
        host: host.to_string(),
        port: WHOIS_PORT,
    })
}

/// One WHOIS query; the caller bounds it with the deadline.
pub(super) async fn query(server: &WhoisServer, policy: &AddressPolicy, name: &str) -> Answer {
    let addrs = match addresses(server, policy).await {
        Ok(addrs) => addrs,
        Err(answer) => return answer,
    };
    let mut stream = match connect(&addrs).await {
        Ok(stream) => stream,
        Err(error) => return io_failure("cannot connect", &error),
    };

    let text = match exchange(&mut stream, name).await {
        Ok(text) => text,
        Err(error) => return io_failure("query failed", &error),
    };
    answer_of(parse_whois(&text))
}

/// The server's permitted addresses; an IP literal is not resolved.
async fn addresses(
    server: &WhoisServer,
    policy: &AddressPolicy,
) -> Result<Vec<SocketAddr>, Answer> {
    let found: Vec<SocketAddr> = match server.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, server.port)],
        Err(_) => match tokio::net::lookup_host((server.host.as_str(), server.port)).await {
            Ok(found) => found.collect(),
            Err(error) => return Err(io_failure("cannot resolve the server", &error)),
        },
    };

    let permitted: Vec<SocketAddr> = found
        .iter()
        .copied()
        .filter(|a| policy.permits(a.ip()).is_ok())
        .collect();
    if permitted.is_empty() {
        let detail = format!("not asked: no address of {server} is allowed ({found:?})");
        return Err(Answer::failure(RegistryOutcome::Refused, detail));
    }
    Ok(permitted)
}

async fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// Sends the query and reads the answer to EOF or the size cap.
async fn exchange(stream: &mut TcpStream, name: &str) -> std::io::Result<String> {
    stream.write_all(format!("{name}\r\n").as_bytes()).await?;

    let mut bytes = Vec::new();
    stream.take(MAX_ANSWER).read_to_end(&mut bytes).await?;
    // TODO: answers in GB 18030 (seen from some older registrars) are decoded lossily;
    // the date labels are ASCII, so the checks still work.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn io_failure(what: &str, error: &std::io::Error) -> Answer {
    let outcome = match error.kind() {
        std::io::ErrorKind::ConnectionRefused => RegistryOutcome::Refused,
        std::io::ErrorKind::TimedOut => RegistryOutcome::Timeout,
        _ => RegistryOutcome::Failed,
    };
    Answer::failure(outcome, format!("WHOIS {what}: {error}"))
}

/// What a WHOIS answer says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhoisAnswer {
    /// A record, with whichever dates it shows (at least one).
    Found {
        registered: Option<Date>,
        expires: Option<Date>,
    },
    NotFound,
    RateLimited,
    /// Neither dates nor a known "no match" phrase.
    Unrecognised,
}

/// Reads a WHOIS answer.
pub fn parse_whois(text: &str) -> WhoisAnswer {
    let registered = labelled_date(text, REGISTERED_LABELS);
    let expires = labelled_date(text, EXPIRES_LABELS);
    if registered.is_some() || expires.is_some() {
        return WhoisAnswer::Found {
            registered,
            expires,
        };
    }

    let lower = text.to_lowercase();
    if NOT_FOUND_PHRASES.iter().any(|p| lower.contains(p)) {
        return WhoisAnswer::NotFound;
    }
    if RATE_LIMIT_PHRASES.iter().any(|p| lower.contains(p)) {
        return WhoisAnswer::RateLimited;
    }
    WhoisAnswer::Unrecognised
}

/// The first readable date under the most specific label present.
fn labelled_date(text: &str, labels: &[&str]) -> Option<Date> {
    let fields: Vec<(String, &str)> = text.lines().filter_map(field).collect();
    labels.iter().find_map(|label| {
        fields
            .iter()
            .filter(|(name, _)| name == label)
            .find_map(|(_, value)| registry_date(value))
    })
}

/// A `Label: value` line, with the label lower-cased; comments and notices are skipped.
fn field(line: &str) -> Option<(String, &str)> {
    let line = line.trim();
    if line.starts_with(['%', '#', '>']) {
        return None;
    }
    let (label, value) = line.split_once(':')?;
    Some((label.trim().to_ascii_lowercase(), value.trim()))
}

fn answer_of(parsed: WhoisAnswer) -> Answer {
    match parsed {
        WhoisAnswer::Found {
            registered,
            expires,
        } => Answer::found(registered, expires, "WHOIS record"),
        WhoisAnswer::NotFound => {
            Answer::failure(RegistryOutcome::NotFound, "WHOIS: no matching record")
        }
        WhoisAnswer::RateLimited => Answer::failure(
            RegistryOutcome::RateLimited,
            "WHOIS: the server says we ask too often",
        ),
        WhoisAnswer::Unrecognised => Answer::failure(
            RegistryOutcome::Malformed,
            "WHOIS answer has no dates and no \"no match\" phrase",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dates(text: &str) -> (Option<String>, Option<String>) {
        match parse_whois(text) {
            WhoisAnswer::Found {
                registered,
                expires,
            } => (
                registered.map(|d| d.to_string()),
                expires.map(|d| d.to_string()),
            ),
            other => panic!("not found: {other:?}"),
        }
    }

    fn pair(a: &str, b: &str) -> (Option<String>, Option<String>) {
        (Some(a.to_string()), Some(b.to_string()))
    }

    #[test]
    fn reads_the_cnnic_layout() {
        let text = "Domain Name: example.cn\nROID: 20030312s10001s00000000-cn\n\
                    Domain Status: ok\nRegistrant: 某某有限公司\n\
                    Registration Time: 2003-03-17 12:20:05\n\
                    Expiration Time: 2030-03-17 12:48:36\nDNSSEC: unsigned\n";
        assert_eq!(dates(text), pair("2003-03-17", "2030-03-17"));
        assert_eq!(
            parse_whois("No matching record.\r\n"),
            WhoisAnswer::NotFound
        );
    }

    #[test]
    fn reads_the_verisign_layout_and_prefers_the_registry_expiry() {
        let text = "   Domain Name: EXAMPLE.COM\r\n   Updated Date: 2024-08-14T07:01:34Z\r\n\
                       Creation Date: 1995-08-14T04:00:00Z\r\n\
                    Registrar Registration Expiration Date: 2027-01-01T00:00:00Z\r\n\
                    Registry Expiry Date: 2026-08-13T04:00:00Z\r\n\
                    >>> Last update of whois database: 2025-01-01T00:00:00Z <<<\r\n";
        assert_eq!(dates(text), pair("1995-08-14", "2026-08-13"));
        assert_eq!(
            parse_whois("No match for \"NOPE.COM\".\r\n>>> Last update of whois database: x <<<"),
            WhoisAnswer::NotFound
        );
    }

    #[test]
    fn reads_common_variants() {
        let ripe_style =
            "domain: example.ru\ncreated: 2004-06-01T20:00:00Z\npaid-till: 2026-06-01T21:00:00Z\n";
        assert_eq!(dates(ripe_style), pair("2004-06-01", "2026-06-01"));

        let registrar = "Created On: 15-sep-1997\nRegistrar Registration Expiration Date: 2028-09-13T07:00:00+0000\n";
        assert_eq!(dates(registrar), pair("1997-09-15", "2028-09-13"));
    }

    #[test]
    fn near_misses_are_not_dates() {
        let text = "created-by: someone\nUpdated Date: 2024-01-01\nExpiration Time:\n\
                    % Registration Time: 2001-01-01 00:00:00\nLast-Created: 2002-02-02\n";
        assert_eq!(parse_whois(text), WhoisAnswer::Unrecognised);

        let bad_value = "Registration Time: yesterday\nExpiration Time: 2030-03-17 12:48:36\n";
        assert_eq!(dates(bad_value), (None, Some("2030-03-17".to_string())));

        assert_eq!(parse_whois(""), WhoisAnswer::Unrecognised);
        assert_eq!(parse_whois("<html>503</html>"), WhoisAnswer::Unrecognised);
        assert_eq!(
            parse_whois("Queried interval is too short.\n"),
            WhoisAnswer::RateLimited
        );
    }

    #[test]
    fn parses_server_overrides() {
        let server = |s: &str| WhoisServer::parse(s).map(|w| w.to_string()).ok();
        assert_eq!(server("127.0.0.1:4343").as_deref(), Some("127.0.0.1:4343"));
        assert_eq!(server("[::1]:43").as_deref(), Some("[::1]:43"));
        assert_eq!(
            server("WHOIS.cnnic.cn").as_deref(),
            Some("whois.cnnic.cn:43")
        );
        assert_eq!(server("whois.example:x"), None);
        assert_eq!(server("a b:43"), None);
        assert_eq!(server(":43"), None);
    }

    #[test]
    fn cn_suffixes_default_to_cnnic() {
        let host = |n: &str| default_server(n).map(|s| s.to_string());
        assert_eq!(host("example.com.cn").as_deref(), Some("whois.cnnic.cn:43"));
        assert_eq!(
            host("xn--fiq228c.xn--fiqs8s").as_deref(),
            Some("whois.cnnic.cn:43")
        );
        assert_eq!(host("example.com"), None);
        assert_eq!(host("example.cnn"), None);
    }
}
