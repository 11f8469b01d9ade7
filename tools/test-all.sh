#!/usr/bin/env bash
# Every test of the project, as CI runs it (.ci/run calls this): fetches and verifies the model
# (cached in $MINILM_HOME, default ~/.cache/minilm), then runs the whole workspace's tests,
# the CLI's included. Model tests fail, never skip, when the model is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/fetch-model.sh >/dev/null
cargo test --workspace --features cli
