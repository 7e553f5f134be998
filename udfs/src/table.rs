//! Plumbing for table functions whose result needs every input row at once (quantile scores,
//! population means): the input is an ordinary DataFusion plan (scan, filter, hash
//! aggregation, all parallel), and a [`TableKernel`] turns its collected rows into the result.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Column, TableReference, plan_datafusion_err, plan_err};
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::execution::memory_pool::MemoryConsumer;
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

/// Computes a table function's result from all rows of its input plan.
pub trait TableKernel: fmt::Debug + Send + Sync {
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
}

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
        let missing = || plan_datafusion_err!("{function}: table \"{name}\" does not exist");
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
                plan_datafusion_err!("{function}: table \"{name}\" cannot be resolved here")
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
            return plan_err!(
                "{}: column \"{name}\" ({role}) does not exist in \"{}\" (columns: {})",
                self.function,
                self.name,
                columns.join(", ")
            );
        };
        if !accept(field.data_type()) {
            return plan_err!(
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
        Ok(Arc::new(KernelExec::new(
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
    fn new(
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
            Some(input) if children.is_empty() => Ok(Arc::new(KernelExec::new(
                input,
                self.kernel.clone(),
                self.projection.clone(),
            )?)),
            _ => plan_err!("CrmKernelExec takes exactly one input"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return plan_err!("CrmKernelExec has one partition, not {partition}");
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
            let reservation = reservation;
            let batches: Vec<RecordBatch> = input
                .and_then(|batch| {
                    let grown = reservation.try_grow(batch.get_array_memory_size());
                    futures::future::ready(grown.map(|_| batch))
                })
                .try_collect()
                .await?;
            let all = concat_batches(&input_schema, &batches)?;
            drop(batches);
            let output = kernel.compute_projected(all, projection.as_deref())?;
            let rows = output.num_rows();
            let slices: Vec<Result<RecordBatch>> = (0..rows)
                .step_by(batch_size)
                .map(|offset| Ok(output.slice(offset, batch_size.min(rows - offset))))
                .collect();
            drop(reservation);
            Ok::<_, datafusion::error::DataFusionError>(futures::stream::iter(slices))
        };
        let stream = futures::stream::once(result).try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            stream.boxed(),
        )))
    }
}
