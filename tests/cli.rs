//! The `minilm` command line: output formats, input formats and error behaviour.
#![forbid(unsafe_code)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{max_abs_diff, model_dir, TempDir};
use minilm::{Embedder, Options};

fn minilm(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(args)
        .env("MINILM_MODEL_DIR", model_dir())
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
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
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
    let report = minilm(&["quantize", "--no-smoothing", "--output", output], None);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(stderr.contains("36 dense weights in int8"), "{stderr}");

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
        "the unsmoothed file and --precision int8 differ"
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
