//! The window plan: which part of a page the parser must see so that page analysis gives the
//! same evidence as a parse of the whole page.
//!
//! Filing numbers sit in the footer, so most of a page is text the rules only count. One pass
//! over the bytes reads the `<head>` up to `<body>` (the first title and the `<meta>` tags,
//! decoded as the parser would), then tokenizes the body keeping a small model of html5ever's
//! tree builder (the open elements, formatting elements closed implicitly, hidden ancestors),
//! counts the visible characters it passes and folds those that could belong to `ICP` or
//! `公网安备`. It stops at the first such marker (or the end of the page) and picks the last
//! clean start tag with enough visible text before the marker for the evidence's context and
//! tail: no hidden element open, no formatting element waiting to be reopened, no partial
//! marker. The caller then parses an empty head, the `<body>` tag, the start tags of the
//! elements still open at that point (replayed, so links, footers and hidden ancestors that
//! wrap the window are kept), and the page from that tag on, and adds what the model read
//! before it. Tables are followed through html5ever's table modes as long as nothing would be
//! moved out of them; a cut never falls inside one. Anything the model does not follow exactly
//! (captions, foreign content, unknown character references, markup the parser rearranges)
//! gives no plan, and the whole page is parsed as before. [`head`] reads the head and
//! [`markup`] the tokens; this file holds the plan and the model of the tree builder.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::LazyLock;

mod head;
mod markup;

pub(crate) use head::{Head, Meta};
use head::{read_head, read_meta};
use markup::{Token, char_ref, decode_at, find_byte, raw_close, raw_end, token_at};

/// Tuning of the plan; the defaults are for production, tests shrink them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Pages shorter than this are parsed whole.
    pub min_len: usize,
    /// Bytes kept before the first marker (or the end of a page without one).
    pub margin: usize,
    /// Visible characters kept before the first marker: more than the evidence's context
    /// reaches back and than the tail it keeps, so the window's text there is the page's.
    pub context: usize,
    /// Least distance between two recorded cut candidates.
    pub spacing: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            min_len: 4 * 1024,
            margin: 256,
            context: 200,
            spacing: 128,
        }
    }
}

/// Where to cut, and what the skipped part held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// What the head holds, read by the model instead of the parser.
    pub head: Head,
    /// Start of the tag the window begins with.
    pub from: usize,
    /// Byte ranges of the start tags of the elements open at `from`, outermost first.
    pub replay: Vec<Range<usize>>,
    /// Visible non-whitespace characters between the `<body>` tag and `from`.
    pub skipped_visible: usize,
}

impl Plan {
    /// The document the parser sees: the doctype, an empty head, the `<body>` tag, the
    /// replayed start tags and the window.
    pub fn document(&self, html: &str) -> Option<String> {
        let doctype = self.head.doctype.clone().unwrap_or(0..0);
        let mut doc = String::with_capacity(html.len() - self.from + 1024);
        doc.push_str(html.get(doctype)?);
        doc.push_str("<html><head></head>");
        doc.push_str(html.get(self.head.body_tag.clone())?);
        for tag in &self.replay {
            doc.push_str(html.get(tag.clone())?);
        }
        doc.push_str(html.get(self.from..)?);
        Some(doc)
    }

    /// Lower-case names of the replayed elements, outermost first.
    pub fn replay_names(&self, html: &str) -> Vec<String> {
        self.replay
            .iter()
            .map(|r| {
                let tag = html.get(r.start + 1..r.end).unwrap_or("");
                let end = tag
                    .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                    .unwrap_or(tag.len());
                tag[..end].to_ascii_lowercase()
            })
            .collect()
    }
}

/// Plans a window for `html`, or `None` when the whole page must be parsed.
pub(crate) fn plan(html: &str, limits: Limits) -> Option<Plan> {
    if html.len() < limits.min_len {
        return None;
    }
    let head = read_head(html)?;
    let mut scan = BodyScan::new(html, head.body_tag.end, limits);
    let marker = scan.run()?;
    let marker_visible = scan.visible.saturating_sub(Markers::PSB.len());
    let best = scan.best_before(
        marker.saturating_sub(limits.margin),
        marker_visible.saturating_sub(limits.context),
    )?;
    let mut head = head;
    let skipped_metas = scan.metas.into_iter().take_while(|(at, _)| *at < best.at);
    head.metas.extend(skipped_metas.map(|(_, meta)| meta));
    Some(Plan {
        head,
        from: best.at,
        replay: best.replay,
        skipped_visible: best.visible,
    })
}

/// Elements the model does not follow: the page is parsed whole when the body has one.
// TODO: the rest of tables (captions, column groups, anything the parser moves out of a
// table), inline SVG and MathML, `<object>` and `<select>`. Of 54 real pages from public
// repositories, 19 took the window; these sent most of the others to the parser.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const UNSUPPORTED: &[&str] = &[
    "html",
    "body",
    "head",
    "frameset",
    "frame",
    "plaintext",
    "xmp",
    "noembed",
    "noframes",
    "title",
    "select",
    "option",
    "optgroup",
    "svg",
    "math",
    "template",
    "image",
    "isindex",
    "nobr",
    "caption",
    "colgroup",
    "col",
    "object",
    "applet",
    "marquee",
    "base",
    "basefont",
    "bgsound",
    "rb",
    "rp",
    "rt",
    "rtc",
    "frame",
    "keygen",
    "search",
];

/// Raw-text elements whose content the walk never shows.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const RAW_HIDDEN: &[&str] = &["script", "style", "noscript", "iframe"];

/// Elements without content.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const VOID: &[&str] = &[
    "area", "br", "embed", "img", "input", "wbr", "hr", "param", "source", "track", "link", "meta",
];

/// Formatting elements (kept in html5ever's list of active formatting elements).
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const FORMATTING: &[&str] = &[
    "a", "b", "big", "code", "em", "font", "i", "s", "small", "strike", "strong", "tt", "u",
];

/// Start tags that close an open `<p>` first.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
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
    "header",
    "hgroup",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "section",
    "summary",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "listing",
    "form",
    "li",
    "dd",
    "dt",
    "hr",
];

/// End tags handled as "pop to the element when it is in scope".
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const BLOCK_END: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "button",
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
    "header",
    "hgroup",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "pre",
    "section",
    "summary",
    "ul",
];

/// html5ever's special elements (those an unmatched end tag cannot close through).
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const SPECIAL: &[&str] = &[
    "address",
    "area",
    "article",
    "aside",
    "blockquote",
    "br",
    "button",
    "center",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
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
    "img",
    "input",
    "li",
    "link",
    "listing",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "param",
    "pre",
    "section",
    "source",
    "summary",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "tr",
    "track",
    "ul",
    "wbr",
];

/// Start tags inserted without reopening formatting elements first.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const NO_RECONSTRUCT: &[&str] = &["param", "source", "track", "link", "meta", "textarea"];

const HEADINGS: &[&str] = &["h1", "h2", "h3", "h4", "h5", "h6"];

/// Start tags with handling of their own before the common steps.
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const OWN_START: &[&str] = &["button", "meta", "textarea"];

/// The elements the model follows that bound every kind of scope (html5ever's default scope
/// also stops at elements the model gives up on).
const SCOPE_BOUNDARIES: &[&str] = &["table", "td", "th"];

/// The parts of a table the model follows (captions and column groups it does not).
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "read through kind_of, which a test keeps in step")
)]
const TABLE_PARTS: &[&str] = &["table", "tbody", "thead", "tfoot", "tr", "td", "th"];

/// What the model needs to know of a tag name, as bits.
mod kind {
    pub const UNSUPPORTED: u16 = 1;
    pub const RAW_HIDDEN: u16 = 1 << 1;
    pub const VOID: u16 = 1 << 2;
    pub const FORMATTING: u16 = 1 << 3;
    pub const CLOSES_P: u16 = 1 << 4;
    pub const BLOCK_END: u16 = 1 << 5;
    pub const SPECIAL: u16 = 1 << 6;
    pub const HEADING: u16 = 1 << 7;
    pub const NO_RECONSTRUCT: u16 = 1 << 8;
    pub const TABLE_PART: u16 = 1 << 9;
    pub const OWN_START: u16 = 1 << 10;
}

/// The kind bits of a tag name: the union of the lists above that name it.
fn kind_of(name: &str) -> u16 {
    known(name.as_bytes()).map_or(0, |(_, kind)| kind)
}

/// A tag name the model knows, as a static string with its kind bits (a `match`, so the
/// compiler dispatches on length first; `kinds_match_the_lists` keeps it in step with the
/// lists above). Common names without kind bits are here too, so reading them costs no
/// UTF-8 check.
fn known(name: &[u8]) -> Option<(&'static str, u16)> {
    Some(match name {
        b"a" => ("a", kind::FORMATTING),
        b"address" => ("address", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"applet" => ("applet", kind::UNSUPPORTED),
        b"area" => ("area", kind::VOID | kind::SPECIAL),
        b"article" => ("article", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"aside" => ("aside", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"b" => ("b", kind::FORMATTING),
        b"base" => ("base", kind::UNSUPPORTED),
        b"basefont" => ("basefont", kind::UNSUPPORTED),
        b"bgsound" => ("bgsound", kind::UNSUPPORTED),
        b"big" => ("big", kind::FORMATTING),
        b"blockquote" => (
            "blockquote",
            kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL,
        ),
        b"body" => ("body", kind::UNSUPPORTED),
        b"br" => ("br", kind::VOID | kind::SPECIAL),
        b"button" => ("button", kind::BLOCK_END | kind::SPECIAL | kind::OWN_START),
        b"caption" => ("caption", kind::UNSUPPORTED),
        b"center" => ("center", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"code" => ("code", kind::FORMATTING),
        b"col" => ("col", kind::UNSUPPORTED),
        b"colgroup" => ("colgroup", kind::UNSUPPORTED),
        b"dd" => ("dd", kind::CLOSES_P | kind::SPECIAL),
        b"details" => ("details", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"dialog" => ("dialog", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"dir" => ("dir", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"div" => ("div", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"dl" => ("dl", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"dt" => ("dt", kind::CLOSES_P | kind::SPECIAL),
        b"em" => ("em", kind::FORMATTING),
        b"embed" => ("embed", kind::VOID | kind::SPECIAL),
        b"fieldset" => ("fieldset", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"figcaption" => (
            "figcaption",
            kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL,
        ),
        b"figure" => ("figure", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"font" => ("font", kind::FORMATTING),
        b"footer" => ("footer", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"form" => ("form", kind::CLOSES_P | kind::SPECIAL),
        b"frame" => ("frame", kind::UNSUPPORTED),
        b"frameset" => ("frameset", kind::UNSUPPORTED),
        b"h1" => ("h1", kind::CLOSES_P | kind::SPECIAL | kind::HEADING),
        b"h2" => ("h2", kind::CLOSES_P | kind::SPECIAL | kind::HEADING),
        b"h3" => ("h3", kind::CLOSES_P | kind::SPECIAL | kind::HEADING),
        b"h4" => ("h4", kind::CLOSES_P | kind::SPECIAL | kind::HEADING),
        b"h5" => ("h5", kind::CLOSES_P | kind::SPECIAL | kind::HEADING),
        b"h6" => ("h6", kind::CLOSES_P | kind::SPECIAL | kind::HEADING),
        b"head" => ("head", kind::UNSUPPORTED),
        b"header" => ("header", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"hgroup" => ("hgroup", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"hr" => ("hr", kind::VOID | kind::CLOSES_P | kind::SPECIAL),
        b"html" => ("html", kind::UNSUPPORTED),
        b"i" => ("i", kind::FORMATTING),
        b"iframe" => ("iframe", kind::RAW_HIDDEN),
        b"image" => ("image", kind::UNSUPPORTED),
        b"img" => ("img", kind::VOID | kind::SPECIAL),
        b"input" => ("input", kind::VOID | kind::SPECIAL),
        b"isindex" => ("isindex", kind::UNSUPPORTED),
        b"keygen" => ("keygen", kind::UNSUPPORTED),
        b"li" => ("li", kind::CLOSES_P | kind::SPECIAL),
        b"link" => ("link", kind::VOID | kind::SPECIAL | kind::NO_RECONSTRUCT),
        b"listing" => ("listing", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"main" => ("main", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"marquee" => ("marquee", kind::UNSUPPORTED),
        b"math" => ("math", kind::UNSUPPORTED),
        b"menu" => ("menu", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"meta" => ("meta", kind::VOID | kind::NO_RECONSTRUCT | kind::OWN_START),
        b"nav" => ("nav", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"nobr" => ("nobr", kind::UNSUPPORTED),
        b"noembed" => ("noembed", kind::UNSUPPORTED),
        b"noframes" => ("noframes", kind::UNSUPPORTED),
        b"noscript" => ("noscript", kind::RAW_HIDDEN),
        b"object" => ("object", kind::UNSUPPORTED),
        b"ol" => ("ol", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"optgroup" => ("optgroup", kind::UNSUPPORTED),
        b"option" => ("option", kind::UNSUPPORTED),
        b"p" => ("p", kind::CLOSES_P | kind::SPECIAL),
        b"param" => ("param", kind::VOID | kind::SPECIAL | kind::NO_RECONSTRUCT),
        b"plaintext" => ("plaintext", kind::UNSUPPORTED),
        b"pre" => ("pre", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"rb" => ("rb", kind::UNSUPPORTED),
        b"rp" => ("rp", kind::UNSUPPORTED),
        b"rt" => ("rt", kind::UNSUPPORTED),
        b"rtc" => ("rtc", kind::UNSUPPORTED),
        b"s" => ("s", kind::FORMATTING),
        b"script" => ("script", kind::RAW_HIDDEN),
        b"search" => ("search", kind::UNSUPPORTED),
        b"section" => ("section", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"select" => ("select", kind::UNSUPPORTED),
        b"small" => ("small", kind::FORMATTING),
        b"source" => ("source", kind::VOID | kind::SPECIAL | kind::NO_RECONSTRUCT),
        b"strike" => ("strike", kind::FORMATTING),
        b"strong" => ("strong", kind::FORMATTING),
        b"style" => ("style", kind::RAW_HIDDEN),
        b"summary" => ("summary", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"svg" => ("svg", kind::UNSUPPORTED),
        b"table" => ("table", kind::TABLE_PART | kind::SPECIAL),
        b"tbody" => ("tbody", kind::TABLE_PART | kind::SPECIAL),
        b"td" => ("td", kind::TABLE_PART | kind::SPECIAL),
        b"template" => ("template", kind::UNSUPPORTED),
        b"textarea" => (
            "textarea",
            kind::SPECIAL | kind::NO_RECONSTRUCT | kind::OWN_START,
        ),
        b"tfoot" => ("tfoot", kind::TABLE_PART | kind::SPECIAL),
        b"th" => ("th", kind::TABLE_PART | kind::SPECIAL),
        b"thead" => ("thead", kind::TABLE_PART | kind::SPECIAL),
        b"title" => ("title", kind::UNSUPPORTED),
        b"tr" => ("tr", kind::TABLE_PART | kind::SPECIAL),
        b"track" => ("track", kind::VOID | kind::SPECIAL | kind::NO_RECONSTRUCT),
        b"tt" => ("tt", kind::FORMATTING),
        b"u" => ("u", kind::FORMATTING),
        b"ul" => ("ul", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        b"wbr" => ("wbr", kind::VOID | kind::SPECIAL),
        b"xmp" => ("xmp", kind::UNSUPPORTED),
        b"span" => ("span", 0),
        b"label" => ("label", 0),
        b"abbr" => ("abbr", 0),
        b"sup" => ("sup", 0),
        b"sub" => ("sub", 0),
        b"cite" => ("cite", 0),
        b"time" => ("time", 0),
        b"mark" => ("mark", 0),
        b"q" => ("q", 0),
        b"ins" => ("ins", 0),
        b"del" => ("del", 0),
        b"var" => ("var", 0),
        b"kbd" => ("kbd", 0),
        b"samp" => ("samp", 0),
        b"dfn" => ("dfn", 0),
        b"bdi" => ("bdi", 0),
        b"bdo" => ("bdo", 0),
        b"picture" => ("picture", 0),
        b"video" => ("video", 0),
        b"audio" => ("audio", 0),
        b"canvas" => ("canvas", 0),
        b"output" => ("output", 0),
        b"progress" => ("progress", 0),
        b"meter" => ("meter", 0),
        b"data" => ("data", 0),
        _ => return None,
    })
}

/// A lower-case ASCII tag name, kept inline (the model gives up on longer names).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Name {
    bytes: [u8; 24],
    len: u8,
    /// The name as a static string when the model knows it.
    known: Option<&'static str>,
    kind: u16,
}

impl Name {
    fn new(raw: &[u8]) -> Option<Name> {
        if raw.len() > 24 || raw.iter().any(|b| *b == 0 || !b.is_ascii()) {
            return None;
        }
        let mut bytes = [0; 24];
        for (to, from) in bytes.iter_mut().zip(raw) {
            *to = from.to_ascii_lowercase();
        }
        let known = known(bytes.get(..raw.len())?);
        Some(Name {
            bytes,
            len: raw.len() as u8,
            known: known.map(|(text, _)| text),
            kind: known.map_or(0, |(_, kind)| kind),
        })
    }

    fn bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    fn is_named(&self, name: &str) -> bool {
        self.bytes() == name.as_bytes()
    }

    fn as_str(&self) -> &str {
        if let Some(text) = self.known {
            return text;
        }
        std::str::from_utf8(self.bytes()).unwrap_or("")
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An element the model holds open.
#[derive(Debug, Clone)]
struct Open {
    name: Name,
    kind: u16,
    tag: Range<usize>,
    hidden: bool,
}

impl Open {
    fn is(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.name.is_named(n))
    }

    fn has(&self, kind: u16) -> bool {
        self.kind & kind != 0
    }
}

/// A clean place to cut.
#[derive(Debug, Clone)]
struct Candidate {
    at: usize,
    replay: Vec<Range<usize>>,
    visible: usize,
}

/// Watches folded visible text for `ICP` and `公网安备`.
#[derive(Default)]
struct Markers {
    icp: usize,
    psb: usize,
}

impl Markers {
    const ICP: [char; 3] = ['I', 'C', 'P'];
    const PSB: [char; 4] = ['公', '网', '安', '备'];

    /// Feeds one folded character; true when a marker is complete.
    fn feed(&mut self, c: char) -> bool {
        self.icp = step(&Self::ICP, self.icp, c);
        self.psb = step(&Self::PSB, self.psb, c);
        self.icp == Self::ICP.len() || self.psb == Self::PSB.len()
    }

    fn idle(&self) -> bool {
        self.icp == 0 && self.psb == 0
    }

    /// What feeding a character none of whose folded forms is in a marker does.
    fn reset(&mut self) {
        self.icp = 0;
        self.psb = 0;
    }

    /// Whether `c` (from U+0080 up) is plain: visible, with a non-empty folded form that holds
    /// no character of a marker, so it only counts and resets the watch. Plain characters are
    /// most of a page's text (CJK ideographs, CJK and full-width punctuation), and the table
    /// spares them the compatibility fold.
    fn is_plain(c: char) -> bool {
        static PLAIN: LazyLock<Vec<u64>> = LazyLock::new(plain_table);
        let Ok(code) = u16::try_from(u32::from(c)) else {
            return false;
        };
        let code = usize::from(code);
        PLAIN
            .get(code / 64)
            .is_some_and(|word| word & (1 << (code % 64)) != 0)
    }
}

/// The bit table behind [`Markers::is_plain`], over the Basic Multilingual Plane (8 KiB),
/// computed once from the same fold the number search uses.
fn plain_table() -> Vec<u64> {
    let mut table = vec![0u64; 0x10000 / 64];
    let mut folded = String::new();
    for code in 0x80..0x10000u32 {
        let Some(c) = char::from_u32(code) else {
            continue;
        };
        if c.is_whitespace() {
            continue;
        }
        folded.clear();
        crate::filing_number::fold_char(c, &mut folded);
        let plain = !folded.is_empty()
            && folded
                .chars()
                .all(|f| !Markers::ICP.contains(&f) && !Markers::PSB.contains(&f));
        if plain {
            table[code as usize / 64] |= 1 << (code % 64);
        }
    }
    table
}

/// One step of matching a pattern without self-overlap.
fn step(pattern: &[char], state: usize, c: char) -> usize {
    if pattern.get(state) == Some(&c) {
        state + 1
    } else {
        usize::from(pattern.first() == Some(&c))
    }
}

/// Where the scan is relative to tables: html5ever's insertion mode, as far as the model
/// follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableMode {
    /// Outside any table.
    Body,
    /// Directly in a `<table>`, a row group or a row: only table parts, whitespace, scripts
    /// and styles may come; anything else would be moved out of the table (foster-parented),
    /// which the model does not follow.
    Table,
    Section,
    Row,
    /// In a cell: the body's rules, with the cell as a scope boundary.
    Cell,
}

/// The pass over the body.
struct BodyScan<'a> {
    html: &'a str,
    bytes: &'a [u8],
    pos: usize,
    limits: Limits,
    stack: Vec<Open>,
    /// Formatting elements closed implicitly, which html5ever reopens at the next content.
    pending: Vec<Open>,
    hidden: usize,
    visible: usize,
    markers: Markers,
    form_pointer: bool,
    recent: VecDeque<Candidate>,
    best: Option<Candidate>,
    folded: String,
    /// Where the `<textarea>` being read ends: its text is read as one run, without reopening
    /// formatting elements first (html5ever's text mode).
    rcdata_end: Option<usize>,
    /// `<meta>` tags in the body, with where they start.
    metas: Vec<(usize, Meta)>,
    /// Table parts on the stack (so the table mode costs nothing outside tables).
    tables_open: usize,
    /// Replay buffers of candidates no longer needed, for reuse.
    spare: Vec<Vec<Range<usize>>>,
}

impl<'a> BodyScan<'a> {
    fn new(html: &'a str, body_start: usize, limits: Limits) -> BodyScan<'a> {
        BodyScan {
            html,
            bytes: html.as_bytes(),
            pos: body_start,
            limits,
            stack: Vec::new(),
            pending: Vec::new(),
            hidden: 0,
            visible: 0,
            markers: Markers::default(),
            form_pointer: false,
            recent: VecDeque::new(),
            best: None,
            folded: String::new(),
            rcdata_end: None,
            metas: Vec::new(),
            tables_open: 0,
            spare: Vec::new(),
        }
    }

    /// Scans to the first visible marker; returns its offset (the page length when there is
    /// none), or `None` when the model lost track.
    fn run(&mut self) -> Option<usize> {
        loop {
            let Some(rest) = self.bytes.get(self.pos..) else {
                return Some(self.bytes.len());
            };
            let lt = match self.rcdata_end {
                Some(close) => close,
                None => find_byte(b'<', rest).map_or(self.bytes.len(), |i| self.pos + i),
            };
            if let Some(marker) = self.text(self.pos, lt)? {
                return Some(marker);
            }
            self.rcdata_end = None;
            if lt >= self.bytes.len() || self.body_ends_at(lt) {
                return Some(lt);
            }
            self.pos = self.token(lt)?;
        }
    }

    /// Whether `</body` or `</html` starts at `lt`: the scan ends there, like at a marker.
    fn body_ends_at(&self, lt: usize) -> bool {
        let head = self.bytes.get(lt..lt + 6).unwrap_or(b"");
        head.eq_ignore_ascii_case(b"</body") || head.eq_ignore_ascii_case(b"</html")
    }

    /// Counts and folds the text in `from..to`; `Some(Some(offset))` when a marker completes
    /// in it.
    fn text(&mut self, from: usize, to: usize) -> Option<Option<usize>> {
        if from >= to {
            return Some(None);
        }
        if matches!(
            self.table_mode(),
            TableMode::Table | TableMode::Section | TableMode::Row
        ) {
            let blank = self
                .bytes
                .get(from..to)?
                .iter()
                .all(u8::is_ascii_whitespace);
            return blank.then_some(None);
        }
        if self.rcdata_end.is_none() {
            self.reconstruct()?;
        }
        if self.hidden > 0 {
            return Some(None);
        }
        let text = self.html.get(from..to)?;
        let bytes = text.as_bytes();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let (c, len) = match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0c => (None, 1),
                b'&' => {
                    let (decoded, chars) = char_ref(text.get(i..)?)?;
                    let len = text.get(i..)?.chars().take(chars).map(char::len_utf8).sum();
                    (Some(decoded), len)
                }
                b'I' | b'i' | b'C' | b'c' | b'P' | b'p' => (Some(char::from(b)), 1),
                0..0x20 | 0x7f => return None,
                0..0x80 => {
                    self.visible += 1;
                    self.markers.reset();
                    (None, 1)
                }
                _ => {
                    let (c, len) = decode_at(bytes, i)?;
                    if Markers::is_plain(c) {
                        self.visible += 1;
                        self.markers.reset();
                        (None, len)
                    } else {
                        (Some(c), len)
                    }
                }
            };
            if c.is_some_and(|c| self.visible_char(c)) {
                return Some(Some(from + i));
            }
            i += len;
        }
        Some(None)
    }

    /// Counts one decoded text character; true when it completes a marker.
    fn visible_char(&mut self, c: char) -> bool {
        if c.is_whitespace() {
            return false;
        }
        self.visible += 1;
        if c.is_ascii() || ('\u{4e00}'..='\u{9fff}').contains(&c) {
            return self.markers.feed(c.to_ascii_uppercase());
        }
        self.folded.clear();
        crate::filing_number::fold_char(c, &mut self.folded);
        let mut found = false;
        for f in self.folded.chars() {
            found |= self.markers.feed(f);
        }
        found
    }

    /// Handles the token at `lt`; returns where scanning resumes.
    fn token(&mut self, lt: usize) -> Option<usize> {
        match token_at(self.bytes, lt)? {
            Token::Skip(end) => Some(end),
            Token::Text => {
                if !matches!(self.table_mode(), TableMode::Body | TableMode::Cell) {
                    return None;
                }
                self.reconstruct()?;
                if self.hidden == 0 {
                    self.visible_char('<');
                }
                Some(lt + 1)
            }
            Token::End { name, .. } if matches!(name.as_str(), "body" | "html") => None,
            Token::End { name, end } => {
                self.end_tag(name.as_str())?;
                Some(end)
            }
            Token::Start { name, end, hidden } => {
                self.candidate(lt);
                self.start_tag(name, lt..end, hidden)
            }
        }
    }

    /// Records `at` as a cut candidate when the state there can be replayed.
    fn candidate(&mut self, at: usize) {
        let clean = self.hidden == 0
            && self.pending.is_empty()
            && self.table_mode() == TableMode::Body
            && self.markers.idle()
            && (!self.form_pointer || self.stack.iter().any(|o| o.name.is_named("form")));
        let spaced = self
            .recent
            .back()
            .is_none_or(|c| at >= c.at + self.limits.spacing);
        if clean && spaced {
            let mut replay = self.spare.pop().unwrap_or_default();
            replay.clear();
            replay.extend(self.stack.iter().map(|o| o.tag.clone()));
            self.recent.push_back(Candidate {
                at,
                replay,
                visible: self.visible,
            });
        }
        let (margin, context) = (self.limits.margin, self.limits.context);
        while self
            .recent
            .front()
            .is_some_and(|c| c.at + margin <= at && c.visible + context <= self.visible)
        {
            self.promote_front();
        }
    }

    /// Makes the oldest recent candidate the best so far, keeping the old best's replay
    /// buffer for the next candidate (a page has hundreds of candidates).
    fn promote_front(&mut self) {
        let next = self.recent.pop_front();
        if let Some(old) = std::mem::replace(&mut self.best, next) {
            self.spare.push(old.replay);
        }
    }

    /// The last candidate at or before byte `limit` with at most `visible` characters before
    /// it.
    fn best_before(&mut self, limit: usize, visible: usize) -> Option<Candidate> {
        let fits = |c: &Candidate| c.at <= limit && c.visible <= visible;
        while self.recent.front().is_some_and(fits) {
            self.promote_front();
        }
        self.best.take().filter(fits)
    }

    fn start_tag(&mut self, name: Name, tag: Range<usize>, hidden: bool) -> Option<usize> {
        let end = tag.end;
        let n = name.as_str();
        let k = name.kind;
        if k & kind::UNSUPPORTED != 0 {
            return None;
        }
        match self.table_mode() {
            TableMode::Body if k & kind::TABLE_PART != 0 && n != "table" => return Some(end),
            TableMode::Body | TableMode::Cell if n == "table" => {
                return self.start_table(name, tag, hidden);
            }
            TableMode::Cell if k & kind::TABLE_PART != 0 => {
                self.close_cell()?;
                return self.start_tag(name, tag, hidden);
            }
            TableMode::Body | TableMode::Cell => {}
            mode => return self.start_in_table(mode, name, tag, hidden),
        }
        if k & kind::RAW_HIDDEN != 0 {
            return raw_end(self.bytes, end, n);
        }
        if n == "form" && self.form_pointer {
            return Some(end);
        }
        match n {
            _ if k & kind::OWN_START == 0 => {}
            "textarea" => return self.start_textarea(name, tag, hidden),
            "meta" => self
                .metas
                .push((tag.start, read_meta(self.bytes, tag.start + "<meta".len())?)),
            "button" if self.in_scope("button", &[]) => self.pop_until("button")?,
            _ => {}
        }
        if k & kind::CLOSES_P != 0 {
            self.close_p()?;
        }
        match n {
            "li" => self.close_list_item(&["li"])?,
            "dd" | "dt" => self.close_list_item(&["dd", "dt"])?,
            "form" => self.form_pointer = true,
            _ if k & kind::HEADING != 0
                && self.stack.last().is_some_and(|o| o.has(kind::HEADING)) =>
            {
                self.pop()?
            }
            "a" => self.close_open_a()?,
            _ => {}
        }
        if k & (kind::CLOSES_P | kind::NO_RECONSTRUCT) == 0 {
            self.reconstruct()?;
        }
        if k & kind::VOID == 0 {
            self.push_kind(name, k, tag, hidden);
        }
        Some(end)
    }

    /// The table mode at the current node: the nearest table part on the stack decides, since
    /// nothing else can sit above one outside a cell without the model giving up.
    fn table_mode(&self) -> TableMode {
        if self.tables_open == 0 {
            return TableMode::Body;
        }
        let Some(part) = self.stack.iter().rev().find(|o| o.has(kind::TABLE_PART)) else {
            return TableMode::Body;
        };
        match part.name.as_str() {
            "td" | "th" => TableMode::Cell,
            "tr" => TableMode::Row,
            "table" => TableMode::Table,
            _ => TableMode::Section,
        }
    }

    /// `<table>` in the body or a cell. Whether it first closes an open `<p>` depends on the
    /// document's mode, and a formatting element waiting to be reopened would be held back by
    /// the cells' markers: the model gives up on both.
    fn start_table(&mut self, name: Name, tag: Range<usize>, hidden: bool) -> Option<usize> {
        if self.in_scope("p", &["button"]) || !self.pending.is_empty() {
            return None;
        }
        let end = tag.end;
        self.push(name, tag, hidden);
        Some(end)
    }

    /// A start tag directly in a table, row group or row.
    fn start_in_table(
        &mut self,
        mode: TableMode,
        name: Name,
        tag: Range<usize>,
        hidden: bool,
    ) -> Option<usize> {
        let n = name.as_str();
        let at = tag.start;
        match (mode, n) {
            (_, "script" | "style") => raw_end(self.bytes, tag.end, n),
            (TableMode::Table, "tbody" | "thead" | "tfoot") | (TableMode::Section, "tr") => {
                let end = tag.end;
                self.push(name, tag, hidden);
                Some(end)
            }
            (TableMode::Table, "tr" | "td" | "th") => {
                self.push_implied("tbody", at)?;
                self.start_tag(name, tag, hidden)
            }
            (TableMode::Section, "td" | "th") => {
                self.push_implied("tr", at)?;
                self.start_tag(name, tag, hidden)
            }
            (TableMode::Section, "tbody" | "thead" | "tfoot")
            | (TableMode::Row, "tr" | "tbody" | "thead" | "tfoot") => {
                self.pop_explicit()?;
                self.start_tag(name, tag, hidden)
            }
            (TableMode::Row, "td" | "th") => {
                // A cell is a marker in the list of formatting elements: the model follows
                // only cells with no formatting element outside them.
                let formatting = self.stack.iter().any(|o| o.has(kind::FORMATTING));
                if formatting || !self.pending.is_empty() {
                    return None;
                }
                let end = tag.end;
                self.push(name, tag, hidden);
                Some(end)
            }
            _ => None,
        }
    }

    /// An end tag directly in a table, row group or row.
    fn end_in_table(&mut self, mode: TableMode, name: &str) -> Option<()> {
        let top = self.stack.last()?.name;
        match (mode, name) {
            (TableMode::Table, "table") | (TableMode::Row, "tr") => self.pop_explicit(),
            (TableMode::Section, "tbody" | "thead" | "tfoot") if top.is_named(name) => {
                self.pop_explicit()
            }
            (TableMode::Section | TableMode::Row, "table") => {
                self.pop_explicit()?;
                self.end_tag(name)
            }
            (TableMode::Row, "tbody" | "thead" | "tfoot") => {
                let section = self.stack.iter().rev().nth(1)?;
                if section.name.is_named(name) {
                    self.pop_explicit()?;
                    return self.pop_explicit();
                }
                Some(())
            }
            (_, "body" | "html" | "tbody" | "thead" | "tfoot" | "tr" | "td" | "th") => Some(()),
            _ => None,
        }
    }

    /// An end tag in a cell: `Some(result)` when it is a table's, `None` for the body's rules.
    fn end_in_cell(&mut self, name: &str) -> Option<Option<()>> {
        let cell = self
            .stack
            .iter()
            .rev()
            .find(|o| o.has(kind::TABLE_PART))?
            .name;
        match name {
            "td" | "th" if cell.is_named(name) => Some(self.close_cell()),
            "td" | "th" => Some(Some(())),
            "table" | "tbody" | "thead" | "tfoot" | "tr" => {
                if !self.in_table_scope(name) {
                    return Some(Some(()));
                }
                Some(self.close_cell().and_then(|()| self.end_tag(name)))
            }
            _ => None,
        }
    }

    /// Whether an element named `name` is open below no `<table>` other than itself.
    fn in_table_scope(&self, name: &str) -> bool {
        for open in self.stack.iter().rev() {
            if open.name.is_named(name) {
                return true;
            }
            if open.name.is_named("table") {
                return false;
            }
        }
        false
    }

    /// Closes the current cell: everything opened in it is popped, and formatting elements
    /// closed on the way are forgotten (the cell's marker bounds them).
    fn close_cell(&mut self) -> Option<()> {
        let cell = self.stack.iter().rev().find(|o| o.is(&["td", "th"]))?.name;
        self.pop_until(cell.as_str())?;
        self.pending.clear();
        Some(())
    }

    /// Pushes an element as opened by its start tag.
    fn push(&mut self, name: Name, tag: Range<usize>, hidden: bool) {
        self.push_kind(name, name.kind, tag, hidden);
    }

    /// Pushes an element whose kind bits are known.
    fn push_kind(&mut self, name: Name, kind: u16, tag: Range<usize>, hidden: bool) {
        self.hidden += usize::from(hidden);
        self.tables_open += usize::from(kind & kind::TABLE_PART != 0);
        self.stack.push(Open {
            name,
            kind,
            tag,
            hidden,
        });
    }

    /// Pushes an element the parser implies (`<tbody>`, `<tr>`): it has no tag in the page.
    fn push_implied(&mut self, name: &str, at: usize) -> Option<()> {
        self.push(Name::new(name.as_bytes())?, at..at, false);
        Some(())
    }

    /// `<textarea>` holds text up to its end tag, which [`BodyScan::run`] reads as one run.
    fn start_textarea(&mut self, name: Name, tag: Range<usize>, hidden: bool) -> Option<usize> {
        let end = tag.end;
        self.rcdata_end = Some(raw_close(self.bytes, end, "textarea")?);
        self.push(name, tag, hidden);
        Some(end)
    }

    /// html5ever reopens formatting elements closed implicitly; the model follows only when no
    /// other formatting element is open (their order in its list would matter).
    fn reconstruct(&mut self) -> Option<()> {
        if self.pending.is_empty() {
            return Some(());
        }
        if self.stack.iter().any(|o| o.has(kind::FORMATTING)) {
            return None;
        }
        for open in std::mem::take(&mut self.pending) {
            self.stack.push(open);
        }
        Some(())
    }

    /// A new `<a>` first closes an `<a>` still in the list of active formatting elements.
    fn close_open_a(&mut self) -> Option<()> {
        if let Some(i) = self.pending.iter().rposition(|o| o.name.is_named("a")) {
            self.pending.remove(i);
            return Some(());
        }
        match self.stack.iter().rposition(|o| o.name.is_named("a")) {
            None => Some(()),
            Some(i) if i + 1 == self.stack.len() => self.pop_explicit(),
            Some(_) => None,
        }
    }

    fn close_p(&mut self) -> Option<()> {
        if self.in_scope("p", &["button"]) {
            self.pop_until("p")?;
        }
        Some(())
    }

    /// `<li>` (or `<dd>`/`<dt>`) closes the open one unless a special element other than
    /// address, div or p is nearer.
    fn close_list_item(&mut self, names: &[&str]) -> Option<()> {
        for open in self.stack.iter().rev() {
            if open.is(names) {
                let name = open.name;
                return self.pop_until(name.as_str());
            }
            if open.has(kind::SPECIAL) && !open.is(&["address", "div", "p"]) {
                break;
            }
        }
        Some(())
    }

    fn end_tag(&mut self, name: &str) -> Option<()> {
        let k = kind_of(name);
        if k & (kind::UNSUPPORTED | kind::RAW_HIDDEN) != 0 {
            return None;
        }
        match self.table_mode() {
            TableMode::Body => {}
            TableMode::Cell => {
                if let Some(done) = self.end_in_cell(name) {
                    return done;
                }
            }
            mode => return self.end_in_table(mode, name),
        }
        match name {
            "br" => self.reconstruct(),
            "textarea" => match self.stack.last() {
                Some(top) if top.name.is_named("textarea") => self.pop_explicit(),
                _ => None,
            },
            "p" => self.close_p(),
            "li" => self.close_in_scope(&["li"], &["ol", "ul"]),
            "dd" | "dt" => self.close_in_scope(&[name], &[]),
            "form" => self.end_form(),
            _ if k & kind::HEADING != 0 => self.close_in_scope(HEADINGS, &[]),
            _ if k & kind::BLOCK_END != 0 => self.close_in_scope(&[name], &[]),
            _ if k & kind::FORMATTING != 0 => self.end_formatting(name),
            _ => self.end_other(name),
        }
    }

    /// Pops to the nearest element named in `names` when one is in scope.
    fn close_in_scope(&mut self, names: &[&str], extra_scope: &[&str]) -> Option<()> {
        for open in self.stack.iter().rev() {
            if open.is(names) {
                let name = open.name;
                return self.pop_until(name.as_str());
            }
            if open.is(extra_scope) || (open.has(kind::TABLE_PART) && open.is(SCOPE_BOUNDARIES)) {
                return Some(());
            }
        }
        Some(())
    }

    /// `</form>` removes the form element wherever it is, leaving its children open.
    fn end_form(&mut self) -> Option<()> {
        self.form_pointer = false;
        let Some(i) = self.stack.iter().rposition(|o| o.name.is_named("form")) else {
            return Some(());
        };
        if self
            .stack
            .get(i + 1..)?
            .iter()
            .any(|o| o.is(&["p", "li", "dd", "dt"]) || o.has(kind::TABLE_PART))
        {
            return None;
        }
        let open = self.stack.remove(i);
        self.forget(&open);
        Some(())
    }

    /// The simple cases of the adoption agency: the element is the current node, or it was
    /// already closed implicitly.
    fn end_formatting(&mut self, name: &str) -> Option<()> {
        let pending = self.pending.iter().rposition(|o| o.name.is_named(name));
        let open = self.stack.iter().rposition(|o| o.name.is_named(name));
        match (pending, open) {
            (Some(_), Some(_)) => None,
            (Some(i), None) => {
                self.pending.remove(i);
                Some(())
            }
            (None, Some(i)) if i + 1 == self.stack.len() => self.pop_explicit(),
            (None, Some(_)) => None,
            (None, None) => self.end_other(name),
        }
    }

    /// Any other end tag: closes the nearest element of that name unless a special element is
    /// nearer.
    fn end_other(&mut self, name: &str) -> Option<()> {
        for open in self.stack.iter().rev() {
            if open.name.is_named(name) {
                return self.pop_until(name);
            }
            if open.has(kind::SPECIAL) {
                return Some(());
            }
        }
        Some(())
    }

    fn in_scope(&self, name: &str, extra_scope: &[&str]) -> bool {
        for open in self.stack.iter().rev() {
            if open.name.is_named(name) {
                return true;
            }
            if open.is(extra_scope) || (open.has(kind::TABLE_PART) && open.is(SCOPE_BOUNDARIES)) {
                return false;
            }
        }
        false
    }

    /// Pops up to and including the nearest `name`; formatting elements popped on the way wait
    /// to be reopened.
    fn pop_until(&mut self, name: &str) -> Option<()> {
        while let Some(open) = self.stack.pop() {
            self.forget(&open);
            if open.name.is_named(name) {
                return Some(());
            }
            if open.has(kind::FORMATTING) {
                if open.hidden {
                    return None;
                }
                self.pending.push(open);
            }
        }
        Some(())
    }

    fn pop(&mut self) -> Option<()> {
        let open = self.stack.pop()?;
        self.forget(&open);
        if open.has(kind::FORMATTING) {
            return None;
        }
        Some(())
    }

    /// Accounts for an element leaving the stack.
    fn forget(&mut self, open: &Open) {
        self.hidden -= usize::from(open.hidden);
        self.tables_open -= usize::from(open.has(kind::TABLE_PART));
    }

    fn pop_explicit(&mut self) -> Option<()> {
        let open = self.stack.pop()?;
        self.forget(&open);
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_utf8_length() {
        let text = "é中😀";
        let bytes = text.as_bytes();
        assert_eq!(decode_at(bytes, 0), Some(('é', 2)));
        assert_eq!(decode_at(bytes, 2), Some(('中', 3)));
        assert_eq!(decode_at(bytes, 5), Some(('😀', 4)));
    }

    #[test]
    fn plain_characters_only_count() {
        for c in ['中', '，', '。', '：', '©', 'é', '\u{80}'] {
            assert!(Markers::is_plain(c), "{c:?} should be plain");
        }
        // Marker characters, full-width and compatibility forms that fold into them,
        // whitespace, and characters beyond the table all take the full path.
        for c in [
            '公', '网', '安', '备', 'Ｉ', 'ｐ', 'Ⅰ', 'ℂ', '\u{3000}', '\u{a0}', '😀',
        ] {
            assert!(!Markers::is_plain(c), "{c:?} should not be plain");
        }
    }

    #[test]
    fn kinds_match_the_lists() {
        let lists: [(&[&str], u16); 11] = [
            (UNSUPPORTED, kind::UNSUPPORTED),
            (RAW_HIDDEN, kind::RAW_HIDDEN),
            (VOID, kind::VOID),
            (FORMATTING, kind::FORMATTING),
            (CLOSES_P, kind::CLOSES_P),
            (BLOCK_END, kind::BLOCK_END),
            (SPECIAL, kind::SPECIAL),
            (HEADINGS, kind::HEADING),
            (NO_RECONSTRUCT, kind::NO_RECONSTRUCT),
            (TABLE_PARTS, kind::TABLE_PART),
            (OWN_START, kind::OWN_START),
        ];
        for (names, bit) in lists {
            for name in names {
                assert_ne!(kind_of(name) & bit, 0, "{name}");
            }
        }
        for (name, bits) in [
            ("span", 0),
            ("div", kind::CLOSES_P | kind::BLOCK_END | kind::SPECIAL),
        ] {
            assert_eq!(kind_of(name), bits, "{name}");
        }
    }
}
