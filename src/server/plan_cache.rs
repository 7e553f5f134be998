//! The plans of a session's recent statements, keyed by their SQL text. BI tools, dashboards
//! and health checks send the same statements again and again, and parsing and planning is
//! most of the cost of a small query. A plan is only reused in the catalog generation it was
//! made in, and the session drops its plans whenever it changes a setting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::logical_expr::LogicalPlan;

use super::prepared::Prepared;

/// Statements kept per session.
const CAPACITY: usize = 256;
/// Longer statements are not kept (their text would dominate the cache's memory).
const MAX_SQL_BYTES: usize = 16 * 1024;

#[derive(Default)]
struct Plans {
    generation: u64,
    map: HashMap<Arc<str>, Prepared>,
    order: VecDeque<Arc<str>>,
}

/// One session's plan cache.
#[derive(Default)]
pub struct PlanCache {
    plans: Mutex<Plans>,
}

impl PlanCache {
    fn plans(&self) -> MutexGuard<'_, Plans> {
        self.plans
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The statement prepared for `sql` in `generation`, if any.
    pub fn get(&self, sql: &str, generation: u64) -> Option<Prepared> {
        let plans = self.plans();
        if plans.generation != generation {
            return None;
        }
        plans.map.get(sql).cloned()
    }

    /// Keeps `prepared` for `sql` when it is a query plan (not a command, DDL or setting)
    /// prepared in `generation`.
    pub fn insert(&self, sql: &str, generation: u64, prepared: &Prepared) {
        let Prepared::Query(planned) = prepared else {
            return;
        };
        if sql.len() > MAX_SQL_BYTES
            || matches!(
                planned.plan,
                LogicalPlan::Statement(_)
                    | LogicalPlan::Ddl(_)
                    | LogicalPlan::Dml(_)
                    | LogicalPlan::Copy(_)
            )
        {
            return;
        }
        let mut plans = self.plans();
        if plans.generation != generation {
            plans.map.clear();
            plans.order.clear();
            plans.generation = generation;
        }
        let key: Arc<str> = Arc::from(sql);
        if plans.map.insert(key.clone(), prepared.clone()).is_none() {
            plans.order.push_back(key);
        }
        while plans.order.len() > CAPACITY {
            if let Some(oldest) = plans.order.pop_front() {
                plans.map.remove(&oldest);
            }
        }
    }

    /// Drops every plan (a setting changed).
    pub fn clear(&self) {
        let mut plans = self.plans();
        plans.map.clear();
        plans.order.clear();
    }
}
