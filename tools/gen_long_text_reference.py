"""Generate reference vectors for minilm's chunked long texts with sentence-transformers.

For each case (a long text, a max length, a window overlap and a window limit) this computes the
vector minilm's `LongText::Chunk` mode promises, with sentence-transformers' own modules:

* the text's word pieces, untruncated, from the model's tokenizer (no special tokens);
* W = max_length - 2; if the text has n <= W pieces it is embedded as sentence-transformers
  embeds it; otherwise windows start at 0, S, 2S, ... (S = W - overlap) up to the first start s
  with s + W >= n, at most `max_chunks` of them, and window i is ids[s : min(s + W, n)];
* each window runs as [CLS] window [SEP] through the model's Transformer and Pooling modules
  (everything before its Normalize);
* the text's vector is the mean of the window vectors weighted by their piece counts, then
  L2-normalised (all-MiniLM-L6-v2 ends in Normalize).

Texts are STS Benchmark dev sentences joined to exact piece counts (W, W + 1, 10 W, ...) with the
filler word tools/gen_reference.py uses, and multilingual edge cases joined into a long text.
Writes tests/data/long_text_reference.json.

Usage:
    python tools/gen_long_text_reference.py [--model DIR] [--out FILE]

The pinned environment is tools/requirements-reference.txt (the same as gen_reference.py's).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

from gen_reference import (
    EDGE_CASES,
    MAX_SEQ_LENGTH,
    MODEL_ID,
    MODEL_SHA256,
    REPO_ROOT,
    STSB_CSV,
    load_model,
    checked_model_dir,
    reference_args,
    read_stsb_sentences,
    text_with_token_count,
    token_counter,
    write_json,
)

DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "long_text_reference.json"
WIDTH = MAX_SEQ_LENGTH - 2

# (name, max_length, word pieces or None for the edge-case text, overlap, max_chunks)
CASES: tuple[tuple[str, int, int | None, int, int], ...] = (
    ("exactly-w", MAX_SEQ_LENGTH, WIDTH, 32, 64),
    ("w-plus-1", MAX_SEQ_LENGTH, WIDTH + 1, 32, 64),
    ("w-plus-1-overlap-0", MAX_SEQ_LENGTH, WIDTH + 1, 0, 64),
    ("ten-w", MAX_SEQ_LENGTH, 10 * WIDTH, 32, 64),
    ("ten-w-overlap-0", MAX_SEQ_LENGTH, 10 * WIDTH, 0, 64),
    ("ten-w-overlap-200", MAX_SEQ_LENGTH, 10 * WIDTH, 200, 64),
    ("ten-w-three-windows", MAX_SEQ_LENGTH, 10 * WIDTH, 32, 3),
    ("thousand-overlap-100", MAX_SEQ_LENGTH, 1000, 100, 64),
    ("max-length-64-ten-w", 64, 10 * 62, 16, 64),
    ("max-length-64-ten-w-overlap-0", 64, 10 * 62, 0, 64),
    ("edge-cases-joined", MAX_SEQ_LENGTH, None, 32, 64),
    ("edge-cases-joined-max-length-32", 32, None, 8, 64),
)


def windows(pieces: int, width: int, overlap: int, max_chunks: int) -> list[tuple[int, int]]:
    """The rule, exactly as README "Long texts" states it."""
    if pieces <= width:
        return [(0, pieces)]
    stride = width - overlap
    spans, start = [], 0
    while True:
        spans.append((start, min(start + width, pieces)))
        if start + width >= pieces or len(spans) == max_chunks:
            return spans
        start += stride


def pooled(model, ids: list[int]) -> np.ndarray:
    """[CLS] ids [SEP] through the Transformer and Pooling modules (before Normalize)."""
    tokenizer = model.tokenizer
    input_ids = torch.tensor([[tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]])
    features = {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "token_type_ids": torch.zeros_like(input_ids),
    }
    with torch.no_grad():
        features = model[0](features)
        features = model[1](features)
    return features["sentence_embedding"][0].to(torch.float64).numpy()


def chunked_vector(model, pieces: list[int], max_length: int, overlap: int, max_chunks: int):
    spans = windows(len(pieces), max_length - 2, overlap, max_chunks)
    rows = np.stack([pooled(model, pieces[s:e]) for s, e in spans])
    weights = np.array([e - s for s, e in spans], dtype=np.float64)
    mean = (rows * weights[:, None]).sum(axis=0) / weights.sum()
    return (mean / np.linalg.norm(mean)).astype(np.float32), spans


def build_cases(model) -> list[dict]:
    count_tokens = token_counter(model)
    words = " ".join(read_stsb_sentences(STSB_CSV)).split()
    edge_text = "\n".join(text for _, text in EDGE_CASES for _ in range(3))
    cases = []
    for name, max_length, pieces, overlap, max_chunks in CASES:
        text = edge_text if pieces is None else text_with_token_count(words, count_tokens, pieces + 2)
        ids = model.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)[
            "input_ids"
        ]
        if pieces is not None and len(ids) != pieces:
            raise ValueError(f"{name}: {len(ids)} word pieces, want {pieces}")
        if model[0].do_lower_case:
            raise ValueError("the model lower-cases in sentence-transformers: not handled here")
        vector, spans = chunked_vector(model, ids, max_length, overlap, max_chunks)
        if len(ids) <= max_length - 2 and max_length == MAX_SEQ_LENGTH:
            # One window is sentence-transformers' own embedding.
            own = model.encode([text], convert_to_numpy=True)[0]
            cosine = float(np.dot(own, vector) / np.linalg.norm(own) / np.linalg.norm(vector))
            if cosine < 0.999999:
                raise ValueError(f"{name}: one window differs from encode() (cosine {cosine})")
        cases.append(
            {
                "name": name,
                "text": text,
                "max_length": max_length,
                "overlap": overlap,
                "max_chunks": max_chunks,
                "word_pieces": len(ids),
                "windows": [list(span) for span in spans],
                "embedding": [float(x) for x in vector],
            }
        )
    return cases


def main() -> None:
    args = reference_args(__doc__.splitlines()[0], DEFAULT_OUT)
    model = load_model(checked_model_dir(args))
    document = {
        "model": MODEL_ID,
        "model_sha256": MODEL_SHA256,
        "generator": {
            "script": "tools/gen_long_text_reference.py",
            "sentence_transformers": version("sentence-transformers"),
            "transformers": version("transformers"),
            "torch": version("torch"),
        },
        "cases": build_cases(model),
    }
    write_json(document, args.out)
    print(f"wrote {args.out}: {len(document['cases'])} cases, {args.out.stat().st_size:,} bytes")
    for case in document["cases"]:
        print(f"  {case['name']}: {case['word_pieces']} pieces, {len(case['windows'])} windows")


if __name__ == "__main__":
    main()
