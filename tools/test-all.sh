#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run calls this): fetches and verifies the model
# (cached in $MINILM_HOME, default ~/.cache/minilm), runs the whole workspace's tests on the
# detected kernel path (the kernel suite itself covers every path this CPU has), then the model
# parity suite once more on each other kernel path the CPU can run, forced with MINILM_ISA.
# Model tests fail, never skip, when the model is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/fetch-model.sh >/dev/null
cargo test --workspace --features cli

# Paths this CPU runs besides the detected (best) one.
has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
others=(scalar)
if [ "$(uname -m)" = x86_64 ] && has avx2 && has fma; then
    if has avx512f && has avx512bw && has avx512vl; then
        others+=(avx2)
    fi
fi
for isa in "${others[@]}"; do
    echo "== parity suite on the forced $isa path =="
    MINILM_ISA=$isa cargo test --features cli --test parity
done
