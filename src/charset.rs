//! Decoding a page's bytes to text: BOM, then the Content-Type charset, then a `<meta>`
//! prescan of the first 1024 bytes, then statistical detection, then UTF-8.
//!
//! GBK, GB18030 and Big5 pages are common among filed sites, and labels lie (a page labelled
//! UTF-8 that is really GBK). A label is trusted unless the bytes are invalid in it and valid
//! in what detection suggests; the choice and why are returned as evidence.

use encoding_rs::{Encoding, UTF_8};

/// Where the encoding came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CharsetSource {
    Bom,
    Header,
    Meta,
    Detected,
    Default,
}

/// A decoded page.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    pub encoding: &'static Encoding,
    pub source: CharsetSource,
    /// Whether some bytes were invalid in the chosen encoding and replaced.
    pub had_errors: bool,
}

/// How many bytes chardetng looks at; it costs about 0.1 ms per KB.
const DETECT_SAMPLE: usize = 64 * 1024;

/// Decodes a body given the `Content-Type` header value, if any.
pub fn decode(bytes: &[u8], content_type: Option<&str>, tld: Option<&[u8]>) -> Decoded {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return finish(&bytes[bom_len..], encoding, CharsetSource::Bom);
    }

    let labelled = content_type
        .and_then(charset_param)
        .and_then(|l| Encoding::for_label(l.as_bytes()))
        .map(|e| (e, CharsetSource::Header))
        .or_else(|| meta_prescan(bytes).map(|e| (e, CharsetSource::Meta)));

    match labelled {
        Some((encoding, source)) => {
            let encoding = ascii_compatible(encoding);
            let decoded = finish(bytes, encoding, source);
            if !decoded.had_errors {
                return decoded;
            }
            // A single-byte guess decodes any bytes at all, so it proves nothing: a UTF-8 page
            // with a few stray bytes stays UTF-8 (with replacement characters).
            let guess = detect(bytes, tld);
            if guess != encoding
                && !guess.is_single_byte()
                && guess
                    .decode_without_bom_handling_and_without_replacement(bytes)
                    .is_some()
            {
                return finish(bytes, guess, CharsetSource::Detected);
            }
            decoded
        }
        None if std::str::from_utf8(bytes).is_ok() => finish(bytes, UTF_8, CharsetSource::Default),
        None => finish(bytes, detect(bytes, tld), CharsetSource::Detected),
    }
}

fn finish(bytes: &[u8], encoding: &'static Encoding, source: CharsetSource) -> Decoded {
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    Decoded {
        text: text.into_owned(),
        encoding,
        source,
        had_errors,
    }
}

/// A label of UTF-16 found in an ASCII-compatible document means UTF-8 (WHATWG).
fn ascii_compatible(encoding: &'static Encoding) -> &'static Encoding {
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        return UTF_8;
    }
    encoding
}

fn detect(bytes: &[u8], tld: Option<&[u8]>) -> &'static Encoding {
    let sample = &bytes[..bytes.len().min(DETECT_SAMPLE)];
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(sample, sample.len() == bytes.len());
    detector.guess(tld, chardetng::Utf8Detection::Allow)
}

/// The `charset=` parameter of a Content-Type value.
pub fn charset_param(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']).to_string())
    })
}

/// Looks for `<meta charset=…>` or `<meta http-equiv=content-type content="…charset=…">`
/// in the first 1024 bytes.
fn meta_prescan(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"<meta") {
        let start = from + pos;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        if let Some(encoding) = charset_in_tag(&lower[start..end]) {
            return Some(encoding);
        }
        from = end;
    }
    None
}

fn charset_in_tag(tag: &[u8]) -> Option<&'static Encoding> {
    let at = find(tag, b"charset")?;
    let rest = &tag[at + 7..];
    let rest = rest.iter().position(|&b| b != b' ').map(|i| &rest[i..])?;
    let rest = rest.strip_prefix(b"=")?;
    let value: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(|b| matches!(b, b' ' | b'"' | b'\''))
        .take_while(|b| !matches!(b, b' ' | b'"' | b'\'' | b';' | b'/' | b'>'))
        .collect();
    Encoding::for_label(&value)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gbk(text: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(text).0.into_owned()
    }

    #[test]
    fn header_then_meta_then_detection() {
        let page = gbk("<html><head><meta charset=\"gbk\"><title>星河商城</title></head></html>");
        let d = decode(&page, None, None);
        assert_eq!(
            (d.encoding, d.source),
            (encoding_rs::GBK, CharsetSource::Meta)
        );
        assert!(d.text.contains("星河商城"));

        let d = decode(&page, Some("text/html; charset=GB2312"), None);
        assert_eq!(
            (d.encoding, d.source),
            (encoding_rs::GBK, CharsetSource::Header)
        );

        let bare = gbk("<html><title>星河商城欢迎您，这里是我们公司的官方网站首页</title></html>");
        let d = decode(&bare, None, Some(b"cn"));
        assert_eq!(d.source, CharsetSource::Detected);
        assert!(d.text.contains("星河商城"), "{}", d.text);
    }

    #[test]
    fn wrong_label_is_overruled_when_bytes_disagree() {
        let page = gbk(
            "<html><meta charset=utf-8><title>星河商城欢迎您，这里是官方网站首页内容</title></html>",
        );
        let d = decode(&page, Some("text/html; charset=utf-8"), Some(b"cn"));
        assert!(d.text.contains("星河商城"), "{}", d.text);
        assert_eq!(d.source, CharsetSource::Detected);
    }

    #[test]
    fn stray_bytes_in_a_utf8_page_keep_the_label() {
        let mut page = "<html><title>星河商城</title><p>欢迎光临我们的网站</p></html>"
            .as_bytes()
            .to_vec();
        page.splice(6..6, [0xff, 0xfe, 0xc3]);
        let d = decode(&page, Some("text/html; charset=utf-8"), Some(b"cn"));
        assert_eq!(
            (d.encoding, d.source, d.had_errors),
            (UTF_8, CharsetSource::Header, true)
        );
        assert!(d.text.contains("星河商城"), "{}", d.text);
    }

    #[test]
    fn bom_wins_and_utf16_meta_means_utf8() {
        let d = decode(
            "\u{feff}<p>好</p>".as_bytes(),
            Some("text/html; charset=gbk"),
            None,
        );
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Bom));
        let d = decode(b"<meta charset=utf-16><p>x</p>", None, None);
        assert_eq!(d.encoding, UTF_8);
    }

    #[test]
    fn http_equiv_form_is_found() {
        let page = b"<meta http-equiv='Content-Type' content='text/html; charset=big5'>";
        assert_eq!(meta_prescan(page), Some(encoding_rs::BIG5));
        assert_eq!(
            charset_param("text/html;charset=\"UTF-8\""),
            Some("UTF-8".into())
        );
    }
}
