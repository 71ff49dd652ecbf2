//! A guard run over decoded HTML before html5ever sees it, so any page is parsed in bounded
//! time.
//!
//! html5ever's tree builder walks the stack of open elements for scope checks, and its
//! tokenizer compares each attribute with the tag's earlier ones, so deeply nested markup and
//! tags with many attributes cost time quadratic in their size (100,000 nested `<div>`s take
//! minutes). One linear pass over the bytes keeps a rough model of the open elements and
//! rewrites the excess: start tags past [`MAX_DEPTH`] are dropped (their text stays, one level
//! up), end tags that close nothing in a deep document are dropped, and attributes past
//! [`MAX_ATTRIBUTES`] are cut. Pages that stay within the limits pass through untouched.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Serialize;

/// Most elements open at once (by the guard's count) before further start tags are dropped.
// TODO: deep chains of implied-end elements (`<ul><li>`, `<dl><dd>` without end tags) still
// cost html5ever a scope walk per tag: 2 MB of them took 21–48 s in a debug build. The 30 s
// analysis budget in fetch.rs turns the worst case into an inconclusive `analysis_timeout`;
// a lower limit for list chains, or modelling html5ever's scope checks, would fix it.
pub const MAX_DEPTH: usize = 256;

/// Most attributes kept on one tag.
pub const MAX_ATTRIBUTES: usize = 64;

/// Extra levels kept for start tags that matter (a link inside a footer past the limit).
const HEADROOM: usize = 16;

/// Depth from which end tags that close nothing are dropped (each would cost a scope walk).
const DEEP: usize = 64;

/// Elements that never hold content.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr", "frame", "basefont", "bgsound", "image",
];

/// Elements whose content is raw text up to their end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "xmp", "iframe", "noembed", "noframes", "noscript", "textarea", "title",
];

/// Elements the parser merges into the one already open: not counted.
const MERGED: &[&str] = &["html", "head", "body"];

/// Groups of elements whose start tag closes an open sibling of the same group (`<li><li>`).
const SIBLINGS: &[&[&str]] = &[
    &["li"],
    &["dt", "dd"],
    &["p"],
    &["option", "optgroup"],
    &["td", "th"],
    &["tr"],
    &["tbody", "thead", "tfoot"],
    &["rb", "rp", "rt", "rtc"],
];

/// Start tags that close an open `<p>`.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "ul",
];

/// What the guard changed, kept as page evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarkupGuard {
    /// The deepest nesting the guard allowed.
    pub max_depth: usize,
    /// Start tags without attributes dropped because they would have nested deeper.
    pub dropped_start_tags: usize,
    /// Start tags that matter (links, footers, anything with attributes) that would have nested
    /// deeper than the limit and its headroom, kept as a sibling of the deepest element instead (its end tag was inserted).
    pub lifted_start_tags: usize,
    /// End tags dropped because they closed nothing while the document was deep.
    pub dropped_end_tags: usize,
    /// Tags whose attributes were cut to [`MAX_ATTRIBUTES`].
    pub cut_attribute_lists: usize,
}

/// Returns the HTML to parse and, when anything was rewritten, what was.
pub fn guard(html: &str) -> (Cow<'_, str>, Option<MarkupGuard>) {
    let mut scan = Scan::new(html);
    scan.run();
    if scan.edits.is_empty() {
        return (Cow::Borrowed(html), None);
    }
    let report = scan.report.clone();
    (Cow::Owned(scan.apply()), Some(report))
}

/// A rewrite of `html[start..end]`.
struct Edit {
    start: usize,
    end: usize,
    replacement: String,
}

/// The pass: position, the open-element model and the edits so far.
struct Scan<'a> {
    html: &'a str,
    bytes: &'a [u8],
    pos: usize,
    stack: Vec<String>,
    open: HashMap<String, usize>,
    p_open: bool,
    edits: Vec<Edit>,
    report: MarkupGuard,
}

/// A tag as read from the bytes.
struct Tag {
    name: String,
    attributes: usize,
    /// Byte range of the whole tag, `<` to `>` inclusive.
    start: usize,
    end: usize,
    /// Byte offsets where attribute number [`MAX_ATTRIBUTES`] + 1 starts, when there is one.
    excess_attributes: Option<usize>,
}

impl<'a> Scan<'a> {
    fn new(html: &'a str) -> Scan<'a> {
        let report = MarkupGuard {
            max_depth: MAX_DEPTH,
            ..MarkupGuard::default()
        };
        Scan {
            html,
            bytes: html.as_bytes(),
            pos: 0,
            stack: Vec::new(),
            open: HashMap::new(),
            p_open: false,
            edits: Vec::new(),
            report,
        }
    }

    fn run(&mut self) {
        while let Some(offset) = memchr(b'<', &self.bytes[self.pos..]) {
            self.pos += offset;
            match self.bytes.get(self.pos + 1) {
                Some(b'!') | Some(b'?') => self.skip_declaration(),
                Some(b'/')
                    if self
                        .bytes
                        .get(self.pos + 2)
                        .is_some_and(u8::is_ascii_alphabetic) =>
                {
                    let tag = self.read_tag(true);
                    self.on_end_tag(tag);
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let tag = self.read_tag(false);
                    if !self.on_start_tag(tag) {
                        return;
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Comments, doctypes, processing instructions: skipped whole.
    fn skip_declaration(&mut self) {
        let rest = &self.bytes[self.pos..];
        let end = if rest.starts_with(b"<!--") {
            find(&rest[4..], b"-->").map(|i| i + 4 + 3)
        } else {
            memchr(b'>', rest).map(|i| i + 1)
        };
        self.pos = end.map_or(self.bytes.len(), |e| self.pos + e);
    }

    /// Reads a tag from `<` to its `>`, honouring quoted attribute values.
    fn read_tag(&mut self, end_tag: bool) -> Tag {
        let start = self.pos;
        let mut i = start + if end_tag { 2 } else { 1 };
        let name_start = i;
        while i < self.bytes.len() && !is_tag_break(self.bytes[i]) {
            i += 1;
        }
        let name = self.html[name_start..i].to_ascii_lowercase();

        let mut attributes = 0;
        let mut excess_attributes = None;
        loop {
            while i < self.bytes.len()
                && (self.bytes[i].is_ascii_whitespace() || self.bytes[i] == b'/')
            {
                i += 1;
            }
            if i >= self.bytes.len() || self.bytes[i] == b'>' {
                break;
            }
            attributes += 1;
            if attributes == MAX_ATTRIBUTES + 1 {
                excess_attributes = Some(i);
            }
            i = self.skip_attribute(i);
        }
        self.pos = (i + 1).min(self.bytes.len());
        Tag {
            name,
            attributes,
            start,
            end: self.pos,
            excess_attributes,
        }
    }

    /// Skips one `name`, `name=value`, `name="value"` or `name='value'`; returns where it ends.
    fn skip_attribute(&self, mut i: usize) -> usize {
        let b = self.bytes;
        i += 1; // The first character belongs to the name, whatever it is.
        while i < b.len() && !matches!(b[i], b'=' | b'>' | b'/') && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut j = i;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j >= b.len() || b[j] != b'=' {
            return i;
        }
        j += 1;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        match b.get(j) {
            Some(&quote @ (b'"' | b'\'')) => {
                memchr(quote, &b[j + 1..]).map_or(b.len(), |k| j + 1 + k + 1)
            }
            _ => {
                while j < b.len() && b[j] != b'>' && !b[j].is_ascii_whitespace() {
                    j += 1;
                }
                j
            }
        }
    }

    /// Returns false when the rest of the document is plain text (`<plaintext>`).
    fn on_start_tag(&mut self, tag: Tag) -> bool {
        let name = tag.name.clone();
        if name == "plaintext" {
            return false;
        }
        if RAW_TEXT.contains(&name.as_str()) {
            self.cut_attributes(&tag);
            self.skip_raw_text(&name);
            return true;
        }
        if name == "p" {
            self.p_open = true;
        }
        if VOID.contains(&name.as_str()) || MERGED.contains(&name.as_str()) {
            self.cut_attributes(&tag);
            return true;
        }
        self.close_siblings(&name);
        if self.stack.len() >= MAX_DEPTH && !matters(&tag) {
            self.drop_tag(&tag);
            self.report.dropped_start_tags += 1;
            return true;
        }
        if self.stack.len() >= MAX_DEPTH + HEADROOM {
            self.close_top(tag.start);
            self.report.lifted_start_tags += 1;
        }
        self.cut_attributes(&tag);
        *self.open.entry(name.clone()).or_default() += 1;
        self.stack.push(name);
        true
    }

    fn on_end_tag(&mut self, tag: Tag) {
        if tag.name == "p" {
            let closes_nothing = !self.p_open;
            self.p_open = false;
            if closes_nothing && self.stack.len() >= DEEP {
                self.drop_tag(&tag);
                self.report.dropped_end_tags += 1;
            }
            return;
        }
        if self.open.get(&tag.name).copied().unwrap_or(0) > 0 {
            self.pop_to(&tag.name);
            return;
        }
        let counted = !VOID.contains(&tag.name.as_str()) && !MERGED.contains(&tag.name.as_str());
        if counted && self.stack.len() >= DEEP {
            self.drop_tag(&tag);
            self.report.dropped_end_tags += 1;
        }
    }

    /// Models the parser closing an open `<p>`, `<li>`, `<td>`, … when a sibling starts.
    fn close_siblings(&mut self, name: &str) {
        let Some(top) = self.stack.last() else {
            return;
        };
        let same_group = SIBLINGS
            .iter()
            .any(|g| g.contains(&name) && g.contains(&top.as_str()));
        let closes_p = top == "p" && CLOSES_P.contains(&name);
        let row_closes_cell = name == "tr" && matches!(top.as_str(), "td" | "th");
        if same_group || closes_p || row_closes_cell {
            let top = top.clone();
            self.pop_to(&top);
            if row_closes_cell {
                self.close_siblings(name);
            }
        }
    }

    fn pop_to(&mut self, name: &str) {
        while let Some(top) = self.stack.pop() {
            if let Some(count) = self.open.get_mut(&top) {
                *count -= 1;
            }
            if top == name {
                return;
            }
        }
    }

    /// Skips the text of a `<script>`, `<style>`, … to its end tag (which is left in place).
    fn skip_raw_text(&mut self, name: &str) {
        let closing = format!("</{name}");
        let rest = &self.bytes[self.pos..];
        self.pos = find_ignore_case(rest, closing.as_bytes())
            .map_or(self.bytes.len(), |i| self.pos + i + closing.len());
    }

    /// Inserts the end tag of the deepest open element at `at`.
    fn close_top(&mut self, at: usize) {
        let Some(top) = self.stack.last().cloned() else {
            return;
        };
        self.pop_to(&top);
        self.edits.push(Edit {
            start: at,
            end: at,
            replacement: format!("</{top}>"),
        });
    }

    fn drop_tag(&mut self, tag: &Tag) {
        self.edits.push(Edit {
            start: tag.start,
            end: tag.end,
            replacement: String::new(),
        });
    }

    fn cut_attributes(&mut self, tag: &Tag) {
        let Some(from) = tag.excess_attributes else {
            return;
        };
        self.report.cut_attribute_lists += 1;
        self.edits.push(Edit {
            start: from,
            end: tag.end,
            replacement: ">".to_string(),
        });
    }

    /// The document with every edit applied (edits are in order and do not overlap).
    fn apply(self) -> String {
        let mut out = String::with_capacity(self.html.len());
        let mut from = 0;
        for edit in &self.edits {
            out.push_str(&self.html[from..edit.start]);
            out.push_str(&edit.replacement);
            from = edit.end;
        }
        out.push_str(&self.html[from..]);
        out
    }
}

/// Whether a start tag carries something the analysis reads: a link, a footer, attributes.
fn matters(tag: &Tag) -> bool {
    tag.attributes > 0 || matches!(tag.name.as_str(), "a" | "footer")
}

/// Bytes that end a tag name.
fn is_tag_break(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/' || b == b'>'
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_pages_pass_untouched() {
        let html = r#"<html><head><title>a<b</title><script>if (a<b) {}</script></head>
            <body><!-- <div> --><div class="x>y"><p>one<p>two<br></div><svg><path d="M0"/></svg></body></html>"#;
        let (out, report) = guard(html);
        assert!(matches!(out, Cow::Borrowed(_)));
        assert_eq!(report, None);
    }

    #[test]
    fn deep_nesting_is_capped_and_text_kept() {
        let html = "<div>".repeat(MAX_DEPTH + 100) + "text" + &"</div>".repeat(MAX_DEPTH + 100);
        let (out, report) = guard(&html);
        let report = report.unwrap();
        assert_eq!(report.dropped_start_tags, 100);
        // Once the document is shallow again, end tags that close nothing cost nothing: kept.
        assert_eq!(report.dropped_end_tags, 0);
        assert_eq!(out.matches("<div>").count(), MAX_DEPTH);
        assert!(out.contains("text"));
    }

    #[test]
    fn links_past_the_limit_are_lifted_not_dropped() {
        let html = "<div>".repeat(MAX_DEPTH + 5)
            + &"<footer>".repeat(HEADROOM)
            + r#"<a href="https://beian.miit.gov.cn/">n</a>"#;
        let (out, report) = guard(&html);
        let report = report.unwrap();
        assert_eq!(
            (report.dropped_start_tags, report.lifted_start_tags),
            (5, 1)
        );
        assert!(
            out.ends_with(r#"</footer><a href="https://beian.miit.gov.cn/">n</a>"#),
            "{out}"
        );
    }

    #[test]
    fn excess_attributes_are_cut() {
        let attrs: Vec<String> = (0..MAX_ATTRIBUTES + 10)
            .map(|i| format!("a{i}=\"v>\""))
            .collect();
        let html = format!(
            "<a href=\"https://beian.miit.gov.cn/\" {}>x</a>",
            attrs.join(" ")
        );
        let (out, report) = guard(&html);
        assert_eq!(report.unwrap().cut_attribute_lists, 1);
        assert!(out.ends_with(">x</a>"), "{out}");
        assert_eq!(out.matches("=\"v>\"").count(), MAX_ATTRIBUTES - 1);
    }

    #[test]
    fn stray_end_tags_in_a_deep_document_are_dropped() {
        let html = "<div>".repeat(DEEP) + &"</p></span>".repeat(10);
        let (out, report) = guard(&html);
        assert_eq!(report.unwrap().dropped_end_tags, 20);
        assert!(!out.contains("</p>") && !out.contains("</span>"));
    }
}
