//! Batch runs at scale: shards, run metadata, resuming a killed run, and merging shard
//! reports.
//!
//! A run writes its report and, beside it, `REPORT.run.json`: the inventory's digest, the
//! options that change verdicts, and the shard. `--shard K/N` keeps the rows whose domain
//! hashes to K (FNV-1a 64 of the normalised domain, modulo N: the same on every machine and
//! release). `--resume` reads the report back, drops a torn tail, and skips the sites already
//! in it. `merge` joins shard reports of one run, refusing different runs and overlaps.

use std::collections::HashSet;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::Domain;
use crate::inventory::FilingRecord;

/// FNV-1a, 64 bits: a hash fixed by its definition, so shards agree across machines.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Shard K of N (K counts from 0, as Kubernetes' JOB_COMPLETION_INDEX does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// Why a shard spec is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard {0:?}: expected K/N with 0 <= K < N, e.g. 0/4")]
pub struct ShardError(String);

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let err = || ShardError(text.to_string());
        let (k, n) = text.split_once('/').ok_or_else(err)?;
        let (index, count): (u32, u32) = (
            k.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// The shard a domain belongs to, of `count`.
    pub fn of_domain(domain: &str, count: u32) -> u32 {
        let key = Domain::parse(domain)
            .map(|d| d.to_string())
            .unwrap_or_else(|_| domain.trim().to_lowercase());
        (fnv1a64(key.as_bytes()) % u64::from(count)) as u32
    }

    pub fn holds(&self, record: &FilingRecord) -> bool {
        Shard::of_domain(&record.domain, self.count) == self.index
    }
}

/// What identifies a run: the inventory and the options that change verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMeta {
    /// FNV-1a 64 of the fingerprint fields below, hex.
    pub run: String,
    pub inventory: String,
    pub inventory_digest: String,
    /// Data rows in the inventory (lines after the header, blank lines excluded).
    pub inventory_rows: u64,
    pub options: String,
    pub shard: Option<Shard>,
    pub format: String,
}

impl RunMeta {
    pub fn new(
        inventory: &Path,
        digest: &InventoryDigest,
        options: String,
        shard: Option<Shard>,
        format: &str,
    ) -> RunMeta {
        let fingerprint = format!(
            "{}|{}|{}|{}",
            digest.hex(),
            options,
            shard.map_or(0, |s| s.count),
            format
        );
        RunMeta {
            run: format!("{:016x}", fnv1a64(fingerprint.as_bytes())),
            inventory: inventory.display().to_string(),
            inventory_digest: digest.hex(),
            inventory_rows: digest.rows,
            options,
            shard,
            format: format.to_string(),
        }
    }

    /// The sidecar path of a report.
    pub fn path_for(report: &Path) -> PathBuf {
        let mut name = report.as_os_str().to_owned();
        name.push(".run.json");
        PathBuf::from(name)
    }

    pub fn write(&self, report: &Path) -> io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(RunMeta::path_for(report), text + "\n")
    }

    pub fn read(report: &Path) -> Result<RunMeta, BatchError> {
        let path = RunMeta::path_for(report);
        let text = std::fs::read_to_string(&path).map_err(|e| BatchError::Io(path.clone(), e))?;
        serde_json::from_str(&text).map_err(|e| BatchError::Meta(path, e.to_string()))
    }
}

/// The digest and row count of an inventory file, from one streaming pass.
#[derive(Debug, Clone, Copy)]
pub struct InventoryDigest {
    pub hash: u64,
    pub rows: u64,
}

impl InventoryDigest {
    pub fn of_file(path: &Path) -> io::Result<InventoryDigest> {
        let mut reader = BufReader::with_capacity(256 * 1024, File::open(path)?);
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let (mut lines, mut blank) = (0u64, true);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
                match b {
                    b'\n' if !blank => (lines, blank) = (lines + 1, true),
                    b'\n' | b'\r' | b' ' | b'\t' => {}
                    _ => blank = false,
                }
            }
        }
        let lines = lines + u64::from(!blank);
        Ok(InventoryDigest {
            hash,
            rows: lines.saturating_sub(1),
        })
    }

    pub fn hex(&self) -> String {
        format!("{:016x}", self.hash)
    }
}

/// Problems with batch files.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{0}: {1}")]
    Io(PathBuf, io::Error),
    #[error("{0}: not a run description: {1}")]
    Meta(PathBuf, String),
    #[error("{report}: written by another run ({theirs}), not this one ({ours}): {why}")]
    DifferentRun {
        report: PathBuf,
        ours: String,
        theirs: String,
        why: String,
    },
    #[error("{0}: shard {1} appears in more than one report")]
    OverlappingShard(PathBuf, Shard),
    #[error("{0}: line {1}: {2}")]
    Report(PathBuf, u64, String),
    #[error("merge needs at least one report")]
    NothingToMerge,
}

/// What `--resume` found in an existing report.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// Inventory lines whose sites are complete in the report.
    pub done: HashSet<u64>,
    /// Bytes cut from the end (a torn last site).
    pub truncated_bytes: u64,
}

/// Reads a report back for resuming: drops a torn tail and returns the finished lines.
pub fn prepare_resume(report: &Path, format: &str) -> Result<ResumeState, BatchError> {
    let io_err = |e| BatchError::Io(report.to_path_buf(), e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(report)
        .map_err(io_err)?;
    let mut text = Vec::new();
    file.read_to_end(&mut text).map_err(io_err)?;

    let (keep, done) = match format {
        "jsonl" => complete_jsonl(&text),
        _ => complete_csv(&text)
            .map_err(|(line, why)| BatchError::Report(report.to_path_buf(), line, why))?,
    };
    let truncated_bytes = (text.len() - keep) as u64;
    if truncated_bytes > 0 {
        tracing::warn!(report = %report.display(), bytes = truncated_bytes, "dropping a torn last site");
        file.set_len(keep as u64).map_err(io_err)?;
    }
    file.seek(SeekFrom::End(0)).map_err(io_err)?;
    Ok(ResumeState {
        done,
        truncated_bytes,
    })
}

/// The length of the complete JSON Lines prefix, and the lines it holds.
fn complete_jsonl(text: &[u8]) -> (usize, HashSet<u64>) {
    let mut done = HashSet::new();
    let mut keep = 0;
    for chunk in text.split_inclusive(|&b| b == b'\n') {
        let value: Option<serde_json::Value> = serde_json::from_slice(chunk).ok();
        let line = value
            .as_ref()
            .and_then(|v| v.get("line"))
            .and_then(serde_json::Value::as_u64);
        match line {
            Some(line) if chunk.ends_with(b"\n") => {
                done.insert(line);
                keep += chunk.len();
            }
            _ => break,
        }
    }
    (keep, done)
}

/// The length of the CSV prefix made of whole sites, and their lines.
fn complete_csv(text: &[u8]) -> Result<(usize, HashSet<u64>), (u64, String)> {
    let end = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&text[..end]);
    let headers = reader.headers().map_err(|e| (1, e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}') == name)
    };
    let (Some(line_col), Some(rows_col)) = (col("line"), col("site_rows")) else {
        return Err((
            1,
            "not an icp-audit CSV report (no line or site_rows column)".into(),
        ));
    };

    let mut done = HashSet::new();
    let (mut keep, mut current, mut seen) = (reader.position().byte() as usize, None, 0u64);
    let mut record = csv::StringRecord::new();
    loop {
        if !reader
            .read_record(&mut record)
            .map_err(|e| (0, e.to_string()))?
        {
            break;
        }
        let line: Option<u64> = record.get(line_col).and_then(|v| v.parse().ok());
        let total: Option<u64> = record.get(rows_col).and_then(|v| v.parse().ok());
        let (Some(line), Some(total)) = (line, total) else {
            break;
        };
        if current != Some(line) {
            (current, seen) = (Some(line), 0);
        }
        seen += 1;
        if seen == total {
            done.insert(line);
            keep = reader.position().byte() as usize;
        }
    }
    Ok((keep, done))
}

/// Joins shard reports of one run into one report at `out`.
pub fn merge(reports: &[PathBuf], out: &Path) -> Result<RunMeta, BatchError> {
    let first = reports.first().ok_or(BatchError::NothingToMerge)?;
    let base = RunMeta::read(first)?;
    let mut shards = HashSet::new();
    for report in reports {
        let meta = RunMeta::read(report)?;
        if meta.run != base.run {
            let why = describe_difference(&base, &meta);
            return Err(BatchError::DifferentRun {
                report: report.clone(),
                ours: base.run.clone(),
                theirs: meta.run,
                why,
            });
        }
        if let Some(shard) = meta.shard
            && !shards.insert(shard.index)
        {
            return Err(BatchError::OverlappingShard(report.clone(), shard));
        }
    }

    let out_err = |e| BatchError::Io(out.to_path_buf(), e);
    let mut writer = io::BufWriter::new(File::create(out).map_err(out_err)?);
    for (i, report) in reports.iter().enumerate() {
        copy_body(report, &mut writer, i == 0, &base.format)?;
    }
    writer.flush().map_err(out_err)?;

    let merged = RunMeta {
        shard: None,
        ..base
    };
    merged.write(out).map_err(out_err)?;
    Ok(merged)
}

fn describe_difference(a: &RunMeta, b: &RunMeta) -> String {
    if a.inventory_digest != b.inventory_digest {
        return format!(
            "inventory digest {} vs {}",
            a.inventory_digest, b.inventory_digest
        );
    }
    if a.options != b.options {
        return format!("options {:?} vs {:?}", a.options, b.options);
    }
    "shard count or format differ".to_string()
}

/// Copies a report, keeping the BOM and header only from the first.
fn copy_body(
    report: &Path,
    out: &mut impl Write,
    first: bool,
    format: &str,
) -> Result<(), BatchError> {
    let io_err = |e| BatchError::Io(report.to_path_buf(), e);
    let mut reader = BufReader::new(File::open(report).map_err(io_err)?);
    if format != "jsonl" && !first {
        let mut header = String::new();
        reader.read_line(&mut header).map_err(io_err)?;
    }
    io::copy(&mut reader, out).map_err(io_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_is_the_published_function() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_parse_and_partition() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert!("4/4".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
        // Normalisation first: the same site lands in the same shard however it is written.
        assert_eq!(
            Shard::of_domain("WWW.Example.CN.", 7),
            Shard::of_domain("www.example.cn", 7)
        );
    }

    #[test]
    fn torn_csv_tail_is_dropped_whole_sites_kept() {
        let header = "domain,result,line,site_rows\n";
        let body = "a.cn,finding,2,2\na.cn,finding,2,2\nb.cn,pass,3,1\nc.cn,finding,4,2\nc.cn,fin";
        let text = format!("{header}{body}");
        let (keep, done) = complete_csv(text.as_bytes()).unwrap();
        assert_eq!(done, HashSet::from([2, 3]));
        assert_eq!(
            &text[..keep],
            format!("{header}a.cn,finding,2,2\na.cn,finding,2,2\nb.cn,pass,3,1\n")
        );
    }

    #[test]
    fn torn_jsonl_tail_is_dropped() {
        let text = b"{\"line\":2}\n{\"line\":3}\n{\"line\":4,\"dom";
        let (keep, done) = complete_jsonl(text);
        assert_eq!(done, HashSet::from([2, 3]));
        assert_eq!(keep, 22);
    }
}
