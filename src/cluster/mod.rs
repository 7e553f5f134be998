//! `segmint scheduler` and `segmint executor`: Apache DataFusion Ballista's scheduler and
//! executor processes, with Segmint plugged into Ballista's override points.
//!
//! Both read the same `segmint.toml` as the server: `[[object_stores]]` (stores are built for
//! a bucket the first time a plan reads it), `[engine]` (memory, spill folder) and
//! `[functions]` (the `segmint.*` defaults, registered as a config extension so a session's
//! `SET segmint.lifecycle_active_days = 60` reaches every task). They carry Segmint's function
//! registry (the CRM functions and the PostgreSQL ones) and its plan codecs
//! ([`crate::engine::distributed::codec`]). Nothing here schedules: Ballista does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::SessionStateBuilder;

use crate::config::{Config, parse_scheduler_url};
use crate::engine::distributed::codec::{SegmintLogicalCodec, SegmintPhysicalCodec};
use crate::engine::{cluster_runtime, cluster_session_config, function_state};
use crate::error::{Result, SegmintError};

/// How `segmint scheduler` runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The gRPC (and REST) address executors and servers connect to.
    pub bind: SocketAddr,
    /// An executor silent for this long is lost: its tasks run again elsewhere.
    pub executor_timeout: Duration,
}

/// How `segmint executor` runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `df://HOST:PORT`.
    pub scheduler: String,
    /// The Arrow Flight address other executors and servers fetch results from.
    pub bind: SocketAddr,
    /// The host name or address advertised to the scheduler (default: the --bind address),
    /// for an executor bound to 0.0.0.0 or behind a container network.
    pub external_host: Option<String>,
    /// The gRPC port the scheduler launches tasks on (default: the Flight port + 1).
    pub grpc_port: Option<u16>,
    /// Tasks run at once (Ballista's vcores); default: the machine's cores.
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files go (default: a temporary folder).
    pub work_dir: Option<PathBuf>,
    /// How often the executor tells the scheduler it is alive.
    pub heartbeat: Duration,
}

fn ballista_error(what: &str) -> impl Fn(ballista_core::error::BallistaError) -> SegmintError {
    let what = what.to_string();
    move |error| SegmintError::Cluster(format!("{what}: {error}"))
}

/// Runs Ballista's scheduler until it fails.
pub async fn run_scheduler(config: &Config, options: SchedulerOptions) -> Result<()> {
    let session_config = cluster_session_config(config)?;
    let runtime = cluster_runtime(config)?;
    // Functions are registered once; each job gets its own settings over them.
    let template = function_state(session_config.clone(), runtime, &crate::pgcompat::Postgres)?;
    let produce: ConfigProducer = Arc::new(move || session_config.clone());
    let session_builder: SessionBuilder = Arc::new(move |session_config| {
        Ok(SessionStateBuilder::new_from_existing(template.clone())
            .with_config(session_config)
            .build())
    });
    let timeout = options.executor_timeout.as_secs().max(1);
    let scheduler_config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options.bind.ip().to_string(),
        executor_timeout_seconds: timeout,
        expire_dead_executor_interval_seconds: (timeout / 3).max(1),
        no_executors_grace_period_seconds: timeout,
        override_config_producer: Some(produce),
        override_session_builder: Some(session_builder),
        override_logical_codec: Some(Arc::new(SegmintLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(SegmintPhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&scheduler_config)
        .await
        .map_err(ballista_error("starting the scheduler"))?;
    tracing::info!(bind = %options.bind, executor_timeout = ?options.executor_timeout, "Segmint scheduler (Ballista {}) starting", ballista_core::BALLISTA_VERSION);
    start_server(cluster, options.bind, Arc::new(scheduler_config))
        .await
        .map_err(ballista_error("the scheduler stopped"))
}

/// Runs Ballista's executor until it fails or the process is stopped.
pub async fn run_executor(config: &Config, options: ExecutorOptions) -> Result<()> {
    let (scheduler_host, scheduler_port) = parse_scheduler_url(&options.scheduler)?;
    let session_config = cluster_session_config(config)?;
    let runtime = cluster_runtime(config)?;
    let functions = function_state(
        session_config.clone(),
        runtime.clone(),
        &crate::pgcompat::Postgres,
    )?;
    let produce: ConfigProducer = Arc::new(move || session_config.clone());
    let runtime_producer: RuntimeProducer = Arc::new(move |_| Ok(runtime.clone()));
    let port = options.bind.port();
    let grpc_port = match options.grpc_port {
        Some(port) => port,
        None => port.checked_add(1).ok_or_else(|| {
            SegmintError::ConfigInvalid(
                "executor --bind port leaves no room for --grpc-port".into(),
            )
        })?,
    };
    let mut executor = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(
            options
                .external_host
                .clone()
                .unwrap_or_else(|| options.bind.ip().to_string()),
        ),
        port,
        grpc_port,
        scheduler_host,
        scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|dir| dir.to_string_lossy().into_owned()),
        executor_heartbeat_interval_seconds: options.heartbeat.as_secs().max(1),
        override_function_registry: Some(Arc::new(BallistaFunctionRegistry::from(&functions))),
        override_runtime_producer: Some(runtime_producer),
        override_config_producer: Some(produce),
        override_logical_codec: Some(Arc::new(SegmintLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(SegmintPhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    if let Some(tasks) = options.concurrent_tasks {
        executor.vcores = tasks.max(1);
    }
    if let Some(dir) = &options.work_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| SegmintError::io(format!("creating {}", dir.display()), e))?;
    }
    tracing::info!(bind = %options.bind, scheduler = %options.scheduler, tasks = executor.vcores, "Segmint executor (Ballista {}) starting", ballista_core::BALLISTA_VERSION);
    start_executor_process(Arc::new(executor))
        .await
        .map_err(ballista_error("the executor stopped"))
}
