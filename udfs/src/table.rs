//! Plumbing for table functions whose result needs every input row at once (quantile scores,
//! population means): the input is an ordinary DataFusion plan (scan, filter, hash
//! aggregation, all parallel), and a [`TableKernel`] turns its collected rows into the result.
//!
//! A kernel can be rebuilt in another process (a cluster executor): its [`KernelCall`] holds the
//! call's evaluated constant arguments and the `segmint.*` defaults in force, travels as bytes
//! ([`KernelCall::to_bytes`]), and [`rebuild_kernel`] turns it back into the same kernel with
//! the function's [`KernelBuilder`], given the schema of the kernel's input plan.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Column, TableReference};
use datafusion::config::ExtensionOptions;
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties,
};
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::FunctionOptions;
use crate::args::{Days, Options};

/// Everything needed to rebuild a table function's kernel in another process: the function,
/// its constant arguments as they were evaluated, and the `segmint.*` defaults in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelCall {
    /// The SQL name of the function (`rfm`, `lifecycle`, `customer_value`).
    pub function: String,
    /// The input table as the call named it (shown in the `EXPLAIN` description).
    pub table: String,
    /// The analysis date argument (`as_of`), in days since 1970-01-01.
    pub as_of: Days,
    /// The column arguments in call order (customer, time, amount...), defaults filled in.
    pub columns: Vec<String>,
    /// The raw `'key=value,...'` options string (empty when the call passed none).
    pub options: String,
    /// The [`FunctionOptions`] entries in force (`rfm_bins`, `lifecycle_new_days`...), by key
    /// without the `segmint.` prefix.
    pub defaults: BTreeMap<String, String>,
}

impl KernelCall {
    /// A call of `function`, recording the entries of `defaults`.
    pub fn new(
        function: &str,
        table: &str,
        as_of: Days,
        columns: Vec<String>,
        options: Option<String>,
        defaults: &FunctionOptions,
    ) -> KernelCall {
        let defaults = defaults
            .entries()
            .into_iter()
            .filter_map(|entry| {
                let key = entry.key.strip_prefix("segmint.").unwrap_or(&entry.key);
                entry.value.map(|value| (key.to_string(), value))
            })
            .collect();
        KernelCall {
            function: function.to_string(),
            table: table.to_string(),
            as_of,
            columns,
            options: options.unwrap_or_default(),
            defaults,
        }
    }

    /// The `segmint.*` defaults of the call, rebuilt from [`KernelCall::defaults`] (keys this
    /// version does not know are an error, missing keys keep their default).
    pub fn function_options(&self) -> Result<FunctionOptions> {
        let mut options = FunctionOptions::default();
        for (key, value) in &self.defaults {
            ExtensionOptions::set(&mut options, key, value).map_err(|e| {
                crate::crm_error!(
                    InvalidArgument,
                    "{}: default segmint.{key}: {e}",
                    self.function
                )
            })?;
        }
        Ok(options)
    }

    /// The options string parsed against the keys the function knows.
    pub fn parse_options(&self, known: &[&str]) -> Result<Options> {
        Options::parse(&self.function, &self.options, known)
    }

    /// The call as bytes (JSON), for a plan codec.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Strings, integers and a string-keyed map always serialize; were it ever to fail, the
        // empty result fails to decode (an error on the other side, never a different kernel).
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The call encoded by [`KernelCall::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<KernelCall> {
        serde_json::from_slice(bytes).map_err(|e| {
            crate::crm_error!(Internal, "cannot decode a CRM table function call: {e}")
        })
    }
}

/// Builds a function's kernel from its call and the schema of the kernel's input plan (the
/// rows `KernelExec`'s child produces). Table functions use it at call time and a plan codec
/// to rebuild the kernel in another process, so both get the same kernel.
pub type KernelBuilder = fn(&KernelCall, &Schema) -> Result<Arc<dyn TableKernel>>;

/// Rebuilds the kernel of `call` with the builder of the table function it names, over an
/// input plan with schema `input`.
pub fn rebuild_kernel(call: &KernelCall, input: &Schema) -> Result<Arc<dyn TableKernel>> {
    let builder = crate::all_functions()
        .into_iter()
        .find_map(|function| match function {
            crate::CrmFunction::Table(table) if table.name == call.function => table.kernel,
            _ => None,
        });
    match builder {
        Some(build) => build(call, input),
        None => crate::crm_err!(
            Internal,
            "no CRM table function \"{}\" with a kernel to rebuild",
            call.function
        ),
    }
}

/// The type of the customer id, the first column of a kernel's input.
pub fn customer_id_type(function: &str, input: &Schema) -> Result<DataType> {
    match input.fields().first() {
        Some(field) => Ok(field.data_type().clone()),
        None => crate::crm_err!(
            UndefinedColumn,
            "{function}: the kernel input has no customer id column"
        ),
    }
}

/// Computes a table function's result from all rows of its input plan.
pub trait TableKernel: fmt::Debug + Send + Sync {
    /// The call the kernel was built from (rebuilds it with [`rebuild_kernel`]).
    fn call(&self) -> &KernelCall;
    /// A short description for `EXPLAIN` (the function and its options).
    fn describe(&self) -> String;
    /// The result schema.
    fn schema(&self) -> SchemaRef;
    /// The result, from the input rows (one batch with the input plan's schema).
    fn compute(&self, input: RecordBatch) -> Result<RecordBatch>;
    /// The result's columns in `projection` (all of them for `None`). Kernels that can skip
    /// the work of columns the query does not read override this.
    fn compute_projected(
        &self,
        input: RecordBatch,
        projection: Option<&[usize]>,
    ) -> Result<RecordBatch> {
        let output = self.compute(input)?;
        match projection {
            Some(indices) => Ok(output.project(indices)?),
            None => Ok(output),
        }
    }
    /// The memory [`TableKernel::compute_projected`] allocates on `input` beyond the input
    /// itself (its working vectors and its result) for a query reading `projection`, an upper
    /// estimate. `KernelExec` reserves it from
    /// the memory pool before the kernel runs, so a query that cannot afford the kernel fails
    /// with "Resources exhausted" instead of growing past the limit.
    fn working_memory(&self, input: &RecordBatch, projection: Option<&[usize]>) -> usize {
        let _ = projection;
        input
            .num_rows()
            .saturating_mul(DEFAULT_WORKING_BYTES_PER_ROW)
    }
}

/// The working memory per input row [`TableKernel::working_memory`] assumes for kernels
/// without an estimate of their own.
pub const DEFAULT_WORKING_BYTES_PER_ROW: usize = 128;

/// The input table of a table function, resolved in the calling session.
#[derive(Debug, Clone)]
pub struct InputTable {
    function: &'static str,
    name: String,
    reference: TableReference,
    provider: Arc<dyn TableProvider>,
}

impl InputTable {
    /// Resolves `name` (`orders`, `public.orders`, a view...) in the session's catalogs.
    pub fn resolve(
        function: &'static str,
        session: &dyn Session,
        name: &str,
    ) -> Result<InputTable> {
        let reference = TableReference::from(name);
        let options = session.config_options();
        let resolved = reference.clone().resolve(
            &options.catalog.default_catalog,
            &options.catalog.default_schema,
        );
        let missing = || {
            crate::crm_error!(
                UndefinedTable,
                "{function}: table \"{name}\" does not exist"
            )
        };
        let schema = session
            .catalog_list()
            .catalog(&resolved.catalog)
            .and_then(|catalog| catalog.schema(&resolved.schema))
            .ok_or_else(missing)?;
        // Registered tables and views resolve without waiting; a provider that would need
        // I/O to be found is not a table a CRM function can read.
        let provider = schema
            .table(&resolved.table)
            .now_or_never()
            .ok_or_else(|| {
                crate::crm_error!(
                    Unsupported,
                    "{function}: table \"{name}\" cannot be resolved here"
                )
            })??
            .ok_or_else(missing)?;
        Ok(InputTable {
            function,
            name: name.to_string(),
            reference,
            provider,
        })
    }

    /// The column `name` as an expression, after checking it exists and its type is accepted.
    pub fn column(
        &self,
        role: &str,
        name: &str,
        accept: impl Fn(&DataType) -> bool,
        expected: &str,
    ) -> Result<(Expr, DataType)> {
        let schema = self.provider.schema();
        let Ok(field) = schema.field_with_name(name) else {
            let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return crate::crm_err!(
                UndefinedColumn,
                "{}: column \"{name}\" ({role}) does not exist in \"{}\" (columns: {})",
                self.function,
                self.name,
                columns.join(", ")
            );
        };
        if !accept(field.data_type()) {
            return crate::crm_err!(
                ColumnType,
                "{}: column \"{name}\" ({role}) must be {expected}, but it is {}",
                self.function,
                field.data_type()
            );
        }
        Ok((
            Expr::Column(Column::from_name(name)),
            field.data_type().clone(),
        ))
    }

    /// A plan builder scanning the table.
    pub fn scan(&self) -> Result<LogicalPlanBuilder> {
        LogicalPlanBuilder::scan(
            self.reference.clone(),
            provider_as_source(self.provider.clone()),
            None,
        )
    }
}

/// Whether a type is a date or timestamp.
pub fn is_temporal(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _)
    )
}

/// Whether a type is numeric.
pub fn is_numeric(t: &DataType) -> bool {
    t.is_numeric() || matches!(t, DataType::Null)
}

/// Whether a type can identify a customer (integers and text).
pub fn is_key(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A table function result: the input plan, and the kernel applied to its rows.
#[derive(Debug)]
pub struct KernelTable {
    input: LogicalPlan,
    kernel: Arc<dyn TableKernel>,
}

impl KernelTable {
    /// A table computed by `kernel` from the rows of `input`.
    pub fn new(input: LogicalPlan, kernel: Arc<dyn TableKernel>) -> KernelTable {
        KernelTable { input, kernel }
    }

    /// The input plan whose rows the kernel reads.
    pub fn input(&self) -> &LogicalPlan {
        &self.input
    }

    /// The kernel.
    pub fn kernel(&self) -> &Arc<dyn TableKernel> {
        &self.kernel
    }

    /// The same kernel over another input plan (for example the input after decoding).
    pub fn with_input(&self, input: LogicalPlan) -> KernelTable {
        KernelTable {
            input,
            kernel: self.kernel.clone(),
        }
    }
}

#[async_trait]
impl TableProvider for KernelTable {
    fn schema(&self) -> SchemaRef {
        self.kernel.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = state.create_physical_plan(&self.input).await?;
        Ok(Arc::new(KernelExec::try_new(
            input,
            self.kernel.clone(),
            projection.cloned(),
        )?))
    }
}

/// Collects its input, runs the kernel, and streams the result in batches.
#[derive(Debug)]
pub struct KernelExec {
    input: Arc<dyn ExecutionPlan>,
    kernel: Arc<dyn TableKernel>,
    projection: Option<Vec<usize>>,
    properties: Arc<PlanProperties>,
}

impl KernelExec {
    /// Runs `kernel` over all rows of `input` (coalesced to one partition when it has more),
    /// returning the result columns in `projection` (all for `None`).
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        kernel: Arc<dyn TableKernel>,
        projection: Option<Vec<usize>>,
    ) -> Result<KernelExec> {
        let input: Arc<dyn ExecutionPlan> = if input.output_partitioning().partition_count() > 1 {
            Arc::new(CoalescePartitionsExec::new(input))
        } else {
            input
        };
        let schema = match &projection {
            Some(indices) => Arc::new(kernel.schema().project(indices)?),
            None => kernel.schema(),
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(KernelExec {
            input,
            kernel,
            projection,
            properties,
        })
    }

    /// The kernel.
    pub fn kernel(&self) -> &Arc<dyn TableKernel> {
        &self.kernel
    }

    /// The result columns returned, by position in the kernel's schema (`None`: all).
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }

    /// The input plan (one partition).
    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

impl DisplayAs for KernelExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CrmKernelExec: {}", self.kernel.describe())
    }
}

impl ExecutionPlan for KernelExec {
    fn name(&self) -> &str {
        "CrmKernelExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        // The kernel evaluates no physical expressions of its own.
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(KernelExec::try_new(
                input,
                self.kernel.clone(),
                self.projection.clone(),
            )?)),
            _ => crate::crm_err!(Internal, "CrmKernelExec takes exactly one input"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return crate::crm_err!(Internal, "CrmKernelExec has one partition, not {partition}");
        }
        let input = self.input.execute(0, context.clone())?;
        let input_schema = self.input.schema();
        let kernel = self.kernel.clone();
        let projection = self.projection.clone();
        let schema = self.properties.eq_properties.schema().clone();
        let batch_size = context.session_config().batch_size().max(1);
        let reservation = MemoryConsumer::new(format!("CrmKernel[{}]", kernel.describe()))
            .register(context.memory_pool());
        let result = async move {
            let mut reservation = reservation;
            let all = collect_compact(input, &input_schema, &mut reservation).await?;
            let working = kernel.working_memory(&all, projection.as_deref());
            reservation.try_grow(working)?;
            // Off the async threads, so a cancel reaches the query while the kernel computes;
            // dropping this future raises `stop`, which the kernel's long loops watch.
            let stop = crate::interrupt::Stop::default();
            let flag = stop.flag();
            let output = SpawnedTask::spawn_blocking(move || {
                crate::interrupt::Stop::watch(flag, || {
                    kernel.compute_projected(all, projection.as_deref())
                })
            })
            .join()
            .await
            .map_err(|e| datafusion::error::DataFusionError::ExecutionJoin(Box::new(e)))??;
            drop(stop);
            // The result stays reserved until its last slice has been read.
            reservation.resize(output.get_array_memory_size());
            let rows = output.num_rows();
            let slices: Vec<Result<RecordBatch>> = (0..rows)
                .step_by(batch_size)
                .map(|offset| Ok(output.slice(offset, batch_size.min(rows - offset))))
                .collect();
            let slices = futures::stream::iter(slices).map(move |slice| {
                let _held = &reservation;
                slice
            });
            Ok::<_, datafusion::error::DataFusionError>(slices)
        };
        let stream = futures::stream::once(result).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.boxed(),
        )))
    }
}

/// Pending slices are copied into one compact batch once they hold this many bytes.
const COMPACT_BYTES: usize = 32 << 20;

/// Every row of `input` as one batch, with the memory it holds reserved in `reservation`.
///
/// Operators often emit slices of one large batch (a hash aggregation emits all its groups at
/// once, then slices them), and a slice's `get_array_memory_size` counts its parent's whole
/// buffers. So each batch is counted by the part of the buffers it covers, and pending slices
/// are copied into compact batches as they arrive (the copies own their memory, and the
/// parent can be freed once its producer lets it go). The final concatenation reserves its
/// copy before it makes it.
async fn collect_compact(
    mut input: SendableRecordBatchStream,
    schema: &SchemaRef,
    reservation: &mut MemoryReservation,
) -> Result<RecordBatch> {
    let mut chunks: Vec<RecordBatch> = Vec::new();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_bytes = 0usize;
    let compact = |pending: &mut Vec<RecordBatch>,
                   pending_bytes: &mut usize,
                   reservation: &mut MemoryReservation|
     -> Result<RecordBatch> {
        let chunk = concat_batches(schema, pending.iter())?;
        pending.clear();
        reservation.try_grow(chunk.get_array_memory_size())?;
        reservation.shrink(std::mem::take(pending_bytes));
        Ok(chunk)
    };
    while let Some(batch) = input.next().await {
        let batch = batch?;
        let bytes = sliced_memory_size(&batch);
        reservation.try_grow(bytes)?;
        pending_bytes += bytes;
        pending.push(batch);
        if pending_bytes >= COMPACT_BYTES {
            chunks.push(compact(&mut pending, &mut pending_bytes, reservation)?);
        }
    }
    if !pending.is_empty() {
        chunks.push(compact(&mut pending, &mut pending_bytes, reservation)?);
    }
    match chunks.len() {
        0 => Ok(RecordBatch::new_empty(schema.clone())),
        1 => Ok(chunks.remove(0)),
        _ => {
            let parts: usize = chunks.iter().map(RecordBatch::get_array_memory_size).sum();
            reservation.try_grow(parts)?;
            let all = concat_batches(schema, &chunks)?;
            drop(chunks);
            reservation.shrink(parts);
            reservation.try_resize(all.get_array_memory_size())?;
            Ok(all)
        }
    }
}

/// The bytes of the buffer ranges `batch`'s columns cover (not their parents' whole buffers).
fn sliced_memory_size(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| column.get_array_memory_size())
        })
        .sum()
}

/// Test helpers: a table function's kernel taken from a real call, rebuilt from its bytes.
#[cfg(test)]
pub(crate) mod testing {
    use datafusion::arrow::compute::{SortOptions, sort_to_indices, take_record_batch};
    use datafusion::catalog::TableFunctionArgs;
    use datafusion::logical_expr::lit;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// A literal date argument.
    pub fn date(text: &str) -> Expr {
        lit(datafusion::common::ScalarValue::Date32(Some(
            crate::args::parse_date(text).expect("a date"),
        )))
    }

    /// Runs `sql` (a `SET segmint.*`) in `ctx`.
    pub async fn set(ctx: &SessionContext, sql: &str) {
        ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
    }

    fn sorted(batch: &RecordBatch) -> RecordBatch {
        let order = sort_to_indices(batch.column(0), Some(SortOptions::default()), None)
            .expect("sort by customer");
        take_record_batch(batch, &order).expect("take")
    }

    /// Calls the table function `name` with `args` in `ctx`, round-trips its kernel's call
    /// through bytes, rebuilds the kernel from the call and the input's schema, and checks the
    /// rebuilt kernel describes, types and computes exactly what the original does (directly on
    /// one input batch, and as a `KernelExec` with a projection). Returns the call and the
    /// result.
    pub async fn assert_rebuilds(
        ctx: &SessionContext,
        name: &str,
        args: &[Expr],
    ) -> (KernelCall, RecordBatch) {
        let function = crate::table_functions()
            .into_iter()
            .find(|f| f.name == name)
            .expect("registered");
        assert!(function.kernel.is_some(), "{name} has a kernel builder");
        let state = ctx.state();
        let provider = function
            .function
            .call_with_args(TableFunctionArgs::new(args, &state))
            .expect("call");
        let table = provider
            .downcast_ref::<KernelTable>()
            .expect("a kernel table");
        let original = table.kernel().clone();
        assert_eq!(original.call().function, name);

        let physical = state
            .create_physical_plan(table.input())
            .await
            .expect("input plan");
        let input_schema = physical.schema();
        let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
            .await
            .expect("input rows");
        let input = concat_batches(&input_schema, &batches).expect("one batch");

        let bytes = original.call().to_bytes();
        let call = KernelCall::from_bytes(&bytes).expect("decode");
        assert_eq!(&call, original.call());
        let rebuilt = rebuild_kernel(&call, &input_schema).expect("rebuild");
        assert_eq!(rebuilt.call(), original.call());
        assert_eq!(rebuilt.describe(), original.describe());
        assert_eq!(rebuilt.schema(), original.schema());
        let expected = original.compute(input.clone()).expect("original");
        let actual = rebuilt.compute(input).expect("rebuilt");
        assert!(actual.num_rows() > 0, "{name}: the test input gives rows");
        assert_eq!(actual, expected);

        // The rebuilt kernel over the same input, as the executor runs it (a fresh physical
        // plan: a repartitioning plan runs only once).
        let physical = state
            .create_physical_plan(table.input())
            .await
            .expect("input plan");
        let projection = vec![0, 1];
        let exec =
            KernelExec::try_new(physical, rebuilt.clone(), Some(projection.clone())).expect("exec");
        assert_eq!(exec.projection(), Some(projection.as_slice()));
        assert_eq!(exec.kernel().describe(), original.describe());
        assert_eq!(exec.input().output_partitioning().partition_count(), 1);
        let exec: Arc<dyn ExecutionPlan> = Arc::new(exec);
        let output = datafusion::physical_plan::collect(exec.clone(), ctx.task_ctx())
            .await
            .expect("run");
        let output = concat_batches(&exec.schema(), &output).expect("one batch");
        assert_eq!(
            sorted(&output),
            sorted(&expected.project(&projection).expect("project"))
        );

        // Same kernel, new input.
        let again = table.with_input(table.input().clone());
        assert!(Arc::ptr_eq(again.kernel(), table.kernel()));
        (call, actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_round_trip_through_bytes() {
        let mut defaults = FunctionOptions::default();
        defaults.rfm_bins = 4;
        defaults.as_of = "2026-01-01".to_string();
        let call = KernelCall::new(
            "rfm",
            "public.orders",
            20_454,
            vec!["customer_id".into(), "order_ts".into(), "net_amount".into()],
            Some("scheme=ntile".into()),
            &defaults,
        );
        assert_eq!(call.defaults.get("rfm_bins").map(String::as_str), Some("4"));
        let decoded = KernelCall::from_bytes(&call.to_bytes()).unwrap();
        assert_eq!(decoded, call);
        let options = decoded.function_options().unwrap();
        assert_eq!(options.rfm_bins, 4);
        assert_eq!(options.as_of, "2026-01-01");
        assert_eq!(options.lifecycle_new_days, 30);
    }

    #[test]
    fn bad_calls_are_errors() {
        assert!(KernelCall::from_bytes(b"not json").is_err());
        let mut call = KernelCall::new("no_such_fn", "t", 0, vec![], None, &Default::default());
        let schema = Schema::empty();
        let err = rebuild_kernel(&call, &schema).unwrap_err().to_string();
        assert!(err.contains("no_such_fn"), "{err}");
        // A view has no kernel to rebuild.
        call.function = "btyd_summary".into();
        assert!(rebuild_kernel(&call, &schema).is_err());
        // An unknown default is refused, not ignored.
        call.function = "rfm".into();
        call.defaults.insert("no_such_option".into(), "1".into());
        assert!(call.function_options().is_err());
    }

    #[test]
    fn kernel_functions_have_builders_and_views_do_not() {
        let builders: Vec<(&str, bool)> = crate::table_functions()
            .iter()
            .map(|f| (f.name, f.kernel.is_some()))
            .collect();
        for (name, has) in builders {
            let expected = matches!(name, "rfm" | "lifecycle" | "customer_value");
            assert_eq!(has, expected, "{name}");
        }
    }

    /// A stream of `batch` cut into slices of `size` rows, as a hash aggregation emits.
    fn sliced(batch: &RecordBatch, size: usize) -> SendableRecordBatchStream {
        let slices: Vec<Result<RecordBatch>> = (0..batch.num_rows())
            .step_by(size)
            .map(|offset| Ok(batch.slice(offset, size.min(batch.num_rows() - offset))))
            .collect();
        Box::pin(RecordBatchStreamAdapter::new(
            batch.schema(),
            futures::stream::iter(slices),
        ))
    }

    fn numbers(rows: i64) -> RecordBatch {
        use datafusion::arrow::array::{Float64Array, Int64Array};
        let schema = Arc::new(Schema::new(vec![
            datafusion::arrow::datatypes::Field::new("id", DataType::Int64, false),
            datafusion::arrow::datatypes::Field::new("value", DataType::Float64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(Float64Array::from_iter_values(
                    (0..rows).map(|v| v as f64 / 2.0),
                )),
            ],
        )
        .expect("a batch")
    }

    #[tokio::test]
    async fn slices_are_counted_by_the_rows_they_hold() {
        use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
        // 4M rows (64 MiB) in slices of 8,192: counted at their parent's size, the first
        // handful of slices would already exceed a pool of three times the batch.
        let batch = numbers(4 << 20);
        let bytes = batch.get_array_memory_size();
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(3 * bytes));
        let mut reservation = MemoryConsumer::new("test").register(&pool);
        let all = collect_compact(sliced(&batch, 8192), &batch.schema(), &mut reservation)
            .await
            .expect("collected within the pool");
        assert_eq!(all, batch);
        // What stays reserved is the compact copy, and the pool agrees.
        assert_eq!(reservation.size(), all.get_array_memory_size());
        assert_eq!(pool.reserved(), reservation.size());
        // An empty input is an empty batch.
        let empty = collect_compact(
            sliced(&batch.slice(0, 0), 1),
            &batch.schema(),
            &mut reservation,
        )
        .await
        .expect("empty");
        assert_eq!(empty.num_rows(), 0);
    }

    /// A kernel returning its input, asking for `working` bytes of working memory.
    #[derive(Debug)]
    struct Echo {
        call: KernelCall,
        schema: SchemaRef,
        working: usize,
    }

    impl TableKernel for Echo {
        fn call(&self) -> &KernelCall {
            &self.call
        }
        fn describe(&self) -> String {
            "echo".to_string()
        }
        fn schema(&self) -> SchemaRef {
            self.schema.clone()
        }
        fn compute(&self, input: RecordBatch) -> Result<RecordBatch> {
            Ok(input)
        }
        fn working_memory(&self, _input: &RecordBatch, _projection: Option<&[usize]>) -> usize {
            self.working
        }
    }

    #[tokio::test]
    async fn a_kernel_that_cannot_afford_its_working_memory_fails_cleanly() {
        use datafusion::datasource::memory::MemorySourceConfig;
        use datafusion::execution::memory_pool::GreedyMemoryPool;
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use datafusion::prelude::{SessionConfig, SessionContext};

        let batch = numbers(10_000);
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(1 << 20)))
            .build_arc()
            .expect("runtime");
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let run = |working: usize| {
            let kernel = Arc::new(Echo {
                call: KernelCall::new("echo", "t", 0, vec![], None, &Default::default()),
                schema: batch.schema(),
                working,
            });
            let input =
                MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], batch.schema(), None)
                    .expect("input");
            let exec: Arc<dyn ExecutionPlan> =
                Arc::new(KernelExec::try_new(input, kernel, None).expect("exec"));
            datafusion::physical_plan::collect(exec, ctx.task_ctx())
        };
        // 160 KB of input and 64 KB to work in fit in 1 MiB.
        let output = run(64 << 10).await.expect("within the pool");
        assert_eq!(
            concat_batches(&batch.schema(), &output).expect("one"),
            batch
        );
        // 2 MiB to work in do not: the kernel is refused before it runs, with its name.
        let error = run(2 << 20).await.expect_err("over the pool").to_string();
        assert!(error.contains("Resources exhausted"), "{error}");
        assert!(error.contains("CrmKernel[echo]"), "{error}");
        // Everything reserved was given back.
        assert_eq!(ctx.runtime_env().memory_pool.reserved(), 0);
    }
}
