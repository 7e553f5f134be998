//! One logged-in connection's session: its user, role and DataFusion context (with the
//! role's grants and row filters), its PostgreSQL variables, cursors, transaction block, plan
//! cache and cancellation. A session exists only after login ([`Session::start`]). It ties
//! the statement path together for both protocols: [`classify`](super::statement::classify)
//! the text, [`prepare`](Session::prepare) it with the [`Planner`], [`authorize`] it, then
//! [`run`](Session::run) it: session commands through [`settings`] and the block, queries
//! through [`Execution`], cursors, `COPY`, DDL and `RUN REPORT` through their modules.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::stream;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::response::TransactionStatus;
use pgwire::types::format::FormatOptions;
use tokio::time::Instant;

use super::authorize::authorize;
use super::cancel::QueryCancel;
use super::cursors::Cursors;
use super::ddl;
use super::encode::{pg_fields, streaming_response};
use super::execution::{self, CacheOwner, Execution, named_fields, setting_tag, text_rows};
use super::plan_cache::PlanCache;
use super::planner::{Planner, bind};
use super::prepared::{ParsedStatement, Planned, Prepared};
use super::run_report;
use super::settings;
use super::sqlstate::{FEATURE_NOT_SUPPORTED, SYNTAX_ERROR, error_sqlstate, user_error};
use super::statement::{self, Classified, SessionCommand, Statement};
use super::transaction::{Block, TransactionError};
use super::variables::{ParameterChange, SessionVariables};
use crate::access::Role;
use crate::engine::Engine;
use crate::observe::{Metrics, QueryRecord};
use crate::pgcompat::PG_COMPAT_VERSION;
use crate::pgcompat::sql_parser::SqlParser;

/// What a session is started from: the server's engine, SQL parser and metrics.
#[derive(Clone)]
pub struct SessionServices {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The SQL parser.
    pub sql_parser: Arc<SqlParser>,
    /// The server's metrics.
    pub metrics: Arc<Metrics>,
}

/// The state of one logged-in connection.
pub struct Session {
    services: SessionServices,
    planner: Planner,
    user: Arc<str>,
    role: Role,
    variables: Arc<Mutex<SessionVariables>>,
    cursors: Cursors,
    cancel: Arc<QueryCancel>,
    plans: PlanCache,
    /// The transaction block: `BEGIN`, savepoints, and the failed state after an error.
    block: Mutex<Block>,
    /// Set once the session changes an engine setting with `SET datafusion.*`: its results
    /// are then neither taken from nor given to the server's result cache.
    customized: AtomicBool,
}

impl Session {
    /// Starts the session of `user` with `role`: the user's context (with the role's grants
    /// and row filters), the variables clients expect, and the startup parameters (such as
    /// `-c TimeZone=...` or `application_name`), which behave like `SET`. Returns the
    /// parameters to report to the client.
    pub fn start(
        services: SessionServices,
        user: &str,
        role: Role,
        pid: i32,
        startup: &HashMap<String, String>,
    ) -> PgWireResult<(Session, Vec<ParameterChange>)> {
        let engine = &services.engine;
        let ctx = engine.session_for(user, &role);
        let variables = Arc::new(Mutex::new(SessionVariables::default()));
        super::functions::register(&ctx, variables.clone());
        super::functions::register_backend_pid(&ctx, pid);
        let version = format!(
            "{PG_COMPAT_VERSION} (Segmint {})",
            env!("CARGO_PKG_VERSION")
        );
        let parameter = |name: &str, value: &str| ParameterChange {
            name: name.into(),
            value: value.into(),
        };
        let mut changes = vec![
            parameter("server_version", &version),
            parameter("DateStyle", "ISO, MDY"),
            parameter("TimeZone", "UTC"),
            parameter("is_superuser", if role.admin { "on" } else { "off" }),
        ];
        {
            let mut variables = variables.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(timeout) = &engine.limits().statement_timeout {
                let _ = variables.set("statement_timeout", &format!("{}ms", timeout.as_millis()));
            }
            for (name, value) in startup {
                if matches!(
                    name.as_str(),
                    "user" | "database" | "options" | "replication"
                ) {
                    continue;
                }
                changes.extend(settings::set_at_startup(name, value, &mut variables, &ctx)?);
            }
        }
        let planner = Planner::new(ctx, engine.clone());
        let session = Session {
            planner,
            user: Arc::from(user),
            role,
            variables,
            cursors: Cursors::default(),
            cancel: Arc::new(QueryCancel::default()),
            plans: PlanCache::default(),
            block: Mutex::default(),
            customized: AtomicBool::new(false),
            services,
        };
        Ok((session, changes))
    }

    fn engine(&self) -> &Arc<Engine> {
        &self.services.engine
    }

    /// The session's DataFusion context.
    pub fn ctx(&self) -> &SessionContext {
        self.planner.ctx()
    }

    /// What a CancelRequest for this session signals.
    pub fn cancel(&self) -> &Arc<QueryCancel> {
        &self.cancel
    }

    /// The transaction block (for the client wrapper that reports its status).
    pub fn block_state(&self) -> &Mutex<Block> {
        &self.block
    }

    fn block(&self) -> MutexGuard<'_, Block> {
        // As for the variables: a panic elsewhere leaves a valid state machine.
        self.block
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes in an error the protocol layer answered itself (`status` of the connection).
    pub fn observe(&self, status: TransactionStatus) {
        self.block().observe(status);
    }

    /// The transaction status `ReadyForQuery` reports.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.block().status()
    }

    /// Marks the transaction block failed (a statement failed).
    pub fn fail_block(&self) {
        self.block().fail();
    }

    /// Refuses a statement inside a failed transaction block (25P02) unless it ends the
    /// block, after taking in the connection's `status`.
    pub fn admit(&self, sql: &str, status: TransactionStatus) -> PgWireResult<()> {
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

    /// Starts the log record and metrics of one statement.
    pub fn record(&self, sql: impl Into<Arc<str>>) -> QueryRecord {
        QueryRecord::start(self.services.metrics.clone(), self.user.clone(), sql.into())
    }

    /// Logs and counts a statement that failed before it could run.
    pub fn record_failure(&self, sql: impl Into<Arc<str>>, error: &PgWireError) {
        finish_record(Some(self.record(sql)), &Err::<(), _>(error));
    }

    /// The statements of `sql`, classified.
    pub fn classify(&self, sql: &str) -> PgWireResult<Vec<Classified>> {
        statement::classify(&self.services.sql_parser, sql)
    }

    /// The statement prepared for `sql` before, in this catalog generation.
    pub fn cached(&self, sql: &str) -> Option<Prepared> {
        self.plans.get(sql, self.engine().catalog().generation())
    }

    /// Plans a classified statement; when it is all of `sql`, the plan is kept for the next
    /// time `sql` comes.
    pub async fn prepare(&self, statement: Statement, sql: Option<&str>) -> PgWireResult<Prepared> {
        let generation = self.engine().catalog().generation();
        let prepared = self.planner.prepare(statement).await?;
        if let Some(sql) = sql {
            self.plans.insert(sql, generation, &prepared);
        }
        Ok(prepared)
    }

    /// Prepares the one statement of `sql` (the extended protocol's Parse); `None` when it
    /// is empty.
    pub async fn prepare_one(&self, sql: &str) -> PgWireResult<Option<Prepared>> {
        if let Some(prepared) = self.cached(sql) {
            return Ok(Some(prepared));
        }
        let mut statements = self.classify(sql)?;
        if statements.len() > 1 {
            return Err(user_error(
                SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        match statements.pop() {
            Some(classified) => self
                .prepare(classified.statement, Some(sql))
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Runs a prepared statement with its bound parameters (`portal`, `None` in the simple
    /// protocol) after checking the role may. `metadata` is the client's (its variables,
    /// kept in step by `SET`), `changes` collects parameters to report to the client and
    /// `record` is the statement's log record, which a result stream takes.
    pub async fn run(
        &self,
        prepared: &Prepared,
        portal: Option<&Portal<ParsedStatement>>,
        format: &Format,
        metadata: &mut HashMap<String, String>,
        changes: &mut Vec<ParameterChange>,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response> {
        authorize(&self.role, prepared)?;
        let options = Arc::new(FormatOptions::from_client_metadata(metadata));
        match prepared {
            Prepared::Command(command) => self.command(command, metadata, changes),
            Prepared::Query(planned) => {
                self.execute(bind(planned, portal)?, format, options, record)
                    .await
            }
            Prepared::Deferred(deferred) => {
                let planned = self.planner.bind_deferred(deferred, portal).await?;
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
                let batches = execution::stream(self.engine(), self.ctx(), planned).await?;
                Ok(Response::CopyOut(copy.response(
                    batches,
                    fields,
                    record.take(),
                )?))
            }
            Prepared::RunReport(request) => {
                let row = run_report::run(self.engine(), request).await?;
                let mut response = text_rows(&run_report::COLUMNS, vec![row])?;
                response.set_command_tag("RUN REPORT");
                Ok(Response::Query(response))
            }
            Prepared::Catalog(change) => {
                let refresh = matches!(change.as_ref(), ddl::CatalogChange::Refresh(_));
                let response = ddl::run(change, self.engine().catalog(), self.ctx()).await?;
                if refresh {
                    // The model is checked against its contract again at each REFRESH.
                    self.engine().refresh_model().await;
                }
                Ok(response)
            }
            Prepared::Declare { name, hold, query } => {
                self.declare(name, *hold, query, portal).await?;
                Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
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
                    self.engine().limits().max_result_rows,
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
        }
    }

    /// Opens a cursor over a query; returns the bound plan (which describes the cursor's
    /// portal).
    pub async fn declare(
        &self,
        name: &str,
        hold: bool,
        query: &Planned,
        portal: Option<&Portal<ParsedStatement>>,
    ) -> PgWireResult<Planned> {
        let planned = bind(query, portal)?;
        let batches = execution::stream(self.engine(), self.ctx(), planned.clone()).await?;
        self.cursors.declare(name, batches, hold)?;
        Ok(planned)
    }

    /// The result columns of an open cursor.
    pub fn cursor_schema(
        &self,
        name: &str,
    ) -> PgWireResult<datafusion::arrow::datatypes::SchemaRef> {
        self.cursors.schema(name)
    }

    /// Runs a bound plan.
    async fn execute(
        &self,
        planned: Planned,
        format: &Format,
        options: Arc<FormatOptions>,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response> {
        if setting_tag(&planned.plan).is_some() {
            // `SET datafusion.*`: plans made before may no longer hold.
            self.plans.clear();
            self.customized.store(true, Ordering::SeqCst);
        }
        let (time_zone, settings, timeout) = {
            let variables = self.variables();
            let zone = variables
                .get("TimeZone")
                .unwrap_or_else(|| "UTC".to_string());
            (zone, variables.fingerprint(), variables.statement_timeout())
        };
        let cache_owner = (!self.customized.load(Ordering::SeqCst)).then(|| CacheOwner {
            user: self.user.clone(),
            settings,
        });
        let execution = Execution {
            ctx: self.ctx(),
            engine: self.engine(),
            deadline: timeout.map(|timeout| Instant::now() + timeout),
            cancel: self.cancel.begin(),
            time_zone,
            cache_owner,
        };
        execution.run(planned, format, options, record).await
    }

    /// Answers a session command.
    fn command(
        &self,
        command: &SessionCommand,
        metadata: &mut HashMap<String, String>,
        changes: &mut Vec<ParameterChange>,
    ) -> PgWireResult<Response> {
        let tag = |tag: &str| Ok(Response::Execution(Tag::new(tag)));
        match command {
            SessionCommand::Begin => {
                self.block().begin();
                Ok(Response::TransactionStart(Tag::new("BEGIN")))
            }
            SessionCommand::Commit => {
                self.cursors.end_transaction();
                Ok(Response::TransactionEnd(Tag::new(self.block().commit())))
            }
            SessionCommand::Rollback => {
                self.cursors.end_transaction();
                self.block().rollback();
                Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))
            }
            SessionCommand::Savepoint(name) => {
                self.block().savepoint(name).map_err(transaction_error)?;
                tag("SAVEPOINT")
            }
            SessionCommand::Release(name) => {
                self.block().release(name).map_err(transaction_error)?;
                tag("RELEASE")
            }
            SessionCommand::RollbackTo(name) => {
                self.block().rollback_to(name).map_err(transaction_error)?;
                tag("ROLLBACK")
            }
            SessionCommand::Acknowledge(acknowledged) => tag(acknowledged),
            SessionCommand::Deallocate(_) => tag("DEALLOCATE"),
            variable => {
                if !matches!(variable, SessionCommand::Show(_) | SessionCommand::ShowAll) {
                    // Plans made under the old values may no longer hold.
                    self.plans.clear();
                }
                if matches!(variable, SessionCommand::ResetAll { .. }) {
                    self.cursors.close_all();
                }
                settings::run(
                    variable,
                    &mut self.variables(),
                    self.ctx(),
                    metadata,
                    changes,
                )
                .unwrap_or_else(|| {
                    Err(user_error(
                        FEATURE_NOT_SUPPORTED,
                        format!("unsupported session command {variable:?}"),
                    ))
                })
            }
        }
    }
}

/// Ends a statement's record that no result stream took: marks it failed with the error's
/// SQLSTATE, then writes it (by dropping it).
pub fn finish_record<T, E: std::borrow::Borrow<PgWireError>>(
    record: Option<QueryRecord>,
    result: &Result<T, E>,
) {
    if let (Some(mut record), Err(error)) = (record, result) {
        record.fail(&error_sqlstate(error.borrow()));
    }
}

/// A refused transaction statement as the client sees it.
fn transaction_error(error: TransactionError) -> PgWireError {
    user_error(error.sqlstate(), error.to_string())
}
