//! `findings` and `explain`: the catalogue of notices, as a list or one entry in Chinese and
//! English.

use std::io::Write;
use std::process::ExitCode;

use super::args::ListFormat;
use anyhow::{Result, bail};
use icp_audit::catalogue::Catalogue;

pub(crate) fn list_findings(format: ListFormat) -> Result<ExitCode> {
    let catalogue = Catalogue::embedded();
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            let all: Vec<_> = catalogue.iter().collect();
            serde_json::to_writer_pretty(&mut out, &all)?;
            writeln!(out)?;
        }
        ListFormat::Text => {
            for n in catalogue.iter() {
                let variant = n
                    .variant
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{:<8} {:<9} {:<10} {}{variant}",
                    n.code,
                    n.detection.label(),
                    n.group,
                    n.notice
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn explain(code: &str) -> Result<ExitCode> {
    let Some(n) = Catalogue::embedded().lookup(code) else {
        bail!("no catalogue entry for {code:?}; `icp-audit findings` lists them");
    };
    let variant = n
        .variant
        .as_deref()
        .map(|v| format!(" — {v}"))
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} {}{variant}", n.code, n.notice)?;
    writeln!(
        out,
        "组别 group: {}   严重程度 severity: {}   检测 detection: {}\n",
        n.group,
        n.severity.label(),
        n.detection.label()
    )?;
    writeln!(out, "整改通知\n  {}\nNotice\n  {}\n", n.gist_zh, n.gist_en)?;
    let list = |title: &str, items: &[String]| -> String {
        let mut s = format!("{title}\n");
        for item in items {
            s.push_str(&format!("  - {item}\n"));
        }
        s
    };
    writeln!(
        out,
        "{}{}",
        list("可能原因", &n.causes_zh),
        list("Likely causes", &n.causes_en)
    )?;
    writeln!(
        out,
        "{}{}",
        list("整改建议", &n.fixes_zh),
        list("Suggested fixes", &n.fixes_en)
    )?;
    writeln!(
        out,
        "检查方法\n  {}\nHow it is checked\n  {}",
        n.check_zh, n.check_en
    )?;
    if !n.sources.is_empty() {
        writeln!(out, "\nSources: {}", n.sources.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}
