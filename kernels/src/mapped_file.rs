//! A read-only memory map of a whole file: the crate's one `unsafe` that is not a kernel, kept
//! here so the engine stays free of `unsafe`.

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::Path;

/// The bytes of a file, mapped read-only.
///
/// The mapping reflects the file as it is on disk: if another process truncates or rewrites the
/// file while it is mapped, reads may see the change or fault (SIGBUS). Callers should copy out
/// what they need and drop the map promptly, as the model loader does; [`MappedFile::release`]
/// lets them give back the pages of what they have copied as they go.
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
