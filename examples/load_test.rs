//! Load test for an embedding server over HTTP: closed-loop clients (each sends a request, waits
//! for the answer, sends the next) at several concurrency levels, each request 1-16 real
//! sentences (STS-B dev), and per level the requests, texts per second and p50 / p99 latency.
//!
//! ```sh
//! minilm serve --threads 2 --port 8080 &
//! cargo run --release --example load_test -- --url http://127.0.0.1:8080
//! # another server with an OpenAI-style route, e.g. Infinity:
//! cargo run --release --example load_test -- --url http://127.0.0.1:7997 --api openai \
//!     --path /embeddings --model all-MiniLM-L6-v2
//! ```
//!
//! Options: `--api tei|openai` (default tei: `POST /embed {"inputs": [...]}`; openai: `POST
//! /v1/embeddings {"input": [...], "model": ...}`), `--path` (overrides the route), `--model`,
//! `--concurrency 1,8,32,128`, `--seconds 10` per level (after a 2 s warm-up at that level),
//! `--json` (one JSON object per level instead of the table). Every answer must be a 200 with
//! as many vectors as texts sent; anything else counts as a failure.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Settings {
    url: String,
    openai: bool,
    path: String,
    model: String,
    levels: Vec<usize>,
    seconds: f64,
    json: bool,
}

fn parse_args() -> Result<Settings, String> {
    let mut settings = Settings {
        url: "http://127.0.0.1:8080".into(),
        openai: false,
        path: String::new(),
        model: "all-MiniLM-L6-v2".into(),
        levels: vec![1, 8, 32, 128],
        seconds: 10.0,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--url" => settings.url = value()?,
            "--api" => {
                settings.openai = match value()?.as_str() {
                    "tei" => false,
                    "openai" => true,
                    other => return Err(format!("--api {other}: expected tei or openai")),
                }
            }
            "--path" => settings.path = value()?,
            "--model" => settings.model = value()?,
            "--concurrency" => {
                settings.levels = value()?
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|e| format!("--concurrency: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--seconds" => {
                settings.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?
            }
            "--json" => settings.json = true,
            other => return Err(format!("unknown argument {other} (see the file's header)")),
        }
    }
    if settings.path.is_empty() {
        settings.path = if settings.openai {
            "/v1/embeddings"
        } else {
            "/embed"
        }
        .into();
    }
    Ok(settings)
}

/// The STS-B dev sentences (first column), as the requests' texts.
fn sentences() -> Result<Vec<String>, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/stsb/stsb-en-dev.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    let mut reader = text.as_str();
    // RFC 4180: the first field of each row (quoted fields may hold commas and "").
    while !reader.is_empty() {
        let (field, rest) = if let Some(quoted) = reader.strip_prefix('"') {
            let mut field = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        field.push('"');
                        chars.next();
                    } else {
                        end = i + 1;
                        break;
                    }
                } else {
                    field.push(c);
                }
            }
            (field, &quoted[end..])
        } else {
            let end = reader.find(',').unwrap_or(reader.len());
            (reader[..end].to_owned(), &reader[end..])
        };
        out.push(field);
        reader = rest.split_once('\n').map_or("", |(_, next)| next);
    }
    Ok(out)
}

/// Latencies and texts of one level's counted requests.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    texts: usize,
    failures: usize,
    first_failure: Option<String>,
}

fn client(
    settings: &Settings,
    sentences: &[String],
    seed: u64,
    warm_until: Instant,
    stop_at: Instant,
) -> Tally {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build();
    let url = format!("{}{}", settings.url, settings.path);
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut tally = Tally::default();
    loop {
        let now = Instant::now();
        if now >= stop_at {
            return tally;
        }
        let count = 1 + (next() % 16) as usize;
        let start = (next() % sentences.len() as u64) as usize;
        let batch: Vec<&String> = sentences.iter().cycle().skip(start).take(count).collect();
        let body = if settings.openai {
            json!({ "input": batch, "model": settings.model })
        } else {
            json!({ "inputs": batch })
        };
        let sent = Instant::now();
        let result = agent
            .post(&url)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        let answer = match result {
            Ok(response) => response
                .into_json::<Value>()
                .map_err(|e| format!("bad JSON: {e}")),
            Err(ureq::Error::Status(code, response)) => Err(format!(
                "{code}: {}",
                response.into_string().unwrap_or_default()
            )),
            Err(e) => Err(e.to_string()),
        };
        let elapsed = sent.elapsed();
        let vectors = answer.map(|value| {
            if settings.openai {
                value["data"].as_array().map_or(0, Vec::len)
            } else {
                value.as_array().map_or(0, Vec::len)
            }
        });
        if sent < warm_until {
            continue;
        }
        match vectors {
            Ok(n) if n == count => {
                tally.latencies.push(elapsed);
                tally.texts += count;
            }
            Ok(n) => {
                tally.failures += 1;
                tally
                    .first_failure
                    .get_or_insert(format!("{n} vectors for {count} texts"));
            }
            Err(e) => {
                tally.failures += 1;
                tally.first_failure.get_or_insert(e);
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

fn main() -> Result<(), String> {
    let settings = Arc::new(parse_args()?);
    let sentences = Arc::new(sentences()?);
    if !settings.json {
        println!(
            "{} {} ({} sentences, 1-16 per request, {} s per level)",
            settings.url,
            settings.path,
            sentences.len(),
            settings.seconds
        );
        println!("concurrency  requests  texts/s   p50 ms   p99 ms  failures");
    }
    for &level in &settings.levels {
        let warm_until = Instant::now() + Duration::from_secs(2);
        let stop_at = warm_until + Duration::from_secs_f64(settings.seconds);
        let clients: Vec<_> = (0..level)
            .map(|i| {
                let (settings, sentences) = (Arc::clone(&settings), Arc::clone(&sentences));
                std::thread::spawn(move || {
                    client(
                        &settings,
                        &sentences,
                        (level * 1000 + i) as u64,
                        warm_until,
                        stop_at,
                    )
                })
            })
            .collect();
        let mut all = Tally::default();
        for handle in clients {
            let tally = handle.join().map_err(|_| "a client panicked")?;
            all.latencies.extend(tally.latencies);
            all.texts += tally.texts;
            all.failures += tally.failures;
            if all.first_failure.is_none() {
                all.first_failure = tally.first_failure;
            }
        }
        all.latencies.sort();
        let texts_per_second = all.texts as f64 / settings.seconds;
        let (p50, p99) = (
            percentile(&all.latencies, 50.0),
            percentile(&all.latencies, 99.0),
        );
        if settings.json {
            println!(
                "{}",
                json!({ "concurrency": level, "requests": all.latencies.len(),
                    "texts_per_second": texts_per_second, "p50_ms": p50, "p99_ms": p99,
                    "failures": all.failures })
            );
        } else {
            println!(
                "{level:>11}  {:>8}  {texts_per_second:>7.0}  {p50:>7.2}  {p99:>7.2}  {:>8}",
                all.latencies.len(),
                all.failures
            );
        }
        if let Some(failure) = all.first_failure {
            eprintln!("load_test: first failure at concurrency {level}: {failure:.300}");
        }
    }
    Ok(())
}
