//! Serves a fixture world on loopback so `icp-audit` can be run against it by hand: the
//! zone file over DNS, and the pages listed in `sites.txt` over HTTP and HTTPS.
//!
//! Usage: `cargo run --example world -- fixtures/sample OUT.env`. When the servers are up it
//! writes OUT.env with the flags to pass to `icp-audit` (`--resolver`, `--http-port`,
//! `--https-port`, `--ca-cert`), then serves until it is stopped.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;

use support::{World, WorldSpec};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "fixtures/sample".into()));
    let env_out = PathBuf::from(args.next().unwrap_or_else(|| "world.env".into()));

    let zone = std::fs::read_to_string(dir.join("sample.zone"))?;
    let router = support::router_from_dir(&dir)?;
    let mut spec = WorldSpec::new(vec![zone], router);
    spec.web_ips = vec!["127.0.0.2".parse()?];
    let world = World::start(spec).await;

    let flags = format!(
        "--resolver {} --http-port {} --https-port {} --ca-cert {}",
        world.dns,
        world.http_port,
        world.https_port,
        world.ca_file.display()
    );
    std::fs::write(&env_out, format!("WORLD_FLAGS=\"{flags}\"\n"))?;
    eprintln!("world up: {flags}");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
