//! Dense products `C = A · Wᵀ` against weights known at load time, with fused epilogues.
//!
//! `W` arrives as a PyTorch `Linear` weight: `n` output rows of `k` inputs, row-major. It is
//! packed once ([`Kernels::pack_weights`]) into the layout the chosen path's microkernel wants;
//! the packed form is opaque and tied to that path.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod scalar;

use crate::{Isa, Kernels};

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
    fn bias(&self) -> Option<&[f32]> {
        match self {
            Epilogue::None => None,
            Epilogue::Bias(b) | Epilogue::BiasGelu(b) | Epilogue::BiasResidual(b) => Some(b),
        }
    }
}

/// Weights packed for one kernel path. Build with [`Kernels::pack_weights`].
#[derive(Clone)]
pub struct PackedWeights {
    pub(crate) isa: Isa,
    pub(crate) n: usize,
    pub(crate) k: usize,
    pub(crate) data: Vec<f32>,
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

impl Kernels {
    /// Packs a row-major `n x k` weight (`weight[j * k + p]`) for [`Kernels::gemm`].
    ///
    /// # Panics
    /// If `weight.len() != n * k`.
    pub fn pack_weights(&self, weight: &[f32], n: usize, k: usize) -> PackedWeights {
        assert_eq!(weight.len(), n * k, "pack_weights: weight is not n x k");
        (self.pack_weights)(weight, n, k)
    }

    /// `C = epilogue(A · Wᵀ)` for `A` of `m x k` rows and `C` of `m x n`, both row-major.
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
        assert_eq!(
            w.isa, self.isa,
            "gemm: weights packed for another kernel path"
        );
        assert_eq!(a.len(), m * w.k, "gemm: A is not m x k");
        assert_eq!(c.len(), m * w.n, "gemm: C is not m x n");
        if let Some(bias) = epilogue.bias() {
            assert_eq!(bias.len(), w.n, "gemm: bias length is not n");
        }
        (self.gemm)(a, m, w, epilogue, c)
    }
}
