//! Per-session memory limit: each connection runs one query at a time, and its sorts, joins
//! and aggregations draw on a budget of their own (`[engine] query_memory_limit`) inside the
//! server-wide pool (`[engine] memory_limit`). When the budget is used up the operators spill
//! to disk; a query that still cannot fit fails alone with `ResourcesExhausted` (SQLSTATE
//! 53200) while other sessions keep their memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::resources_datafusion_err;
use datafusion::error::Result;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// A budget within a shared pool.
#[derive(Debug)]
pub struct SessionMemoryPool {
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    used: AtomicUsize,
}

impl SessionMemoryPool {
    /// A budget of `limit` bytes drawn from `shared`.
    pub fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> Self {
        SessionMemoryPool {
            shared,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl std::fmt::Display for SessionMemoryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session pool: {} of {} bytes in use",
            self.used.load(Ordering::Relaxed),
            self.limit
        )
    }
}

impl MemoryPool for SessionMemoryPool {
    fn name(&self) -> &str {
        "segmint_session"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::Relaxed);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(shrink))
            });
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let limit = self.limit;
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(additional).filter(|total| *total <= limit)
            })
            .map_err(|used| {
                resources_datafusion_err!(
                    "query memory limit of {limit} bytes reached: {} asked for {additional} \
                     more with {used} in use (raise [engine] query_memory_limit, or narrow the \
                     query)",
                    reservation.consumer().name()
                )
            })?;
        if let Err(error) = self.shared.try_grow(reservation, additional) {
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    Some(used.saturating_sub(additional))
                });
            return Err(error);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::{GreedyMemoryPool, UnboundedMemoryPool};

    #[test]
    fn a_session_cannot_take_more_than_its_budget() {
        let shared: Arc<dyn MemoryPool> = Arc::new(UnboundedMemoryPool::default());
        let pool: Arc<dyn MemoryPool> = Arc::new(SessionMemoryPool::new(shared.clone(), 1000));
        let reservation = MemoryConsumer::new("sort").register(&pool);
        reservation.try_grow(800).expect("within budget");
        assert!(reservation.try_grow(300).is_err());
        assert_eq!(pool.reserved(), 800);
        reservation.shrink(500);
        reservation.try_grow(600).expect("room again");
        drop(reservation);
        assert_eq!(pool.reserved(), 0);
        assert_eq!(shared.reserved(), 0);
    }

    #[test]
    fn the_shared_pool_still_bounds_all_sessions() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let a: Arc<dyn MemoryPool> = Arc::new(SessionMemoryPool::new(shared.clone(), 800));
        let b: Arc<dyn MemoryPool> = Arc::new(SessionMemoryPool::new(shared.clone(), 800));
        let ra = MemoryConsumer::new("a").register(&a);
        let rb = MemoryConsumer::new("b").register(&b);
        ra.try_grow(700).expect("a fits");
        assert!(rb.try_grow(700).is_err(), "the shared pool is full");
        assert_eq!(b.reserved(), 0, "a refused grow is not counted");
        rb.try_grow(300).expect("b fits what is left");
    }
}
