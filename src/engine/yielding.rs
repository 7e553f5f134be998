//! Operators that let their query be cancelled.
//!
//! DataFusion makes its scans yield to the Tokio scheduler (`EnsureCooperative` wraps them
//! in `CooperativeExec`), which is enough while every loop reads from a scan. Two kinds of
//! input are ready far more often than a scan:
//! - a join can write millions of rows per probe batch it reads;
//! - a repartition's output channels are filled by other tasks, so the aggregation reading
//!   them rarely finds them empty (DataFusion 55's channels take no scheduling budget).
//!
//! The loop above such an input (an aggregation, a sort) then never yields, and an abort (a
//! cancel, a timeout) waits for it: measured on 2 cores, a cancelled grouped count kept
//! running, and growing its hash table, for 14 s. [`YieldingOperators`] puts a
//! `CooperativeExec` above every join, `unnest` and repartition, so each batch they hand on
//! takes one unit of the task's budget and the task yields after a budget's worth.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{
    CrossJoinExec, HashJoinExec, NestedLoopJoinExec, SortMergeJoinExec, SymmetricHashJoinExec,
};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::unnest::UnnestExec;
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};

/// Wraps every join, `unnest` and repartition in a `CooperativeExec`.
#[derive(Debug, Default)]
pub struct YieldingOperators;

/// Whether the output of `plan` can be ready for much longer than a scan's.
fn needs_yielding(plan: &dyn ExecutionPlan) -> bool {
    plan.downcast_ref::<HashJoinExec>().is_some()
        || plan.downcast_ref::<NestedLoopJoinExec>().is_some()
        || plan.downcast_ref::<CrossJoinExec>().is_some()
        || plan.downcast_ref::<SortMergeJoinExec>().is_some()
        || plan.downcast_ref::<SymmetricHashJoinExec>().is_some()
        || plan.downcast_ref::<UnnestExec>().is_some()
        || plan.downcast_ref::<RepartitionExec>().is_some()
}

/// `plan`, under a `CooperativeExec` when it needs one.
fn yielding(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    match needs_yielding(plan.as_ref()) {
        true => Arc::new(CooperativeExec::new(plan)),
        false => plan,
    }
}

impl PhysicalOptimizerRule for YieldingOperators {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = plan
            .transform_up(|node| {
                if !node.children().iter().any(|c| needs_yielding(c.as_ref())) {
                    return Ok(Transformed::no(node));
                }
                let children = node.children().into_iter().cloned().map(yielding).collect();
                replace_children_if_necessary(node, children).map(Transformed::yes)
            })?
            .data;
        Ok(yielding(plan))
    }

    fn name(&self) -> &str {
        "YieldingOperators"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionContext;

    async fn physical(sql: &str, yielding: bool) -> String {
        let mut builder = SessionStateBuilder::new().with_default_features();
        if yielding {
            builder = builder.with_physical_optimizer_rule(Arc::new(YieldingOperators));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        let plan = ctx
            .sql(sql)
            .await
            .expect("plans")
            .create_physical_plan()
            .await
            .expect("physical plan");
        displayable(plan.as_ref()).indent(false).to_string()
    }

    fn cooperative(plan: &str) -> usize {
        plan.matches("CooperativeExec").count()
    }

    /// Whether every line of `plan` naming `operator` is right under a `CooperativeExec`.
    fn under_cooperative(plan: &str, operator: &str) -> bool {
        let lines: Vec<&str> = plan.lines().map(str::trim).collect();
        let mut found = false;
        for (at, line) in lines.iter().enumerate() {
            if line.starts_with(operator) {
                found = true;
                if at == 0 || lines[at - 1] != "CooperativeExec" {
                    return false;
                }
            }
        }
        found
    }

    #[tokio::test]
    async fn joins_and_repartitions_yield_and_nothing_else_changes() {
        let join =
            "SELECT count(*) FROM range(1000) a JOIN range(1000) b ON a.value % 7 = b.value % 7";
        let plan = physical(join, true).await;
        assert!(under_cooperative(&plan, "HashJoinExec"), "{plan}");
        assert!(under_cooperative(&plan, "RepartitionExec"), "{plan}");
        let grouped = "SELECT value % 7, count(*) FROM range(1000) GROUP BY 1";
        let plan = physical(grouped, true).await;
        assert!(under_cooperative(&plan, "RepartitionExec"), "{plan}");

        // One per such operator, nothing else.
        for sql in [
            join,
            grouped,
            "SELECT value + 1 FROM range(1000) ORDER BY 1",
        ] {
            let plan = physical(sql, true).await;
            let wrapped = ["HashJoinExec", "RepartitionExec"]
                .iter()
                .map(|operator| plan.matches(operator).count())
                .sum::<usize>();
            assert_eq!(
                cooperative(&plan),
                cooperative(&physical(sql, false).await) + wrapped,
                "{plan}"
            );
        }
    }
}
