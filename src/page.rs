//! Page analysis: what the home page shows a visitor, reduced to the evidence the rules need.
//!
//! The decoded HTML is parsed with scraper (html5ever, so entities are decoded and broken
//! markup is repaired as a browser would). One iterative walk collects the visible text (not
//! comments, scripts, styles, templates or `hidden` elements) together with the `<a>` that
//! encloses each character, then filing numbers and 公网安备 numbers are found in the folded
//! text and tied to their links. The walk never recurses, so deep nesting cannot overflow.
//!
//! Pages (from 4 KiB) are not parsed whole when they need not be: the `window` module reads
//! the head itself (title and `<meta>` tags) and plans a cut shortly before the first
//! filing-number marker, and the parser sees an empty head, the `<body>` tag, the start tags
//! still open at the cut and the page from there on. The evidence is the same as from the whole
//! page (the characters skipped are counted by the plan); [`PageEvidence::analysis`] says which
//! way it was found.

use std::sync::LazyLock;

use ego_tree::iter::Edge;
use regex::Regex;
use scraper::{Html, Node};
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::filing_number::{self, FilingNumber, NUMBER_IN_TEXT, PROVINCES};

mod guard;
mod window;

pub use guard::{MAX_ATTRIBUTES, MAX_DEPTH, MarkupGuard};

/// Characters of visible text kept on each side of a number, as evidence.
const CONTEXT_CHARS: usize = 40;

/// Characters of visible text kept from the end of the page, as evidence.
const TAIL_CHARS: usize = 160;

/// Matches a public-security (公安) filing number in folded text.
static PSB_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"([{PROVINCES}])公网安备(\d{{10,16}})号?")).expect("static")
});

/// Where a link points, as far as the footer rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkTarget {
    /// beian.miit.gov.cn, MIIT's filing system.
    Miit,
    /// www.beian.miit.gov.cn, the address demanded in 2019–2020; still accepted.
    MiitWww,
    /// miibeian.gov.cn or miitbeian.gov.cn, retired hosts: not a link to MIIT.
    MiitRetired,
    /// beian.mps.gov.cn or (www.)beian.gov.cn, the public-security filing platform.
    PublicSecurity,
    Other,
}

impl LinkTarget {
    /// Classifies an `href` value; relative and protocol-relative links are resolved first.
    pub fn of_href(href: &str) -> LinkTarget {
        static BASE: LazyLock<url::Url> =
            LazyLock::new(|| url::Url::parse("http://page.invalid/").expect("static"));
        let Ok(url) = BASE.join(href) else {
            return LinkTarget::Other;
        };
        if !matches!(url.scheme(), "http" | "https") {
            return LinkTarget::Other;
        }
        let host = url.host_str().unwrap_or("").trim_end_matches('.');
        match host {
            "beian.miit.gov.cn" => LinkTarget::Miit,
            "www.beian.miit.gov.cn" => LinkTarget::MiitWww,
            "miibeian.gov.cn"
            | "www.miibeian.gov.cn"
            | "miitbeian.gov.cn"
            | "www.miitbeian.gov.cn" => LinkTarget::MiitRetired,
            "beian.mps.gov.cn" | "www.beian.gov.cn" | "beian.gov.cn" => LinkTarget::PublicSecurity,
            _ => LinkTarget::Other,
        }
    }

    /// Whether a filing number inside this link counts as linked to MIIT.
    pub fn is_miit(self) -> bool {
        matches!(self, LinkTarget::Miit | LinkTarget::MiitWww)
    }
}

/// An `<a href>` that encloses a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub href: String,
    pub target: LinkTarget,
}

/// A filing number seen in the visible text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundNumber {
    /// The number as folded (`京ICP备12345678号-1`).
    pub text: String,
    #[serde(skip)]
    pub parsed: Option<FilingNumber>,
    /// The link enclosing the first character, if any.
    pub link: Option<Link>,
    /// Whether every character of the number lies inside links to MIIT.
    pub linked_to_miit: bool,
    /// Whether it sits in a footer-like element (`<footer>`, `#footer`, `.copyright`, …).
    pub in_footer: bool,
    /// The visible text around it.
    pub context: String,
}

/// A 公网安备 number seen in the visible text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundPsbNumber {
    /// The 14-digit (or so) code.
    pub digits: String,
    pub link: Option<Link>,
    /// Whether it lies inside a link to the public-security filing platform.
    pub linked: bool,
    pub context: String,
}

/// A name the page gives itself, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageName {
    /// `title`, `og:site_name`, `application-name` or `apple-mobile-web-app-title`.
    pub source: &'static str,
    pub text: String,
}

/// What the page analysis found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PageEvidence {
    pub title: Option<String>,
    pub names: Vec<PageName>,
    pub numbers: Vec<FoundNumber>,
    pub psb_numbers: Vec<FoundPsbNumber>,
    /// Characters of visible text.
    pub visible_chars: usize,
    /// The last visible text, where a footer number is expected.
    pub tail: String,
    /// A `<meta http-equiv="refresh">` target, when the page has one.
    pub meta_refresh: Option<MetaRefresh>,
    /// The default page recognised, when the page is one (`nginx`, `apache`, …).
    pub default_page: Option<&'static str>,
    /// What the markup guard rewrote before parsing, when the page was pathological.
    pub markup_guard: Option<MarkupGuard>,
    /// Whether the whole page was parsed or only a window of it.
    pub analysis: AnalysisPath,
}

/// How much of the page the parser saw; the evidence is the same either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisPath {
    /// The whole page.
    #[default]
    Full,
    /// The head, the start tags open at `from_byte`, and the page from that byte on.
    Window { from_byte: usize },
}

/// A meta refresh: where to and after how many seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetaRefresh {
    pub url: String,
    pub delay_secs: u64,
}

/// Per-element state during the walk.
#[derive(Clone, Copy)]
struct Frame {
    hidden: bool,
    anchor: Option<u32>,
    footer: bool,
    title: bool,
}

/// The visible text being collected, folded, with who owns each folded character.
#[derive(Default)]
struct TextCollector {
    display: Vec<char>,
    folded: String,
    /// For each folded character: (display index, anchor id, in footer).
    owners: Vec<(u32, Option<u32>, bool)>,
}

impl TextCollector {
    fn push_text(&mut self, text: &str, frame: Frame) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.space();
                continue;
            }
            let at = self.display.len() as u32;
            self.display.push(c);
            let before = self.folded.len();
            filing_number::fold_char(c, &mut self.folded);
            let added = self.folded[before..].chars().count();
            self.owners
                .extend(std::iter::repeat_n((at, frame.anchor, frame.footer), added));
        }
    }

    fn space(&mut self) {
        if self.display.last().is_some_and(|&c| c != ' ') {
            self.display.push(' ');
        }
    }

    fn context(&self, from: usize, to: usize) -> String {
        let start = from.saturating_sub(CONTEXT_CHARS);
        let end = (to + CONTEXT_CHARS).min(self.display.len());
        self.display[start..end]
            .iter()
            .collect::<String>()
            .trim()
            .to_string()
    }
}

/// Analyses a decoded HTML page.
pub fn analyse(html: &str) -> PageEvidence {
    analyse_with(html, window::Limits::default())
}

fn analyse_with(html: &str, limits: window::Limits) -> PageEvidence {
    let (html, markup_guard) = guard::guard(html);
    if let Some(guard) = &markup_guard {
        tracing::debug!(
            dropped_start_tags = guard.dropped_start_tags,
            dropped_end_tags = guard.dropped_end_tags,
            cut_attribute_lists = guard.cut_attribute_lists,
            "markup guard fired"
        );
    } else if let Some(evidence) = analyse_window(&html, limits) {
        return evidence;
    }
    let document = Html::parse_document(&html);
    let (mut evidence, walk) = evidence_of(&document, Walk::default());
    evidence.markup_guard = markup_guard;
    evidence.default_page = default_page(&evidence, &walk.headings);
    evidence
}

/// Analyses only a window of the page, when a plan exists and the window's evidence is sure
/// to equal the whole page's.
fn analyse_window(html: &str, limits: window::Limits) -> Option<PageEvidence> {
    let plan = window::plan(html, limits)?;
    let document = Html::parse_document(&plan.document(html)?);
    if !replay_intact(&document, &plan.replay_names(html)) {
        tracing::debug!(
            from_byte = plan.from,
            "window replay rearranged; parsing whole page"
        );
        return None;
    }
    let (mut evidence, walk) = evidence_of(&document, Walk::after_head(&plan.head));
    let display = &walk.text.display;
    let marker_too_early = first_marker(&walk.text).is_some_and(|at| at <= CONTEXT_CHARS);
    if evidence.title.is_none() || display.len() <= TAIL_CHARS || marker_too_early {
        tracing::debug!(
            from_byte = plan.from,
            "window too short; parsing whole page"
        );
        return None;
    }
    evidence.visible_chars += plan.skipped_visible;
    evidence.default_page = default_page(&evidence, &walk.headings);
    evidence.analysis = AnalysisPath::Window {
        from_byte: plan.from,
    };
    Some(evidence)
}

/// Whether the replayed start tags opened, in order and with nothing before them, right
/// inside `<body>` (html5ever moves content out of tables, for one).
fn replay_intact(document: &Html, names: &[String]) -> bool {
    let Some(body) = document
        .tree
        .root()
        .descendants()
        .find(|n| n.value().as_element().is_some_and(|e| e.name() == "body"))
    else {
        return false;
    };
    let mut expected = names.iter();
    let mut next = expected.next();
    for node in body.descendants().skip(1) {
        let Some(name) = next else {
            return true;
        };
        match node.value() {
            Node::Element(e) if e.name() == name => next = expected.next(),
            Node::Text(t) if t.trim().is_empty() => {}
            Node::Comment(_) => {}
            _ => return false,
        }
    }
    next.is_none()
}

/// Display index of the first `ICP` or `公网安备` in the folded text.
fn first_marker(text: &TextCollector) -> Option<usize> {
    let byte = [text.folded.find("ICP"), text.folded.find("公网安备")]
        .into_iter()
        .flatten()
        .min()?;
    let chars = text.folded.get(..byte)?.chars().count();
    text.owners.get(chars).map(|o| o.0 as usize)
}

/// Walks a parsed document into evidence (without the markup guard and default page),
/// continuing `walk`.
fn evidence_of(document: &Html, mut walk: Walk) -> (PageEvidence, Walk) {
    walk.run(document);

    let mut evidence = PageEvidence {
        title: walk
            .title
            .clone()
            .map(|t| collapse_whitespace(&t))
            .filter(|t| !t.is_empty()),
        names: std::mem::take(&mut walk.names),
        meta_refresh: walk.meta_refresh.take(),
        visible_chars: walk.text.display.iter().filter(|c| **c != ' ').count(),
        ..PageEvidence::default()
    };
    if let Some(title) = &evidence.title {
        evidence.names.insert(
            0,
            PageName {
                source: "title",
                text: title.clone(),
            },
        );
    }

    evidence.numbers = find_numbers(&walk.text, &walk.anchors);
    evidence.psb_numbers = find_psb_numbers(&walk.text, &walk.anchors);
    evidence.tail = tail(&walk.text.display, TAIL_CHARS);
    (evidence, walk)
}

#[derive(Default)]
struct Walk {
    text: TextCollector,
    anchors: Vec<Link>,
    title: Option<String>,
    title_done: bool,
    names: Vec<PageName>,
    meta_refresh: Option<MetaRefresh>,
    headings: String,
}

impl Walk {
    /// A walk that has seen the head the window plan read: its title and `<meta>` tags.
    fn after_head(head: &window::Head) -> Walk {
        let mut walk = Walk {
            title: head.title.clone().filter(|t| !t.is_empty()),
            title_done: head.title.is_some(),
            ..Walk::default()
        };
        for meta in &head.metas {
            walk.on_meta(MetaAttributes {
                property: meta.property.as_deref(),
                name: meta.name.as_deref(),
                content: meta.content.as_deref(),
                http_equiv: meta.http_equiv.as_deref(),
            });
        }
        walk
    }

    fn run(&mut self, document: &Html) {
        let root = Frame {
            hidden: false,
            anchor: None,
            footer: false,
            title: false,
        };
        let mut stack = vec![root];
        for edge in document.tree.root().traverse() {
            match edge {
                Edge::Open(node) => match node.value() {
                    Node::Element(element) => {
                        let parent = *stack.last().unwrap_or(&root);
                        stack.push(self.open_element(element, parent));
                    }
                    Node::Text(text) => self.on_text(text, *stack.last().unwrap_or(&root)),
                    _ => {}
                },
                Edge::Close(node) => {
                    if let Node::Element(element) = node.value() {
                        self.close_element(element, stack.pop().unwrap_or(root));
                    }
                }
            }
        }
    }

    fn open_element(&mut self, element: &scraper::node::Element, parent: Frame) -> Frame {
        let name = element.name();
        let mut frame = parent;
        frame.hidden |= matches!(
            name,
            "script" | "style" | "noscript" | "template" | "head" | "iframe" | "object"
        ) || is_hidden(element);
        frame.title = name == "title" && !self.title_done;
        frame.footer |= is_footer_like(element);
        if is_block(name) {
            self.text.space();
        }

        match name {
            "a" => {
                if let Some(href) = element.attr("href") {
                    frame.anchor = Some(self.anchors.len() as u32);
                    self.anchors.push(Link {
                        href: href.trim().to_string(),
                        target: LinkTarget::of_href(href),
                    });
                }
            }
            "meta" => self.on_meta(MetaAttributes {
                property: element.attr("property"),
                name: element.attr("name"),
                content: element.attr("content"),
                http_equiv: element.attr("http-equiv"),
            }),
            _ => {}
        }
        frame
    }

    fn close_element(&mut self, element: &scraper::node::Element, frame: Frame) {
        if frame.title {
            self.title_done = true;
        }
        if is_block(element.name()) {
            self.text.space();
        }
    }

    fn on_text(&mut self, text: &scraper::node::Text, frame: Frame) {
        if frame.title {
            self.title.get_or_insert_with(String::new).push_str(text);
            return;
        }
        if frame.hidden {
            return;
        }
        self.text.push_text(text, frame);
        if self.headings.len() < 200 {
            self.headings.push_str(text);
        }
    }

    fn on_meta(&mut self, meta: MetaAttributes<'_>) {
        let content = meta.content.unwrap_or("").trim();
        let key = meta
            .property
            .or(meta.name)
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let source = match key.as_str() {
            "og:site_name" => Some("og:site_name"),
            "application-name" => Some("application-name"),
            "apple-mobile-web-app-title" => Some("apple-mobile-web-app-title"),
            _ => None,
        };
        if let Some(source) = source.filter(|_| !content.is_empty()) {
            self.names.push(PageName {
                source,
                text: collapse_whitespace(content),
            });
        }

        let refresh = meta
            .http_equiv
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh"));
        if refresh && self.meta_refresh.is_none() {
            self.meta_refresh = parse_refresh(content);
        }
    }
}

/// The attributes of a `<meta>` tag the evidence reads.
struct MetaAttributes<'a> {
    property: Option<&'a str>,
    name: Option<&'a str>,
    content: Option<&'a str>,
    http_equiv: Option<&'a str>,
}

fn is_hidden(element: &scraper::node::Element) -> bool {
    if element.attr("hidden").is_some() {
        return true;
    }
    let Some(style) = element.attr("style") else {
        return false;
    };
    let style: String = style
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    style.contains("display:none") || style.contains("visibility:hidden")
}

fn is_footer_like(element: &scraper::node::Element) -> bool {
    if element.name() == "footer" {
        return true;
    }
    let marks = |v: &str| {
        let v = v.to_ascii_lowercase();
        ["footer", "foot", "copyright", "bottom", "beian", "icp"]
            .iter()
            .any(|m| v.contains(m))
    };
    element.attr("id").is_some_and(marks) || element.attr("class").is_some_and(marks)
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "br"
            | "li"
            | "ul"
            | "ol"
            | "footer"
            | "header"
            | "section"
            | "article"
            | "nav"
            | "main"
            | "aside"
            | "table"
            | "tr"
            | "td"
            | "th"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "dd"
            | "dt"
            | "dl"
            | "form"
            | "hr"
            | "pre"
            | "blockquote"
            | "address"
            | "body"
            | "html"
    )
}

/// Parses `5; url=https://example.cn/` (quotes and `URL` in any case allowed).
fn parse_refresh(content: &str) -> Option<MetaRefresh> {
    let (delay, rest) = match content.find([';', ',']) {
        Some(i) => (&content[..i], content[i + 1..].trim()),
        None => (content, ""),
    };
    let delay_secs = delay.trim().split('.').next()?.trim().parse().ok()?;
    let lower = rest.to_ascii_lowercase();
    let url = if lower.starts_with("url") {
        rest[3..].trim_start().strip_prefix('=')?.trim()
    } else {
        rest
    };
    let url = url.trim_matches(['"', '\'']).trim();
    (!url.is_empty()).then(|| MetaRefresh {
        url: url.to_string(),
        delay_secs,
    })
}

/// Character index of each match start and end in the folded text, in order.
fn char_spans<'a>(
    folded: &'a str,
    re: &'a Regex,
) -> impl Iterator<Item = (usize, usize, regex::Captures<'a>)> + 'a {
    let mut chars_before = 0;
    let mut last_byte = 0;
    re.captures_iter(folded).map(move |caps| {
        let m = caps.get(0).expect("group 0");
        chars_before += folded[last_byte..m.start()].chars().count();
        last_byte = m.start();
        let len = m.as_str().chars().count();
        (chars_before, chars_before + len, caps)
    })
}

fn find_numbers(text: &TextCollector, anchors: &[Link]) -> Vec<FoundNumber> {
    char_spans(&text.folded, &NUMBER_IN_TEXT)
        .map(|(start, end, caps)| {
            let owners = &text.owners[start..end];
            let first_anchor = owners[0].1;
            FoundNumber {
                text: caps[0].to_string(),
                parsed: Some(FilingNumber::from_captures(&caps)),
                link: first_anchor.map(|a| anchors[a as usize].clone()),
                linked_to_miit: owners
                    .iter()
                    .all(|o| o.1.is_some_and(|a| anchors[a as usize].target.is_miit())),
                in_footer: owners[0].2,
                context: text.context(owners[0].0 as usize, owners[end - start - 1].0 as usize + 1),
            }
        })
        .collect()
}

fn find_psb_numbers(text: &TextCollector, anchors: &[Link]) -> Vec<FoundPsbNumber> {
    char_spans(&text.folded, &PSB_IN_TEXT)
        .map(|(start, end, caps)| {
            let owners = &text.owners[start..end];
            let first_anchor = owners[0].1;
            FoundPsbNumber {
                digits: caps[2].to_string(),
                link: first_anchor.map(|a| anchors[a as usize].clone()),
                linked: owners.iter().any(|o| {
                    o.1.is_some_and(|a| anchors[a as usize].target == LinkTarget::PublicSecurity)
                }),
                context: text.context(owners[0].0 as usize, owners[end - start - 1].0 as usize + 1),
            }
        })
        .collect()
}

fn tail(display: &[char], chars: usize) -> String {
    let start = display.len().saturating_sub(chars);
    display[start..]
        .iter()
        .collect::<String>()
        .trim()
        .to_string()
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Normalises a name for comparison: NFKC, lower case, letters and digits only.
pub fn normalise_name(text: &str) -> String {
    text.nfkc()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// Recognises web-server default pages and empty pages, signals of a site not in use.
fn default_page(evidence: &PageEvidence, visible_head: &str) -> Option<&'static str> {
    const TITLES: &[(&str, &str)] = &[
        ("welcome to nginx", "nginx"),
        ("test page for the nginx http server", "nginx"),
        ("apache2 ubuntu default page", "apache"),
        ("apache2 debian default page", "apache"),
        ("test page for the apache http server", "apache"),
        ("apache http server test page", "apache"),
        ("iis windows server", "iis"),
        ("internet information services", "iis"),
        ("welcome to centos", "centos"),
        ("没有找到站点", "baota"),
        ("恭喜，站点创建成功", "baota"),
        ("恭喜,站点创建成功", "baota"),
        ("welcome to tengine", "tengine"),
        ("welcome to openresty", "openresty"),
        ("index of /", "directory_listing"),
    ];
    let title = evidence.title.as_deref().unwrap_or("").to_lowercase();
    if let Some((_, kind)) = TITLES.iter().find(|(t, _)| title.starts_with(t)) {
        return Some(kind);
    }
    let head = visible_head.trim().to_lowercase();
    if title.is_empty() && head.starts_with("it works!") {
        return Some("apache");
    }
    (evidence.visible_chars == 0).then_some("empty")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(html: &str) -> Vec<FoundNumber> {
        analyse(html).numbers
    }

    #[test]
    fn linked_number_in_footer() {
        let n = numbers(
            r#"<body><p>x</p><footer><a href="https://beian.miit.gov.cn/#/Integrated/index" target=_blank>京ICP备12345678号-1</a></footer></body>"#,
        );
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].text, "京ICP备12345678号-1");
        assert!(n[0].linked_to_miit && n[0].in_footer);
    }

    #[test]
    fn number_beside_a_separate_link_is_not_linked() {
        let n = numbers(
            r#"<div class="foot">京ICP备12345678号-1 <a href="https://beian.miit.gov.cn">查询</a></div>"#,
        );
        assert_eq!(n.len(), 1);
        assert!(!n[0].linked_to_miit);
        assert!(n[0].link.is_none());
    }

    #[test]
    fn comments_scripts_styles_and_hidden_do_not_count() {
        let html = r#"<!-- 京ICP备12345678号-1 --><script>var a="京ICP备12345678号-1"</script>
            <style>/* 京ICP备12345678号-1 */</style><div hidden>京ICP备12345678号-1</div>
            <div style="display: none">京ICP备12345678号-1</div><p>hello</p>"#;
        assert!(numbers(html).is_empty());
    }

    #[test]
    fn spaced_and_full_width_numbers_are_folded() {
        let n = numbers(r#"<a href="//BEIAN.MIIT.GOV.CN">京 ICP 备 1234 5678 号 － 1</a>"#);
        assert_eq!(n[0].text, "京ICP备12345678号-1");
        assert!(n[0].linked_to_miit);
        let n = numbers(r#"<a href="http://beian.miit.gov.cn">京ＩＣＰ备１２３４５６７８号-1</a>"#);
        assert_eq!(n[0].text, "京ICP备12345678号-1");
    }

    #[test]
    fn link_targets() {
        assert_eq!(
            LinkTarget::of_href("https://beian.miit.gov.cn"),
            LinkTarget::Miit
        );
        assert_eq!(
            LinkTarget::of_href(" HTTP://Beian.Miit.Gov.Cn/#/x "),
            LinkTarget::Miit
        );
        assert_eq!(
            LinkTarget::of_href("//beian.miit.gov.cn/"),
            LinkTarget::Miit
        );
        assert_eq!(
            LinkTarget::of_href("http://www.beian.miit.gov.cn"),
            LinkTarget::MiitWww
        );
        assert_eq!(
            LinkTarget::of_href("https://beian.miit.gov.cn.example.com/"),
            LinkTarget::Other
        );
        assert_eq!(
            LinkTarget::of_href("https://example.com/beian.miit.gov.cn"),
            LinkTarget::Other
        );
        assert_eq!(
            LinkTarget::of_href("https://evil.com/?u=https://beian.miit.gov.cn"),
            LinkTarget::Other
        );
        assert_eq!(
            LinkTarget::of_href("http://www.miibeian.gov.cn"),
            LinkTarget::MiitRetired
        );
        assert_eq!(LinkTarget::of_href("/beian"), LinkTarget::Other);
        assert_eq!(LinkTarget::of_href("javascript:void(0)"), LinkTarget::Other);
        assert_eq!(
            LinkTarget::of_href("https://beian.mps.gov.cn/#/query/webSearch?code=1"),
            LinkTarget::PublicSecurity
        );
        assert_eq!(
            LinkTarget::of_href("ftp://beian.miit.gov.cn/"),
            LinkTarget::Other
        );
    }

    #[test]
    fn names_title_and_refresh() {
        let p = analyse(
            r#"<html><head><title> 星河商城 &amp; 首页 </title><meta property="og:site_name" content="星河"><meta http-equiv="Refresh" content="0; URL='/landing'"></head><body>hi</body></html>"#,
        );
        assert_eq!(p.title.as_deref(), Some("星河商城 & 首页"));
        assert_eq!(p.names.len(), 2);
        assert_eq!(
            p.meta_refresh,
            Some(MetaRefresh {
                url: "/landing".into(),
                delay_secs: 0
            })
        );
        assert_eq!(normalise_name("星河商城 - 首页！"), "星河商城首页");
        assert_eq!(normalise_name("ＡＢＣ Shop"), "abcshop");
    }

    #[test]
    fn psb_numbers_and_default_pages() {
        let p = analyse(
            r#"<footer><a href="https://beian.mps.gov.cn/#/query/webSearch?code=11010802020321">京公网安备 11010802020321号</a></footer>"#,
        );
        assert_eq!(p.psb_numbers[0].digits, "11010802020321");
        assert!(p.psb_numbers[0].linked);
        assert!(p.numbers.is_empty());

        assert_eq!(
            analyse("<title>Welcome to nginx!</title><h1>Welcome to nginx!</h1>").default_page,
            Some("nginx")
        );
        assert_eq!(analyse("").default_page, Some("empty"));
        assert_eq!(analyse("<title>星河</title><p>内容</p>").default_page, None);
    }

    #[test]
    fn deep_nesting_is_guarded_and_still_read() {
        let html = "<div>".repeat(100_000) + "京ICP备12345678号" + &"</div>".repeat(100_000);
        let started = std::time::Instant::now();
        let page = analyse(&html);
        assert_eq!(page.numbers.len(), 1);
        let guard = page.markup_guard.expect("the guard fired");
        assert_eq!(guard.dropped_start_tags, 100_000 - MAX_DEPTH);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    }
}

#[cfg(test)]
mod window_tests;
