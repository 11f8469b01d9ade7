//! `minilm::server` / `minilm serve` over loopback with a real HTTP client (ureq): both APIs,
//! every error status, concurrent clients checked text by text, metrics, and a graceful stop
//! under load.
#![forbid(unsafe_code)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use common::{model_dir, stsb_dev};
use minilm::server::{Server, ServerOptions};
use minilm::{Embedder, Options};
use serde_json::{json, Value};

fn embedder(options: Options) -> Embedder {
    Embedder::from_dir(model_dir(), &options).expect("load the default model")
}

/// The library's vector of every text the tests send.
fn reference_vectors() -> &'static HashMap<String, Vec<f32>> {
    static VECTORS: OnceLock<HashMap<String, Vec<f32>>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let texts = sentences();
        let vectors = embedder(Options::default()).embed_batch(&texts).unwrap();
        texts.into_iter().zip(vectors).collect()
    })
}

/// 200 real sentences (STS-B dev).
fn sentences() -> Vec<String> {
    let mut texts: Vec<String> = stsb_dev().into_iter().map(|(a, _, _)| a).collect();
    texts.dedup();
    texts.truncate(200);
    texts
}

fn start(options: ServerOptions) -> (Server, String) {
    let mut options = options;
    options.handle_signals = false;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server::start(listener, embedder(Options::default()), options).unwrap();
    let base = format!("http://{}", server.local_addr());
    (server, base)
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(60))
        .build()
}

/// POSTs `body`; the status and the JSON answer, whatever the status.
fn post(agent: &ureq::Agent, url: &str, body: &str) -> (u16, Value) {
    let response = match agent
        .post(url)
        .set("Content-Type", "application/json")
        .send_string(body)
    {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(e) => panic!("{url}: {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text:.200}"));
    (status, value)
}

/// The status of `GET /health`.
fn health(agent: &ureq::Agent, base: &str) -> u16 {
    agent
        .get(&format!("{base}/health"))
        .call()
        .unwrap()
        .status()
}

/// The text of `GET /metrics`.
fn metrics(agent: &ureq::Agent, base: &str) -> String {
    agent
        .get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value:.100}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn decode_base64(text: &str) -> Vec<f32> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut bytes = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk
            .iter()
            .filter(|&&c| c != b'=')
            .map(|&c| value(c))
            .collect();
        let n = digits
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        bytes.extend_from_slice(&n.to_be_bytes()[1..digits.len()]);
    }
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

#[test]
fn both_apis_serve_the_library_vectors() {
    let (server, base) = start(ServerOptions::default());
    let agent = agent();
    let texts = sentences();
    let vectors = reference_vectors();

    let (status, body) = post(
        &agent,
        &format!("{base}/embed"),
        &json!({ "inputs": texts[0] }).to_string(),
    );
    assert_eq!(status, 200);
    assert!(same_bits(&floats(&body[0]), &vectors[&texts[0]]));

    let batch = &texts[..5];
    let (status, body) = post(
        &agent,
        &format!("{base}/embed"),
        &json!({ "inputs": batch }).to_string(),
    );
    assert_eq!(status, 200);
    for (text, vector) in batch.iter().zip(body.as_array().unwrap()) {
        assert!(same_bits(&floats(vector), &vectors[text]), "{text}");
    }

    let request = json!({ "input": batch, "model": "all-MiniLM-L6-v2" }).to_string();
    let (status, body) = post(&agent, &format!("{base}/v1/embeddings"), &request);
    assert_eq!(status, 200);
    assert_eq!(
        (body["object"].as_str(), body["model"].as_str()),
        (Some("list"), Some("all-MiniLM-L6-v2"))
    );
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 5);
    for (i, (text, item)) in batch
        .iter()
        .zip(body["data"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(item["index"], i);
        assert_eq!(item["object"], "embedding");
        assert!(
            same_bits(&floats(&item["embedding"]), &vectors[text]),
            "{text}"
        );
    }

    let request = json!({ "input": texts[1], "model": "m", "encoding_format": "base64" });
    let (status, body) = post(
        &agent,
        &format!("{base}/v1/embeddings"),
        &request.to_string(),
    );
    assert_eq!(status, 200);
    let decoded = decode_base64(body["data"][0]["embedding"].as_str().unwrap());
    assert!(same_bits(&decoded, &vectors[&texts[1]]));

    // dimensions: the first N, normalised again.
    let request = json!({ "input": texts[1], "model": "m", "dimensions": 64 });
    let (_, body) = post(
        &agent,
        &format!("{base}/v1/embeddings"),
        &request.to_string(),
    );
    let short = floats(&body["data"][0]["embedding"]);
    assert_eq!(short.len(), 64);
    let norm: f32 = vectors[&texts[1]][..64]
        .iter()
        .map(|v| v * v)
        .sum::<f32>()
        .sqrt();
    for (s, v) in short.iter().zip(&vectors[&texts[1]]) {
        assert!((s - v / norm).abs() < 1e-6);
    }
    // Bit for bit the library's Matryoshka cut, normalised again.
    let options = minilm::EmbedOptions::new().truncate_dim(64).normalize(true);
    let library = embedder(Options::default())
        .embed_with(&texts[1], &options)
        .unwrap();
    assert!(same_bits(&short, &library));

    // normalize: false gives the pooled vector before the model's Normalize.
    let request = json!({ "inputs": texts[2], "normalize": false });
    let (_, body) = post(&agent, &format!("{base}/embed"), &request.to_string());
    let raw = floats(&body[0]);
    let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() > 1e-3, "norm {norm}");
    for (r, v) in raw.iter().zip(&vectors[&texts[2]]) {
        assert!((r / norm - v).abs() < 1e-6);
    }

    // similarity, tokenize, info, health.
    let request = json!({ "inputs": { "source_sentence": "A man is eating food.",
        "sentences": ["A man is eating pasta.", "The cat sits outside."] } });
    let (status, body) = post(&agent, &format!("{base}/similarity"), &request.to_string());
    assert_eq!(status, 200);
    let scores = floats(&body);
    assert!(
        (scores[0] - 0.7035485).abs() < 1e-5 && scores[1] < 0.3,
        "{scores:?}"
    );
    let (status, body) = post(
        &agent,
        &format!("{base}/tokenize"),
        r#"{"inputs": "Hello world"}"#,
    );
    assert_eq!(status, 200);
    let ids: Vec<u64> = body[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [101, 7592, 2088, 102]);
    assert_eq!(
        (body[0][1]["text"].as_str(), body[0][1]["start"].as_u64()),
        (Some("hello"), Some(0))
    );
    let info: Value = agent
        .get(&format!("{base}/info"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(
        (info["dim"].as_u64(), info["max_input_length"].as_u64()),
        (Some(384), Some(256))
    );
    assert_eq!(health(&agent, &base), 200);

    let text = metrics(&agent, &base);
    for name in [
        "minilm_requests_total{route=\"/embed\",status=\"200\"}",
        "minilm_request_duration_seconds_bucket{route=\"/v1/embeddings\",le=\"+Inf\"}",
        "minilm_queue_depth 0",
        "minilm_batch_tokens_count",
        "minilm_texts_embedded_total",
        "minilm_truncated_texts_total 0",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
    server.shutdown().unwrap();
}

#[test]
fn bad_requests_get_json_errors() {
    let mut options = ServerOptions::default();
    options.max_body_bytes = 64 << 10;
    options.max_client_batch_size = 4;
    let (server, base) = start(options);
    let agent = agent();
    let long = "word ".repeat(300);
    let cases: Vec<(&str, String, u16)> = vec![
        ("/embed", "{not json".into(), 422),
        ("/embed", r#"{"texts": ["wrong field"]}"#.into(), 422),
        ("/embed", r#"{"inputs": 7}"#.into(), 422),
        ("/embed", r#"{"inputs": []}"#.into(), 422),
        (
            "/embed",
            r#"{"inputs": "x", "prompt_name": "nope"}"#.into(),
            422,
        ),
        (
            "/embed",
            json!({ "inputs": ["a", "b", "c", "d", "e"] }).to_string(),
            413,
        ),
        (
            "/embed",
            json!({ "inputs": "x".repeat(70 << 10) }).to_string(),
            413,
        ),
        (
            "/embed",
            json!({ "inputs": long, "truncate": false }).to_string(),
            413,
        ),
        (
            "/v1/embeddings",
            r#"{"input": [[1, 2, 3]], "model": "m"}"#.into(),
            422,
        ),
        (
            "/v1/embeddings",
            r#"{"input": "x", "model": "m", "dimensions": 999}"#.into(),
            422,
        ),
        (
            "/v1/embeddings",
            r#"{"input": "x", "model": "m", "encoding_format": "hex"}"#.into(),
            422,
        ),
        (
            "/similarity",
            r#"{"inputs": {"source_sentence": "x", "sentences": []}}"#.into(),
            422,
        ),
        ("/nowhere", "{}".into(), 404),
    ];
    for (route, body, want) in cases {
        let (status, answer) = post(&agent, &format!("{base}{route}"), &body);
        assert_eq!(status, want, "{route} {body:.80}: {answer}");
        assert!(
            answer["error"].is_string() && answer["error_type"].is_string(),
            "{answer}"
        );
    }
    // A long text is truncated by default, as `minilm embed` does.
    let (status, body) = post(
        &agent,
        &format!("{base}/embed"),
        &json!({ "inputs": long }).to_string(),
    );
    assert_eq!(status, 200);
    let want = embedder(Options::default()).embed(&long).unwrap();
    assert!(same_bits(&floats(&body[0]), &want));
    // The service is still there.
    assert_eq!(health(&agent, &base), 200);
    server.shutdown().unwrap();
}

#[test]
fn a_full_queue_answers_429() {
    let mut options = ServerOptions::default();
    options.max_concurrent_requests = 1;
    let (server, base) = start(options);
    let heavy = json!({ "inputs": vec!["word ".repeat(250); 32] }).to_string();
    // One heavy request in flight (seen in the queue-depth gauge), then another: 429.
    for attempt in 0..20 {
        let url = format!("{base}/embed");
        let body = heavy.clone();
        let first = std::thread::spawn(move || post(&agent(), &url, &body).0);
        let agent = agent();
        let mut seen = false;
        for _ in 0..2000 {
            if metrics(&agent, &base).contains("minilm_queue_depth 1") {
                seen = true;
                break;
            }
        }
        let second = seen.then(|| post(&agent, &format!("{base}/embed"), r#"{"inputs": "x"}"#));
        assert_eq!(first.join().unwrap(), 200);
        match second {
            Some((429, answer)) => {
                assert_eq!(answer["error_type"], "Overloaded");
                server.shutdown().unwrap();
                return;
            }
            // The heavy request finished between the check and the second request.
            _ => eprintln!("attempt {attempt}: missed the window"),
        }
    }
    panic!("never saw a 429");
}

#[test]
fn concurrent_clients_each_get_their_own_vectors() {
    let (server, base) = start(ServerOptions::default());
    let texts = sentences();
    let vectors = reference_vectors();
    let clients: Vec<_> = (0..32)
        .map(|client| {
            let (base, texts) = (base.clone(), texts.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut checked = 0;
                for request in 0..50usize {
                    let start = (client * 50 + request) * 7 % texts.len();
                    let count = 1 + (client + request) % 16;
                    let batch: Vec<&String> =
                        texts.iter().cycle().skip(start).take(count).collect();
                    let openai = request % 2 == 1;
                    let (url, body) = if openai {
                        (
                            format!("{base}/v1/embeddings"),
                            json!({ "input": batch, "model": "m" }),
                        )
                    } else {
                        (format!("{base}/embed"), json!({ "inputs": batch }))
                    };
                    let (status, answer) = post(&agent, &url, &body.to_string());
                    assert_eq!(status, 200, "{answer}");
                    let rows: Vec<Vec<f32>> = if openai {
                        answer["data"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|d| floats(&d["embedding"]))
                            .collect()
                    } else {
                        answer.as_array().unwrap().iter().map(floats).collect()
                    };
                    assert_eq!(rows.len(), batch.len());
                    for (text, row) in batch.iter().zip(&rows) {
                        assert!(
                            same_bits(row, &reference_vectors()[*text]),
                            "client {client}: {text}"
                        );
                        checked += 1;
                    }
                }
                checked
            })
        })
        .collect();
    let _ = vectors;
    let checked: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(checked > 32 * 50);
    let rounds: f64 = metrics(&agent(), &base)
        .lines()
        .find_map(|l| l.strip_prefix("minilm_batches_total "))
        .unwrap()
        .parse()
        .unwrap();
    // Requests were batched together: fewer rounds than requests.
    assert!(rounds < (32 * 50) as f64, "{rounds} rounds");
    server.shutdown().unwrap();
}

/// `minilm serve` as a subprocess: its vectors are `minilm embed`'s, and SIGTERM under load
/// finishes the requests in flight and exits 0.
#[test]
fn the_serve_command_stops_gracefully_under_load() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(["serve", "--port", "0", "--threads", "2"])
        .env("MINILM_MODEL_DIR", model_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    let text = "A man is playing a guitar.";
    let (status, body) = post(
        &agent(),
        &format!("{base}/embed"),
        &json!({ "inputs": text }).to_string(),
    );
    assert_eq!(status, 200);
    let embed = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(["embed", "--threads", "2", text])
        .env("MINILM_MODEL_DIR", model_dir())
        .output()
        .unwrap();
    let cli: Vec<f32> = serde_json::from_slice::<Vec<f32>>(&embed.stdout).unwrap();
    assert!(same_bits(&floats(&body[0]), &cli));

    // Clients keep sending; SIGTERM arrives; every request answered is a 200 (or, once the
    // listener is closed, a refused connection), and the process exits 0.
    let heavy = json!({ "inputs": vec!["word ".repeat(250); 32] }).to_string();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (base, heavy) = (base.clone(), heavy.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut answered = 0;
                for _ in 0..40 {
                    match agent.post(&format!("{base}/embed")).send_string(&heavy) {
                        Ok(response) => {
                            assert_eq!(response.status(), 200);
                            answered += 1;
                        }
                        Err(ureq::Error::Status(503, _)) => {}
                        Err(ureq::Error::Status(code, r)) => {
                            panic!("{code}: {}", r.into_string().unwrap())
                        }
                        Err(ureq::Error::Transport(_)) => break,
                    }
                }
                answered
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(status.success(), "exit {status:?}");
    assert!(answered > 0);
}

/// Mangled bodies on every route: each gets a JSON answer (200 or a 4xx error), never a dropped
/// connection or a 5xx, and the server stays up.
#[test]
fn mangled_requests_never_break_the_server() {
    let mut options = ServerOptions::default();
    options.max_body_bytes = 16 << 10;
    let (server, base) = start(options);
    let agent = agent();
    let seeds = [
        r#"{"inputs": ["A man is playing a guitar.", "x"], "normalize": true, "truncate": true}"#,
        r#"{"input": ["hello", "world"], "model": "m", "encoding_format": "base64", "dimensions": 8}"#,
        r#"{"inputs": {"source_sentence": "a", "sentences": ["b", "c"]}}"#,
        r#"{"inputs": "Hello world", "add_special_tokens": false}"#,
    ];
    let routes = ["/embed", "/v1/embeddings", "/similarity", "/tokenize"];
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let junk = [
        "\"",
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "null",
        "-1",
        "1e999",
        "\\u0000",
        "😀",
        " ",
        "[[1]]",
        "\"\\ud800\"",
    ];
    for case in 0..400 {
        let mut body: Vec<u8> = seeds[(next() % 4) as usize].as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() as usize) % (body.len() + 1);
            match next() % 3 {
                0 => {
                    let j = junk[(next() as usize) % junk.len()].as_bytes();
                    body.splice(at..at, j.iter().copied());
                }
                1 if at < body.len() => {
                    body.remove(at);
                }
                _ => body.truncate(at),
            }
        }
        let route = routes[(next() % 4) as usize];
        let response = agent
            .post(&format!("{base}{route}"))
            .set("Content-Type", "application/json")
            .send_bytes(&body);
        let (status, text) = match response {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
            Err(e) => panic!(
                "case {case} {route}: {e}: {}",
                String::from_utf8_lossy(&body)
            ),
        };
        assert!(status < 500, "case {case} {route}: {status} {text}");
        assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "case {case} {route}: not JSON: {text:.200}"
        );
    }
    assert_eq!(health(&agent, &base), 200);
    server.shutdown().unwrap();
}
