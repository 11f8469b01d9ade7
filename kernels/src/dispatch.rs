//! Run-time selection of the kernel path.
//!
//! A [`Kernels`] value is a table of function pointers for one instruction-set path. It is
//! resolved once per process ([`Kernels::detect`]), or on request for one path
//! ([`Kernels::for_isa`]); an unsupported request is an error, never a silent fallback. The
//! environment variable `MINILM_ISA` forces the detected path; [`Isa::names`] lists its values.

use std::fmt;
use std::sync::OnceLock;

use crate::qgemm::{self, QgemmFn};
use crate::{activation, attention, gemm, norm, peak, pool, softmax};

/// An instruction-set path a kernel table can be built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Portable Rust, the reference every other path is tested against.
    Scalar,
    /// x86-64 AVX2 + FMA (int8 by widening to i16).
    Avx2,
    /// x86-64 AVX2 + FMA with AVX-VNNI (256-bit `vpdpbusd` for int8).
    AvxVnni,
    /// x86-64 AVX-512 F/BW/VL (int8 on the AVX2 widening kernels).
    Avx512,
    /// x86-64 AVX-512 F/BW/VL with AVX-512 VNNI (512-bit `vpdpbusd` for int8).
    Avx512Vnni,
    /// aarch64 Advanced SIMD (int8 by widening to i16: Cortex-A53/A72 class cores).
    Neon,
    /// aarch64 Advanced SIMD with the dot-product extension (FEAT_DotProd, `sdot` for int8).
    NeonDotprod,
}

impl Isa {
    /// Every path, in order of preference (best first) for detection.
    pub const ALL: [Isa; 7] = [
        Isa::Avx512Vnni,
        Isa::Avx512,
        Isa::AvxVnni,
        Isa::Avx2,
        Isa::NeonDotprod,
        Isa::Neon,
        Isa::Scalar,
    ];

    /// The short name used by `MINILM_ISA` (`scalar`, `avx2`, `avx-vnni`, `avx512`,
    /// `avx512-vnni`, `neon`, `neon-dotprod`).
    ///
    /// ```
    /// use minilm_kernels::Isa;
    /// assert_eq!(Isa::Scalar.name(), "scalar");
    /// assert_eq!(Isa::from_name("avx512-vnni")?, Isa::Avx512Vnni);
    /// assert!(Isa::from_name("sse9").is_err());
    /// assert!(Isa::Scalar.is_available()); // everywhere
    /// # Ok::<(), minilm_kernels::IsaError>(())
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avx-vnni",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Neon => "neon",
            Isa::NeonDotprod => "neon-dotprod",
        }
    }

    /// Every `MINILM_ISA` value, best first (the order of [`Isa::ALL`]), joined with `|`: the one
    /// list the error for an unknown name, the CLI's help and the README show.
    ///
    /// ```
    /// use minilm_kernels::Isa;
    /// assert_eq!(
    ///     Isa::names(),
    ///     "avx512-vnni|avx512|avx-vnni|avx2|neon-dotprod|neon|scalar"
    /// );
    /// ```
    pub fn names() -> String {
        Isa::ALL.map(Isa::name).join("|")
    }

    /// Parses a `MINILM_ISA` value.
    pub fn from_name(name: &str) -> Result<Isa, IsaError> {
        let wanted = name.trim().to_ascii_lowercase();
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name() == wanted)
            .ok_or_else(|| IsaError::UnknownName(name.to_owned()))
    }

    /// Whether this build has kernels for the path and the running CPU can execute them.
    pub fn is_available(self) -> bool {
        Kernels::for_isa(self).is_ok()
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a kernel path could not be selected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsaError {
    /// `MINILM_ISA` (or a caller) named a path that does not exist.
    UnknownName(String),
    /// The path exists but this build or this CPU cannot run it.
    Unavailable(Isa),
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsaError::UnknownName(name) => write!(
                f,
                "unknown kernel path {name:?} (expected one of: {})",
                Isa::names()
            ),
            IsaError::Unavailable(isa) => {
                write!(f, "kernel path {isa} is not available on this CPU or build")
            }
        }
    }
}

impl std::error::Error for IsaError {}

/// A GEMM entry: the columns `Output::cols` of `C = epilogue(A · Wᵀ)`.
///
/// Unsafe to call: the caller keeps the [`gemm::Output`] contract.
pub(crate) type GemmFn = unsafe fn(&[f32], usize, &gemm::PackedWeights, Epilogue<'_>, gemm::Output);
pub(crate) type RowsFn = fn(&mut [f32], &[f32], &[f32], f32);
/// Packs `n x k` weights whose rows come from a callback (see [`Kernels::pack_weight_rows`]).
pub(crate) type PackFn = fn(&mut dyn FnMut(usize, &mut [f32]), usize, usize) -> gemm::PackedWeights;
use crate::gemm::Epilogue;

/// A table of kernels for one instruction-set path. Cheap to copy; obtain one through
/// [`Kernels::detect`] or [`Kernels::for_isa`].
#[derive(Clone, Copy)]
pub struct Kernels {
    pub(crate) isa: Isa,
    pub(crate) pack_weights: PackFn,
    pub(crate) gemm: GemmFn,
    /// Rows and columns of the f32 GEMM's main (large-`m`) register tile.
    pub(crate) gemm_tile: (usize, usize),
    /// Output columns per panel of this path's int8 weights.
    pub(crate) int8_panel: usize,
    /// Whether this path's int8 weights are packed widened to i16 (the `vpmaddwd` kernels).
    pub(crate) int8_widened: bool,
    pub(crate) qgemm: QgemmFn,
    pub(crate) layernorm: RowsFn,
    pub(crate) gelu: fn(&mut [f32]),
    pub(crate) fma_loop: fn(&mut f32),
    pub(crate) softmax: fn(&mut [f32], f32),
    pub(crate) attention: attention::AttentionFn,
    pub(crate) mean_pool: fn(&[f32], usize, &mut [f32]),
    pub(crate) max_pool: fn(&[f32], usize, &mut [f32]),
    pub(crate) l2_normalize: fn(&mut [f32]),
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernels")
            .field("isa", &self.isa)
            .finish_non_exhaustive()
    }
}

static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    pack_weights: gemm::scalar::pack_weights,
    gemm: gemm::scalar::gemm,
    gemm_tile: (1, 1),
    int8_panel: qgemm::scalar::PANEL,
    int8_widened: false,
    qgemm: qgemm::scalar::qgemm,
    layernorm: norm::scalar::layernorm,
    gelu: activation::scalar::gelu,
    fma_loop: peak::scalar_fma_loop,
    softmax: softmax::scalar::softmax,
    attention: attention::scalar::attention,
    mean_pool: pool::scalar::mean_pool,
    max_pool: pool::scalar::max_pool,
    l2_normalize: pool::scalar::l2_normalize,
};

/// Proof that the CPU runs AVX2 and FMA: only [`Avx2Fma::detect`] builds one, and only the
/// proof hands out the AVX2 kernel table, whose entry points rely on those features.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx2Fma(());

#[cfg(target_arch = "x86_64")]
impl Avx2Fma {
    /// The proof, if this CPU has AVX2 and FMA.
    pub fn detect() -> Option<Avx2Fma> {
        (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Avx2Fma(()))
    }

    /// The AVX2 + FMA kernels.
    pub fn kernels(self) -> &'static Kernels {
        static AVX2: Kernels = avx2_table(Isa::Avx2, qgemm::avx2::PANEL, true, qgemm::avx2::qgemm);
        &AVX2
    }
}

/// The AVX2 f32 kernels with the given int8 kernel.
#[cfg(target_arch = "x86_64")]
const fn avx2_table(isa: Isa, int8_panel: usize, int8_widened: bool, qgemm: QgemmFn) -> Kernels {
    Kernels {
        isa,
        pack_weights: gemm::avx2::pack_weights,
        gemm: gemm::avx2::gemm,
        gemm_tile: gemm::avx2::MAIN_TILE,
        int8_panel,
        int8_widened,
        qgemm,
        layernorm: norm::avx2::layernorm,
        gelu: activation::avx2::gelu,
        fma_loop: peak::avx2::fma_loop,
        softmax: softmax::avx2::softmax,
        attention: attention::avx2::attention,
        mean_pool: pool::avx2::mean_pool,
        max_pool: pool::avx2::max_pool,
        l2_normalize: pool::avx2::l2_normalize,
    }
}

/// Proof that the CPU runs AVX2, FMA and AVX-VNNI.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct AvxVnni(());

#[cfg(target_arch = "x86_64")]
impl AvxVnni {
    /// The proof, if this CPU has AVX2, FMA and AVX-VNNI.
    pub fn detect() -> Option<AvxVnni> {
        (Avx2Fma::detect().is_some() && is_x86_feature_detected!("avxvnni")).then_some(AvxVnni(()))
    }

    /// The AVX2 kernels with AVX-VNNI int8.
    pub fn kernels(self) -> &'static Kernels {
        static AVX_VNNI: Kernels = avx2_table(
            Isa::AvxVnni,
            qgemm::avx2::PANEL,
            false,
            qgemm::avx2::qgemm_vnni,
        );
        &AVX_VNNI
    }
}

/// Proof that the CPU runs AVX-512 F, BW and VL (and AVX2 + FMA, which every such CPU has):
/// only [`Avx512::detect`] builds one, and only the proof hands out the AVX-512 kernel table.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// The proof, if this CPU has AVX-512 F/BW/VL, AVX2 and FMA.
    pub fn detect() -> Option<Avx512> {
        let all = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma");
        all.then_some(Avx512(()))
    }

    /// The AVX-512 kernels (int8 in i16: AVX-512 without VNNI).
    pub fn kernels(self) -> &'static Kernels {
        static AVX512: Kernels = avx512_table(
            Isa::Avx512,
            qgemm::avx512::PANEL,
            true,
            qgemm::avx512::qgemm_i16,
        );
        &AVX512
    }
}

/// The AVX-512 f32 kernels with the given int8 kernel.
#[cfg(target_arch = "x86_64")]
const fn avx512_table(isa: Isa, int8_panel: usize, int8_widened: bool, qgemm: QgemmFn) -> Kernels {
    Kernels {
        isa,
        pack_weights: gemm::avx512::pack_weights,
        gemm: gemm::avx512::gemm,
        gemm_tile: gemm::avx512::MAIN_TILE,
        int8_panel,
        int8_widened,
        qgemm,
        layernorm: norm::avx512::layernorm,
        gelu: activation::avx512::gelu,
        fma_loop: peak::avx512::fma_loop,
        softmax: softmax::avx512::softmax,
        attention: attention::avx512::attention,
        mean_pool: pool::avx512::mean_pool,
        max_pool: pool::avx512::max_pool,
        l2_normalize: pool::avx512::l2_normalize,
    }
}

/// Proof that the CPU runs AVX-512 F/BW/VL and AVX-512 VNNI (and AVX2 + FMA).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub struct Avx512Vnni(());

#[cfg(target_arch = "x86_64")]
impl Avx512Vnni {
    /// The proof, if this CPU has AVX-512 F/BW/VL, AVX-512 VNNI, AVX2 and FMA.
    pub fn detect() -> Option<Avx512Vnni> {
        (Avx512::detect().is_some() && is_x86_feature_detected!("avx512vnni"))
            .then_some(Avx512Vnni(()))
    }

    /// The AVX-512 kernels with AVX-512 VNNI int8.
    pub fn kernels(self) -> &'static Kernels {
        static AVX512_VNNI: Kernels = avx512_table(
            Isa::Avx512Vnni,
            qgemm::avx512::PANEL,
            false,
            qgemm::avx512::qgemm,
        );
        &AVX512_VNNI
    }
}

/// Proof that the CPU runs aarch64 Advanced SIMD (NEON): only [`Neon::detect`] builds one, and
/// only the proof hands out the NEON kernel table.
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy, Debug)]
pub struct Neon(());

#[cfg(target_arch = "aarch64")]
impl Neon {
    /// The proof, if this CPU has NEON (every aarch64 Linux system does).
    pub fn detect() -> Option<Neon> {
        std::arch::is_aarch64_feature_detected!("neon").then_some(Neon(()))
    }

    /// The NEON kernels (int8 by widening).
    pub fn kernels(self) -> &'static Kernels {
        static NEON: Kernels = neon_table(Isa::Neon, qgemm::neon::qgemm);
        &NEON
    }
}

/// Proof that the CPU runs NEON with the dot-product extension (FEAT_DotProd).
#[cfg(target_arch = "aarch64")]
#[derive(Clone, Copy, Debug)]
pub struct NeonDotprod(());

#[cfg(target_arch = "aarch64")]
impl NeonDotprod {
    /// The proof, if this CPU has NEON and FEAT_DotProd.
    pub fn detect() -> Option<NeonDotprod> {
        (Neon::detect().is_some() && std::arch::is_aarch64_feature_detected!("dotprod"))
            .then_some(NeonDotprod(()))
    }

    /// The NEON kernels with `sdot` int8.
    pub fn kernels(self) -> &'static Kernels {
        static NEON_DOTPROD: Kernels = neon_table(Isa::NeonDotprod, qgemm::neon::qgemm_dotprod);
        &NEON_DOTPROD
    }
}

/// The NEON f32 kernels with the given int8 kernel.
#[cfg(target_arch = "aarch64")]
const fn neon_table(isa: Isa, qgemm: QgemmFn) -> Kernels {
    Kernels {
        isa,
        pack_weights: gemm::neon::pack_weights,
        gemm: gemm::neon::gemm,
        gemm_tile: gemm::neon::MAIN_TILE,
        int8_panel: qgemm::neon::PANEL,
        int8_widened: false,
        qgemm,
        layernorm: norm::neon::layernorm,
        gelu: activation::neon::gelu,
        fma_loop: peak::neon::fma_loop,
        softmax: softmax::neon::softmax,
        attention: attention::neon::attention,
        mean_pool: pool::neon::mean_pool,
        max_pool: pool::neon::max_pool,
        l2_normalize: pool::neon::l2_normalize,
    }
}

impl Kernels {
    /// The kernels for `isa`, or an error if this build or CPU cannot run that path.
    ///
    /// ```
    /// use minilm_kernels::{Isa, Kernels};
    /// let scalar = Kernels::for_isa(Isa::Scalar)?;
    /// assert_eq!(scalar.isa(), Isa::Scalar);
    /// // Every available path, the detected one among them.
    /// let detected = Kernels::detect()?;
    /// assert!(Kernels::available().iter().any(|k| k.isa() == detected.isa()));
    /// println!("{}", detected.name()); // e.g. x86_64-f32-avx512-vnni
    /// # Ok::<(), minilm_kernels::IsaError>(())
    /// ```
    pub fn for_isa(isa: Isa) -> Result<&'static Kernels, IsaError> {
        let unavailable = || IsaError::Unavailable(isa);
        match isa {
            Isa::Scalar => Ok(&SCALAR),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Avx2Fma::detect()
                .map(Avx2Fma::kernels)
                .ok_or_else(unavailable),
            #[cfg(target_arch = "x86_64")]
            Isa::AvxVnni => AvxVnni::detect()
                .map(AvxVnni::kernels)
                .ok_or_else(unavailable),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Avx512::detect()
                .map(Avx512::kernels)
                .ok_or_else(unavailable),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => Avx512Vnni::detect()
                .map(Avx512Vnni::kernels)
                .ok_or_else(unavailable),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => Neon::detect().map(Neon::kernels).ok_or_else(unavailable),
            #[cfg(target_arch = "aarch64")]
            Isa::NeonDotprod => NeonDotprod::detect()
                .map(NeonDotprod::kernels)
                .ok_or_else(unavailable),
            _ => Err(unavailable()),
        }
    }

    /// The best path for this CPU, or the one `MINILM_ISA` forces. Resolved once per process.
    pub fn detect() -> Result<&'static Kernels, IsaError> {
        static CHOSEN: OnceLock<Result<&'static Kernels, IsaError>> = OnceLock::new();
        CHOSEN
            .get_or_init(|| match std::env::var("MINILM_ISA") {
                Ok(name) if !name.trim().is_empty() => Kernels::for_isa(Isa::from_name(&name)?),
                _ => {
                    let best = Isa::ALL.into_iter().find(|isa| isa.is_available());
                    Kernels::for_isa(best.unwrap_or(Isa::Scalar))
                }
            })
            .clone()
    }

    /// Every path this build and CPU can run (for tests and benches).
    pub fn available() -> Vec<&'static Kernels> {
        Isa::ALL
            .into_iter()
            .filter_map(|isa| Kernels::for_isa(isa).ok())
            .collect()
    }

    /// The path these kernels belong to.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Rows and columns of the f32 GEMM's main register tile (the large-`m` one), e.g. `(6, 16)`
    /// on AVX2: what benches and logs print beside [`Kernels::name`].
    pub fn gemm_tile(&self) -> (usize, usize) {
        self.gemm_tile
    }

    /// The cache blocking the f32 GEMM uses on this CPU with this path's main tile.
    pub fn gemm_blocking(&self) -> gemm::GemmBlocking {
        gemm::GemmBlocking::current(self.gemm_tile.0)
    }

    /// A descriptive name for logs and bench output, e.g. `x86_64-f32-scalar`.
    pub fn name(&self) -> String {
        format!("{}-f32-{}", std::env::consts::ARCH, self.isa)
    }
}
