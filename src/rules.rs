//! The probe rules: pure functions from a filing record and the evidence gathered for it to
//! findings and inconclusive checks. Nothing here touches the network, so saved evidence can
//! be judged again and every rule is tested without servers.

use std::net::IpAddr;

use serde::Serialize;

use crate::cloud::CloudRanges;
use crate::codes;
use crate::fetch::{FailureKind, HttpEvidence};
use crate::filing_number::{self, FilingNumber};
use crate::finding::{Finding, Inconclusive, Reason, Severity, Verdict};
use crate::inventory::FilingRecord;
use crate::page::{self, FoundNumber, PageEvidence};
use crate::resolve::{HostLookup, LookupOutcome};

/// Everything probed for one site.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SiteEvidence {
    /// The normalised domain audited.
    pub domain: String,
    /// When the probe started (RFC 3339, UTC).
    pub probed_at: String,
    /// One lookup per host probed: the domain, and `www.` for a bare registrable domain.
    pub dns: Vec<HostLookup>,
    /// The host whose page was fetched.
    pub fetched_host: Option<String>,
    pub http: Option<HttpEvidence>,
    pub page: Option<PageEvidence>,
    /// Lookups of the record's `app_domains`.
    pub app_dns: Vec<HostLookup>,
    /// The registry's answer for the registrable domain (RDAP or WHOIS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<crate::registry::RegistryEvidence>,
}

/// Judges a site's probe evidence against its filing record.
pub fn judge(record: &FilingRecord, evidence: &SiteEvidence, cloud: &CloudRanges) -> Verdict {
    let mut verdict = dns_rule(&evidence.dns, cloud);
    verdict.extend(app_dns_rule(&evidence.app_dns, cloud));

    if let Some(http) = &evidence.http {
        verdict.extend(http_rule(http));
    }
    if let (Some(page), Some(http)) = (&evidence.page, &evidence.http) {
        verdict.extend(footer_rule(record, page, http));
        verdict.extend(name_rule(record, page));
        verdict.extend(not_in_use_rule(page));
        verdict.extend(psb_rule(record, page));
    }
    verdict
}

/// NET-07a: some probed host must resolve, with every address inside the cloud.
pub fn dns_rule(hosts: &[HostLookup], cloud: &CloudRanges) -> Verdict {
    let mut verdict = Verdict::default();
    if hosts.iter().any(|h| resolves_into(h, cloud)) {
        return verdict;
    }

    if let Some(transient) = hosts.iter().find(|h| h.outcome.is_transient()) {
        let reason = dns_reason(transient.outcome);
        verdict.inconclusive(Inconclusive::new(
            "dns",
            reason,
            format!("{}: {}", transient.describe(), transient.detail),
        ));
        return verdict;
    }

    let described: Vec<String> = hosts.iter().map(|h| describe_outside(h, cloud)).collect();
    let fact = dns_fact(hosts, cloud);
    let evidence = format!(
        "{}; none resolves into the cloud's prefixes",
        described.join("; ")
    );
    verdict.finding(
        Finding::new(codes::NOT_RESOLVED_TO_CLOUD, Severity::High, fact).evidence(evidence),
    );
    verdict
}

fn resolves_into(host: &HostLookup, cloud: &CloudRanges) -> bool {
    host.outcome == LookupOutcome::Addresses && host.addresses.iter().all(|ip| cloud.contains(*ip))
}

fn dns_reason(outcome: LookupOutcome) -> Reason {
    match outcome {
        LookupOutcome::Timeout => Reason::DnsTimeout,
        LookupOutcome::ServFail => Reason::DnsServfail,
        LookupOutcome::Refused => Reason::DnsRefused,
        _ => Reason::DnsFailure,
    }
}

fn describe_outside(host: &HostLookup, cloud: &CloudRanges) -> String {
    if host.outcome != LookupOutcome::Addresses {
        return host.describe();
    }
    let outside: Vec<String> = host
        .addresses
        .iter()
        .filter(|ip| !cloud.contains(**ip))
        .map(IpAddr::to_string)
        .collect();
    format!(
        "{} (outside the cloud: {})",
        host.describe(),
        outside.join(", ")
    )
}

/// The stable fact at fault: the addresses outside, or how resolution failed.
fn dns_fact(hosts: &[HostLookup], cloud: &CloudRanges) -> String {
    let mut outside: Vec<String> = hosts
        .iter()
        .flat_map(|h| h.addresses.iter())
        .filter(|ip| !cloud.contains(**ip))
        .map(IpAddr::to_string)
        .collect();
    outside.sort();
    outside.dedup();
    if outside.is_empty() {
        return hosts
            .first()
            .map_or("no_lookup", |h| h.outcome.label())
            .to_string();
    }
    outside.join(",")
}

/// APP-05: every domain the App uses must resolve into the cloud.
pub fn app_dns_rule(hosts: &[HostLookup], cloud: &CloudRanges) -> Verdict {
    let mut verdict = Verdict::default();
    for host in hosts {
        if resolves_into(host, cloud) {
            continue;
        }
        if host.outcome.is_transient() {
            let detail = format!("app_domains {}: {}", host.describe(), host.detail);
            verdict.inconclusive(Inconclusive::new(
                "app_domains",
                dns_reason(host.outcome),
                detail,
            ));
            continue;
        }
        let evidence = format!("App domain {}", describe_outside(host, cloud));
        let fact = format!(
            "{}={}",
            host.host,
            dns_fact(std::slice::from_ref(host), cloud)
        );
        verdict
            .finding(Finding::new(codes::APP_RESOLUTION, Severity::High, fact).evidence(evidence));
    }
    verdict
}

/// WEB-06: the fetch must end at an HTML page with a 2xx status.
pub fn http_rule(http: &HttpEvidence) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(failure) = http.failure else {
        return verdict;
    };

    let evidence = format!(
        "{}: {} [{}]",
        failure.label(),
        http.detail,
        http.describe_chain()
    );
    if failure.is_auditor_side() {
        let reason = match failure {
            FailureKind::AddressNotAllowed => Reason::AddressNotAllowed,
            FailureKind::AnalysisTimeout => Reason::AnalysisTimeout,
            FailureKind::Throttled => Reason::Throttled,
            _ => Reason::FetchUnavailable,
        };
        verdict.inconclusive(Inconclusive::new("http", reason, evidence));
        return verdict;
    }

    verdict.finding(
        Finding::new(codes::SITE_UNREACHABLE, Severity::High, failure.label()).evidence(evidence),
    );
    if failure == FailureKind::EmptyBody {
        let finding = Finding::new(codes::SITE_NOT_IN_USE, Severity::Low, "empty")
            .evidence("the home page is empty");
        verdict.finding(finding.likely());
    }
    verdict
}

/// How the footer failed, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FooterFault {
    NotLinked,
    SubjectNumberOnly,
    DifferentNumber,
    Missing,
}

impl FooterFault {
    fn label(self) -> &'static str {
        match self {
            FooterFault::NotLinked => "not_linked",
            FooterFault::SubjectNumberOnly => "subject_number_only",
            FooterFault::DifferentNumber => "different_number",
            FooterFault::Missing => "missing",
        }
    }
}

/// WEB-04: the filed number in the visible text, inside a link to MIIT.
pub fn footer_rule(record: &FilingRecord, page: &PageEvidence, http: &HttpEvidence) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(filed_text) = record.field("filing_number") else {
        verdict.inconclusive(Inconclusive::new(
            "footer",
            Reason::MissingValue,
            "filing_number is empty: the footer cannot be compared",
        ));
        return verdict;
    };
    let Ok(filed) = FilingNumber::parse(filed_text) else {
        let detail =
            format!("filing_number {filed_text:?} is not a filing number like 京ICP备12345678号-1");
        verdict.inconclusive(Inconclusive::new("footer", Reason::UnreadableCell, detail));
        return verdict;
    };

    let acceptable = |n: &FoundNumber| {
        n.parsed
            .as_ref()
            .is_some_and(|p| shows_filed_number(p, &filed))
    };
    if page
        .numbers
        .iter()
        .any(|n| acceptable(n) && n.linked_to_miit)
    {
        return verdict;
    }

    let (fault, evidence) = footer_fault(&filed, page, acceptable);
    let mut evidence = evidence;
    if http.truncated {
        evidence.push_str(&format!(
            " (only the first {} bytes of the page were analysed)",
            http.body_bytes
        ));
    }
    let fact = format!("{}:{}", fault.label(), filed);
    verdict.finding(Finding::new(codes::FOOTER_NUMBER, Severity::High, fact).evidence(evidence));
    verdict
}

/// Whether a number on the page is the filed one, as the display rules allow.
fn shows_filed_number(shown: &FilingNumber, filed: &FilingNumber) -> bool {
    let same_subject = shown.province == filed.province
        && shown.kind == filed.kind
        && shown.serial == filed.serial;
    if !same_subject {
        return false;
    }
    match (shown.site, filed.site) {
        (Some(s), Some(f)) => s == f && shown.app == filed.app,
        // A record holding only the subject number: any site number of that subject shows it.
        (Some(_), None) => true,
        (None, _) => filed.subject_number_suffices(),
    }
}

fn footer_fault(
    filed: &FilingNumber,
    page: &PageEvidence,
    acceptable: impl Fn(&FoundNumber) -> bool,
) -> (FooterFault, String) {
    if let Some(n) = page.numbers.iter().find(|n| acceptable(n)) {
        let link = match &n.link {
            Some(l) if l.target == page::LinkTarget::MiitRetired => {
                format!("it links to the retired host {}", l.href)
            }
            Some(l) => format!("it links to {}, not to beian.miit.gov.cn", l.href),
            None => "it is not inside a link".to_string(),
        };
        return (
            FooterFault::NotLinked,
            format!(
                "the page shows {} but {link}; text: «{}»",
                n.text, n.context
            ),
        );
    }

    let subject = filed.subject();
    if let Some(n) = page
        .numbers
        .iter()
        .find(|n| n.parsed.as_ref() == Some(&subject))
    {
        let evidence = format!(
            "the page shows only the subject number {} (outside 粤 the website number {filed} is required); text: «{}»",
            n.text, n.context
        );
        return (FooterFault::SubjectNumberOnly, evidence);
    }

    if !page.numbers.is_empty() {
        let shown: Vec<String> = page
            .numbers
            .iter()
            .map(|n| format!("{} («{}»)", n.text, n.context))
            .collect();
        return (
            FooterFault::DifferentNumber,
            format!("expected {filed}, the page shows {}", shown.join("; ")),
        );
    }
    (
        FooterFault::Missing,
        format!(
            "no filing number in the page's visible text; it ends: «{}»",
            page.tail
        ),
    )
}

/// WEB-03: the filed site name in the page's title or declared names.
pub fn name_rule(record: &FilingRecord, page: &PageEvidence) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(filed) = record.field("site_name") else {
        verdict.inconclusive(Inconclusive::new(
            "site_name",
            Reason::MissingValue,
            "site_name is empty: the page's name cannot be compared",
        ));
        return verdict;
    };
    let wanted = page::normalise_name(filed);
    if wanted.is_empty()
        || page
            .names
            .iter()
            .any(|n| page::normalise_name(&n.text).contains(&wanted))
    {
        return verdict;
    }

    let shown = if page.names.is_empty() {
        "the page has no title and declares no name".to_string()
    } else {
        let names: Vec<String> = page
            .names
            .iter()
            .map(|n| format!("{} «{}»", n.source, n.text))
            .collect();
        format!("the page calls itself {}", names.join(", "))
    };
    let fact = page
        .title
        .as_deref()
        .map(page::normalise_name)
        .unwrap_or_default();
    let evidence = format!("filed name «{filed}»; {shown}");
    verdict.finding(
        Finding::new(codes::SITE_NAME_MISMATCH, Severity::Medium, fact).evidence(evidence),
    );
    verdict
}

/// WEB-05 (likely): a web server's default page or an empty page.
pub fn not_in_use_rule(page: &PageEvidence) -> Verdict {
    let mut verdict = Verdict::default();
    if let Some(kind) = page.default_page {
        let title = page.title.as_deref().unwrap_or("");
        let evidence = format!(
            "the home page looks like a {kind} default page (title «{title}», {} visible characters)",
            page.visible_chars
        );
        verdict.finding(
            Finding::new(codes::SITE_NOT_IN_USE, Severity::Low, kind)
                .evidence(evidence)
                .likely(),
        );
    }
    verdict
}

/// PSB-01: with `psb_number` in the record, the page must show it linked to the platform.
pub fn psb_rule(record: &FilingRecord, page: &PageEvidence) -> Verdict {
    let mut verdict = Verdict::default();
    let Some(filed) = record.field("psb_number") else {
        return verdict;
    };
    let digits: String = filing_number::fold(filed)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if digits.len() < 10 {
        let detail = format!("psb_number {filed:?} does not hold a 公网安备 code of 14 digits");
        verdict.inconclusive(Inconclusive::new(
            "psb_number",
            Reason::UnreadableCell,
            detail,
        ));
        return verdict;
    }

    let matching: Vec<_> = page
        .psb_numbers
        .iter()
        .filter(|p| p.digits == digits)
        .collect();
    if matching.iter().any(|p| p.linked) {
        return verdict;
    }
    let evidence = match (matching.first(), page.psb_numbers.first()) {
        (Some(p), _) => format!(
            "the page shows 公网安备 {} but not inside a link to beian.mps.gov.cn; text: «{}»",
            p.digits, p.context
        ),
        (None, Some(p)) => format!(
            "expected 公网安备 {digits}, the page shows {} («{}»)",
            p.digits, p.context
        ),
        (None, None) => {
            format!("no 公网安备 number in the page's visible text (expected {digits})")
        }
    };
    verdict.finding(Finding::new(codes::PSB_FOOTER, Severity::Medium, digits).evidence(evidence));
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(number: &str, name: &str) -> FilingRecord {
        FilingRecord {
            line: 2,
            domain: "example.cn".into(),
            filing_number: number.into(),
            site_name: name.into(),
            ..Default::default()
        }
    }

    fn footer(number: &str, html: &str) -> Verdict {
        footer_rule(
            &record(number, "x"),
            &page::analyse(html),
            &HttpEvidence::default(),
        )
    }

    const LINKED: &str =
        r#"<footer><a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a></footer>"#;

    #[test]
    fn footer_passes_and_fails_as_the_display_rules_say() {
        assert!(footer("京ICP备12345678号-1", LINKED).findings.is_empty());
        assert!(
            footer("京ICP备12345678号-2", LINKED).findings[0]
                .fact
                .starts_with("different_number")
        );
        let subject_only = r#"<a href="https://beian.miit.gov.cn/">京ICP备12345678号</a>"#;
        assert!(
            footer("京ICP备12345678号-1", subject_only).findings[0]
                .fact
                .starts_with("subject_number_only")
        );
        let yue = r#"<a href="https://beian.miit.gov.cn/">粤ICP备12345678号</a>"#;
        assert!(footer("粤ICP备12345678号-3", yue).findings.is_empty());
        let unlinked = r#"<p>京ICP备12345678号-1 <a href="https://beian.miit.gov.cn">查询</a></p>"#;
        assert!(
            footer("京ICP备12345678号-1", unlinked).findings[0]
                .fact
                .starts_with("not_linked")
        );
        let lookalike =
            r#"<a href="https://beian.miit.gov.cn.example.com/">京ICP备12345678号-1</a>"#;
        assert!(
            footer("京ICP备12345678号-1", lookalike).findings[0]
                .fact
                .starts_with("not_linked")
        );
        assert!(
            footer("京ICP备12345678号-1", "<p>hello</p>").findings[0]
                .fact
                .starts_with("missing")
        );
    }

    #[test]
    fn footer_needs_a_readable_number() {
        let v = footer("", LINKED);
        assert!(v.findings.is_empty());
        assert_eq!(v.inconclusive[0].reason, Reason::MissingValue);
        assert_eq!(
            footer("not a number", LINKED).inconclusive[0].reason,
            Reason::UnreadableCell
        );
    }

    #[test]
    fn names_match_by_containment_after_normalising() {
        let page = page::analyse("<title>星河商城 - 首页</title>");
        assert!(
            name_rule(&record("", "星河商城"), &page)
                .findings
                .is_empty()
        );
        assert!(
            name_rule(&record("", "星河 商城！"), &page)
                .findings
                .is_empty()
        );
        assert_eq!(name_rule(&record("", "银河商城"), &page).findings.len(), 1);
        let og = page::analyse(
            r#"<title>首页</title><meta property="og:site_name" content="Star Mall">"#,
        );
        assert!(name_rule(&record("", "STAR MALL"), &og).findings.is_empty());
    }

    fn lookup(host: &str, outcome: LookupOutcome, addrs: &[&str]) -> HostLookup {
        HostLookup {
            host: host.into(),
            chain: vec![],
            addresses: addrs.iter().map(|a| a.parse().unwrap()).collect(),
            outcome,
            detail: String::new(),
        }
    }

    #[test]
    fn dns_passes_when_any_host_is_wholly_in_the_cloud() {
        let cloud = CloudRanges::huawei_default();
        let apex_out = lookup("example.cn", LookupOutcome::Addresses, &["8.8.8.8"]);
        let www_in = lookup("www.example.cn", LookupOutcome::Addresses, &["124.70.1.1"]);
        assert!(
            dns_rule(&[apex_out.clone(), www_in], &cloud)
                .findings
                .is_empty()
        );

        let mixed = lookup(
            "example.cn",
            LookupOutcome::Addresses,
            &["124.70.1.1", "8.8.8.8"],
        );
        let v = dns_rule(&[mixed], &cloud);
        assert_eq!(v.findings[0].fact, "8.8.8.8");

        let nx = lookup("example.cn", LookupOutcome::NxDomain, &[]);
        assert_eq!(
            dns_rule(&[nx], &cloud).findings[0].code,
            codes::NOT_RESOLVED_TO_CLOUD
        );

        let timeout = lookup("www.example.cn", LookupOutcome::Timeout, &[]);
        let v = dns_rule(&[apex_out, timeout], &cloud);
        assert!(v.findings.is_empty());
        assert_eq!(v.inconclusive[0].reason, Reason::DnsTimeout);
    }

    #[test]
    fn unreachable_and_refused_are_kept_apart() {
        let mut http = HttpEvidence {
            failure: Some(FailureKind::ConnectionRefused),
            ..Default::default()
        };
        assert_eq!(http_rule(&http).findings[0].code, codes::SITE_UNREACHABLE);
        http.failure = Some(FailureKind::AddressNotAllowed);
        let v = http_rule(&http);
        assert!(v.findings.is_empty());
        assert_eq!(v.inconclusive[0].reason, Reason::AddressNotAllowed);
    }
}
