//! Compute kernels for the minilm sentence-embedding runtime.
//!
//! The crate knows nothing about models: it offers dense matrix products with fused epilogues,
//! LayerNorm, exact-erf GELU, softmax, attention and pooling over plain `f32` slices. Every kernel
//! has a scalar reference; SIMD paths plug into the same [`Kernels`] table, chosen once at run
//! time (see [`dispatch`]), so callers never care which path runs.
//!
//! Public entry points take slices and check their lengths once, so callers stay in safe code.
//! The crate also holds the one other `unsafe` the runtime needs, a read-only file map
//! ([`mapped_file`]), so that the engine crate has none.
//!
//! ```
//! use minilm_kernels::{Epilogue, Kernels};
//!
//! let kernels = Kernels::detect()?; // the best path here, or the one MINILM_ISA forces
//! // C (2 x 3) = A (2 x 4) · Wᵀ + bias, with W given as 3 rows of 4.
//! let a = [1.0, 2.0, 3.0, 4.0, 0.5, 0.0, -1.0, 2.0];
//! let w = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
//! let packed = kernels.pack_weights(&w, 3, 4);
//! let mut c = [0.0f32; 6];
//! kernels.gemm(&a, 2, &packed, Epilogue::Bias(&[0.0, 0.0, 100.0]), &mut c);
//! assert_eq!(c, [1.0, 2.0, 110.0, 0.5, 0.0, 101.5]);
//! // Every path gives what the scalar reference gives, to rounding.
//! let scalar = Kernels::for_isa(minilm_kernels::Isa::Scalar)?;
//! let mut expected = [0.0f32; 6];
//! scalar.gemm(&a, 2, &scalar.pack_weights(&w, 3, 4), Epilogue::Bias(&[0.0, 0.0, 100.0]), &mut expected);
//! assert_eq!(c, expected);
//! # Ok::<(), minilm_kernels::IsaError>(())
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod activation;
pub mod attention;
pub mod buffer;
pub mod cache;
pub mod dispatch;
pub mod gemm;
pub mod mapped_file;
pub mod norm;
pub mod parallel;
mod peak;
pub mod pool;
pub mod qgemm;
mod simd;
pub mod softmax;
pub mod team;
pub mod workspace;

pub use buffer::AlignedF32;
pub use cache::CacheSizes;
#[cfg(target_arch = "x86_64")]
pub use dispatch::{Avx2Fma, Avx512, Avx512Vnni, AvxVnni};
pub use dispatch::{Isa, IsaError, Kernels};
#[cfg(target_arch = "aarch64")]
pub use dispatch::{Neon, NeonDotprod};
pub use gemm::{Epilogue, GemmBlocking, PackedWeights};
pub use parallel::{Sequential, TaskRunner};
pub use qgemm::QuantizedWeights;
