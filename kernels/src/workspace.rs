//! Per-thread scratch memory that outlives a call, so kernels allocate only while warming up.
//!
//! A kernel that needs working memory (the GEMM driver's packed `A` and partial sums) borrows
//! this thread's buffer, growing it when a call needs more than any before, and gives it back
//! when done.
//!
//! Which thread runs which task of a split kernel is up to the caller's thread pool, so a thread
//! may meet a larger need for the first time long after warm-up. Two things keep that from
//! allocating in the hot path: a thread that grows its buffer grows it to the largest need any
//! thread has had (the process-wide [`peak`]), and a caller that owns a pool calls [`reserve`]
//! on each of its threads whenever the peak has risen (the engine does so after a forward pass).
//! After the first calls of each shape, a forward pass then allocates nothing here, whatever
//! the scheduling.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::gemm::AlignedF32;

thread_local! {
    static SPARE: Cell<AlignedF32> = Cell::new(AlignedF32::default());
}

/// The largest workspace, in floats, any thread has asked for so far.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The largest workspace, in floats, any thread of the process has needed so far. It only
/// grows; a caller compares it with the value it last reserved for to know when to [`reserve`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Grows the calling thread's workspace to [`peak`] floats if it is smaller, so that no kernel
/// call on this thread allocates for a need some thread has met before. Call it on every
/// thread of a pool (e.g. with rayon's `broadcast`) after the peak has risen; it allocates
/// only when the thread's buffer is short.
pub fn reserve() {
    let peak = peak();
    let _ = SPARE.try_with(|spare| {
        let buffer = spare.take();
        spare.set(if buffer.len() >= peak {
            buffer
        } else {
            AlignedF32::zeroed(peak)
        });
    });
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
            let peak = PEAK.fetch_max(len, Ordering::Relaxed).max(len);
            buffer = AlignedF32::zeroed(peak);
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
