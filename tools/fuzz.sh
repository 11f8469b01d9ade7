#!/usr/bin/env bash
# Fuzz the model-file loader and the configuration parsers with cargo fuzz (libFuzzer).
#
#   tools/fuzz.sh                       # smoke: every target for $MINILM_FUZZ_RUNS executions
#   tools/fuzz.sh model_files 2000000   # one target for that many executions
#
# Targets (tests/fuzz/fuzz_targets): model_files (config.json + model.safetensors, then load and
# embed) and model_config (config.json, sentence_bert_config.json, tokenizer_config.json,
# modules.json, 1_Pooling/config.json). Each starts from its committed seeds in
# tests/fuzz/seeds/<target>; new inputs go to $CARGO_TARGET_DIR/fuzz/corpus/<target>, findings
# to tests/fuzz/artifacts/<target> (the run then fails and prints how to reproduce).
#
# The machine's one toolchain is stable, so the default build has no sanitizer
# (`--sanitizer none`: coverage-guided, panics and aborts are findings; the only unsafe code is
# in kernels/, whose kernels have their own randomized tests against scalar references). With a
# nightly toolchain installed, MINILM_FUZZ_SANITIZER=address adds AddressSanitizer, with leak
# detection off: libFuzzer's per-input leak check races with the asynchronous exit of a dropped
# embedder's pool threads, and reports a thread's kernel workspace (freed by its thread-local
# destructor as the thread exits) as leaked.
# Every run has debug assertions and overflow checks on, a fixed seed (MINILM_FUZZ_SEED, default
# 1) so a smoke run is repeatable, a 10 s limit per input and a 1 GiB RSS limit.
#
# cargo-fuzz (pinned) is installed from crates.io into $MINILM_HOME/tools on first use.
set -euo pipefail

CARGO_FUZZ_VERSION="0.13.2"
root="$(cd "$(dirname "$0")/.." && pwd)"
home="${MINILM_HOME:-$HOME/.cache/minilm}"
tools="$home/tools/cargo-fuzz-$CARGO_FUZZ_VERSION"
target_dir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
runs="${MINILM_FUZZ_RUNS:-20000}"
sanitizer="${MINILM_FUZZ_SANITIZER:-none}"
log() { printf 'fuzz: %s\n' "$*" >&2; }

if [[ ! -x "$tools/bin/cargo-fuzz" ]]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$tools" --quiet
fi
export PATH="$tools/bin:$PATH"
toolchain=()
sanitizer_flags=()
if [[ "$sanitizer" != none ]]; then
  toolchain=(+nightly)
  sanitizer_flags=(-detect_leaks=0)
fi

targets=(model_files model_config)
if [[ $# -ge 1 ]]; then
  targets=("$1")
  runs="${2:-$runs}"
fi

cd "$root"
for target in "${targets[@]}"; do
  corpus="$target_dir/corpus/$target"
  mkdir -p "$corpus" "tests/fuzz/artifacts/$target"
  log "$target: $runs executions from tests/fuzz/seeds/$target (sanitizer: $sanitizer)"
  start=$SECONDS
  set +e
  cargo "${toolchain[@]}" fuzz run --fuzz-dir tests/fuzz --sanitizer "$sanitizer" \
    --debug-assertions --target-dir "$target_dir/build-$sanitizer" "$target" \
    "$corpus" "tests/fuzz/seeds/$target" -- \
    -runs="$runs" -seed="${MINILM_FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 "${sanitizer_flags[@]}" 2>&1 | grep -E '^(#[0-9]+\s+(INITED|DONE)|stat::number_of_executed_units|stat::peak_rss_mb|==|ERROR|SUMMARY|thread .* panicked|Failing input|Reproduce with|\s+cargo fuzz|error)'
  status=${PIPESTATUS[0]}
  set -e
  if [[ $status -ne 0 ]]; then
    log "$target: FAILED (exit $status); the input is in tests/fuzz/artifacts/$target"
    exit "$status"
  fi
  log "$target: clean after $runs executions in $((SECONDS - start)) s (build included)"
done
