//! The `minilm` command line: output formats, input formats and error behaviour.
#![forbid(unsafe_code)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{max_abs_diff, model_dir, TempDir};
use minilm::{Embedder, Options};

fn minilm(args: &[&str], stdin: Option<&[u8]>) -> Output {
    minilm_env(args, stdin, &[])
}

/// [`minilm`] with more environment variables (`MINILM_HOME`, `MINILM_ISA`).
fn minilm_env(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &std::path::Path)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(args)
        .env("MINILM_MODEL_DIR", model_dir())
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minilm");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "minilm failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn failure(output: &Output) -> String {
    assert!(!output.status.success(), "minilm should have failed");
    assert!(
        output.stdout.is_empty(),
        "nothing on stdout after an error before output"
    );
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line on stderr: {stderr}"
    );
    stderr
}

fn library_vectors(texts: &[&str]) -> Vec<Vec<f32>> {
    Embedder::from_dir(model_dir(), &Options::default())
        .unwrap()
        .embed_batch(texts)
        .unwrap()
}

/// An `.npy` file's header text (after the magic, version and length) and its float32 data.
fn npy_parts(bytes: &[u8]) -> (&str, Vec<f32>) {
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    let floats = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (header, floats)
}

const TEXTS: [&str; 3] = [
    "A man is playing a guitar.",
    "",
    "Ünïcödé, 東京 and emoji 🎸",
];

#[test]
fn jsonl_output_round_trips_every_float() {
    let out = success(&minilm(&["embed", TEXTS[0], TEXTS[1], TEXTS[2]], None));
    let vectors: Vec<Vec<f32>> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Shortest round-trip printing: parsed back, the floats are bit-identical.
    assert_eq!(vectors, library_vectors(&TEXTS));
}

#[test]
fn json_and_npy_outputs_hold_the_same_vectors() {
    let expected = library_vectors(&TEXTS);
    let json = success(&minilm(
        &["embed", "--format", "json", TEXTS[0], TEXTS[1], TEXTS[2]],
        None,
    ));
    let parsed: Vec<Vec<f32>> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, expected);

    let dir = TempDir::new("npy");
    let path = dir.path().join("v.npy");
    success(&minilm(
        &[
            "embed",
            "-f",
            "npy",
            "-o",
            path.to_str().unwrap(),
            TEXTS[0],
            TEXTS[1],
            TEXTS[2],
        ],
        None,
    ));
    let bytes = std::fs::read(&path).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "only the finished file remains");
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let (header, floats) = npy_parts(&bytes);
    assert!(
        header.contains("'descr': '<f4'") && header.contains("'shape': (3, 384)"),
        "{header}"
    );
    assert_eq!((10 + header.len()) % 64, 0, "data aligned to 64 bytes");
    assert_eq!(floats, expected.concat());
}

#[test]
fn text_input_is_one_text_per_line_in_order() {
    let dir = TempDir::new("lines");
    let path = dir.path().join("in.txt");
    std::fs::write(&path, "first line\r\n\nthird line\n").unwrap();
    let out = success(&minilm(&["embed", "--input", path.to_str().unwrap()], None));
    let vectors: Vec<Vec<f32>> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(vectors, library_vectors(&["first line", "", "third line"]));
}

#[test]
fn jsonl_input_from_stdin_keeps_newlines_inside_texts() {
    let texts = ["two\nlines", "tab\tand \"quotes\"", "nul\u{0}byte"];
    let stdin: String = texts
        .iter()
        .map(|t| serde_json::to_string(t).unwrap() + "\n")
        .collect::<String>()
        + "\n";
    let out = success(&minilm(
        &[
            "embed",
            "--input",
            "-",
            "--input-format",
            "jsonl",
            "--batch-size",
            "2",
            "--threads",
            "1",
        ],
        Some(stdin.as_bytes()),
    ));
    let vectors: Vec<Vec<f32>> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = library_vectors(&texts);
    assert_eq!(vectors.len(), 3);
    for (got, want) in vectors.iter().zip(&expected) {
        assert!(max_abs_diff(got, want) <= 1e-6);
    }
}

#[test]
fn errors_are_one_line_and_a_failure_exit() {
    let err = failure(&minilm(&["embed", "--model", "/no/such/model", "x"], None));
    assert!(
        err.starts_with("minilm: ") && err.contains("/no/such/model"),
        "{err}"
    );

    let err = failure(&minilm(&["embed", "--input", "/no/such/input.txt"], None));
    assert!(err.contains("/no/such/input.txt"), "{err}");

    let err = failure(&minilm(
        &["embed", "--input", "-", "--input-format", "jsonl"],
        Some(b"\"ok\"\nnot json\n"),
    ));
    assert!(err.contains("line 2"), "{err}");

    let err = failure(&minilm(
        &["embed", "--input", "-"],
        Some(b"valid\n\xff\xfe\n"),
    ));
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");

    let err = failure(&minilm(&["embed"], None));
    assert!(err.contains("nothing to embed"), "{err}");

    let err = failure(&minilm(&["embed", "--threads", "0", "x"], None));
    assert!(err.contains("thread"), "{err}");

    let err = failure(&minilm(&["embed", "--max-length", "100000", "x"], None));
    assert!(err.contains("max length"), "{err}");

    let err = failure(&minilm(&["embed", "--format", "yaml", "x"], None));
    assert!(err.contains("yaml"), "{err}");

    let err = failure(&minilm(&["embed", "--no-such-flag", "x"], None));
    assert!(err.contains("--no-such-flag"), "{err}");

    let err = failure(&minilm(&["embed", "--input-format", "jsonl", "x"], None));
    assert!(err.contains("--input-format"), "{err}");

    let err = failure(&minilm(&["embed", "-o", "/no/such/dir/out.npy", "x"], None));
    assert!(err.contains("/no/such/dir/out.npy"), "{err}");
}

#[test]
fn missing_default_model_says_how_to_get_one() {
    let home = TempDir::new("empty-home");
    let output = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(["embed", "hello"])
        .env_remove("MINILM_MODEL_DIR")
        .env("MINILM_HOME", home.path())
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", home.path())
        .output()
        .unwrap();
    let err = failure(&output);
    assert!(err.contains("tools/fetch-model.sh"), "{err}");
}

#[test]
fn help_documents_the_embed_contract() {
    let help = success(&minilm(&["embed", "--help"], None));
    for flag in [
        "--model",
        "--input",
        "--input-format",
        "--format",
        "jsonl",
        "npy",
        "--threads",
        "--batch-size",
        "--max-length",
        "raw",
        "--progress",
        "--quiet",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
    let help = success(&minilm(&["--help"], None));
    for command in ["embed", "similarity", "search", "info", "bench", "quantize"] {
        assert!(help.contains(command), "--help does not mention {command}");
    }
    let help = success(&minilm(&["search", "--help"], None));
    for flag in [
        "--corpus",
        "--top-k",
        "--cache",
        "--no-cache",
        "--json",
        "--input-format",
        "--model",
        "MINILM_HOME",
    ] {
        assert!(help.contains(flag), "search --help does not mention {flag}");
    }
}

#[test]
fn bench_reports_latency_and_throughput_as_json() {
    let dir = common::TempDir::new("bench");
    let input = dir.path().join("texts.txt");
    std::fs::write(
        &input,
        "A man is eating food.\nA dog runs.\nThe sky is blue today.\n",
    )
    .unwrap();
    let model = common::model_dir();
    let out = success(&minilm(
        &[
            "bench",
            "--model",
            model.to_str().unwrap(),
            "--threads",
            "1",
            "--text",
            "A man is playing a guitar.",
            "--calls",
            "5",
            "--warmup",
            "1",
            "--json",
        ],
        None,
    ));
    let latency: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(latency["workload"], "latency");
    assert_eq!(latency["calls"], 5);
    assert_eq!(latency["threads"], 1);
    assert_eq!(latency["tokens"], 9);
    let (min, median) = (
        latency["min_ms"].as_f64().unwrap(),
        latency["median_ms"].as_f64().unwrap(),
    );
    assert!(min > 0.0 && min <= median, "{latency}");

    let out = success(&minilm(
        &[
            "bench",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--rounds",
            "2",
            "--batch-size",
            "2",
            "--json",
        ],
        None,
    ));
    let throughput: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(throughput["workload"], "throughput");
    assert_eq!(throughput["texts"], 3);
    assert_eq!(throughput["batch_size"], 2);
    assert_eq!(throughput["rounds_s"].as_array().unwrap().len(), 2);
    assert!(
        throughput["texts_per_s"].as_f64().unwrap() > 0.0,
        "{throughput}"
    );
}

#[test]
fn quantize_writes_a_model_that_embed_runs_in_int8() {
    let out = TempDir::new("cli-int8");
    let output = out.path().to_str().unwrap();
    let report = minilm(
        &["quantize", "--at-load-calibration", "--output", output],
        None,
    );
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(
        stderr.contains("36 dense weights and the word embeddings in int8"),
        "{stderr}"
    );

    let text = "A man is playing a guitar.";
    let file: Vec<f32> =
        serde_json::from_str(success(&minilm(&["embed", "--model", output, text], None)).trim())
            .unwrap();
    let at_load: Vec<f32> = serde_json::from_str(
        success(&minilm(&["embed", "--precision", "int8", text], None)).trim(),
    )
    .unwrap();
    assert_eq!(
        file, at_load,
        "the --at-load-calibration file and --precision int8 differ"
    );
    let f32_vector = &library_vectors(&[text])[0];
    let cos: f32 = file.iter().zip(f32_vector).map(|(a, b)| a * b).sum();
    assert!(cos > 0.99, "cosine to f32 {cos}");

    let message = failure(&minilm(&["embed", "--precision", "int4", text], None));
    assert!(message.contains("unknown precision"), "{message}");
    let message = failure(&minilm(
        &["embed", "--model", output, "--precision", "f32", text],
        None,
    ));
    assert!(message.contains("int8"), "{message}");
}

/// Output that cannot be written (a full disk, a reader that went away) is one line on stderr
/// and a failure exit, and never leaves a file that looks finished.
#[test]
fn write_failures_are_one_line_and_a_failure_exit() {
    let one_line = |output: &Output| {
        assert!(!output.status.success(), "minilm should have failed");
        let stderr = String::from_utf8(output.stderr.clone()).unwrap();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        stderr
    };
    // A full disk: stdout is /dev/full.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(["embed", "one", "two"])
        .env("MINILM_MODEL_DIR", model_dir())
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = one_line(&output);
    assert!(err.contains("cannot write output"), "{err}");

    // --output naming a device is written in place (no temporary file beside it), in every
    // format; npy included, whose header then needs the count first.
    for format in ["jsonl", "json", "npy"] {
        let err = one_line(&minilm(
            &["embed", "-f", format, "-o", "/dev/full", "one", "two"],
            None,
        ));
        assert!(err.contains("cannot write"), "{format}: {err}");
        assert!(!std::path::Path::new("/dev/full.partial").exists());
    }

    // A reader that goes away: the first line arrives, then the pipe closes.
    let dir = TempDir::new("closed-pipe");
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a short sentence\n".repeat(3000)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args([
            "embed",
            "--batch-size",
            "4",
            "--input",
            input.to_str().unwrap(),
        ])
        .env("MINILM_MODEL_DIR", model_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).unwrap();
    let vector: Vec<f32> = serde_json::from_str(&first).expect("the first line is whole");
    assert_eq!(vector.len(), 384);
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    let err = one_line(&output);
    assert!(err.contains("cannot write output"), "{err}");
}

/// An input that cannot be read is one line and a failure exit, before any output.
#[test]
fn unreadable_input_is_one_line_and_a_failure_exit() {
    let dir = TempDir::new("dir-input");
    let path = dir.path().to_str().unwrap();
    let err = failure(&minilm(&["embed", "--input", path], None));
    assert!(err.contains(path) && err.contains("cannot read"), "{err}");
}

/// Texts from stdin are embedded a batch at a time: the first vectors come out while stdin is
/// still open (the whole input is never held), and every vector arrives as a whole line.
#[test]
fn stdin_is_embedded_as_it_streams_in() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args([
            "embed",
            "--input",
            "-",
            "--batch-size",
            "2",
            "--threads",
            "1",
        ])
        .env("MINILM_MODEL_DIR", model_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, arrived) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    stdin.write_all(b"first text\nsecond text\n").unwrap();
    stdin.flush().unwrap();
    let timeout = std::time::Duration::from_secs(120);
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(
            arrived
                .recv_timeout(timeout)
                .expect("no vector while stdin is open: the input is not streamed"),
        );
    }
    stdin.write_all(b"third text\n").unwrap();
    drop(stdin);
    got.extend(arrived.iter());
    reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    let vectors: Vec<Vec<f32>> = got
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        vectors,
        library_vectors(&["first text", "second text", "third text"])
    );
}

/// The `.npy` header states the row count: rewritten at the end for a file (input streamed),
/// known before the first row on stdout (input read first).
#[test]
fn npy_from_a_streamed_input_states_its_row_count() {
    let dir = TempDir::new("npy-stream");
    let input = dir.path().join("in.txt");
    let texts = ["one", "two", "", "four", "five"];
    std::fs::write(&input, texts.join("\n")).unwrap();
    let path = dir.path().join("v.npy");
    let input = input.to_str().unwrap();
    success(&minilm(
        &[
            "embed",
            "-f",
            "npy",
            "-o",
            path.to_str().unwrap(),
            "--batch-size",
            "2",
            "-i",
            input,
        ],
        None,
    ));
    let to_stdout = minilm(
        &["embed", "-f", "npy", "--batch-size", "2", "-i", input],
        None,
    );
    assert!(to_stdout.status.success(), "{to_stdout:?}");
    let expected = library_vectors(&texts).concat();
    for bytes in [std::fs::read(&path).unwrap(), to_stdout.stdout] {
        let (header, floats) = npy_parts(&bytes);
        assert!(header.contains("'shape': (5, 384)"), "{header}");
        assert_eq!(floats, expected);
    }
}

/// The vectors of a `jsonl` output.
fn jsonl_vectors(out: &str) -> Vec<Vec<f32>> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn similarity_is_the_cosine_of_the_embed_vectors() {
    let similarity = |a: &str, b: &str| -> f32 {
        success(&minilm(&["similarity", a, b], None))
            .trim()
            .parse()
            .unwrap()
    };
    let (food, pasta, guitar) = (
        "A man is eating food.",
        "A man is eating pasta.",
        "Someone is playing a guitar on stage.",
    );
    let same = similarity(food, food);
    assert!((same - 1.0).abs() <= 1e-6, "identical texts: {same}");
    let related = similarity(food, pasta);
    let unrelated = similarity(food, guitar);
    assert!(related > unrelated, "{related} <= {unrelated}");

    let vectors = jsonl_vectors(&success(&minilm(&["embed", food, pasta], None)));
    let expected = dot(&vectors[0], &vectors[1]);
    assert!(
        (related - expected).abs() <= 1e-6,
        "{related} vs {expected}"
    );

    let json: serde_json::Value = serde_json::from_str(&success(&minilm(
        &["similarity", "--json", food, pasta, "--threads", "1"],
        None,
    )))
    .unwrap();
    assert_eq!(json["a"], food);
    assert_eq!(json["b"], pasta);
    let cosine = json["cosine"].as_f64().unwrap() as f32;
    assert!((cosine - expected).abs() <= 1e-6, "{json}");

    let err = failure(&minilm(&["similarity", food], None));
    assert!(err.contains("minilm: "), "{err}");
}

#[test]
fn info_json_describes_the_model_and_kernel_path() {
    let info: serde_json::Value = serde_json::from_str(&success(&minilm(
        &["info", "--json", "--threads", "1"],
        None,
    )))
    .unwrap();
    assert_eq!(info["dim"], 384);
    assert_eq!(info["layers"], 6);
    assert_eq!(info["hidden_size"], 384);
    assert_eq!(info["heads"], 12);
    assert_eq!(info["vocab_size"], 30522);
    assert_eq!(info["pooling"], "mean");
    assert_eq!(info["normalized"], true);
    assert_eq!(info["max_length"], 256);
    assert_eq!(info["precision"], "f32");
    assert_eq!(info["threads"], 1);
    let dir = std::fs::canonicalize(info["model_dir"].as_str().unwrap()).unwrap();
    assert_eq!(dir, std::fs::canonicalize(model_dir()).unwrap());

    let scalar = std::path::Path::new("scalar");
    let info: serde_json::Value = serde_json::from_str(&success(&minilm_env(
        &[
            "info",
            "--json",
            "--precision",
            "int8",
            "--max-length",
            "128",
        ],
        None,
        &[("MINILM_ISA", scalar)],
    )))
    .unwrap();
    assert_eq!(info["isa"], "scalar");
    assert!(
        info["kernel"].as_str().unwrap().ends_with("int8-scalar"),
        "{info}"
    );
    assert_eq!(info["precision"], "int8");
    assert_eq!(info["max_length"], 128);

    let text = success(&minilm(&["info"], None));
    for field in ["dim", "layers", "pooling", "kernel", "threads"] {
        assert!(
            text.lines().any(|l| l.starts_with(field)),
            "no {field}: {text}"
        );
    }
}

#[test]
fn raw_output_is_little_endian_f32_rows_without_a_header() {
    let raw = minilm(&["embed", "-f", "raw", TEXTS[0], TEXTS[1], TEXTS[2]], None);
    assert!(raw.status.success(), "{raw:?}");
    assert_eq!(raw.stdout.len(), TEXTS.len() * 384 * 4);
    let floats: Vec<f32> = raw
        .stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let jsonl = jsonl_vectors(&success(&minilm(
        &["embed", TEXTS[0], TEXTS[1], TEXTS[2]],
        None,
    )));
    assert_eq!(floats, jsonl.concat());

    let dir = TempDir::new("raw");
    let path = dir.path().join("v.f32");
    success(&minilm(
        &["embed", "-f", "raw", "-o", path.to_str().unwrap(), "one"],
        None,
    ));
    assert_eq!(std::fs::read(&path).unwrap().len(), 384 * 4);
}

const CORPUS: &str = "The weather is lovely today.\n\
                      A man is eating food.\n\
                      Someone is playing a guitar.\n\
                      The stock market fell sharply.\n";

/// One `search --json` result.
#[derive(serde::Deserialize, Debug, PartialEq)]
struct Hit {
    query: String,
    rank: usize,
    score: f32,
    line: usize,
    text: String,
}

fn hits(out: &str) -> Vec<Hit> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The files of the default search cache under `home`.
fn cache_files(home: &std::path::Path) -> Vec<std::path::PathBuf> {
    match std::fs::read_dir(home.join("cache/search")) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn search_ranks_the_matching_line_first_and_reuses_its_cache() {
    let home = TempDir::new("search-home");
    let dir = TempDir::new("search-corpus");
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, CORPUS).unwrap();
    let args = [
        "search",
        "--corpus",
        corpus.to_str().unwrap(),
        "--json",
        "A man is eating pasta.",
        "a guitarist plays music",
    ];
    let env = [("MINILM_HOME", home.path())];

    let first = minilm_env(&args, None, &env);
    let results = hits(&success(&first));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("cache miss"), "{stderr}");
    // Five results by default, fewer here: one per corpus line, per query.
    assert_eq!(results.len(), 8);
    let (pasta, guitar) = results.split_at(4);
    assert_eq!(
        (pasta[0].line, pasta[0].text.as_str()),
        (2, "A man is eating food.")
    );
    assert_eq!(pasta[0].query, "A man is eating pasta.");
    assert_eq!(guitar[0].line, 3);
    for query in [pasta, guitar] {
        assert_eq!(
            query.iter().map(|h| h.rank).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert!(query.windows(2).all(|w| w[0].score >= w[1].score));
    }
    // The score is the cosine of the two texts' embeddings.
    let vectors = library_vectors(&["A man is eating pasta.", "A man is eating food."]);
    assert!((pasta[0].score - dot(&vectors[0], &vectors[1])).abs() <= 1e-5);

    // The cache lives under $MINILM_HOME, not beside the corpus.
    let files = cache_files(home.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
    let bytes = std::fs::read(&files[0]).unwrap();

    let second = minilm_env(&args, None, &env);
    assert_eq!(hits(&success(&second)), results);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("cache hit") && !stderr.contains("cache miss"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(std::fs::read(&files[0]).unwrap(), bytes);

    // --quiet: the same results, nothing on stderr.
    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let third = minilm_env(&quiet, None, &env);
    assert_eq!(hits(&success(&third)), results);
    assert!(third.stderr.is_empty(), "{third:?}");

    // Plain text: a header per query, then rank, score, line and text.
    let text = success(&minilm_env(
        &[
            "search",
            "-q",
            "-c",
            corpus.to_str().unwrap(),
            "-k",
            "1",
            "A man is eating pasta.",
        ],
        None,
        &env,
    ));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], "query: A man is eating pasta.");
    assert!(
        lines[1].trim_start().starts_with("1  0.")
            && lines[1].ends_with("line 2: A man is eating food."),
        "{text}"
    );
}

#[test]
fn search_cache_follows_the_corpus_and_the_settings() {
    let home = TempDir::new("search-stale");
    let corpus = home.path().join("corpus.txt");
    std::fs::write(&corpus, CORPUS).unwrap();
    let env = [("MINILM_HOME", home.path())];
    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--corpus",
            corpus.to_str().unwrap(),
            "--json",
            "-k",
            "1",
            "Stock prices dropped.",
        ];
        args.extend_from_slice(extra);
        let output = minilm_env(&args, None, &env);
        let results = hits(&success(&output));
        (results, String::from_utf8(output.stderr).unwrap())
    };
    let (results, stderr) = search(&[]);
    assert!(stderr.contains("cache miss"), "{stderr}");
    assert_eq!(results[0].line, 4);
    let (_, stderr) = search(&[]);
    assert!(stderr.contains("cache hit"), "{stderr}");

    // An edited corpus (same length, so only the content hash tells) is embedded again.
    let edited = CORPUS.replace("stock market fell", "share prices sank");
    assert_eq!(edited.len(), CORPUS.len());
    std::fs::write(&corpus, &edited).unwrap();
    let (results, stderr) = search(&[]);
    assert!(stderr.contains("cache miss (corpus changed)"), "{stderr}");
    assert_eq!(results[0].text, "The share prices sank sharply.");
    let (_, stderr) = search(&[]);
    assert!(stderr.contains("cache hit"), "{stderr}");

    // Another precision or max length is a miss too, never a reuse.
    let (_, stderr) = search(&["--precision", "int8"]);
    assert!(stderr.contains("cache miss"), "{stderr}");
    let (_, stderr) = search(&["--max-length", "16"]);
    assert!(stderr.contains("cache miss"), "{stderr}");
    let chunked = [
        "--max-length",
        "16",
        "--long-text",
        "chunk",
        "--chunk-overlap",
        "4",
    ];
    let (_, stderr) = search(&chunked);
    assert!(
        stderr.contains("cache miss (long-text mode changed)"),
        "{stderr}"
    );
    let (_, stderr) = search(&chunked);
    assert!(stderr.contains("cache hit"), "{stderr}");

    // --no-cache neither reads nor writes.
    let before: Vec<_> = cache_files(home.path())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let (_, stderr) = search(&["--no-cache"]);
    assert!(stderr.contains("cache miss (--no-cache)"), "{stderr}");
    let after: Vec<_> = cache_files(home.path())
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn search_recomputes_a_corrupt_or_truncated_cache() {
    let dir = TempDir::new("search-corrupt");
    let corpus = dir.path().join("corpus.txt");
    let cache = dir.path().join("corpus.cache");
    std::fs::write(&corpus, CORPUS).unwrap();
    let search = || {
        let output = minilm_env(
            &[
                "search",
                "--corpus",
                corpus.to_str().unwrap(),
                "--cache",
                cache.to_str().unwrap(),
                "--json",
                "A man is eating pasta.",
            ],
            None,
            &[("MINILM_HOME", dir.path())],
        );
        let results = hits(&success(&output));
        (results, String::from_utf8(output.stderr).unwrap())
    };
    let (expected, stderr) = search();
    assert!(stderr.contains("cache miss (no cache yet)"), "{stderr}");
    assert!(
        !dir.path().join("cache").exists(),
        "--cache is the only file"
    );
    let good = std::fs::read(&cache).unwrap();

    let header_end = good.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut flipped = good.clone();
    flipped[header_end + 100] ^= 0x40;
    let damaged: [(&str, Vec<u8>); 5] = [
        ("truncated", good[..good.len() / 2].to_vec()),
        ("header only", good[..header_end].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"\x00\xffnot a cache\n\x01\x02".to_vec()),
        ("one vector bit flipped", flipped),
    ];
    for (what, bytes) in damaged {
        std::fs::write(&cache, bytes).unwrap();
        let (results, stderr) = search();
        assert_eq!(results, expected, "{what}");
        assert!(stderr.contains("cache miss"), "{what}: {stderr}");
        assert_eq!(std::fs::read(&cache).unwrap(), good, "{what}: rewritten");
        let (_, stderr) = search();
        assert!(stderr.contains("cache hit"), "{what}: {stderr}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn search_top_k_beyond_the_corpus_and_an_empty_corpus() {
    let dir = TempDir::new("search-small");
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, "alpha\nbeta gamma\n").unwrap();
    let env = [("MINILM_HOME", dir.path())];
    let corpus_arg = corpus.to_str().unwrap();
    let results = hits(&success(&minilm_env(
        &["search", "-c", corpus_arg, "-k", "100", "--json", "alpha"],
        None,
        &env,
    )));
    assert_eq!(results.len(), 2);
    assert_eq!((results[0].line, results[0].rank), (1, 1));
    assert!((results[0].score - 1.0).abs() <= 1e-5, "{results:?}");

    std::fs::write(&corpus, "").unwrap();
    let empty = minilm_env(
        &["search", "-c", corpus_arg, "-k", "3", "--json", "alpha"],
        None,
        &env,
    );
    assert_eq!(success(&empty), "");
    let text = success(&minilm_env(
        &["search", "-c", corpus_arg, "alpha", "beta"],
        None,
        &env,
    ));
    assert_eq!(text, "query: alpha\n\nquery: beta\n");

    let err = failure(&minilm(&["search", "-c", corpus_arg, "-k", "0", "x"], None));
    assert!(err.contains("--top-k"), "{err}");
    let err = failure(&minilm(&["search", "-c", "/no/such/corpus.txt", "x"], None));
    assert!(err.contains("/no/such/corpus.txt"), "{err}");
    let err = failure(&minilm(&["search", "-c", corpus_arg], None));
    assert!(err.contains("QUERY"), "{err}");
}

#[test]
fn search_reads_a_jsonl_corpus_from_stdin_with_its_line_numbers() {
    let stdin = "\"first\\ntext\"\n\n\"A man is eating food.\"\n";
    let output = minilm(
        &[
            "search",
            "--corpus",
            "-",
            "--input-format",
            "jsonl",
            "--json",
            "-k",
            "1",
            "A man is eating pasta.",
        ],
        Some(stdin.as_bytes()),
    );
    let results = hits(&success(&output));
    assert_eq!(results.len(), 1);
    assert_eq!(
        (results[0].line, results[0].text.as_str()),
        (3, "A man is eating food.")
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cache miss (corpus from stdin)"),
        "{stderr}"
    );
}

/// `--progress always` draws on stderr whatever it is; `never`, `--quiet`, and `auto` on a
/// stderr that is not a terminal draw nothing; stdout is the same byte for byte in every case.
#[test]
fn progress_goes_to_stderr_only_and_only_when_asked() {
    let dir = TempDir::new("progress");
    let input = dir.path().join("in.txt");
    let texts: String = (0..40).map(|i| format!("sentence number {i}\n")).collect();
    std::fs::write(&input, &texts).unwrap();
    let input = input.to_str().unwrap();
    let run = |extra: &[&str], stdin: Option<&[u8]>| {
        let mut args = vec!["embed", "--batch-size", "8"];
        args.extend_from_slice(extra);
        let output = minilm(&args, stdin);
        assert!(output.status.success(), "{output:?}");
        (output.stdout, String::from_utf8(output.stderr).unwrap())
    };
    let (quiet_out, stderr) = run(&["-i", input, "--progress", "never"], None);
    assert_eq!(stderr, "");
    assert_eq!(
        jsonl_vectors(std::str::from_utf8(&quiet_out).unwrap()).len(),
        40
    );

    let (out, stderr) = run(&["-i", input, "--progress", "always"], None);
    assert_eq!(out, quiet_out);
    assert!(stderr.contains("40/40 texts"), "{stderr:?}");

    // From stdin the count is unknown: a counter.
    let (out, stderr) = run(&["-i", "-", "--progress", "always"], Some(texts.as_bytes()));
    assert_eq!(out, quiet_out);
    assert!(stderr.contains("40 texts"), "{stderr:?}");

    // --quiet wins over --progress always, before or after the command.
    let output = minilm(
        &["--quiet", "embed", "-i", input, "--progress", "always"],
        None,
    );
    assert_eq!(output.stdout, quiet_out);
    assert!(output.stderr.is_empty(), "{output:?}");
    let (out, stderr) = run(&["-i", input, "--progress", "always", "-q"], None);
    assert_eq!(out, quiet_out);
    assert_eq!(stderr, "");

    // npy: the same bytes with and without the bar.
    let (npy_quiet, _) = run(&["-i", input, "-f", "npy", "--progress", "never"], None);
    let (npy, stderr) = run(&["-i", input, "-f", "npy", "--progress", "always"], None);
    assert_eq!(npy, npy_quiet);
    assert!(stderr.contains("40/40 texts"), "{stderr:?}");

    // auto: more texts than the bar's threshold, but stderr is a pipe.
    let many = dir.path().join("many.txt");
    std::fs::write(&many, "a short sentence\n".repeat(600)).unwrap();
    let (out, stderr) = run(&["-i", many.to_str().unwrap()], None);
    assert_eq!(
        stderr, "",
        "auto draws nothing when stderr is not a terminal"
    );
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 600);

    // An error still prints under --quiet.
    let output = minilm(&["-q", "embed", "--input", "/no/such/input.txt"], None);
    let err = failure(&output);
    assert!(err.contains("/no/such/input.txt"), "{err}");
}

#[test]
fn search_draws_progress_while_embedding_the_corpus() {
    let dir = TempDir::new("search-progress");
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, CORPUS).unwrap();
    let search = |progress: &str| {
        minilm_env(
            &[
                "search",
                "--no-cache",
                "-c",
                corpus.to_str().unwrap(),
                "--progress",
                progress,
                "A man is eating pasta.",
            ],
            None,
            &[("MINILM_HOME", dir.path())],
        )
    };
    let (never, always) = (search("never"), search("always"));
    assert_eq!(success(&always), success(&never));
    let stderr = String::from_utf8_lossy(&always.stderr);
    assert!(stderr.contains("4/4 texts"), "{stderr}");
    assert!(!String::from_utf8_lossy(&never.stderr).contains("texts,"));
}

/// A model directory beside the real one (same files, linked; config.json copied so that its
/// time can change), or another kernel path, is a cache miss: vectors are never reused across
/// models or kernels.
#[test]
fn search_cache_follows_the_model_and_the_kernel() {
    let dir = TempDir::new("search-model");
    let model = dir.path().join("model");
    std::fs::create_dir_all(model.join("1_Pooling")).unwrap();
    for entry in std::fs::read_dir(model_dir()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.path().is_file() && name != "config.json" {
            std::os::unix::fs::symlink(entry.path(), model.join(&name)).unwrap();
        }
    }
    std::fs::copy(model_dir().join("config.json"), model.join("config.json")).unwrap();
    std::fs::copy(
        model_dir().join("1_Pooling/config.json"),
        model.join("1_Pooling/config.json"),
    )
    .unwrap();
    let corpus = dir.path().join("corpus.txt");
    let cache = dir.path().join("corpus.cache");
    std::fs::write(&corpus, CORPUS).unwrap();
    let search = |model: &std::path::Path, isa: Option<&std::path::Path>| {
        let mut env = vec![("MINILM_HOME", dir.path())];
        env.extend(isa.map(|isa| ("MINILM_ISA", isa)));
        let output = minilm_env(
            &[
                "search",
                "--model",
                model.to_str().unwrap(),
                "--corpus",
                corpus.to_str().unwrap(),
                "--cache",
                cache.to_str().unwrap(),
                "--json",
                "A man is eating pasta.",
            ],
            None,
            &env,
        );
        let results = hits(&success(&output));
        (results, String::from_utf8(output.stderr).unwrap())
    };
    let (expected, stderr) = search(&model_dir(), None);
    assert!(stderr.contains("cache miss (no cache yet)"), "{stderr}");
    let (results, stderr) = search(&model, None);
    assert!(stderr.contains("cache miss (model changed)"), "{stderr}");
    assert_eq!(results, expected);
    let (_, stderr) = search(&model, None);
    assert!(stderr.contains("cache hit"), "{stderr}");

    // Same directory and sizes, another modification time.
    let config = std::fs::File::options()
        .write(true)
        .open(model.join("config.json"))
        .unwrap();
    config
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    drop(config);
    let (_, stderr) = search(&model, None);
    assert!(stderr.contains("cache miss (model changed)"), "{stderr}");

    // The scalar kernel path: a miss unless it is the path the cache was written with.
    let default_kernel = info_kernel(None);
    let scalar = std::path::Path::new("scalar");
    let scalar_kernel = info_kernel(Some(scalar));
    let (results, stderr) = search(&model, Some(scalar));
    if scalar_kernel == default_kernel {
        assert!(stderr.contains("cache hit"), "{stderr}");
    } else {
        assert!(
            stderr.contains("cache miss (precision, max length, dimension or kernel changed)"),
            "{stderr}"
        );
    }
    assert_eq!(results[0].line, expected[0].line);
}

/// The kernel name `minilm info` reports, with `MINILM_ISA` set to `isa` if given.
fn info_kernel(isa: Option<&std::path::Path>) -> String {
    let env: Vec<_> = isa.map(|isa| ("MINILM_ISA", isa)).into_iter().collect();
    let info: serde_json::Value =
        serde_json::from_str(&success(&minilm_env(&["info", "--json"], None, &env))).unwrap();
    info["kernel"].as_str().unwrap().to_owned()
}

/// all-MiniLM-L6-v2 with e5-style named prompts: its files linked, plus a
/// `config_sentence_transformers.json` naming `query` and `passage`.
fn model_with_prompts() -> TempDir {
    let dir = TempDir::new("prompted-model");
    let source = model_dir();
    for entry in std::fs::read_dir(&source).unwrap() {
        let name = entry.unwrap().file_name();
        if name != "config_sentence_transformers.json" {
            std::os::unix::fs::symlink(source.join(&name), dir.path().join(&name)).unwrap();
        }
    }
    std::fs::write(
        dir.path().join("config_sentence_transformers.json"),
        r#"{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null}"#,
    )
    .unwrap();
    dir
}

#[test]
fn prompts_are_put_in_front_of_texts() {
    let model = model_with_prompts();
    let m = model.path().to_str().unwrap();
    let embed = |args: &[&str]| jsonl_vectors(&success(&minilm(args, None)));
    let prefixed = embed(&["embed", "--model", m, "query: how to bake bread"]);
    let named = embed(&[
        "embed",
        "--model",
        m,
        "--prompt-name",
        "query",
        "how to bake bread",
    ]);
    let literal = embed(&["embed", "--prompt", "query: ", "how to bake bread"]);
    let plain = embed(&["embed", "--model", m, "how to bake bread"]);
    assert_eq!(named, prefixed);
    assert_eq!(literal, prefixed);
    assert_ne!(
        plain, prefixed,
        "no prompt unless asked for (no default prompt)"
    );

    let err = failure(&minilm(
        &["embed", "--model", m, "--prompt-name", "title", "x"],
        None,
    ));
    assert!(err.contains("passage, query"), "{err}");
    let err = failure(&minilm(&["embed", "--prompt-name", "query", "x"], None));
    assert!(err.contains("names no prompts"), "{err}");

    // similarity: the same prompt on both texts.
    let cosine: f32 = success(&minilm(
        &[
            "similarity",
            "--model",
            m,
            "--prompt-name",
            "query",
            "bread",
            "baking",
        ],
        None,
    ))
    .trim()
    .parse()
    .unwrap();
    let both = embed(&["embed", "--model", m, "query: bread", "query: baking"]);
    assert!((cosine - dot(&both[0], &both[1])).abs() <= 1e-6);

    // search: queries get the model's `query` prompt, the corpus its `passage` prompt.
    let work = TempDir::new("prompted-search");
    let corpus = work.path().join("corpus.txt");
    std::fs::write(&corpus, CORPUS).unwrap();
    let out = success(&minilm(
        &[
            "search",
            "--model",
            m,
            "--no-cache",
            "--json",
            "-k",
            "4",
            "--corpus",
            corpus.to_str().unwrap(),
            "a meal",
        ],
        None,
    ));
    let query = &embed(&["embed", "--model", m, "query: a meal"])[0];
    for hit in hits(&out) {
        let passage = &embed(&["embed", "--model", m, &format!("passage: {}", hit.text)])[0];
        let expected = dot(query, passage);
        assert!(
            (hit.score - expected).abs() <= 1e-5,
            "{hit:?}: expected {expected}"
        );
    }

    let info: serde_json::Value =
        serde_json::from_str(&success(&minilm(&["info", "--json", "--model", m], None))).unwrap();
    assert_eq!(info["prompts"]["passage"], "passage: ");
    assert_eq!(info["default_prompt"], serde_json::Value::Null);
}

/// `minilm fetch` runs the built-in copy of tools/fetch-model.sh: with the model already
/// fetched (the test command fetches it first) it verifies every file and prints the directory.
#[test]
fn fetch_verifies_the_fetched_model_and_prints_its_directory() {
    let dir = model_dir();
    let home = dir.ancestors().nth(3).expect(
        "the model directory is $MINILM_HOME/models/sentence-transformers/all-MiniLM-L6-v2",
    );
    let out = minilm_env(&["fetch"], None, &[("MINILM_HOME", home)]);
    assert_eq!(success(&out).trim(), dir.display().to_string());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("model present and verified"), "{stderr}");
}

#[test]
fn truncation_notice_goes_to_stderr_and_quiet_silences_it() {
    let dir = TempDir::new("cli-long-text");
    let long = "word ".repeat(300);
    let input = dir.path().join("texts.txt");
    std::fs::write(&input, format!("short\n{long}\n{long}\n")).unwrap();
    let input = input.to_str().unwrap();
    let loud = minilm(&["embed", "--input", input], None);
    let quiet = minilm(&["embed", "-q", "--input", input], None);
    assert_eq!(success(&loud), success(&quiet), "stdout does not change");
    let notice = String::from_utf8(loud.stderr).unwrap();
    assert_eq!(
        notice.trim_end(),
        "minilm: 2 of 3 texts were longer than 256 tokens and were truncated to 256 \
         (--long-text chunk embeds all of each)"
    );
    assert!(quiet.stderr.is_empty());
    // Nothing to say when everything fits, or when chunking covers it.
    assert!(minilm(&["embed", "short"], None).stderr.is_empty());
    let chunked = minilm(&["embed", "--long-text", "chunk", "--input", input], None);
    success(&chunked);
    assert!(chunked.stderr.is_empty());
    // Past the window limit, chunking says so too.
    let limited = minilm(
        &[
            "embed",
            "--long-text",
            "chunk",
            "--max-chunks",
            "1",
            "--input",
            input,
        ],
        None,
    );
    success(&limited);
    let notice = String::from_utf8(limited.stderr).unwrap();
    assert!(
        notice.contains("2 of 3 texts needed more than 1 windows")
            && notice.contains("--max-chunks"),
        "{notice}"
    );
}

#[test]
fn long_text_error_names_the_text_and_fails() {
    let long = "word ".repeat(300);
    let output = minilm(&["embed", "--long-text", "error", "fits", &long], None);
    let message = failure(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        message.contains("text 1 is 302 tokens long; the model reads at most 256")
            && message.contains("--long-text truncate or chunk"),
        "{message}"
    );
    let dir = TempDir::new("cli-long-corpus");
    let corpus = dir.path().join("corpus.txt");
    std::fs::write(&corpus, format!("fits\n{long}\n")).unwrap();
    let corpus = corpus.to_str().unwrap();
    let output = minilm(
        &[
            "search",
            "-q",
            "--no-cache",
            "--long-text",
            "error",
            "-c",
            corpus,
            "query",
        ],
        None,
    );
    assert!(failure(&output).contains("corpus line 2 is 302 tokens long"));
    let output = minilm(&["similarity", "--long-text", "error", "a", &long], None);
    assert!(failure(&output).contains("text 2 (B) is 302 tokens long"));
    // Chunk-only flags without chunk mode are a one-line error.
    let output = minilm(&["embed", "--chunk-overlap", "8", "x"], None);
    assert!(failure(&output).contains("--long-text chunk"));
}

#[test]
fn chunked_embeddings_are_the_library_ones() {
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(60);
    let texts = ["short", long.as_str()];
    let out = success(&minilm(
        &[
            "embed",
            "--long-text",
            "chunk",
            "--chunk-overlap",
            "10",
            texts[0],
            texts[1],
        ],
        None,
    ));
    let options = Options::default().long_text(minilm::LongText::Chunk { overlap: 10 });
    let expected = Embedder::from_dir(model_dir(), &options)
        .unwrap()
        .embed_batch(&texts)
        .unwrap();
    let got = jsonl_vectors(&out);
    assert_eq!(got.len(), 2);
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(max_abs_diff(g, e), 0.0);
    }
    // The truncated vector differs from the chunked one; the short text's does not.
    let truncated = jsonl_vectors(&success(&minilm(
        &["embed", "-q", texts[0], texts[1]],
        None,
    )));
    assert_eq!(truncated[0], got[0]);
    assert!(max_abs_diff(&truncated[1], &got[1]) > 1e-3);
}

/// A usage error (clap's: an unknown flag, a missing argument) exits with 2, any other failure
/// with 1; both are one line on stderr.
#[test]
fn usage_errors_exit_2_and_failures_exit_1() {
    let output = minilm(&["embed", "--no-such-flag", "x"], None);
    let err = failure(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.ends_with("(see minilm --help)\n"), "{err}");

    let output = minilm(&["similarity", "only one"], None);
    let err = failure(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("<B>"), "{err}");

    let output = minilm(&["embed", "--model", "/no/such/model", "x"], None);
    failure(&output);
    assert_eq!(output.status.code(), Some(1));

    let output = minilm(&["embed"], None);
    failure(&output);
    assert_eq!(output.status.code(), Some(1));
}

/// `minilm --help` and the README list the kernel paths `MINILM_ISA` takes from the kernels
/// crate's one list, so a new path cannot be left out of either.
#[test]
fn help_and_readme_list_every_kernel_path() {
    let names = minilm::Isa::names();
    let help = success(&minilm(&["--help"], None));
    assert!(help.contains(&format!("MINILM_ISA={names}")), "{help}");
    for isa in minilm::Isa::ALL {
        assert!(help.contains(isa.name()), "--help does not list {isa}");
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&format!("`MINILM_ISA={names}`")),
        "README.md does not list the kernel paths as `MINILM_ISA={names}`"
    );
}

/// With the `hub` feature, `minilm fetch` first asks the library for the model from the Hub
/// (here its cache, offline, standing in for a download), then installs those files once each
/// matches its pinned sha256, naming the source in the last line.
#[cfg(feature = "hub")]
#[test]
fn fetch_installs_an_in_process_hub_download_after_checking_every_file() {
    let temp = TempDir::new("fetch-hub");
    let repo = temp
        .path()
        .join("hf/hub/models--sentence-transformers--all-MiniLM-L6-v2");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let files = [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
        "modules.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
    ];
    for file in files {
        let to = snapshot.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(model_dir().join(file), to).unwrap();
    }
    let home = temp.path().join("home");
    let output = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .arg("fetch")
        .env("MINILM_HOME", &home)
        .env("HF_HOME", temp.path().join("hf"))
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("MINILM_FETCH_FROM")
        .output()
        .unwrap();
    let installed = home.join("models/sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(success(&output).trim(), installed.display().to_string());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("model verified")
            && last.ends_with(&format!("source: {}", snapshot.display())),
        "{stderr}"
    );
    for file in files {
        assert_eq!(
            std::fs::read(installed.join(file)).unwrap(),
            std::fs::read(model_dir().join(file)).unwrap(),
            "{file}"
        );
    }
}
