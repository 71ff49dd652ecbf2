//! The HTML report: one self-contained file (inline CSS, JS and SVG; nothing fetched) with
//! counts by group and notice, a chart of findings over the runs in the history, and the
//! findings themselves, sortable and filterable by notice, status and domain.
//!
//! Every string that came from a site or an inventory is escaped before it is written, and
//! rows carry their data in escaped attributes, never inside a `<script>`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::catalogue::Catalogue;
use crate::history::RunRecord;

/// One row of the findings table.
#[derive(Debug, Clone, Default)]
pub struct HtmlRow {
    pub domain: String,
    pub result: String,
    pub code: String,
    pub severity: String,
    pub status: String,
    pub first_seen: String,
    pub days_open: String,
    pub suppressed: String,
    pub evidence: String,
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Renders the report.
pub fn render(title: &str, rows: &[HtmlRow], runs: &[RunRecord], catalogue: &Catalogue) -> String {
    let mut html = String::with_capacity(64 * 1024 + rows.len() * 512);
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        escape(title)
    );
    let _ = write!(html, "<h1>{}</h1>", escape(title));
    html.push_str(&counts(rows, catalogue));
    if runs.len() > 1 {
        html.push_str(&chart(runs));
    }
    html.push_str(&filters(rows, catalogue));
    html.push_str(&table(rows, catalogue));
    let _ = write!(html, "<script>{JS}</script></body></html>");
    html
}

fn counts(rows: &[HtmlRow], catalogue: &Catalogue) -> String {
    let mut by_notice: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut sites: BTreeMap<&str, &str> = BTreeMap::new();
    for row in rows {
        let entry = sites.entry(&row.domain).or_insert(row.result.as_str());
        if row.result == "finding" || *entry == "pass" {
            *entry = row.result.as_str();
        }
        if row.result == "finding" {
            let group = catalogue
                .get(&row.code)
                .map_or(String::new(), |n| n.group.clone());
            *by_notice.entry((group, row.code.clone())).or_default() += 1;
        }
    }
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    for result in sites.values() {
        *tally.entry(result).or_default() += 1;
    }

    let mut out = String::from("<section id=\"counts\"><p class=\"tally\">");
    for (result, n) in &tally {
        let _ = write!(out, "<span class=\"r-{0}\">{n} {0}</span> ", escape(result));
    }
    out.push_str("</p><table class=\"counts\"><tr><th>group</th><th>code</th><th>notice</th><th>findings</th></tr>");
    for ((group, code), n) in &by_notice {
        let notice = catalogue.get(code).map_or("", |n| n.notice.as_str());
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{n}</td></tr>",
            escape(group),
            escape(code),
            escape(notice)
        );
    }
    out.push_str("</table></section>");
    out
}

/// An inline SVG bar chart of findings per run.
fn chart(runs: &[RunRecord]) -> String {
    let (w, h, pad) = (640.0, 180.0, 30.0);
    let max = runs.iter().map(|r| r.findings).max().unwrap_or(1).max(1) as f64;
    let step = (w - 2.0 * pad) / runs.len() as f64;
    let mut svg = format!(
        "<section id=\"chart\"><h2>findings per run</h2><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" role=\"img\">"
    );
    for (i, run) in runs.iter().enumerate() {
        let bar = (h - 2.0 * pad) * run.findings as f64 / max;
        let x = pad + i as f64 * step;
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bar:.1}\" fill=\"#c0392b\"><title>{} — {} findings</title></rect><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
            h - pad - bar,
            (step * 0.7).max(1.0),
            escape(&run.as_of),
            run.findings,
            x,
            h - pad + 12.0,
            escape(&run.as_of)
        );
    }
    svg.push_str("</svg></section>");
    svg
}

fn filters(rows: &[HtmlRow], catalogue: &Catalogue) -> String {
    let mut codes: Vec<&str> = rows
        .iter()
        .filter(|r| !r.code.is_empty())
        .map(|r| r.code.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let mut out = String::from(
        "<section id=\"filters\"><label>notice <select id=\"f-code\"><option value=\"\">all</option>",
    );
    for code in codes {
        let notice = catalogue.get(code).map_or("", |n| n.notice.as_str());
        let _ = write!(
            out,
            "<option value=\"{0}\">{0} {1}</option>",
            escape(code),
            escape(notice)
        );
    }
    out.push_str(
        "</select></label> <label>status <select id=\"f-status\"><option value=\"\">all</option>",
    );
    for status in ["new", "persisting", "reopened", "resolved", "suppressed"] {
        let _ = write!(out, "<option>{status}</option>");
    }
    out.push_str("</select></label> <label>domain <input id=\"f-domain\" type=\"search\"></label> <span id=\"shown\"></span></section>");
    out
}

fn table(rows: &[HtmlRow], catalogue: &Catalogue) -> String {
    let columns = [
        "domain",
        "result",
        "code",
        "notice",
        "severity",
        "status",
        "first seen",
        "days open",
        "evidence",
        "fix",
    ];
    let mut out = String::from("<table id=\"findings\"><thead><tr>");
    for (i, c) in columns.iter().enumerate() {
        let _ = write!(out, "<th data-col=\"{i}\">{c}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str(&table_row(row, catalogue));
    }
    out.push_str("</tbody></table>");
    out
}

fn table_row(row: &HtmlRow, catalogue: &Catalogue) -> String {
    let notice = catalogue.get(&row.code);
    let status = if row.suppressed.is_empty() {
        row.status.clone()
    } else {
        format!("{} suppressed", row.status)
    };
    let status_cell = if row.suppressed.is_empty() {
        escape(&row.status)
    } else {
        format!(
            "{} <em>suppressed: {}</em>",
            escape(&row.status),
            escape(&row.suppressed)
        )
    };
    let cells = [
        escape(&row.domain),
        escape(&row.result),
        escape(&row.code),
        escape(notice.map_or("", |n| n.notice.as_str())),
        escape(&row.severity),
        status_cell,
        escape(&row.first_seen),
        escape(&row.days_open),
        escape(&row.evidence),
        escape(&notice.map(|n| n.remediation()).unwrap_or_default()),
    ];
    let mut out = format!(
        "<tr class=\"r-{}\" data-code=\"{}\" data-status=\"{}\" data-domain=\"{}\">",
        escape(&row.result),
        escape(&row.code),
        escape(status.trim()),
        escape(&row.domain)
    );
    for cell in cells {
        let _ = write!(out, "<td>{cell}</td>");
    }
    out.push_str("</tr>");
    out
}

const CSS: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#f3f3f3;cursor:pointer}\
#findings td:nth-child(9),#findings td:nth-child(10){max-width:36em;font-size:12px}.r-finding td:nth-child(2){color:#c0392b}\
.r-inconclusive td:nth-child(2){color:#b9770e}.r-pass td:nth-child(2){color:#1e8449}.tally span{margin-right:1em;font-weight:bold}\
em{color:#666}";

const JS: &str = r#"(function(){
var body=document.querySelector('#findings tbody');var rows=Array.prototype.slice.call(body.rows);
var fc=document.getElementById('f-code'),fs=document.getElementById('f-status'),fd=document.getElementById('f-domain');
function apply(){var c=fc.value,s=fs.value,d=fd.value.toLowerCase(),n=0;rows.forEach(function(r){
var ok=(!c||r.dataset.code===c)&&(!s||r.dataset.status.split(' ').indexOf(s)>=0)&&(!d||r.dataset.domain.toLowerCase().indexOf(d)>=0);
r.style.display=ok?'':'none';if(ok)n++;});document.getElementById('shown').textContent=n+' rows';}
[fc,fs].forEach(function(e){e.addEventListener('change',apply);});fd.addEventListener('input',apply);
document.querySelectorAll('#findings th').forEach(function(th){var asc=true;th.addEventListener('click',function(){
var i=+th.dataset.col;rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent;
var nx=parseFloat(x),ny=parseFloat(y);var r=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?r:-r;});
asc=!asc;rows.forEach(function(r){body.appendChild(r);});});});apply();})();"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let row = HtmlRow {
            domain: "a.cn\" onmouseover=\"x".into(),
            result: "finding".into(),
            code: "WEB-03".into(),
            evidence: "<script>alert(1)</script>".into(),
            ..Default::default()
        };
        let html = render("t<b>", &[row], &[], Catalogue::embedded());
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("\" onmouseover=\"x"));
        assert!(html.contains("<title>t&lt;b&gt;</title>"));
    }
}
