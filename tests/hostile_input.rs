//! The hostile web, input side (issue 4): broken inventories through the real binary, reports
//! that stay safe to open whatever the text, and property tests that no input makes the
//! reader, decoder, page analysis or parsers panic.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use icp_audit::domain::Domain;
use icp_audit::filing_number::FilingNumber;
use icp_audit::inventory::InventoryReader;
use proptest::prelude::*;
use support::{Reply, Request, Router, World, WorldSpec};

const NUMBER: &str = "京ICP备12345678号-1";
const FORMULA: &str = "=cmd|' /C calc'!A0";

fn page(title: &str) -> String {
    format!(
        r#"<html><title>{title}</title><footer><a href="https://beian.miit.gov.cn/">{NUMBER}</a></footer></html>"#
    )
}

async fn world() -> World {
    let zone = "$ORIGIN test.\n$TTL 60\n@ IN SOA ns.test. admin.test. 1 3600 600 86400 60\n@ IN NS ns.test.\n\
                ns IN A 127.0.0.1\nsite IN A 127.0.0.1\nevil IN A 127.0.0.1\nxn--fiq228c37oz8d IN A 127.0.0.1\n";
    let router: Router = Arc::new(|req: &Request| match req.host.as_str() {
        "evil.test" => Reply::html(&page(&format!("{FORMULA} \"q\" \u{1} \u{7f}"))),
        _ => Reply::html(&page("星河商城")),
    });
    World::start(WorldSpec::new(vec![zone.to_string()], router)).await
}

/// Runs `icp-audit audit` on an inventory against the world; returns the output and report.
fn run(world: &World, inventory: &Path, format: &str, extra: &[&str]) -> (Output, Vec<u8>) {
    let out = world.dir.path().join(format!("report.{format}"));
    let ranges = world.ranges_file(&["127.0.0.0/8"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_icp-audit"));
    command
        .arg("audit")
        .arg("--no-registry")
        .arg(inventory)
        .arg("--out")
        .arg(&out)
        .args(["--format", format]);
    command.args([
        "--resolver",
        &world.dns.to_string(),
        "--allow-private",
        "--timeout",
        "2",
    ]);
    command.args([
        "--http-port",
        &world.http_port.to_string(),
        "--https-port",
        &world.https_port.to_string(),
    ]);
    command
        .arg("--ca-cert")
        .arg(&world.ca_file)
        .arg("--cloud-ranges")
        .arg(ranges)
        .args(extra);
    let output = command.output().unwrap();
    let report = std::fs::read(&out).unwrap_or_default();
    (output, report)
}

fn inventory(world: &World, name: &str, bytes: &[u8]) -> PathBuf {
    let path = world.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn csv_rows(report: &[u8]) -> Vec<csv::StringRecord> {
    let text = std::str::from_utf8(report)
        .unwrap()
        .trim_start_matches('\u{feff}');
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect()
}

/// The hostile inventory: (line, domain cell) of every data row, and the file.
fn hostile_inventory() -> (Vec<u64>, String) {
    let rows = [
        format!("site.test,{NUMBER},星河商城"),
        "site.test,,无号站".to_string(),
        format!("exa mple.test,{NUMBER},星河商城"),
        format!("http://site.test/path/x?q=1,{NUMBER},路径"),
        format!("SITE.TEST.,{NUMBER},大写"),
        format!("中文网站.test,{NUMBER},星河商城"),
        format!("site.test,{NUMBER},星河商城"),
        format!("evil.test,{NUMBER},\"{}\"", FORMULA.replace('"', "\"\"")),
        format!("\"=HYPERLINK(\"\"http://x\"\")\",{NUMBER},@SUM(1)"),
        format!("\"bad.test,{NUMBER},未闭合"),
    ];
    let text = format!("domain,filing_number,site_name\n{}\n", rows.join("\n"));
    ((2..2 + rows.len() as u64).collect(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_gets_a_result_and_the_csv_is_safe_to_open() {
    let w = world().await;
    let (lines, text) = hostile_inventory();
    let path = inventory(&w, "inventory.csv", text.as_bytes());
    let (output, report) = tokio::task::block_in_place(|| run(&w, &path, "csv", &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{} sites:", lines.len())),
        "{stderr}"
    );

    let rows = csv_rows(&report);
    let reported: BTreeSet<u64> = rows.iter().map(|r| r[14].parse().unwrap()).collect();
    assert_eq!(
        reported,
        lines.iter().copied().collect(),
        "every row ends with a report row"
    );
    for row in &rows {
        for cell in row.iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "unsafe cell {cell:?}"
            );
        }
    }
    let by_line = |line: u64| {
        rows.iter()
            .filter(move |r| r[14] == line.to_string())
            .collect::<Vec<_>>()
    };
    let reasons = |line: u64| {
        by_line(line)
            .iter()
            .map(|r| r[13].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(by_line(2)[0][3].to_string(), "pass");
    assert!(
        reasons(3).contains(&"missing_value".to_string()),
        "{:?}",
        by_line(3)
    );
    assert_eq!(reasons(4), vec!["invalid_domain"]);
    // A URL with a path, upper case and a trailing dot: the host is audited (the names differ
    // from the page's title on purpose, so these rows are not duplicates of line 2).
    for line in [5, 6] {
        assert!(
            by_line(line).iter().all(|r| &r[4] == "WEB-03"),
            "{:?}",
            by_line(line)
        );
    }
    assert_eq!(by_line(7)[0][3].to_string(), "pass", "IDN through punycode");
    assert_eq!(reasons(8), vec!["duplicate_row"]);
    assert!(
        by_line(9).iter().all(|r| r[2] == format!("'{FORMULA}")),
        "{:?}",
        by_line(9)
    );
    assert!(by_line(10)[0][2].starts_with("'@SUM"), "{:?}", by_line(10));
    assert!(
        by_line(10)[0][0].starts_with("'=HYPERLINK"),
        "{:?}",
        by_line(10)
    );
    assert_eq!(reasons(11), vec!["unreadable_row"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_stay_valid_for_hostile_titles_and_cells() {
    let w = world().await;
    let (lines, text) = hostile_inventory();
    let path = inventory(&w, "inventory.csv", text.as_bytes());
    let (_, report) = tokio::task::block_in_place(|| run(&w, &path, "jsonl", &[]));
    let text = String::from_utf8(report).expect("JSON Lines are UTF-8");
    let sites: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(sites.len(), lines.len());
    let evil = sites.iter().find(|s| s["domain"] == "evil.test").unwrap();
    let title = evil["evidence"]["page"]["title"].as_str().unwrap();
    assert!(
        title.starts_with(FORMULA) && title.contains("\"q\""),
        "{title}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_inventory_is_read() {
    let w = world().await;
    let text = format!("domain,filing_number,site_name\nsite.test,{NUMBER},星河商城\n");
    let (gbk, _, _) = encoding_rs::GBK.encode(&text);
    let path = inventory(&w, "gbk.csv", &gbk);
    let (output, report) = tokio::task::block_in_place(|| run(&w, &path, "csv", &[]));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = csv_rows(&report);
    assert_eq!((&rows[0][2], &rows[0][3]), ("星河商城", "pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_file_and_strict_stop_with_status_two() {
    let w = world().await;
    let empty = inventory(&w, "empty.csv", b"");
    let (output, _) = tokio::task::block_in_place(|| run(&w, &empty, "csv", &[]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the file is empty"));

    let (_, text) = hostile_inventory();
    let path = inventory(&w, "inventory.csv", text.as_bytes());
    let (output, _) = tokio::task::block_in_place(|| run(&w, &path, "csv", &["--strict"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("line 3: column filing_number"), "{stderr}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn inventory_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.csv");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(reader) = InventoryReader::open(&path) {
            for row in reader.take(1000) {
                let _ = row;
            }
        }
    }

    #[test]
    fn csv_shaped_inventories_never_panic(body in "[a-z.,\"\n\r 京=\u{0}-]{0,400}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.csv");
        std::fs::write(&path, format!("domain,filing_number,site_name\n{body}")).unwrap();
        let reader = InventoryReader::open(&path).unwrap();
        let _ = reader.take(1000).count();
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096), label in "[a-zA-Z0-9=; -]{0,30}") {
        let decoded = icp_audit::charset::decode(&bytes, Some(&label), Some(b"cn"));
        prop_assert!(decoded.text.len() <= bytes.len() * 3 + 3);
    }

    #[test]
    fn page_analysis_never_panics(html in "(<[a-z/!?]{0,3}[a-z ='\"]{0,6}>?|[^<]{0,8}|&#?[a-z0-9]{0,4};?|京ICP备12345678号){0,200}") {
        let _ = icp_audit::page::analyse(&html);
    }

    #[test]
    fn page_analysis_of_arbitrary_text_never_panics(html in "\\PC{0,500}") {
        let _ = icp_audit::page::analyse(&html);
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,80}") {
        let _ = FilingNumber::parse(&text);
        let _ = Domain::parse(&text);
    }
}
