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
/// what they need and drop the map promptly, as the model loader does.
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

impl Deref for MappedFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}
