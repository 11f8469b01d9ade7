"""Generate reference outputs of sentence-transformers' own output options for all-MiniLM-L6-v2.

The options are normalisation, truncation (truncate_dim), quantisation (precision) and prompts.

Takes 32 texts and 16 other calibration texts from tests/data/reference.json (fixed item names:
STS-B sentences of many lengths, paragraphs, texts at and over the 256-token limit, the empty
text, many scripts, emoji, control characters, code) and records, for each case, what
sentence-transformers returns when all 32 texts go through one encode() call (batch_size 32, one
batch). The model's own modules are Transformer, Pooling (mean) and Normalize.

* ``default``: encode(texts), float32: unit vectors.
* ``no_normalize``: the same model without its Normalize module (SentenceTransformer(modules=[m[0],
  m[1]])), float32: the mean-pooled vectors, not normalised.
* ``no_normalize_then_normalize``: that model with normalize_embeddings=True.
* ``truncate_128``, ``truncate_100``: encode(truncate_dim=...). encode() cuts the vectors after the
  model's modules (Normalize included), so these rows are *not* unit vectors.
* ``truncate_128_normalize``: encode(truncate_dim=128, normalize_embeddings=True): cut, then
  L2-normalised (encode() normalises after truncating).
* ``default_<p>`` and ``truncate_100_<p>`` for p in int8, uint8, binary, ubinary:
  encode(precision=p) without and with truncate_dim=100 (100 is not a multiple of 8). ``float_case``
  names the float case whose output was the quantiser's input, and the script asserts that
  quantize_embeddings(that output, p) equals encode()'s output exactly. sentence-transformers
  quantises the whole call's output at once: int8/uint8 take per-dimension ranges from the
  min/max over the call's rows (``ranges`` null: derive them from ``float_case``), in float32:
  step = (max - min) / 255 (1 where 0), q = clip(floor((e - min) / step), 0, 255), uint8 = q,
  int8 = q - 128 (every step in float32: in f64 some values land one bucket higher, and a
  dimension's maximum can come out as 254, not 255); ubinary = numpy.packbits(e > 0) per row (first
  dimension in the most significant bit, the last byte padded with zero bits), binary = that minus
  128 as int8.
* ``calibrated_int8``, ``calibrated_uint8``: quantize_embeddings(default output, p,
  calibration_embeddings=encode(calibration_texts)); ``ranges`` holds the [min, max] rows (2 x 384)
  so used. Some values lie outside them and are clipped to 0 or 255.
* Prompts: encode_query(texts[:4]) / encode_document(texts[:4]) on the model loaded with a prompts
  dict (meta.prompts has the dict passed for each case); ``prompt`` is the string actually prepended
  (the script asserts the output equals encode() of prompt + text). encode_document takes the first
  of "document", "passage", "corpus" in the model's prompts, but a SentenceTransformer always has
  "query" and "document" keys (set to "" unless given or saved in the model's config), so
  "passage" is never reached: ``document_prompt_passage_only`` (prompts {"query": "query: ",
  "passage": "passage: "}) prepends nothing. ``query_prompt`` uses that dict too;
  ``document_prompt`` uses {"query": "query: ", "document": "document: ", "passage": "passage: "}.

Row i of every case's ``output`` is texts[i] (the prompt cases have the first 4 rows only). ``dim``
is the vector dimension before any bit packing (binary rows hold ceil(dim / 8) bytes). Floats are
written in positional notation as the shortest decimal that identifies the float32 value (numpy's
unique Dragon4, at most 9 significant digits), so read as f32, or as f64 then rounded to f32, it
gives the identical float32; the script asserts that, and that serde_json without its
float_roundtrip feature (digits / power of ten in f64) reads the same. Integers are plain JSON
integers. The script checks that the file it wrote loads back to exactly the arrays computed.
Everything is deterministic (CPU, fp32, one thread).
Writes tests/data/output_reference.json.

Usage:
    python tools/gen_output_reference.py [--model DIR] [--out FILE]

Without --model, tools/fetch-model.sh is run to fetch and verify the model and print its directory.
The pinned environment is tools/requirements-reference.txt (the same as gen_reference.py's).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import quantize_embeddings

from gen_reference import (
    DIM,
    MAX_SEQ_LENGTH,
    MODEL_ID,
    REPO_ROOT,
    load_model,
    checked_model_dir,
    reference_args,
    sha256_of_file,
)

SOURCE = REPO_ROOT / "tests" / "data" / "reference.json"
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "output_reference.json"

# Item names in reference.json. The first four are also the prompt cases' texts: a plain sentence,
# accents with CJK, the empty text and a text of exactly 256 tokens (the prompt pushes its end out).
TEXT_NAMES: tuple[str, ...] = (
    "stsb-045",
    "accents-cjk-mixed",
    "empty",
    "tokens-256",
    "stsb-000",
    "stsb-015",
    "stsb-030",
    "stsb-060",
    "stsb-075",
    "stsb-090",
    "stsb-105",
    "paragraph-60",
    "paragraph-200",
    "far-over-256",
    "tokens-257",
    "whitespace-mixed",
    "single-char",
    "german",
    "chinese",
    "japanese",
    "korean",
    "arabic",
    "cyrillic",
    "hindi",
    "thai",
    "emoji-sentence",
    "emoji-zwj-flag",
    "control-nul",
    "unicode-spaces",
    "all-caps",
    "numbers-money",
    "code-rust",
)
CALIBRATION_COUNT = 16  # STS-B items not in TEXT_NAMES, evenly spaced
BATCH_SIZE = 32
PRECISIONS = ("int8", "uint8", "binary", "ubinary")
QUERY_PASSAGE = {"query": "query: ", "passage": "passage: "}
QUERY_DOCUMENT_PASSAGE = {"query": "query: ", "document": "document: ", "passage": "passage: "}
# (case name, prompts passed to SentenceTransformer, method, the prompt it prepends)
PROMPT_CASES = (
    ("query_prompt", QUERY_PASSAGE, "encode_query", "query: "),
    ("document_prompt_passage_only", QUERY_PASSAGE, "encode_document", ""),
    ("document_prompt", QUERY_DOCUMENT_PASSAGE, "encode_document", "document: "),
)
PROMPT_TEXTS = 4


def pick_texts() -> tuple[list[str], list[str], list[str], list[str]]:
    """(names, texts, calibration names, calibration texts) from reference.json."""
    with SOURCE.open(encoding="utf-8") as f:
        items = {item["name"]: item["text"] for item in json.load(f)["items"]}
    if len(TEXT_NAMES) != BATCH_SIZE or len(set(TEXT_NAMES)) != BATCH_SIZE:
        raise ValueError("TEXT_NAMES must hold 32 distinct names")
    spare = [name for name in items if name.startswith("stsb-") and name not in TEXT_NAMES]
    last = len(spare) - 1
    calibration = [
        spare[round(i * last / (CALIBRATION_COUNT - 1))] for i in range(CALIBRATION_COUNT)
    ]
    if len(set(calibration)) != CALIBRATION_COUNT:
        raise ValueError("calibration names are not distinct")
    return (
        list(TEXT_NAMES),
        [items[name] for name in TEXT_NAMES],
        calibration,
        [items[name] for name in calibration],
    )


def check_quantizer(floats: np.ndarray, precision: str, ranges: np.ndarray | None) -> np.ndarray:
    """The rule the module docstring states, written out: must equal sentence-transformers'."""
    if precision in ("binary", "ubinary"):
        dim = floats.shape[1]
        bits = np.zeros((floats.shape[0], (dim + 7) // 8 * 8), dtype=np.int64)
        bits[:, :dim] = floats > 0
        weights = 1 << np.arange(7, -1, -1)
        packed = (bits.reshape(len(floats), -1, 8) * weights).sum(axis=2)
        return packed - 128 if precision == "binary" else packed
    if ranges is None:
        ranges = np.stack([floats.min(axis=0), floats.max(axis=0)])
    low, high = ranges.astype(np.float32)
    step = (high - low) / np.float32(255)
    step[step == 0] = np.float32(1)
    q = np.clip(np.floor((floats - low) / step), 0, 255).astype(np.int64)
    return q - 128 if precision == "int8" else q


def case(
    name: str,
    output: np.ndarray,
    *,
    model_normalize: bool = True,
    normalize_embeddings: bool = False,
    truncate_dim: int | None = None,
    precision: str = "float32",
    float_case: str | None = None,
    ranges: np.ndarray | None = None,
    prompt: str | None = None,
) -> dict:
    dim = truncate_dim or DIM
    expected_dtype = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}.get(
        precision, np.int8 if precision == "binary" else np.uint8
    )
    width = (dim + 7) // 8 if precision.endswith("binary") else dim
    if output.dtype != expected_dtype or output.ndim != 2 or output.shape[1] != width:
        raise ValueError(f"{name}: unexpected output {output.dtype} {output.shape}")
    if precision == "float32" and not np.all(np.isfinite(output)):
        raise ValueError(f"{name}: non-finite output")
    return {
        "name": name,
        "model_normalize": model_normalize,
        "normalize_embeddings": normalize_embeddings,
        "truncate_dim": truncate_dim,
        "precision": precision,
        "float_case": float_case,
        "ranges": ranges,
        "prompt": prompt,
        "dim": dim,
        "output": output,
    }


def assert_equal(name: str, got: np.ndarray, want: np.ndarray) -> None:
    if got.shape != want.shape or not np.array_equal(got, want):
        raise AssertionError(f"{name}: outputs differ")


def unit_rows(values: np.ndarray) -> np.ndarray:
    rows = values.astype(np.float64)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def assert_close(name: str, got: np.ndarray, want: np.ndarray, atol: float = 1e-6) -> None:
    if got.shape != want.shape or not np.allclose(got, want, rtol=0, atol=atol):
        raise AssertionError(f"{name}: outputs differ by {np.abs(got - want).max()}")


def build_cases(
    model: SentenceTransformer, model_dir: Path, texts: list[str], calibration: list[str]
) -> tuple[list[dict], int]:
    """All cases, and how many default values lie outside the calibration ranges."""

    def encode(m: SentenceTransformer, inputs: list[str], **kwargs) -> np.ndarray:
        return m.encode(inputs, batch_size=BATCH_SIZE, convert_to_numpy=True, **kwargs)

    bare = SentenceTransformer(modules=[model[0], model[1]], device="cpu")
    bare.eval()
    if type(model[2]).__name__ != "Normalize" or len(model) != 3:
        raise ValueError("expected Transformer, Pooling, Normalize")

    floats = {
        "default": encode(model, texts),
        "no_normalize": encode(bare, texts),
        "no_normalize_then_normalize": encode(bare, texts, normalize_embeddings=True),
        "truncate_128": encode(model, texts, truncate_dim=128),
        "truncate_128_normalize": encode(model, texts, truncate_dim=128, normalize_embeddings=True),
        "truncate_100": encode(model, texts, truncate_dim=100),
    }
    default = floats["default"]
    # What the float cases are, in terms of each other.
    assert_close("no_normalize_then_normalize", floats["no_normalize_then_normalize"], default)
    assert_close("default vs no_normalize", default, unit_rows(floats["no_normalize"]))
    assert_equal("truncate_128", floats["truncate_128"], default[:, :128])
    assert_equal("truncate_100", floats["truncate_100"], default[:, :100])
    assert_close(
        "truncate_128_normalize", floats["truncate_128_normalize"], unit_rows(default[:, :128])
    )

    cases = [
        case("default", default),
        case("no_normalize", floats["no_normalize"], model_normalize=False),
        case(
            "no_normalize_then_normalize",
            floats["no_normalize_then_normalize"],
            model_normalize=False,
            normalize_embeddings=True,
        ),
        case("truncate_128", floats["truncate_128"], truncate_dim=128),
        case(
            "truncate_128_normalize",
            floats["truncate_128_normalize"],
            truncate_dim=128,
            normalize_embeddings=True,
        ),
        case("truncate_100", floats["truncate_100"], truncate_dim=100),
    ]

    for precision in PRECISIONS:
        for float_case, truncate_dim in (("default", None), ("truncate_100", 100)):
            name = f"{float_case}_{precision}"
            output = encode(model, texts, truncate_dim=truncate_dim, precision=precision)
            assert_equal(name, output, quantize_embeddings(floats[float_case], precision))
            restated = check_quantizer(floats[float_case], precision, None)
            assert_equal(f"{name} (restated rule)", output.astype(np.int64), restated)
            cases.append(
                case(
                    name,
                    output,
                    truncate_dim=truncate_dim,
                    precision=precision,
                    float_case=float_case,
                )
            )

    calibration_floats = encode(model, calibration)
    ranges = np.stack([calibration_floats.min(axis=0), calibration_floats.max(axis=0)])
    for precision in ("int8", "uint8"):
        name = f"calibrated_{precision}"
        output = quantize_embeddings(default, precision, calibration_embeddings=calibration_floats)
        assert_equal(name, output, quantize_embeddings(default, precision, ranges=ranges))
        restated = check_quantizer(default, precision, ranges)
        assert_equal(f"{name} (restated rule)", output.astype(np.int64), restated)
        cases.append(case(name, output, precision=precision, float_case="default", ranges=ranges))
    clipped = int(((default < ranges[0]) | (default > ranges[1])).sum())
    if clipped == 0:
        raise ValueError("no value falls outside the calibration ranges")

    head = texts[:PROMPT_TEXTS]
    for name, prompts, method, prompt in PROMPT_CASES:
        prompted = SentenceTransformer(str(model_dir), device="cpu", prompts=prompts)
        prompted.eval()
        output = getattr(prompted, method)(head, batch_size=BATCH_SIZE, convert_to_numpy=True)
        assert_equal(name, output, encode(model, [prompt + text for text in head]))
        cases.append(case(name, output, prompt=prompt))

    names = [c["name"] for c in cases]
    if len(set(names)) != len(names):
        raise ValueError("duplicate case names")
    return cases, clipped


def f32_list(values: np.ndarray) -> str:
    """A float32 array as JSON, each value the shortest decimal identifying its float32."""
    if values.ndim > 1:
        return "[" + ",".join(f32_list(row) for row in values) + "]"
    return "[" + ",".join(f32_decimal(x) for x in values) + "]"


def f32_decimal(x: np.float32) -> str:
    """The shortest decimal that identifies the float32 `x`; asserts that it reads back to `x` both
    correctly rounded (f64, then f32) and the way serde_json without its float_roundtrip feature
    reads it (the digits as an integer, divided by the power of ten as f64, then cast to f32)."""
    text = np.format_float_positional(x, unique=True, trim="0")
    whole, _, fraction = text.lstrip("-").partition(".")
    naive = int(whole + fraction) / float(f"1e{len(fraction)}")
    for back in (float(text), -naive if text.startswith("-") else naive):
        if np.float32(back).view(np.uint32) != x.view(np.uint32):
            raise AssertionError(f"{text} does not read back to the float32 {x!r}")
    return text


def to_json(value) -> str:
    """Compact JSON; float32 arrays written with f32_list, integer arrays as integers."""
    if isinstance(value, np.ndarray):
        if value.dtype == np.float32:
            return f32_list(value)
        if value.dtype.kind in "iu":
            return json.dumps(value.tolist(), separators=(",", ":"))
        raise TypeError(f"unexpected array dtype {value.dtype}")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float):
        raise TypeError("plain Python floats are not written; use float32 arrays")
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def check_written(document: dict, path: Path) -> None:
    """The file loads, and every array reads back (f64, then rounded to f32) to the same values."""
    with path.open(encoding="utf-8") as f:
        loaded = json.load(f)
    if any(loaded[key] != document[key] for key in ("texts", "calibration_texts")):
        raise AssertionError("texts do not round-trip")
    for want, got in zip(document["cases"], loaded["cases"]):
        for key in ("output", "ranges"):
            array = want[key]
            if array is None:
                if got[key] is not None:
                    raise AssertionError(f"{want['name']}.{key} is not null")
                continue
            back = np.array(got[key], dtype=np.float64 if array.dtype == np.float32 else np.int64)
            if array.dtype == np.float32:
                bits = back.astype(np.float32).view(np.uint32)
                same = np.array_equal(bits, array.view(np.uint32))
            else:
                same = np.array_equal(back, array.astype(np.int64))
            if not same:
                raise AssertionError(f"{want['name']}.{key} does not round-trip")


def main() -> None:
    args = reference_args(__doc__.splitlines()[0], DEFAULT_OUT)
    model_dir = checked_model_dir(args)
    model = load_model(model_dir)
    names, texts, calibration_names, calibration_texts = pick_texts()
    cases, clipped = build_cases(model, model_dir, texts, calibration_texts)
    document = {
        "meta": {
            "model": MODEL_ID,
            "model_sha256": sha256_of_file(model_dir / "model.safetensors"),
            "generator": "tools/gen_output_reference.py",
            "versions": {
                package.replace("-", "_"): version(package)
                for package in (
                    "sentence-transformers",
                    "transformers",
                    "torch",
                    "tokenizers",
                    "numpy",
                )
            },
            "source": "tests/data/reference.json",
            "text_names": names,
            "calibration_text_names": calibration_names,
            "max_seq_length": MAX_SEQ_LENGTH,
            "batch_size": BATCH_SIZE,
            "prompts": {name: prompts for name, prompts, _, _ in PROMPT_CASES},
        },
        "texts": texts,
        "calibration_texts": calibration_texts,
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_json(document) + "\n", encoding="utf-8")
    check_written(document, args.out)

    print(f"wrote {args.out}: {len(cases)} cases, {args.out.stat().st_size:,} bytes")
    print(f"  {len(texts)} texts, {len(calibration_texts)} calibration texts")
    print(f"  calibrated cases: {clipped} of {len(texts) * DIM} default values outside the ranges")
    for c in cases:
        rows, width = c["output"].shape
        print(f"  {c['name']}: {c['precision']}, dim {c['dim']}, {rows} x {width}")


if __name__ == "__main__":
    main()
