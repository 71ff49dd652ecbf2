//! Raw HTML read as html5ever's tokenizer reads it, for the markup the window model follows:
//! tags and their attributes, comments, raw-text elements and character references. Anything
//! the tokenizer would read differently, or that these functions do not know, gives `None`,
//! and the page goes to the parser whole.

use super::Name;

/// Text or an attribute value as the parser gives it: character references decoded and line
/// breaks normalised; `None` for a reference the model does not know or a NUL.
pub(super) fn decode_text(raw: &str) -> Option<String> {
    if !raw.contains(['&', '\r', '\0']) {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\0' => return None,
            '\r' => {
                chars.next_if(|(_, c)| *c == '\n');
                out.push('\n');
            }
            '&' => {
                let (decoded, len) = char_ref(raw.get(i..)?)?;
                for _ in 1..len {
                    chars.next();
                }
                out.push(decoded);
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// One token read at a `<`.
pub(super) enum Token {
    /// A comment, doctype or bogus comment ending before this offset.
    Skip(usize),
    /// The `<` is text.
    Text,
    Start {
        name: Name,
        end: usize,
        hidden: bool,
    },
    End {
        name: Name,
        end: usize,
    },
}

/// Reads the token at `bytes[lt] == b'<'`; `None` when the model cannot follow it.
pub(super) fn token_at(bytes: &[u8], lt: usize) -> Option<Token> {
    let next = *bytes.get(lt + 1)?;
    match next {
        b'!' if bytes.get(lt + 2..lt + 4) == Some(b"--") => {
            comment_end(bytes, lt + 4).map(Token::Skip)
        }
        b'!' | b'?' => Some(Token::Skip(lt + find_byte(b'>', bytes.get(lt..)?)? + 1)),
        b'/' => {
            let first = *bytes.get(lt + 2)?;
            if first == b'>' {
                return Some(Token::Skip(lt + 3));
            }
            if !first.is_ascii_alphabetic() {
                return Some(Token::Skip(lt + find_byte(b'>', bytes.get(lt..)?)? + 1));
            }
            let (name, rest) = tag_name(bytes, lt + 2)?;
            let (end, _) = attributes(bytes, rest)?;
            Some(Token::End { name, end })
        }
        c if c.is_ascii_alphabetic() => {
            let (name, rest) = tag_name(bytes, lt + 1)?;
            let (end, hidden) = attributes(bytes, rest)?;
            Some(Token::Start { name, end, hidden })
        }
        _ => Some(Token::Text),
    }
}

/// The end of a comment whose text starts at `from`.
fn comment_end(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    if rest.starts_with(b">") {
        return Some(from + 1);
    }
    if rest.starts_with(b"->") {
        return Some(from + 2);
    }
    let end = find_seq(b"-->", rest)?;
    if find_seq(b"--!>", rest).is_some_and(|bang| bang < end) {
        return None;
    }
    Some(from + end + 3)
}

/// A lower-case tag name starting at `from`, and where it ends.
fn tag_name(bytes: &[u8], from: usize) -> Option<(Name, usize)> {
    let rest = bytes.get(from..)?;
    let len = rest
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>')?;
    Some((Name::new(rest.get(..len)?)?, from + len))
}

/// Reads attributes up to the closing `>`: where the tag ends and whether it hides its content
/// (`hidden`, or a first `style` with `display:none` or `visibility:hidden`).
pub(super) fn attributes(bytes: &[u8], i: usize) -> Option<(usize, bool)> {
    let mut hidden = false;
    let mut style_seen = false;
    let end = for_each_attribute(bytes, i, |name, value| {
        if name.eq_ignore_ascii_case(b"hidden") {
            hidden = true;
        } else if name.eq_ignore_ascii_case(b"style") && !style_seen {
            style_seen = true;
            hidden |= style_hides(value)?;
        }
        Some(())
    })?;
    Some((end, hidden))
}

/// Calls `each` with every attribute's name and raw value up to the closing `>`, and returns
/// where the tag ends; `None` when `each` gives up or the tag does not end.
pub(super) fn for_each_attribute(
    bytes: &[u8],
    mut i: usize,
    mut each: impl FnMut(&[u8], &[u8]) -> Option<()>,
) -> Option<usize> {
    loop {
        while bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_whitespace() || *b == b'/')
        {
            i += 1;
        }
        if *bytes.get(i)? == b'>' {
            return Some(i + 1);
        }
        let name_start = i;
        i += 1;
        while bytes
            .get(i)
            .is_some_and(|b| !b.is_ascii_whitespace() && !matches!(b, b'/' | b'>' | b'='))
        {
            i += 1;
        }
        let name = bytes.get(name_start..i)?;
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        let mut value: &[u8] = b"";
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
                i += 1;
            }
            let (v, next) = attribute_value(bytes, i)?;
            value = v;
            i = next;
        }
        each(name, value)?;
    }
}

/// A quoted or unquoted attribute value at `i`, and the offset after it.
fn attribute_value(bytes: &[u8], i: usize) -> Option<(&[u8], usize)> {
    match *bytes.get(i)? {
        q @ (b'"' | b'\'') => {
            let len = find_byte(q, bytes.get(i + 1..)?)?;
            Some((bytes.get(i + 1..i + 1 + len)?, i + len + 2))
        }
        b'>' => Some((b"", i)),
        _ => {
            let rest = bytes.get(i..)?;
            let len = rest
                .iter()
                .position(|b| b.is_ascii_whitespace() || *b == b'>')
                .unwrap_or(rest.len());
            Some((rest.get(..len)?, i + len))
        }
    }
}

/// Whether a style value hides the element; `None` when a character reference could hide it.
fn style_hides(value: &[u8]) -> Option<bool> {
    if value.iter().any(|b| *b == b'&' || *b == 0 || !b.is_ascii()) {
        return None;
    }
    let compact: Vec<u8> = value
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(u8::to_ascii_lowercase)
        .collect();
    Some(
        find_seq(b"display:none", &compact).is_some()
            || find_seq(b"visibility:hidden", &compact).is_some(),
    )
}

/// The end of a raw-text element whose content starts at `from`; `None` when a `<script>`
/// holds `<!--` followed by `<script` (html5ever's double-escaped state).
pub(super) fn raw_end(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let close = raw_close(bytes, from, name)?;
    let (end, _) = attributes(bytes, close + 2 + name.len())?;
    Some(end)
}

/// Where the end tag of a raw-text element whose content starts at `from` begins.
pub(super) fn raw_close(bytes: &[u8], from: usize, name: &str) -> Option<usize> {
    let mut pos = from;
    loop {
        let lt = pos + find_byte(b'<', bytes.get(pos..)?)?;
        let after = lt + 2 + name.len();
        let closes = bytes.get(lt + 1) == Some(&b'/')
            && bytes
                .get(lt + 2..after)
                .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
            && bytes
                .get(after)
                .is_some_and(|b| b.is_ascii_whitespace() || matches!(b, b'/' | b'>'));
        if closes {
            if name == "script" && script_double_escaped(bytes.get(from..lt)?) {
                return None;
            }
            return Some(lt);
        }
        pos = lt + 1;
    }
}

fn script_double_escaped(script: &[u8]) -> bool {
    let Some(open) = find_seq(b"<!--", script) else {
        return false;
    };
    let lower: Vec<u8> = script[open..].iter().map(u8::to_ascii_lowercase).collect();
    find_seq(b"<script", &lower).is_some()
}

pub(super) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

pub(super) fn find_seq(needle: &[u8], hay: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Decodes the non-ASCII character starting at `bytes[i]` of a `str`, and its length; two- and
/// three-byte forms (all of CJK) are decoded in line, longer ones by the standard library.
pub(super) fn decode_at(bytes: &[u8], i: usize) -> Option<(char, usize)> {
    let lead = u32::from(*bytes.get(i)?);
    let next = |k: usize| bytes.get(i + k).map(|b| u32::from(b & 0x3f));
    let (code, len) = match lead {
        0xc0..0xe0 => (((lead & 0x1f) << 6) | next(1)?, 2),
        0xe0..0xf0 => (((lead & 0x0f) << 12) | (next(1)? << 6) | next(2)?, 3),
        _ => {
            let c = std::str::from_utf8(bytes.get(i..(i + 4).min(bytes.len()))?)
                .ok()?
                .chars()
                .next()?;
            return Some((c, c.len_utf8()));
        }
    };
    Some((char::from_u32(code)?, len))
}

/// Decodes a character reference at the start of `text` (which begins with `&`): the
/// character and the length of the reference in chars. A lone `&` is itself; references the
/// model does not know give `None`.
pub(super) fn char_ref(text: &str) -> Option<(char, usize)> {
    let rest = text.get(1..)?;
    if let Some(num) = rest.strip_prefix('#') {
        return numeric_ref(num).map(|(c, len)| (c, len + 2));
    }
    let len = rest
        .bytes()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    if len == 0 {
        return Some(('&', 1));
    }
    if rest.as_bytes().get(len) != Some(&b';') {
        // Without a semicolon only the legacy names are references; a run that none of them
        // begins is plain text, `&` included.
        let run = rest.get(..len)?;
        let legacy = LEGACY_REFERENCES.iter().any(|name| run.starts_with(name));
        return (!legacy).then_some(('&', 1));
    }
    let c = named_ref(rest.get(..len)?)?;
    Some((c, len + 2))
}

fn numeric_ref(num: &str) -> Option<(char, usize)> {
    let (digits, radix, prefix) = match num.strip_prefix(['x', 'X']) {
        Some(hex) => (hex, 16, 1),
        None => (num, 10, 0),
    };
    let len = digits
        .bytes()
        .position(|b| !(b as char).is_digit(radix))
        .unwrap_or(digits.len());
    if len == 0 || len > 8 || digits.as_bytes().get(len) != Some(&b';') {
        return None;
    }
    let value = u32::from_str_radix(digits.get(..len)?, radix).ok()?;
    if value < 0x20 || (0x7f..=0x9f).contains(&value) {
        return None;
    }
    Some((char::from_u32(value)?, prefix + len + 1))
}

/// The named references that are recognised without a semicolon (the HTML standard's legacy
/// list); the model leaves text holding one of them to the parser.
const LEGACY_REFERENCES: &[&str] = &[
    "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil",
    "ETH", "Eacute", "Ecirc", "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT",
    "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash", "Otilde", "Ouml", "QUOT", "REG", "THORN",
    "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute", "aelig", "agrave",
    "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
    "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt",
    "iacute", "icirc", "iexcl", "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro",
    "middot", "nbsp", "not", "ntilde", "oacute", "ocirc", "ograve", "ordf", "ordm", "oslash",
    "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy", "sup1",
    "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml",
    "yacute", "yen", "yuml",
];

/// The named references the model decodes: those Chinese footers use.
fn named_ref(name: &str) -> Option<char> {
    Some(match name {
        "nbsp" => '\u{a0}',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "middot" => '·',
        "bull" => '•',
        "raquo" => '»',
        "laquo" => '«',
        "times" => '×',
        "yen" => '¥',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "ldquo" => '“',
        "rdquo" => '”',
        "lsquo" => '‘',
        "rsquo" => '’',
        _ => return None,
    })
}
