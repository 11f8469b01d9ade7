//! A read-only memory map of a whole file: the crate's one `unsafe` that is not a kernel, kept
//! here so the engine stays free of `unsafe`.

use std::fs::File;
use std::io;
use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::Arc;

/// The bytes of a file, mapped read-only.
///
/// The mapping reflects the file as it is on disk: if another process truncates or rewrites the
/// file in place while it is mapped, reads may see the change or fault (SIGBUS); replacing it the
/// usual way (a new file renamed over the old one) is safe, since the map keeps the old inode.
/// Callers copy out what they need or keep a [`MappedF32`] view of it;
/// [`MappedFile::release`] lets them give back the pages of what they have copied as they go.
pub struct MappedFile {
    map: Option<memmap2::Mmap>,
}

impl MappedFile {
    /// Maps `path` read-only. An empty file gives an empty slice (it cannot be mapped).
    pub fn open(path: &Path) -> io::Result<MappedFile> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Ok(MappedFile { map: None });
        }
        // SAFETY: the file is opened read-only and the map is never written through; the one
        // hazard, another process changing the file underneath, is documented on the type.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(MappedFile { map: Some(map) })
    }
}

impl MappedFile {
    /// Tells the OS that the pages holding `range` are not needed any more, so they stop
    /// counting towards this process's memory (a loader copying a 90 MB file tensor by tensor
    /// then never holds the whole file and all its copies at once). Reading the range again
    /// still works: the pages come back from the file. A range outside the file, and any
    /// failure of the advice (it is only advice), are ignored.
    pub fn release(&self, range: std::ops::Range<usize>) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            if range.start < range.end && range.end <= map.len() {
                // SAFETY: `DontNeed` on a read-only shared file mapping only drops this
                // process's page-table entries for the range (the start is rounded down to a
                // page); later reads fault the same file pages back in. Nothing was ever
                // written through the map, so no data can be lost or change under a reader.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        range.start,
                        range.len(),
                    )
                };
            }
        }
        #[cfg(not(unix))]
        let _ = range;
    }
}

impl Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

/// f32 values read in place from a shared [`MappedFile`] (little-endian, 4-byte aligned in the
/// map): a tensor used a few rows at a time, such as a word-embedding table, costs page faults
/// for the rows used rather than a copy of the whole table at load.
#[derive(Clone)]
pub struct MappedF32 {
    file: Arc<MappedFile>,
    start: usize,
    len: usize,
}

impl MappedF32 {
    /// The bytes `range` of `file` as f32 values, or `None` when the range is outside the file,
    /// not a whole number of floats, not 4-byte aligned in memory, or the target is big-endian
    /// (the file is little-endian): the caller then copies and converts instead.
    pub fn new(file: Arc<MappedFile>, range: Range<usize>) -> Option<MappedF32> {
        let bytes = file.get(range.clone())?;
        let fits = cfg!(target_endian = "little")
            && bytes.len().is_multiple_of(4)
            && (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>());
        let len = bytes.len() / 4;
        fits.then_some(MappedF32 {
            start: range.start,
            len,
            file,
        })
    }
}

impl Deref for MappedF32 {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        let bytes = &self.file[self.start..self.start + 4 * self.len];
        // SAFETY: `new` checked that these bytes lie in the map, start 4-byte aligned and hold
        // `len` whole floats, and the map lives as long as `self` (the Arc); every bit pattern is
        // a valid f32, and the map is never written, so the shared borrow cannot alias a write.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), self.len) }
    }
}

impl std::fmt::Debug for MappedF32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedF32").field("len", &self.len).finish()
    }
}

/// Bytes read in place from a shared [`MappedFile`]: an int8 table used a few rows at a time
/// (a quantised word-embedding table) costs page faults for the rows used, nothing at load.
#[derive(Clone)]
pub struct MappedBytes {
    file: Arc<MappedFile>,
    range: Range<usize>,
}

impl MappedBytes {
    /// The bytes `range` of `file`, or `None` when the range is outside the file.
    pub fn new(file: Arc<MappedFile>, range: Range<usize>) -> Option<MappedBytes> {
        file.get(range.clone())?;
        Some(MappedBytes { file, range })
    }
}

impl Deref for MappedBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.file[self.range.clone()]
    }
}

impl std::fmt::Debug for MappedBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedBytes")
            .field("len", &self.range.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_checked_for_range_length_and_alignment() {
        let dir = std::env::temp_dir().join(format!("minilm-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("floats.bin");
        let values = [1.5f32, -2.0, 3.25, 0.0];
        let mut bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.push(7);
        std::fs::write(&path, &bytes).unwrap();
        let file = Arc::new(MappedFile::open(&path).unwrap());
        let view = MappedF32::new(file.clone(), 4..16).unwrap();
        assert_eq!(&view[..], &values[1..]);
        assert!(
            MappedF32::new(file.clone(), 4..15).is_none(),
            "not whole floats"
        );
        assert!(MappedF32::new(file.clone(), 1..9).is_none(), "misaligned");
        assert!(
            MappedF32::new(file.clone(), 8..24).is_none(),
            "past the end"
        );
        let bytes = MappedBytes::new(file.clone(), 15..17).unwrap();
        assert_eq!(&bytes[..], &[0, 7]);
        assert!(
            MappedBytes::new(file.clone(), 16..18).is_none(),
            "past the end"
        );
        drop(file);
        assert_eq!(view[0], -2.0, "the view keeps the map alive");
        assert_eq!(bytes[1], 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
