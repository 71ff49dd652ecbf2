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

use memchr::memmem;
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

/// What the guard's model needs to know of a tag name, as bits; the sibling group (the
/// elements whose start tag closes an open one of the same group, `<li><li>`) sits above them.
mod kind {
    /// Never holds content.
    pub const VOID: u16 = 1;
    /// Content is raw text up to the end tag.
    pub const RAW_TEXT: u16 = 1 << 1;
    /// Merged by the parser into the one already open (`html`, `head`, `body`): not counted.
    pub const MERGED: u16 = 1 << 2;
    /// The start tag closes an open `<p>`.
    pub const CLOSES_P: u16 = 1 << 3;
    /// The start tag is kept past the depth limit even without attributes.
    pub const MATTERS: u16 = 1 << 4;
    /// The rest of the document is text.
    pub const PLAINTEXT: u16 = 1 << 5;
    /// Shift of the sibling group number (0 is none).
    pub const GROUP_SHIFT: u16 = 8;
}

/// The kind bits of a lower-case tag name.
fn kind_of(name: &[u8]) -> u16 {
    use kind::*;
    let group = |g: u16| g << GROUP_SHIFT;
    match name {
        b"area" | b"br" | b"col" | b"embed" | b"img" | b"input" | b"keygen" | b"link" | b"meta"
        | b"param" | b"source" | b"track" | b"wbr" | b"frame" | b"basefont" | b"bgsound"
        | b"image" | b"base" => VOID,
        b"hr" => VOID | CLOSES_P,
        b"script" | b"style" | b"xmp" | b"iframe" | b"noembed" | b"noframes" | b"noscript"
        | b"textarea" | b"title" => RAW_TEXT,
        b"html" | b"head" | b"body" => MERGED,
        b"plaintext" => PLAINTEXT,
        b"li" => group(1),
        b"dt" | b"dd" => group(2),
        b"p" => group(3) | CLOSES_P,
        b"option" | b"optgroup" => group(4),
        b"td" | b"th" => group(5),
        b"tr" => group(6),
        b"tbody" | b"thead" | b"tfoot" => group(7),
        b"rb" | b"rp" | b"rt" | b"rtc" => group(8),
        b"footer" => CLOSES_P | MATTERS,
        b"a" => MATTERS,
        b"address" | b"article" | b"aside" | b"blockquote" | b"center" | b"details" | b"dialog"
        | b"dir" | b"div" | b"dl" | b"fieldset" | b"figcaption" | b"figure" | b"form" | b"h1"
        | b"h2" | b"h3" | b"h4" | b"h5" | b"h6" | b"header" | b"hgroup" | b"main" | b"menu"
        | b"nav" | b"ol" | b"pre" | b"section" | b"summary" | b"table" | b"ul" => CLOSES_P,
        _ => 0,
    }
}

/// A tag name as the guard compares it: a hash of its lower-case bytes (a collision only
/// blurs a rough model) and its kind bits, so no tag costs an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Name {
    hash: u64,
    kind: u16,
}

impl Name {
    fn read(raw: &[u8]) -> Name {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut lower = [0u8; 10];
        for (i, b) in raw.iter().enumerate() {
            let b = b.to_ascii_lowercase();
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            if let Some(slot) = lower.get_mut(i) {
                *slot = b;
            }
        }
        let kind = match lower.get(..raw.len()) {
            Some(short) => kind_of(short),
            None => 0,
        };
        Name { hash, kind }
    }

    fn has(self, bits: u16) -> bool {
        self.kind & bits != 0
    }

    fn group(self) -> u16 {
        self.kind >> kind::GROUP_SHIFT
    }

    fn is_p(self) -> bool {
        self.group() == 3
    }
}

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
    stack: Vec<Open>,
    p_open: bool,
    edits: Vec<Edit>,
    report: MarkupGuard,
}

/// An element the model holds open: its name, and where the name is written in the page.
#[derive(Debug, Clone, Copy)]
struct Open {
    name: Name,
    at: usize,
    len: usize,
}

/// A tag as read from the bytes.
struct Tag {
    name: Name,
    /// Where the name starts in the page, and its length.
    name_at: usize,
    name_len: usize,
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
            p_open: false,
            edits: Vec::new(),
            report,
        }
    }

    fn run(&mut self) {
        while let Some(offset) = memchr::memchr(b'<', &self.bytes[self.pos..]) {
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
            memmem::find(&rest[4..], b"-->").map(|i| i + 4 + 3)
        } else {
            memchr::memchr(b'>', rest).map(|i| i + 1)
        };
        self.pos = end.map_or(self.bytes.len(), |e| self.pos + e);
    }

    /// Reads a tag from `<` to its `>`, honouring quoted attribute values.
    fn read_tag(&mut self, end_tag: bool) -> Tag {
        let start = self.pos;
        let mut i = start + if end_tag { 2 } else { 1 };
        let name_at = i;
        while i < self.bytes.len() && !is_tag_break(self.bytes[i]) {
            i += 1;
        }
        let name = Name::read(&self.bytes[name_at..i]);
        let name_len = i - name_at;

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
            name_at,
            name_len,
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
                memchr::memchr(quote, &b[j + 1..]).map_or(b.len(), |k| j + 1 + k + 1)
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
        let name = tag.name;
        if name.has(kind::PLAINTEXT) {
            return false;
        }
        if name.has(kind::RAW_TEXT) {
            self.cut_attributes(&tag);
            self.skip_raw_text(tag.name_at, tag.name_len);
            return true;
        }
        if name.is_p() {
            self.p_open = true;
        }
        if name.has(kind::VOID | kind::MERGED) {
            self.cut_attributes(&tag);
            return true;
        }
        self.close_siblings(name);
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
        self.stack.push(Open {
            name,
            at: tag.name_at,
            len: tag.name_len,
        });
        true
    }

    fn on_end_tag(&mut self, tag: Tag) {
        if tag.name.is_p() {
            let closes_nothing = !self.p_open;
            self.p_open = false;
            if closes_nothing && self.stack.len() >= DEEP {
                self.drop_tag(&tag);
                self.report.dropped_end_tags += 1;
            }
            return;
        }
        if self.stack.iter().any(|open| open.name == tag.name) {
            self.pop_to(tag.name);
            return;
        }
        let counted = !tag.name.has(kind::VOID | kind::MERGED);
        if counted && self.stack.len() >= DEEP {
            self.drop_tag(&tag);
            self.report.dropped_end_tags += 1;
        }
    }

    /// Models the parser closing an open `<p>`, `<li>`, `<td>`, … when a sibling starts.
    fn close_siblings(&mut self, name: Name) {
        let Some(top) = self.stack.last().map(|open| open.name) else {
            return;
        };
        let same_group = name.group() != 0 && name.group() == top.group();
        let closes_p = top.is_p() && name.has(kind::CLOSES_P);
        let row_closes_cell = name.group() == 6 && top.group() == 5;
        if same_group || closes_p || row_closes_cell {
            self.pop_to(top);
            if row_closes_cell {
                self.close_siblings(name);
            }
        }
    }

    fn pop_to(&mut self, name: Name) {
        while let Some(top) = self.stack.pop() {
            if top.name == name {
                return;
            }
        }
    }

    /// Skips the text of a `<script>`, `<style>`, … to its end tag (which is left in place).
    fn skip_raw_text(&mut self, name_at: usize, name_len: usize) {
        let name = &self.bytes[name_at..name_at + name_len];
        let mut from = self.pos;
        while let Some(i) = memmem::find(&self.bytes[from..], b"</") {
            let at = from + i + 2;
            let closes = self
                .bytes
                .get(at..at + name.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(name));
            if closes {
                self.pos = at + name.len();
                return;
            }
            from = at;
        }
        self.pos = self.bytes.len();
    }

    /// Inserts the end tag of the deepest open element at `at`.
    fn close_top(&mut self, at: usize) {
        let Some(top) = self.stack.last().copied() else {
            return;
        };
        self.pop_to(top.name);
        let name = self.html[top.at..top.at + top.len].to_ascii_lowercase();
        self.edits.push(Edit {
            start: at,
            end: at,
            replacement: format!("</{name}>"),
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
    tag.attributes > 0 || tag.name.has(kind::MATTERS)
}

/// Bytes that end a tag name.
fn is_tag_break(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'/' || b == b'>'
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
