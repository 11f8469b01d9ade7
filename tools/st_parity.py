"""Check that minilm embeds your texts as sentence-transformers does.

Runs ``SentenceTransformer(model).encode(texts)`` (fp32, on the CPU) and ``minilm embed --format
npy`` on the same texts and model, then prints for each text the cosine between the two vectors
and their largest per-component difference, and the minimum and mean over all texts.

Usage:
    python tools/st_parity.py "A man is playing a guitar." "Ein Mann spielt Gitarre."
    python tools/st_parity.py --input texts.txt            # one text per line ('-': stdin)
    python tools/st_parity.py --input texts.jsonl --input-format jsonl   # one JSON string a line
    python tools/st_parity.py --model BAAI/bge-small-en-v1.5 --minilm ~/.cargo/bin/minilm ...

Options:
    --model DIR|ID   a model directory or Hub id (``owner/name[@revision]``). Default: the model
                     minilm uses by default: ``$MINILM_MODEL_DIR``, else the copy
                     tools/fetch-model.sh made in ``$MINILM_HOME/models/`` (default
                     ``~/.cache/minilm/models/``). A Hub id with a copy there uses that copy on
                     both sides; otherwise both sides get the id.
    --minilm PATH    the minilm binary. Default: target/release/minilm (``cargo build --release
                     --features cli``), else ``minilm`` on PATH.
    --threshold X    the lowest acceptable cosine (default 0.99999).

Exit status: 0 when every cosine is at least the threshold, 1 when one is below, 2 when a side
could not run. Needs numpy and sentence-transformers (tools/requirements-reference.txt pins the
versions the reference data was made with).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


class Failure(Exception):
    """A side could not run; the message says why."""


def models_home() -> Path:
    """Where tools/fetch-model.sh puts models: $MINILM_HOME/models (default ~/.cache/minilm)."""
    home = os.environ.get("MINILM_HOME") or Path.home() / ".cache" / "minilm"
    return Path(home) / "models"


def resolve_model(spec: str | None) -> str:
    """The directory (or Hub id) both sides load, found the way minilm finds it."""
    if spec is None:
        env_dir = os.environ.get("MINILM_MODEL_DIR")
        if env_dir and Path(env_dir).is_dir():
            return env_dir
        local = models_home() / DEFAULT_MODEL_ID
        if (local / "config.json").is_file():
            return str(local)
        raise Failure(f"no model at {local}: run tools/fetch-model.sh, or pass --model")
    if Path(spec).is_dir():
        return spec
    if "@" not in spec and (models_home() / spec / "config.json").is_file():
        return str(models_home() / spec)
    return spec


def find_minilm(path: str | None) -> str:
    if path is not None:
        found = shutil.which(path)
        if found is None:
            raise Failure(f"--minilm {path}: not an executable")
        return found
    built = REPO_ROOT / "target" / "release" / "minilm"
    if built.is_file():
        return str(built)
    on_path = shutil.which("minilm")
    if on_path is None:
        raise Failure(
            "no minilm binary: run `cargo build --release --features cli`, or pass --minilm"
        )
    return on_path


def read_texts(path: str, input_format: str) -> list[str]:
    """Texts from a file as minilm reads them: lines split at '\\n' (a '\\r' before it is
    dropped, an empty line is an empty text), or with jsonl one JSON string per non-blank line."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Failure(f"cannot read {path}: {e}") from e
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    if input_format == "text":
        return lines
    texts = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise Failure(f"{path}: line {number}: {e}") from e
            if not isinstance(value, str):
                raise Failure(f"{path}: line {number}: expected one JSON string")
            texts.append(value)
    return texts


def embed_with_sentence_transformers(model: str, texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model_id, revision = model, ""
    if not Path(model).is_dir():
        model_id, _, revision = model.partition("@")
    encoder = SentenceTransformer(model_id, device="cpu", revision=revision or None)
    return encoder.encode(texts, convert_to_numpy=True).astype(np.float32)


def embed_with_minilm(minilm: str, model: str, texts: list[str]) -> np.ndarray:
    """`minilm embed` on the texts, passed as JSON lines so any text (newlines too) survives."""
    with tempfile.TemporaryDirectory(prefix="st-parity-") as tmp:
        texts_file = Path(tmp) / "texts.jsonl"
        vectors_file = Path(tmp) / "vectors.npy"
        texts_file.write_text(
            "".join(json.dumps(text) + "\n" for text in texts), encoding="utf-8"
        )
        command = [
            minilm, "embed", "--model", model,
            "--input", str(texts_file), "--input-format", "jsonl",
            "--format", "npy", "--output", str(vectors_file),
        ]  # fmt: skip
        try:
            result = subprocess.run(command, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise Failure(f"cannot run {minilm}: {e}") from e
        if result.returncode != 0:
            raise Failure(f"{minilm} failed ({result.returncode}): {result.stderr.strip()}")
        return np.load(vectors_file)


def compare(expected: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row cosine (in float64) and largest absolute difference."""
    a, b = expected.astype(np.float64), actual.astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms, 1), 0.0)
    return cosine, np.abs(a - b).max(axis=1)


def preview(text: str, width: int = 60) -> str:
    """The text quoted on one line, invisible characters escaped, cut to `width`."""
    escaped = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    shown = f'"{escaped}"'
    return shown if len(shown) <= width else shown[: width - 3] + "..."


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Exit status: 0 all at or above the threshold, 1 one below, 2 a side failed.",
    )
    parser.add_argument("texts", nargs="*", help="texts to embed (or use --input)")
    parser.add_argument("--input", "-i", metavar="FILE", help="read texts from FILE ('-': stdin)")
    parser.add_argument("--input-format", choices=["text", "jsonl"], default="text")
    parser.add_argument("--model", metavar="DIR|ID", help="model directory or Hub id")
    parser.add_argument("--minilm", metavar="PATH", help="the minilm binary")
    parser.add_argument("--threshold", type=float, default=0.99999, help="lowest cosine (0.99999)")
    args = parser.parse_args()
    if bool(args.texts) == bool(args.input):
        parser.error("give texts or --input FILE (one of the two)")
    return args


def main() -> int:
    args = parse_args()
    try:
        texts = args.texts or read_texts(args.input, args.input_format)
        if not texts:
            raise Failure("no texts")
        model = resolve_model(args.model)
        minilm = find_minilm(args.minilm)
        print(f"model: {model}")
        print(
            f"sentence-transformers {version('sentence-transformers')} "
            f"(torch {version('torch')}) vs {minilm}"
        )
        actual = embed_with_minilm(minilm, model, texts)
        expected = embed_with_sentence_transformers(model, texts)
    except Failure as e:
        print(f"st_parity: {e}", file=sys.stderr)
        return 2
    if expected.shape != actual.shape:
        print(
            f"st_parity: shapes differ: sentence-transformers {expected.shape}, "
            f"minilm {actual.shape}",
            file=sys.stderr,
        )
        return 2

    cosine, max_diff = compare(expected, actual)
    print(f"\n{'#':>4}  {'cosine':>12}  {'max |diff|':>10}  text")
    for index, text in enumerate(texts):
        print(f"{index:>4}  {cosine[index]:12.9f}  {max_diff[index]:10.2e}  {preview(text)}")
    worst = int(cosine.argmin())
    print(
        f"\n{len(texts)} texts, dim {expected.shape[1]}: min cosine {cosine.min():.9f} "
        f"(#{worst}; 1 - cosine = {1 - cosine.min():.1e}), mean {cosine.mean():.9f}; "
        f"max |diff| {max_diff.max():.2e}, mean {max_diff.mean():.2e}"
    )
    if not cosine.min() >= args.threshold:  # NaN fails too
        print(f"FAIL: min cosine below {args.threshold}")
        return 1
    print(f"OK: every cosine >= {args.threshold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
