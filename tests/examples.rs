//! The examples in `examples/` work: each runs as a subprocess against the default model.
#![forbid(unsafe_code)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use minilm::{Embedder, Options};

/// The built example `name`, from `target/<profile>/examples/` beside this test's
/// `target/<profile>/deps/`. `cargo test` builds the examples before the tests, but not when
/// given a target filter (`cargo test --test examples`): then they may be missing or older than
/// the code. So cargo is asked once to bring them up to date (a no-op when they are), with this
/// test's profile, target directory and features.
fn example(name: &str) -> PathBuf {
    static EXAMPLES_DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = EXAMPLES_DIR.get_or_init(build_examples);
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "example {name} not found at {} after building the examples",
        path.display()
    );
    path
}

fn build_examples() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let (Some(profile_dir), Some(target_dir)) =
        (exe.parent().and_then(Path::parent), exe.ancestors().nth(3))
    else {
        panic!("{} is not in target/<profile>/deps", exe.display());
    };
    // `cargo test` puts the test profile in `debug`; any other profile has its own directory.
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "test",
        Some(name) => name,
        None => panic!("no profile directory above {}", exe.display()),
    };
    let features: Vec<&str> = [
        ("cli", cfg!(feature = "cli")),
        ("cli-offline", cfg!(feature = "cli-offline")),
        ("hub", cfg!(feature = "hub")),
    ]
    .iter()
    .filter_map(|&(name, on)| on.then_some(name))
    .collect();
    let output = Command::new(env!("CARGO"))
        .args(["build", "--examples", "--profile", profile, "--features"])
        .arg(features.join(","))
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo build --examples failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    profile_dir.join("examples")
}

fn model_dir_arg() -> String {
    common::model_dir()
        .to_str()
        .expect("UTF-8 model path")
        .to_owned()
}

#[test]
fn semantic_search_ranks_the_matching_line_first() {
    let dir = std::env::temp_dir().join(format!("minilm-example-search-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.txt");
    let lines = [
        "The stock market fell sharply after the interest rate decision.",
        "A cat is sleeping on the windowsill in the sun.",
        "",
        "How to bake a loaf of sourdough bread at home.",
        "The football match ended in a goalless draw.",
        "Install the package and restart your computer.",
        "Crème brûlée in 東京, naïve café.",
    ];
    std::fs::write(&corpus, lines.join("\n")).unwrap();

    let output = Command::new(example("semantic_search"))
        .arg(&corpus)
        .arg("recipe for homemade bread")
        .args(["--top", "3", "--model", &model_dir_arg()])
        .output()
        .expect("run semantic_search");
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);

    // Each hit: "SCORE  LINE_NUMBER: TEXT", best first.
    let hits: Vec<(f32, &str)> = stdout
        .lines()
        .map(|hit| {
            let (score, rest) = hit.split_once("  ").unwrap_or_else(|| panic!("{hit:?}"));
            (score.parse().unwrap_or_else(|_| panic!("{hit:?}")), rest)
        })
        .collect();
    assert_eq!(hits.len(), 3, "{stdout}");
    assert_eq!(hits[0].1, format!("4: {}", lines[3]), "{stdout}");
    assert!(hits.windows(2).all(|w| w[0].0 >= w[1].0), "{stdout}");
    assert!(hits[0].0 > 0.5 && hits[1].0 < 0.3, "{stdout}");
}

#[test]
fn semantic_search_reports_bad_input_in_one_line() {
    let missing = std::env::temp_dir().join("minilm-example-search-no-such-file.txt");
    let output = Command::new(example("semantic_search"))
        .arg(&missing)
        .arg("query")
        .output()
        .expect("run semantic_search");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("semantic_search: cannot read ") && stderr.lines().count() == 1,
        "{stderr}"
    );

    let output = Command::new(example("semantic_search"))
        .args(["only-one-argument", "--top", "many"])
        .output()
        .expect("run semantic_search");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The running service; killed when dropped, so a failing assertion does not leak it.
struct Service {
    child: Child,
    addr: String,
}

impl Service {
    fn start() -> Service {
        let mut child = Command::new(example("http_service"))
            .args(["127.0.0.1:0", "--model", &model_dir_arg()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start http_service");
        let mut first_line = String::new();
        let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut first_line);
        let addr = first_line.trim().to_owned();
        if read.is_err() || addr.is_empty() {
            let status = child.wait();
            panic!("http_service printed no address ({read:?}); it exited: {status:?}");
        }
        Service { child, addr }
    }

    /// Sends `request` on a new connection and returns the status and body.
    fn send(&self, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to http_service");
        // Only so that a broken service fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read response");
        let (head, body) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head: {response:?}"));
        let status = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("bad status line: {head:?}"));
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .unwrap_or_else(|| panic!("no Content-Length: {head:?}"));
        assert_eq!(length, body.len().to_string(), "{response:?}");
        (status, body.to_owned())
    }

    fn post_embed(&self, body: &str) -> (u16, String) {
        self.send(
            format!(
                "POST /embed HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }

    fn health(&self) -> u16 {
        self.send(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n").0
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The vectors of a 200 response to `POST /embed`.
fn embeddings(status: u16, body: &str) -> Vec<Vec<f32>> {
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["dim"], 384, "{body}");
    json["embeddings"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|vector| {
            let vector = vector.as_array().unwrap_or_else(|| panic!("{body}"));
            vector.iter().map(|x| x.as_f64().unwrap() as f32).collect()
        })
        .collect()
}

fn assert_same_vector(got: &[f32], want: &[f32], text: &str) {
    assert_eq!(got.len(), want.len(), "{text:?}");
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff <= 1e-6, "{text:?}: max abs diff {diff}");
}

#[test]
fn http_service_embeds_like_the_library_and_survives_bad_requests() {
    let service = Service::start();
    let embedder = Embedder::from_dir(common::model_dir(), &Options::default()).unwrap();

    assert_eq!(service.health(), 200);

    let texts = [
        "A man is playing a guitar.",
        "",
        "Tab\there, \"quotes\", a back\\slash and a\nnewline",
        "Crème brûlée in 東京, naïve café 😀",
    ];
    let request = serde_json::json!({ "texts": texts }).to_string();
    let (status, body) = service.post_embed(&request);
    let vectors = embeddings(status, &body);
    assert_eq!(vectors.len(), texts.len());
    for (text, vector) in texts.iter().zip(&vectors) {
        assert_same_vector(vector, &embedder.embed(text).unwrap(), text);
    }
    assert!(body.contains("\"truncated\":0"), "{body}");

    // A long text is truncated and counted; its cost does not follow its length.
    let long = "word ".repeat(150_000);
    let request = serde_json::json!({ "texts": ["short", long] }).to_string();
    let (status, body) = service.post_embed(&request);
    let vectors = embeddings(status, &body);
    assert!(body.contains("\"truncated\":1"), "{body:.200}");
    assert_same_vector(&vectors[1], &embedder.embed(&long).unwrap(), "long");

    // Bad requests get an error status, and the service keeps serving.
    let post = |body: &str| {
        format!(
            "POST /embed HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases = [
        (post("{\"texts\": [1, "), 400),
        (post("not json"), 400),
        (post("{\"text\": [\"a\"]}"), 400),
        (post("{\"texts\": 5}"), 400),
        ("GARBAGE\r\n\r\n".to_owned(), 400),
        (
            "GET /health HTTP/1.1\r\nno colon here\r\n\r\n".to_owned(),
            400,
        ),
        ("POST /embed HTTP/1.1\r\n\r\n".to_owned(), 411),
        (
            "POST /embed HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n".to_owned(),
            413,
        ),
        ("GET /elsewhere HTTP/1.1\r\n\r\n".to_owned(), 404),
    ];
    for (request, want) in cases {
        let (status, body) = service.send(request.as_bytes());
        assert_eq!(status, want, "{request:?}: {body}");
        assert!(body.contains("\"error\""), "{body}");
    }

    // Still serving: health, and the same vectors from concurrent connections.
    assert_eq!(service.health(), 200);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let (status, body) = service.post_embed(&request);
                assert_eq!(embeddings(status, &body), vectors);
            });
        }
    });
    let mut service = service;
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "http_service exited"
    );
}
