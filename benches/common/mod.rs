//! Shared bench helpers: deterministic inputs and the list of kernel paths to compare.

#![allow(dead_code)]

use minilm_kernels::Kernels;

/// Deterministic values in [-scale, scale) (xorshift), so every run benches the same data.
pub fn values(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            (2.0 * (bits as f32 / (1u64 << 24) as f32) - 1.0) * scale
        })
        .collect()
}

/// Every kernel path this CPU runs, printed once so the bench output says what ran.
pub fn paths() -> Vec<&'static Kernels> {
    let paths = Kernels::available();
    let names: Vec<String> = paths.iter().map(|k| k.name()).collect();
    eprintln!("kernel paths: {}", names.join(", "));
    paths
}
