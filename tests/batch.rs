//! Batch runs (issue 5): N shard runs merged equal one whole run; a run killed with SIGKILL
//! and resumed audits every site exactly once; merge refuses other runs and overlapping shards.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use support::{Reply, World, WorldSpec};

const PAGE: &str = r#"<html><head><title>星河商城</title></head><body><footer><a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a></footer></body></html>"#;

/// A world of `n` sites s0.batch.test … whose pages take `delay` to arrive; s3, s7, … lack
/// the footer so the report has findings as well as passes.
async fn batch_world(n: usize, delay: Duration) -> (World, PathBuf) {
    let mut zone = String::from(
        "$ORIGIN batch.test.\n$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n* IN A 127.0.0.1\n",
    );
    zone.push_str("outside IN A 127.0.0.2\n");
    let router: support::Router = Arc::new(move |req: &support::Request| {
        let number: usize = req
            .host
            .trim_start_matches('s')
            .split('.')
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        let body = if number % 4 == 3 {
            PAGE.replace("京ICP备12345678号-1", "")
        } else {
            PAGE.to_string()
        };
        if delay.is_zero() {
            return Reply::html(&body);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        Reply::Trickle {
            head: head.into_bytes(),
            body: body.into_bytes(),
            interval: delay / 200,
        }
    });
    let world = World::start(WorldSpec::new(vec![zone], router)).await;
    let inventory = world.dir.path().join("inventory.csv");
    let mut text = String::from("domain,filing_number,site_name\n");
    for i in 0..n {
        text.push_str(&format!("s{i}.batch.test,京ICP备12345678号-1,星河商城\n"));
    }
    std::fs::write(&inventory, text).unwrap();
    (world, inventory)
}

fn command(world: &World, inventory: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_icp-audit"));
    cmd.arg("audit")
        .arg(inventory)
        .arg("--out")
        .arg(out)
        .arg("--no-registry");
    cmd.args([
        "--resolver",
        &world.dns.to_string(),
        "--http-port",
        &world.http_port.to_string(),
    ]);
    cmd.args([
        "--https-port",
        &world.https_port.to_string(),
        "--allow-net",
        "127.0.0.0/8",
    ]);
    cmd.args(["--as-of", "2026-12-03", "--timeout", "10", "--no-progress"]);
    cmd.arg("--cloud-ranges")
        .arg(world.ranges_file(&["127.0.0.1/32"]));
    cmd.args(extra).stderr(Stdio::null());
    cmd
}

/// Report rows by inventory line, without the probe time (which differs run to run).
fn rows_by_line(path: &Path) -> BTreeMap<u64, Vec<Vec<String>>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name| headers.iter().position(|h| h == name).unwrap();
    let (line, probed) = (col("line"), col("probed_at"));
    let mut rows: BTreeMap<u64, Vec<Vec<String>>> = BTreeMap::new();
    for record in reader.records() {
        let record = record.unwrap();
        let mut row: Vec<String> = record.iter().map(str::to_string).collect();
        row[probed].clear();
        rows.entry(record[line].parse().unwrap())
            .or_default()
            .push(row);
    }
    for site in rows.values_mut() {
        site.sort();
    }
    rows
}

async fn run(mut cmd: Command) -> i32 {
    tokio::task::spawn_blocking(move || cmd.status().unwrap().code().unwrap_or(-1))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn shard_runs_merged_equal_the_whole_run() {
    let (world, inventory) = batch_world(60, Duration::ZERO).await;
    let dir = world.dir.path().to_path_buf();
    let whole = dir.join("whole.csv");
    assert_eq!(run(command(&world, &inventory, &whole, &[])).await, 1);

    let mut shards = Vec::new();
    for k in 0..3 {
        let out = dir.join(format!("shard{k}.csv"));
        run(command(
            &world,
            &inventory,
            &out,
            &["--shard", &format!("{k}/3")],
        ))
        .await;
        shards.push(out);
    }
    let merged = dir.join("merged.csv");
    let status = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("merge")
        .args(&shards)
        .arg("--out")
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success());

    let (whole_rows, merged_rows) = (rows_by_line(&whole), rows_by_line(&merged));
    assert_eq!(whole_rows.len(), 60);
    assert_eq!(merged_rows, whole_rows);
    let per_shard: Vec<usize> = shards.iter().map(|s| rows_by_line(s).len()).collect();
    assert!(per_shard.iter().all(|&n| n > 0 && n < 60), "{per_shard:?}");

    // The same shard twice is refused, and so is a report of another run.
    let status = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("merge")
        .args([&shards[0], &shards[0]])
        .arg("--out")
        .arg(dir.join("bad.csv"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
    let other = dir.join("other.csv");
    run(command(
        &world,
        &inventory,
        &other,
        &["--shard", "1/3", "--as-of", "2027-01-01"],
    ))
    .await;
    let status = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("merge")
        .args([&shards[0], &other])
        .arg("--out")
        .arg(dir.join("bad.csv"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_run_resumes_without_losing_or_repeating_a_site() {
    let (world, inventory) = batch_world(80, Duration::from_millis(150)).await;
    let out = world.dir.path().join("report.csv");

    let mut child = command(&world, &inventory, &out, &["--concurrency", "8"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let before = rows_by_line(&out).len();
    assert!(
        before > 0 && before < 80,
        "the kill should land mid-run: {before} sites done"
    );

    // Tear the last line as a kill in the middle of a write would.
    let text = std::fs::read(&out).unwrap();
    std::fs::write(&out, &text[..text.len() - 5]).unwrap();

    let status = run(command(
        &world,
        &inventory,
        &out,
        &["--resume", "--concurrency", "16"],
    ))
    .await;
    assert_eq!(status, 1);
    let rows = rows_by_line(&out);
    assert_eq!(rows.len(), 80, "every site once");
    for (line, site) in &rows {
        let expected = if (line - 2) % 4 == 3 {
            "finding"
        } else {
            "pass"
        };
        assert!(
            site.iter().all(|r| r[3] == expected),
            "line {line}: {site:?}"
        );
        assert_eq!(
            site.len(),
            site[0][site_rows_column()].parse::<usize>().unwrap(),
            "line {line} is whole"
        );
    }
}

fn site_rows_column() -> usize {
    icp_audit::report::CSV_COLUMNS
        .iter()
        .position(|c| *c == "site_rows")
        .unwrap()
}
