//! Results of small, deterministic queries, kept for the dashboards and BI tools that send the
//! same query again and again (a KPI tile, a catalog look-up, a `SELECT 1` health check).
//!
//! The key is the bound logical plan (so the same query written twice shares an entry), the
//! user (row filters and grants depend on it) and a fingerprint of the session's settings.
//! An entry is valid only for the catalog generation it was computed in: any DDL or dataset
//! refresh starts a new generation, and with it the results a query would see anew. Only
//! plans whose every function is immutable and whose every scan reads a dataset, view or
//! system catalog table are cached (`now()`, `random()` and table functions never are), and
//! only results under [`MAX_ENTRY_BYTES`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};

/// Largest result kept (bytes of Arrow buffers).
pub const MAX_ENTRY_BYTES: usize = 1 << 20;
/// Memory for all cached results.
const MAX_TOTAL_BYTES: usize = 64 << 20;

/// What identifies a result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultKey {
    /// The bound plan (parameters substituted).
    pub plan: LogicalPlan,
    /// Who asked.
    pub user: Arc<str>,
    /// Fingerprint of the session variables.
    pub settings: u64,
}

/// A cached result.
#[derive(Debug, Clone)]
pub struct CachedResult {
    /// Result schema.
    pub schema: SchemaRef,
    /// The batches.
    pub batches: Arc<Vec<RecordBatch>>,
}

struct Entry {
    generation: u64,
    result: CachedResult,
    bytes: usize,
}

#[derive(Default)]
struct Entries {
    map: HashMap<ResultKey, Entry>,
    order: VecDeque<ResultKey>,
    bytes: usize,
}

/// The server-wide result cache.
#[derive(Default)]
pub struct ResultCache {
    entries: Mutex<Entries>,
}

impl ResultCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The result for `key` computed in `generation`, if there is one.
    pub fn get(&self, key: &ResultKey, generation: u64) -> Option<CachedResult> {
        let entries = self.entries();
        entries
            .map
            .get(key)
            .filter(|entry| entry.generation == generation)
            .map(|entry| entry.result.clone())
    }

    /// Keeps a result computed in `generation` (dropping the oldest entries beyond the
    /// memory bound, and everything from older generations).
    pub fn insert(&self, key: ResultKey, generation: u64, result: CachedResult) {
        let bytes = result_bytes(&result.batches);
        if bytes > MAX_ENTRY_BYTES {
            return;
        }
        let mut entries = self.entries();
        if entries
            .map
            .values()
            .next()
            .is_some_and(|e| e.generation != generation)
        {
            let stale: Vec<ResultKey> = entries
                .map
                .iter()
                .filter(|(_, e)| e.generation != generation)
                .map(|(k, _)| k.clone())
                .collect();
            for key in stale {
                if let Some(old) = entries.map.remove(&key) {
                    entries.bytes -= old.bytes;
                }
            }
            let Entries { map, order, .. } = &mut *entries;
            order.retain(|k| map.contains_key(k));
        }
        if let Some(old) = entries.map.remove(&key) {
            entries.bytes -= old.bytes;
            entries.order.retain(|k| k != &key);
        }
        while entries.bytes + bytes > MAX_TOTAL_BYTES {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(old) = entries.map.remove(&oldest) {
                entries.bytes -= old.bytes;
            }
        }
        entries.bytes += bytes;
        entries.order.push_back(key.clone());
        entries.map.insert(
            key,
            Entry {
                generation,
                result,
                bytes,
            },
        );
    }

    /// Entries currently held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes of Arrow buffers in `batches`.
pub fn result_bytes(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::get_array_memory_size).sum()
}

/// True when the result of `plan` depends only on the catalog and the plan itself:
/// a query (no statement or DDL), no parameters left, only immutable functions, and scans of
/// catalog tables only (no table functions, whose arguments are not part of the scan).
pub fn is_cacheable(plan: &LogicalPlan, is_table_function: &dyn Fn(&str) -> bool) -> bool {
    let mut cacheable = true;
    let _ = plan.apply_with_subqueries(|node| {
        let node_ok = match node {
            LogicalPlan::Statement(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Extension(_)
            | LogicalPlan::DescribeTable(_) => false,
            LogicalPlan::TableScan(scan) => {
                let name = scan.table_name.table();
                let schema = scan.table_name.schema().unwrap_or("public");
                !is_table_function(name.trim_end_matches("()"))
                    && !name.starts_with("pg_stat")
                    && name != "pg_locks"
                    && matches!(schema, "public" | "pg_catalog" | "information_schema")
            }
            _ => true,
        };
        if !node_ok || !expressions_cacheable(node) {
            cacheable = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    cacheable
}

fn expressions_cacheable(node: &LogicalPlan) -> bool {
    let mut ok = true;
    let _ = node.apply_expressions(|expr| {
        expr.apply(|e| {
            let fine = match e {
                Expr::ScalarFunction(function) => {
                    function.func.signature().volatility == Volatility::Immutable
                }
                Expr::Placeholder(_) => false,
                _ => true,
            };
            if !fine {
                ok = false;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    ok
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn plan(ctx: &SessionContext, sql: &str) -> LogicalPlan {
        ctx.state().create_logical_plan(sql).await.unwrap()
    }

    #[tokio::test]
    async fn only_deterministic_catalog_queries_are_cacheable() {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (a INT) AS VALUES (1), (2)")
            .await
            .unwrap();
        let none = |_: &str| false;
        for sql in [
            "SELECT 1",
            "SELECT sum(a) FROM t WHERE a > 1",
            "SELECT abs(-1)",
        ] {
            assert!(is_cacheable(&plan(&ctx, sql).await, &none), "{sql}");
        }
        for sql in [
            "SELECT now()",
            "SELECT random()",
            "SELECT a FROM t WHERE a = $1",
            "EXPLAIN SELECT 1",
            "SELECT * FROM (SELECT a FROM t WHERE a IN (SELECT random()))",
        ] {
            assert!(!is_cacheable(&plan(&ctx, sql).await, &none), "{sql}");
        }
        // A scan named like a table function is never cached.
        let functions = |name: &str| name == "t";
        assert!(!is_cacheable(
            &plan(&ctx, "SELECT a FROM t").await,
            &functions
        ));
    }

    #[tokio::test]
    async fn entries_belong_to_their_generation_and_memory_is_bounded() {
        let ctx = SessionContext::new();
        let cache = ResultCache::default();
        let key = |sql: &str, plan: LogicalPlan| ResultKey {
            plan,
            user: Arc::from(sql),
            settings: 0,
        };
        let one = plan(&ctx, "SELECT 1").await;
        let batches = ctx.sql("SELECT 1").await.unwrap().collect().await.unwrap();
        let result = CachedResult {
            schema: batches[0].schema(),
            batches: Arc::new(batches),
        };
        cache.insert(key("a", one.clone()), 7, result.clone());
        assert!(cache.get(&key("a", one.clone()), 7).is_some());
        assert!(
            cache.get(&key("a", one.clone()), 8).is_none(),
            "new generation"
        );
        assert!(
            cache.get(&key("b", one.clone()), 7).is_none(),
            "another user"
        );
        // A newer generation drops the older entries.
        cache.insert(key("b", one.clone()), 8, result.clone());
        assert_eq!(cache.len(), 1);
        // Too large a result is not kept.
        let big = ctx
            .sql("SELECT * FROM generate_series(1, 1000000)")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(result_bytes(&big) > MAX_ENTRY_BYTES);
        cache.insert(
            key("c", one),
            8,
            CachedResult {
                schema: big[0].schema(),
                batches: Arc::new(big),
            },
        );
        assert_eq!(cache.len(), 1);
    }
}
