//! The f32 register tile and the store epilogue, written once for every SIMD path.
//!
//! A tile is `MR` rows x `NP` weight panels of one vector each; per step of `k` it loads `NP`
//! weight vectors, takes `MR` values of `A`, and issues `MR * NP` fused multiply-adds into
//! accumulators that stay in registers for the whole `k` block. What differs between ISAs is
//! behind [`TileVector`]: how a row's value of `A` meets a weight vector (a broadcast on x86, a
//! lane of a 4-step load on NEON), whether there is a prefetch hint, and the ISA's GELU entry.
//! Each ISA file keeps only its constants and its table of tile shapes (rows -> panels).
//!
//! Every output element is one chain `acc = fma(a[i,p], w[j,p], acc)` for `p = 0, 1, ..` from
//! zero (or from the exact partial sum of the previous `k` block), whatever the tile shape, so a
//! row's result does not depend on its tile, group or batch.

use super::blocked::{Finish, GroupJob, Store, A_CHUNK};
use crate::simd::F32Vector;

/// What the register tile needs of an ISA's vectors beyond [`F32Vector`].
///
/// # Safety
/// As [`F32Vector`]: the methods use the ISA's intrinsics and run only where the dispatch
/// detected them; pointers must be valid as each method states.
pub(crate) unsafe trait TileVector: F32Vector {
    /// Steps of `k` one [`TileVector::load_a`] covers: 1 where every value of `A` is broadcast
    /// (x86), 4 where the FMA multiplies by one lane of a loaded vector (NEON's
    /// `fmla v.4s, w.4s, a.s[lane]`, which needs no broadcast instruction at all).
    const A_STEPS: usize;
    /// Whether [`TileVector::prefetch`] does anything (stable Rust has no aarch64 prefetch).
    const HAS_PREFETCH: bool;

    /// `A_STEPS` consecutive values of one row of `A` at `src`: the value broadcast (x86), or 4
    /// floats (NEON).
    unsafe fn load_a(src: *const f32) -> Self;
    /// `acc + w * a[STEP]`, fused, for `a` from [`TileVector::load_a`] and `STEP < A_STEPS`.
    unsafe fn fma_step<const STEP: i32>(acc: Self, w: Self, a: Self) -> Self;
    /// A hint to bring the line at `ptr` into L1; `ptr` is never dereferenced (any address).
    unsafe fn prefetch(ptr: *const f32);
    /// GELU in place over `len` floats at `row` (the ISA's out-of-line entry).
    ///
    /// # Safety
    /// `row` valid for `len` reads and writes, aliased by nothing live.
    unsafe fn gelu_row(row: *mut f32, len: usize);
}

/// Bytes of each weight panel a prefetching tile requests ahead of its loads (32 cache lines):
/// see [`GroupJob::prefetch`] and `kernels/DESIGN.md`.
const PREFETCH_BYTES: usize = 2048;
/// Tiles with more panels than this (the 1-4 row tiles) already keep enough streams in flight,
/// and the extra instructions cost them when the weights sit in L2.
const PREFETCH_MAX_PANELS: usize = 4;
/// The largest tile, in floats (AVX-512's 9 x 3 x 16 = 432, 14 x 2 x 16 = 448): the size of the
/// stack copy the epilogue reads the sums from.
const MAX_TILE_FLOATS: usize = 512;

/// Runs the group's panels `NP` at a time, then one at a time.
///
/// # Safety
/// The CPU has `V`'s ISA; `job` keeps the [`GroupJob`] contract with `job.rows == MR`, and its
/// panels are `V::LANES` floats wide.
#[inline(always)]
pub(crate) unsafe fn group<V: TileVector, const MR: usize, const NP: usize>(job: &GroupJob) {
    debug_assert_eq!(job.rows, MR);
    let prefetch = V::HAS_PREFETCH && job.prefetch;
    let mut q = 0;
    // SAFETY (both loops): tiles at panels q..q+NP (resp. q) < job.panels, within the contract.
    unsafe {
        while q + NP <= job.panels {
            if prefetch {
                tile::<V, MR, NP, true>(job, q);
            } else {
                tile::<V, MR, NP, false>(job, q);
            }
            q += NP;
        }
        while q < job.panels {
            if prefetch {
                tile::<V, MR, 1, true>(job, q);
            } else {
                tile::<V, MR, 1, false>(job, q);
            }
            q += 1;
        }
    }
}

/// Rows `0..MR` against panels `q0..q0+NP` of the job, over its `k` block; with `PREFETCH`,
/// requesting [`PREFETCH_BYTES`] ahead in each panel (tiles of at most
/// [`PREFETCH_MAX_PANELS`] panels).
///
/// # Safety
/// As [`group`], with `q0 + NP <= job.panels`.
#[inline(always)]
unsafe fn tile<V: TileVector, const MR: usize, const NP: usize, const PREFETCH: bool>(
    job: &GroupJob,
    q0: usize,
) {
    const { assert!(V::A_STEPS == 1 || V::A_STEPS == 4) };
    const { assert!(MR * NP * V::LANES <= MAX_TILE_FLOATS) };
    let lanes = V::LANES;
    // SAFETY: every pointer below stays in the ranges of the GroupJob contract: rows i < MR of A
    // with p < kc (a 4-step load only while p + 4 <= kc, inside one 16-step chunk since p is a
    // multiple of 4 there); panels q0 + q < job.panels with p < kc; scratch entries of panels
    // q0 + q < job.panels for rows i < MR; the prefetch addresses are hints, never dereferenced.
    unsafe {
        let mut acc = [[V::splat(0.0); NP]; MR];
        let scratch = job.scratch.add(q0 * MR * lanes);
        if job.resume {
            for (i, row) in acc.iter_mut().enumerate() {
                for (q, sum) in row.iter_mut().enumerate() {
                    *sum = V::load(scratch.add((q * MR + i) * lanes));
                }
            }
        }

        let w = job.w.add(q0 * job.panel_stride);
        let weights = |p: usize| {
            let mut wv = [V::splat(0.0); NP];
            for (q, v) in wv.iter_mut().enumerate() {
                *v = V::load(w.add(q * job.panel_stride + p * lanes));
            }
            wv
        };
        // Step p of row i of A is at `chunk(p) + i * 16 + p % 16` (the packed chunks of 16
        // steps), so every row's value is a constant offset from one pointer.
        let a_at = |p: usize| job.a.add((p / A_CHUNK) * MR * A_CHUNK + p % A_CHUNK);
        let mut p = 0;
        if V::A_STEPS == 1 {
            while p < job.kc {
                if PREFETCH && NP <= PREFETCH_MAX_PANELS {
                    for q in 0..NP {
                        let ahead = w
                            .wrapping_add(q * job.panel_stride + p * lanes)
                            .wrapping_byte_add(PREFETCH_BYTES);
                        V::prefetch(ahead);
                    }
                }
                let a = a_at(p);
                let wv = weights(p);
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = V::load_a(a.add(i * A_CHUNK));
                    for (sum, &wq) in row.iter_mut().zip(&wv) {
                        *sum = V::fma_step::<0>(*sum, wq, av);
                    }
                }
                p += 1;
            }
        } else {
            while p + 4 <= job.kc {
                let a = a_at(p);
                let mut av = [V::splat(0.0); MR];
                for (i, v) in av.iter_mut().enumerate() {
                    *v = V::load_a(a.add(i * A_CHUNK));
                }
                step_lane::<V, MR, NP, 0>(&mut acc, &weights(p), &av);
                step_lane::<V, MR, NP, 1>(&mut acc, &weights(p + 1), &av);
                step_lane::<V, MR, NP, 2>(&mut acc, &weights(p + 2), &av);
                step_lane::<V, MR, NP, 3>(&mut acc, &weights(p + 3), &av);
                p += 4;
            }
            // The last steps of the block, fewer than 4: one value of A at a time.
            while p < job.kc {
                let a = a_at(p);
                let wv = weights(p);
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = V::splat(*a.add(i * A_CHUNK));
                    for (sum, &wq) in row.iter_mut().zip(&wv) {
                        *sum = av.mul_add(wq, *sum);
                    }
                }
                p += 1;
            }
        }

        let Store::Output {
            c,
            ldc,
            bias,
            finish,
        } = job.store
        else {
            for (i, row) in acc.iter().enumerate() {
                for (q, &sum) in row.iter().enumerate() {
                    sum.store(scratch.add((q * MR + i) * lanes));
                }
            }
            return;
        };

        // The epilogue walks the tile with run-time indices; reading the sums back from a plain
        // array keeps `acc` itself in registers through the FMA loop (indexing `acc` there made
        // the compiler keep it in memory, storing every accumulator on every step).
        let mut sums = TileSums::new();
        for (i, row) in acc.iter().enumerate() {
            for (q, &sum) in row.iter().enumerate() {
                sum.store(sums.at(MR, NP, lanes, i, q));
            }
        }
        store_tile::<V, MR, NP>(&sums, c, ldc, bias, q0 * lanes, job.cols, finish);
    }
}

/// One `k` step of lane `STEP` of the loaded values of `A`, for every row and panel.
///
/// # Safety
/// The CPU has `V`'s ISA.
#[inline(always)]
unsafe fn step_lane<V: TileVector, const MR: usize, const NP: usize, const STEP: i32>(
    acc: &mut [[V; NP]; MR],
    wv: &[V; NP],
    av: &[V; MR],
) {
    for (row, &a) in acc.iter_mut().zip(av) {
        for (sum, &wq) in row.iter_mut().zip(wv) {
            // SAFETY: the caller guarantees the ISA.
            *sum = unsafe { V::fma_step::<STEP>(*sum, wq, a) };
        }
    }
}

/// A tile's finished sums, row-major (`[row][panel][lane]`), on the stack for the epilogue; only
/// the part a tile writes is ever read.
#[repr(C, align(64))]
pub(crate) struct TileSums(std::mem::MaybeUninit<[f32; MAX_TILE_FLOATS]>);

impl TileSums {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        TileSums(std::mem::MaybeUninit::uninit())
    }

    /// Where the sums of row `i`, panel `q` of an `mr x np` tile of `lanes`-wide panels go.
    #[inline(always)]
    pub(crate) fn at(
        &mut self,
        mr: usize,
        np: usize,
        lanes: usize,
        i: usize,
        q: usize,
    ) -> *mut f32 {
        debug_assert!(i < mr && q < np && mr * np * lanes <= MAX_TILE_FLOATS);
        self.0
            .as_mut_ptr()
            .cast::<f32>()
            .wrapping_add((i * np + q) * lanes)
    }
}

/// Writes an `MR x NP`-panel tile's sums through the epilogue into `C`; shared by the f32 and the
/// int8 tiles (which arrive with dequantised sums). `c` is `C` at the tile's row 0 and the first
/// column of its panel block, `bias` the bias at that column (null for [`Finish::Plain`]),
/// `col0` the tile's first column within the block and `cols` the block's real (unpadded)
/// columns: only columns `col0..cols` are read or written. GELU runs over the tile's freshly
/// stored rows while they are hot in L1.
///
/// # Safety
/// The CPU has `V`'s ISA; every `sums.at(MR, NP, V::LANES, i, q)` was written; `c` reaches `MR`
/// rows of `ldc` floats with `cols` writable from each, and `bias` (unless Plain) `cols` floats.
#[inline(always)]
pub(crate) unsafe fn store_tile<V: TileVector, const MR: usize, const NP: usize>(
    sums: &TileSums,
    c: *mut f32,
    ldc: usize,
    bias: *const f32,
    col0: usize,
    cols: usize,
    finish: Finish,
) {
    let lanes = V::LANES;
    let sums = sums.0.as_ptr().cast::<f32>();
    // SAFETY: columns col .. col + valid (valid <= lanes, col < cols) of rows i < MR, within the
    // caller's ranges; the sums read are the ones the caller wrote.
    unsafe {
        for q in 0..NP {
            let col = col0 + q * lanes;
            if col >= cols {
                break;
            }
            let valid = cols - col;
            let full = valid >= lanes;
            let load = |src: *const f32| {
                if full {
                    V::load(src)
                } else {
                    V::load_partial(src, valid, 0.0)
                }
            };
            let b = if finish == Finish::Plain {
                V::splat(0.0)
            } else {
                load(bias.add(col))
            };
            for i in 0..MR {
                let dst = c.add(i * ldc + col);
                let sum = V::load(sums.add((i * NP + q) * lanes));
                let out = match finish {
                    Finish::Plain => sum,
                    Finish::Bias | Finish::BiasGelu => sum.add(b),
                    Finish::BiasResidual => load(dst).add(sum.add(b)),
                };
                if full {
                    out.store(dst);
                } else {
                    out.store_partial(dst, valid);
                }
            }
        }
        if finish == Finish::BiasGelu && col0 < cols {
            let width = (NP * lanes).min(cols - col0);
            for i in 0..MR {
                V::gelu_row(c.add(i * ldc + col0), width);
            }
        }
    }
}
