//! Scheduled audits (issue 6): history across runs, suppressions, `--fail-on`, `diff`, and
//! the HTML report as a person sees it in headless Chromium, hostile page title included.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use support::{Reply, World, WorldSpec};

const GOOD: &str = r#"<html><head><title>星河商城</title></head><body><p>商品</p><footer><a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a></footer></body></html>"#;
const HOSTILE_TITLE: &str =
    r#"<img src=x onerror="document.body.setAttribute('data-pwned','1')">=cmd|' /C calc'!A0"#;

/// Pages that tests can change between runs.
type Pages = Arc<Mutex<std::collections::HashMap<String, String>>>;

async fn world(pages: Pages) -> World {
    let zone = "$ORIGIN hist.test.\n$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 300\n@ IN NS ns\nns IN A 127.0.0.1\n* IN A 127.0.0.1\n".to_string();
    let router: support::Router = Arc::new(move |req: &support::Request| {
        let page = pages
            .lock()
            .unwrap()
            .get(&req.host)
            .cloned()
            .unwrap_or_else(|| GOOD.to_string());
        Reply::html(&page)
    });
    World::start(WorldSpec::new(vec![zone], router)).await
}

fn inventory(dir: &Path) -> PathBuf {
    let path = dir.join("inventory.csv");
    let mut text = String::from("domain,filing_number,site_name\n");
    for name in ["a", "b", "c", "evil"] {
        text.push_str(&format!("{name}.hist.test,京ICP备12345678号-1,星河商城\n"));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn audit(world: &World, out: &Path, as_of: &str, extra: &[&str]) -> Output {
    let inventory = inventory(world.dir.path());
    Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("audit")
        .arg("--no-registry")
        .arg(&inventory)
        .arg("--out")
        .arg(out)
        .arg("--history")
        .arg(world.dir.path().join("history.sqlite"))
        .args([
            "--resolver",
            &world.dns.to_string(),
            "--http-port",
            &world.http_port.to_string(),
        ])
        .args([
            "--https-port",
            &world.https_port.to_string(),
            "--allow-net",
            "127.0.0.0/8",
            "--as-of",
            as_of,
        ])
        .arg("--cloud-ranges")
        .arg(world.ranges_file(&["127.0.0.1/32"]))
        .args(extra)
        .output()
        .unwrap()
}

/// (domain, code, status) of the finding and resolved rows of a CSV report.
fn statuses(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |n| headers.iter().position(|h| h == n).unwrap();
    let mut out: Vec<_> = reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| matches!(&r[col("result")], "finding" | "resolved"))
        .map(|r| {
            (
                r[col("domain")].to_string(),
                r[col("code")].to_string(),
                r[col("status")].to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn s(d: &str, c: &str, st: &str) -> (String, String, String) {
    (d.into(), c.into(), st.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn findings_move_through_new_persisting_resolved_and_reopened() {
    let pages: Pages = Arc::default();
    pages.lock().unwrap().insert(
        "a.hist.test".into(),
        GOOD.replace("京ICP备12345678号-1", ""),
    );
    let w = world(pages.clone()).await;
    let dir = w.dir.path().to_path_buf();

    let out = dir.join("week1.csv");
    let o = tokio::task::block_in_place(|| audit(&w, &out, "2026-11-19", &[]));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(statuses(&out), vec![s("a.hist.test", "WEB-04", "new")]);

    // Week 2: a is still broken, b breaks.
    pages
        .lock()
        .unwrap()
        .insert("b.hist.test".into(), GOOD.replace("星河商城", "别的名字"));
    let out = dir.join("week2.csv");
    let o = tokio::task::block_in_place(|| audit(&w, &out, "2026-11-26", &["--fail-on", "new"]));
    assert_eq!(o.status.code(), Some(1), "b's finding is new");
    assert_eq!(
        statuses(&out),
        vec![
            s("a.hist.test", "WEB-04", "persisting"),
            s("b.hist.test", "WEB-03", "new")
        ]
    );

    // Week 3: a is fixed; nothing new, so --fail-on new passes while any fails.
    pages.lock().unwrap().remove("a.hist.test");
    let out = dir.join("week3.csv");
    let o = tokio::task::block_in_place(|| audit(&w, &out, "2026-12-03", &["--fail-on", "new"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        statuses(&out),
        vec![
            s("a.hist.test", "WEB-04", "resolved"),
            s("b.hist.test", "WEB-03", "persisting")
        ]
    );

    // Week 4: a breaks again the same way.
    pages.lock().unwrap().insert(
        "a.hist.test".into(),
        GOOD.replace("京ICP备12345678号-1", ""),
    );
    let out = dir.join("week4.csv");
    tokio::task::block_in_place(|| audit(&w, &out, "2026-12-10", &[]));
    assert_eq!(
        statuses(&out),
        vec![
            s("a.hist.test", "WEB-04", "reopened"),
            s("b.hist.test", "WEB-03", "persisting")
        ]
    );

    // diff between the last two runs, from the history and from the report files.
    let history = dir.join("history.sqlite");
    let diff = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("diff")
        .arg("--history")
        .arg(&history)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.contains("new        a.hist.test WEB-04"), "{text}");
    let diff = Command::new(env!("CARGO_BIN_EXE_icp-audit"))
        .arg("diff")
        .arg(dir.join("week3.csv"))
        .arg(dir.join("week4.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.contains("new        a.hist.test WEB-04 missing:"),
        "{text}"
    );
    assert!(text.contains("persisting 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn suppressed_findings_are_reported_but_do_not_fail_the_run() {
    let pages: Pages = Arc::default();
    pages
        .lock()
        .unwrap()
        .insert("a.hist.test".into(), GOOD.replace("星河商城", "改名中"));
    let w = world(pages).await;
    let dir = w.dir.path().to_path_buf();
    let rules = dir.join("suppressions.toml");
    std::fs::write(
        &rules,
        "[[suppress]]\ndomain = \"*.hist.test\"\nnotice = \"网站名称与备案信息不符\"\nreason = \"rename approved\"\napproved_by = \"li.wei\"\nexpires = \"2026-12-20\"\n\n\
         [[suppress]]\ndomain = \"gone.hist.test\"\ncode = \"WEB-04\"\nreason = \"x\"\napproved_by = \"y\"\nexpires = \"2027-01-01\"\n",
    )
    .unwrap();

    let out = dir.join("report.csv");
    let o = tokio::task::block_in_place(|| {
        audit(
            &w,
            &out,
            "2026-12-03",
            &["--suppressions", rules.to_str().unwrap()],
        )
    });
    assert_eq!(o.status.code(), Some(0), "the only finding is suppressed");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains("rename approved (approved by li.wei, until 2026-12-20)"),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("expires in 17 days"), "{stderr}");
    assert!(
        stderr.contains("stale suppression, matched nothing: gone.hist.test WEB-04"),
        "{stderr}"
    );

    // After the suppression expires, the same finding counts again.
    let out = dir.join("later.csv");
    let o = tokio::task::block_in_place(|| {
        audit(
            &w,
            &out,
            "2026-12-21",
            &["--suppressions", rules.to_str().unwrap()],
        )
    });
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expired on 2026-12-20"));
}

/// Chromium, if installed; CI installs it and sets ICP_AUDIT_REQUIRE_BROWSER=1.
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() && std::env::var_os("ICP_AUDIT_REQUIRE_BROWSER").is_some() {
        panic!("ICP_AUDIT_REQUIRE_BROWSER is set but no chromium is installed");
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn html_report_shows_escaped_hostile_text_in_a_browser() {
    let pages: Pages = Arc::default();
    let hostile = format!(
        "<html><head><title>{}</title></head><body>x</body></html>",
        HOSTILE_TITLE.replace('<', "&lt;")
    );
    pages
        .lock()
        .unwrap()
        .insert("evil.hist.test".into(), hostile);
    let w = world(pages).await;
    let html = w.dir.path().join("report.html");
    let o = tokio::task::block_in_place(|| audit(&w, &html, "2026-12-03", &["--format", "html"]));
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let source = std::fs::read_to_string(&html).unwrap();
    assert!(
        source.contains("&lt;img src=x onerror="),
        "the title is escaped in the file"
    );
    assert!(
        !source.contains("http://") || !source.contains("<link"),
        "self-contained"
    );

    let Some(browser) = chromium() else {
        eprintln!("chromium not installed: skipped the browser half of this test");
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=2000", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("WEB-04"),
        "the findings table rendered: {}",
        &dom[..dom.len().min(500)]
    );
    assert!(
        !dom.contains("data-pwned=\"1\""),
        "the hostile title ran as markup"
    );
    assert!(
        dom.contains("&lt;img src=x onerror="),
        "the hostile title shows as text"
    );
    assert!(
        dom.contains("rows</span>"),
        "the filter script ran and counted the rows"
    );
}
