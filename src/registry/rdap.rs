//! RDAP over HTTPS (RFC 9082, RFC 9083): `GET {base}domain/{name}` and the domain object's
//! `registration` and `expiration` events.
//!
//! The HTTP client dials only addresses the [`AddressPolicy`] permits: host names go through
//! a resolver that drops refused addresses, IP-literal URLs (and redirects to them) are checked
//! before the request. Statuses map to outcomes: 404 is "not found", 429 "rate limited" with
//! its Retry-After, 401/403 "refused".

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::stamp::registry_date;
use super::{Answer, RegistryOutcome, RegistrySetupError};
use crate::address::AddressPolicy;

/// Larger answers are cut off and reported as malformed.
const MAX_BODY: usize = 1024 * 1024;
const MAX_REDIRECTS: usize = 3;

/// A registry server's address that the policy does not allow; found in reqwest's error
/// sources, never by message text.
#[derive(Debug, thiserror::Error)]
#[error("{ip} is a {class} address, which the address policy does not allow")]
struct AddressRefused {
    ip: IpAddr,
    class: &'static str,
}

/// Resolves registry host names and keeps only addresses the policy permits.
struct PolicyResolver {
    policy: AddressPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let permitted = permitted_addrs(&policy, found)?;
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The permitted addresses, or the refusal of the first one when none is permitted.
fn permitted_addrs(
    policy: &AddressPolicy,
    found: impl Iterator<Item = SocketAddr>,
) -> Result<Vec<SocketAddr>, AddressRefused> {
    let mut refused = None;
    let mut permitted = Vec::new();
    for addr in found {
        match check_ip(policy, addr.ip()) {
            Ok(()) => permitted.push(addr),
            Err(error) => refused = refused.or(Some(error)),
        }
    }
    match refused {
        Some(error) if permitted.is_empty() => Err(error),
        _ => Ok(permitted),
    }
}

fn check_ip(policy: &AddressPolicy, ip: IpAddr) -> Result<(), AddressRefused> {
    policy.permits(ip).map_err(|class| AddressRefused {
        ip,
        class: class.label(),
    })
}

/// The IP address of a URL's host, when the host is a literal.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// The client shared by all RDAP queries of a run.
pub(super) fn http_client(policy: &AddressPolicy) -> Result<reqwest::Client, RegistrySetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();

    let redirect_policy = policy.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.stop();
        }
        match literal_ip(attempt.url()).map(|ip| check_ip(&redirect_policy, ip)) {
            Some(Err(refused)) => attempt.error(refused),
            _ => attempt.follow(),
        }
    });

    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .dns_resolver(Arc::new(PolicyResolver {
            policy: policy.clone(),
        }))
        .redirect(redirects)
        .no_proxy()
        .user_agent(concat!(
            "icp-audit/",
            env!("CARGO_PKG_VERSION"),
            " (registry)"
        ))
        .build()?;
    Ok(client)
}

/// `{base}domain/{name}`.
pub(super) fn domain_url(base: &Url, name: &str) -> Url {
    let base = Url::parse(&super::bootstrap::with_slash(base.as_str())).unwrap_or(base.clone());
    base.join(&format!("domain/{name}"))
        .unwrap_or_else(|_| base.clone())
}

/// One RDAP request for a domain object.
pub(super) async fn query(http: &reqwest::Client, policy: &AddressPolicy, url: &Url) -> Answer {
    if let Some(Err(refused)) = literal_ip(url).map(|ip| check_ip(policy, ip)) {
        return Answer::failure(RegistryOutcome::Refused, format!("not asked: {refused}"));
    }

    let request = http
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/rdap+json");
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return transport_failure(&error),
    };

    let status = response.status().as_u16();
    match status {
        200 => read_domain(response).await,
        404 => Answer::failure(RegistryOutcome::NotFound, "RDAP 404: no such domain"),
        429 => rate_limited(&response),
        401 | 403 => Answer::failure(RegistryOutcome::Refused, format!("RDAP HTTP {status}")),
        _ => Answer::failure(RegistryOutcome::Failed, format!("RDAP HTTP {status}")),
    }
}

fn rate_limited(response: &reqwest::Response) -> Answer {
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // TODO: a Retry-After given as an HTTP date is ignored (the exponential back-off applies).

    let detail = match retry_after {
        Some(wait) => format!("RDAP 429: rate limited, Retry-After {} s", wait.as_secs()),
        None => "RDAP 429: rate limited".to_string(),
    };
    Answer {
        retry_after,
        ..Answer::failure(RegistryOutcome::RateLimited, detail)
    }
}

async fn read_domain(mut response: reqwest::Response) -> Answer {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > MAX_BODY => {
                let detail = format!("RDAP answer larger than {MAX_BODY} bytes");
                return Answer::failure(RegistryOutcome::Malformed, detail);
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(error) => return transport_failure(&error),
        }
    }
    parse_domain(&body)
}

#[derive(Debug, Deserialize)]
struct DomainObject {
    #[serde(rename = "objectClassName")]
    object_class: Option<String>,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "eventAction")]
    action: String,
    #[serde(rename = "eventDate")]
    date: Option<String>,
}

/// Reads an RDAP domain object's registration and expiration dates.
pub(super) fn parse_domain(body: &[u8]) -> Answer {
    let object: DomainObject = match serde_json::from_slice(body) {
        Ok(object) => object,
        Err(error) => {
            let detail = format!("RDAP answer is not a domain object: {error}");
            return Answer::failure(RegistryOutcome::Malformed, detail);
        }
    };
    let class = object.object_class.as_deref();
    if class.is_some_and(|c| c != "domain") || (class.is_none() && object.events.is_empty()) {
        let detail = format!("RDAP answer is not a domain object (objectClassName {class:?})");
        return Answer::failure(RegistryOutcome::Malformed, detail);
    }

    let registered = match event_date(&object.events, "registration") {
        Ok(date) => date,
        Err(answer) => return answer,
    };
    let expires = match event_date(&object.events, "expiration") {
        Ok(date) => date,
        Err(answer) => return answer,
    };
    let detail = "RDAP domain object".to_string();
    Answer::found(registered, expires, detail)
}

/// The date of the first event with this action; an unreadable date makes the answer malformed.
fn event_date(events: &[Event], action: &str) -> Result<Option<crate::date::Date>, Answer> {
    let Some(event) = events.iter().find(|e| e.action == action) else {
        return Ok(None);
    };
    let text = event.date.as_deref().unwrap_or("");
    match registry_date(text) {
        Some(date) => Ok(Some(date)),
        None => {
            let detail = format!("RDAP {action} event has an unreadable date {text:?}");
            Err(Answer::failure(RegistryOutcome::Malformed, detail))
        }
    }
}

/// A failed request, classified by the error's type and sources.
fn transport_failure(error: &reqwest::Error) -> Answer {
    let outcome = classify(error);
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Answer::failure(outcome, format!("RDAP request failed: {detail}"))
}

fn classify(error: &reqwest::Error) -> RegistryOutcome {
    if error.is_timeout() {
        return RegistryOutcome::Timeout;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.downcast_ref::<AddressRefused>().is_some() {
            return RegistryOutcome::Refused;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return RegistryOutcome::Refused,
                std::io::ErrorKind::TimedOut => return RegistryOutcome::Timeout,
                _ => {}
            }
        }
        source = cause.source();
    }
    RegistryOutcome::Failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(json: &str) -> Answer {
        parse_domain(json.as_bytes())
    }

    #[test]
    fn reads_registration_and_expiration_events() {
        let answer = parsed(
            r#"{"objectClassName":"domain","ldhName":"EXAMPLE.COM","events":[
                {"eventAction":"last changed","eventDate":"2024-01-01T00:00:00Z"},
                {"eventAction":"registration","eventDate":"1995-08-14T04:00:00Z"},
                {"eventAction":"expiration","eventDate":"2026-08-13T04:00:00Z"}]}"#,
        );
        assert_eq!(answer.outcome, RegistryOutcome::Found);
        assert_eq!(answer.registered.unwrap().to_string(), "1995-08-14");
        assert_eq!(answer.expires.unwrap().to_string(), "2026-08-13");
    }

    #[test]
    fn missing_events_leave_dates_unknown() {
        let answer = parsed(r#"{"objectClassName":"domain","events":[]}"#);
        assert_eq!(answer.outcome, RegistryOutcome::Found);
        assert_eq!((answer.registered, answer.expires), (None, None));
    }

    #[test]
    fn near_misses_are_malformed() {
        for json in [
            "",
            "<html>busy</html>",
            r#"{"objectClassName":"domain","events":[{"eventAction":"registration"}]}"#,
            r#"{"objectClassName":"domain","events":[{"eventAction":"expiration","eventDate":"soon"}]}"#,
            r#"{"objectClassName":"entity","events":[]}"#,
            r#"{"errorCode":404,"title":"Not Found"}"#,
            r#"{"objectClassName":"domain","events":{"eventAction":"registration"}}"#,
            r#"{"objectClassName":"domain","events":[{"eventAction":"registration","eventDate":"2020-01-01T00:00:00Z"}"#,
        ] {
            assert_eq!(parsed(json).outcome, RegistryOutcome::Malformed, "{json}");
        }
    }

    #[test]
    fn builds_the_domain_url_with_or_without_a_slash() {
        let with = Url::parse("https://rdap.example/com/v1/").unwrap();
        let without = Url::parse("http://127.0.0.1:8080/rdap").unwrap();
        assert_eq!(
            domain_url(&with, "a.com").as_str(),
            "https://rdap.example/com/v1/domain/a.com"
        );
        assert_eq!(
            domain_url(&without, "a.com").as_str(),
            "http://127.0.0.1:8080/rdap/domain/a.com"
        );
    }

    #[test]
    fn policy_drops_refused_addresses() {
        let public = AddressPolicy::public_only();
        let local: SocketAddr = "127.0.0.1:443".parse().unwrap();
        let global: SocketAddr = "8.8.8.8:443".parse().unwrap();

        assert!(permitted_addrs(&public, [local].into_iter()).is_err());
        assert_eq!(
            permitted_addrs(&public, [local, global].into_iter()).unwrap(),
            vec![global]
        );
        assert!(permitted_addrs(&AddressPolicy::allow_private(), [local].into_iter()).is_ok());
    }
}
