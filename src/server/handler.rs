//! The per-connection protocol handlers: startup, simple query and extended query.
//!
//! Every accepted connection gets its own [`Session`] (its own DataFusion `SessionContext` and
//! PostgreSQL variables), so a `SET` in one connection never changes another. Statements are
//! parsed with `datafusion-pg-catalog`'s PostgreSQL compatibility parser (which rewrites the
//! catalog queries of psql and BI tools), then either answered by the session layer
//! ([`super::session`]) or planned and streamed by DataFusion.

use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{LogicalPlan, Statement as DfStatement};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfParsedStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::{Sink, SinkExt, stream};
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ConnectionManager, METADATA_USER, PgWireServerHandlers, Type,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::types::format::FormatOptions;
use tokio::time::Instant;

use super::encode::{pg_fields, streaming_response};
use super::segments::{SegmentWrite, segment_write};
use super::session::{ParameterChange, SessionCommand, SessionVariables, classify};
use super::sqlstate::{
    FEATURE_NOT_SUPPORTED, READ_ONLY_SQL_TRANSACTION, SYNTAX_ERROR, to_pg_error, user_error,
};
use crate::engine::{Engine, PG_COMPAT_VERSION};

/// The state of one client connection.
pub struct Session {
    engine: Arc<Engine>,
    sql_parser: Arc<PostgresCompatibilityParser>,
    ctx: OnceLock<SessionContext>,
    variables: Mutex<SessionVariables>,
}

impl Session {
    /// A session that has not yet seen its startup message.
    pub fn new(engine: Arc<Engine>, sql_parser: Arc<PostgresCompatibilityParser>) -> Self {
        Session {
            engine,
            sql_parser,
            ctx: OnceLock::new(),
            variables: Mutex::new(SessionVariables::default()),
        }
    }

    /// The session's DataFusion context (created for the login user at startup).
    fn ctx(&self) -> &SessionContext {
        self.ctx.get_or_init(|| self.engine.session())
    }

    fn variables(&self) -> MutexGuard<'_, SessionVariables> {
        // A poisoned lock only means another statement panicked mid-update; the map is
        // still a valid map, so keep serving rather than failing every later statement.
        self.variables
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn parse(&self, sql: &str) -> PgWireResult<Vec<Statement>> {
        self.sql_parser
            .parse(sql)
            .map_err(|e| user_error(SYNTAX_ERROR, e.to_string()))
    }

    /// Plans one statement (parameters stay as placeholders).
    async fn plan(&self, statement: &Statement) -> PgWireResult<LogicalPlan> {
        let state = self.ctx().state();
        let plan = state
            .statement_to_plan(DfParsedStatement::Statement(Box::new(statement.clone())))
            .await
            .map_err(to_pg_error)?;
        if self.segment_write(&plan)?.is_none() {
            check_read_only(&plan)?;
        }
        Ok(plan)
    }

    /// The saved-segment change of `plan`, when segments can be saved at all.
    fn segment_write(&self, plan: &LogicalPlan) -> PgWireResult<Option<SegmentWrite>> {
        match self.engine.segments() {
            Some(_) => segment_write(plan),
            None => Ok(None),
        }
    }

    /// Makes a segment change that DataFusion has applied durable; undoes it when saving fails.
    fn persist(&self, write: &SegmentWrite) -> PgWireResult<()> {
        let Some(store) = self.engine.segments() else {
            return Ok(());
        };
        let result = match write {
            SegmentWrite::Save { name, statement } => {
                store.save(name, statement).inspect_err(|_| {
                    let _ = self.ctx().deregister_table(name.as_str());
                })
            }
            SegmentWrite::Drop { name } => store.remove(name),
        };
        result.map_err(|error| user_error(super::sqlstate::IO_ERROR, error.to_string()))?;
        tracing::info!(?write, "saved segments changed");
        Ok(())
    }

    fn deadline(&self) -> Option<Instant> {
        self.variables()
            .statement_timeout()
            .map(|timeout| Instant::now() + timeout)
    }

    /// Runs a plan and streams its result (or answers with a command tag).
    async fn execute(
        &self,
        plan: LogicalPlan,
        format: &Format,
        options: Arc<FormatOptions>,
    ) -> PgWireResult<Response> {
        let deadline = self.deadline();
        let write = self.segment_write(&plan)?;
        let tag = match &plan {
            LogicalPlan::Statement(DfStatement::SetVariable(_)) => Some("SET"),
            LogicalPlan::Statement(DfStatement::ResetVariable(_)) => Some("RESET"),
            _ => write.as_ref().map(SegmentWrite::tag),
        };
        let frame = self
            .ctx()
            .execute_logical_plan(plan)
            .await
            .map_err(to_pg_error)?;
        if let Some(write) = &write {
            self.persist(write)?;
        }
        if let Some(tag) = tag {
            return Ok(Response::Execution(Tag::new(tag)));
        }
        let fields = Arc::new(pg_fields(frame.schema().as_arrow(), format, options)?);
        let batches = frame.execute_stream().await.map_err(to_pg_error)?;
        Ok(Response::Query(streaming_response(
            batches, fields, deadline,
        )))
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
            SessionCommand::Begin => Response::TransactionStart(Tag::new("BEGIN")),
            SessionCommand::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
            SessionCommand::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
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
                "cannot execute {what}: Segmint serves datasets read-only (CREATE VIEW saves a \
                 segment when [segments] dir is configured)"
            ),
        )),
        None => Ok(()),
    }
}

/// A small all-text result (for `SHOW`).
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

async fn report_changes<C>(client: &mut C, changes: Vec<ParameterChange>) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    for change in changes {
        client
            .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                change.name,
                change.value,
            )))
            .await?;
    }
    Ok(())
}

/// A prepared statement of the extended protocol.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A session command, answered without the engine.
    Command(SessionCommand),
    /// A planned statement; parameters are still placeholders.
    Query(Box<LogicalPlan>),
}

/// Parses and plans statements for the extended protocol.
pub struct StatementParser {
    session: Arc<Session>,
}

#[async_trait]
impl QueryParser for StatementParser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        _client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = self.session.parse(sql)?;
        if statements.len() > 1 {
            return Err(user_error(
                SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        if let Some(command) = classify(&statement) {
            return Ok(Some(Prepared::Command(command)));
        }
        let plan = self.session.plan(&statement).await?;
        Ok(Some(Prepared::Query(Box::new(plan))))
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        match statement {
            Prepared::Command(_) => Ok(vec![]),
            Prepared::Query(plan) => parameter_types(plan)?
                .iter()
                .map(|t| match t {
                    Some(data_type) => arrow_pg::datatypes::into_pg_type(data_type),
                    None => Ok(Type::UNKNOWN),
                })
                .collect(),
        }
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = format.unwrap_or(&Format::UnifiedText);
        let options = Arc::new(FormatOptions::default());
        match statement {
            Prepared::Command(SessionCommand::Show(name)) => {
                let schema = Schema::new(vec![Field::new(
                    name.to_ascii_lowercase(),
                    DataType::Utf8,
                    true,
                )]);
                pg_fields(&schema, format, options)
            }
            Prepared::Command(SessionCommand::ShowAll) => {
                let schema = Schema::new(
                    ["name", "setting", "description"]
                        .map(|n| Field::new(n, DataType::Utf8, true))
                        .to_vec(),
                );
                pg_fields(&schema, format, options)
            }
            Prepared::Command(_) => Ok(vec![]),
            Prepared::Query(plan) => match plan.as_ref() {
                LogicalPlan::Statement(_) => Ok(vec![]),
                plan => pg_fields(plan.schema().as_arrow(), format, options),
            },
        }
    }
}

/// Parameter types by position (`$1` first), as far as DataFusion could infer them.
fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan.get_parameter_types().map_err(to_pg_error)?;
    let mut ordered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(id, t)| {
            id.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|n| (n, t))
        })
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    let count = ordered.last().map_or(0, |(n, _)| *n);
    let mut result = vec![None; count];
    for (n, t) in ordered {
        if n >= 1 {
            result[n - 1] = t;
        }
    }
    Ok(result)
}

/// Simple and extended query handling for one connection.
pub struct QueryHandler {
    session: Arc<Session>,
    parser: Arc<StatementParser>,
}

#[async_trait]
impl SimpleQueryHandler for QueryHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        tracing::debug!(%query, "simple query");
        let statements = self.session.parse(query)?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in &statements {
            match self.run_statement(client, statement).await {
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

impl QueryHandler {
    async fn run_statement<C>(
        &self,
        client: &mut C,
        statement: &Statement,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(command) = classify(statement) {
            return self.run_command(client, &command).await;
        }
        let plan = self.session.plan(statement).await?;
        let options = Session::format_options(client.metadata());
        self.session
            .execute(plan, &Format::UnifiedText, options)
            .await
    }

    async fn run_command<C>(
        &self,
        client: &mut C,
        command: &SessionCommand,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut changes = Vec::new();
        let response = self
            .session
            .run_command(command, client.metadata_mut(), &mut changes)?;
        report_changes(client, changes).await?;
        Ok(response)
    }
}

#[async_trait]
impl ExtendedQueryHandler for QueryHandler {
    type Statement = Prepared;
    type QueryParser = StatementParser;

    fn query_parser(&self) -> Arc<StatementParser> {
        self.parser.clone()
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            Prepared::Command(SessionCommand::Deallocate(name)) => {
                client.portal_store().rm_statement(name);
                Ok(Response::Execution(Tag::new("DEALLOCATE")))
            }
            Prepared::Command(command) => self.run_command(client, command).await,
            Prepared::Query(plan) => {
                let types = parameter_types(plan)?;
                let type_refs: Vec<Option<&DataType>> = types.iter().map(Option::as_ref).collect();
                let values = arrow_pg::datatypes::df::deserialize_parameters(portal, &type_refs)?;
                let plan = plan
                    .as_ref()
                    .clone()
                    .replace_params_with_values(&values)
                    .map_err(to_pg_error)?;
                let options = Session::format_options(client.metadata());
                self.session
                    .execute(plan, &portal.result_column_format, options)
                    .await
            }
        }
    }
}

/// Startup: accept the login, create the session's context for the user, report variables.
pub struct Startup {
    session: Arc<Session>,
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for Startup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }

    async fn post_startup<C>(
        &self,
        client: &mut C,
        _message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_else(|| "segmint".to_string());
        let _ = self.session.ctx.set(self.session.engine.session_for(&user));
        tracing::info!(%user, peer = %client.socket_addr(), "session started");
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
                value: "off".into(),
            },
        ];
        // Startup options such as `-c TimeZone=...` or `application_name` behave like SET.
        for (name, value) in client.metadata().clone() {
            if matches!(
                name.as_str(),
                "user" | "database" | "options" | "replication"
            ) {
                continue;
            }
            let mut variables = self.session.variables();
            if let Ok(Some(change)) = variables.set(&name, &value) {
                drop(variables);
                self.session
                    .apply_engine_setting(&change.name, &change.value)?;
                changes.push(change);
            }
        }
        report_changes(client, changes).await
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
            PgWireFrontendMessage::Startup(_) => {
                Err(PgWireError::UserError(Box::new(ErrorInfo::new(
                    "FATAL".to_string(),
                    super::sqlstate::TOO_MANY_CONNECTIONS.to_string(),
                    "sorry, too many clients already".to_string(),
                ))))
            }
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
    startup: Arc<Startup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl ConnectionHandlers {
    /// Handlers for a new connection with its own session.
    pub fn new(
        engine: Arc<Engine>,
        sql_parser: Arc<PostgresCompatibilityParser>,
        connections: Arc<ConnectionManager>,
    ) -> Self {
        let session = Arc::new(Session::new(engine, sql_parser));
        ConnectionHandlers {
            query: Arc::new(QueryHandler {
                session: session.clone(),
                parser: Arc::new(StatementParser {
                    session: session.clone(),
                }),
            }),
            startup: Arc::new(Startup {
                session,
                connections: connections.clone(),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
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
