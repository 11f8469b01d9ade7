//! Dense products `C = A · Wᵀ` against weights known at load time, with fused epilogues.
//!
//! `W` arrives as a PyTorch `Linear` weight: `n` output rows of `k` inputs, row-major. It is
//! packed once ([`Kernels::pack_weights`]) into the layout the chosen path's microkernel wants;
//! the packed form is opaque and tied to that path.
//!
//! The SIMD paths share one blocked driver (`blocked.rs`) and differ only in their register tiles
//! (`avx512.rs`, `avx2.rs`, `neon.rs`); `kernels/DESIGN.md` explains the tile shapes and the blocking.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) mod blocked;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub(crate) mod scalar;
pub(crate) mod split;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) mod tile;

use std::ops::Range;

pub(crate) use crate::buffer::AlignedF32;
use crate::cache::CacheSizes;
use crate::{Isa, Kernels, TaskRunner};

/// The cache blocking of the large-`m` GEMM path for one register tile on one CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmBlocking {
    /// Target `k` block: a multiple of 16.
    pub kc: usize,
    /// Bytes of weights (`k x panels`) kept in L2 while a block of row groups passes over them.
    pub weight_block_bytes: usize,
    /// Bytes of packed `A` (`rows x k`) in one block of row groups.
    pub a_block_bytes: usize,
}

impl GemmBlocking {
    /// The blocking for a main tile of `tile_rows` rows on a CPU with `caches`:
    /// - weight blocks of half the L2, and `A` blocks of a quarter, so both stay in L2 together
    ///   with the scratch sums and the output rows (on a 2 MiB L2: 1 MiB and 512 KiB, the sizes
    ///   measured best on such a core; on Zen 3's 512 KiB: 256 and 128 KiB);
    /// - a `k` block whose `tile_rows x kc` slice of `A` fills a third of L1D, leaving the rest
    ///   to the weight lines streaming through and the stack, clamped to 64..=512 steps.
    pub fn derive(caches: &CacheSizes, tile_rows: usize) -> GemmBlocking {
        let kc = (caches.l1d / 3 / (4 * tile_rows.max(1))) / 16 * 16;
        GemmBlocking {
            kc: kc.clamp(64, 512),
            weight_block_bytes: caches.l2 / 2,
            a_block_bytes: caches.l2 / 4,
        }
    }

    /// The blocking every call of a tile of `tile_rows` rows uses in this process: from
    /// [`CacheSizes::detect`] (in the crate's unit tests, from the thread's override if set).
    pub(crate) fn current(tile_rows: usize) -> GemmBlocking {
        #[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
        if let Some(caches) = blocked::tests::override_caches() {
            return GemmBlocking::derive(&caches, tile_rows);
        }
        GemmBlocking::derive(&CacheSizes::detect(), tile_rows)
    }
}

/// What happens to each output element after the dot product `acc = A[i,:] · W[j,:]`.
#[derive(Clone, Copy, Debug)]
pub enum Epilogue<'a> {
    /// `C[i,j] = acc`.
    None,
    /// `C[i,j] = acc + bias[j]`.
    Bias(&'a [f32]),
    /// `C[i,j] = gelu(acc + bias[j])`, with the exact erf GELU.
    BiasGelu(&'a [f32]),
    /// `C[i,j] = C[i,j] + acc + bias[j]`: `C` holds the residual on entry.
    BiasResidual(&'a [f32]),
}

impl Epilogue<'_> {
    pub(crate) fn bias(&self) -> Option<&[f32]> {
        match self {
            Epilogue::None => None,
            Epilogue::Bias(b) | Epilogue::BiasGelu(b) | Epilogue::BiasResidual(b) => Some(b),
        }
    }
}

/// Where an internal GEMM entry writes: `c` is `C[0, 0]` of an `m x n` row-major output (`n`
/// the weight's output features), and the call writes only the columns `cols` of each row.
///
/// The contract every entry's caller keeps: `c` is valid for reads and writes of `m * n`
/// floats, and nothing else reads or writes the columns `cols` of those rows during the call
/// (other columns may be written concurrently: that is how a product is split across threads).
/// `cols.start` is a multiple of [`PackedWeights::panel_width`] and `cols.end <= n`.
#[derive(Clone)]
pub(crate) struct Output {
    pub c: *mut f32,
    pub cols: Range<usize>,
}

/// Weights packed for one kernel path. Build with [`Kernels::pack_weights`].
#[derive(Clone)]
pub struct PackedWeights {
    pub(crate) isa: Isa,
    pub(crate) n: usize,
    pub(crate) k: usize,
    /// Output columns per panel of `data` (1 when unpacked, as on the scalar path).
    pub(crate) panel: usize,
    pub(crate) data: AlignedF32,
}

impl PackedWeights {
    /// Output features (rows of the original weight).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Input features (columns of the original weight).
    pub fn k(&self) -> usize {
        self.k
    }

    /// The path the weights were packed for.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Output columns per packed panel: a column split of the product starts on a multiple.
    pub(crate) fn panel_width(&self) -> usize {
        self.panel
    }
}

impl std::fmt::Debug for PackedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedWeights")
            .field("isa", &self.isa)
            .field("n", &self.n)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

/// Packs a row-major `n x k` weight into panels of `width` output columns for the SIMD
/// microkernels: panel `q` holds columns `q*width..` as `k` steps of `width` floats
/// (`data[q*k*width + p*width + l] = weight[(q*width + l)*k + p]`), so one step of a panel is one
/// vector load; the last panel is zero-padded. With `width * 4` dividing 64 and the buffer
/// line-aligned, every vector load stays inside one cache line.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn pack_panels(
    rows: &mut dyn FnMut(usize, &mut [f32]),
    n: usize,
    k: usize,
    width: usize,
    isa: Isa,
) -> PackedWeights {
    let panel_len = k * width;
    let mut data = AlignedF32::zeroed(n.div_ceil(width) * panel_len);
    // Panel by panel: its `width` weight rows are fetched into a scratch block (small enough
    // for L2), then the panel is written in order, one line per step, while the block's rows
    // are read as parallel streams; the reverse order (each weight row in turn, scattered over
    // the panel) made loading several times slower.
    let mut block = vec![0.0; panel_len];
    for (q, panel) in data.chunks_exact_mut(panel_len.max(1)).enumerate() {
        let first = q * width;
        let count = width.min(n - first);
        for (l, row) in block.chunks_exact_mut(k.max(1)).take(count).enumerate() {
            rows(first + l, row);
        }
        for (p, step) in panel.chunks_exact_mut(width).enumerate() {
            for (l, value) in step[..count].iter_mut().enumerate() {
                *value = block[l * k + p];
            }
        }
    }
    PackedWeights {
        isa,
        n,
        k,
        panel: width,
        data,
    }
}

impl Kernels {
    /// Packs a row-major `n x k` weight (`weight[j * k + p]`) for [`Kernels::gemm`].
    ///
    /// # Panics
    /// If `weight.len() != n * k`.
    pub fn pack_weights(&self, weight: &[f32], n: usize, k: usize) -> PackedWeights {
        assert_eq!(weight.len(), n * k, "pack_weights: weight is not n x k");
        self.pack_weight_rows(n, k, &mut |j, row| {
            row.copy_from_slice(&weight[j * k..(j + 1) * k]);
        })
    }

    /// Packs an `n x k` weight whose rows come from `rows(j, row)`, which writes the `k` values
    /// of weight row `j` into `row`: for a caller converting from a file's bytes (or from f16)
    /// that should not hold an f32 copy of the whole matrix. Rows are asked for in increasing
    /// order, each once. The result is the same as [`Kernels::pack_weights`] on those rows.
    ///
    /// # Panics
    /// If `n * k` overflows `usize`.
    pub fn pack_weight_rows(
        &self,
        n: usize,
        k: usize,
        rows: &mut dyn FnMut(usize, &mut [f32]),
    ) -> PackedWeights {
        assert!(
            n.checked_mul(k).is_some(),
            "pack_weight_rows: n x k overflows"
        );
        let mut packed = (self.pack_weights)(rows, n, k);
        // Paths that share f32 kernels (with and without VNNI) share the packing; the weights
        // belong to the table that packed them.
        packed.isa = self.isa;
        packed
    }

    /// `C = epilogue(A · Wᵀ)` for `A` of `m x k` rows and `C` of `m x n`, both row-major, on the
    /// calling thread.
    ///
    /// # Panics
    /// If a slice length disagrees with `m`, `k`, `n`, or the weights were packed for another path.
    pub fn gemm(
        &self,
        a: &[f32],
        m: usize,
        w: &PackedWeights,
        epilogue: Epilogue<'_>,
        c: &mut [f32],
    ) {
        self.gemm_parallel(a, m, w, epilogue, c, &crate::Sequential);
    }

    /// [`Kernels::gemm`] spread over the threads of `runner`: row blocks when `m` is large,
    /// slices of the weight columns when it is small (each thread then streams only its share
    /// of the weights, the latency case), and one thread when the product is too small to
    /// repay a hand-off. The split never changes a result: every element is computed by the
    /// same chain of operations as in [`Kernels::gemm`], so the output is bit-identical for
    /// any thread count.
    ///
    /// # Panics
    /// As [`Kernels::gemm`].
    pub fn gemm_parallel(
        &self,
        a: &[f32],
        m: usize,
        w: &PackedWeights,
        epilogue: Epilogue<'_>,
        c: &mut [f32],
        runner: &dyn TaskRunner,
    ) {
        self.check_gemm(a, m, w, &epilogue, c);
        let (n, k) = (w.n, w.k);
        let product = split::Product {
            m,
            n,
            k,
            panel: w.panel_width(),
            min_task_ops: split::MIN_TASK_FLOPS,
        };
        let gemm = self.gemm;
        split::run(&product, c, runner, &|rows, out| {
            // SAFETY: `split::run` hands each call rows and columns of `C` that no other call
            // writes, with `out.c` at the first row, while it holds the unique borrow of `C`.
            unsafe {
                gemm(
                    &a[rows.start * k..rows.end * k],
                    rows.len(),
                    w,
                    epilogue,
                    out,
                )
            }
        });
    }

    fn check_gemm(
        &self,
        a: &[f32],
        m: usize,
        w: &PackedWeights,
        epilogue: &Epilogue<'_>,
        c: &[f32],
    ) {
        assert_eq!(
            w.isa, self.isa,
            "gemm: weights packed for another kernel path"
        );
        assert_eq!(a.len(), m * w.k, "gemm: A is not m x k");
        assert_eq!(c.len(), m * w.n, "gemm: C is not m x n");
        if let Some(bias) = epilogue.bias() {
            assert_eq!(bias.len(), w.n, "gemm: bias length is not n");
        }
    }
}
