//! Where a query runs when `[cluster] scheduler` (or `serve --cluster`) is set.
//!
//! Planning stays in the server: SQL, the catalog, roles and row filters. [`ClusterPlanner`]
//! is the session's query planner. It sends a query's optimized logical plan to the Ballista
//! scheduler when every table it reads is one the executors can read too: datasets on object
//! storage, local datasets under a shared path, and the CRM table functions over them. Queries
//! that read the server's in-memory tables (`pg_catalog`, `information_schema`, `segmint.*`,
//! `goals.*`) or no table at all run here, as Ballista would otherwise ship those tables. A
//! query on a local dataset that is not marked shared is refused with a message saying how to
//! share it.
//!
//! Before a plan leaves the server, the inputs of the CRM table functions in it are analyzed
//! and optimized in the session (so the role's row filters are under their scans), and the
//! remote part is wrapped in [`ClusterJobExec`], which names the job in the query log and turns
//! a lost scheduler or executor into a [`ClusterError`] (SQLSTATE 58000).

pub mod codec;
pub mod status;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::extension::SessionConfigExt;
use ballista_core::planner::BallistaQueryPlanner;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::dml::CopyTo;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableScan, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::StreamExt;
use segmint_udfs::table::KernelTable;

use crate::catalog::indexes::IndexedTable;
use crate::config::{Config, parse_scheduler_url};
use crate::error::Result as SegmintResult;

/// A cluster failure a client can act on: the scheduler cannot be reached, or the job was
/// lost with an executor. SQLSTATE 58000 (system error): the query may be retried.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The scheduler did not answer.
    #[error(
        "the cluster scheduler {scheduler} is not reachable ({reason}); catalog queries still work here, queries on datasets need the scheduler"
    )]
    SchedulerUnreachable {
        /// `df://HOST:PORT`.
        scheduler: String,
        /// What the connection attempt reported.
        reason: String,
    },
    /// The job failed because an executor was lost (killed, out of memory, unreachable).
    #[error("cluster job {job} failed: {reason}")]
    JobLost {
        /// The Ballista job id.
        job: String,
        /// What the scheduler reported, naming the executor.
        reason: String,
    },
    /// A dataset on a local path the executors may not see.
    #[error(
        "table \"{table}\" is on a local path ({path}) that cluster executors may not see: put it on object storage (s3://, gs://, az://), or, if every executor mounts it at the same path, set shared = true on its [[datasets]] entry or add the folder to [cluster] shared_paths"
    )]
    LocalPath {
        /// The table name.
        table: String,
        /// The local path.
        path: String,
    },
}

impl ClusterError {
    /// The SQLSTATE a client receives.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            ClusterError::SchedulerUnreachable { .. } | ClusterError::JobLost { .. } => {
                crate::sqlstate::SYSTEM_ERROR
            }
            ClusterError::LocalPath { .. } => crate::sqlstate::FEATURE_NOT_SUPPORTED,
        }
    }
}

/// The cluster a server sends query execution to.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// As configured: `df://HOST:PORT`.
    scheduler: String,
    /// The scheduler's gRPC (and REST) address, `http://HOST:PORT`.
    endpoint: String,
    /// Local folders every executor sees at the same path.
    shared: Vec<PathBuf>,
    /// Local folders only the server writes and reads (a local `[catalog] tables_url` or
    /// `[reports] output_url`): queries on them run here instead of being refused.
    server_owned: Vec<PathBuf>,
    /// The functions cluster processes know; a query calling another one runs here.
    functions: Arc<HashSet<String>>,
}

impl Cluster {
    /// The cluster of `[cluster]`, or `None` when no scheduler is set.
    pub fn from_config(config: &Config) -> SegmintResult<Option<Cluster>> {
        let Some(scheduler) = &config.cluster.scheduler else {
            return Ok(None);
        };
        let (host, port) = parse_scheduler_url(scheduler)?;
        let mut shared = config.cluster.shared_paths.clone();
        for dataset in config.datasets.iter().filter(|d| d.shared) {
            let url = crate::catalog::resolve_url(&dataset.url)?;
            if let Some(path) = url::Url::parse(&url)
                .ok()
                .and_then(|u| u.to_file_path().ok())
            {
                shared.push(path);
            }
        }
        let local_path = |url: &str| {
            crate::catalog::resolve_url(url)
                .ok()
                .and_then(|url| url::Url::parse(&url).ok())
                .and_then(|url| url.to_file_path().ok())
        };
        let server_owned = [
            config.catalog.tables_url.as_deref(),
            config.reports.output_url.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(local_path)
        .chain(config.catalog.dir.clone())
        .collect();
        Ok(Some(Cluster {
            scheduler: scheduler.clone(),
            endpoint: format!("http://{host}:{port}"),
            shared,
            server_owned,
            functions: Arc::default(),
        }))
    }

    /// The cluster, knowing that its processes have the functions `names`.
    pub fn with_functions(mut self, names: HashSet<String>) -> Cluster {
        self.functions = Arc::new(names);
        self
    }

    /// The scheduler as configured (`df://HOST:PORT`).
    pub fn scheduler(&self) -> &str {
        &self.scheduler
    }

    /// The scheduler's `http://HOST:PORT` address.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether the executors can read `url` (a resolved URL): object storage, or a local
    /// path under a shared folder.
    pub fn executors_read(&self, url: &str) -> bool {
        let Ok(url) = url::Url::parse(url) else {
            return false;
        };
        if url.scheme() != "file" {
            return true;
        }
        url.to_file_path()
            .is_ok_and(|path| self.shared.iter().any(|folder| path.starts_with(folder)))
    }

    /// `config` with Ballista's settings and Segmint's plan codecs.
    pub fn session_config(&self, config: SessionConfig) -> SessionConfig {
        with_codecs(config.upgrade_for_ballista())
    }

    /// The query planner of sessions on this cluster (`ballista_config`: the `ballista.*`
    /// settings jobs are submitted with).
    pub fn planner(&self, ballista_config: BallistaConfig) -> Arc<ClusterPlanner> {
        Arc::new(ClusterPlanner {
            cluster: self.clone(),
            remote: BallistaQueryPlanner::with_extension(
                self.endpoint.clone(),
                ballista_config,
                Arc::new(codec::SegmintLogicalCodec::default()),
            ),
            local: DefaultPhysicalPlanner::default(),
        })
    }
}

/// `config` carrying Segmint's logical and physical codecs (what every cluster process
/// encodes and decodes plans with).
pub fn with_codecs(config: SessionConfig) -> SessionConfig {
    config
        .with_ballista_logical_extension_codec(Arc::new(codec::SegmintLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(codec::SegmintPhysicalCodec::default()))
}

/// Runs each query here or on the cluster (see the module docs).
pub struct ClusterPlanner {
    cluster: Cluster,
    remote: BallistaQueryPlanner<LogicalPlanNode>,
    local: DefaultPhysicalPlanner,
}

impl fmt::Debug for ClusterPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterPlanner")
            .field("scheduler", &self.cluster.scheduler)
            .finish()
    }
}

/// Where a plan runs.
#[derive(Debug, PartialEq)]
enum Placement {
    /// In the server: it reads in-memory tables or nothing.
    Local,
    /// On the cluster: every table it reads, the executors can read.
    Cluster,
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // A write (`CREATE TABLE AS`, `COPY ... TO`): its rows come from the cluster, the
        // server writes them, so a failed job leaves nothing behind (the writer cleans up).
        let (query, copy) = match plan {
            LogicalPlan::Copy(copy) => (copy.input.as_ref().clone(), Some(copy)),
            other => (other.clone(), None),
        };
        // Placement is decided on what would be shipped: the CRM functions' inputs with the
        // role's row filters in them (which may read more tables).
        let prepared = prepare_kernel_inputs(query, session)?;
        if self.placement(&prepared)? == Placement::Local {
            return self.local.create_physical_plan(plan, session).await;
        }
        // Planned here first, so a statement the server cannot plan fails as it does on one
        // machine (and the server's subquery rewrites see the error), not on the scheduler.
        self.local.create_physical_plan(&prepared, session).await?;
        let remote = self.remote.create_physical_plan(&prepared, session).await?;
        let job: Arc<dyn ExecutionPlan> =
            Arc::new(ClusterJobExec::new(remote, self.cluster.scheduler.clone()));
        let Some(copy) = copy else {
            return Ok(job);
        };
        let input = LogicalPlanBuilder::scan(
            "cluster_rows",
            provider_as_source(Arc::new(ShippedRows::new(job))),
            None,
        )?
        .build()?;
        let copy = LogicalPlan::Copy(CopyTo {
            input: Arc::new(input),
            ..copy.clone()
        });
        self.local.create_physical_plan(&copy, session).await
    }
}

/// The rows of a cluster job, as a table a local write reads.
#[derive(Debug)]
struct ShippedRows {
    plan: Arc<dyn ExecutionPlan>,
}

impl ShippedRows {
    fn new(plan: Arc<dyn ExecutionPlan>) -> ShippedRows {
        ShippedRows { plan }
    }
}

#[async_trait]
impl TableProvider for ShippedRows {
    fn schema(&self) -> SchemaRef {
        self.plan.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match projection {
            None => Ok(self.plan.clone()),
            Some(indices) => {
                let schema = self.plan.schema();
                let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = indices
                    .iter()
                    .map(|&i| {
                        let name = schema.field(i).name().clone();
                        let column: Arc<dyn PhysicalExpr> = Arc::new(
                            datafusion::physical_expr::expressions::Column::new(&name, i),
                        );
                        (column, name)
                    })
                    .collect();
                Ok(Arc::new(
                    datafusion::physical_plan::projection::ProjectionExec::try_new(
                        exprs,
                        self.plan.clone(),
                    )?,
                ))
            }
        }
    }
}

impl ClusterPlanner {
    /// Whether `plan` can run on the cluster, or an error for a local path that is not shared.
    fn placement(&self, plan: &LogicalPlan) -> Result<Placement> {
        let cluster = &self.cluster;
        let mut scans = 0usize;
        let mut local_only = false;
        let mut server_function = false;
        let mut unshared: Option<ClusterError> = None;
        let under = |path: &Path, folders: &[PathBuf]| folders.iter().any(|f| path.starts_with(f));
        visit(
            plan,
            &mut |scan: &TableScan| {
                scans += 1;
                let Ok(provider) = source_as_provider(&scan.source) else {
                    local_only = true;
                    return;
                };
                // An index lookup is answered here; other scans of the dataset can ship.
                let provider = match provider.downcast_ref::<IndexedTable>() {
                    Some(indexed) if indexed.index_for(&scan.filters).is_some() => {
                        local_only = true;
                        return;
                    }
                    Some(indexed) => indexed.inner().clone(),
                    None => provider,
                };
                if let Some(listing) = provider.downcast_ref::<ListingTable>() {
                    for path in listing.table_paths() {
                        let url: &url::Url = path.as_ref();
                        if url.scheme() != "file" {
                            continue;
                        }
                        let Ok(local) = url.to_file_path() else {
                            local_only = true;
                            continue;
                        };
                        if under(&local, &cluster.shared) {
                            continue;
                        }
                        if under(&local, &cluster.server_owned) {
                            // What the server wrote for itself: it reads it here.
                            local_only = true;
                            continue;
                        }
                        unshared.get_or_insert(ClusterError::LocalPath {
                            table: scan.table_name.to_string(),
                            path: local.display().to_string(),
                        });
                    }
                } else if provider.downcast_ref::<KernelTable>().is_none() {
                    local_only = true;
                }
            },
            &mut |name: &str| {
                if !cluster.functions.contains(name) {
                    server_function = true;
                }
            },
        )?;
        if scans == 0 || local_only || server_function {
            return Ok(Placement::Local);
        }
        match unshared {
            Some(error) => Err(DataFusionError::External(Box::new(error))),
            None => Ok(Placement::Cluster),
        }
    }
}

/// Calls `on_scan` on every table scan and `on_function` with the name of every function
/// called in `plan`, its subqueries and the inputs of the CRM table functions it reads.
fn visit(
    plan: &LogicalPlan,
    on_scan: &mut dyn FnMut(&TableScan),
    on_function: &mut dyn FnMut(&str),
) -> Result<()> {
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                match e {
                    Expr::ScalarFunction(f) => on_function(f.func.name()),
                    Expr::AggregateFunction(f) => on_function(f.func.name()),
                    Expr::WindowFunction(w) => on_function(w.fun.name()),
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })?;
        if let LogicalPlan::TableScan(scan) = node {
            on_scan(scan);
            if let Ok(provider) = source_as_provider(&scan.source)
                && let Some(kernel) = provider.downcast_ref::<KernelTable>()
            {
                visit(kernel.input(), on_scan, on_function)?;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(())
}

/// Analyzes and optimizes the input plan of every CRM table function in `plan` in this
/// session, so the role's row filters are in it before it leaves the server (locally, the
/// function plans its input through the session when scanned).
fn prepare_kernel_inputs(plan: LogicalPlan, session: &dyn Session) -> Result<LogicalPlan> {
    let Some(state) = session.as_any().downcast_ref::<SessionState>() else {
        return Ok(plan);
    };
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let Ok(provider) = source_as_provider(&scan.source) else {
            return Ok(Transformed::no(node));
        };
        // The executors read the dataset itself (indexes are the server's).
        if let Some(indexed) = provider.downcast_ref::<IndexedTable>()
            && indexed.index_for(&scan.filters).is_none()
        {
            let mut scan = scan.clone();
            scan.source = provider_as_source(indexed.inner().clone());
            return Ok(Transformed::yes(LogicalPlan::TableScan(scan)));
        }
        let Some(kernel) = provider.downcast_ref::<KernelTable>() else {
            return Ok(Transformed::no(node));
        };
        let input = prepare_kernel_inputs(state.optimize(kernel.input())?, session)?;
        let mut scan = scan.clone();
        scan.source = provider_as_source(Arc::new(kernel.with_input(input)));
        Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
    })
    .map(|t| t.data)
}

/// The Ballista job id of a plan that ran on the cluster.
pub fn job_id(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    if let Some(job) = plan.downcast_ref::<ClusterJobExec>() {
        return job.job_id();
    }
    plan.children().into_iter().find_map(job_id)
}

/// The part of a query that runs on the cluster: Ballista's `DistributedQueryExec`, whose
/// failures it makes typed ([`ClusterError`]) and whose job id it exposes.
#[derive(Debug)]
pub struct ClusterJobExec {
    inner: Arc<dyn ExecutionPlan>,
    scheduler: String,
}

impl ClusterJobExec {
    fn new(inner: Arc<dyn ExecutionPlan>, scheduler: String) -> ClusterJobExec {
        ClusterJobExec { inner, scheduler }
    }

    /// The job id, once the scheduler has accepted the job.
    pub fn job_id(&self) -> Option<String> {
        self.inner
            .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
            .and_then(|exec| exec.job_id())
            .map(|id| id.to_string())
    }
}

impl DisplayAs for ClusterJobExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ClusterJobExec: scheduler={} ", self.scheduler)?;
        match self
            .inner
            .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        {
            Some(inner) => inner.fmt_as(t, f),
            None => write!(f, "{}", self.inner.name()),
        }
    }
}

impl ExecutionPlan for ClusterJobExec {
    fn name(&self) -> &str {
        "ClusterJobExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            datafusion::common::internal_err!("ClusterJobExec has no children")
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let scheduler = self.scheduler.clone();
        let inner = self.inner.clone();
        let stream = self.inner.execute(partition, context)?;
        let schema = stream.schema();
        let typed = stream.map(move |batch| {
            batch.map_err(|error| typed_error(error, &scheduler, job_of(&inner)))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, typed)))
    }

    fn metrics(&self) -> Option<datafusion::physical_plan::metrics::MetricsSet> {
        self.inner.metrics()
    }
}

fn job_of(inner: &Arc<dyn ExecutionPlan>) -> Option<String> {
    inner
        .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        .and_then(|exec| exec.job_id())
        .map(|id| id.to_string())
}

/// Ballista reports a lost scheduler or executor as text; a client gets a [`ClusterError`]
/// for those, and every other failure (a division by zero on an executor) as it was.
fn typed_error(error: DataFusionError, scheduler: &str, job: Option<String>) -> DataFusionError {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    let transport = lower.contains("transport")
        || lower.contains("connection refused")
        || lower.contains("connecterror")
        || lower.contains("unavailable");
    // Before the scheduler accepted a job, a transport failure is the scheduler's; after,
    // it is the scheduler's unless it names an executor.
    let unreachable = transport && (job.is_none() || !lower.contains("executor"));
    if unreachable {
        return DataFusionError::External(Box::new(ClusterError::SchedulerUnreachable {
            scheduler: scheduler.to_string(),
            reason: crate::error::first_line(&text),
        }));
    }
    let lost = lower.contains("executor")
        && (lower.contains("lost")
            || lower.contains("dead")
            || lower.contains("unreachable")
            || lower.contains("connection refused")
            || lower.contains("fetch"));
    if lost {
        return DataFusionError::External(Box::new(ClusterError::JobLost {
            job: job.unwrap_or_else(|| "(not yet accepted)".to_string()),
            reason: crate::error::first_line(&text),
        }));
    }
    error
}

/// Finds a [`ClusterError`] anywhere in `error`.
pub fn find_error(error: &DataFusionError) -> Option<&ClusterError> {
    match error {
        DataFusionError::External(inner) => inner.downcast_ref::<ClusterError>(),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            find_error(inner)
        }
        DataFusionError::Shared(inner) => find_error(inner),
        _ => None,
    }
}
