//! Planning: a classified [`Statement`] becomes what Execute runs ([`Prepared`]). SQL is
//! named like PostgreSQL names result columns, rewritten, planned by DataFusion (planned
//! again after a rewrite when the first plan fails in a way a rewrite avoids), checked to be
//! read-only and its `$n::type` placeholders typed; bound parameter values come in at
//! [`bind`] and [`Planner::bind_deferred`]. A [`Planner`] needs only a `SessionContext` (and,
//! in the server, the engine's SQL functions, table functions and datasets).

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast;
use pgwire::api::portal::Portal;
use pgwire::error::{PgWireError, PgWireResult};

use super::ddl::{self, CatalogChange};
use super::prepared::{DeferredQuery, ParsedStatement, Planned, Prepared, parameter_types};
use super::sqlstate::{
    FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE, PROTOCOL_VIOLATION, READ_ONLY_SQL_TRANSACTION,
    SYNTAX_ERROR, UNDEFINED_TABLE, to_pg_error, user_error,
};
use super::statement::Statement;
use super::table_args;
use crate::engine::Engine;
use crate::engine::sql_functions::SqlFunctions;
use crate::pgcompat::naming;
use crate::pgcompat::rewrite::{self, Unplannable};
use segmint_udfs::bound_parameters::BoundParameters;

/// What planning asks of the server beyond the session's context. Every method has the
/// answer of a bare `SessionContext` as its default ([`NoCatalog`]).
pub trait PlanningCatalog: Send + Sync {
    /// Brings `ctx`'s SQL functions up to date with those other sessions made or dropped.
    fn sync_functions(&self, _ctx: &SessionContext) {}

    /// The declared argument types of a table function.
    fn table_function_arguments(&self, _name: &str) -> Option<&'static [DataType]> {
        None
    }

    /// Why a dataset the error `message` names is not served, if one is unavailable.
    fn unavailable_dataset(&self, _message: &str) -> Option<String> {
        None
    }

    /// The registry `CREATE FUNCTION` and `DROP FUNCTION` change.
    fn sql_functions(&self) -> Option<&Arc<SqlFunctions>> {
        None
    }
}

/// Planning over a bare `SessionContext`: no SQL functions, table-function signatures or
/// datasets beyond what the context itself holds.
#[cfg(test)]
pub struct NoCatalog;

#[cfg(test)]
impl PlanningCatalog for NoCatalog {}

impl PlanningCatalog for Engine {
    fn sync_functions(&self, ctx: &SessionContext) {
        Engine::sql_functions(self).sync(ctx);
    }

    fn table_function_arguments(&self, name: &str) -> Option<&'static [DataType]> {
        Engine::table_function_arguments(self, name)
    }

    fn unavailable_dataset(&self, message: &str) -> Option<String> {
        let catalog = self.catalog();
        catalog.datasets().into_iter().find_map(|d| {
            let named = [
                format!("\"{}\"", d.name),
                format!(".{}'", d.name),
                format!("'{}'", d.name),
            ]
            .iter()
            .any(|n| message.contains(n.as_str()));
            named.then(|| catalog.unavailable(&d.name)).flatten()
        })
    }

    fn sql_functions(&self) -> Option<&Arc<SqlFunctions>> {
        Some(Engine::sql_functions(self))
    }
}

/// Plans one session's statements.
pub struct Planner {
    ctx: SessionContext,
    catalog: Arc<dyn PlanningCatalog>,
}

impl Planner {
    /// A planner over `ctx` that asks `catalog` for what the context does not hold.
    pub fn new(ctx: SessionContext, catalog: Arc<dyn PlanningCatalog>) -> Self {
        Planner { ctx, catalog }
    }

    /// The session's DataFusion context.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Turns a classified statement into what Execute runs.
    pub async fn prepare(&self, statement: Statement) -> PgWireResult<Prepared> {
        Ok(match statement {
            Statement::RunReport(request) => Prepared::RunReport(request),
            Statement::Refresh(name) => Prepared::Catalog(Box::new(CatalogChange::Refresh(name))),
            Statement::CreateExternalTable { statement, sql } => {
                let plan = self
                    .ctx
                    .state()
                    .statement_to_plan(*statement)
                    .await
                    .map_err(to_pg_error)?;
                let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) = plan else {
                    return Err(user_error(SYNTAX_ERROR, "expected CREATE EXTERNAL TABLE"));
                };
                Prepared::Catalog(Box::new(CatalogChange::CreateExternalTable { create, sql }))
            }
            Statement::Command(command) => Prepared::Command(command),
            Statement::Copy(copy) => {
                let planned = self
                    .plan(ast::Statement::Query(copy.query.clone()), None)
                    .await?;
                Prepared::Copy(copy, Box::new(planned))
            }
            Statement::Declare { name, hold, query } => Prepared::Declare {
                name,
                hold,
                query: Box::new(self.plan(ast::Statement::Query(query), None).await?),
            },
            Statement::Fetch { name, count } => Prepared::Fetch { name, count },
            Statement::Close(name) => Prepared::Close(name),
            Statement::Function(statement) => {
                let functions = self.catalog.sql_functions().ok_or_else(|| {
                    user_error(
                        FEATURE_NOT_SUPPORTED,
                        "SQL functions are not available here",
                    )
                })?;
                let change = ddl::function_change(&statement, functions).ok_or_else(|| {
                    user_error(FEATURE_NOT_SUPPORTED, "expected CREATE or DROP FUNCTION")
                })?;
                Prepared::Catalog(Box::new(change))
            }
            Statement::Index(statement) => {
                Prepared::Catalog(Box::new(ddl::index_change(&statement)?))
            }
            Statement::Sql {
                statement,
                original,
            } => {
                let catalog = self.catalog.clone();
                let argument_types = move |name: &str| catalog.table_function_arguments(name);
                let table_params = table_args::find(&statement, &argument_types);
                if table_params.is_empty() {
                    let planned = self.plan(*statement, original.as_deref()).await?;
                    if let Some(change) = ddl::catalog_change(&planned.plan)? {
                        return Ok(Prepared::Catalog(Box::new(change)));
                    }
                    return Ok(Prepared::Query(Box::new(planned)));
                }
                // Plan with stand-in values to describe the result and the other parameters.
                let mut stand_ins = BoundParameters::default();
                for (number, data_type) in &table_params {
                    if stand_ins.0.len() < *number {
                        stand_ins.0.resize(*number, None);
                    }
                    stand_ins.0[number - 1] = Some(table_args::stand_in(data_type));
                }
                let probe = self
                    .plan_bound((*statement).clone(), original.as_deref(), Some(stand_ins))
                    .await?;
                Prepared::Deferred(Box::new(DeferredQuery {
                    statement: *statement,
                    original: original.map(|o| *o),
                    table_params,
                    probe,
                }))
            }
        })
    }

    /// Plans one statement (parameters stay as placeholders), naming its result columns
    /// like PostgreSQL.
    pub async fn plan(
        &self,
        statement: ast::Statement,
        original: Option<&ast::Statement>,
    ) -> PgWireResult<Planned> {
        self.plan_bound(statement, original, None).await
    }

    /// Plans one statement whose table functions take `bound` values for their `$n`
    /// arguments (the other parameters stay as placeholders).
    async fn plan_bound(
        &self,
        mut statement: ast::Statement,
        original: Option<&ast::Statement>,
        bound: Option<BoundParameters>,
    ) -> PgWireResult<Planned> {
        let bound = bound.map(Arc::new);
        let columns = match (&mut statement, original) {
            (ast::Statement::Query(query), Some(ast::Statement::Query(original))) => {
                naming::name_columns(query, Some(original))
            }
            (ast::Statement::Query(query), _) => naming::name_columns(query, None),
            _ => None,
        };
        rewrite::rewrite(&mut statement);
        let mut plan = self.plan_statement(&statement, bound.as_ref()).await?;
        // Scalar subqueries are decorrelated by the optimizer: check them now, so a rewrite
        // can still help before the plan is stored. Up to two rewrites may be needed
        // (hoisting lookups, then aggregating the rest).
        if rewrite::has_scalar_subquery(&statement) {
            let mut retries = 0;
            while let Some(why) = self.unplannable(&plan).await {
                if retries == 2 || !rewrite::retry_rewrite(why, &mut statement) {
                    match self.physical_plan_error(&plan).await {
                        Some(error) => return Err(error),
                        None => break,
                    }
                }
                retries += 1;
                tracing::debug!(%statement, ?why, "planning again after a rewrite");
                plan = self.plan_statement(&statement, bound.as_ref()).await?;
            }
        }
        if !ddl::is_catalog_change(&plan) {
            check_read_only(&plan)?;
        }
        let plan = typed_cast_placeholders(plan)?;
        Ok(Planned { plan, columns })
    }

    /// Why `plan` cannot run as it is, when a rewrite may avoid it.
    async fn unplannable(&self, plan: &LogicalPlan) -> Option<Unplannable> {
        if rewrite::has_unaggregated_subquery(plan) {
            return Some(Unplannable::UnaggregatedSubquery);
        }
        let plan = with_null_parameters(plan)?;
        let optimized = self.ctx.state().optimize(&plan).ok()?;
        // The physical planner runs some scalar subqueries itself (uncorrelated ones): only
        // one it refuses needs a rewrite.
        (rewrite::has_scalar_subquery_left(&optimized)
            && self.physical_plan_error(&plan).await.is_some())
        .then_some(Unplannable::UndecorrelatedSubquery)
    }

    /// The error physical planning of `plan` (parameters as typed NULLs) gives, if any.
    async fn physical_plan_error(&self, plan: &LogicalPlan) -> Option<PgWireError> {
        let plan = with_null_parameters(plan)?;
        let error = self.ctx.state().create_physical_plan(&plan).await.err()?;
        Some(to_pg_error(error))
    }

    async fn plan_statement(
        &self,
        statement: &ast::Statement,
        bound: Option<&Arc<BoundParameters>>,
    ) -> PgWireResult<LogicalPlan> {
        self.catalog.sync_functions(&self.ctx);
        let mut state = self.ctx.state();
        if let Some(bound) = bound {
            state.config_mut().set_extension(bound.clone());
        }
        state
            .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
            .await
            .map_err(|e| self.explain_unavailable(to_pg_error(e)))
    }

    /// Adds why a dataset is not served to "relation does not exist" errors that name it.
    fn explain_unavailable(&self, error: PgWireError) -> PgWireError {
        let PgWireError::UserError(mut info) = error else {
            return error;
        };
        if info.code == UNDEFINED_TABLE
            && let Some(reason) = self.catalog.unavailable_dataset(&info.message)
        {
            info.message = format!("{}: the dataset is not available: {reason}", info.message);
        }
        PgWireError::UserError(info)
    }

    /// Plans a statement with table-function parameters for its bound values.
    pub async fn bind_deferred(
        &self,
        deferred: &DeferredQuery,
        portal: Option<&Portal<ParsedStatement>>,
    ) -> PgWireResult<Planned> {
        let Some(portal) = portal else {
            return Err(user_error(
                PROTOCOL_VIOLATION,
                "the statement has parameters but none were bound",
            ));
        };
        let types = deferred.parameter_types()?;
        let type_refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
        let ParamValues::List(values) =
            arrow_pg::datatypes::df::deserialize_parameters(portal, &type_refs)?
        else {
            return Err(user_error(
                SYNTAX_ERROR,
                "named parameters are not supported",
            ));
        };
        let mut bound = BoundParameters(vec![None; values.len()]);
        for (number, data_type) in &deferred.table_params {
            let value = values
                .get(number - 1)
                .map(|v| v.value.clone())
                .ok_or_else(|| {
                    user_error(
                        PROTOCOL_VIOLATION,
                        format!("parameter ${number} is not bound"),
                    )
                })?;
            let value = if value.data_type() == *data_type || value.is_null() {
                value
            } else {
                value.cast_to(data_type).map_err(|e| {
                    user_error(
                        INVALID_PARAMETER_VALUE,
                        format!("parameter ${number} must be {data_type}: {e}"),
                    )
                })?
            };
            bound.0[number - 1] = Some(value);
        }
        let planned = self
            .plan_bound(
                deferred.statement.clone(),
                deferred.original.as_ref(),
                Some(bound),
            )
            .await?;
        let plan = planned
            .plan
            .replace_params_with_values(&ParamValues::List(values))
            .map_err(to_pg_error)?;
        Ok(Planned {
            plan,
            columns: planned.columns,
        })
    }
}

/// `plan` with its parameters as NULLs of their inferred types (to plan it before the
/// values are known).
fn with_null_parameters(plan: &LogicalPlan) -> Option<LogicalPlan> {
    let nulls: Vec<ScalarValue> = parameter_types(plan)
        .ok()?
        .iter()
        .map(|t| {
            t.as_ref()
                .and_then(|t| ScalarValue::try_from(t).ok())
                .unwrap_or(ScalarValue::Null)
        })
        .collect();
    if nulls.is_empty() {
        return Some(plan.clone());
    }
    plan.clone()
        .replace_params_with_values(&ParamValues::from(nulls))
        .ok()
}

/// Binds a portal's parameter values into a planned statement.
pub fn bind(planned: &Planned, portal: Option<&Portal<ParsedStatement>>) -> PgWireResult<Planned> {
    let Some(portal) = portal else {
        return Ok(planned.clone());
    };
    let types = parameter_types(&planned.plan)?;
    if types.is_empty() {
        return Ok(planned.clone());
    }
    let type_refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
    let values = arrow_pg::datatypes::df::deserialize_parameters(portal, &type_refs)?;
    let plan = planned
        .plan
        .clone()
        .replace_params_with_values(&values)
        .map_err(to_pg_error)?;
    Ok(Planned {
        plan,
        columns: planned.columns.clone(),
    })
}

/// Rejects statements that would change data or the catalog: this endpoint is read-only.
/// The whole plan is searched, so a write wrapped in `EXPLAIN ANALYZE` is refused too.
fn check_read_only(plan: &LogicalPlan) -> PgWireResult<()> {
    let mut what = None;
    plan.apply(|node| {
        what = match node {
            LogicalPlan::Ddl(ddl) => Some(ddl.name().to_string()),
            LogicalPlan::Dml(dml) => Some(dml.op.to_string()),
            LogicalPlan::Copy(_) => Some("COPY TO".to_string()),
            _ => None,
        };
        Ok(if what.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })
    .map_err(to_pg_error)?;
    match what {
        Some(what) => Err(user_error(
            READ_ONLY_SQL_TRANSACTION,
            format!(
                "cannot execute {what}: datasets are read-only (administrators change the \
                 catalog with CREATE VIEW, CREATE EXTERNAL TABLE, CREATE TABLE AS and DROP)"
            ),
        )),
        None => Ok(()),
    }
}

/// Gives `$n::type` placeholders that DataFusion left untyped the type of their cast, as
/// PostgreSQL infers it (asyncpg and tokio-postgres encode values by the described type).
fn typed_cast_placeholders(plan: LogicalPlan) -> PgWireResult<LogicalPlan> {
    use datafusion::common::tree_node::Transformed;
    use datafusion::logical_expr::Expr;
    use datafusion::logical_expr::expr::{Cast, Placeholder};
    plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|expr| {
            expr.transform_up(|e| match e {
                Expr::Cast(Cast { expr, field }) => match *expr {
                    Expr::Placeholder(Placeholder { id, field: None }) => {
                        let typed = Expr::Placeholder(Placeholder::new_with_field(
                            id,
                            Some(Arc::new(Field::new("", field.data_type().clone(), true))),
                        ));
                        Ok(Transformed::yes(Expr::Cast(Cast {
                            expr: Box::new(typed),
                            field,
                        })))
                    }
                    inner => Ok(Transformed::no(Expr::Cast(Cast {
                        expr: Box::new(inner),
                        field,
                    }))),
                },
                other => Ok(Transformed::no(other)),
            })
        })
    })
    .map(|t| t.data)
    .map_err(to_pg_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::sql_parser::SqlParser;
    use crate::server::statement::classify;

    fn planner() -> Planner {
        Planner::new(SessionContext::new(), Arc::new(NoCatalog))
    }

    async fn prepare(sql: &str) -> PgWireResult<Prepared> {
        let mut classified = classify(&SqlParser::new(), sql)?;
        assert_eq!(classified.len(), 1, "{sql}");
        planner().prepare(classified.remove(0).statement).await
    }

    fn code(result: PgWireResult<Prepared>) -> String {
        match result {
            Err(PgWireError::UserError(info)) => info.code.clone(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn names_columns_like_postgresql() {
        let Ok(Prepared::Query(planned)) = prepare("SELECT 1, 'a' || 'b', count(*)").await else {
            panic!("a query");
        };
        assert_eq!(
            planned.columns.as_deref(),
            Some(&["?column?".to_string(), "?column?".into(), "count".into()][..])
        );
    }

    /// A planner over a context holding `t(id, v)`.
    async fn planner_with_t() -> (SessionContext, Planner) {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (id INT, v INT) AS VALUES (1, 10), (2, 20)")
            .await
            .expect("table");
        (ctx.clone(), Planner::new(ctx, Arc::new(NoCatalog)))
    }

    #[tokio::test]
    async fn refuses_writes_even_inside_explain() {
        let (_, planner) = planner_with_t().await;
        let mut classified = classify(
            &SqlParser::new(),
            "EXPLAIN ANALYZE INSERT INTO t VALUES (3, 30)",
        )
        .expect("parses");
        assert_eq!(
            code(planner.prepare(classified.remove(0).statement).await),
            READ_ONLY_SQL_TRANSACTION
        );
        // A view is a catalog change (administrators only, authorized when it runs).
        assert!(matches!(
            prepare("CREATE VIEW v AS SELECT 1 AS x").await,
            Ok(Prepared::Catalog(_))
        ));
    }

    #[tokio::test]
    async fn types_cast_placeholders() {
        let Ok(Prepared::Query(planned)) = prepare("SELECT $1::int + 1").await else {
            panic!("a query");
        };
        assert_eq!(
            parameter_types(&planned.plan).expect("types"),
            vec![Some(DataType::Int32)]
        );
    }

    #[tokio::test]
    async fn plans_external_tables_and_refreshes() {
        match prepare(
            "CREATE OR REPLACE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://lake/t/'",
        )
        .await
        {
            Ok(Prepared::Catalog(change)) => match *change {
                CatalogChange::CreateExternalTable { create, .. } => {
                    assert_eq!(create.locations, vec!["s3://lake/t/".to_string()]);
                    assert!(create.or_replace);
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            prepare("REFRESH DATASETS").await,
            Ok(Prepared::Catalog(change)) if matches!(*change, CatalogChange::Refresh(None))
        ));
        assert_eq!(
            code(prepare("CREATE FUNCTION f() RETURNS int LANGUAGE SQL RETURN 1").await),
            FEATURE_NOT_SUPPORTED,
            "a bare context has no SQL function registry"
        );
    }

    #[tokio::test]
    async fn retries_a_correlated_lookup_after_a_rewrite() {
        let (ctx, planner) = planner_with_t().await;
        let sql = "SELECT id, (SELECT v FROM t AS u WHERE u.id = t.id) AS w FROM t ORDER BY id";
        let mut classified = classify(&SqlParser::new(), sql).expect("parses");
        let Ok(Prepared::Query(planned)) = planner.prepare(classified.remove(0).statement).await
        else {
            panic!("planned after the rewrite");
        };
        let batches = ctx
            .execute_logical_plan(planned.plan)
            .await
            .expect("runs")
            .collect()
            .await
            .expect("rows");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
            .expect("prints")
            .to_string();
        assert!(text.contains("| 2  | 20 |"), "{text}");
    }

    #[tokio::test]
    async fn names_an_unknown_table() {
        assert_eq!(
            code(prepare("SELECT * FROM nowhere").await),
            UNDEFINED_TABLE
        );
    }
}
