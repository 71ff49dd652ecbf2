//! Record checks end to end (issue 3): `icp-audit audit` on `fixtures/records/inventory.csv`,
//! which exercises every record column, checked row by row; and the catalogue's coverage:
//! every `probe` and `record` entry is raised by at least one fixture of this suite.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use icp_audit::catalogue::{Catalogue, Detection};
use support::{Reply, World, WorldSpec};

/// The page every record fixture serves: compliant, with the 公网安备 number 11010802020321.
const PAGE: &str = r#"<html><head><meta charset="utf-8"><title>星河商城</title></head><body><p>商品</p>
<footer><a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a>
<a href="https://beian.mps.gov.cn/#/query/webSearch?code=11010802020321">京公网安备11010802020321号</a></footer></body></html>"#;

/// What the binary needs to reach a world.
#[derive(Clone)]
struct Target {
    dns: std::net::SocketAddr,
    http_port: u16,
    https_port: u16,
    ca_file: std::path::PathBuf,
    out: std::path::PathBuf,
}

impl Target {
    fn of(world: &World, name: &str) -> Target {
        Target {
            dns: world.dns,
            http_port: world.http_port,
            https_port: world.https_port,
            ca_file: world.ca_file.clone(),
            out: world.dir.path().join(name),
        }
    }
}

/// Runs the binary against a world; returns (exit code, CSV rows as column → value maps).
async fn run_audit(
    world: Target,
    inventory: &Path,
    ranges: &Path,
) -> (i32, Vec<BTreeMap<String, String>>) {
    let (inventory, ranges) = (inventory.to_path_buf(), ranges.to_path_buf());
    tokio::task::spawn_blocking(move || run_binary(&world, &inventory, &ranges))
        .await
        .unwrap()
}

fn run_binary(
    world: &Target,
    inventory: &Path,
    ranges: &Path,
) -> (i32, Vec<BTreeMap<String, String>>) {
    let out = world.out.clone();
    let status = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("audit")
        .arg("--no-registry")
        .arg(inventory)
        .arg("--out")
        .arg(&out)
        .args(["--resolver", &world.dns.to_string()])
        .args(["--http-port", &world.http_port.to_string()])
        .args(["--https-port", &world.https_port.to_string()])
        .arg("--ca-cert")
        .arg(&world.ca_file)
        .arg("--cloud-ranges")
        .arg(ranges)
        .args([
            "--allow-net",
            "127.0.0.0/8",
            "--as-of",
            "2026-12-03",
            "--timeout",
            "5",
        ])
        .status()
        .unwrap();
    (status.code().unwrap_or(-1), read_report(&out))
}

fn read_report(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text
        .strip_prefix('\u{feff}')
        .expect("the CSV report starts with a BOM");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            headers
                .iter()
                .zip(r.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// (code or inconclusive reason, severity) per inventory line.
fn outcomes(rows: &[BTreeMap<String, String>]) -> BTreeMap<u64, BTreeSet<(String, String)>> {
    let mut by_line: BTreeMap<u64, BTreeSet<(String, String)>> = BTreeMap::new();
    for row in rows {
        let line: u64 = row["line"].parse().unwrap();
        let key = match row["result"].as_str() {
            "finding" => (row["code"].clone(), row["severity"].clone()),
            "inconclusive" => (
                format!("inconclusive:{}", row["reason"]),
                row["check"].clone(),
            ),
            _ => ("pass".to_string(), String::new()),
        };
        by_line.entry(line).or_default().insert(key);
    }
    by_line
}

async fn records_world() -> World {
    let zone = std::fs::read_to_string("fixtures/records/records.zone").unwrap();
    let router: support::Router = Arc::new(|_req: &support::Request| Reply::html(PAGE));
    let mut spec = WorldSpec::new(vec![zone], router);
    spec.web_ips = vec!["127.0.0.2".parse().unwrap()];
    World::start(spec).await
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_record_column_is_checked_row_by_row() {
    let world = records_world().await;
    let ranges = world.ranges_file(&["127.0.0.1/32"]);
    let inventory = Path::new("fixtures/records/inventory.csv");
    let (code, rows) = run_audit(Target::of(&world, "records.csv"), inventory, &ranges).await;
    assert_eq!(code, 1, "findings exit with status 1");

    let expected: Vec<(u64, BTreeSet<(String, String)>)> = vec![
        (2, set(&[("pass", "")])),
        (3, set(&[("SUBJ-03", "high")])),
        (4, set(&[("SUBJ-03", "high")])),
        (5, set(&[("pass", "")])),
        (6, set(&[("SUBJ-03", "high")])),
        (7, set(&[("SUBJ-07", "medium")])),
        (8, set(&[("SUBJ-07", "low")])),
        (
            9,
            set(&[
                ("inconclusive:unreadable_cell", "principal_id_expires"),
                ("SUBJ-08", "medium"),
            ]),
        ),
        (10, set(&[("SUBJ-08", "medium")])),
        (11, set(&[("NET-06", "medium")])),
        (12, set(&[("NET-05", "medium")])),
        (13, set(&[("NET-04", "low")])),
        (14, set(&[("APP-02", "medium")])),
        (15, set(&[("APP-03", "medium")])),
        (16, set(&[("APP-04", "medium")])),
        (17, set(&[("APP-04", "medium")])),
        (18, set(&[("APP-05", "high")])),
        (19, set(&[("PSB-01", "medium")])),
        // 30 days left is inside --warn-days 30; the approval, 31 days out, is not.
        (20, set(&[("NET-06", "low")])),
    ];
    let actual = outcomes(&rows);
    for (line, want) in &expected {
        assert_eq!(actual.get(line), Some(want), "inventory line {line}");
    }
    assert_eq!(actual.len(), expected.len(), "one result per inventory row");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_probe_and_record_notice_is_raised_by_a_fixture() {
    let mut raised = BTreeSet::new();

    let world = records_world().await;
    let ranges = world.ranges_file(&["127.0.0.1/32"]);
    let (_, rows) = run_audit(
        Target::of(&world, "records.csv"),
        Path::new("fixtures/records/inventory.csv"),
        &ranges,
    )
    .await;
    raised.extend(rows.iter().map(|r| r["code"].clone()));

    let sample = sample_world().await;
    let ranges = Path::new("fixtures/sample/cloud-ranges.txt");
    let (_, rows) = run_audit(
        Target::of(&sample, "sample.csv"),
        Path::new("fixtures/sample/inventory.csv"),
        ranges,
    )
    .await;
    raised.extend(rows.iter().map(|r| r["code"].clone()));

    for notice in Catalogue::embedded().iter() {
        if matches!(notice.detection, Detection::Probe | Detection::Record) {
            assert!(
                raised.contains(&notice.code),
                "no fixture raises {} {}",
                notice.code,
                notice.notice
            );
        }
    }
}

/// The world of `fixtures/sample`, as `examples/world.rs` serves it.
async fn sample_world() -> World {
    let dir = Path::new("fixtures/sample");
    let zone = std::fs::read_to_string(dir.join("sample.zone")).unwrap();
    let router = support::router_from_dir(dir).unwrap();
    let mut spec = WorldSpec::new(vec![zone], router);
    spec.web_ips = vec!["127.0.0.2".parse().unwrap()];
    World::start(spec).await
}

#[test]
fn a_missing_required_column_stops_the_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inv.csv");
    std::fs::write(
        &inventory,
        "domain,site_name,entity_id\nexample.cn,星河,x\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("audit")
        .arg(&inventory)
        .arg("--no-registry")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("inv.csv: line 1: missing required column `filing_number`"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing audited");
}
