"""Reference vectors for the BERT-family models minilm supports besides all-MiniLM-L6-v2.

The real all-MiniLM-L12-v2, paraphrase-MiniLM-L3-v2, bge-small-en-v1.5 and e5-small-v2 files are
not reachable from the build machine, so each is stood in for by a model of its exact shape and
sentence-transformers configuration (layers, heads, widths, position embeddings, pooling,
normalisation, max_seq_length, lower-casing, prompts) with deterministic pseudo-random weights.
All four use the bert-base-uncased WordPiece vocabulary, so the tokenizer is all-MiniLM-L6-v2's
(same vocabulary), copied from the fetched model.

For each model this script writes tests/data/models/<name>/: the configuration files (committed)
and reference.json, the token ids and embeddings sentence-transformers computes on the model.
The weights are not committed: tests/model_family.rs writes the same ones again, because every
value is a function of the tensor's name and the element's index that both sides compute
bit-identically (see ``weights``). No file of the real models is involved, so what the tests prove
is that minilm runs each model's code path (its shape, pooling, normalisation, maximum length,
lower-casing and prompts) as sentence-transformers does.

Usage:
    python tools/gen_family_models.py [--tokenizer-from DIR] [--out DIR]

Without --tokenizer-from, tools/fetch-model.sh is run to fetch all-MiniLM-L6-v2 and print its
directory. The pinned environment is in tools/requirements-reference.txt.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from sentence_transformers import SentenceTransformer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "tests" / "data" / "models"

# The shape every one of these models shares (BERT-small: 384 wide, 12 heads, 1536 FFN).
COMMON_CONFIG = {
    "architectures": ["BertModel"],
    "model_type": "bert",
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 384,
    "initializer_range": 0.02,
    "intermediate_size": 1536,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "type_vocab_size": 2,
    "vocab_size": 30522,
}

# Each model: its Hub id, layer count, and sentence-transformers configuration as published.
MODELS = [
    {
        "name": "all-MiniLM-L12-v2",
        "hub_id": "sentence-transformers/all-MiniLM-L12-v2",
        "layers": 12,
        "max_seq_length": 128,
        "do_lower_case": False,
        "pooling": "mean",
        "normalize": True,
        "prompts": None,
    },
    {
        "name": "paraphrase-MiniLM-L3-v2",
        "hub_id": "sentence-transformers/paraphrase-MiniLM-L3-v2",
        "layers": 3,
        "max_seq_length": 128,
        "do_lower_case": False,
        "pooling": "mean",
        "normalize": False,
        "prompts": None,
    },
    {
        "name": "bge-small-en-v1.5",
        "hub_id": "BAAI/bge-small-en-v1.5",
        "layers": 12,
        "max_seq_length": 512,
        "do_lower_case": True,
        "pooling": "cls",
        "normalize": True,
        # The query instruction the model card prescribes for retrieval (passages get none).
        "prompts": {"query": "Represent this sentence for searching relevant passages: "},
    },
    {
        "name": "e5-small-v2",
        "hub_id": "intfloat/e5-small-v2",
        "layers": 12,
        "max_seq_length": 512,
        "do_lower_case": False,
        "pooling": "mean",
        "normalize": True,
        # The prefixes the model card prescribes.
        "prompts": {"query": "query: ", "passage": "passage: "},
    },
]

LONG_TEXT = " ".join(
    ["The committee met again on Thursday to discuss the budget, the schedule and the new rules."]
    * 60
)  # about 1000 word pieces: over every model's limit

TEXTS = [
    "A man is playing a guitar.",
    "A woman is slicing an onion in the kitchen.",
    "How do I bake sourdough bread at home?",
    "Stock markets fell sharply after the central bank raised interest rates.",
    "",
    "   leading and trailing spaces   ",
    "CAPITALS, Ümlauts, café, naïve, ÉCOLE and İstanbul",
    "東京は日本の首都です。",
    "emoji 🙂👍🏽 and symbols: $5.00 + 20% = ?",
    "def f(x):\n    return x * 2  # code\tand tabs",
    LONG_TEXT,
]

# Texts each named prompt is applied to.
PROMPTED_TEXTS = ["how to bake bread", "Bread is baked from flour, water and yeast."]


def fetch_tokenizer_dir() -> Path:
    out = subprocess.run(
        [str(REPO_ROOT / "tools" / "fetch-model.sh")], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip().splitlines()[-1])


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def weights(name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The value of every element of tensor ``name``; tests/model_family.rs computes the same.

    Element i is splitmix64(fnv1a64(name) + (i + 1) * 0x9E3779B97F4A7C15) reduced to 24 bits,
    u = bits / 2^24 in [0, 1), then offset + (u - 0.5) * scale in float32, with:
    LayerNorm weights 1 +- 0.125; LayerNorm biases and other biases +- 0.125 and +- 0.0625;
    embeddings +- 0.5; dense weights +- 0.0625 (fewer than 1024 inputs) or +- 0.03125.
    """
    count = int(np.prod(shape))
    index = np.arange(1, count + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name.encode())) + index * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)
    if name.endswith("LayerNorm.weight"):
        offset, scale = 1.0, 0.25
    elif name.endswith("LayerNorm.bias"):
        offset, scale = 0.0, 0.25
    elif "embeddings" in name:
        offset, scale = 0.0, 1.0
    elif name.endswith(".bias"):
        offset, scale = 0.0, 0.125
    else:
        offset, scale = 0.0, 0.125 if shape[-1] < 1024 else 0.0625
    values = np.float32(offset) + (u - np.float32(0.5)) * np.float32(scale)
    return values.astype(np.float32).reshape(shape)


def write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_reference(path: Path, reference: dict) -> None:
    """One item per line; each float32 in the shortest form that parses back to it."""

    def item_line(item: dict) -> str:
        floats = ",".join(np.format_float_positional(x, unique=True, trim="-") for x in item["embedding"])
        rest = json.dumps({k: v for k, v in item.items() if k != "embedding"}, ensure_ascii=False)
        return rest[:-1] + ', "embedding": [' + floats + "]}"

    header = json.dumps({k: v for k, v in reference.items() if k != "items"}, ensure_ascii=False)
    lines = ",\n".join(item_line(item) for item in reference["items"])
    path.write_text(header[:-1] + ', "items": [\n' + lines + "\n]}\n")


def write_config_files(spec: dict, tokenizer_dir: Path, out: Path) -> None:
    """The model's configuration files, as its Hub repository lays them out."""
    if out.exists():
        shutil.rmtree(out)
    config = dict(COMMON_CONFIG, num_hidden_layers=spec["layers"])
    write_json(out / "config.json", config)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if spec["normalize"]:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        )
    write_json(out / "modules.json", modules)
    write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": spec["max_seq_length"], "do_lower_case": spec["do_lower_case"]},
    )
    write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": 384,
            "pooling_mode_cls_token": spec["pooling"] == "cls",
            "pooling_mode_mean_tokens": spec["pooling"] == "mean",
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    if spec["prompts"] is not None:
        write_json(
            out / "config_sentence_transformers.json",
            {"prompts": spec["prompts"], "default_prompt_name": None},
        )
    tokenizer_config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    tokenizer_config["model_max_length"] = 512
    write_json(out / "tokenizer_config.json", tokenizer_config)
    shutil.copy(tokenizer_dir / "special_tokens_map.json", out / "special_tokens_map.json")


def assemble(spec: dict, config_dir: Path, tokenizer_dir: Path, model_dir: Path) -> None:
    """A loadable model directory: the configuration, the shared tokenizer, the weights."""
    shutil.copytree(config_dir, model_dir, ignore=shutil.ignore_patterns("reference.json"))
    shutil.copy(tokenizer_dir / "tokenizer.json", model_dir / "tokenizer.json")
    shutil.copy(tokenizer_dir / "vocab.txt", model_dir / "vocab.txt")
    # The tensor names and shapes are transformers' own BertModel's (pooler included, unused).
    from transformers import BertConfig, BertModel

    config = BertConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        names = {k: tuple(v.shape) for k, v in BertModel(config).state_dict().items()}
    tensors = {name: weights(name, shape) for name, shape in names.items() if name != "embeddings.position_ids"}
    save_file(tensors, str(model_dir / "model.safetensors"), metadata={"format": "pt"})


def reference(spec: dict, model_dir: Path) -> dict:
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    assert model.max_seq_length == spec["max_seq_length"], model.max_seq_length
    cases = [(None, text) for text in TEXTS]
    for prompt_name in spec["prompts"] or {}:
        cases += [(prompt_name, text) for text in PROMPTED_TEXTS]
    items = []
    for prompt_name, text in cases:
        prompt = (spec["prompts"] or {}).get(prompt_name, "") if prompt_name else ""
        with torch.no_grad():
            embedding = model.encode(
                [text], prompt_name=prompt_name, convert_to_numpy=True, batch_size=1
            )[0]
            ids = model.tokenize([prompt + text])["input_ids"][0].tolist()
        items.append(
            {
                "text": text,
                "prompt_name": prompt_name,
                "token_ids": ids,
                "embedding": embedding.astype(np.float32),
            }
        )
    return {
        "model": spec["name"],
        "stands_in_for": spec["hub_id"],
        "max_seq_length": spec["max_seq_length"],
        "dim": 384,
        "pooling": spec["pooling"],
        "normalize": spec["normalize"],
        "versions": {p: version(p) for p in ("sentence-transformers", "transformers", "torch")},
        "items": items,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer-from", type=Path, help="an all-MiniLM-L6-v2 directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    tokenizer_dir = args.tokenizer_from or fetch_tokenizer_dir()
    for spec in MODELS:
        config_dir = args.out / spec["name"]
        write_config_files(spec, tokenizer_dir, config_dir)
        with tempfile.TemporaryDirectory() as scratch:
            model_dir = Path(scratch) / spec["name"]
            assemble(spec, config_dir, tokenizer_dir, model_dir)
            write_reference(config_dir / "reference.json", reference(spec, model_dir))
        print(f"wrote {config_dir}")


if __name__ == "__main__":
    main()
