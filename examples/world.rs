//! Serves a fixture world on loopback so `icp-audit` can be run against it by hand: the
//! zone file over DNS, and the pages listed in `sites.txt` over HTTP and HTTPS.
//!
//! Usage: `cargo run --example world -- fixtures/sample OUT.env`. When the servers are up it
//! writes OUT.env with the flags to pass to `icp-audit` (`--resolver`, `--http-port`,
//! `--https-port`, `--ca-cert`), then serves until it is stopped.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use support::{Reply, Request, World, WorldSpec};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "fixtures/sample".into()));
    let env_out = PathBuf::from(args.next().unwrap_or_else(|| "world.env".into()));

    let zone = std::fs::read_to_string(dir.join("sample.zone"))?;
    let routes = read_routes(&dir)?;
    let router = Arc::new(move |req: &Request| {
        let key = if req.https {
            format!("https:{}", req.host)
        } else {
            req.host.clone()
        };
        routes
            .get(&key)
            .or_else(|| routes.get(&req.host))
            .cloned()
            .unwrap_or_else(|| Reply::page(404, "text/html", b"<h1>404</h1>".to_vec()))
    });
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

/// Reads `sites.txt`: `host status page-file-or-location` per line.
fn read_routes(dir: &Path) -> anyhow::Result<HashMap<String, Reply>> {
    let mut routes = HashMap::new();
    let text = std::fs::read_to_string(dir.join("sites.txt"))?;
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [host, status, target] = fields.as_slice() else {
            continue;
        };
        if host.starts_with('#') {
            continue;
        }
        let status: u16 = status
            .parse()
            .map_err(|_| anyhow::anyhow!("sites.txt line {}: bad status", i + 1))?;
        let reply = if (300..400).contains(&status) {
            Reply::redirect(status, target)
        } else {
            Reply::page(status, "text/html", std::fs::read(dir.join(target))?)
        };
        routes.insert(host.to_string(), reply);
    }
    Ok(routes)
}
