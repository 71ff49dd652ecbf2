//! Reading the filing inventory: CSV (UTF-8, BOM tolerated, GBK/GB18030 detected) or JSON
//! Lines, streamed row by row so a million-row file never sits in memory.
//!
//! A missing required column stops the run before any site is audited. A bad row (an
//! unterminated quote, a line that is not JSON) becomes a [`RowError`] carrying its line
//! number, and reading goes on with the next row: one bad row never costs the others.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The columns every inventory must have.
pub const REQUIRED_COLUMNS: &[&str] = &["domain", "filing_number", "site_name"];

/// The longest physical line read; a longer one becomes a bad row, so memory stays bounded.
const MAX_LINE_BYTES: usize = 1024 * 1024;

/// How many physical lines one CSV record may span before an open quote is declared broken.
const MAX_RECORD_LINES: usize = 64;

/// One row of the inventory: a filed site and whatever else the filing record carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct FilingRecord {
    /// The line where the row starts (the header is line 1).
    pub line: u64,
    /// The domain as written in the inventory.
    pub domain: String,
    /// The filed number as written; empty when the cell is blank.
    pub filing_number: String,
    /// The filed site name as written; empty when the cell is blank.
    pub site_name: String,
    /// Every other column, by lower-case header name.
    pub fields: BTreeMap<String, String>,
}

impl FilingRecord {
    /// A column's value, trimmed, or `None` when the column is absent or the cell is blank.
    pub fn field(&self, column: &str) -> Option<&str> {
        let value = match column {
            "domain" => self.domain.as_str(),
            "filing_number" => self.filing_number.as_str(),
            "site_name" => self.site_name.as_str(),
            other => self.fields.get(other)?.as_str(),
        };
        let value = value.trim();
        (!value.is_empty()).then_some(value)
    }
}

/// Input problems that stop the run (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: line 1: missing required column `{column}` (header has: {found})")]
    MissingColumn {
        path: PathBuf,
        column: String,
        found: String,
    },
    #[error("{path}: the file is empty: expected a header row with {}", REQUIRED_COLUMNS.join(", "))]
    Empty { path: PathBuf },
    #[error("{path}: line {line}: {message}")]
    Header {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// A row that could not be read; the run goes on without it, and it gets its own result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: line {line}: {message}")]
pub struct RowError {
    pub path: String,
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<String>,
    pub message: String,
    /// The raw text of the row, as far as it could be read, for the report.
    pub raw: String,
    /// Set when the row repeats an earlier one: that row's line.
    pub duplicate_of: Option<u64>,
}

/// The text encoding the inventory was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    /// Not UTF-8: read as GB18030, the superset of GBK and GB2312.
    Gb18030,
}

enum Format {
    Csv { header: Vec<String> },
    JsonLines,
}

/// Streams [`FilingRecord`]s out of an inventory file.
pub struct InventoryReader {
    path: PathBuf,
    lines: Box<dyn BufRead + Send>,
    format: Format,
    line_no: u64,
    encoding: TextEncoding,
    /// A line read ahead (the first JSON Lines object, read while sniffing the format).
    pending: Option<(u64, String)>,
    /// Set when the line just read was cut at [`MAX_LINE_BYTES`].
    overlong: Option<u64>,
    /// The CSV splitter, kept so no row pays for building one.
    splitter: CsvSplitter,
}

impl InventoryReader {
    /// Opens an inventory, detects its encoding and format, and validates the header.
    pub fn open(path: &Path) -> Result<InventoryReader, InventoryError> {
        let io_err = |source| InventoryError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        InventoryReader::from_reader(path, Box::new(file)).map_err(|e| match e {
            OpenError::Io(source) => io_err(source),
            OpenError::Inventory(e) => e,
        })
    }

    fn from_reader(path: &Path, mut raw: Box<dyn Read + Send>) -> Result<Self, OpenError> {
        let mut head = vec![0u8; 64 * 1024];
        let n = read_up_to(&mut raw, &mut head)?;
        head.truncate(n);
        let encoding = sniff_encoding(&head);
        let chained: Box<dyn Read + Send> = Box::new(io::Cursor::new(head).chain(raw));
        let text: Box<dyn Read + Send> = match encoding {
            TextEncoding::Utf8 => chained,
            TextEncoding::Gb18030 => Box::new(Transcoder::new(chained, encoding_rs::GB18030)),
        };

        let mut reader = InventoryReader {
            path: path.to_path_buf(),
            lines: Box::new(BufReader::with_capacity(64 * 1024, text)),
            format: Format::JsonLines,
            line_no: 0,
            encoding,
            pending: None,
            overlong: None,
            splitter: CsvSplitter::default(),
        };
        reader.read_header()?;
        Ok(reader)
    }

    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_header(&mut self) -> Result<(), OpenError> {
        let Some((line, first)) = self.next_nonblank_line()? else {
            return Err(InventoryError::Empty {
                path: self.path.clone(),
            }
            .into());
        };
        let first = first.strip_prefix('\u{feff}').unwrap_or(&first).to_string();

        if first.trim_start().starts_with('{') {
            self.format = Format::JsonLines;
            self.pending = Some((line, first));
            return Ok(());
        }

        let header = self
            .splitter
            .split(&first)
            .map_err(|message| InventoryError::Header {
                path: self.path.clone(),
                line,
                message,
            })?;
        let header: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
        for column in REQUIRED_COLUMNS {
            if !header.iter().any(|h| h == column) {
                return Err(InventoryError::MissingColumn {
                    path: self.path.clone(),
                    column: column.to_string(),
                    found: header.join(", "),
                }
                .into());
            }
        }
        self.format = Format::Csv { header };
        Ok(())
    }
}

impl Iterator for InventoryReader {
    type Item = Result<FilingRecord, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = match self.pending.take() {
            Some(pending) => Some(pending),
            None => match self.next_nonblank_line() {
                Ok(line) => line,
                Err(e) => return Some(Err(self.row_error(self.line_no, None, e.to_string(), ""))),
            },
        };
        let (line, text) = next?;
        if let Some(long) = self.overlong.take() {
            let message = format!("the line is longer than {MAX_LINE_BYTES} bytes; skipped");
            return Some(Err(self.row_error(long, None, message, &text)));
        }

        Some(match &self.format {
            Format::JsonLines => self.json_record(line, &text),
            Format::Csv { .. } => self.csv_record(line, text),
        })
    }
}

impl InventoryReader {
    /// The next line that is not blank, with its 1-based line number; `None` at the end.
    fn next_nonblank_line(&mut self) -> io::Result<Option<(u64, String)>> {
        loop {
            let Some(line) = self.read_line()? else {
                return Ok(None);
            };
            if !line.trim().is_empty() {
                return Ok(Some((self.line_no, line)));
            }
        }
    }

    /// One physical line without its line ending; invalid UTF-8 is replaced, not fatal.
    fn read_line(&mut self) -> io::Result<Option<String>> {
        let mut buf = Vec::new();
        let limit = MAX_LINE_BYTES as u64 + 1;
        if (&mut self.lines).take(limit).read_until(b'\n', &mut buf)? == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            self.skip_rest_of_line()?;
            self.overlong = Some(self.line_no);
            buf.truncate(200);
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        Ok(Some(String::from_utf8(buf).unwrap_or_else(|e| {
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        })))
    }

    /// Discards the rest of an overlong line without holding it in memory.
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let chunk = self.lines.fill_buf()?;
            if chunk.is_empty() {
                return Ok(());
            }
            match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.lines.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = chunk.len();
                    self.lines.consume(n);
                }
            }
        }
    }

    fn csv_record(&mut self, line: u64, mut text: String) -> Result<FilingRecord, RowError> {
        let mut spanned = 1;
        while text.matches('"').count() % 2 == 1 {
            if spanned >= MAX_RECORD_LINES {
                let message = format!(
                    "unterminated quote: the row runs past {MAX_RECORD_LINES} lines; skipped to line {}",
                    self.line_no + 1
                );
                return Err(self.row_error(line, None, message, &text));
            }
            match self.read_line() {
                Ok(Some(more)) => {
                    text.push('\n');
                    text.push_str(&more);
                    spanned += 1;
                }
                _ => {
                    let message = "unterminated quote at the end of the file".to_string();
                    return Err(self.row_error(line, None, message, &text));
                }
            }
        }

        let fields = self
            .splitter
            .split(&text)
            .map_err(|m| self.row_error(line, None, m, &text))?;
        let Format::Csv { header } = &self.format else {
            unreachable!("csv_record is only called for CSV inventories");
        };
        if fields.len() > header.len()
            && fields[header.len()..].iter().any(|f| !f.trim().is_empty())
        {
            let message = format!(
                "{} fields, but the header has {}",
                fields.len(),
                header.len()
            );
            return Err(self.row_error(line, None, message, &text));
        }

        let mut record = FilingRecord {
            line,
            ..FilingRecord::default()
        };
        for (name, value) in header
            .iter()
            .zip(fields.into_iter().chain(std::iter::repeat(String::new())))
        {
            record.set(name, value);
        }
        Ok(record)
    }

    fn json_record(&self, line: u64, text: &str) -> Result<FilingRecord, RowError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| self.row_error(line, None, format!("not a JSON object: {e}"), text))?;
        let serde_json::Value::Object(map) = value else {
            return Err(self.row_error(line, None, "not a JSON object".to_string(), text));
        };

        if !map.keys().any(|k| k.trim().eq_ignore_ascii_case("domain")) {
            let message = "missing key `domain`".to_string();
            return Err(self.row_error(line, Some("domain"), message, text));
        }

        let mut record = FilingRecord {
            line,
            ..FilingRecord::default()
        };
        for (key, value) in map {
            let value = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(";"),
                other => other.to_string(),
            };
            record.set(&key.trim().to_lowercase(), value);
        }
        Ok(record)
    }

    fn row_error(&self, line: u64, column: Option<&str>, message: String, raw: &str) -> RowError {
        RowError {
            path: self.path.display().to_string(),
            line,
            column: column.map(str::to_string),
            message,
            raw: raw.chars().take(200).collect(),
            duplicate_of: None,
        }
    }
}

impl FilingRecord {
    fn set(&mut self, column: &str, value: String) {
        match column {
            "domain" => self.domain = value,
            "filing_number" => self.filing_number = value,
            "site_name" => self.site_name = value,
            other => {
                self.fields.insert(other.to_string(), value);
            }
        }
    }
}

/// Marks rows that repeat an earlier row (same domain, number and name) so each site is
/// audited once; the repeat still gets its own report row. Keeps 16 bytes per distinct row.
#[derive(Debug, Default)]
pub struct Deduplicator {
    seen: std::collections::HashMap<u64, u64>,
}

impl Deduplicator {
    pub fn check(
        &mut self,
        row: Result<FilingRecord, RowError>,
        path: &Path,
    ) -> Result<FilingRecord, RowError> {
        let record = row?;
        let key = dedupe_key(&record);
        match self.seen.get(&key) {
            Some(&first) => Err(RowError {
                path: path.display().to_string(),
                line: record.line,
                column: None,
                message: format!(
                    "duplicate of line {first}: the same domain, filing number and site name; audited there"
                ),
                raw: record.domain.clone(),
                duplicate_of: Some(first),
            }),
            None => {
                self.seen.insert(key, record.line);
                Ok(record)
            }
        }
    }
}

fn dedupe_key(record: &FilingRecord) -> u64 {
    use std::hash::{Hash, Hasher};

    let domain = crate::domain::Domain::parse(&record.domain)
        .map(|d| d.to_string())
        .unwrap_or_else(|_| record.domain.trim().to_string());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    domain.hash(&mut hasher);
    crate::filing_number::fold(&record.filing_number).hash(&mut hasher);
    record.site_name.trim().hash(&mut hasher);
    hasher.finish()
}

/// Why a row cannot be audited as given, for `--strict`: unreadable, no usable domain, or a
/// blank required cell.
pub fn strict_problem(row: &Result<FilingRecord, RowError>) -> Option<String> {
    let record = match row {
        Err(error) if error.duplicate_of.is_some() => return None,
        Err(error) => return Some(error.to_string()),
        Ok(record) => record,
    };
    if let Err(error) = crate::domain::Domain::parse(&record.domain) {
        return Some(format!("line {}: column domain: {error}", record.line));
    }
    REQUIRED_COLUMNS
        .iter()
        .find(|c| record.field(c).is_none())
        .map(|c| format!("line {}: column {c}: the cell is empty", record.line))
}

/// Splits one CSV record (which may span lines inside quotes) into its fields: comma,
/// double quotes with `""` inside, no comments or escapes, as the `csv` crate reads by
/// default.
struct CsvSplitter {
    parser: csv_core::Reader,
}

impl Default for CsvSplitter {
    fn default() -> CsvSplitter {
        CsvSplitter {
            parser: csv_core::Reader::new(),
        }
    }
}

impl CsvSplitter {
    fn split(&mut self, text: &str) -> Result<Vec<String>, String> {
        use csv_core::ReadRecordResult;

        self.parser.reset();
        // Unquoting only shortens, so the text bounds the output, and its commas the fields.
        let commas = memchr::memchr_iter(b',', text.as_bytes()).count();
        let mut output = vec![0u8; text.len() + 1];
        let mut ends = vec![0usize; commas + 2];
        let (mut input, mut written, mut fields) = (text.as_bytes(), 0, 0);
        loop {
            let (result, read, out, end) = self.parser.read_record(
                input,
                output.get_mut(written..).unwrap_or_default(),
                ends.get_mut(fields..).unwrap_or_default(),
            );
            input = input.get(read..).unwrap_or_default();
            written += out;
            fields += end;
            match result {
                ReadRecordResult::InputEmpty => continue,
                ReadRecordResult::Record | ReadRecordResult::End => break,
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {
                    return Err("unreadable CSV: a record longer than its line".to_string());
                }
            }
        }
        let mut start = 0;
        let mut split = Vec::with_capacity(fields);
        for &end in ends.get(..fields).unwrap_or_default() {
            let field = output.get(start..end).unwrap_or_default();
            let field = std::str::from_utf8(field)
                .map_err(|e| format!("unreadable CSV: invalid UTF-8 in a field: {e}"))?;
            split.push(field.to_string());
            start = end;
        }
        Ok(split)
    }
}

/// UTF-8 unless the first bytes are not; then GB18030 (which reads GBK and GB2312 too).
fn sniff_encoding(head: &[u8]) -> TextEncoding {
    match std::str::from_utf8(head) {
        Ok(_) => TextEncoding::Utf8,
        // A multi-byte character cut at the end of the sample is still UTF-8.
        Err(e) if e.error_len().is_none() => TextEncoding::Utf8,
        Err(_) => TextEncoding::Gb18030,
    }
}

fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

enum OpenError {
    Io(io::Error),
    Inventory(InventoryError),
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        OpenError::Io(e)
    }
}

impl From<InventoryError> for OpenError {
    fn from(e: InventoryError) -> Self {
        OpenError::Inventory(e)
    }
}

/// Streams text in a legacy encoding out as UTF-8.
struct Transcoder<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<R: Read> Transcoder<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        Transcoder {
            inner,
            decoder: encoding.new_decoder_without_bom_handling(),
            input: vec![0; 16 * 1024],
            output: Vec::new(),
            out_pos: 0,
            done: false,
        }
    }

    fn refill(&mut self) -> io::Result<()> {
        let n = self.inner.read(&mut self.input)?;
        let last = n == 0;
        let mut decoded = String::with_capacity(n * 3 / 2 + 16);
        let cap = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 4 + 16);
        decoded.reserve(cap);
        let _ = self
            .decoder
            .decode_to_string(&self.input[..n], &mut decoded, last);
        self.output = decoded.into_bytes();
        self.out_pos = 0;
        self.done = last;
        Ok(())
    }
}

impl<R: Read> Read for Transcoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.output.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let n = buf.len().min(self.output.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_reads_quotes_like_the_csv_crate() {
        let mut splitter = CsvSplitter::default();
        for (text, fields) in [
            ("a,b,c", vec!["a", "b", "c"]),
            ("a,,", vec!["a", "", ""]),
            (
                "\"星河, 科技\",\"say \"\"hi\"\"\"",
                vec!["星河, 科技", "say \"hi\""],
            ),
            ("\"two\nlines\",x", vec!["two\nlines", "x"]),
            ("", vec![]),
        ] {
            assert_eq!(splitter.split(text).unwrap(), fields, "{text:?}");
        }
    }

    fn read(bytes: &[u8]) -> Result<Vec<Result<FilingRecord, RowError>>, InventoryError> {
        let reader = InventoryReader::from_reader(
            Path::new("inv.csv"),
            Box::new(io::Cursor::new(bytes.to_vec())),
        )
        .map_err(|e| match e {
            OpenError::Io(e) => panic!("{e}"),
            OpenError::Inventory(e) => e,
        })?;
        Ok(reader.collect())
    }

    #[test]
    fn reads_csv_with_bom_and_extra_columns() {
        let rows = read(
            "\u{feff}Domain,filing_number,site_name,entity_id\nexample.cn,京ICP备1号-1,星河,913\n"
                .as_bytes(),
        )
        .unwrap();
        let row = rows[0].as_ref().unwrap();
        assert_eq!(row.line, 2);
        assert_eq!(row.domain, "example.cn");
        assert_eq!(row.field("entity_id"), Some("913"));
    }

    #[test]
    fn missing_column_names_the_column() {
        let err = read(b"domain,site_name\nexample.cn,x\n").unwrap_err();
        assert!(err.to_string().contains("`filing_number`"), "{err}");
        assert!(matches!(read(b""), Err(InventoryError::Empty { .. })));
    }

    #[test]
    fn unterminated_quote_costs_one_row_only() {
        let mut text = String::from("domain,filing_number,site_name\n\"bad.cn,x,y\n");
        for i in 0..100 {
            text.push_str(&format!("s{i}.cn,n,m\n"));
        }
        let rows = read(text.as_bytes()).unwrap();
        let errors: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 2);
        let good = rows.iter().filter(|r| r.is_ok()).count();
        assert!(good >= 100 - MAX_RECORD_LINES, "{good}");
    }

    #[test]
    fn an_overlong_line_costs_one_row() {
        let mut text = String::from("domain,filing_number,site_name\n");
        text.push_str(&"x".repeat(MAX_LINE_BYTES + 10));
        text.push_str(",a,b\nok.cn,n,m\n");
        let rows = read(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(
            rows[0]
                .as_ref()
                .unwrap_err()
                .message
                .contains("longer than")
        );
        assert_eq!(rows[1].as_ref().unwrap().domain, "ok.cn");
    }

    #[test]
    fn gbk_inventory_is_transcoded() {
        let (gbk, _, _) = encoding_rs::GBK
            .encode("domain,filing_number,site_name\nexample.cn,京ICP备1号-1,星河商城\n");
        let rows = read(&gbk).unwrap();
        assert_eq!(rows[0].as_ref().unwrap().site_name, "星河商城");
    }

    #[test]
    fn json_lines_and_bad_lines() {
        let text = "{\"domain\":\"a.cn\",\"filing_number\":\"x\",\"site_name\":\"y\",\"app_domains\":[\"b.cn\",\"c.cn\"]}\nnot json\n{\"domain\":\"d.cn\"}\n";
        let rows = read(text.as_bytes()).unwrap();
        assert_eq!(
            rows[0].as_ref().unwrap().field("app_domains"),
            Some("b.cn;c.cn")
        );
        assert_eq!(rows[1].as_ref().unwrap_err().line, 2);
        assert_eq!(rows[2].as_ref().unwrap().domain, "d.cn");
    }
}
