//! Page analysis throughput: `page::analyse` and `charset::decode` on generated Chinese
//! corporate home pages of about 30 KB, 300 KB and 1.5 MB, in MB/s of input.
//!
//! `parse_only` times scraper's `Html::parse_document` alone on the same pages: what a
//! whole-page parse would cost before any analysis, and so what the window path saves. Run with
//! `cargo bench --bench page`; figures and the machine they came from are in
//! benches/README.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use icp_audit::{charset, page};

#[path = "fixture/mod.rs"]
mod fixture;

/// Page sizes benchmarked, with the labels criterion shows.
const SIZES: &[(&str, usize)] = &[("30KB", 30_000), ("300KB", 300_000), ("1.5MB", 1_500_000)];

fn pages() -> Vec<(&'static str, String)> {
    SIZES
        .iter()
        .map(|&(label, bytes)| (label, fixture::page(bytes)))
        .collect()
}

/// Fails the run early if a fixture page stops being compliant evidence.
fn check(html: &str) {
    let evidence = page::analyse(html);
    assert!(
        evidence
            .numbers
            .iter()
            .any(|n| n.text == fixture::NUMBER && n.linked_to_miit && n.in_footer),
        "fixture lost its linked filing number: {:?}",
        evidence.numbers
    );
    assert!(
        evidence
            .psb_numbers
            .iter()
            .any(|n| n.linked && n.digits == fixture::PSB)
    );
    assert!(evidence.title.is_some_and(|t| t.contains(fixture::NAME)));
}

fn analyse(c: &mut Criterion) {
    let mut group = c.benchmark_group("page/analyse");
    for (label, html) in pages() {
        check(&html);
        group.throughput(Throughput::Bytes(html.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &html, |b, html| {
            b.iter(|| page::analyse(black_box(html)))
        });
    }
    group.finish();
}

fn parse_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("page/parse_only");
    for (label, html) in pages() {
        group.throughput(Throughput::Bytes(html.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &html, |b, html| {
            b.iter(|| scraper::Html::parse_document(black_box(html)))
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("page/decode");
    for (label, html) in pages() {
        let labelled_gbk = html.replace("utf-8", "gbk");
        let (gbk, _, _) = encoding_rs::GBK.encode(&labelled_gbk);
        let inputs = [
            ("utf8", html.into_bytes(), "text/html; charset=utf-8"),
            ("gbk_meta", gbk.into_owned(), "text/html"),
        ];
        for (encoding, bytes, content_type) in inputs {
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            let id = BenchmarkId::new(encoding, label);
            group.bench_with_input(id, &bytes, |b, bytes| {
                b.iter(|| charset::decode(black_box(bytes), Some(content_type), Some(b"cn")))
            });
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = analyse, parse_only, decode
}
criterion_main!(benches);
