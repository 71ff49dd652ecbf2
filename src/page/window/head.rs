//! The head of a page read by the window model instead of the parser: the doctype, the first
//! `<title>`, the `<meta>` tags and where the body starts, decoded as html5ever would give
//! them. A head holding anything else (text, `<base>`, a template, an unknown reference) gives
//! no reading, and the page goes to the parser whole.

use std::ops::Range;

use super::markup::{
    Token, decode_text, find_byte, for_each_attribute, raw_close, raw_end, token_at,
};

/// What the head holds that the evidence reads, as html5ever would give it, and where the
/// body starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Head {
    /// The doctype, which sets the parser's mode for the window too.
    pub doctype: Option<Range<usize>>,
    /// The first `<body>` start tag.
    pub body_tag: Range<usize>,
    /// The text of the first `<title>`, when the head has one (empty for `<title></title>`).
    pub title: Option<String>,
    /// The `<meta>` tags, in order (in a plan, those of the body before the cut too).
    pub metas: Vec<Meta>,
}

/// The attributes of a `<meta>` tag that the evidence reads (the first of each name, decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    pub name: Option<String>,
    pub property: Option<String>,
    pub content: Option<String>,
    pub http_equiv: Option<String>,
}

/// Reads the head up to the first `<body>` start tag when nothing before it can put content
/// in the body or needs the parser (only head elements the model knows, whitespace, comments
/// and a doctype).
pub(super) fn read_head(html: &str) -> Option<Head> {
    let bytes = html.as_bytes();
    let mut head = Head::default();
    let mut pos = 0;
    loop {
        let lt = pos + find_byte(b'<', bytes.get(pos..)?)?;
        if !bytes.get(pos..lt)?.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        match token_at(bytes, lt)? {
            Token::Skip(end) => {
                let doctype = bytes
                    .get(lt + 2..lt + 9)
                    .is_some_and(|d| d.eq_ignore_ascii_case(b"doctype"));
                if doctype && head.doctype.is_none() {
                    head.doctype = Some(lt..end);
                }
                pos = end;
            }
            Token::Text => return None,
            Token::End { name, end } => {
                if !matches!(name.as_str(), "head") {
                    return None;
                }
                pos = end;
            }
            Token::Start { name, end, hidden } => match name.as_str() {
                "body" if !hidden => {
                    head.body_tag = lt..end;
                    return Some(head);
                }
                "html" if !hidden => pos = end,
                "head" | "link" => pos = end,
                "meta" => {
                    head.metas
                        .push(read_meta(bytes, lt + 1 + name.bytes().len())?);
                    pos = end;
                }
                "title" => {
                    let close = raw_close(bytes, end, "title")?;
                    if head.title.is_none() {
                        head.title = Some(decode_text(html.get(end..close)?)?);
                    }
                    pos = raw_end(bytes, end, "title")?;
                }
                "script" | "style" | "noscript" => pos = raw_end(bytes, end, name.as_str())?,
                _ => return None,
            },
        }
    }
}

/// The attributes of the `<meta>` tag whose attributes start at `from`.
pub(super) fn read_meta(bytes: &[u8], from: usize) -> Option<Meta> {
    let mut meta = Meta::default();
    for_each_attribute(bytes, from, |name, value| {
        let slot = if name.eq_ignore_ascii_case(b"name") {
            &mut meta.name
        } else if name.eq_ignore_ascii_case(b"property") {
            &mut meta.property
        } else if name.eq_ignore_ascii_case(b"content") {
            &mut meta.content
        } else if name.eq_ignore_ascii_case(b"http-equiv") {
            &mut meta.http_equiv
        } else {
            return Some(());
        };
        if slot.is_none() {
            *slot = Some(decode_text(std::str::from_utf8(value).ok()?)?);
        }
        Some(())
    })?;
    Some(meta)
}
