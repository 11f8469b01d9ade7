//! Per-thread scratch memory that outlives a call, so kernels allocate only while warming up.
//!
//! A kernel that needs working memory (the GEMM driver's packed `A` and partial sums) borrows
//! this thread's buffer, growing it when a call needs more than any before, and gives it back
//! when done. After the first calls of each shape, a forward pass allocates nothing here.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};

use crate::gemm::AlignedF32;

thread_local! {
    static SPARE: Cell<AlignedF32> = Cell::new(AlignedF32::default());
}

/// This thread's buffer, at least `len` floats and cache-line aligned, on loan until dropped.
/// Its contents are whatever a previous call left there. A nested borrow on the same thread gets
/// a fresh buffer (and the larger of the two is kept).
pub(crate) struct Workspace {
    buffer: AlignedF32,
    len: usize,
}

impl Workspace {
    pub(crate) fn take(len: usize) -> Workspace {
        let mut buffer = SPARE.take();
        if buffer.len() < len {
            buffer = AlignedF32::zeroed(len);
        }
        Workspace { buffer, len }
    }
}

impl Deref for Workspace {
    type Target = [f32];

    fn deref(&self) -> &[f32] {
        &self.buffer[..self.len]
    }
}

impl DerefMut for Workspace {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buffer[..self.len]
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        // Keep the larger of this buffer and one a nested borrow may have put back. During
        // thread teardown the slot may be gone; the buffer is then simply freed.
        let _ = SPARE.try_with(|spare| {
            let other = spare.take();
            spare.set(if other.len() >= buffer.len() {
                other
            } else {
                buffer
            });
        });
    }
}
