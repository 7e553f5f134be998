//! Row filters: an analyzer rule that puts the role's predicate under every scan of a filtered
//! table, whatever led to the scan.
//!
//! Views are inlined into the plan when it is built, and table functions plan their input
//! through the session too, so by the time this rule runs every base-table read of a query,
//! of its subqueries, and of the views and table functions it uses is a `TableScan` in one
//! tree. Each scan of a `public` table the role filters becomes
//! `SELECT * FROM table WHERE <predicate>` under the table's own name, so the plan above it
//! is unchanged. The predicate is planned against the shared, unfiltered catalog, so it may
//! use subqueries on other tables. The rule runs first, before type coercion.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, SchemaError};
use datafusion::config::ConfigOptions;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableScan};
use datafusion::optimizer::AnalyzerRule;
use futures::FutureExt;

use super::Role;
use super::grants::permission_denied;
use crate::catalog::DEFAULT_SCHEMA;

/// Applies a role's row filters to every scan.
pub struct RowFilterRule {
    role: Arc<Role>,
    /// The unrestricted session state that plans the predicates.
    planner: SessionState,
}

impl std::fmt::Debug for RowFilterRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFilterRule")
            .field("role", &self.role.name)
            .finish()
    }
}

impl RowFilterRule {
    /// The rule for `role`; `planner` must see the whole catalog and not carry this rule.
    pub fn new(role: Arc<Role>, planner: SessionState) -> Self {
        RowFilterRule { role, planner }
    }

    fn filter_scan(
        &self,
        scan: TableScan,
        config: &ConfigOptions,
    ) -> Result<Transformed<LogicalPlan>> {
        let catalog = &config.catalog.default_catalog;
        let resolved = scan
            .table_name
            .clone()
            .resolve(catalog, &config.catalog.default_schema);
        // Only tables of the catalog: a table function's result is a scan under its own name,
        // and what it reads was planned (and filtered) in this session already.
        let in_catalog = resolved.catalog.as_ref() == catalog.as_str()
            && resolved.schema.as_ref() == DEFAULT_SCHEMA
            && self
                .planner
                .catalog_list()
                .catalog(catalog)
                .and_then(|c| c.schema(DEFAULT_SCHEMA))
                .is_some_and(|s| s.table_exist(&resolved.table));
        let filter = if in_catalog {
            self.role.filter_for(&resolved.table)
        } else {
            None
        };
        let Some(filter) = filter else {
            return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
        };
        let sql = format!(
            "SELECT * FROM {}.{}.{} WHERE {filter}",
            quote(&resolved.catalog),
            quote(&resolved.schema),
            quote(&resolved.table)
        );
        let filtered = self
            .planner
            .create_logical_plan(&sql)
            .now_or_never()
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "permission denied for table {}: its row filter cannot be planned here",
                    resolved.table
                ))
            })?
            .map_err(|e| self.unfit(&resolved.table, filter, e))?;
        let mut builder = LogicalPlanBuilder::from(filtered).alias(scan.table_name.clone())?;
        if let Some(predicate) = conjunction(scan.filters.clone()) {
            builder = builder.filter(predicate)?;
        }
        if let Some(projection) = &scan.projection {
            let schema = builder.schema().clone();
            let columns: Vec<Expr> = projection
                .iter()
                .map(|i| Expr::Column(Column::from(schema.qualified_field(*i))))
                .collect();
            builder = builder.project(columns)?;
        }
        if let Some(fetch) = scan.fetch {
            builder = builder.limit(0, Some(fetch))?;
        }
        tracing::debug!(role = %self.role.name, table = %resolved.table, "row filter applied");
        Ok(Transformed::yes(builder.build()?))
    }

    /// Explains a predicate that does not fit the table; never falls back to no filter.
    fn unfit(&self, table: &str, filter: &str, error: DataFusionError) -> DataFusionError {
        let missing_column = matches!(
            error.find_root(),
            DataFusionError::SchemaError(e, _) if matches!(e.as_ref(), SchemaError::FieldNotFound { .. })
        );
        if missing_column && self.role.uses_role_wide_filter(table) {
            permission_denied(
                "table",
                &format!(
                    "{table}: the row filter of role {} ({filter}) names columns {table} \
                     lacks; an administrator adds row_filters.{table} for it",
                    self.role.name
                ),
            )
        } else {
            permission_denied(
                "table",
                &format!(
                    "{table}: the row filter of role {} does not plan: {}",
                    self.role.name,
                    error.message()
                ),
            )
        }
    }
}

impl AnalyzerRule for RowFilterRule {
    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::TableScan(scan) => self.filter_scan(scan, config),
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "segmint_row_filter"
    }
}

/// A double-quoted SQL identifier.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
