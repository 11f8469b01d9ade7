"""Generate golden reference data for the minilm runtime from sentence-transformers itself.

Runs the official sentence-transformers/all-MiniLM-L6-v2 model through sentence-transformers
(fp32, CPU, eval mode) and writes tests/data/reference.json:

* ``items``: for every reference text, the token ids sentence-transformers feeds the model for that
  text alone (BERT WordPiece tokenisation, truncated to 256 tokens including [CLS] and
  [SEP], no padding) and the final 384-dimensional, L2-normalised sentence embedding.
* ``hidden_states``: for three texts, the output of the BERT embedding layer and of each of its six
  transformer layers (7 arrays of T x 384), for debugging the encoder layer by layer.

The texts are real STS Benchmark sentences (tests/data/stsb/stsb-en-dev.csv, sampled evenly by
length), paragraphs assembled from them, hand-written edge cases (empty, whitespace, control
characters, many scripts, emoji, code, markup, ...) and texts of exactly 255, 256 and 257 tokens and
far over the limit. Everything is deterministic; floats are the exact float32 values.

Usage:
    python tools/gen_reference.py [--model DIR] [--out FILE]

Without --model, tools/fetch-model.sh is run to fetch and verify the model and print its directory.
The pinned environment is in tools/requirements-reference.txt.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import subprocess
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

REPO_ROOT = Path(__file__).resolve().parent.parent
FETCH_MODEL_SCRIPT = REPO_ROOT / "tools" / "fetch-model.sh"
STSB_CSV = REPO_ROOT / "tests" / "data" / "stsb" / "stsb-en-dev.csv"
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "reference.json"

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_SEQ_LENGTH = 256
DIM = 384
NUM_HIDDEN_STATES = 7  # embedding-layer output + 6 transformer layers

STSB_SAMPLE_SIZE = 112
PARAGRAPH_TOKEN_TARGETS = (60, 120, 200)
FAR_OVER_PARAGRAPHS = 4
FAR_OVER_PARAGRAPH_TOKENS = 250
BOUNDARY_TOKEN_COUNTS = (255, 256, 257)
BOUNDARY_SOURCE_SENTENCES = 60
FILLER_WORD = "and"  # always exactly one token on its own
HIDDEN_STATE_STSB_TOKEN_TARGETS = (8, 25)
HIDDEN_STATE_EDGE_CASE = "accents-cjk-mixed"

RUST_SNIPPET = """\
fn main() {
    let squares: Vec<u64> = (1..=10).map(|x| x * x).collect();
    println!("{:?}", squares);
}
"""

PYTHON_SNIPPET = """\
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
"""

MARKUP = (
    '<div class="note"><p>Hello, <b>world</b>!</p></div>\n\n'
    "# Heading\n\n"
    "- **bold** and _italic_ with a [link](https://example.com/docs)\n"
    "- `inline code` &amp; entities &lt;tag&gt;"
)

EDGE_CASES: tuple[tuple[str, str], ...] = (
    ("empty", ""),
    ("whitespace-spaces", "   "),
    ("whitespace-mixed", "\t\n  \r\n"),
    ("punctuation-only", "?!...,;:"),
    ("single-char", "x"),
    ("single-word", "tokenization"),
    ("padded", "   padded sentence   "),
    ("accents", "Crème brûlée à la française, naïve café"),
    ("accents-uppercase", "ÉCOLE ÉLÉMENTAIRE À PARIS, ÇA VA?"),
    ("accents-cjk-mixed", "Crème brûlée in 東京, naïve café."),
    ("german", "Die Größe des Straßenverkehrs überrascht übermäßig."),
    ("french", "L'hôpital où travaille Françoise est fermé à Noël."),
    ("spanish", "¿Dónde está el niño? ¡El señor García habla español!"),
    ("chinese", "北京是中国的首都，历史非常悠久。"),
    ("japanese", "東京は今日とても暑いです。カタカナとひらがなも使います。"),
    ("korean", "서울은 오늘 날씨가 정말 좋네요."),
    ("arabic", "القاهرة هي عاصمة مصر وأكبر مدنها."),
    ("hebrew", "ירושלים היא עיר עתיקה מאוד."),
    ("cyrillic", "Москва — столица России и крупнейший город страны."),
    ("greek", "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας."),
    ("hindi", "नमस्ते, आप कैसे हैं?"),
    ("thai", "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ"),
    ("mixed-scripts", "Hello 世界, привет мир, γειά σου κόσμε!"),
    ("turkish-dotted-i", "İstanbul ve Iğdır ılık."),
    ("fullwidth", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３"),
    ("ligatures", "The ﬁnal ﬂight was ﬀ ahead."),
    ("emoji-only", "😀🎉👍🏽"),
    ("emoji-sentence", "I love pizza 🍕 and coffee \u2615\ufe0f in the morning!"),
    ("emoji-zwj-flag", "\U0001f469\u200d\U0001f469\u200d\U0001f467 family \U0001f1eb\U0001f1f7"),
    ("control-tab", "tab\there"),
    ("control-nul", "nul\u0000byte"),
    ("control-bell-escape", "bell\u0007 and \u001b escape"),
    ("control-next-line", "\u0085next line"),
    ("zero-width-space", "zero\u200bwidth"),
    ("soft-hyphen", "soft\u00adhyphen"),
    ("combining-marks", "e\u0301te\u0301"),
    ("unicode-spaces", "non\u00a0breaking\u2003em\u3000ideographic\u2028line"),
    ("replacement-char", "bad \ufffd byte"),
    ("private-use", "icon \ue000 here"),
    ("long-word-300", "abcdefghijklmnopqrstuvwxyz" * 11 + "abcdefghijklmn"),
    ("mixed-case", "ThIs SeNtEnCe HaS mIxEd CaSe LeTtErS."),
    ("all-caps", "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG."),
    ("numbers-math", "3.14159 × 10^−5 ≈ 0.0000314"),
    ("numbers-money", "In 2023, 1,234,567 people paid $89.99 (≈ €82.50) each."),
    ("url-email", "See https://example.com/a/b?x=1&y=two#frag or mail jane.doe+news@example.org."),
    ("code-rust", RUST_SNIPPET),
    ("code-python", PYTHON_SNIPPET),
    ("html-markdown", MARKUP),
    ("repeated-punctuation", "Wait!!!! What????? No way...... ---- *** ???!!!"),
)

TokenCounter = Callable[[str], int]


def model_dir_from_fetch_script() -> Path:
    """Run tools/fetch-model.sh (which fetches and verifies the model) and return its directory."""
    result = subprocess.run(
        [str(FETCH_MODEL_SCRIPT)], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


def sha256_of_file(path: Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_checksum(model_dir: Path) -> None:
    """Refuse to run on anything but the official weights."""
    actual = sha256_of_file(model_dir / "model.safetensors")
    if actual != MODEL_SHA256:
        raise ValueError(f"{model_dir}/model.safetensors has sha256 {actual}, want {MODEL_SHA256}")


def load_model(model_dir: Path) -> SentenceTransformer:
    """The model in fp32 on the CPU, eval mode, with deterministic single-threaded kernels."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    if model.max_seq_length != MAX_SEQ_LENGTH:
        raise ValueError(f"unexpected max_seq_length {model.max_seq_length}")
    return model


def token_counter(model: SentenceTransformer) -> TokenCounter:
    """Counts tokens including [CLS] and [SEP], without truncation."""

    def count_tokens(text: str) -> int:
        return len(model.tokenizer(text, truncation=False, verbose=False)["input_ids"])

    return count_tokens


def read_stsb_sentences(path: Path) -> list[str]:
    """Unique sentences of the STS-B CSV (rows sentence1,sentence2,score; no header), in order."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(dict.fromkeys(text for row in csv.reader(f) for text in row[:2]))


def sample_evenly_by_length(sentences: list[str], count: int) -> list[str]:
    """`count` sentences evenly spaced over all sentences sorted by length, shortest to longest."""
    by_length = sorted(sentences, key=lambda text: (len(text), text))
    last = len(by_length) - 1
    return [by_length[round(i * last / (count - 1))] for i in range(count)]


def join_sentences_until(
    sentences: Iterator[str], count_tokens: TokenCounter, min_tokens: int
) -> str:
    """Join the next sentences from `sentences` until the text has at least `min_tokens` tokens."""
    text = next(sentences)
    while count_tokens(text) < min_tokens:
        text += " " + next(sentences)
    return text


def text_with_token_count(words: list[str], count_tokens: TokenCounter, target: int) -> str:
    """A text of exactly `target` tokens: the longest prefix of `words` that fits, topped up with
    single-token filler words."""
    length = 0
    while count_tokens(" ".join(words[: length + 1])) <= target:
        length += 1
        if length == len(words):
            raise ValueError(f"not enough words for a text of {target} tokens")
    text = " ".join(words[:length])
    while count_tokens(text) < target:
        text += " " + FILLER_WORD
    return text


def build_texts(sentences: list[str], count_tokens: TokenCounter) -> list[tuple[str, str]]:
    """The full, deterministic list of (name, text) reference items."""
    texts = [
        (f"stsb-{i:03d}", text)
        for i, text in enumerate(sample_evenly_by_length(sentences, STSB_SAMPLE_SIZE))
    ]

    stream = iter(sentences)
    for target in PARAGRAPH_TOKEN_TARGETS:
        texts.append((f"paragraph-{target}", join_sentences_until(stream, count_tokens, target)))
    far_over = "\n\n".join(
        join_sentences_until(stream, count_tokens, FAR_OVER_PARAGRAPH_TOKENS)
        for _ in range(FAR_OVER_PARAGRAPHS)
    )
    texts.append(("far-over-256", far_over))

    texts.extend(EDGE_CASES)

    words = " ".join(next(stream) for _ in range(BOUNDARY_SOURCE_SENTENCES)).split()
    for target in BOUNDARY_TOKEN_COUNTS:
        texts.append((f"tokens-{target}", text_with_token_count(words, count_tokens, target)))

    names = [name for name, _ in texts]
    if len(set(names)) != len(names):
        raise ValueError("duplicate item names")
    return texts


def token_ids_fed_to_model(model: SentenceTransformer, text: str) -> list[int]:
    """The input ids sentence-transformers' encode() builds for `text` on its own.

    `preprocess` is what encode() calls; `tokenize` is its deprecated alias since
    sentence-transformers 6.
    """
    return model.preprocess([text])["input_ids"][0].tolist()


def embed_alone(model: SentenceTransformer, text: str) -> np.ndarray:
    """The sentence embedding of `text` encoded on its own (batch of one, so no padding)."""
    embedding = model.encode(
        [text], convert_to_numpy=True, batch_size=1, normalize_embeddings=False
    )[0]
    if embedding.dtype != np.float32 or embedding.shape != (DIM,):
        raise ValueError(f"unexpected embedding {embedding.dtype} {embedding.shape}")
    return embedding


@torch.no_grad()
def bert_hidden_states(model: SentenceTransformer, text: str) -> list[np.ndarray]:
    """Per-layer hidden states (T x 384 each) of the underlying BERT for `text` on its own."""
    features = model.preprocess([text])
    input_ids = features["input_ids"]
    outputs = model[0].auto_model(
        input_ids=input_ids,
        attention_mask=features["attention_mask"],
        token_type_ids=torch.zeros_like(input_ids),
        output_hidden_states=True,
    )
    return [layer[0].numpy() for layer in outputs.hidden_states]


def check_hidden_states_match(layers: list[np.ndarray], embedding: np.ndarray, name: str) -> None:
    """The mean-pooled, normalised last layer must reproduce the item's sentence embedding."""
    pooled = layers[-1].astype(np.float64).mean(axis=0)
    pooled /= np.linalg.norm(pooled)
    if len(layers) != NUM_HIDDEN_STATES or not np.allclose(pooled, embedding, atol=1e-6):
        raise ValueError(f"hidden states of {name!r} do not reproduce its embedding")


def pick_hidden_state_items(items: list[dict]) -> list[dict]:
    """A short and a medium STS-B sentence (closest to the target token counts), and a text with
    accents and CJK characters."""
    stsb = [item for item in items if item["name"].startswith("stsb-")]
    picked = [
        min(stsb, key=lambda item: abs(len(item["token_ids"]) - target))
        for target in HIDDEN_STATE_STSB_TOKEN_TARGETS
    ]
    picked.append(next(item for item in items if item["name"] == HIDDEN_STATE_EDGE_CASE))
    return picked


def check_reference(reference: dict, count_tokens: TokenCounter) -> None:
    """Sanity checks on the generated data; raises ValueError on the first failure."""
    items = {item["name"]: item for item in reference["items"]}

    def expect(condition: bool, message: str) -> None:
        if not condition:
            raise ValueError(message)

    expect(len(items) >= 150, f"only {len(items)} items")
    expect(items["empty"]["token_ids"] == [101, 102], "empty text is not [CLS] [SEP]")
    for target in BOUNDARY_TOKEN_COUNTS:
        item = items[f"tokens-{target}"]
        expect(count_tokens(item["text"]) == target, f"tokens-{target} is not {target} tokens")
        expect(
            len(item["token_ids"]) == min(target, MAX_SEQ_LENGTH),
            f"tokens-{target} is not truncated to {MAX_SEQ_LENGTH}",
        )
    far_over = items["far-over-256"]
    expect(count_tokens(far_over["text"]) > 3 * MAX_SEQ_LENGTH, "far-over-256 is too short")
    expect(len(far_over["token_ids"]) == MAX_SEQ_LENGTH, "far-over-256 is not truncated")
    for name, item in items.items():
        ids = item["token_ids"]
        expect(ids[0] == 101 and ids[-1] == 102, f"{name}: not wrapped in [CLS] ... [SEP]")
        expect(len(ids) <= MAX_SEQ_LENGTH, f"{name}: more than {MAX_SEQ_LENGTH} tokens")
        embedding = item["embedding"]
        expect(len(embedding) == DIM, f"{name}: embedding has {len(embedding)} values")
        expect(all(math.isfinite(x) for x in embedding), f"{name}: non-finite embedding value")
        norm = math.sqrt(sum(x * x for x in embedding))
        expect(abs(norm - 1.0) < 1e-5, f"{name}: embedding norm {norm}")


def generate_reference(model: SentenceTransformer, count_tokens: TokenCounter) -> dict:
    """Run the model on every reference text and assemble the reference.json document."""
    texts = build_texts(read_stsb_sentences(STSB_CSV), count_tokens)
    embeddings = {name: embed_alone(model, text) for name, text in texts}
    items = [
        {
            "name": name,
            "text": text,
            "token_ids": token_ids_fed_to_model(model, text),
            "embedding": embeddings[name].tolist(),
        }
        for name, text in texts
    ]

    hidden_states = []
    for item in pick_hidden_state_items(items):
        layers = bert_hidden_states(model, item["text"])
        check_hidden_states_match(layers, embeddings[item["name"]], item["name"])
        hidden_states.append(
            {
                "name": item["name"],
                "text": item["text"],
                "token_ids": item["token_ids"],
                "layers": [layer.tolist() for layer in layers],
            }
        )

    return {
        "model": MODEL_ID,
        "model_sha256": MODEL_SHA256,
        "generator": "tools/gen_reference.py",
        "versions": {
            package.replace("-", "_"): version(package)
            for package in ("sentence-transformers", "transformers", "torch", "tokenizers", "numpy")
        },
        "max_seq_length": MAX_SEQ_LENGTH,
        "dim": DIM,
        "normalized": True,
        "items": items,
        "hidden_states": hidden_states,
    }


def write_json(document: dict, path: Path) -> None:
    """Compact, UTF-8 JSON; control characters in texts are escaped, floats round-trip exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        f.write("\n")


def print_summary(reference: dict, path: Path) -> None:
    """Item count, token-count range, hidden-state texts and file size."""
    token_counts = [len(item["token_ids"]) for item in reference["items"]]
    hidden = ", ".join(
        f"{entry['name']} ({len(entry['token_ids'])} tokens)"
        for entry in reference["hidden_states"]
    )
    print(f"wrote {path}")
    print(f"  items:         {len(token_counts)}")
    print(f"  token counts:  {min(token_counts)}..{max(token_counts)}")
    print(f"  hidden states: {hidden}")
    print(f"  file size:     {path.stat().st_size:,} bytes")


def reference_args(description: str, default_out: Path) -> argparse.Namespace:
    """`--model DIR` and `--out FILE`, as every reference generator in tools/ takes them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--model",
        type=Path,
        help="all-MiniLM-L6-v2 directory (default: the path printed by tools/fetch-model.sh)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out,
        help=f"output file (default: {default_out.relative_to(REPO_ROOT)})",
    )
    return parser.parse_args()


def checked_model_dir(args: argparse.Namespace) -> Path:
    """The model directory `--model` names (else the one tools/fetch-model.sh fetches), its
    model.safetensors checked against the pinned sha256."""
    model_dir = args.model or model_dir_from_fetch_script()
    verify_model_checksum(model_dir)
    return model_dir


def main() -> None:
    args = reference_args(__doc__.splitlines()[0], DEFAULT_OUT)
    model = load_model(checked_model_dir(args))
    count_tokens = token_counter(model)
    reference = generate_reference(model, count_tokens)
    check_reference(reference, count_tokens)
    write_json(reference, args.out)
    print_summary(reference, args.out)


if __name__ == "__main__":
    main()
