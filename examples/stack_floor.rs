//! The floor under `icp-audit audit` on a benchmark world: the same network work per site
//! (A and AAAA through the project's resolver, then one GET of `http://domain/` with a client
//! of its own, pinned to the looked-up address, body read whole) and nothing else: no
//! decoding, no page analysis, no rules, no report. Comparing its sites per second with the
//! auditor's, and with the peer's, on the same world shows how much of a run is the stack
//! (tokio, hickory, reqwest, the kernel's loopback) and the servers, and how much is ours.
//!
//! Usage: `cargo run --release --example stack_floor -- INVENTORY.csv RESOLVER [CONCURRENCY]`,
//! e.g. against `../shared/bench` worlds with `127.0.0.1:5353`. Loopback worlds only: the
//! addresses are dialled without the auditor's address policy.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use icp_audit::domain::Domain;
use icp_audit::resolve::{DnsConfig, SiteResolver};
use icp_audit::tls::TlsTrust;
use tokio::sync::Semaphore;

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let inventory = args
        .next()
        .context("usage: INVENTORY.csv RESOLVER [CONCURRENCY]")?;
    let resolver: SocketAddr = args.next().context("missing RESOLVER")?.parse()?;
    let concurrency: usize = args.next().map_or(Ok(128), |c| c.parse())?;

    let domains = read_domains(&inventory)?;
    let dns = Arc::new(SiteResolver::new(&DnsConfig {
        servers: vec![resolver],
        ..DnsConfig::default()
    })?);
    let trust = Arc::new(TlsTrust::new(&[])?);
    let slots = Arc::new(Semaphore::new(concurrency));

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for domain in domains {
        let permit = slots.clone().acquire_owned().await?;
        let (dns, trust) = (dns.clone(), trust.clone());
        tasks.spawn(async move {
            let fetched = probe(&dns, &trust, &domain).await;
            drop(permit);
            fetched
        });
    }
    let (mut ok, mut failed) = (0usize, 0usize);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => ok += 1,
            _ => failed += 1,
        }
    }

    let elapsed = started.elapsed().as_secs_f64();
    let sites = ok + failed;
    println!(
        "{sites} sites ({ok} fetched, {failed} failed) in {elapsed:.2} s: {:.0} sites/s",
        sites as f64 / elapsed
    );
    Ok(())
}

/// The `domain` column of a CSV inventory whose first column it is.
fn read_domains(path: &str) -> Result<Vec<Domain>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{path}: cannot read"))?;
    text.lines()
        .skip(1)
        .filter_map(|line| line.split(',').next())
        .map(|d| Domain::parse(d).with_context(|| format!("{path}: bad domain {d:?}")))
        .collect()
}

/// One site's network work, as the auditor does it.
async fn probe(dns: &SiteResolver, trust: &TlsTrust, domain: &Domain) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let lookup = dns.lookup(domain, deadline).await;
    let address = *lookup.addresses.first().context("no address")?;

    let (tls, _) = trust.site_config()?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .resolve(domain.as_str(), SocketAddr::new(address, 80))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()?;
    let response = client.get(format!("http://{domain}/")).send().await?;
    let body = response.error_for_status()?.bytes().await?;
    anyhow::ensure!(!body.is_empty(), "empty body");
    Ok(())
}
