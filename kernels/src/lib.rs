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
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod activation;
pub mod attention;
pub mod buffer;
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
pub mod workspace;

pub use buffer::AlignedF32;
#[cfg(target_arch = "x86_64")]
pub use dispatch::{Avx2Fma, Avx512, Avx512Vnni, AvxVnni};
pub use dispatch::{Isa, IsaError, Kernels};
#[cfg(target_arch = "aarch64")]
pub use dispatch::{Neon, NeonDotprod};
pub use gemm::{Epilogue, PackedWeights};
pub use parallel::{Sequential, TaskRunner};
pub use qgemm::QuantizedWeights;
