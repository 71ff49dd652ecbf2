//! Equivalence of the window path and the whole-page path: on every page here both must give
//! the same evidence, apart from [`PageEvidence::analysis`]; the tests also check that the
//! window path is really taken where it should be.

use proptest::prelude::*;

use super::window::Limits;
use super::*;

#[path = "../../benches/fixture/mod.rs"]
mod fixture;

/// Limits small enough that hand-written pages take the window path.
const SMALL: Limits = Limits {
    min_len: 0,
    margin: 1200,
    context: 0,
    spacing: 16,
};

/// Limits that cut as close to the first marker as production may: no byte margin, only the
/// visible characters the evidence's context needs.
const TIGHT: Limits = Limits {
    min_len: 0,
    margin: 0,
    context: 44,
    spacing: 1,
};

const WHOLE: Limits = Limits {
    min_len: usize::MAX,
    margin: 0,
    context: 0,
    spacing: 0,
};

/// Analyses the whole page and through windows cut at `limits`, at [`TIGHT`] and at the
/// production defaults, asserts the evidence is equal and returns the path `limits` took.
fn same(html: &str, limits: Limits) -> AnalysisPath {
    let full = analyse_with(html, WHOLE);
    assert_eq!(full.analysis, AnalysisPath::Full);
    let mut first = None;
    for limits in [limits, TIGHT, Limits::default()] {
        let mut windowed = analyse_with(html, limits);
        let path = windowed.analysis;
        windowed.analysis = AnalysisPath::Full;
        assert_eq!(windowed, full, "window path {path:?} at {limits:?} differs");
        first.get_or_insert(path);
    }
    first.unwrap_or_default()
}

fn is_window(path: AnalysisPath) -> bool {
    matches!(path, AnalysisPath::Window { .. })
}

const HEAD: &str = "<!DOCTYPE html><html><head><meta charset=utf-8><title>星河科技</title>\
    <meta property=og:site_name content=星河><script>var a = '<p>';</script></head>\n<body class=home>\n";

const LINKED: &str = r#"<a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a> <a href="http://www.beian.gov.cn/">京公网安备 11010802020321号</a>"#;

/// Filler paragraphs of mixed Chinese, English and references, about `bytes` long.
fn filler(bytes: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.len() < bytes {
        out.push_str(&format!(
            "<div class=\"card c{i}\"><a href=\"/n/{i}.html\"><h3>新闻 {i} &amp; 动态</h3></a>\
             <p>我们提供专业的服务&nbsp;Products &copy; <b>强调</b> <span style=\"display:none\">隐藏 {i}</span></p>\
             <ul><li>一<li>二</ul><!-- note {i} --></div>\n"
        ));
        i += 1;
    }
    out
}

fn page(before_footer: &str, footer: &str) -> String {
    format!(
        "{HEAD}{}{before_footer}<footer class=footer>{footer}</footer></body></html>",
        filler(4000)
    )
}

#[test]
fn bench_pages_take_the_window_and_agree() {
    for bytes in [30_000, 300_000, 1_500_000] {
        let html = fixture::page(bytes);
        assert!(is_window(same(&html, Limits::default())), "{bytes}");
    }
}

#[test]
fn sample_pages_agree() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sample/pages");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fixture dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("fixture");
        let html = crate::charset::decode(&bytes, None, Some(b"cn")).text;
        same(&html, SMALL);
        let padded = html.replacen("<body>", &format!("<body>{}", filler(20_000)), 1);
        same(&padded, SMALL);
        seen += 1;
    }
    assert!(seen >= 5);
}

#[test]
fn buttons_textareas_and_body_metas_take_the_window() {
    let before = format!(
        "<form><button type=submit><b>搜</b>索</button><textarea name=q>留言 &amp; <b>建议</b></textarea></form>\
         <meta name=application-name content=正文名>{}<meta http-equiv=refresh content=\"3;url=/y\">{}",
        filler(3000),
        filler(200)
    );
    let html = page(&before, LINKED);
    assert!(is_window(same(&html, SMALL)));
    let evidence = analyse_with(&html, SMALL);
    assert!(evidence.names.iter().any(|n| n.text == "正文名"));
    assert_eq!(evidence.meta_refresh.map(|r| r.url), Some("/y".to_string()));
}

#[test]
fn table_layouts_take_the_window() {
    let rows: String = (0..40)
        .map(|i| {
            format!(
                "<tr><td width=20%><a href=/n/{i}><b>新闻 {i}</b></a></td>\n\
                 <td><p>我们提供专业的服务 {i}<p>第二段<td hidden>隐藏 {i}</td></tr>\n"
            )
        })
        .collect();
    let before = format!(
        "<table class=layout><tbody>{rows}</tbody></table>\n<table><tr><th>表头<td><table><tr><td>嵌套</table></td></table>{}",
        filler(2000)
    );
    let html = page(&before, LINKED);
    assert!(is_window(same(&html, SMALL)));

    // The footer inside the layout table: the cut falls before the table, never inside it.
    let html = page(
        &format!("<table><tr><td>{}{LINKED}</td></tr></table>", filler(3000)),
        "",
    );
    same(&html, SMALL);

    // Text directly in a table is moved out of it by the parser: the model gives up.
    let html = page(
        &format!("<table>游离文字<tr><td>x</table>{}", filler(3000)),
        LINKED,
    );
    assert_eq!(same(&html, SMALL), AnalysisPath::Full);
}

#[test]
fn ampersands_that_are_not_references_take_the_window() {
    let before = format!("{}<p>a&b=2 R&D 合作&交流</p>{}", filler(3000), filler(200));
    assert!(is_window(same(&page(&before, LINKED), SMALL)));
    // A legacy name without its semicolon is left to the parser.
    let before = format!("{}<p>&copy 2026</p>", filler(3000));
    assert_eq!(same(&page(&before, LINKED), TIGHT), AnalysisPath::Full);
}

#[test]
fn footer_at_the_end_takes_the_window() {
    let html = page("", LINKED);
    assert!(is_window(same(&html, SMALL)));
    let evidence = analyse_with(&html, SMALL);
    assert!(evidence.numbers[0].linked_to_miit && evidence.numbers[0].in_footer);
    assert!(evidence.psb_numbers[0].linked);
}

#[test]
fn numbers_in_comments_scripts_and_styles_near_the_cut() {
    for near in [
        "<!-- 京ICP备11111111号 -->",
        "<script>document.write('京ICP备11111111号')</script>",
        "<style>/* 京ICP备11111111号 */</style>",
        "<noscript>京ICP备11111111号</noscript>",
        "<script><!-- if (a < b) { x = '京ICP备1111111号'; } //--></script>",
        "<script><!-- <script>京ICP备1111111号</script> --></script>",
    ] {
        let html = page(&format!("{near}{}", filler(2000)), LINKED);
        same(&html, SMALL);
    }
}

#[test]
fn hidden_ancestor_opened_before_the_cut() {
    let html = page(
        &format!(
            "<div style=\"DISPLAY: none\">{}京ICP备22222222号</div>",
            filler(3000)
        ),
        LINKED,
    );
    same(&html, SMALL);
    let html = page(&format!("<div hidden>{}", filler(3000)), LINKED);
    same(&html, SMALL);
    let html = page(
        &format!("<p><span hidden>{}<div>x</div>", filler(500)),
        LINKED,
    );
    same(&html, SMALL);
}

#[test]
fn link_opened_before_the_cut_closing_after_the_number() {
    let linkless = filler(3000)
        .replace("<a href=", "<span data-href=")
        .replace("</a>", "</span>");
    let html = format!(
        "{HEAD}{}<a href=\"https://beian.miit.gov.cn\"><div class=wrap>{linkless}<p>京ICP备12345678号-1</p></div></a></body>",
        filler(3000),
    );
    assert!(is_window(same(&html, SMALL)));
    assert!(analyse_with(&html, SMALL).numbers[0].linked_to_miit);
    let html = format!(
        "{HEAD}{}<div id=footer-wrap><div>{}<p>京ICP备12345678号-1</p></div></div></body>",
        filler(3000),
        filler(3000)
    );
    assert!(is_window(same(&html, SMALL)));
    assert!(analyse_with(&html, SMALL).numbers[0].in_footer);
}

#[test]
fn entity_encoded_and_folded_numbers() {
    for number in [
        "京&#73;&#67;&#80;备12345678号",
        "京&#x49;CP备12345678号",
        "&#x4eac;ICP备12345678号",
        "京ＩＣＰ备１２３４５６７８号",
        "京 I<b>C</b> P 备 12345678 号",
        "京ⅠCP备12345678号",
        "京公&#x7f51;安备 11010802020321号",
        "京公⽹安备 11010802020321号",
        "京&icp;备12345678号",
    ] {
        let html = page(&format!("<p>{number}</p>{}", filler(3000)), LINKED);
        same(&html, SMALL);
        let html = page("", &format!("<p>{number}</p>"));
        same(&html, SMALL);
    }
}

#[test]
fn gbk_decoded_page() {
    let html = page("", LINKED).replace("utf-8", "gbk");
    let (bytes, _, _) = encoding_rs::GBK.encode(&html);
    let decoded = crate::charset::decode(&bytes, Some("text/html"), Some(b"cn")).text;
    assert!(is_window(same(&decoded, SMALL)));
}

#[test]
fn pages_without_a_marker() {
    let html = page("", "Copyright 星河");
    assert!(is_window(same(&html, SMALL)));
    let html = format!("{HEAD}{}</body></html>", filler(5000));
    same(&html, SMALL);
    let html = format!("{HEAD}<div hidden>{}</div></body></html>", filler(5000));
    same(&html, SMALL);
    let html = format!(
        "<html><head><title>Welcome to nginx!</title></head><body>{}",
        filler(5000)
    );
    same(&html, SMALL);
    let html = format!("<html><body>It works!{}", filler(5000));
    same(&html, SMALL);
}

#[test]
fn two_numbers_far_apart() {
    let html = page(
        &format!("<p>京ICP备87654321号</p>{}", filler(20_000)),
        LINKED,
    );
    let path = same(&html, SMALL);
    let evidence = analyse_with(&html, SMALL);
    assert_eq!(evidence.numbers.len(), 2, "{path:?}");
}

#[test]
fn markup_the_model_does_not_follow_falls_back_or_agrees() {
    for odd in [
        "<table><tr><td>表格<td>单元</table>",
        "<table hidden>foster 京</table>",
        "<b><p>misnested</b> text</p>",
        "<font class=footer><div>x</font>y</div>",
        "<p><a href=\"https://beian.miit.gov.cn\">a<div>b</div>c",
        "<svg><style>.a{}</style><text>svg 文本</text></svg>",
        "<body hidden>",
        "<textarea>京ICP备1 </textarea>",
        "<form><form hidden>x</form></form>",
        "<form><div></form>y</div>",
        "<li><div hidden><li>z",
        "&notit; &amp &#128; &#0; \u{0}",
        "<title>second</title>",
        "<meta http-equiv=refresh content=\"0;url=/x\">",
        "</p></br><p>",
    ] {
        let html = page(&format!("{odd}{}", filler(3000)), LINKED);
        same(&html, SMALL);
        let html = page(&format!("{}{odd}", filler(3000)), LINKED);
        same(&html, SMALL);
    }
}

/// Pieces of tag soup the proptest joins.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<div>".to_string()),
        Just("</div>".to_string()),
        Just("<p>".to_string()),
        Just("</p>".to_string()),
        Just("<span hidden>".to_string()),
        Just("<div style='display:none'>".to_string()),
        Just("</span>".to_string()),
        Just("<a href=\"https://beian.miit.gov.cn\">".to_string()),
        Just("<a href=/x>".to_string()),
        Just("</a>".to_string()),
        Just("<b>".to_string()),
        Just("</b>".to_string()),
        Just("<li>".to_string()),
        Just("<ul>".to_string()),
        Just("</ul>".to_string()),
        Just("<footer>".to_string()),
        Just("</footer>".to_string()),
        Just("<table><tr><td>".to_string()),
        Just("</table>".to_string()),
        Just("<table>".to_string()),
        Just("<table style='display:none'><tr><td>".to_string()),
        Just("<tbody>".to_string()),
        Just("</tbody>".to_string()),
        Just("<thead><tr><th>".to_string()),
        Just("<tr>".to_string()),
        Just("</tr>".to_string()),
        Just("<td>".to_string()),
        Just("<td hidden>".to_string()),
        Just("</td>".to_string()),
        Just("</th>".to_string()),
        Just("\n\t".to_string()),
        Just("<!-- c -->".to_string()),
        Just("<script>x<y</script>".to_string()),
        Just("<br>".to_string()),
        Just("<h2>".to_string()),
        Just("</h2>".to_string()),
        Just("<form>".to_string()),
        Just("</form>".to_string()),
        Just("&amp;&nbsp;".to_string()),
        Just("a&b=2 &copy 2026 &notit; &amp &#x49;CP ".to_string()),
        Just("<button type=button>".to_string()),
        Just("</button>".to_string()),
        Just("<textarea>a<b>&amp;ICP</textarea>".to_string()),
        Just("<textarea hidden>\n京ICP备11111111号</textarea>".to_string()),
        Just("</textarea>".to_string()),
        Just("<meta name=application-name content=正文名>".to_string()),
        Just("<meta http-equiv=refresh content=\"3;url=/y\">".to_string()),
        Just("<".to_string()),
        "[a-z 星河科技公司。éＩｃＰ😀\u{3000}]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tag_soup_window_agrees_with_whole(
        soup in proptest::collection::vec(piece(), 0..120),
        at in 0usize..120,
        linked in any::<bool>(),
    ) {
        let mut soup = soup;
        let number = if linked { LINKED.to_string() } else { "京ICP备12345678号-1".to_string() };
        let at = at.min(soup.len());
        soup.insert(at, number);
        let body: String = soup.concat();
        let html = format!("{HEAD}{}{body}{}", filler(1500), filler(800));
        let full = analyse_with(&html, WHOLE);
        for limits in [SMALL, TIGHT] {
            let mut windowed = analyse_with(&html, limits);
            windowed.analysis = AnalysisPath::Full;
            prop_assert_eq!(&windowed.numbers, &full.numbers);
            prop_assert_eq!(&windowed.title, &full.title);
            prop_assert_eq!(windowed, full.clone());
        }
    }
}

/// Pieces of a `<head>` the model reads itself instead of the parser: titles, `<meta>` tags
/// with references, case, duplicates and odd quoting, raw-text elements holding tag-like
/// text, and things that must send the page to the parser.
fn head_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<title>星河 &amp; 科技 &#x4e2d;&#20013;</title>".to_string()),
        Just("<TITLE>\r\n  星河\r科技\n</TITLE >".to_string()),
        Just("<title></title>".to_string()),
        Just("<title>&copy 2026 星河</title>".to_string()),
        Just("<title>第二个标题</title>".to_string()),
        Just("<title>a<b>c</b>&lt;d</title>".to_string()),
        Just("<meta property=\"og:site_name\" content=\"星河&nbsp;科技\">".to_string()),
        Just("<meta name=application-name content='应用 名'>".to_string()),
        Just("<meta NAME=\"Apple-Mobile-Web-App-Title\" CONTENT=\" t \">".to_string()),
        Just("<meta http-equiv=\"refresh\" content=\"5;url=/x\">".to_string()),
        Just("<meta http-equiv=Refresh content=\"0; URL='https://a.example/'\">".to_string()),
        Just("<meta name=a name=application-name content=z>".to_string()),
        Just("<meta property=\"\" name=\"application-name\" content=q/>".to_string()),
        Just("<meta name=og:site_name content=\"a&amp;b\" content=second>".to_string()),
        Just("<meta charset=utf-8><link rel=stylesheet href=/a.css>".to_string()),
        Just(
            "<script>var t = '<title>x</title><meta name=application-name content=s>';</script>"
                .to_string()
        ),
        Just("<style>p { color: red } /* <title>s</title> */</style>".to_string()),
        Just("<noscript><title>n</title></noscript>".to_string()),
        Just("<!-- <title>c</title> -->".to_string()),
        Just("<base href=/>".to_string()),
        Just("\n  ".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn head_read_by_the_model_agrees_with_the_parser(
        doctype in any::<bool>(),
        head in proptest::collection::vec(head_piece(), 0..8),
        body_tag in prop_oneof![Just("<body>"), Just("<body class=x>"), Just("<BODY hidden>")],
        body_title in any::<bool>(),
    ) {
        let doctype = if doctype { "<!DOCTYPE html>" } else { "" };
        let body_title = if body_title { "<title>正文标题</title>" } else { "" };
        let html = format!(
            "{doctype}<html><head>{}</head>\n{body_tag}{}{body_title}{}<footer>{LINKED}</footer>{}</body></html>",
            head.concat(),
            filler(1500),
            filler(300),
            filler(200),
        );
        let full = analyse_with(&html, WHOLE);
        for limits in [SMALL, TIGHT, Limits::default()] {
            let mut windowed = analyse_with(&html, limits);
            windowed.analysis = AnalysisPath::Full;
            prop_assert_eq!(&windowed.title, &full.title);
            prop_assert_eq!(&windowed.names, &full.names);
            prop_assert_eq!(windowed, full.clone());
        }
    }
}

/// The head the model reads gives the window path on an ordinary page, so the test above
/// compares the two paths rather than the whole-page path with itself.
#[test]
fn ordinary_heads_take_the_window() {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>星河 &amp; 科技</title>\
         <meta property=og:site_name content=\"星河&nbsp;科技\"><meta http-equiv=refresh content=\"5;url=/x\">\
         </head><body>{}<footer>{LINKED}</footer>{}</body></html>",
        filler(6000),
        filler(300)
    );
    assert!(is_window(same(&html, Limits::default())));
    let evidence = analyse(&html);
    assert_eq!(evidence.title.as_deref(), Some("星河 & 科技"));
    assert_eq!(evidence.names[1].text, "星河 科技");
    assert_eq!(evidence.meta_refresh.map(|r| r.delay_secs), Some(5));
}

/// Checks the window path against the whole page on every file in the directory that
/// `ICP_AUDIT_PAGES` names: real pages collected by hand, which the repository does not keep.
/// `ICP_AUDIT_PAGES=DIR cargo test --lib pages_in_a_directory -- --ignored --nocapture`.
#[test]
#[ignore = "needs ICP_AUDIT_PAGES, a directory of pages"]
fn pages_in_a_directory_agree() {
    let dir = std::env::var_os("ICP_AUDIT_PAGES").expect("set ICP_AUDIT_PAGES to a directory");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .expect("readable directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "html" || e == "htm"))
        .collect();
    paths.sort();

    let (mut windowed, mut failed) = (0, Vec::new());
    for path in &paths {
        let bytes = std::fs::read(path).expect("readable page");
        let html = crate::charset::decode(&bytes, None, Some(b"cn")).text;
        let checked = std::panic::catch_unwind(|| {
            same(&html, SMALL);
            analyse(&html).analysis
        });
        match checked {
            Ok(path_taken) => windowed += usize::from(is_window(path_taken)),
            Err(_) => failed.push(path.display().to_string()),
        }
    }
    eprintln!(
        "{} pages: {windowed} took the window, {} differ",
        paths.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "window path differs on {failed:?}");
}

#[test]
#[ignore = "timing, run in release by hand"]
fn timing() {
    let html = fixture::page(1_500_000);
    let time = |label: &str, f: &dyn Fn()| {
        let started = std::time::Instant::now();
        for _ in 0..20 {
            f();
        }
        let each = started.elapsed() / 20;
        eprintln!(
            "{label}: {each:?}, {:.0} MB/s",
            html.len() as f64 / each.as_secs_f64() / 1e6
        );
    };
    time("guard", &|| drop(guard::guard(&html)));
    time("plan", &|| {
        drop(super::window::plan(&html, Limits::default()))
    });
    time("analyse", &|| drop(analyse(&html)));
}
