//! Stopping a CRM kernel whose query is gone.
//!
//! A table function's kernel computes over every customer in one call, off the async threads
//! (see [`crate::table`]). When the query is cancelled or times out, its stream is dropped, which
//! raises the kernel's [`Stop`]; long loops (the BTYD fits' likelihood evaluations) ask
//! [`interrupted`] between steps and give up, so the thread and the memory come back within
//! one step instead of at the end of the fit.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static CURRENT: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Raised when dropped: held by the stream a kernel's result goes to.
#[derive(Debug, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Runs `work` on this thread, with [`interrupted`] answering whether this stop was
    /// raised.
    pub fn watch<T>(flag: Arc<AtomicBool>, work: impl FnOnce() -> T) -> T {
        let previous = CURRENT.with(|current| current.replace(Some(flag)));
        let result = work();
        CURRENT.with(|current| *current.borrow_mut() = previous);
        result
    }

    /// The flag [`Stop::watch`] is given.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Whether the kernel running on this thread should stop (its query is gone). False outside
/// a watched kernel.
pub fn interrupted() -> bool {
    CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_stop_interrupts_the_watched_work_only() {
        let stop = Stop::default();
        let flag = stop.flag();
        assert!(!interrupted());
        let seen = Stop::watch(flag.clone(), || {
            let before = interrupted();
            drop(stop);
            (before, interrupted())
        });
        assert_eq!(seen, (false, true));
        assert!(!interrupted(), "outside the watched work");
    }
}
