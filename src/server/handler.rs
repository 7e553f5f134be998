//! The per-connection protocol handlers: startup, simple query and extended query.
//!
//! Every accepted connection gets its own [`Session`] (its own DataFusion `SessionContext` and
//! PostgreSQL variables), so a `SET` in one connection never changes another. Statements are
//! parsed with `datafusion-pg-catalog`'s PostgreSQL compatibility parser (which rewrites the
//! catalog queries of psql and BI tools), then either answered by the session layer
//! ([`super::session`]) or planned and streamed by DataFusion.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ParamValues;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{LogicalPlan, Statement as DfStatement};
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfParsedStatement;
use datafusion::sql::sqlparser::ast::{CloseCursor, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, StreamExt, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::simplequery::Query;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::types::format::FormatOptions;
use tokio::time::Instant;

use super::auth::{LoggedIn, Login, LoginPolicy, SessionStart};
use super::block_status::BlockStatusClient;
use super::cancel::{CancelHandler, CancelRegistry, QueryCancel};
use super::copy;
use super::cursors::{Cursors, FetchCount};
use super::ddl;
use super::encode::{pg_fields, streaming_response};
use super::plan_cache::PlanCache;
use super::prepared::{DeferredQuery, Planned, Prepared, parameter_types};
use super::run_report;
use super::session::{ParameterChange, SessionCommand, SessionVariables, classify, report_changes};
use super::sqlstate::{
    FEATURE_NOT_SUPPORTED, INSUFFICIENT_PRIVILEGE, INVALID_PARAMETER_VALUE, QUERY_CANCELED,
    READ_ONLY_SQL_TRANSACTION, SYNTAX_ERROR, UNDEFINED_TABLE, error_sqlstate, to_pg_error,
    user_error,
};
use super::transaction::{Block, TransactionError};
use super::{naming, rewrite, table_args};
use crate::access::Role;
use crate::engine::result_cache::{self, CachedResult, ResultKey};
use crate::engine::{Engine, PG_COMPAT_VERSION};
use crate::observe::{Metrics, QueryRecord};

/// The state of one client connection.
pub struct Session {
    engine: Arc<Engine>,
    sql_parser: Arc<PostgresCompatibilityParser>,
    ctx: OnceLock<SessionContext>,
    role: OnceLock<Arc<Role>>,
    variables: Arc<Mutex<SessionVariables>>,
    cursors: Cursors,
    cancel: Arc<QueryCancel>,
    metrics: Arc<Metrics>,
    user: OnceLock<Arc<str>>,
    plans: PlanCache,
    /// The transaction block: `BEGIN`, savepoints, and the failed state after an error.
    block: Mutex<Block>,
    /// Set once the session changes an engine setting with `SET datafusion.*`: its results
    /// are then neither taken from nor given to the server's result cache.
    customized: AtomicBool,
}

impl Session {
    /// A session that has not yet seen its startup message.
    pub fn new(
        engine: Arc<Engine>,
        sql_parser: Arc<PostgresCompatibilityParser>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Session {
            engine,
            sql_parser,
            metrics,
            user: OnceLock::new(),
            ctx: OnceLock::new(),
            role: OnceLock::new(),
            variables: Arc::new(Mutex::new(SessionVariables::default())),
            cursors: Cursors::default(),
            cancel: Arc::new(QueryCancel::default()),
            plans: PlanCache::default(),
            block: Mutex::default(),
            customized: AtomicBool::new(false),
        }
    }

    /// The session's DataFusion context (created for the login user at startup).
    fn ctx(&self) -> &SessionContext {
        self.ctx.get_or_init(|| self.engine.session())
    }

    fn block(&self) -> MutexGuard<'_, Block> {
        // As for the variables: a panic elsewhere leaves a valid state machine.
        self.block
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refuses a statement inside a failed transaction block (25P02) unless it ends the
    /// block, after taking in an error the protocol layer answered itself (`status`).
    fn admit(&self, sql: &str, status: TransactionStatus) -> PgWireResult<()> {
        let mut block = self.block();
        block.observe(status);
        block.admit(sql).map_err(transaction_error)
    }

    fn variables(&self) -> MutexGuard<'_, SessionVariables> {
        // A poisoned lock only means another statement panicked mid-update; the map is
        // still a valid map, so keep serving rather than failing every later statement.
        self.variables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Parses `sql` with the compatibility rewrites, each statement paired with its form
    /// before them (when the rewrites kept the statement count), which names result columns.
    fn parse(&self, sql: &str) -> PgWireResult<Vec<(Statement, Option<Statement>)>> {
        let statements = self
            .sql_parser
            .parse(sql)
            .map_err(|e| user_error(SYNTAX_ERROR, e.to_string()))?;
        // Only queries have result columns to name; other statements skip the second parse.
        let has_query = statements.iter().any(|s| matches!(s, Statement::Query(_)));
        let originals = has_query
            .then(|| Parser::parse_sql(&PostgreSqlDialect {}, sql).ok())
            .flatten()
            .filter(|originals| originals.len() == statements.len());
        Ok(match originals {
            Some(originals) => statements
                .into_iter()
                .zip(originals.into_iter().map(Some))
                .collect(),
            None => statements.into_iter().map(|s| (s, None)).collect(),
        })
    }

    /// Plans one statement (parameters stay as placeholders), naming its result columns
    /// like PostgreSQL.
    async fn plan(
        &self,
        mut statement: Statement,
        original: Option<&Statement>,
    ) -> PgWireResult<Planned> {
        let columns = match (&mut statement, original) {
            (Statement::Query(query), Some(Statement::Query(original))) => {
                naming::name_columns(query, Some(original))
            }
            (Statement::Query(query), _) => naming::name_columns(query, None),
            _ => None,
        };
        rewrite::rewrite(&mut statement);
        let mut planned = self.plan_statement(&statement).await;
        // Scalar subqueries are decorrelated by the optimizer and the physical planner: check
        // them now, so a rewrite can still help before the plan is stored.
        if let Ok(plan) = &planned
            && rewrite::has_scalar_subquery(&statement)
            && let Some(error) = self.physical_plan_error(plan).await
        {
            planned = Err(error);
        }
        // Up to two rewrites may be needed (hoisting lookups, then aggregating the rest).
        let mut retries = 0;
        let plan = loop {
            match planned {
                Err(error) if retries < 2 && rewrite::retry_rewrite(&error, &mut statement) => {
                    retries += 1;
                    tracing::debug!(%statement, "planning again after a rewrite");
                    planned = self.plan_statement(&statement).await;
                    if let Ok(plan) = &planned
                        && let Some(error) = self.physical_plan_error(plan).await
                    {
                        planned = Err(error);
                    }
                }
                other => break other?,
            }
        };
        if !ddl::is_catalog_change(&plan) {
            check_read_only(&plan)?;
        }
        if !self.role().admin {
            check_setting_allowed(&plan)?;
        }
        let plan = typed_cast_placeholders(plan)?;
        Ok(Planned { plan, columns })
    }

    /// The error a rewrite could avoid that physical planning of `plan` (parameters as
    /// typed NULLs) runs into, if any.
    async fn physical_plan_error(&self, plan: &LogicalPlan) -> Option<PgWireError> {
        let nulls: Vec<datafusion::common::ScalarValue> = parameter_types(plan)
            .ok()?
            .iter()
            .map(|t| {
                t.as_ref()
                    .and_then(|t| datafusion::common::ScalarValue::try_from(t).ok())
                    .unwrap_or(datafusion::common::ScalarValue::Null)
            })
            .collect();
        let plan = if nulls.is_empty() {
            plan.clone()
        } else {
            plan.clone()
                .replace_params_with_values(&ParamValues::from(nulls))
                .ok()?
        };
        let error = to_pg_error(self.ctx().state().create_physical_plan(&plan).await.err()?);
        rewrite::is_retryable(&error).then_some(error)
    }

    async fn plan_statement(&self, statement: &Statement) -> PgWireResult<LogicalPlan> {
        // Functions created or dropped by other sessions since the last statement.
        self.engine.sql_functions().sync(self.ctx());
        self.ctx()
            .state()
            .statement_to_plan(DfParsedStatement::Statement(Box::new(statement.clone())))
            .await
            .map_err(|e| self.explain_unavailable(to_pg_error(e)))
    }

    /// Adds why a dataset is not served to "relation does not exist" errors that name it.
    fn explain_unavailable(&self, error: PgWireError) -> PgWireError {
        let PgWireError::UserError(mut info) = error else {
            return error;
        };
        if info.code == UNDEFINED_TABLE {
            let catalog = self.engine.catalog();
            let reason = catalog.datasets().into_iter().find_map(|d| {
                let named = [
                    format!("\"{}\"", d.name),
                    format!(".{}'", d.name),
                    format!("'{}'", d.name),
                ]
                .iter()
                .any(|n| info.message.contains(n.as_str()));
                named.then(|| catalog.unavailable(&d.name)).flatten()
            });
            if let Some(reason) = reason {
                info.message = format!("{}: the dataset is not available: {reason}", info.message);
            }
        }
        PgWireError::UserError(info)
    }

    /// Turns a parsed statement into what Execute runs.
    async fn prepare(
        &self,
        statement: Statement,
        original: Option<&Statement>,
    ) -> PgWireResult<Prepared> {
        if let Some(command) = classify(&statement) {
            return Ok(Prepared::Command(command));
        }
        if let Some(copy) = copy::parse(&statement) {
            let copy = copy?;
            let planned = self
                .plan(Statement::Query(copy.query.clone()), None)
                .await?;
            return Ok(Prepared::Copy(Box::new(copy), Box::new(planned)));
        }
        if let Some(change) = ddl::function_change(&statement, self.engine.sql_functions()) {
            return Ok(Prepared::Catalog(Box::new(change)));
        }
        match statement {
            Statement::Declare { mut stmts } if stmts.len() == 1 => {
                let declare = stmts.remove(0);
                let (Some(name), Some(query)) = (declare.names.first(), declare.for_query) else {
                    return Err(user_error(
                        FEATURE_NOT_SUPPORTED,
                        "only DECLARE name CURSOR FOR query is supported",
                    ));
                };
                let planned = self.plan(Statement::Query(query), None).await?;
                Ok(Prepared::Declare {
                    name: name.value.clone(),
                    hold: declare.hold.unwrap_or(false),
                    query: Box::new(planned),
                })
            }
            Statement::Fetch {
                name, direction, ..
            } => Ok(Prepared::Fetch {
                name: name.value.clone(),
                count: FetchCount::from_direction(&direction)?,
            }),
            Statement::Close { cursor } => Ok(Prepared::Close(match cursor {
                CloseCursor::All => None,
                CloseCursor::Specific { name } => Some(name.value.clone()),
            })),
            mut statement => {
                let engine = self.engine.clone();
                let argument_types = move |name: &str| engine.table_function_arguments(name);
                let table_params = table_args::find(&mut statement, &argument_types);
                if table_params.is_empty() {
                    let planned = self.plan(statement, original).await?;
                    if let Some(change) = ddl::catalog_change(&planned.plan)? {
                        return Ok(Prepared::Catalog(Box::new(change)));
                    }
                    return Ok(Prepared::Query(Box::new(planned)));
                }
                // Plan with stand-in values to describe the result and the other parameters.
                let stand_ins = table_params
                    .iter()
                    .map(|(n, t)| (*n, table_args::stand_in(t)))
                    .collect();
                let mut probe = statement.clone();
                table_args::substitute(&mut probe, &stand_ins);
                let probe = self.plan(probe, original).await?;
                Ok(Prepared::Deferred(Box::new(DeferredQuery {
                    statement,
                    original: original.cloned(),
                    table_params,
                    probe,
                })))
            }
        }
    }

    /// Starts the log record and metrics of one statement.
    fn record(&self, sql: impl Into<Arc<str>>) -> QueryRecord {
        let user = self.user.get().cloned().unwrap_or_else(|| Arc::from(""));
        QueryRecord::start(self.metrics.clone(), user, sql.into())
    }

    fn deadline(&self) -> Option<Instant> {
        self.variables()
            .statement_timeout()
            .map(|timeout| Instant::now() + timeout)
    }

    /// Runs a plan and streams its result (or answers with a command tag).
    async fn execute(
        &self,
        planned: Planned,
        format: &Format,
        options: Arc<FormatOptions>,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response> {
        let Planned { plan, columns } = planned;
        let deadline = self.deadline();
        let tag = match &plan {
            LogicalPlan::Statement(DfStatement::SetVariable(_)) => Some("SET"),
            LogicalPlan::Statement(DfStatement::ResetVariable(_)) => Some("RESET"),
            _ => None,
        };
        if tag.is_some() {
            // `SET datafusion.*`: plans made before may no longer hold.
            self.plans.clear();
            self.customized.store(true, Ordering::SeqCst);
        }
        let cancel = self.cancel.begin();
        let plan = self.in_session_zone(plan)?;
        let cache_slot = self.result_key(&plan);
        if let Some((key, generation)) = &cache_slot
            && let Some(hit) = self.engine.results().get(key, *generation)
        {
            let fields = Arc::new(named_fields(
                pg_fields(&hit.schema, format, options)?,
                columns.as_deref(),
            ));
            let batches: Vec<_> = hit.batches.iter().cloned().map(Ok).collect();
            let stream = Box::pin(RecordBatchStreamAdapter::new(
                hit.schema.clone(),
                stream::iter(batches),
            ));
            return Ok(Response::Query(streaming_response(
                stream,
                fields,
                deadline,
                cancel,
                self.engine.limits().max_result_rows,
                record.take(),
            )));
        }
        // The timeout covers planning as well as execution (which `streaming_response` bounds).
        let started = within_deadline(deadline, async {
            let frame = self
                .ctx()
                .execute_logical_plan(plan)
                .await
                .map_err(to_pg_error)?;
            if tag.is_some() {
                return Ok(None);
            }
            let fields = Arc::new(named_fields(
                pg_fields(frame.schema().as_arrow(), format, options)?,
                columns.as_deref(),
            ));
            let task = Arc::new(frame.task_ctx());
            let physical = frame.create_physical_plan().await.map_err(to_pg_error)?;
            let batches = execute_stream(physical.clone(), task).map_err(to_pg_error)?;
            let batches = match cache_slot {
                Some((key, generation)) => caching(batches, key, generation, self.engine.clone()),
                None => batches,
            };
            Ok(Some((fields, physical, batches)))
        })
        .await?;
        let Some((fields, physical, batches)) = started else {
            return Ok(Response::Execution(Tag::new(tag.unwrap_or("SET"))));
        };
        let record = record.take().map(|mut record| {
            record.set_plan(physical);
            record
        });
        Ok(Response::Query(streaming_response(
            batches,
            fields,
            deadline,
            cancel,
            self.engine.limits().max_result_rows,
            record,
        )))
    }

    /// Where the result of `plan` is (or would be) in the server's result cache, when it may
    /// be cached: a deterministic query over the catalog, in a session with no engine
    /// settings of its own.
    fn result_key(&self, plan: &LogicalPlan) -> Option<(ResultKey, u64)> {
        if !self.engine.limits().cache_results || self.customized.load(Ordering::SeqCst) {
            return None;
        }
        let generation = self.engine.catalog().generation();
        let engine = &self.engine;
        if !result_cache::is_cacheable(plan, &|name| engine.is_table_function(name)) {
            return None;
        }
        let key = ResultKey {
            plan: plan.clone(),
            user: self.user.get().cloned().unwrap_or_else(|| Arc::from("")),
            settings: self.variables().fingerprint(),
        };
        Some((key, generation))
    }

    /// Shows `timestamptz` results in the session's `TimeZone`, as PostgreSQL does: the
    /// instants stay the same, their zone for display changes.
    fn in_session_zone(&self, plan: LogicalPlan) -> PgWireResult<LogicalPlan> {
        use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
        let zone = self
            .variables()
            .get("TimeZone")
            .unwrap_or_else(|| "UTC".to_string());
        let has_zoned = plan.schema().fields().iter().any(
            |f| matches!(f.data_type(), DataType::Timestamp(_, Some(z)) if z.as_ref() != zone),
        );
        if !has_zoned || zone.eq_ignore_ascii_case("utc") && !plan_has_non_utc(&plan) {
            return Ok(plan);
        }
        let zone: Arc<str> = if zone.eq_ignore_ascii_case("utc") {
            Arc::from("+00:00")
        } else {
            Arc::from(zone.as_str())
        };
        let exprs: Vec<Expr> = plan
            .schema()
            .iter()
            .map(|(qualifier, field)| {
                let column = Expr::Column(datafusion::common::Column::new(
                    qualifier.cloned(),
                    field.name(),
                ));
                match field.data_type() {
                    DataType::Timestamp(unit, Some(_)) => {
                        cast(column, DataType::Timestamp(*unit, Some(zone.clone())))
                            .alias_qualified(qualifier.cloned(), field.name())
                    }
                    _ => column,
                }
            })
            .collect();
        LogicalPlanBuilder::from(plan)
            .project(exprs)
            .and_then(|b| b.build())
            .map_err(to_pg_error)
    }

    /// Starts a planned query and returns its batch stream.
    async fn stream(&self, planned: Planned) -> PgWireResult<SendableRecordBatchStream> {
        self.ctx()
            .execute_logical_plan(planned.plan)
            .await
            .map_err(to_pg_error)?
            .execute_stream()
            .await
            .map_err(to_pg_error)
    }

    /// Runs a prepared statement with its bound parameters (`None` in the simple protocol);
    /// cursor declarations and `DEALLOCATE` are handled by the protocol-specific callers.
    async fn run_common<C>(
        &self,
        client: &mut C,
        prepared: &Prepared,
        portal: Option<&Portal<ParsedStatement>>,
        format: &Format,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let options = Session::format_options(client.metadata());
        match prepared {
            Prepared::Command(command) => {
                let mut changes = Vec::new();
                let response = self.run_command(command, client.metadata_mut(), &mut changes)?;
                report_changes(client, changes).await?;
                Ok(response)
            }
            Prepared::Query(planned) => {
                let planned = bind(planned, portal)?;
                self.execute(planned, format, options, record).await
            }
            Prepared::Deferred(deferred) => {
                let planned = self.bind_deferred(deferred, portal).await?;
                self.execute(planned, format, options, record).await
            }
            Prepared::Copy(copy, planned) => {
                let planned = bind(planned, portal)?;
                let fields = Arc::new(named_fields(
                    pg_fields(
                        planned.plan.schema().as_arrow(),
                        &Format::UnifiedText,
                        options,
                    )?,
                    planned.columns.as_deref(),
                ));
                let batches = self.stream(planned).await?;
                Ok(Response::CopyOut(copy.response(
                    batches,
                    fields,
                    record.take(),
                )?))
            }
            Prepared::RunReport(request) => {
                let role = self.role();
                if !role.admin {
                    return Err(user_error(
                        INSUFFICIENT_PRIVILEGE,
                        format!(
                            "permission denied: role {} may not run reports (reports are for \
                             administrators)",
                            role.name
                        ),
                    ));
                }
                let row = run_report::run(&self.engine, request).await?;
                let mut response = text_rows(&run_report::COLUMNS, vec![row])?;
                response.set_command_tag("RUN REPORT");
                Ok(Response::Query(response))
            }
            Prepared::Catalog(change) => {
                let role = self.role();
                if !role.admin {
                    return Err(user_error(
                        INSUFFICIENT_PRIVILEGE,
                        format!(
                            "permission denied: role {} may not change the catalog (DDL and \
                             REFRESH are for administrators)",
                            role.name
                        ),
                    ));
                }
                let refresh = matches!(change.as_ref(), ddl::CatalogChange::Refresh(_));
                let response = ddl::run(change, self.engine.catalog(), self.ctx()).await?;
                if refresh {
                    // The model is checked against its contract again at each REFRESH.
                    self.engine.refresh_model().await;
                }
                Ok(response)
            }
            Prepared::Fetch { name, count } => {
                let schema = self.cursors.schema(name)?;
                let batches = self.cursors.fetch(name, *count).await?;
                let fields = Arc::new(pg_fields(&schema, format, options)?);
                let stream = Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    stream::iter(batches.into_iter().map(Ok)),
                ));
                let mut response = streaming_response(
                    stream,
                    fields,
                    None,
                    self.cancel.begin(),
                    self.engine.limits().max_result_rows,
                    record.take(),
                );
                response.set_command_tag("FETCH");
                Ok(Response::Query(response))
            }
            Prepared::Close(name) => {
                match name {
                    Some(name) => self.cursors.close(name)?,
                    None => self.cursors.close_all(),
                }
                Ok(Response::Execution(Tag::new("CLOSE CURSOR")))
            }
            Prepared::Declare { .. } => Err(user_error(
                FEATURE_NOT_SUPPORTED,
                "DECLARE is handled by the protocol handler",
            )),
        }
    }

    /// Runs a statement of the extended protocol, with its log record.
    async fn run<C>(
        &self,
        client: &mut C,
        portal: &Portal<ParsedStatement>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ParsedStatement>,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = &portal.statement.statement;
        let mut record = Some(self.record(statement.sql.clone()));
        let result = match &statement.prepared {
            Prepared::Command(SessionCommand::Deallocate(name)) => {
                client.portal_store().rm_statement(name);
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
            Prepared::Declare { name, hold, query } => {
                match self.declare(name, *hold, query, Some(portal)).await {
                    Ok(planned) => {
                        // A protocol-level Describe of the cursor's portal (psycopg's named
                        // cursors) finds the cursor's result columns.
                        let statement = StoredStatement::new(
                            name.clone(),
                            ParsedStatement {
                                sql: statement.sql.clone(),
                                prepared: Prepared::Query(Box::new(planned)),
                            },
                            vec![],
                        );
                        let cursor = Portal::new_cursor(name.clone(), Arc::new(statement));
                        client.portal_store().put_portal(Arc::new(cursor));
                        Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
                    }
                    Err(error) => Err(error),
                }
            }
            prepared => {
                if let Prepared::Close(Some(name)) = prepared {
                    client.portal_store().rm_portal(name);
                }
                let format = &portal.result_column_format;
                self.run_common(client, prepared, Some(portal), format, &mut record)
                    .await
            }
        };
        finish_record(record, &result);
        result
    }

    /// Runs a statement of the simple protocol; `record` is its log record.
    async fn run_simple<C>(
        &self,
        client: &mut C,
        prepared: &Prepared,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match prepared {
            Prepared::Command(SessionCommand::Deallocate(name)) => {
                client.portal_store().rm_statement(name);
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
            Prepared::Declare { name, hold, query } => {
                self.declare(name, *hold, query, None).await?;
                Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
            }
            prepared => {
                self.run_common(client, prepared, None, &Format::UnifiedText, record)
                    .await
            }
        }
    }

    /// Opens a cursor over a query; returns the bound plan.
    async fn declare(
        &self,
        name: &str,
        hold: bool,
        query: &Planned,
        portal: Option<&Portal<ParsedStatement>>,
    ) -> PgWireResult<Planned> {
        let planned = bind(query, portal)?;
        let batches = self.stream(planned.clone()).await?;
        self.cursors.declare(name, batches, hold)?;
        Ok(planned)
    }

    /// Plans a statement with table-function parameters for its bound values.
    async fn bind_deferred(
        &self,
        deferred: &DeferredQuery,
        portal: Option<&Portal<ParsedStatement>>,
    ) -> PgWireResult<Planned> {
        let Some(portal) = portal else {
            return Err(user_error(
                super::sqlstate::PROTOCOL_VIOLATION,
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
        let mut literals = BTreeMap::new();
        for (number, data_type) in &deferred.table_params {
            let value = values
                .get(number - 1)
                .map(|v| v.value.clone())
                .ok_or_else(|| {
                    user_error(
                        super::sqlstate::PROTOCOL_VIOLATION,
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
            literals.insert(*number, table_args::literal(&value));
        }
        let mut statement = deferred.statement.clone();
        table_args::substitute(&mut statement, &literals);
        let planned = self.plan(statement, deferred.original.as_ref()).await?;
        let plan = planned
            .plan
            .replace_params_with_values(&ParamValues::List(values))
            .map_err(to_pg_error)?;
        Ok(Planned {
            plan,
            columns: planned.columns,
        })
    }

    /// Answers a session command; `changes` collects variables to report to the client.
    fn run_command(
        &self,
        command: &SessionCommand,
        metadata: &mut std::collections::HashMap<String, String>,
        changes: &mut Vec<ParameterChange>,
    ) -> PgWireResult<Response> {
        let session_error =
            |e: super::session::SessionError| user_error(e.sqlstate(), e.to_string());
        if matches!(
            command,
            SessionCommand::Set { .. } | SessionCommand::Reset(_) | SessionCommand::ResetAll { .. }
        ) {
            self.plans.clear();
        }
        let response = match command {
            SessionCommand::Set { name, value } => {
                let change = self.variables().set(name, value).map_err(session_error)?;
                self.apply_engine_setting(name, value)?;
                changes.extend(change);
                Response::Execution(Tag::new("SET"))
            }
            SessionCommand::Reset(name) => {
                let change = self.variables().reset(name).map_err(session_error)?;
                if name.eq_ignore_ascii_case("timezone") {
                    self.apply_engine_setting("TimeZone", "UTC")?;
                }
                changes.extend(change);
                Response::Execution(Tag::new("RESET"))
            }
            SessionCommand::ResetAll { tag } => {
                self.cursors.close_all();
                changes.extend(self.variables().reset_all());
                self.apply_engine_setting("TimeZone", "UTC")?;
                Response::Execution(Tag::new(tag))
            }
            SessionCommand::Show(name) => {
                let value = self.variables().get(name).ok_or_else(|| {
                    session_error(super::session::SessionError::UnknownVariable(name.clone()))
                })?;
                Response::Query(text_rows(
                    &[name.to_ascii_lowercase().as_str()],
                    vec![vec![value]],
                )?)
            }
            SessionCommand::ShowAll => {
                let rows = self
                    .variables()
                    .all()
                    .into_iter()
                    .map(|(name, value, description)| vec![name, value, description])
                    .collect();
                Response::Query(text_rows(&["name", "setting", "description"], rows)?)
            }
            SessionCommand::Begin => {
                self.block().begin();
                Response::TransactionStart(Tag::new("BEGIN"))
            }
            SessionCommand::Commit => {
                self.cursors.end_transaction();
                Response::TransactionEnd(Tag::new(self.block().commit()))
            }
            SessionCommand::Rollback => {
                self.cursors.end_transaction();
                self.block().rollback();
                Response::TransactionEnd(Tag::new("ROLLBACK"))
            }
            SessionCommand::Savepoint(name) => {
                self.block().savepoint(name).map_err(transaction_error)?;
                Response::Execution(Tag::new("SAVEPOINT"))
            }
            SessionCommand::Release(name) => {
                self.block().release(name).map_err(transaction_error)?;
                Response::Execution(Tag::new("RELEASE"))
            }
            SessionCommand::RollbackTo(name) => {
                self.block().rollback_to(name).map_err(transaction_error)?;
                Response::Execution(Tag::new("ROLLBACK"))
            }
            SessionCommand::Acknowledge(tag) => Response::Execution(Tag::new(tag)),
            SessionCommand::Deallocate(_) => Response::Execution(Tag::new("DEALLOCATE")),
        };
        // Keep the client metadata that pgwire's value formatting reads in step.
        for change in changes.iter() {
            metadata.insert(change.name.to_ascii_lowercase(), change.value.clone());
        }
        if let SessionCommand::Set { name, value } = command {
            metadata.insert(name.to_ascii_lowercase(), value.clone());
        }
        Ok(response)
    }

    /// Mirrors PostgreSQL variables that change query results into DataFusion's settings.
    fn apply_engine_setting(&self, name: &str, value: &str) -> PgWireResult<()> {
        if name.eq_ignore_ascii_case("timezone") {
            let zone = if value.eq_ignore_ascii_case("utc") {
                "+00:00"
            } else {
                value
            };
            let state = self.ctx().state_ref();
            let mut state = state.write();
            state
                .config_mut()
                .options_mut()
                .set("datafusion.execution.time_zone", zone)
                .map_err(to_pg_error)?;
        }
        Ok(())
    }

    fn format_options(metadata: &std::collections::HashMap<String, String>) -> Arc<FormatOptions> {
        Arc::new(FormatOptions::from_client_metadata(metadata))
    }
}

/// Rejects statements that would change data or the catalog: this endpoint is read-only.
/// The whole plan is searched, so a write wrapped in `EXPLAIN ANALYZE` is refused too.
/// Ends a statement's record that no result stream took: marks it failed with the error's
/// SQLSTATE, then writes it (by dropping it).
/// Passes `batches` through, keeping a copy while it stays small; when the stream ends and the
/// catalog is still in `generation`, the copy goes into the engine's result cache.
fn caching(
    batches: SendableRecordBatchStream,
    key: ResultKey,
    generation: u64,
    engine: Arc<Engine>,
) -> SendableRecordBatchStream {
    let schema = batches.schema();
    struct Copying {
        batches: SendableRecordBatchStream,
        kept: Vec<datafusion::arrow::array::RecordBatch>,
        bytes: usize,
        slot: Option<(ResultKey, u64)>,
        engine: Arc<Engine>,
    }
    let state = Copying {
        batches,
        kept: Vec::new(),
        bytes: 0,
        slot: Some((key, generation)),
        engine,
    };
    let copied = stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.batches.next().await {
            Some(Ok(batch)) => {
                if state.slot.is_some() {
                    state.bytes += batch.get_array_memory_size();
                    if state.bytes > result_cache::MAX_ENTRY_BYTES {
                        state.slot = None;
                        state.kept.clear();
                    } else {
                        state.kept.push(batch.clone());
                    }
                }
                Some((Ok(batch), Some(state)))
            }
            Some(Err(error)) => Some((Err(error), None)),
            None => {
                if let Some((key, generation)) = state.slot
                    && state.engine.catalog().generation() == generation
                {
                    let result = CachedResult {
                        schema: state.batches.schema(),
                        batches: Arc::new(state.kept),
                    };
                    state.engine.results().insert(key, generation, result);
                }
                None
            }
        }
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, copied))
}

fn finish_record<T, E: std::borrow::Borrow<PgWireError>>(
    record: Option<QueryRecord>,
    result: &Result<T, E>,
) {
    if let (Some(mut record), Err(error)) = (record, result) {
        record.fail(&error_sqlstate(error.borrow()));
    }
}

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

/// Runs `work` until `deadline`, then fails with SQLSTATE 57014 as PostgreSQL does.
async fn within_deadline<T>(
    deadline: Option<Instant>,
    work: impl std::future::Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| {
                Err(user_error(
                    QUERY_CANCELED,
                    "canceling statement due to statement timeout",
                ))
            }),
        None => work.await,
    }
}

/// Settings that would widen what a session reads or holds (`datafusion.catalog.*` changes
/// how names resolve, `datafusion.runtime.*` the memory limits) are for administrators.
fn check_setting_allowed(plan: &LogicalPlan) -> PgWireResult<()> {
    if let LogicalPlan::Statement(DfStatement::SetVariable(set)) = plan {
        let name = set.variable.to_ascii_lowercase();
        if name.starts_with("datafusion.catalog.") || name.starts_with("datafusion.runtime.") {
            return Err(user_error(
                INSUFFICIENT_PRIVILEGE,
                format!("permission denied to set parameter \"{}\"", set.variable),
            ));
        }
    }
    Ok(())
}

/// Whether a result column carries a zone other than UTC (which the session zone replaces).
fn plan_has_non_utc(plan: &LogicalPlan) -> bool {
    plan.schema().fields().iter().any(|f| {
        matches!(f.data_type(), DataType::Timestamp(_, Some(z))
            if !matches!(z.as_ref(), "UTC" | "+00:00" | "+00" | "Z"))
    })
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

/// A small all-text result (for `SHOW`).
/// A refused transaction statement as the client sees it.
fn transaction_error(error: TransactionError) -> PgWireError {
    user_error(error.sqlstate(), error.to_string())
}

fn text_rows(columns: &[&str], rows: Vec<Vec<String>>) -> PgWireResult<QueryResponse> {
    let fields: Arc<Vec<FieldInfo>> = Arc::new(
        columns
            .iter()
            .map(|name| FieldInfo::new(name.to_string(), None, None, Type::TEXT, FieldFormat::Text))
            .collect(),
    );
    let mut encoded = Vec::with_capacity(rows.len());
    for row in rows {
        let mut encoder = DataRowEncoder::new(fields.clone());
        for value in row {
            encoder.encode_field(&Some(value))?;
        }
        encoded.push(Ok(encoder.take_row()));
    }
    Ok(QueryResponse::new(fields, stream::iter(encoded)))
}

/// Binds a portal's parameter values into a planned statement.
fn bind(planned: &Planned, portal: Option<&Portal<ParsedStatement>>) -> PgWireResult<Planned> {
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

/// Field descriptions renamed to the client-facing column names.
fn named_fields(fields: Vec<FieldInfo>, names: Option<&[String]>) -> Vec<FieldInfo> {
    let Some(names) = names.filter(|n| n.len() == fields.len()) else {
        return fields;
    };
    fields
        .into_iter()
        .zip(names)
        .map(|(field, name)| {
            FieldInfo::new(
                name.clone(),
                field.table_id(),
                field.column_id(),
                field.datatype().clone(),
                field.format(),
            )
        })
        .collect()
}

/// Parses and plans statements for the extended protocol.
pub struct StatementParser {
    session: Arc<Session>,
}

/// A statement of the extended protocol: its text (for the query log) and its plan.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// The SQL as the client sent it.
    pub sql: Arc<str>,
    /// What running it means.
    pub prepared: Prepared,
}

impl StatementParser {
    /// Parses and plans the one statement in `sql` (`None` when it is empty).
    async fn prepare(&self, sql: &str) -> PgWireResult<Option<Prepared>> {
        if let Some(request) = run_report::parse(sql)? {
            return Ok(Some(Prepared::RunReport(request)));
        }
        if let Some(change) = ddl::parse_special(self.session.ctx(), sql).await? {
            return Ok(Some(Prepared::Catalog(Box::new(change))));
        }
        let generation = self.session.engine.catalog().generation();
        if let Some(prepared) = self.session.plans.get(sql, generation) {
            return Ok(Some(prepared));
        }
        let mut statements = self.session.parse(sql)?;
        if statements.len() > 1 {
            return Err(user_error(
                SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some((statement, original)) = statements.pop() else {
            return Ok(None);
        };
        let prepared = self.session.prepare(statement, original.as_ref()).await?;
        self.session.plans.insert(sql, generation, &prepared);
        Ok(Some(prepared))
    }
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = ParsedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<ParsedStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let prepared = match self.session.admit(sql, client.transaction_status()) {
            Ok(()) => self.prepare(sql).await,
            Err(refused) => Err(refused),
        };
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // A statement that fails to parse or plan is logged and counted too.
                finish_record(Some(self.session.record(sql)), &Err::<(), _>(&error));
                return Err(error);
            }
        };
        Ok(prepared.map(|prepared| ParsedStatement {
            sql: Arc::from(sql),
            prepared,
        }))
    }

    fn get_parameter_types(&self, statement: &ParsedStatement) -> PgWireResult<Vec<Type>> {
        let types = match &statement.prepared {
            Prepared::Query(planned) | Prepared::Declare { query: planned, .. } => {
                parameter_types(&planned.plan)?
            }
            Prepared::Copy(_, planned) => parameter_types(&planned.plan)?,
            Prepared::Deferred(deferred) => deferred.parameter_types()?,
            _ => vec![],
        };
        types
            .iter()
            .map(|t| match t {
                Some(data_type) => arrow_pg::datatypes::into_pg_type(data_type),
                None => Ok(Type::UNKNOWN),
            })
            .collect()
    }

    fn get_result_schema(
        &self,
        statement: &ParsedStatement,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.unwrap_or(&Format::UnifiedText);
        let options = Arc::new(FormatOptions::default());
        let text_schema = |names: &[&str]| {
            Schema::new(
                names
                    .iter()
                    .map(|n| Field::new(*n, DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            )
        };
        match &statement.prepared {
            Prepared::Command(SessionCommand::Show(name)) => pg_fields(
                &text_schema(&[name.to_ascii_lowercase().as_str()]),
                format,
                options,
            ),
            Prepared::Command(SessionCommand::ShowAll) => pg_fields(
                &text_schema(&["name", "setting", "description"]),
                format,
                options,
            ),
            Prepared::RunReport(_) => {
                pg_fields(&text_schema(&run_report::COLUMNS), format, options)
            }
            Prepared::Query(planned) => planned_fields(planned, format, options),
            Prepared::Deferred(deferred) => planned_fields(&deferred.probe, format, options),
            Prepared::Fetch { name, .. } => {
                pg_fields(self.session.cursors.schema(name)?.as_ref(), format, options)
            }
            _ => Ok(vec![]),
        }
    }
}

fn planned_fields(
    planned: &Planned,
    format: &Format,
    options: Arc<FormatOptions>,
) -> PgWireResult<Vec<FieldInfo>> {
    match &planned.plan {
        LogicalPlan::Statement(_) | LogicalPlan::Ddl(_) => Ok(vec![]),
        plan => Ok(named_fields(
            pg_fields(plan.schema().as_arrow(), format, options)?,
            planned.columns.as_deref(),
        )),
    }
}

/// Simple and extended query handling for one connection.
pub struct QueryHandler {
    session: Arc<Session>,
    parser: Arc<StatementParser>,
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    /// Answers the query string through a client whose `ReadyForQuery` reports the session's
    /// transaction block.
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.session.block().observe(client.transaction_status());
        let mut client = BlockStatusClient::new(client, &self.session.block);
        self._on_query(&mut client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Err(error) = self.session.admit(query, client.transaction_status()) {
            finish_record(Some(self.session.record(query)), &Err::<(), _>(&error));
            return Ok(vec![Response::Error(Box::new(ErrorInfo::from(error)))]);
        }
        let special = match run_report::parse(query) {
            Ok(Some(request)) => Ok(Some(Prepared::RunReport(request))),
            Ok(None) => ddl::parse_special(self.session.ctx(), query)
                .await
                .map(|change| change.map(|change| Prepared::Catalog(Box::new(change)))),
            Err(error) => Err(error),
        };
        match special {
            Ok(Some(prepared)) => {
                let mut record = Some(self.session.record(query));
                let result = self
                    .session
                    .run_simple(client, &prepared, &mut record)
                    .await;
                finish_record(record, &result);
                return Ok(vec![result.unwrap_or_else(|error| {
                    Response::Error(Box::new(ErrorInfo::from(error)))
                })]);
            }
            Ok(None) => {}
            Err(error) => {
                finish_record(Some(self.session.record(query)), &Err::<(), _>(&error));
                return Ok(vec![Response::Error(Box::new(ErrorInfo::from(error)))]);
            }
        }
        let generation = self.session.engine.catalog().generation();
        if let Some(prepared) = self.session.plans.get(query, generation) {
            let mut record = Some(self.session.record(query));
            let result = self
                .session
                .run_simple(client, &prepared, &mut record)
                .await;
            finish_record(record, &result);
            return Ok(vec![result.unwrap_or_else(|error| {
                Response::Error(Box::new(ErrorInfo::from(error)))
            })]);
        }
        let statements = match self.session.parse(query) {
            Ok(statements) => statements,
            Err(error) => {
                finish_record(Some(self.session.record(query)), &Err::<(), _>(&error));
                return Err(error);
            }
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let single = statements.len() == 1;
        let mut responses = Vec::with_capacity(statements.len());
        for (statement, original) in statements {
            // One statement is logged as sent; several are logged one by one.
            let text = if single {
                query.to_string()
            } else {
                original.as_ref().unwrap_or(&statement).to_string()
            };
            let mut record = Some(self.session.record(text));
            let result = match self.session.prepare(statement, original.as_ref()).await {
                Ok(prepared) => {
                    if single {
                        self.session.plans.insert(query, generation, &prepared);
                    }
                    self.session
                        .run_simple(client, &prepared, &mut record)
                        .await
                }
                Err(error) => Err(error),
            };
            finish_record(record, &result);
            match result {
                Ok(response) => responses.push(response),
                Err(error) => {
                    // Like PostgreSQL: report the error and skip the rest of the string.
                    responses.push(Response::Error(Box::new(ErrorInfo::from(error))));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = ParsedStatement;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        self.parser.clone()
    }

    /// Runs the portal, then reports the session's transaction block as the connection's
    /// status (pgwire alone cannot leave a failed block by `ROLLBACK TO SAVEPOINT`).
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self._on_execute(client, message).await;
        client.set_transaction_status(self.session.block().status());
        result
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<ParsedStatement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ParsedStatement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Err(error) = self
            .session
            .admit(&portal.statement.statement.sql, client.transaction_status())
        {
            finish_record(
                Some(self.session.record(portal.statement.statement.sql.clone())),
                &Err::<(), _>(&error),
            );
            return Err(error);
        }
        let result = self.session.run(client, portal).await;
        if result.is_err() {
            self.session.block().fail();
        }
        result
    }
}

/// Starts a connection's [`Session`] when its user has logged in.
pub struct SessionStarter {
    session: Arc<Session>,
    cancels: Arc<CancelRegistry>,
}

impl SessionStart for SessionStarter {
    /// The user's context (with the role's grants and row filters), cancellation, and the
    /// variables clients expect, including startup options such as `-c TimeZone=...` or
    /// `application_name`, which behave like `SET`.
    fn start(&self, login: LoggedIn<'_>) -> PgWireResult<Vec<ParameterChange>> {
        let session = &self.session;
        let LoggedIn {
            user,
            role,
            peer,
            pid,
            secret,
            startup,
        } = login;
        let ctx = session.engine.session_for(user, &role);
        super::functions::register(&ctx, session.variables.clone());
        let _ = session.ctx.set(ctx);
        let is_admin = role.admin;
        let _ = session.user.set(Arc::from(user));
        tracing::info!(%user, role = %role.name, %peer, "session started");
        let _ = session.role.set(Arc::new(role));
        super::functions::register_backend_pid(session.ctx(), pid);
        self.cancels.register(pid, secret, &session.cancel);
        let version = format!(
            "{PG_COMPAT_VERSION} (Segmint {})",
            env!("CARGO_PKG_VERSION")
        );
        let mut changes = vec![
            ParameterChange {
                name: "server_version".into(),
                value: version,
            },
            ParameterChange {
                name: "DateStyle".into(),
                value: "ISO, MDY".into(),
            },
            ParameterChange {
                name: "TimeZone".into(),
                value: "UTC".into(),
            },
            ParameterChange {
                name: "is_superuser".into(),
                value: if is_admin { "on" } else { "off" }.into(),
            },
        ];
        if let Some(timeout) = &session.engine.limits().statement_timeout {
            let mut variables = session.variables();
            let _ = variables.set("statement_timeout", &format!("{}ms", timeout.as_millis()));
        }
        for (name, value) in startup {
            if matches!(
                name.as_str(),
                "user" | "database" | "options" | "replication"
            ) {
                continue;
            }
            let mut variables = session.variables();
            if let Ok(Some(change)) = variables.set(name, value) {
                drop(variables);
                session.apply_engine_setting(&change.name, &change.value)?;
                changes.push(change);
            }
        }
        Ok(changes)
    }
}

impl Session {
    /// The session's role (the built-in `admin` before login).
    pub fn role(&self) -> Arc<Role> {
        self.role
            .get()
            .cloned()
            .unwrap_or_else(|| Arc::new(Role::admin()))
    }
}

/// Answers every connection beyond `max_connections` with SQLSTATE 53300 and closes it.
pub struct TooManyConnections;

#[async_trait]
impl pgwire::api::auth::StartupHandler for TooManyConnections {
    async fn on_startup<C>(
        &self,
        _client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(_) => Err(super::auth::fatal(
                super::sqlstate::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            )),
            _ => Err(user_error(
                FEATURE_NOT_SUPPORTED,
                "unexpected message during startup",
            )),
        }
    }
}

impl PgWireServerHandlers for TooManyConnections {
    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        Arc::new(TooManyConnections)
    }
}

/// The handler set for one connection.
pub struct ConnectionHandlers {
    query: Arc<QueryHandler>,
    startup: Arc<Login>,
    cancel: Arc<CancelHandler>,
}

impl ConnectionHandlers {
    /// Handlers for a new connection with its own session.
    pub fn new(
        engine: Arc<Engine>,
        sql_parser: Arc<PostgresCompatibilityParser>,
        login: Arc<LoginPolicy>,
        connections: Arc<ConnectionManager>,
        cancels: Arc<CancelRegistry>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let session = Arc::new(Session::new(engine, sql_parser, metrics));
        ConnectionHandlers {
            query: Arc::new(QueryHandler {
                session: session.clone(),
                parser: Arc::new(StatementParser {
                    session: session.clone(),
                }),
            }),
            startup: Arc::new(Login::new(
                login,
                Arc::new(SessionStarter {
                    session,
                    cancels: cancels.clone(),
                }),
                connections.clone(),
            )),
            cancel: Arc::new(CancelHandler::new(connections, cancels)),
        }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.query.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.query.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.cancel.clone()
    }
}
