//! The engine: the one place a DataFusion `SessionContext` is built.
//!
//! [`Engine::build`] assembles config → runtime (memory pool, spill directory) → object stores
//! → datasets → CRM functions → the client [`Dialect`]'s catalog (PostgreSQL's, from
//! `crate::pgcompat`, which builds on this module; the engine itself knows no PostgreSQL).
//! The server asks [`Engine::session`] for a fresh context per connection: tables and
//! functions are shared, while settings changed with `SET` stay within that connection.
//! Reports, the `sql` command, tests and benches use the same builder, so every path sees the
//! same tables and functions.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;

use crate::access::Role;
use crate::access::grants::GrantedCatalogs;
use crate::access::row_filter::RowFilterRule;
use crate::catalog::{Catalog, DatasetStatus, GoalTree, system_tables};
use crate::config::{Config, parse_byte_size};
use crate::error::{Result, SegmintError};
use crate::model::Model;
use crate::project::Assets;
use report_runner::ReportRunner;

mod distinct_aggregates;
pub mod distributed;
pub mod query_memory;
pub mod query_runtime;
pub mod report_runner;
pub mod result_cache;
mod selective_scans;
pub mod sql_functions;
pub mod tag_rules;
pub mod views;
mod yielding;

pub use crate::catalog::DEFAULT_SCHEMA;

/// The database system clients take the engine for: its functions, registered in every
/// context the engine builds (cluster processes' too), and its catalog tables, installed once
/// everything else is registered. PostgreSQL's is `crate::pgcompat::Postgres`.
#[async_trait::async_trait]
pub trait Dialect: Send + Sync {
    /// Registers the dialect's functions and catalog schema into `ctx`.
    fn register_functions(&self, ctx: &SessionContext, database: &str) -> Result<()>;

    /// Installs catalog tables over what `ctx` holds; `sql_functions` are the
    /// `CREATE FUNCTION` functions and `catalog` the indexes, listed as they are when the
    /// catalog is read.
    async fn install_catalog(
        &self,
        ctx: &SessionContext,
        database: &str,
        sql_functions: Arc<sql_functions::SqlFunctions>,
        catalog: &Arc<Catalog>,
    ) -> Result<()>;
}

/// Shared engine state: the prototype session every connection is cloned from.
pub struct Engine {
    prototype: SessionContext,
    catalog: Arc<Catalog>,
    /// `CREATE FUNCTION` functions, shared by every session.
    sql_functions: Arc<sql_functions::SqlFunctions>,
    /// The effective SQL assets: shipped, with the project folder's laid over them.
    assets: Assets,
    /// The analysis date the views are built for.
    as_of: String,
    /// The customer model, the views and the tag rules as last built (start, REFRESH).
    shop: std::sync::RwLock<Shop>,
    unrestored: Vec<(String, String)>,
    goal_tree: GoalTree,
    refresh_every: Option<std::time::Duration>,
    database: String,
    table_arguments: std::collections::HashMap<String, &'static [DataType]>,
    limits: Limits,
    /// The reports, once they have started (weak: the reports hold the engine).
    report_runner: std::sync::OnceLock<std::sync::Weak<dyn ReportRunner>>,
    /// Results of small deterministic queries, per catalog generation.
    results: result_cache::ResultCache,
    /// Names of every table function (their scans are never cached).
    table_function_names: std::collections::HashSet<String>,
    /// The cluster that runs query execution, when `[cluster] scheduler` is set.
    cluster: Option<distributed::Cluster>,
    /// The threads statements are started and their results produced on.
    query_runtime: query_runtime::QueryRuntime,
}

/// What was built on the shop's data: the model, the views and the tag rules.
#[derive(Debug, Clone, Default)]
pub struct Shop {
    /// The customer model's entities.
    pub model: Model,
    /// Each view and why it is not served, if it is not.
    pub views: Vec<views::ViewStatus>,
    /// Each tag rule and why it is left out, if it is.
    pub tags: Vec<tag_rules::TagStatus>,
}

/// What one session may use: from `[server]` and `[engine]`.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// Default `statement_timeout` of sessions.
    pub statement_timeout: Option<std::time::Duration>,
    /// How long a session may sit idle.
    pub idle_session_timeout: Option<std::time::Duration>,
    /// Most rows one statement may return (0: no cap).
    pub max_result_rows: u64,
    /// Memory budget of one session's query.
    pub query_memory: Option<usize>,
    /// Whether small query results are cached (`[server] cache_results`).
    pub cache_results: bool,
}

impl Engine {
    /// Builds the engine from a validated config, speaking `dialect` to clients.
    pub async fn build(config: &Config, dialect: &dyn Dialect) -> Result<Engine> {
        let database = config.server.database.clone();
        let session_config = session_config(config)?;
        let cluster = match distributed::Cluster::from_config(config)? {
            Some(cluster) => {
                // What the executors can call: a query calling anything else runs here.
                let functions = function_state(
                    cluster.session_config(session_config.clone()),
                    Arc::new(RuntimeEnv::default()),
                    dialect,
                )?;
                let names = functions
                    .scalar_functions()
                    .keys()
                    .chain(functions.aggregate_functions().keys())
                    .chain(functions.window_functions().keys())
                    .cloned()
                    .collect();
                Some(cluster.with_functions(names))
            }
            None => None,
        };
        let runtime = runtime(config)?;
        let catalog = Arc::new(Catalog::new(runtime.clone(), config)?);
        let ctx = match &cluster {
            None => SessionContext::new_with_config_rt(session_config, runtime),
            // Ballista's settings from the start, so datasets are registered with the types
            // the executors read them with.
            Some(cluster) => {
                let session_config = cluster.session_config(session_config);
                let ballista = {
                    use ballista_core::extension::SessionConfigExt;
                    session_config.ballista_config()
                };
                SessionContext::new_with_state(
                    SessionStateBuilder::new()
                        .with_config(session_config)
                        .with_runtime_env(runtime)
                        .with_default_features()
                        .with_optimizer_rules(
                            ballista_core::optimizer::ballista_default_optimizer_rules(),
                        )
                        .with_query_planner(cluster.planner(ballista))
                        .build(),
                )
            }
        };

        // After every other physical rule has run: selective Parquet scans filter rows while
        // decoding, and joins and repartitions yield (so a cancel stops the loops reading them).
        let ctx = SessionContext::new_with_state(
            SessionStateBuilder::new_from_existing(ctx.state())
                .with_physical_optimizer_rule(Arc::new(selective_scans::SelectiveScans))
                .with_physical_optimizer_rule(Arc::new(yielding::YieldingOperators))
                .build(),
        );
        ctx.add_analyzer_rule(Arc::new(distinct_aggregates::SingleDistinctAggregates));
        segmint_udfs::register_all(&ctx)?;
        dialect.register_functions(&ctx, &database)?;
        let sql_functions = sql_functions::install(&ctx, config.catalog.dir.as_deref());

        let assets = Assets::load(config)?;
        let as_of = analysis_date(config)?;
        catalog.register_datasets(&ctx, &config.datasets).await;
        let function_files: Vec<(String, String)> = assets
            .functions
            .iter()
            .map(|f| (f.file.clone(), f.text.clone()))
            .collect();
        // Project function files, then saved functions (which replace them by name), before
        // the model and the views, which may use them.
        let mut unrestored: Vec<(String, String)> =
            sql_functions::load_function_files(&ctx, &function_files)
                .await
                .into_iter()
                .filter_map(|(file, error)| error.map(|e| (format!("sql/functions/{file}"), e)))
                .collect();
        unrestored.extend(sql_functions.restore_saved(&ctx).await);
        let shop = build_shop(&ctx, &assets, &as_of, &Shop::default()).await?;
        unrestored.extend(catalog.restore(&ctx).await);
        // Config indexes may be on tables the saved catalog restored.
        catalog.register_indexes(&ctx, &config.indexes).await;
        system_tables::register(&ctx, &catalog)?;
        ctx.register_table(
            "segmint.cluster",
            Arc::new(distributed::status::ClusterTable::new(cluster.clone())),
        )?;
        let goal_tree = GoalTree::parse(&assets.goals.text, &assets.targets.text)?;
        goal_tree.register(&ctx)?;
        dialect
            .install_catalog(&ctx, &database, sql_functions.clone(), &catalog)
            .await?;
        let table_function_names = ctx
            .state_ref()
            .read()
            .table_functions()
            .keys()
            .cloned()
            .collect();
        Ok(Engine {
            prototype: ctx,
            catalog,
            sql_functions,
            goal_tree,
            assets,
            as_of,
            shop: std::sync::RwLock::new(shop),
            unrestored,
            refresh_every: config.catalog.refresh_every()?,
            database,
            table_arguments: segmint_udfs::table_functions()
                .into_iter()
                .map(|f| (f.name.to_string(), f.argument_types))
                .collect(),
            limits: Limits {
                statement_timeout: config.server.statement_timeout(),
                idle_session_timeout: config.server.idle_session_timeout(),
                max_result_rows: config.server.max_result_rows,
                cache_results: config.server.cache_results,
                query_memory: config
                    .engine
                    .query_memory_limit
                    .as_deref()
                    .map(parse_byte_size)
                    .transpose()?,
            },
            report_runner: std::sync::OnceLock::new(),
            results: result_cache::ResultCache::default(),
            table_function_names,
            cluster,
            query_runtime: query_runtime::QueryRuntime::new(
                config
                    .engine
                    .target_partitions
                    .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
                    .unwrap_or(1),
            )?,
        })
    }

    /// The cluster query execution is sent to, if one is configured.
    pub fn cluster(&self) -> Option<&distributed::Cluster> {
        self.cluster.as_ref()
    }

    /// The threads statements are started and their results produced on, apart from the
    /// threads that answer clients.
    pub fn query_runtime(&self) -> &query_runtime::QueryRuntime {
        &self.query_runtime
    }

    /// The `CREATE FUNCTION` functions.
    pub fn sql_functions(&self) -> &Arc<sql_functions::SqlFunctions> {
        &self.sql_functions
    }

    /// The server-wide cache of small query results.
    pub fn results(&self) -> &result_cache::ResultCache {
        &self.results
    }

    /// True when `name` is a table function.
    pub fn is_table_function(&self, name: &str) -> bool {
        self.table_function_names.contains(name)
    }

    /// Lets `RUN REPORT` reach the reports (called once, when they start).
    pub fn set_report_runner(&self, runner: std::sync::Weak<dyn ReportRunner>) {
        let _ = self.report_runner.set(runner);
    }

    /// The reports, when they have started and are still running.
    pub fn report_runner(&self) -> Option<Arc<dyn ReportRunner>> {
        self.report_runner.get().and_then(std::sync::Weak::upgrade)
    }

    /// The server-wide memory pool that queries reserve from.
    pub fn memory_pool(&self) -> Arc<dyn datafusion::execution::memory_pool::MemoryPool> {
        self.prototype.runtime_env().memory_pool.clone()
    }

    /// A new session: shared tables and functions, its own settings.
    pub fn session(&self) -> SessionContext {
        SessionContext::new_with_state(self.prototype.state())
    }

    /// A new session for `user` with `role`: its own memory budget, only the tables the role
    /// was granted, and the role's row filters under every scan. `session_user` /
    /// `current_user` return `user`.
    pub fn session_for(&self, user: &str, role: &Role) -> SessionContext {
        let shared = self.prototype.state();
        let mut builder = SessionStateBuilder::new_from_existing(shared.clone());
        if let Some(limit) = self.limits.query_memory {
            let runtime = shared.runtime_env();
            builder = builder.with_runtime_env(Arc::new(RuntimeEnv {
                memory_pool: Arc::new(query_memory::SessionMemoryPool::new(
                    runtime.memory_pool.clone(),
                    limit,
                )),
                disk_manager: runtime.disk_manager.clone(),
                cache_manager: runtime.cache_manager.clone(),
                object_store_registry: runtime.object_store_registry.clone(),
            }));
        }
        if !role.is_unrestricted() {
            let role = Arc::new(role.clone());
            let rule = Arc::new(RowFilterRule::new(role.clone(), shared.clone()));
            // First, before type coercion, so the predicates it adds are coerced too.
            if let Some(analyzer) = builder.analyzer() {
                analyzer.rules.insert(0, rule);
            }
            builder = builder.with_catalog_list(Arc::new(GrantedCatalogs::new(
                shared.catalog_list().clone(),
                role,
            )));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        ctx.register_udf(constant_text_udf("session_user", user));
        ctx.register_udf(constant_text_udf("current_user", user));
        ctx
    }

    /// What each session may use.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Every dataset and table: where it comes from, its files, or why it is not served.
    pub fn datasets(&self) -> Vec<DatasetStatus> {
        self.catalog.datasets()
    }

    /// The catalog: datasets, object stores, and DDL over the wire.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Starts listing every dataset again every `[catalog] refresh_interval` (unless turned
    /// off), so files that land under a dataset's prefix become visible, and checking the
    /// customer model against its contract again. Needs a Tokio runtime.
    pub fn start_refresh(self: &Arc<Self>) {
        let Some(every) = self.refresh_every else {
            return;
        };
        tracing::info!(every = ?every, "datasets are listed again periodically");
        let engine = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(engine) = engine.upgrade() else {
                    break;
                };
                if let Ok(statuses) = engine.catalog.refresh(&engine.prototype, None).await {
                    let failed = statuses.iter().filter(|s| s.error.is_some()).count();
                    tracing::debug!(datasets = statuses.len(), failed, "periodic refresh");
                }
                engine.refresh_model().await;
            }
        });
    }

    /// Checks the model against its contract again and rebuilds the model views, the tag
    /// rules and the views on it (after a dataset refresh). A failure keeps what was built.
    pub async fn refresh_model(&self) {
        let previous = self.shop();
        match build_shop(&self.prototype, &self.assets, &self.as_of, &previous).await {
            Ok(shop) => {
                let mut current = self
                    .shop
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                *current = shop;
            }
            Err(error) => tracing::warn!(%error, "customer model not rebuilt"),
        }
    }

    /// The effective SQL assets (shipped, with the project folder's laid over them).
    pub fn assets(&self) -> &Assets {
        &self.assets
    }

    /// The model, views and tag rules as last built.
    pub fn shop(&self) -> Shop {
        self.shop
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Why something needing `needs` from the customer model cannot run (`needs events`).
    pub fn unavailable(&self, needs: &[String]) -> Option<String> {
        self.shop
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .model
            .unavailable(needs)
    }

    /// The goal tree served as the `goals` schema.
    pub fn goal_tree(&self) -> &GoalTree {
        &self.goal_tree
    }

    /// What happened to each view.
    pub fn views(&self) -> Vec<views::ViewStatus> {
        self.shop().views
    }

    /// Saved objects that could not be restored at start, with why.
    pub fn unrestored(&self) -> &[(String, String)] {
        &self.unrestored
    }

    /// The declared argument types of a table function (`rfm`: text, date, ...).
    pub fn table_function_arguments(&self, name: &str) -> Option<&'static [DataType]> {
        self.table_arguments.get(name).copied()
    }

    /// The database (catalog) name reported to clients.
    pub fn database(&self) -> &str {
        &self.database
    }
}

/// The session configuration cluster processes (scheduler, executors) start from: the
/// server's settings (`[engine.options]`, `[functions]` as `segmint.*`) with Ballista's and
/// Segmint's plan codecs. Each job's own settings (`SET ...`) are laid over it.
pub fn cluster_session_config(config: &Config) -> Result<SessionConfig> {
    use ballista_core::extension::SessionConfigExt;
    Ok(distributed::with_codecs(
        session_config(config)?.upgrade_for_ballista(),
    ))
}

/// A session state with Segmint's and `dialect`'s functions and no tables, for
/// `session_config` on `runtime`: what cluster processes decode and run shipped plans with.
pub fn function_state(
    session_config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
    dialect: &dyn Dialect,
) -> Result<datafusion::execution::SessionState> {
    let database = session_config.options().catalog.default_catalog.clone();
    let ctx = SessionContext::new_with_state(
        SessionStateBuilder::new()
            .with_config(session_config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
            .build(),
    );
    if ctx.catalog(&database).is_none() {
        let catalog = datafusion::catalog::MemoryCatalogProvider::new();
        datafusion::catalog::CatalogProvider::register_schema(
            &catalog,
            DEFAULT_SCHEMA,
            Arc::new(datafusion::catalog::MemorySchemaProvider::new()),
        )?;
        ctx.register_catalog(&database, Arc::new(catalog));
    }
    segmint_udfs::register_all(&ctx)?;
    dialect.register_functions(&ctx, &database)?;
    Ok(ctx.state())
}

/// The runtime of cluster processes: `[engine]` memory and spill settings, and object stores
/// built on first use from `[[object_stores]]` and the environment.
pub fn cluster_runtime(config: &Config) -> Result<Arc<RuntimeEnv>> {
    // No listing cache: the server's REFRESH does not reach cluster processes, so they list
    // a dataset's files for every job (new files are seen at once).
    let runtime = runtime_builder(
        config,
        CacheManagerConfig::default().with_list_files_cache_limit(0),
    )?
    .build_arc()?;
    let stores = Arc::new(crate::catalog::OnDemandStores::new(&config.object_stores)?);
    Ok(Arc::new(RuntimeEnv {
        memory_pool: runtime.memory_pool.clone(),
        disk_manager: runtime.disk_manager.clone(),
        cache_manager: runtime.cache_manager.clone(),
        object_store_registry: stores,
    }))
}

/// Builds the customer model from the mappings and datasets, then the tag rules and the
/// views over it.
async fn build_shop(
    ctx: &SessionContext,
    assets: &Assets,
    as_of: &str,
    previous: &Shop,
) -> Result<Shop> {
    let mut dependents: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut depends = |mut needs: Vec<String>, what: String| {
        // Everything reads orders.
        needs.push(crate::model::contract::REQUIRED_ENTITY.to_string());
        for need in needs {
            let entity = need.split('.').next().unwrap_or_default().to_string();
            let list = dependents.entry(entity).or_default();
            if !list.contains(&what) {
                list.push(what.clone());
            }
        }
    };
    for view in &assets.views {
        depends(
            crate::project::needs(&view.text),
            format!("view {}", view.file.trim_end_matches(".sql")),
        );
    }
    for report in &assets.reports {
        depends(
            crate::project::needs(&report.text),
            format!("report {}", report.file.trim_end_matches(".sql")),
        );
    }
    let model = Model::build(ctx, &assets.model_files()?, &dependents, &previous.model).await?;
    crate::model::register_tables(ctx, &model)?;
    let tags = tag_rules::register(ctx, &assets.tags, &model)?;
    let views = views::create_all(ctx, &assets.views, as_of, &model, &previous.views).await;
    Ok(Shop { model, views, tags })
}

/// The analysis date views are built for: `[functions] as_of`, else today (UTC).
fn analysis_date(config: &Config) -> Result<String> {
    match config.functions.get("as_of").map(|d| d.trim()) {
        Some(date) if !date.is_empty() => {
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").map_err(|e| {
                SegmintError::ConfigInvalid(format!("functions.as_of '{date}': {e}"))
            })?;
            Ok(date.to_string())
        }
        _ => Ok(chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()),
    }
}

fn session_config(config: &Config) -> Result<SessionConfig> {
    let mut session = segmint_udfs::with_function_options(
        SessionConfig::new()
            .with_default_catalog_and_schema(&config.server.database, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(true)
            .with_information_schema(true),
    );
    if let Some(partitions) = config.engine.target_partitions {
        session = session.with_target_partitions(partitions);
    }
    let options = session.options_mut();
    // Sessions start in UTC (PostgreSQL's TimeZone default here), so `timestamptz` casts and
    // literals carry a zone; `SET TimeZone` changes it per session.
    options.execution.time_zone = Some("+00:00".to_string());
    // Parquet scans prune row groups and pages with their filter; the scans whose filter is
    // selective also evaluate it while decoding (late materialization, `selective_scans`), so
    // a customer lookup decodes one page per file and a filter keeping most rows costs one
    // pass. `datafusion.execution.parquet.pushdown_filters = true` in `[engine.options]`
    // turns it on for every scan.
    options.execution.parquet.reorder_filters = true;
    // What Segmint writes (CREATE TABLE AS, report outputs) gets small pages, so lookups
    // through the page index decode little.
    options.execution.parquet.data_page_row_count_limit = crate::demo::DATA_PAGE_ROWS;
    for (key, value) in &config.engine.options {
        options
            .set(key, value)
            .map_err(|e| SegmintError::ConfigInvalid(format!("engine.options.{key}: {e}")))?;
    }
    for (key, value) in &config.functions {
        options
            .set(&format!("segmint.{key}"), value)
            .map_err(|e| SegmintError::ConfigInvalid(format!("functions.{key}: {e}")))?;
    }
    Ok(session)
}

fn runtime(config: &Config) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    let list_cache = parse_byte_size(&config.catalog.list_cache_size)?;
    Ok(runtime_builder(
        config,
        CacheManagerConfig::default()
            .with_list_files_cache_limit(list_cache)
            .with_list_files_cache_ttl(None),
    )?
    .build_arc()?)
}

/// A runtime builder with `[engine]` memory and spill settings and the given caches.
fn runtime_builder(config: &Config, caches: CacheManagerConfig) -> Result<RuntimeEnvBuilder> {
    let mut builder = RuntimeEnvBuilder::new().with_cache_manager(caches);
    if let Some(limit) = &config.engine.memory_limit {
        // Shared fairly among the operators that can spill: with a greedy pool the first
        // aggregation of a multi-level plan (each partial hash table holding nearly every
        // customer) takes the whole limit, and the next level fails instead of spilling.
        // The five largest consumers are named when the limit is reached.
        let pool = FairSpillPool::new(parse_byte_size(limit)?);
        let top_consumers = std::num::NonZeroUsize::MIN.saturating_add(4);
        builder = builder.with_memory_pool(Arc::new(TrackConsumersPool::new(pool, top_consumers)));
    }
    if let Some(dir) = &config.engine.spill_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| SegmintError::io(format!("creating spill dir {}", dir.display()), e))?;
        builder = builder.with_temp_file_path(dir);
    }
    Ok(builder)
}

fn constant_text_udf(name: &str, value: &str) -> ScalarUDF {
    let value = value.to_string();
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_args: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                value.clone(),
            ))))
        }),
    )
}
