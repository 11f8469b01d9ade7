//! `minilm embed`'s vector options (--output-precision, --calibration, --truncate-dim,
//! --normalize, --no-normalize) in every output format give what the library gives for the
//! same texts and options: `Embedder::encode`, or `quantize_embeddings` on its floats.
#![forbid(unsafe_code)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{model_dir, TempDir};
use minilm::{quantize_embeddings, EmbedOptions, Embedder, Embeddings, Options, OutputPrecision};
use minilm::{LongTextReport, Ranges};

const TEXTS: [&str; 4] = [
    "A man is playing a guitar.",
    "The new movie is awesome.",
    "Ünïcödé, 東京 and emoji 🎸",
    "",
];

/// `minilm` with `args`, `stdin` on its standard input.
fn minilm(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minilm"))
        .args(args)
        .env("MINILM_MODEL_DIR", model_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minilm");
    // A run that fails before reading its input closes the pipe: that is not the test's error.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

/// `minilm embed` with `flags` on [`TEXTS`]: its stdout.
fn embed(flags: &[&str]) -> Vec<u8> {
    let mut args = vec!["embed"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&TEXTS);
    let output = minilm(&args, b"");
    assert!(
        output.status.success(),
        "minilm {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The default model, batch size `batch_size`.
fn embedder(batch_size: usize) -> Embedder {
    Embedder::from_dir(model_dir(), &Options::default().batch_size(batch_size)).unwrap()
}

/// What the library's `encode` gives for `texts`.
fn encode(embedder: &Embedder, texts: &[&str], options: &EmbedOptions) -> Embeddings {
    let (embeddings, _): (Embeddings, LongTextReport) = embedder.encode(texts, options).unwrap();
    embeddings
}

/// Every row as little-endian bytes: the data of raw and `.npy` output.
fn le_bytes(embeddings: &Embeddings) -> Vec<u8> {
    let mut bytes = Vec::new();
    for row in 0..embeddings.len() {
        embeddings.row_le_bytes(row, &mut bytes);
    }
    bytes
}

/// Every row as f32 (bytes are exact in f32), to compare with parsed JSON.
fn rows_f32(embeddings: &Embeddings) -> Vec<Vec<f32>> {
    (0..embeddings.len())
        .map(|row| {
            embeddings
                .row_json(row)
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

/// JSON arrays of numbers as f32 (a float written in its shortest f32 form parses back to the
/// same f32 through f64).
fn parse_rows(rows: &[serde_json::Value]) -> Vec<Vec<f32>> {
    rows.iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

/// An `.npy` file's header text and data bytes.
fn npy_parts(bytes: &[u8]) -> (&str, &[u8]) {
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    (header, &bytes[10 + header_len..])
}

/// The `.npy` dtype of each precision's elements.
fn npy_dtype(precision: OutputPrecision) -> &'static str {
    match precision {
        OutputPrecision::Float32 => "<f4",
        OutputPrecision::Int8 | OutputPrecision::Binary => "|i1",
        _ => "|u1",
    }
}

/// `flags` in each format give `expected`: the same numbers in jsonl and json, the same bytes
/// in raw and in `.npy` (after a header of the right dtype and shape).
fn assert_every_format(flags: &[&str], expected: &Embeddings) {
    let with = |format: &str| {
        let mut all = flags.to_vec();
        all.extend(["--format", format]);
        embed(&all)
    };
    let jsonl: Vec<serde_json::Value> = String::from_utf8(with("jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(parse_rows(&jsonl), rows_f32(expected), "{flags:?} jsonl");
    let json: Vec<serde_json::Value> = serde_json::from_slice(&with("json")).unwrap();
    assert_eq!(parse_rows(&json), rows_f32(expected), "{flags:?} json");
    assert_eq!(with("raw"), le_bytes(expected), "{flags:?} raw");
    let npy = with("npy");
    let (header, data) = npy_parts(&npy);
    let dtype = npy_dtype(expected.precision());
    assert!(
        header.contains(&format!("'descr': '{dtype}'"))
            && header.contains(&format!(
                "'shape': ({}, {})",
                expected.len(),
                expected.row_len()
            )),
        "{flags:?}: {header}"
    );
    assert_eq!(data, le_bytes(expected), "{flags:?} npy data");
}

#[test]
fn every_output_precision_in_every_format_is_what_the_library_encodes() {
    let embedder = embedder(32);
    for precision in OutputPrecision::ALL {
        let expected = encode(&embedder, &TEXTS, &EmbedOptions::new().precision(precision));
        assert_eq!(expected.len(), TEXTS.len());
        assert_every_format(&["--output-precision", precision.name()], &expected);
    }
    // Bits of 100 dimensions: 13 bytes a row, the last one padded.
    let expected = encode(
        &embedder,
        &TEXTS,
        &EmbedOptions::new()
            .truncate_dim(100)
            .precision(OutputPrecision::Binary),
    );
    assert_eq!(expected.row_len(), 13);
    assert_every_format(
        &["--output-precision", "binary", "--truncate-dim", "100"],
        &expected,
    );
}

#[test]
fn truncate_dim_and_normalize_are_the_library_options() {
    let embedder = embedder(32);
    let cases: [(&[&str], EmbedOptions); 4] = [
        (
            &["--truncate-dim", "64"],
            EmbedOptions::new().truncate_dim(64),
        ),
        (
            &["--truncate-dim", "64", "--normalize"],
            EmbedOptions::new().truncate_dim(64).normalize(true),
        ),
        (&["--no-normalize"], EmbedOptions::new().normalize(false)),
        (
            &["--truncate-dim", "200", "--output-precision", "uint8"],
            EmbedOptions::new()
                .truncate_dim(200)
                .precision(OutputPrecision::Uint8),
        ),
    ];
    for (flags, options) in cases {
        assert_every_format(flags, &encode(&embedder, &TEXTS, &options));
    }
    // The cut vectors are not unit length unless --normalize says so.
    let cut = encode(
        &embedder,
        &TEXTS[..1],
        &EmbedOptions::new().truncate_dim(64),
    );
    let norm: f32 = rows_f32(&cut)[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(norm < 0.99, "{norm}");

    let output = minilm(&["embed", "--normalize", "--no-normalize", "x"], b"");
    assert_eq!(output.status.code(), Some(2));
    for bad in ["0", "385"] {
        let output = minilm(&["embed", "--truncate-dim", bad, "x"], b"");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("--truncate-dim {bad}: must be from 1 to")),
            "{stderr}"
        );
    }
}

/// With --calibration, int8 and uint8 take their ranges from the calibration texts' vectors
/// (embedded with the same options), so one text is enough and the output streams.
#[test]
fn calibrated_int8_and_uint8_use_the_calibration_texts_ranges() {
    let dir = TempDir::new("cli-calibration");
    let calibration = dir.path().join("calibration.txt");
    let calibration_texts = [
        "A woman is slicing an onion.",
        "Stocks fell sharply on Monday.",
        "The cat sleeps on the sofa.",
        "How do I reset my password?",
        "Rain is expected tomorrow.",
    ];
    std::fs::write(&calibration, calibration_texts.join("\n") + "\n").unwrap();
    let embedder = embedder(32);
    let options = EmbedOptions::new().truncate_dim(128).normalize(true);
    let floats: Vec<f32> = embedder
        .embed_batch_with(&calibration_texts, &options)
        .unwrap()
        .concat();
    let ranges = Ranges::from_embeddings(&floats, 128).unwrap();
    let path = calibration.to_str().unwrap();
    for precision in [OutputPrecision::Int8, OutputPrecision::Uint8] {
        let calibrated = options.clone().precision(precision).ranges(ranges.clone());
        let flags = [
            "--output-precision",
            precision.name(),
            "--calibration",
            path,
            "--truncate-dim",
            "128",
            "--normalize",
        ];
        assert_every_format(&flags, &encode(&embedder, &TEXTS, &calibrated));

        // One text, streamed from stdin to an .npy file (its header rewritten at the end).
        let out = dir.path().join(format!("{precision}.npy"));
        let mut args = vec!["embed", "--input", "-", "-f", "npy", "-o"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(&flags);
        let output = minilm(&args, b"A man is playing a guitar.\n");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let npy = std::fs::read(&out).unwrap();
        let (header, data) = npy_parts(&npy);
        assert!(header.contains("'shape': (1, 128)"), "{header}");
        let one = encode(&embedder, &TEXTS[..1], &calibrated);
        assert_eq!(data, le_bytes(&one));
    }
}

/// Without --calibration, int8 ranges come from every text of the run, across batches: the
/// bytes are `quantize_embeddings` of all the run's floats.
#[test]
fn int8_ranges_span_every_batch_of_a_streamed_input() {
    let texts: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "sentence number {i} about {}",
                ["cats", "stocks", "rain"][i % 3]
            )
        })
        .collect();
    // The CLI embeds 8 texts a pass: so does the library here, for the same floats.
    let embedder = embedder(8);
    let floats: Vec<f32> = texts
        .chunks(8)
        .flat_map(|chunk| embedder.embed_batch(chunk).unwrap().concat())
        .collect();
    let dim = embedder.dim();
    for precision in [OutputPrecision::Int8, OutputPrecision::Uint8] {
        let expected = quantize_embeddings(&floats, dim, precision, None).unwrap();
        let output = minilm(
            &[
                "embed",
                "--input",
                "-",
                "--batch-size",
                "8",
                "--format",
                "raw",
                "--output-precision",
                precision.name(),
            ],
            (texts.join("\n") + "\n").as_bytes(),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, le_bytes(&expected), "{precision}");
    }
}

/// int8 and uint8 on the run's own ranges need at least two texts (one vector's range is a
/// point), as in sentence-transformers; --calibration is for int8 and uint8 only.
#[test]
fn int8_of_fewer_than_two_texts_is_an_error_naming_calibration() {
    for args in [
        &["embed", "--output-precision", "int8", "one text"][..],
        &["embed", "--output-precision", "uint8", "--input", "-"][..],
    ] {
        let output = minilm(args, b"one text\n");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(output.stdout.is_empty());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("at least 2") && stderr.contains("--calibration"),
            "{stderr}"
        );
    }
    let output = minilm(
        &[
            "embed",
            "--calibration",
            "/dev/null",
            "--output-precision",
            "binary",
            "x",
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--calibration applies"));
}
