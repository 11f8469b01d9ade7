//! [`AlignedF32`]: a fixed-length run of `f32`s that starts on a cache line, and for large
//! buffers on its own zero-filled pages that may be backed by huge pages.

use std::ops::{Deref, DerefMut};

/// Buffers at least this large get their own anonymous mapping: the kernel hands out zeroed
/// pages on first touch (no `memset` pass) and, with transparent huge pages in `madvise` mode,
/// 2 MiB pages, so filling 47 MB of word embeddings takes a few dozen page faults instead of
/// ten thousand. Smaller buffers live on the heap.
const MAPPED_BYTES: usize = 1 << 20;

/// One cache line of floats: the unit a heap buffer allocates in.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CacheLine([f32; 16]);

enum Storage {
    Heap(Vec<CacheLine>),
    Mapped(memmap2::MmapMut),
}

/// `len` floats whose first element starts a 64-byte cache line (a clone keeps that property,
/// which a `Vec<f32>` plus an offset would not). Packed weight panels are read a line per step;
/// the engine also keeps its large tables (embeddings) in one.
pub struct AlignedF32 {
    storage: Storage,
    len: usize,
}

impl AlignedF32 {
    /// `len` zeros.
    ///
    /// # Panics
    /// If the memory cannot be had (as a `Vec` would abort): `len * 4` overflowing `usize`,
    /// or the OS refusing the mapping.
    pub fn zeroed(len: usize) -> AlignedF32 {
        let bytes = len
            .checked_mul(4)
            .expect("AlignedF32::zeroed: length overflows usize");
        let storage = if bytes >= MAPPED_BYTES {
            match memmap2::MmapMut::map_anon(bytes) {
                Ok(map) => {
                    #[cfg(target_os = "linux")]
                    let _ = map.advise(memmap2::Advice::HugePage); // only advice
                    Storage::Mapped(map)
                }
                Err(_) => Storage::Heap(vec![CacheLine([0.0; 16]); len.div_ceil(16)]),
            }
        } else {
            Storage::Heap(vec![CacheLine([0.0; 16]); len.div_ceil(16)])
        };
        AlignedF32 { storage, len }
    }

    /// A copy of `values`.
    pub fn from_slice(values: &[f32]) -> AlignedF32 {
        let mut copy = AlignedF32::zeroed(values.len());
        copy.copy_from_slice(values);
        copy
    }
}

impl Default for AlignedF32 {
    fn default() -> AlignedF32 {
        AlignedF32 {
            storage: Storage::Heap(Vec::new()),
            len: 0,
        }
    }
}

impl Clone for AlignedF32 {
    fn clone(&self) -> AlignedF32 {
        AlignedF32::from_slice(self)
    }
}

impl std::fmt::Debug for AlignedF32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedF32")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Deref for AlignedF32 {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        let start = match &self.storage {
            Storage::Heap(lines) => lines.as_ptr().cast::<f32>(),
            Storage::Mapped(map) => map.as_ptr().cast::<f32>(),
        };
        // SAFETY: a heap buffer holds `16 * lines.len() >= len` initialised floats (`CacheLine`
        // is `repr(C)` around `[f32; 16]`, 64 bytes, no padding; an empty vector's dangling
        // pointer is aligned and non-null, as a zero-length slice needs). A mapped buffer is
        // `4 * len` bytes, page-aligned, zero-filled by the OS, and any bit pattern is an f32.
        unsafe { std::slice::from_raw_parts(start, self.len) }
    }
}

impl DerefMut for AlignedF32 {
    fn deref_mut(&mut self) -> &mut [f32] {
        let start = match &mut self.storage {
            Storage::Heap(lines) => lines.as_mut_ptr().cast::<f32>(),
            Storage::Mapped(map) => map.as_mut_ptr().cast::<f32>(),
        };
        // SAFETY: as for `deref`, through the unique borrow of the storage.
        unsafe { std::slice::from_raw_parts_mut(start, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::AlignedF32;

    #[test]
    fn small_and_mapped_buffers_are_zeroed_aligned_and_writable() {
        for len in [0, 1, 17, 1000, (1 << 18) + 3, 3 << 20] {
            let mut buffer = AlignedF32::zeroed(len);
            assert_eq!(buffer.len(), len);
            assert_eq!(buffer.as_ptr() as usize % 64, 0, "len {len}");
            assert!(buffer.iter().all(|&x| x == 0.0));
            for (i, x) in buffer.iter_mut().enumerate() {
                *x = i as f32;
            }
            let copy = buffer.clone();
            assert_eq!(&copy[..], &buffer[..]);
            assert_eq!(copy.as_ptr() as usize % 64, 0);
        }
    }
}
