//! The machine's fused multiply-add peak on a kernel path: what GEMM figures are a percentage
//! of. A register-only loop of independent FMA chains (enough to cover the FMA latency on two
//! ports), timed by the caller.

use std::time::{Duration, Instant};

use crate::simd::F32Vector;
use crate::Kernels;

/// Independent accumulator chains: 4-cycle latency x 2 FMA ports needs 8; 12 leaves margin.
const CHAINS: usize = 12;

/// FMA steps per call of the loop (each step issues `CHAINS` vector FMAs).
const STEPS: usize = 1 << 16;

/// `STEPS` rounds of `CHAINS` FMAs on vectors of `V`; the sum goes to `sink` so the loop stays.
///
/// # Safety
/// The CPU must have `V`'s ISA.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
pub(crate) unsafe fn fma_loop<V: F32Vector>(sink: &mut f32) {
    // SAFETY: register-only arithmetic; the caller guarantees the ISA.
    unsafe {
        let (a, b) = (V::splat(1.000_000_1), V::splat(0.999_999_9));
        let mut acc = [V::splat(0.0); CHAINS];
        for _ in 0..STEPS {
            for chain in acc.iter_mut() {
                *chain = chain.mul_add(a, b);
            }
        }
        let mut total = V::splat(0.0);
        for chain in acc {
            total = total.add(chain);
        }
        *sink += total.reduce_sum();
    }
}

/// The portable loop: scalar FMAs (`mul_add`), `CHAINS` chains.
pub(crate) fn scalar_fma_loop(sink: &mut f32) {
    let mut acc = [0.0f32; CHAINS];
    for _ in 0..STEPS {
        for chain in acc.iter_mut() {
            *chain = chain.mul_add(1.000_000_1, 0.999_999_9);
        }
    }
    *sink += acc.iter().sum::<f32>();
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2 {
    use crate::simd::avx2::Avx2F32;
    use crate::simd::isa_entries;

    isa_entries! { "avx2,fma", Avx2F32;
        fn fma_loop(sink: &mut f32) => super::fma_loop;
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use crate::simd::avx512::Avx512F32;
    use crate::simd::isa_entries;

    isa_entries! { "avx512f,avx512bw,avx512vl,avx2,fma", Avx512F32;
        fn fma_loop(sink: &mut f32) => super::fma_loop;
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) mod neon {
    use crate::simd::isa_entries;
    use crate::simd::neon::NeonF32;

    isa_entries! { "neon", NeonF32;
        fn fma_loop(sink: &mut f32) => super::fma_loop;
    }
}

impl Kernels {
    /// This path's FMA peak on the calling thread, in GFLOP/s (two per FMA lane): the best of
    /// repeated short runs over about `duration`. On a shared host it varies with the host's
    /// load, so benches report it beside the figures it scales.
    pub fn fma_peak_gflops(&self, duration: Duration) -> f64 {
        let lanes = match self.isa {
            crate::Isa::Avx512 | crate::Isa::Avx512Vnni => 16,
            crate::Isa::Avx2 | crate::Isa::AvxVnni => 8,
            crate::Isa::Neon | crate::Isa::NeonDotprod => 4,
            _ => 1,
        };
        let flops = (2 * lanes * CHAINS * STEPS) as f64;
        let mut sink = 0.0f32;
        (self.fma_loop)(&mut sink);
        let (start, mut best) = (Instant::now(), f64::MAX);
        while start.elapsed() < duration || best == f64::MAX {
            let t = Instant::now();
            (self.fma_loop)(&mut sink);
            best = best.min(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(sink);
        flops / best / 1e9
    }
}
