use std::time::Instant;
fn t(name: &str, html: &str) {
    let s = Instant::now();
    let p = icp_audit::page::analyse(html);
    println!("{name}: {} bytes {:?} nums={}", html.len(), s.elapsed(), p.numbers.len());
}
#[test]
fn measure() {
    t("flat 8MB", &"<p>星河商城 hello world <a href=/x>link</a></p>\n".repeat(8*1024*1024/50));
    t("div 5k", &"<div>".repeat(5_000));
    t("div 10k", &"<div>".repeat(10_000));
    t("b 10k", &"<b>".repeat(10_000));
    t("attrs 20k", &format!("<div {}>x</div>", (0..20_000).map(|i| format!("a{i}=1")).collect::<Vec<_>>().join(" ")));
    t("divs1024+endp 200k", &("<div>".repeat(1024) + &"</p>".repeat(200_000)));
    t("divs1024+endspan 200k", &("<div>".repeat(1024) + &"</span>".repeat(200_000)));
    t("table 3k", &"<table><tr><td>".repeat(3_000));
}
