//! Execution: a bound plan becomes a streamed PostgreSQL response. Results come from the
//! server's result cache when the same deterministic query ran before in this catalog
//! generation (and go into it when they are small); `timestamptz` columns are shown in the
//! session's `TimeZone`; the statement's deadline (`statement_timeout`) covers planning and
//! streaming, and a CancelRequest stops the stream.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{LogicalPlan, Statement as DfStatement};
use datafusion::physical_plan::execute_stream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, stream};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::error::PgWireResult;
use pgwire::types::format::FormatOptions;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::encode::{pg_fields, streaming_response};
use super::prepared::Planned;
use super::sqlstate::{QUERY_CANCELED, to_pg_error, user_error};
use crate::engine::Engine;
use crate::engine::result_cache::{self, CachedResult, ResultKey};
use crate::observe::QueryRecord;

/// Who asks, for the result cache: results are shared only between sessions of the same
/// user with the same variables.
#[derive(Debug, Clone)]
pub struct CacheOwner {
    /// The login user.
    pub user: Arc<str>,
    /// The session variables' fingerprint.
    pub settings: u64,
}

/// One statement's run.
pub struct Execution<'a> {
    /// The session's context.
    pub ctx: &'a SessionContext,
    /// The engine (result cache, limits, catalog generation).
    pub engine: &'a Arc<Engine>,
    /// When the statement times out.
    pub deadline: Option<Instant>,
    /// Signalled by a CancelRequest.
    pub cancel: Arc<Notify>,
    /// The session's `TimeZone`.
    pub time_zone: String,
    /// Set when the session's results may be cached.
    pub cache_owner: Option<CacheOwner>,
}

impl Execution<'_> {
    /// Runs a plan and streams its result (or answers `SET` / `RESET` of an engine setting
    /// with its command tag).
    pub async fn run(
        self,
        planned: Planned,
        format: &Format,
        options: Arc<FormatOptions>,
        record: &mut Option<QueryRecord>,
    ) -> PgWireResult<Response> {
        let Planned { plan, columns } = planned;
        let tag = setting_tag(&plan);
        let plan = in_session_zone(plan, &self.time_zone)?;
        let cache_slot = self.result_key(&plan);
        let max_rows = self.engine.limits().max_result_rows;
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
                self.deadline,
                self.cancel,
                max_rows,
                record.take(),
            )));
        }
        // Started on the query threads; the timeout and a cancel cover starting (planning
        // the physical plan, scans that compute) as well as streaming.
        let ctx = self.ctx.clone();
        let format = format.clone();
        let start = async move {
            let frame = ctx.execute_logical_plan(plan).await.map_err(to_pg_error)?;
            if tag.is_some() {
                return Ok(None);
            }
            let fields = Arc::new(named_fields(
                pg_fields(frame.schema().as_arrow(), &format, options)?,
                columns.as_deref(),
            ));
            let task = Arc::new(frame.task_ctx());
            let physical = frame.create_physical_plan().await.map_err(to_pg_error)?;
            let batches = execute_stream(physical.clone(), task).map_err(to_pg_error)?;
            PgWireResult::Ok(Some((fields, physical, batches)))
        };
        let runtime = self.engine.query_runtime();
        let started = bounded(self.deadline, &self.cancel, async {
            runtime.run(start).await.map_err(to_pg_error)?
        })
        .await?;
        let Some((fields, physical, batches)) = started else {
            return Ok(Response::Execution(Tag::new(tag.unwrap_or("SET"))));
        };
        let batches = runtime.stream(batches);
        let batches = match cache_slot {
            Some((key, generation)) => caching(batches, key, generation, self.engine.clone()),
            None => batches,
        };
        let record = record.take().map(|mut record| {
            record.set_plan(physical);
            record
        });
        Ok(Response::Query(streaming_response(
            batches,
            fields,
            self.deadline,
            self.cancel,
            max_rows,
            record,
        )))
    }

    /// Where the result of `plan` is (or would be) in the server's result cache, when it may
    /// be cached: a deterministic query over the catalog, in a session with no engine
    /// settings of its own.
    fn result_key(&self, plan: &LogicalPlan) -> Option<(ResultKey, u64)> {
        let owner = self.cache_owner.as_ref()?;
        if !self.engine.limits().cache_results {
            return None;
        }
        let generation = self.engine.catalog().generation();
        let engine = self.engine;
        if !result_cache::is_cacheable(plan, &|name| engine.is_table_function(name)) {
            return None;
        }
        let key = ResultKey {
            plan: plan.clone(),
            user: owner.user.clone(),
            settings: owner.settings,
        };
        Some((key, generation))
    }
}

/// The command tag of a plan that changes an engine setting (`SET datafusion.*`).
pub fn setting_tag(plan: &LogicalPlan) -> Option<&'static str> {
    match plan {
        LogicalPlan::Statement(DfStatement::SetVariable(_)) => Some("SET"),
        LogicalPlan::Statement(DfStatement::ResetVariable(_)) => Some("RESET"),
        _ => None,
    }
}

/// Starts a planned query on the query threads and returns its batch stream (for cursors and
/// `COPY`), produced there too.
pub async fn stream(
    engine: &Engine,
    ctx: &SessionContext,
    planned: Planned,
) -> PgWireResult<SendableRecordBatchStream> {
    let ctx = ctx.clone();
    let start = async move {
        ctx.execute_logical_plan(planned.plan)
            .await?
            .execute_stream()
            .await
    };
    let runtime = engine.query_runtime();
    let batches = runtime
        .run(start)
        .await
        .and_then(|started| started)
        .map_err(to_pg_error)?;
    Ok(runtime.stream(batches))
}

/// Shows `timestamptz` results in the session's time zone `zone`, as PostgreSQL does: the
/// instants stay the same, their zone for display changes.
pub fn in_session_zone(plan: LogicalPlan, zone: &str) -> PgWireResult<LogicalPlan> {
    use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast};
    let has_zoned =
        plan.schema().fields().iter().any(
            |f| matches!(f.data_type(), DataType::Timestamp(_, Some(z)) if z.as_ref() != zone),
        );
    if !has_zoned || zone.eq_ignore_ascii_case("utc") && !plan_has_non_utc(&plan) {
        return Ok(plan);
    }
    let zone: Arc<str> = if zone.eq_ignore_ascii_case("utc") {
        Arc::from("+00:00")
    } else {
        Arc::from(zone)
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

/// Whether a result column carries a zone other than UTC (which the session zone replaces).
fn plan_has_non_utc(plan: &LogicalPlan) -> bool {
    plan.schema().fields().iter().any(|f| {
        matches!(f.data_type(), DataType::Timestamp(_, Some(z))
            if !matches!(z.as_ref(), "UTC" | "+00:00" | "+00" | "Z"))
    })
}

/// Runs `work` until `deadline` or a cancel, then fails with SQLSTATE 57014 as PostgreSQL does.
async fn bounded<T>(
    deadline: Option<Instant>,
    cancel: &Notify,
    work: impl std::future::Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    tokio::select! {
        result = within_deadline(deadline, work) => result,
        _ = cancel.notified() => Err(user_error(
            QUERY_CANCELED,
            "canceling statement due to user request",
        )),
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
        kept: Vec<RecordBatch>,
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

/// Field descriptions renamed to the client-facing column names.
pub fn named_fields(fields: Vec<FieldInfo>, names: Option<&[String]>) -> Vec<FieldInfo> {
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

/// A small all-text result (`SHOW`, `RUN REPORT`).
pub fn text_rows(columns: &[&str], rows: Vec<Vec<String>>) -> PgWireResult<QueryResponse> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    async fn plan(ctx: &SessionContext, sql: &str) -> LogicalPlan {
        ctx.state().create_logical_plan(sql).await.expect("plans")
    }

    #[tokio::test]
    async fn shows_timestamptz_in_the_session_zone() {
        let ctx = SessionContext::new();
        let zoned = plan(&ctx, "SELECT arrow_cast('2024-01-01T00:00:00Z', 'Timestamp(Nanosecond, Some(\"UTC\"))') AS t").await;
        let shown = in_session_zone(zoned, "Asia/Shanghai").expect("projects");
        assert_eq!(
            shown.schema().field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into()))
        );
        assert_eq!(shown.schema().field(0).name(), "t");
        let plain = plan(&ctx, "SELECT TIMESTAMP '2024-01-01 00:00:00' AS t").await;
        let unchanged = in_session_zone(plain.clone(), "Asia/Shanghai").expect("plan");
        assert_eq!(
            unchanged, plain,
            "timestamps without a zone stay as they are"
        );
    }

    #[tokio::test]
    async fn tags_engine_settings() {
        let ctx = SessionContext::new();
        let set = plan(&ctx, "SET datafusion.execution.batch_size = 100").await;
        assert_eq!(setting_tag(&set), Some("SET"));
        assert_eq!(setting_tag(&plan(&ctx, "SELECT 1").await), None);
    }

    #[tokio::test]
    async fn a_passed_deadline_cancels_with_57014() {
        let past = Some(Instant::now());
        let result = within_deadline(past, async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        match result {
            Err(pgwire::error::PgWireError::UserError(info)) => {
                assert_eq!(info.code, QUERY_CANCELED)
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_cancel_while_starting_ends_the_start_with_57014() {
        let cancel = Notify::new();
        // Sent before the start waits, as a CancelRequest during planning is.
        cancel.notify_one();
        let result = bounded(None, &cancel, async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        match result {
            Err(pgwire::error::PgWireError::UserError(info)) => {
                assert_eq!(info.code, QUERY_CANCELED);
                assert!(info.message.contains("user request"), "{}", info.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn renames_fields_only_when_the_counts_agree() {
        let field =
            |name: &str| FieldInfo::new(name.into(), None, None, Type::INT4, FieldFormat::Text);
        let names = ["a".to_string(), "b".to_string()];
        let renamed = named_fields(vec![field("x"), field("y")], Some(&names));
        assert_eq!(renamed[1].name(), "b");
        let kept = named_fields(vec![field("x")], Some(&names));
        assert_eq!(kept[0].name(), "x");
    }
}
