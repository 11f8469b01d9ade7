#!/usr/bin/env bash
# Cross-builds minilm for aarch64-unknown-linux-gnu (ARM boards: Raspberry Pi 4/5, Jetson,
# RK3588, Graviton) on a Debian 12 x86-64 machine, and with --test proves it under qemu-user.
#
#   tools/cross-aarch64.sh            # release build of the library and the `minilm` CLI;
#                                     # prints the path of the aarch64 binary
#   tools/cross-aarch64.sh --test     # builds the aarch64 tests and runs them under qemu on
#                                     # both aarch64 kernel paths (tools/test-all.sh calls this)
#
# rustup cannot download targets here, so the cross build uses Debian's packaged Rust
# (rustc-web/cargo-web 1.96 from bookworm-security) with its arm64 standard library; rustup's
# own toolchain stays the default for everything else. Installs what it needs (apt, as root,
# once: about 310 MB download).
#
# --test runs, once per aarch64 path, each on an emulated core of its kind:
#   neon-dotprod  QEMU_CPU=max         (a core with FEAT_DotProd: Pi 5, RK3588, Graviton)
#   neon          QEMU_CPU=cortex-a53  (no dotprod: Pi 3/4-class; an sdot here would SIGILL)
# with MINILM_ISA forcing the path (so a wrong detection fails rather than passing quietly):
#   1. the kernel suite (minilm-kernels: every kernel against its f64 reference on ragged sizes,
#      int8 bit-identical to the scalar reference), on that path;
#   2. the fp32 parity suite (tests/parity.rs: token ids, embeddings and every layer's hidden
#      states against sentence-transformers), on neon-dotprod only: both paths are built from
#      the same table of f32 kernels (neon_table; they differ only in the int8 dot product), the
#      kernel suite checks those on both cores, and the int8 suite runs them end to end on both;
#   3. the int8 suite (tests/int8.rs) against sentence-transformers, on a smoothed int8 model
#      that the x86-64 host quantises first (how a board gets one: calibrating under qemu would
#      add about ten minutes per path), except the STS-B test: 3000 sentences in three
#      precisions would take hours emulated; it runs on the x86-64 SIMD paths instead;
#   4. the CLI (`minilm embed`), whose embedding must match the host's (cosine >= 0.99999).
# qemu executes; it does not model speed, so nothing here is timed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=build
case "${1:-}" in
    "") ;;
    --test) mode=test ;;
    *) echo "usage: tools/cross-aarch64.sh [--test]" >&2; exit 2 ;;
esac

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 libc6:arm64 gcc-aarch64-linux-gnu
          libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    # rustc-web 1.96 and its arm64 std come from Debian 12's security suite.
    . /etc/os-release 2>/dev/null || true
    if [ "${ID:-}" != debian ] || [ "${VERSION_ID:-}" != 12 ]; then
        echo "cross-aarch64: needs Debian 12 (bookworm) to install ${missing[*]};" \
             "this is ${PRETTY_NAME:-an unknown system}" \
             "(tools/test-all.sh: MINILM_SKIP_AARCH64=1 runs the other suites without these)" >&2
        exit 1
    fi
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "cross-aarch64: installing ${missing[*]}" >&2
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $sudo dpkg --add-architecture arm64
    fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${packages[@]}"
fi

target=aarch64-unknown-linux-gnu
host_cargo=$(command -v cargo)   # rustup's (or the machine's) cargo, for the x86-64 host steps
# Only for the cross invocations: Debian's compiler (cargo would otherwise run rustup's rustc
# from PATH, which has no aarch64 std), its own target directory (so the two compilers do not
# rebuild each other's host artifacts), the cross linker, and qemu as the runner. No `-L` for
# qemu: the multiarch loader and libc must match (with the cross prefix's loader, threads hang).
cross() {
    RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
    CARGO_TARGET_DIR="$PWD/target/debian-aarch64" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
        /usr/bin/cargo "$@"
}

if [ "$mode" = build ]; then
    cross build --locked --release --target "$target" --features cli
    echo "$PWD/target/debian-aarch64/$target/release/minilm"
    exit 0
fi

started=$SECONDS
minutes() { awk -v s=$((SECONDS - $1)) 'BEGIN { printf "%.1f min", s / 60 }'; }

# The host side: the model, the host CLI, and the int8 model the aarch64 suite loads.
tools/fetch-model.sh >/dev/null
"$host_cargo" build --locked --profile test --features cli --bin minilm
host_minilm="${CARGO_TARGET_DIR:-$PWD/target}/debug/minilm"
int8_model="$PWD/target/debian-aarch64/all-MiniLM-L6-v2-int8"
"$host_minilm" quantize --output "$int8_model" >/dev/null

step=$SECONDS
cross test --locked --target "$target" -p minilm-kernels --no-run
# cli-offline: the CLI without the Hub's HTTP/TLS stack, which the suites do not use.
cross test --locked --target "$target" --features cli-offline --test parity --test int8 --no-run
echo "== aarch64 test build: $(minutes $step) ==" >&2
aarch64_minilm="$PWD/target/debian-aarch64/$target/debug/minilm"

sentence="A man is playing a guitar."
host_embedding=$("$host_minilm" embed "$sentence") ||
    { echo "cross-aarch64: minilm embed failed on the host" >&2; exit 1; }
for run in max:neon-dotprod cortex-a53:neon; do
    cpu=${run%%:*} isa=${run#*:}
    suites=(--test int8)
    [ "$isa" = neon-dotprod ] && suites=(--test parity --test int8)
    export QEMU_CPU=$cpu MINILM_ISA=$isa
    step=$SECONDS
    echo "== kernel suite under qemu, QEMU_CPU=$cpu, path $isa ==" >&2
    cross test --locked --target "$target" -p minilm-kernels
    echo "== model suites (${suites[*]}) under qemu, QEMU_CPU=$cpu, path $isa ==" >&2
    log="$PWD/target/debian-aarch64/suites-$isa.log"
    if ! MINILM_TEST_INT8_MODEL="$int8_model" RUST_TEST_NOCAPTURE=1 \
        cross test --locked --target "$target" --features cli-offline "${suites[@]}" -- \
        --skip int8_keeps_the_sts_benchmark_score >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "cross-aarch64: the suites failed on $isa (full output: $log)" >&2
        exit 1
    fi
    # The figures (the per-layer lines stay in the log).
    grep -E "^(test |running |168 texts|aarch64-)|test result" "$log" || true
    echo "== CLI under qemu, QEMU_CPU=$cpu, path $isa ==" >&2
    got=$(qemu-aarch64-static "$aarch64_minilm" embed "$sentence") ||
        { echo "cross-aarch64: minilm embed failed under qemu on $isa" >&2; exit 1; }
    python3 - "$host_embedding" "$got" <<'EOF'
import json, math, sys
lines = [arg.splitlines() for arg in sys.argv[1:3]]
if any(len(l) != 1 for l in lines):
    sys.exit(f"expected one JSON line from each minilm embed, got {[len(l) for l in lines]}")
a, b = (json.loads(l[0]) for l in lines)
norms = math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
cos = sum(x * y for x, y in zip(a, b)) / norms if norms > 0 else 0.0
print(f"minilm embed on aarch64 vs x86-64: {len(b)} dims, cosine {cos:.9f}")
sys.exit(0 if len(a) == len(b) and cos >= 0.99999 else 1)
EOF
    echo "== QEMU_CPU=$cpu ($isa) done: $(minutes $step) ==" >&2
    unset QEMU_CPU MINILM_ISA
done
echo "== aarch64 under qemu: all passed, $(minutes $started) ==" >&2
