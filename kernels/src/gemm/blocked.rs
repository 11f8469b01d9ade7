//! The cache-blocked GEMM driver shared by the SIMD paths; each path brings its register tiles.
//!
//! Loop nest, outermost first (`kernels/DESIGN.md` has the reasoning and the measurements):
//! 1. blocks of row groups ([`GemmBlocking::a_block_bytes`] of `A`), packed once per call, so
//!    that the weights stream from L3 once per block, not once per group;
//! 2. blocks of weight panels ([`GemmBlocking::weight_block_bytes`]) that stay in L2 while every
//!    group of the row block passes over them;
//! 3. row groups of at most [`Microkernels::MAX_GROUP_ROWS`] rows — all of `A` when `m` is that
//!    small, so each weight panel is read exactly once (the latency case);
//! 4. blocks of `k` ([`GemmBlocking::kc`]), so a group's slice of packed `A` stays in L1 across
//!    the panels; partial sums wait in a small scratch buffer between blocks;
//! 5. the tiles of the group (`tile.rs`), each a register-blocked FMA loop over `kc`.
//!
//! The block sizes come from the cache sizes of the CPU the process runs on
//! ([`GemmBlocking::derive`]), not from constants: a 512 KiB-L2 core gets blocks a quarter the
//! size of a 2 MiB-L2 core's.
//!
//! `A` is packed per row group in chunks of [`A_CHUNK`] steps of `k`: the chunk holds each row's
//! 16 consecutive floats, row after row (`packed[(c * rows + i) * 16 + p % 16]` for
//! `p = 16c + ..`). Packing is then a plain copy of 64-byte row pieces, and a tile reads one
//! contiguous, line-aligned stream, broadcasting with constant offsets from one pointer.
//!
//! Every output element is one chain `acc = fma(a[i,p], w[j,p], acc)` for `p = 0, 1, .., k-1`
//! starting from zero, whatever tile or block computes it (partial sums cross the `k` blocks
//! exactly, as f32 in the scratch buffer): a row's result is bit-identical alone or in a batch.

use super::{Epilogue, GemmBlocking, Output, PackedWeights};
#[cfg(test)]
use crate::cache::CacheSizes;
use crate::workspace::Workspace;

/// What a tile does with its finished sums (the epilogue, without its slice).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// `C = acc`.
    Plain,
    /// `C = acc + bias`.
    Bias,
    /// `C = gelu(acc + bias)`.
    BiasGelu,
    /// `C = C + (acc + bias)`.
    BiasResidual,
}

/// Where a tile's sums go after its `k` block.
#[derive(Clone, Copy)]
pub(crate) enum Store {
    /// More `k` blocks follow: full panels to the scratch buffer.
    Scratch,
    /// The last `k` block: through the epilogue into `C`.
    Output {
        /// `C[row 0 of the group, first column of the panel block]`.
        c: *mut f32,
        /// Row stride of `C` (`n`).
        ldc: usize,
        /// `bias[first column of the panel block]`, or null for [`Finish::Plain`].
        bias: *const f32,
        finish: Finish,
    },
}

/// One row group against one block of weight panels over one block of `k`.
///
/// Pointer contract (the driver upholds it, the tiles rely on it):
/// - `a` starts `kc.div_ceil(16)` packed chunks of `rows * 16` floats (the last one is read
///   only for its first `kc % 16` steps);
/// - `w` starts `panels` panels `panel_stride` floats apart, each with `kc` steps of `PANEL`
///   floats;
/// - `scratch` holds `rows * panels * PANEL` floats, panel-major
///   (`scratch[(q * rows + i) * PANEL + l]`);
/// - in [`Store::Output`], `c` reaches `rows` rows of `ldc` floats with `cols` writable from
///   each, and `bias` (unless null) `cols` floats, where `cols <= panels * PANEL` counts the
///   real (unpadded) columns of the block.
pub(crate) struct GroupJob {
    pub rows: usize,
    pub a: *const f32,
    pub kc: usize,
    pub w: *const f32,
    pub panel_stride: usize,
    pub panels: usize,
    pub cols: usize,
    pub scratch: *mut f32,
    /// Start from the sums in `scratch` (a later `k` block) rather than zero.
    pub resume: bool,
    /// The group is the first of its row block to read this weight block, which therefore
    /// comes from L3 or DRAM rather than L2: the tiles prefetch it (the x86 ones; the NEON
    /// tiles leave it to the hardware prefetchers, as stable Rust has no aarch64 prefetch).
    #[cfg_attr(target_arch = "aarch64", allow(dead_code))]
    pub prefetch: bool,
    pub store: Store,
}

/// Steps of `k` per chunk of packed `A` (one cache line per row).
pub(crate) const A_CHUNK: usize = 16;

/// One ISA's register tiles, as the driver sees them.
///
/// # Safety
/// `row_group` uses the ISA's intrinsics: it may run only on a CPU with them, and only on a job
/// that keeps the [`GroupJob`] pointer contract with `rows` in `1..=MAX_GROUP_ROWS`.
pub(crate) unsafe trait Microkernels {
    /// Output columns per weight panel: one vector register.
    const PANEL: usize;
    /// Rows of the main tile, used for large `m`.
    const MR: usize;
    /// Up to this many rows run as one group (one pass over the weights).
    const MAX_GROUP_ROWS: usize;

    /// Runs every tile of the job.
    ///
    /// # Safety
    /// See the trait.
    unsafe fn row_group(job: &GroupJob);
}

/// Run `i` of `n` split into `parts` runs as even as possible (the first `n % parts` one
/// longer), as (start, length).
fn even_run(n: usize, parts: usize, i: usize) -> (usize, usize) {
    let (base, longer) = (n / parts, n % parts);
    (i * base + i.min(longer), base + usize::from(i < longer))
}

/// Packs `rows` rows of `A` (`a`, row stride `k`) for a tile: chunk `c` holds
/// `a[i][16c..16c + 16]` for each row `i` in turn (the last chunk only its `k % 16` floats).
#[inline(always)]
fn pack_rows(a: &[f32], rows: usize, k: usize, out: &mut [f32]) {
    let chunks = k / A_CHUNK;
    for i in 0..rows {
        let row = &a[i * k..(i + 1) * k];
        for c in 0..chunks {
            let src: &[f32; A_CHUNK] = row[c * A_CHUNK..][..A_CHUNK].try_into().unwrap();
            let dst: &mut [f32; A_CHUNK] = (&mut out[(c * rows + i) * A_CHUNK..][..A_CHUNK])
                .try_into()
                .unwrap();
            *dst = *src;
        }
        let tail = k - chunks * A_CHUNK;
        if tail > 0 {
            out[(chunks * rows + i) * A_CHUNK..][..tail].copy_from_slice(&row[chunks * A_CHUNK..]);
        }
    }
}

/// The columns `out.cols` of `C = epilogue(A · Wᵀ)`, blocked; lengths were checked by the public
/// wrapper, and `out.cols` starts on a panel boundary.
///
/// # Safety
/// The CPU must have `K`'s ISA, `w` must be packed in `K::PANEL`-wide panels
/// ([`super::pack_panels`]), and the caller keeps the [`Output`] contract.
#[inline(always)]
pub(crate) unsafe fn gemm<K: Microkernels>(
    a: &[f32],
    m: usize,
    w: &PackedWeights,
    epilogue: Epilogue<'_>,
    out: Output,
) {
    let (n, k) = (w.n, w.k);
    debug_assert_eq!(a.len(), m * k);
    debug_assert_eq!(w.data.len(), n.div_ceil(K::PANEL) * k * K::PANEL);
    debug_assert!(out.cols.start.is_multiple_of(K::PANEL) && out.cols.end <= n);
    if m == 0 || out.cols.is_empty() {
        return;
    }
    // The panels this call covers.
    let (panel_begin, panel_end) = (out.cols.start / K::PANEL, out.cols.end.div_ceil(K::PANEL));
    let panels = panel_end - panel_begin;
    let panel_stride = k * K::PANEL;
    let padded_k = k.div_ceil(A_CHUNK) * A_CHUNK;

    // Row groups: all of A when small, else near-equal groups of at most MR rows.
    let group_count = if m <= K::MAX_GROUP_ROWS {
        1
    } else {
        m.div_ceil(K::MR)
    };
    let max_rows = m.div_ceil(group_count);
    let blocking = GemmBlocking::current(K::MR);
    let groups_per_block =
        (blocking.a_block_bytes / (4 * max_rows * padded_k.max(1))).clamp(1, group_count);

    // k blocks (a single group keeps all of k: its A is all there is to reuse across panels).
    let k_blocks = if group_count == 1 {
        1
    } else {
        k.div_ceil(blocking.kc).max(1)
    };
    let kc = k.div_ceil(k_blocks).div_ceil(A_CHUNK) * A_CHUNK;
    let k_blocks = k.div_ceil(kc.max(1)).max(1);

    // Panel blocks: all panels for a single group (it reads each panel once anyway).
    let panel_blocks = if group_count == 1 {
        1
    } else {
        let fit = (blocking.weight_block_bytes / (4 * panel_stride.max(1))).max(1);
        panels.div_ceil(fit)
    };
    let block_panels = panels.div_ceil(panel_blocks);

    // Partial sums (only with several k blocks), then the packed rows of A, from this thread's
    // reusable workspace; the scratch length is a whole number of cache lines, so both start on
    // a line.
    let scratch_len = if k_blocks > 1 {
        (max_rows * block_panels * K::PANEL).next_multiple_of(16)
    } else {
        0
    };
    let mut workspace = Workspace::take(scratch_len + groups_per_block * max_rows * padded_k);
    let (scratch, packed_a) = workspace.split_at_mut(scratch_len);
    let finish = match epilogue {
        Epilogue::None => Finish::Plain,
        Epilogue::Bias(_) => Finish::Bias,
        Epilogue::BiasGelu(_) => Finish::BiasGelu,
        Epilogue::BiasResidual(_) => Finish::BiasResidual,
    };
    let bias = epilogue.bias().map_or(std::ptr::null(), <[f32]>::as_ptr);
    let (c, wdata, scratch) = (out.c, w.data.as_ptr(), scratch.as_mut_ptr());

    for first_group in (0..group_count).step_by(groups_per_block) {
        let row_block = first_group..(first_group + groups_per_block).min(group_count);
        let group = |g| even_run(m, group_count, g);
        // The block's groups, packed back to back: a group's rows start at
        // `(row0 - block_row0) * padded_k`.
        let block_row0 = group(first_group).0;
        for (row0, rows) in row_block.clone().map(group) {
            let out = &mut packed_a[(row0 - block_row0) * padded_k..];
            pack_rows(&a[row0 * k..(row0 + rows) * k], rows, k, out);
        }
        let packed = packed_a.as_ptr();
        for first_panel in (panel_begin..panel_end).step_by(block_panels) {
            let block_len = block_panels.min(panel_end - first_panel);
            let col0 = first_panel * K::PANEL;
            let cols = (block_len * K::PANEL).min(out.cols.end - col0);
            for (row0, rows) in row_block.clone().map(group) {
                for kb in 0..k_blocks {
                    let pc = kb * kc;
                    let last = kb + 1 == k_blocks;
                    // SAFETY: row0 + rows <= m, pc <= k (a multiple of 16 below padded_k),
                    // col0 < cols.end <= n, first_panel < n / PANEL, so every offset stays
                    // inside its buffer (or one past its end when a length is 0), and the job's
                    // ranges follow from the lengths checked by the caller, the output contract
                    // and the packing above.
                    let job = unsafe {
                        GroupJob {
                            rows,
                            a: packed.add((row0 - block_row0) * padded_k + pc * rows),
                            kc: kc.min(k - pc),
                            w: wdata.add(first_panel * panel_stride + pc * K::PANEL),
                            panel_stride,
                            panels: block_len,
                            cols,
                            scratch,
                            resume: kb > 0,
                            prefetch: row0 == block_row0,
                            store: if last {
                                Store::Output {
                                    c: c.add(row0 * n + col0),
                                    ldc: n,
                                    bias: if bias.is_null() { bias } else { bias.add(col0) },
                                    finish,
                                }
                            } else {
                                Store::Scratch
                            },
                        }
                    };
                    // SAFETY: the job keeps the pointer contract (above), rows is in
                    // 1..=MAX_GROUP_ROWS by the grouping, and the caller guarantees the ISA.
                    unsafe { K::row_group(&job) };
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::{Epilogue, Isa, Kernels};

    thread_local! {
        /// This thread's stand-in for the detected cache sizes.
        static OVERRIDE: Cell<Option<CacheSizes>> = const { Cell::new(None) };
    }

    pub(crate) fn override_caches() -> Option<CacheSizes> {
        OVERRIDE.with(Cell::get)
    }

    pub(crate) fn with_caches<T>(caches: CacheSizes, f: impl FnOnce() -> T) -> T {
        OVERRIDE.with(|o| o.set(Some(caches)));
        let out = f();
        OVERRIDE.with(|o| o.set(None));
        out
    }

    #[test]
    fn blocking_follows_the_caches() {
        let xeon = CacheSizes {
            l1d: 48 << 10,
            l2: 2 << 20,
            l3: 0,
            source: "test",
        };
        let zen3 = CacheSizes {
            l1d: 32 << 10,
            l2: 512 << 10,
            ..xeon
        };
        let b = GemmBlocking::derive(&xeon, 14);
        assert_eq!(
            (b.weight_block_bytes, b.a_block_bytes),
            (1 << 20, 512 << 10)
        );
        assert_eq!(b.kc, 288);
        let b = GemmBlocking::derive(&zen3, 6);
        assert_eq!(
            (b.weight_block_bytes, b.a_block_bytes),
            (256 << 10, 128 << 10)
        );
        assert_eq!(b.kc, 448);
        assert!(b.kc.is_multiple_of(A_CHUNK));
        // Tiny caches still give a usable block.
        let tiny = CacheSizes {
            l1d: 4 << 10,
            l2: 4 << 10,
            ..xeon
        };
        assert_eq!(GemmBlocking::derive(&tiny, 14).kc, 64);
    }

    /// Blocks of any size leave every output bit as it is: the chains cross the `k` blocks as
    /// exact f32 sums, and the row and panel blocks only reorder whole chains.
    #[test]
    fn results_do_not_depend_on_the_cache_sizes() {
        let (m, n, k) = (203, 77, 1000);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 31.0)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 29.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 / 7.0 - 5.0).collect();
        let caches = [
            (4 << 10, 4 << 10),
            (16 << 10, 64 << 10),
            (32 << 10, 512 << 10),
            (48 << 10, 2 << 20),
            (1 << 20, 64 << 20),
        ];
        for kernels in Kernels::available() {
            if kernels.isa() == Isa::Scalar {
                continue;
            }
            let packed = kernels.pack_weights(&w, n, k);
            let run = |l1d: usize, l2: usize| {
                let sizes = CacheSizes {
                    l1d,
                    l2,
                    l3: 0,
                    source: "test",
                };
                with_caches(sizes, || {
                    let mut c = vec![0.0f32; m * n];
                    kernels.gemm(&a, m, &packed, Epilogue::BiasGelu(&bias), &mut c);
                    c
                })
            };
            let reference = run(caches[0].0, caches[0].1);
            for &(l1d, l2) in &caches[1..] {
                let c = run(l1d, l2);
                let same = c
                    .iter()
                    .zip(&reference)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same,
                    "{}: L1d {l1d}, L2 {l2} changed the result",
                    kernels.name()
                );
            }
        }
    }
}
