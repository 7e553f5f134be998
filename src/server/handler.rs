//! The pgwire protocol adapters of one connection: login, the simple query protocol, the
//! extended protocol (Parse, Describe, Execute) and cancel requests. Everything a statement
//! means lives in the [`Session`] the login starts; this module only maps protocol messages
//! onto it: which statements a query string holds, what a portal binds, the portal and
//! statement stores of `DECLARE` / `CLOSE` / `DEALLOCATE`, the transaction status
//! `ReadyForQuery` reports and the `ParameterStatus` messages a `SET` sends.

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::logical_expr::LogicalPlan;
use futures::Sink;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionManager, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::extendedquery::Execute;
use pgwire::messages::simplequery::Query;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::types::format::FormatOptions;

use super::auth::{LoggedIn, Login, LoginPolicy, SessionStart};
use super::block_status::BlockStatusClient;
use super::cancel::{CancelHandler, CancelRegistry};
use super::encode::pg_fields;
use super::execution::named_fields;
use super::prepared::{ParsedStatement, Planned, Prepared, parameter_types};
use super::run_report;
use super::session::{Session, SessionServices, finish_record};
use super::sqlstate::{FEATURE_NOT_SUPPORTED, PROTOCOL_VIOLATION, user_error};
use super::statement::SessionCommand;
use super::variables::{ParameterChange, report_changes};
use crate::engine::Engine;
use crate::observe::{Metrics, QueryRecord};
use crate::pgcompat::sql_parser::SqlParser;

/// Where a connection keeps its session once the user has logged in.
type SessionSlot = Arc<OnceLock<Arc<Session>>>;

/// The connection's session; statements before login are a protocol violation.
fn logged_in(slot: &SessionSlot) -> PgWireResult<&Arc<Session>> {
    slot.get().ok_or_else(|| {
        user_error(
            PROTOCOL_VIOLATION,
            "the connection has not logged in: send a startup message first",
        )
    })
}

/// Parses and plans statements for the extended protocol.
pub struct StatementParser {
    session: SessionSlot,
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
        let session = logged_in(&self.session)?;
        let prepared = match session.admit(sql, client.transaction_status()) {
            Ok(()) => session.prepare_one(sql).await,
            Err(refused) => Err(refused),
        };
        match prepared {
            Ok(prepared) => Ok(prepared.map(|prepared| ParsedStatement {
                sql: Arc::from(sql),
                prepared,
            })),
            Err(error) => {
                // A statement that fails to parse or plan is logged and counted too.
                session.record_failure(sql, &error);
                Err(error)
            }
        }
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
            Prepared::Fetch { name, .. } => pg_fields(
                logged_in(&self.session)?.cursor_schema(name)?.as_ref(),
                format,
                options,
            ),
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
    session: SessionSlot,
    parser: Arc<StatementParser>,
}

/// Runs a prepared statement of either protocol and reports the parameters it changed.
async fn run_reporting<C>(
    session: &Session,
    client: &mut C,
    prepared: &Prepared,
    portal: Option<&Portal<ParsedStatement>>,
    record: &mut Option<QueryRecord>,
) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let format = portal.map_or(&Format::UnifiedText, |p| &p.result_column_format);
    let mut changes: Vec<ParameterChange> = Vec::new();
    let response = session
        .run(
            prepared,
            portal,
            format,
            client.metadata_mut(),
            &mut changes,
            record,
        )
        .await?;
    report_changes(client, changes).await?;
    Ok(response)
}

impl QueryHandler {
    /// Runs one statement of the simple protocol; `record` is its log record.
    async fn run_simple<C>(
        &self,
        session: &Session,
        client: &mut C,
        prepared: &Prepared,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Prepared::Command(SessionCommand::Deallocate(name)) = prepared {
            client.portal_store().rm_statement(name);
        }
        run_reporting(session, client, prepared, None, record).await
    }

    /// Runs one statement of the simple protocol and logs it; an error becomes the
    /// statement's error response.
    async fn answer_simple<C>(
        &self,
        session: &Session,
        client: &mut C,
        prepared: PgWireResult<Prepared>,
        text: &str,
    ) -> Response
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut record = Some(session.record(text));
        let result = match prepared {
            Ok(prepared) => {
                self.run_simple(session, client, &prepared, &mut record)
                    .await
            }
            Err(error) => Err(error),
        };
        finish_record(record, &result);
        result.unwrap_or_else(|error| Response::Error(Box::new(ErrorInfo::from(error))))
    }

    /// Runs a portal of the extended protocol, with its log record.
    async fn run_portal<C>(
        &self,
        session: &Session,
        client: &mut C,
        portal: &Portal<ParsedStatement>,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = ParsedStatement>,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = &portal.statement.statement;
        let mut record = Some(session.record(statement.sql.clone()));
        let result = match &statement.prepared {
            Prepared::Declare { name, hold, query } => {
                match session.declare(name, *hold, query, Some(portal)).await {
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
                match prepared {
                    Prepared::Command(SessionCommand::Deallocate(name)) => {
                        client.portal_store().rm_statement(name)
                    }
                    Prepared::Close(Some(name)) => client.portal_store().rm_portal(name),
                    _ => {}
                }
                run_reporting(session, client, prepared, Some(portal), &mut record).await
            }
        };
        finish_record(record, &result);
        result
    }
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
        let session = logged_in(&self.session)?;
        session.observe(client.transaction_status());
        let mut client = BlockStatusClient::new(client, session.block_state());
        self._on_query(&mut client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let session = logged_in(&self.session)?;
        if let Err(error) = session.admit(query, client.transaction_status()) {
            session.record_failure(query, &error);
            return Ok(vec![Response::Error(Box::new(ErrorInfo::from(error)))]);
        }
        if let Some(prepared) = session.cached(query) {
            return Ok(vec![
                self.answer_simple(session, client, Ok(prepared), query)
                    .await,
            ]);
        }
        let statements = match session.classify(query) {
            Ok(statements) => statements,
            Err(error) => {
                session.record_failure(query, &error);
                return Err(error);
            }
        };
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let single = statements.len() == 1;
        let mut responses = Vec::with_capacity(statements.len());
        for classified in statements {
            // One statement is logged as sent (and its plan kept); several one by one.
            let prepared = session
                .prepare(classified.statement, single.then_some(query))
                .await;
            let response = self
                .answer_simple(session, client, prepared, &classified.text)
                .await;
            let failed = matches!(response, Response::Error(_));
            responses.push(response);
            if failed {
                // Like PostgreSQL: report the error and skip the rest of the string.
                break;
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
        if let Some(session) = self.session.get() {
            client.set_transaction_status(session.transaction_status());
        }
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
        let session = logged_in(&self.session)?;
        let sql = &portal.statement.statement.sql;
        if let Err(error) = session.admit(sql, client.transaction_status()) {
            session.record_failure(sql.clone(), &error);
            return Err(error);
        }
        let result = self.run_portal(session, client, portal).await;
        if result.is_err() {
            session.fail_block();
        }
        result
    }
}

/// Starts a connection's [`Session`] when its user has logged in.
pub struct SessionStarter {
    slot: SessionSlot,
    services: SessionServices,
    cancels: Arc<CancelRegistry>,
}

impl SessionStart for SessionStarter {
    fn start(&self, login: LoggedIn<'_>) -> PgWireResult<Vec<ParameterChange>> {
        let LoggedIn {
            user,
            role,
            peer,
            pid,
            secret,
            startup,
        } = login;
        let role_name = role.name.clone();
        let (session, changes) = Session::start(self.services.clone(), user, role, pid, startup)?;
        self.cancels.register(pid, secret, session.cancel());
        if self.slot.set(Arc::new(session)).is_err() {
            return Err(user_error(
                PROTOCOL_VIOLATION,
                "the connection has already logged in",
            ));
        }
        tracing::info!(%user, role = %role_name, %peer, "session started");
        Ok(changes)
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
    /// Handlers for a new connection, whose session starts when its user logs in.
    pub fn new(
        engine: Arc<Engine>,
        sql_parser: Arc<SqlParser>,
        login: Arc<LoginPolicy>,
        connections: Arc<ConnectionManager>,
        cancels: Arc<CancelRegistry>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let slot = SessionSlot::default();
        let services = SessionServices {
            engine,
            sql_parser,
            metrics,
        };
        ConnectionHandlers {
            query: Arc::new(QueryHandler {
                session: slot.clone(),
                parser: Arc::new(StatementParser {
                    session: slot.clone(),
                }),
            }),
            startup: Arc::new(Login::new(
                login,
                Arc::new(SessionStarter {
                    slot,
                    services,
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
