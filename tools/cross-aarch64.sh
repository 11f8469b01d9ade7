#!/usr/bin/env bash
# Cross-builds minilm (library, CLI, tests) for aarch64-unknown-linux-gnu on a Debian 12 x86-64
# machine, and with --test runs the kernel suite under qemu-user, once on a core with dotprod
# (QEMU_CPU=max) and once without (QEMU_CPU=cortex-a53, a Raspberry Pi 3/4-class core).
#
# rustup cannot download targets here, so the cross build uses Debian's packaged Rust
# (rustc-web/cargo-web from bookworm-security) with its arm64 standard library; rustup's own
# toolchain stays the default for everything else. Installs what it needs (apt, as root) on
# first use. Prints the path of the aarch64 `minilm` binary.
#
#   tools/cross-aarch64.sh            # build
#   tools/cross-aarch64.sh --test     # build, then run the kernel tests under qemu
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 libc6:arm64 gcc-aarch64-linux-gnu
          libc6-dev-arm64-cross qemu-user-static)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "cross-aarch64: installing ${missing[*]}" >&2
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

target=aarch64-unknown-linux-gnu
# Only for these invocations: Debian's compiler (cargo would otherwise run rustup's rustc from
# PATH, which has no aarch64 std), its own target directory (so the two compilers do not
# rebuild each other's host artifacts), the cross linker, and qemu as the runner. No `-L` for
# qemu: the multiarch loader and libc must match (with the cross prefix's loader, threads hang).
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
export CARGO_TARGET_DIR="$PWD/target/debian-aarch64"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

/usr/bin/cargo build --locked --release --target "$target" --features cli
binary="$CARGO_TARGET_DIR/$target/release/minilm"

if [ "${1:-}" = --test ]; then
    for cpu in max cortex-a53; do
        echo "== kernel tests under qemu, QEMU_CPU=$cpu ==" >&2
        QEMU_CPU=$cpu /usr/bin/cargo test --locked --target "$target" -p minilm-kernels
    done
fi
echo "$binary"
