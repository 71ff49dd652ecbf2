//! Report writers for the chosen format, fresh or resumed.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use super::args::AuditArgs;
use anyhow::{Context, Result, bail};
use icp_audit::audit::SiteReport;
use icp_audit::batch::{self, RunMeta};
use icp_audit::catalogue::Catalogue;
use icp_audit::html::{self, HtmlRow};
use icp_audit::report::{self, CsvSink, Format, JsonlSink};

pub(crate) fn format_name(format: Format) -> &'static str {
    match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
        Format::Text => "text",
        Format::Html => "html",
    }
}

/// Opens the report: fresh, or for `--resume` the existing one with its finished lines.
pub(crate) fn open_report(args: &AuditArgs, meta: &RunMeta) -> Result<(Sink, HashSet<u64>)> {
    let Some(out) = args.out.as_deref() else {
        return Ok((open_sink(None, args.format)?, HashSet::new()));
    };
    let resumable = args.resume && std::fs::metadata(out).is_ok_and(|m| m.len() > 0);
    if !resumable {
        meta.write(out)
            .with_context(|| format!("{}: cannot write the run description", out.display()))?;
        return Ok((open_sink(Some(out), args.format)?, HashSet::new()));
    }

    let previous = RunMeta::read(out)?;
    if previous.run != meta.run {
        bail!(
            "{}: --resume: the report was written by another run (inventory or options differ: {} vs {})",
            out.display(),
            previous.options,
            meta.options
        );
    }
    let state = batch::prepare_resume(out, format_name(args.format))?;
    eprintln!(
        "icp-audit: resuming {}: {} sites already done",
        out.display(),
        state.done.len()
    );
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(out)
        .with_context(|| format!("{}: cannot append", out.display()))?;
    let boxed: Box<dyn Write + Send> = Box::new(file);
    let catalogue = Catalogue::embedded();
    let sink = match args.format {
        Format::Csv => Sink::Csv(Box::new(CsvSink::append(boxed, catalogue))),
        Format::Jsonl => Sink::Jsonl(JsonlSink::new(boxed, catalogue)),
        Format::Text => Sink::Text(boxed),
        Format::Html => {
            bail!("--resume cannot continue an HTML report; use csv or jsonl with --history")
        }
    };
    Ok((sink, state.done))
}

/// A report writer for the chosen format.
pub(crate) enum Sink {
    Csv(Box<CsvSink<Box<dyn Write + Send>>>),
    Jsonl(JsonlSink<Box<dyn Write + Send>>),
    Text(Box<dyn Write + Send>),
    /// HTML needs every row before it can be written.
    Html(Box<dyn Write + Send>, Vec<HtmlRow>),
}

pub(crate) fn open_sink(path: Option<&Path>, format: Format) -> Result<Sink> {
    let out: Box<dyn Write + Send> = match path {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create the report", path.display()))?;
            Box::new(std::io::BufWriter::new(file))
        }
        None => Box::new(std::io::stdout()),
    };
    let catalogue = Catalogue::embedded();
    Ok(match format {
        Format::Csv => Sink::Csv(Box::new(CsvSink::new(out, catalogue)?)),
        Format::Jsonl => Sink::Jsonl(JsonlSink::new(out, catalogue)),
        Format::Text => Sink::Text(out),
        Format::Html => Sink::Html(out, Vec::new()),
    })
}

impl Sink {
    pub(crate) fn write(&mut self, report: &SiteReport) -> std::io::Result<()> {
        match self {
            Sink::Csv(sink) => sink.write(report),
            Sink::Jsonl(sink) => sink.write(report),
            Sink::Text(out) => {
                out.write_all(report::text_report(report, Catalogue::embedded()).as_bytes())?;
                out.write_all(b"\n")?;
                out.flush()
            }
            Sink::Html(_, rows) => {
                rows.extend(report::html_rows(report, Catalogue::embedded()));
                Ok(())
            }
        }
    }

    /// Writes one CSV-shaped row (resolved findings); JSON Lines gets an object.
    pub(crate) fn write_row(&mut self, row: Vec<String>) -> std::io::Result<()> {
        match self {
            Sink::Csv(sink) => sink.write_rows(vec![row]),
            Sink::Html(_, rows) => {
                rows.push(report::html_row(&row));
                Ok(())
            }
            Sink::Jsonl(_) | Sink::Text(_) => {
                let object: std::collections::BTreeMap<&str, &String> =
                    report::CSV_COLUMNS.iter().copied().zip(&row).collect();
                let line = serde_json::to_string(&object).map_err(std::io::Error::other)?;
                match self {
                    Sink::Jsonl(sink) => sink.write_raw(&line),
                    Sink::Text(out) => writeln!(out, "{line}"),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Ends the report (HTML is rendered here, with the history's runs for the chart).
    pub(crate) fn finish(&mut self, runs: &[icp_audit::history::RunRecord]) -> std::io::Result<()> {
        if let Sink::Html(out, rows) = self {
            let page = html::render("icp-audit report", rows, runs, Catalogue::embedded());
            out.write_all(page.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }
}
