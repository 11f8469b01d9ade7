//! Untrusted text and heavy concurrent use: random Unicode never errors and always gives a
//! finite unit vector; a huge text is truncated like any other; threads hammering one embedder
//! get, bit for bit, what serial calls get.
#![forbid(unsafe_code)]

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{model_dir, same_bits, Rng};
use minilm::{Embedder, Options};
use proptest::prelude::*;

fn embedder() -> &'static Embedder {
    static EMBEDDER: OnceLock<Embedder> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| Embedder::from_dir(model_dir(), &Options::default().threads(2)).unwrap())
}

fn is_unit(v: &[f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().all(|x| x.is_finite()) && (norm - 1.0).abs() < 1e-5
}

/// Characters a hostile or just unusual text is made of: any scalar value, weighted towards
/// the classes tokenizers special-case (controls, whitespace, zero-width and bidi controls,
/// combining marks, CJK, emoji and their joiners, private use, noncharacters).
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => prop::char::range('\u{0}', '\u{7f}'),
        1 => prop::sample::select(vec![
            '\u{0}', '\t', '\n', '\r', '\u{b}', '\u{85}', '\u{a0}', '\u{2028}', '\u{3000}',
            '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}', '\u{fffd}', '\u{fffe}',
            '\u{202a}', '\u{202b}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{61c}',
            '\u{301}', '\u{308}', '\u{36f}', '\u{20dd}', '\u{e0001}', '\u{fe0f}',
            '中', '한', 'ﷺ', '\u{1f600}', '\u{1f3f3}', '\u{10ffff}', '\u{e000}', '[', ']', '#',
        ]),
    ]
}

fn hostile_text() -> impl Strategy<Value = String> {
    prop::collection::vec(hostile_char(), 0..300).prop_map(String::from_iter)
}

proptest! {
    // No failure files: a failing case is printed, shrunk, and reproduced by its seed.
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any text embeds (never an error), to a finite unit vector, the same alone as in a batch.
    #[test]
    fn any_unicode_text_embeds_to_a_finite_unit_vector(
        texts in prop::collection::vec(hostile_text(), 1..5)
    ) {
        let vectors = embedder().embed_batch(&texts).expect("a text was refused");
        prop_assert_eq!(vectors.len(), texts.len());
        for (text, v) in texts.iter().zip(&vectors) {
            prop_assert!(is_unit(v), "{:?}", text);
        }
        let alone = embedder().embed(&texts[0]).unwrap();
        prop_assert!(same_bits(&alone, &vectors[0]), "{:?}: alone and in a batch differ", texts[0]);
    }
}

/// A 10 MB one-line text is tokenised in full and then truncated to the model's max length,
/// exactly as sentence-transformers does: it embeds to the same vector as its first 254 words.
#[test]
fn ten_megabyte_text_is_truncated_like_any_other() {
    let huge = "word ".repeat(2_000_000);
    assert_eq!(huge.len(), 10_000_000);
    let max = embedder().max_length();
    let ids = embedder().token_ids(&huge).unwrap();
    assert_eq!(ids.len(), max);
    let kept = "word ".repeat(max - 2);
    assert_eq!(embedder().token_ids(&kept).unwrap(), ids);
    let v = embedder().embed(&huge).unwrap();
    assert!(is_unit(&v));
    assert!(same_bits(&v, &embedder().embed(&kept).unwrap()));
}

/// Threads hammer one embedder with texts of mixed lengths, alone and in batches, for a bounded
/// number of calls and time; every vector must equal, bit for bit, the serial one.
#[test]
fn soak_many_threads_one_embedder_mixed_lengths() {
    const THREADS: usize = 6;
    const CALLS_PER_THREAD: usize = 25;
    const TIME_LIMIT: Duration = Duration::from_secs(30);
    let mut rng = Rng::new(42);
    let texts: Vec<String> = (0..40)
        .map(|i| {
            let words = (rng.next_u64() % 150) as usize;
            let filler = ["a", "guitar", "snow", "über", "naïve", "東京", "🙂", "x1"];
            let body: Vec<&str> = (0..words)
                .map(|_| filler[(rng.next_u64() % filler.len() as u64) as usize])
                .collect();
            format!("text {i}: {}", body.join(" "))
        })
        .collect();
    let serial: Vec<Vec<f32>> = texts.iter().map(|t| embedder().embed(t).unwrap()).collect();
    let start = Instant::now();
    let (calls, vectors, mismatches) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (texts, serial) = (&texts, &serial);
                scope.spawn(move || {
                    let mut rng = Rng::new(t as u64 + 1);
                    let (mut calls, mut vectors, mut mismatches) = (0, 0, 0);
                    while calls < CALLS_PER_THREAD && start.elapsed() < TIME_LIMIT {
                        let first = (rng.next_u64() % texts.len() as u64) as usize;
                        let count = 1 + (rng.next_u64() % 6) as usize;
                        let picked: Vec<usize> =
                            (0..count).map(|j| (first + j * 7) % texts.len()).collect();
                        let batch: Vec<&str> = picked.iter().map(|&i| texts[i].as_str()).collect();
                        let got = embedder().embed_batch(&batch).unwrap();
                        for (&i, v) in picked.iter().zip(&got) {
                            mismatches += usize::from(!same_bits(v, &serial[i]));
                        }
                        calls += 1;
                        vectors += got.len();
                    }
                    (calls, vectors, mismatches)
                })
            })
            .collect();
        workers.into_iter().fold((0, 0, 0), |acc, w| {
            let (c, v, m) = w.join().unwrap();
            (acc.0 + c, acc.1 + v, acc.2 + m)
        })
    });
    let elapsed = start.elapsed();
    eprintln!(
        "soak: {THREADS} threads on one embedder ({} pool threads), {calls} calls, {vectors} \
         vectors, {:.1} s, mismatches {mismatches}",
        embedder().threads(),
        elapsed.as_secs_f64()
    );
    assert_eq!(mismatches, 0, "concurrent results differ from serial ones");
    assert!(calls >= THREADS, "the soak made only {calls} calls");
}

/// Thread count and run decide nothing: 1, 2 and 3 threads, and a second embedder, give the same
/// bits (products split by rows or columns, never by a sum's terms).
#[test]
fn results_do_not_depend_on_the_thread_count() {
    let texts = [
        "A man is playing a guitar.",
        "",
        "A much longer sentence, so that products split across threads by rows and columns alike.",
        "東京 🙂 naïve",
    ];
    let reference = embedder().embed_batch(&texts).unwrap();
    for threads in [1, 3] {
        let options = Options::default().threads(threads);
        let other = Embedder::from_dir(model_dir(), &options).unwrap();
        let vectors = other.embed_batch(&texts).unwrap();
        for (i, (a, b)) in vectors.iter().zip(&reference).enumerate() {
            assert!(same_bits(a, b), "{threads} thread(s), text {i}");
        }
    }
}
