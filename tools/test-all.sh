#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run calls this): checks formatting (cargo fmt)
# and lints (clippy, warnings as errors) first, fetches and verifies the model
# (cached in $MINILM_HOME, default ~/.cache/minilm), runs the whole workspace's tests on the
# detected kernel path (the kernel suite itself covers every path this CPU has), then the model
# parity and int8 suites once more on each other kernel path the CPU can run, forced with
# MINILM_ISA; then, on x86-64 Linux, cross-builds for aarch64 and runs the kernel, fp32 parity
# and int8 suites under qemu on both aarch64 paths (tools/cross-aarch64.sh --test, which
# installs its toolchain through apt on first use). In between, a fuzz smoke run: each cargo fuzz
# target for $MINILM_FUZZ_RUNS executions (default 20000) from its committed seeds
# (tools/fuzz.sh, which installs its pinned cargo-fuzz on first use).
# Model tests fail, never skip, when the model is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format and lints =="
cargo fmt --all --check
cargo clippy --workspace --all-targets --features cli -- -D warnings
# The library alone, without the Hub, server or CLI dependencies.
cargo check --no-default-features --lib

tools/fetch-model.sh >/dev/null
cargo test --workspace --features cli

echo "== fuzz smoke: model files and config parsers =="
tools/fuzz.sh

# Paths this CPU runs besides the detected (best) one, each with its own int8 kernel:
# avx512-vnni (512-bit vpdpbusd), avx512 (512-bit i16 vpmaddwd), avx-vnni (256-bit vpdpbusd),
# avx2 (256-bit i16 vpmaddwd), scalar.
has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
paths=()
if [ "$(uname -m)" = x86_64 ] && has avx2 && has fma; then
    if has avx512f && has avx512bw && has avx512vl; then
        has avx512_vnni && paths+=(avx512-vnni)
        paths+=(avx512)
    fi
    has avx_vnni && paths+=(avx-vnni)
    paths+=(avx2)
fi
if [ "$(uname -m)" = aarch64 ]; then
    grep -qw asimddp /proc/cpuinfo 2>/dev/null && paths+=(neon-dotprod)
    paths+=(neon)
fi
paths+=(scalar)
for isa in "${paths[@]:1}"; do
    echo "== parity and int8 suites on the forced $isa path =="
    # int8 sums are bit-identical on every path, so the STS-B test (3000 sentences, the longest
    # int8 test) is left to the SIMD paths: on the scalar path it alone took ~8 minutes.
    # Long texts (windows and their weighted mean) add no kernel of their own beyond what parity
    # covers, so the scalar path, where their 50 K tokens take a minute, leaves them out too.
    skip=()
    suites=(--test parity --test int8 --test model_family)
    if [ "$isa" = scalar ]; then
        skip=(--skip int8_keeps_the_sts_benchmark_score)
    else
        suites+=(--test long_text)
    fi
    MINILM_ISA=$isa cargo test --features cli "${suites[@]}" -- "${skip[@]}"
done

# On x86-64 Linux the aarch64 suites are part of "every test". They need Debian 12 (the
# packaged cross toolchain); elsewhere the script says so and fails, and
# MINILM_SKIP_AARCH64=1 runs the rest alone, saying what it left out.
if [ "$(uname -m)" = x86_64 ] && [ "$(uname -s)" = Linux ]; then
    if [ "${MINILM_SKIP_AARCH64:-}" = 1 ]; then
        echo "== aarch64 suites NOT run (MINILM_SKIP_AARCH64=1) =="
    else
        echo "== aarch64: cross build and tests under qemu =="
        tools/cross-aarch64.sh --test
    fi
fi
