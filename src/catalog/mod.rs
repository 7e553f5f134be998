//! The catalog: object stores for every URL scheme, one listing table per dataset, the objects
//! administrators create over the wire (saved segments, external and materialised tables), and
//! the periodic refresh that makes newly landed files visible.
//!
//! A dataset that cannot be registered (missing path, wrong credentials, stopped store) is
//! reported and skipped: the others are still served, and each refresh tries it again.
//! Every change goes through one lock, so two DDL statements never interleave.

mod counting_store;
mod datasets;
mod ddl_error;
mod goal_tree;
mod index_ddl;
pub mod indexes;
mod materialize;
mod object_stores;
mod page_locations;
mod saved;
pub mod system_tables;

pub use counting_store::RequestSnapshot;
pub use datasets::{DatasetOrigin, DatasetStatus, resolve_url};
pub use ddl_error::DdlError;
pub use goal_tree::{Goal, GoalTree, Metric};
pub use index_ddl::{index_definition, plain_name};
pub use object_stores::{ObjectStores, OnDemandStores};
pub use saved::{SavedCatalog, SavedObject};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::datatypes::Schema;
use datafusion::common::TableReference;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DfParsedStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use crate::config::{Config, DatasetConfig, DatasetFormat, IndexConfig};
use crate::error::{Result, SegmintError};
use datasets::{ServedDataset, register_dataset};
use indexes::{IndexDefinition, IndexHandle, IndexOrigin, Indexes, KeyType};

/// The schema every user table (dataset, view, materialised table) lives in.
pub const DEFAULT_SCHEMA: &str = "public";

/// The schema report outputs are served in.
pub const REPORTS: &str = "reports";

/// Whether a statement drops a table or a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// `DROP TABLE`.
    Table,
    /// `DROP VIEW`.
    View,
}

/// What a name saved over the wire is.
enum Saved {
    /// A saved segment.
    View,
    /// An external or materialised table.
    Table,
}

/// One served table.
#[derive(Debug, Clone)]
struct Entry {
    served: Option<ServedDataset>,
    config: DatasetConfig,
    status: DatasetStatus,
    /// The version folder of a materialised table.
    location: Option<String>,
    /// Columns declared by the statement (never replaced by inferred ones).
    declared: Option<Arc<Schema>>,
}

/// The catalog shared by every session.
pub struct Catalog {
    stores: ObjectStores,
    saved: Option<SavedCatalog>,
    allow_ddl: bool,
    allowed_locations: Vec<String>,
    tables_url: Option<String>,
    entries: Mutex<BTreeMap<String, Entry>>,
    views: Mutex<BTreeSet<String>>,
    changes: tokio::sync::Mutex<()>,
    generation: std::sync::atomic::AtomicU64,
    indexes: Indexes,
}

/// Held while the catalog changes: counts the change when it starts and when it ends, so a
/// result computed during the change is never taken for one of the new state.
struct ChangeGuard<'a> {
    _lock: tokio::sync::MutexGuard<'a, ()>,
    generation: &'a std::sync::atomic::AtomicU64,
}

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Catalog {
    /// Builds the stores and opens the saved catalog described by `config`.
    pub fn new(runtime: Arc<RuntimeEnv>, config: &Config) -> Result<Catalog> {
        let stores = ObjectStores::new(runtime, &config.object_stores)?;
        let saved = match &config.catalog.dir {
            Some(dir) => Some(SavedCatalog::open(dir)?),
            None => None,
        };
        let allowed_locations = config
            .catalog
            .allowed_locations
            .iter()
            .map(|location| {
                normalized_location(location)
                    .map(|url| with_slash(&url))
                    .ok_or_else(|| {
                        SegmintError::ConfigInvalid(format!(
                            "catalog.allowed_locations: '{location}' is not a plain URL or path"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let tables_url = match &config.catalog.tables_url {
            Some(url) => {
                let url = with_slash(&resolve_url(url)?);
                let parsed = url::Url::parse(&url).map_err(|e| SegmintError::ObjectStore {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
                stores.ensure(&parsed)?;
                Some(url)
            }
            None => None,
        };
        Ok(Catalog {
            stores,
            saved,
            allow_ddl: config.catalog.allow_ddl,
            allowed_locations,
            tables_url,
            entries: Mutex::new(BTreeMap::new()),
            views: Mutex::new(BTreeSet::new()),
            changes: tokio::sync::Mutex::new(()),
            generation: std::sync::atomic::AtomicU64::new(0),
            indexes: Indexes::new(config.catalog.dir.as_deref()),
        })
    }

    /// A number that changes whenever what the catalog serves may have changed (DDL, a
    /// refresh): cached query results are only valid for the generation they were made in.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Starts a change: one at a time, counted in [`Catalog::generation`].
    async fn begin_change(&self) -> ChangeGuard<'_> {
        let lock = self.changes.lock().await;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ChangeGuard {
            _lock: lock,
            generation: &self.generation,
        }
    }

    /// Runs `work` as one catalog change: after the changes before it, and counted in
    /// [`Catalog::generation`], so no plan or result cached before it is used after it.
    pub async fn change<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let _change = self.begin_change().await;
        work.await
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn views(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.views
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The indexes (`CREATE INDEX`, `[[indexes]]`).
    pub fn indexes(&self) -> &Indexes {
        &self.indexes
    }

    /// Whether DDL over the wire is allowed (`[catalog] allow_ddl`).
    pub fn ddl_allowed(&self) -> bool {
        self.allow_ddl && self.saved.is_some()
    }

    /// Registers the configured datasets; failures are recorded, not fatal.
    pub async fn register_datasets(&self, ctx: &SessionContext, datasets: &[DatasetConfig]) {
        for dataset in datasets {
            self.serve(ctx, dataset, DatasetOrigin::Config, None, None)
                .await;
        }
    }

    /// The object stores, for code that writes files itself (report runs).
    pub fn stores(&self) -> &ObjectStores {
        &self.stores
    }

    /// Serves the outputs of reports as `reports.<name>`, one table per name over
    /// `<output_url>/<name>/`. A report that has never run has no files yet: its table is
    /// listed as unavailable until a run (and the refresh after it) lands one.
    pub async fn serve_reports(
        &self,
        ctx: &SessionContext,
        output_url: &str,
        names: &[String],
    ) -> Result<()> {
        new_schema(ctx, REPORTS)?;
        let base = with_slash(&resolve_url(output_url)?);
        let mut waiting = Vec::new();
        for name in names {
            let dataset = DatasetConfig {
                name: format!("{REPORTS}.{name}"),
                url: format!("{base}{name}/"),
                format: DatasetFormat::Parquet,
                partition_columns: Some(vec![]),
                shared: false,
            };
            let error = self
                .serve(ctx, &dataset, DatasetOrigin::Report, None, None)
                .await;
            if error.is_some_and(|e| e.contains(NOT_RUN_YET)) {
                waiting.push(name.as_str());
            }
        }
        // One line for all of them: every report starts like this.
        if !waiting.is_empty() {
            tracing::info!(
                "{} of {} reports have not run yet ({}): reports.<name> answers after the \
                 report's first run (`segmint report run <name>`, `RUN REPORT <name>` or its \
                 schedule)",
                waiting.len(),
                names.iter().filter(|n| n.as_str() != RUN_HISTORY).count(),
                waiting.join(", ")
            );
        }
        Ok(())
    }

    /// Registers one dataset and records how it went.
    async fn serve(
        &self,
        ctx: &SessionContext,
        dataset: &DatasetConfig,
        origin: DatasetOrigin,
        schema: Option<Arc<Schema>>,
        location: Option<String>,
    ) -> Option<String> {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let declared = schema.clone();
        let (served, status) = match register_dataset(
            ctx,
            &self.stores,
            dataset,
            origin,
            schema,
            &self.indexes.on(&dataset.name),
        )
        .await
        {
            Ok((served, status)) => {
                tracing::info!(
                    dataset = %dataset.name,
                    columns = status.columns,
                    files = status.files,
                    partitions = ?status.partition_columns,
                    "registered dataset"
                );
                (Some(served), status)
            }
            Err(error) if origin == DatasetOrigin::Report => {
                let message = report_not_served(&dataset.name, &error);
                // Each refresh tries again, and says so only at debug level; a report
                // that has not run yet is summed up once by `serve_reports`.
                let again = self
                    .entries()
                    .get(&dataset.name)
                    .is_some_and(|e| e.served.is_none());
                if again || message.contains(NOT_RUN_YET) || message.starts_with(NO_RUNS) {
                    tracing::debug!(table = %dataset.name, "{message}");
                } else {
                    tracing::warn!("{message}");
                }
                let status = DatasetStatus::failed(dataset, origin, message);
                (None, status)
            }
            Err(error) => {
                tracing::error!(dataset = %dataset.name, %error, "dataset not registered");
                let status = DatasetStatus::failed(dataset, origin, error.to_string());
                (None, status)
            }
        };
        let error = status.error.clone();
        self.entries().insert(
            dataset.name.clone(),
            Entry {
                served,
                config: dataset.clone(),
                status,
                location,
                declared,
            },
        );
        error
    }

    /// Replays the saved catalog: tables first, then views (a view may use another view, so
    /// views are retried until no more succeed). Then removes materialised files nothing
    /// refers to. Returns the objects that could not be restored, with why.
    pub async fn restore(&self, ctx: &SessionContext) -> Vec<(String, String)> {
        let Some(saved) = &self.saved else {
            return vec![];
        };
        let mut failed = Vec::new();
        let mut rest = Vec::new();
        for object in saved.load() {
            match self.restore_table(ctx, &object).await {
                Ok(true) => {}
                Ok(false) => rest.push(object),
                Err(error) => failed.push((object.name.clone(), error.to_string())),
            }
        }
        // Indexes are on tables, views on anything.
        let (mut views, unbuilt) = self.restore_indexes(ctx, rest).await;
        failed.extend(unbuilt);
        loop {
            let before = views.len();
            let mut waiting = Vec::new();
            for object in views {
                match restore_view(ctx, &object.sql).await {
                    Ok(()) => {
                        self.views().insert(object.name.clone());
                    }
                    Err(error) => waiting.push((object, error.to_string())),
                }
            }
            if waiting.is_empty() {
                break;
            }
            if waiting.len() == before {
                // Nothing restored in this pass: retrying cannot help.
                failed.extend(waiting.into_iter().map(|(o, e)| (o.name, e)));
                break;
            }
            views = waiting.into_iter().map(|(o, _)| o).collect();
        }
        for (name, error) in &failed {
            tracing::warn!(object = %name, %error, "saved object not restored");
        }
        self.sweep(ctx).await;
        failed
    }

    /// Restores a saved table; `Ok(false)` when the object is a view.
    async fn restore_table(&self, ctx: &SessionContext, object: &SavedObject) -> Result<bool> {
        let statement = DFParser::parse_sql_with_dialect(&object.sql, &PostgreSqlDialect {})?
            .pop_front()
            .ok_or_else(|| SegmintError::ConfigInvalid(format!("{} is empty", object.name)))?;
        // Views are restored after all tables: do not plan them yet.
        if !matches!(statement, DfParsedStatement::CreateExternalTable(_)) {
            return Ok(false);
        }
        let plan = ctx.state().statement_to_plan(statement).await?;
        let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) = plan else {
            return Ok(false);
        };
        let (origin, url, location) = if object.materialized {
            let location = single_location(&create).map_err(SegmintError::ConfigInvalid)?;
            (
                DatasetOrigin::Materialized,
                location.clone(),
                Some(location),
            )
        } else {
            let url = self
                .check_location(&create)
                .map_err(|e| SegmintError::ConfigInvalid(e.to_string()))?;
            (DatasetOrigin::External, url, None)
        };
        let dataset = dataset_config(&object.name, url, &create)
            .map_err(|e| SegmintError::ConfigInvalid(e.to_string()))?;
        match self
            .serve(ctx, &dataset, origin, declared_schema(&create), location)
            .await
        {
            None => Ok(true),
            Some(error) => Err(SegmintError::ConfigInvalid(error)),
        }
    }

    /// Removes what a crash left under `tables_url`: writes that never ended, and versions
    /// of saved tables that a replacement superseded.
    async fn sweep(&self, ctx: &SessionContext) {
        let (Some(tables_url), Some(saved)) = (&self.tables_url, &self.saved) else {
            return;
        };
        let current: BTreeMap<String, String> = self
            .entries()
            .iter()
            .filter_map(|(name, e)| Some((name.clone(), e.location.clone()?)))
            .collect();
        for (name, location) in saved.pending_writes() {
            if current.get(&name) == Some(&location) {
                // Committed just before a crash: the marker outlived the commit.
                saved.end_write(&name);
                continue;
            }
            match materialize::remove(ctx, &location).await {
                Ok(()) => {
                    tracing::info!(table = %name, %location, "removed an unfinished write");
                    saved.end_write(&name);
                }
                Err(error) => tracing::warn!(table = %name, %error, "unfinished write not removed"),
            }
        }
        for (name, location) in current {
            match materialize::sweep_versions(ctx, tables_url, &name, &location).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(table = %name, removed, "removed old versions"),
                Err(error) => tracing::warn!(table = %name, %error, "old versions not removed"),
            }
        }
    }

    /// Every served (or failed) table, by name.
    pub fn datasets(&self) -> Vec<DatasetStatus> {
        self.entries().values().map(|e| e.status.clone()).collect()
    }

    /// Why table `name` is not served, when it is a dataset that failed to register.
    pub fn unavailable(&self, name: &str) -> Option<String> {
        self.entries()
            .get(name)
            .filter(|e| e.served.is_none())
            .and_then(|e| e.status.error.clone())
    }

    /// Requests sent to each object store since start.
    pub fn request_counts(&self) -> Vec<(String, RequestSnapshot)> {
        self.stores.request_counts()
    }

    /// Lists datasets again (all, or one by name): new files become visible, widened schemas
    /// are picked up, and datasets that failed before are tried again.
    pub async fn refresh(
        &self,
        ctx: &SessionContext,
        name: Option<&str>,
    ) -> std::result::Result<Vec<DatasetStatus>, DdlError> {
        let _change = self.begin_change().await;
        let names: Vec<String> = match name {
            Some(name) if self.entries().contains_key(name) => vec![name.to_string()],
            Some(name) => return Err(DdlError::Missing(name.to_string())),
            None => self.entries().keys().cloned().collect(),
        };
        let mut statuses = Vec::with_capacity(names.len());
        for name in names {
            let Some(entry) = self.entries().get(&name).cloned() else {
                continue;
            };
            match entry.served {
                Some(mut served) => {
                    let mut status = entry.status.clone();
                    let indexes = self.indexes.on(&name);
                    match served.refresh(ctx, &name, &indexes).await {
                        Ok(files) => {
                            status.files = files;
                            status.columns = served.columns();
                            status.error = None;
                            for handle in &indexes {
                                if let Err(error) = self.build_index(ctx, handle, &served).await {
                                    tracing::warn!(index = %handle.definition().name, %error, "index not extended: lookups read the new files whole");
                                }
                            }
                        }
                        Err(error) => {
                            tracing::warn!(dataset = %name, %error, "refresh failed");
                            status.error = Some(error.to_string());
                        }
                    }
                    status.listed_at = Some(chrono::Utc::now());
                    if let Some(current) = self.entries().get_mut(&name) {
                        current.served = Some(served);
                        current.status = status.clone();
                    }
                    statuses.push(status);
                }
                None => {
                    let error = self
                        .serve(
                            ctx,
                            &entry.config,
                            entry.status.origin,
                            entry.declared,
                            entry.location,
                        )
                        .await;
                    let served = self.entries().get(&name).and_then(|e| e.served.clone());
                    if let (None, Some(served)) = (error, served) {
                        for handle in self.indexes.on(&name) {
                            if let Err(error) = self.build_index(ctx, &handle, &served).await {
                                tracing::warn!(index = %handle.definition().name, %error, "index not built");
                            }
                        }
                    }
                    if let Some(current) = self.entries().get(&name) {
                        statuses.push(current.status.clone());
                    }
                }
            }
        }
        Ok(statuses)
    }

    /// `CREATE EXTERNAL TABLE`: registers a dataset at an allowed location and saves it.
    pub async fn create_external_table(
        &self,
        ctx: &SessionContext,
        create: &CreateExternalTable,
        sql: &str,
    ) -> std::result::Result<(), DdlError> {
        let _change = self.begin_change().await;
        let name = self.check_new_name(ctx, &create.name, ObjectKind::Table)?;
        if self.check_replace(&name, create.or_replace, create.if_not_exists)? {
            return Ok(());
        }
        let url = self.check_location(create)?;
        if let Some(key) = create.options.keys().next() {
            return Err(DdlError::Unsupported(format!(
                "OPTIONS ('{key}' ...) are not accepted: object store settings and credentials \
                 belong in [[object_stores]] of the server's config file"
            )));
        }
        let dataset = dataset_config(&name, url, create)?;
        let old = self.entries().get(&name).cloned();
        if let Some(error) = self
            .serve(
                ctx,
                &dataset,
                DatasetOrigin::External,
                declared_schema(create),
                None,
            )
            .await
        {
            self.put_back(ctx, &name, old).await;
            return Err(DdlError::Failed(error));
        }
        let saved = self.save(&SavedObject {
            name: name.clone(),
            sql: sql.to_string(),
            materialized: false,
        });
        if let Err(error) = saved {
            self.put_back(ctx, &name, old).await;
            return Err(error);
        }
        if let Some(location) = old.and_then(|o| o.location) {
            self.remove_data(ctx, &location).await;
        }
        Ok(())
    }

    /// Restores the entry a failed replacement displaced (or forgets the new name).
    async fn put_back(&self, ctx: &SessionContext, name: &str, old: Option<Entry>) {
        match old {
            Some(old) => {
                let origin = old.status.origin;
                self.serve(ctx, &old.config, origin, old.declared, old.location)
                    .await;
            }
            None => {
                self.entries().remove(name);
                let _ = ctx.deregister_table(name);
            }
        }
    }

    /// `CREATE TABLE name AS SELECT ...`: writes the rows as Parquet under `tables_url`, then
    /// makes that version the table. Returns the number of rows written.
    pub async fn create_table_as(
        &self,
        ctx: &SessionContext,
        name: &TableReference,
        input: LogicalPlan,
        or_replace: bool,
        if_not_exists: bool,
    ) -> std::result::Result<u64, DdlError> {
        let _change = self.begin_change().await;
        let name = self.check_new_name(ctx, name, ObjectKind::Table)?;
        if self.check_replace(&name, or_replace, if_not_exists)? {
            return Ok(0);
        }
        let Some(tables_url) = &self.tables_url else {
            return Err(DdlError::Unsupported(
                "CREATE TABLE AS needs [catalog] tables_url, where materialised tables are written"
                    .to_string(),
            ));
        };
        let Some(saved) = &self.saved else {
            return Err(DdlError::ReadOnly);
        };
        let location = materialize::version_location(tables_url, &name);
        let schema = Arc::new(input.schema().as_arrow().clone());
        saved.begin_write(&name, &location)?;
        let written = materialize::write(ctx, input, &location).await;
        let rows = match written {
            Ok(rows) => rows,
            Err(error) => {
                saved.end_write(&name);
                return Err(error.into());
            }
        };
        let statement =
            format!("CREATE EXTERNAL TABLE \"{name}\" STORED AS PARQUET LOCATION '{location}'");
        let saved_object = SavedObject {
            name: name.clone(),
            sql: statement,
            materialized: true,
        };
        if let Err(error) = self.save(&saved_object) {
            self.remove_data(ctx, &location).await;
            saved.end_write(&name);
            return Err(error);
        }
        saved.end_write(&name);
        let old = self.entries().get(&name).and_then(|e| e.location.clone());
        let dataset = DatasetConfig {
            name: name.clone(),
            url: location.clone(),
            format: DatasetFormat::Parquet,
            partition_columns: Some(vec![]),
            shared: false,
        };
        let error = self
            .serve(
                ctx,
                &dataset,
                DatasetOrigin::Materialized,
                Some(schema),
                Some(location),
            )
            .await;
        if let Some(old) = old {
            self.remove_data(ctx, &old).await;
        }
        match error {
            None => Ok(rows),
            Some(error) => Err(DdlError::Failed(error)),
        }
    }

    /// `CREATE [OR REPLACE] VIEW`: DataFusion creates the view, then it is saved.
    pub async fn create_view(
        &self,
        ctx: &SessionContext,
        name: &TableReference,
        plan: LogicalPlan,
        definition: &str,
    ) -> std::result::Result<(), DdlError> {
        let _change = self.begin_change().await;
        let name = self.check_new_name(ctx, name, ObjectKind::View)?;
        ctx.execute_logical_plan(plan)
            .await
            .map_err(|e| {
                let exists = matches!(e.find_root(),
                    datafusion::error::DataFusionError::Execution(m) if m.contains("already exists"));
                if exists {
                    DdlError::Exists(name.clone())
                } else {
                    DdlError::from(e)
                }
            })?;
        let saved = self.save(&SavedObject {
            name: name.clone(),
            sql: definition.to_string(),
            materialized: false,
        });
        if let Err(error) = saved {
            let _ = ctx.deregister_table(name.as_str());
            return Err(error);
        }
        self.views().insert(name);
        Ok(())
    }

    /// `DROP TABLE` / `DROP VIEW` of a saved object. Materialised data is deleted; external
    /// data never is. Returns whether something was dropped.
    pub async fn drop_object(
        &self,
        ctx: &SessionContext,
        name: &TableReference,
        kind: ObjectKind,
        if_exists: bool,
    ) -> std::result::Result<bool, DdlError> {
        let _change = self.begin_change().await;
        let name = public_name(name)?;
        match self.saved_object(ctx, &name, kind, "dropped")? {
            Some(Saved::View) => {
                self.forget(ctx, &name)?;
                self.views().remove(&name);
                Ok(true)
            }
            Some(Saved::Table) => {
                self.forget(ctx, &name)?;
                self.drop_indexes_on(&name);
                let removed = self.entries().remove(&name);
                if let Some(location) = removed.and_then(|e| e.location) {
                    self.remove_data(ctx, &location).await;
                }
                Ok(true)
            }
            None if if_exists => Ok(false),
            None => Err(DdlError::Missing(name)),
        }
    }

    /// The saved object called `name`, if any. Refuses names Segmint may not change (configured
    /// datasets, built-in views and system tables) and statements of the wrong kind, saying
    /// it cannot be `verb` ("dropped", "replaced").
    fn saved_object(
        &self,
        ctx: &SessionContext,
        name: &str,
        kind: ObjectKind,
        verb: &str,
    ) -> std::result::Result<Option<Saved>, DdlError> {
        let is_view = self.views().contains(name);
        let origin = self.entries().get(name).map(|e| e.status.origin);
        match (kind, is_view, origin) {
            (_, _, Some(DatasetOrigin::Config)) => Err(DdlError::Denied(format!(
                "\"{name}\" is a dataset of the server's config file and cannot be {verb}"
            ))),
            (_, _, Some(DatasetOrigin::Report)) => Err(DdlError::Denied(format!(
                "\"{name}\" holds the runs of a report and cannot be {verb}"
            ))),
            (ObjectKind::View, false, Some(_)) => Err(DdlError::WrongKind {
                name: name.to_string(),
                expected: "a view",
            }),
            (ObjectKind::Table, true, _) => Err(DdlError::WrongKind {
                name: name.to_string(),
                expected: "a table",
            }),
            (ObjectKind::View, true, _) => Ok(Some(Saved::View)),
            (ObjectKind::Table, false, Some(_)) => Ok(Some(Saved::Table)),
            (_, false, None) if ctx.table_exist(name).unwrap_or(false) => {
                Err(DdlError::Denied(format!(
                    "\"{name}\" is built in (sql/views/ or a system table) and cannot be {verb}"
                )))
            }
            (_, false, None) => Ok(None),
        }
    }

    fn forget(&self, ctx: &SessionContext, name: &str) -> std::result::Result<(), DdlError> {
        if let Some(saved) = &self.saved {
            saved
                .remove(name)
                .map_err(|e| DdlError::Failed(e.to_string()))?;
        }
        ctx.deregister_table(name)?;
        Ok(())
    }

    fn save(&self, object: &SavedObject) -> std::result::Result<(), DdlError> {
        let Some(saved) = &self.saved else {
            return Err(DdlError::ReadOnly);
        };
        saved
            .save(object)
            .map_err(|error| DdlError::Failed(error.to_string()))?;
        tracing::info!(name = %object.name, materialized = object.materialized, "catalog saved");
        Ok(())
    }

    async fn remove_data(&self, ctx: &SessionContext, location: &str) {
        if let Err(error) = materialize::remove(ctx, location).await {
            tracing::warn!(%location, %error, "old table files not removed (swept at next start)");
        }
    }

    /// Checks a name for a new object: public schema, valid identifier, and not the name of
    /// something Segmint did not create over the wire.
    fn check_new_name(
        &self,
        ctx: &SessionContext,
        name: &TableReference,
        kind: ObjectKind,
    ) -> std::result::Result<String, DdlError> {
        if !self.ddl_allowed() {
            return Err(DdlError::ReadOnly);
        }
        let name = public_name(name)?;
        if self.indexes.get(&name).is_some() {
            return Err(DdlError::Exists(name));
        }
        self.saved_object(ctx, &name, kind, "replaced")?;
        Ok(name)
    }

    /// For an existing table: `Ok(true)` means IF NOT EXISTS, nothing to do.
    fn check_replace(
        &self,
        name: &str,
        or_replace: bool,
        if_not_exists: bool,
    ) -> std::result::Result<bool, DdlError> {
        if !self.entries().contains_key(name) || or_replace {
            return Ok(false);
        }
        if if_not_exists {
            return Ok(true);
        }
        Err(DdlError::Exists(name.to_string()))
    }

    /// The normalised URL of the location of `create`, when it lies under
    /// `[catalog] allowed_locations` (and outside `tables_url`); refused otherwise.
    fn check_location(
        &self,
        create: &CreateExternalTable,
    ) -> std::result::Result<String, DdlError> {
        let location = single_location(create).map_err(DdlError::Unsupported)?;
        let denied = || {
            DdlError::Denied(format!(
                "location '{location}' is not in [catalog] allowed_locations of the server's \
                 config file"
            ))
        };
        let url = normalized_location(&location).ok_or_else(denied)?;
        let allowed = self
            .allowed_locations
            .iter()
            .any(|prefix| url.starts_with(prefix.as_str()) || with_slash(&url) == *prefix);
        let owned = self
            .tables_url
            .as_ref()
            .is_some_and(|tables| url.starts_with(tables.as_str()));
        if allowed && !owned {
            Ok(url)
        } else {
            Err(denied())
        }
    }
}

/// The location as one canonical URL, or `None` when it could mean something else than it
/// reads: control characters, backslashes, user info, query strings, fragments, or dot and
/// encoded-separator segments. Plain paths become `file://` URLs.
fn normalized_location(location: &str) -> Option<String> {
    let raw = location.to_ascii_lowercase();
    if location.chars().any(|c| c.is_control() || c == '\\')
        || ["%2e", "%2f", "%5c"].iter().any(|e| raw.contains(e))
        || raw.split(['/', '?', '#']).any(|s| s == "." || s == "..")
    {
        return None;
    }
    let url = url::Url::parse(&resolve_url(location).ok()?).ok()?;
    let plain = url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none();
    let text = url.as_str().to_string();
    let lowered = text.to_ascii_lowercase();
    let dotted = url
        .path_segments()
        .is_some_and(|mut segments| segments.any(|s| s == "." || s == ".."))
        || lowered.contains("%2e")
        || lowered.contains("%2f")
        || lowered.contains("%5c");
    (plain && !dotted).then_some(text)
}

/// What the status of a report table that no run has written yet says.
const NOT_RUN_YET: &str = "has not run yet";
/// The run history's table in `reports` (`reports::RUNS_TABLE`; the catalog sits below the
/// reports module).
const RUN_HISTORY: &str = "report_runs";
/// What the status of the run history says before any run.
const NO_RUNS: &str = "no report has run yet";

/// Why `reports.<name>` is not served, in words: no run has written it yet (an empty folder,
/// which is how every report starts), or its files cannot be read (then with the reason).
fn report_not_served(table: &str, error: &SegmintError) -> String {
    let report = table.trim_start_matches(REPORTS).trim_start_matches('.');
    let history = report == RUN_HISTORY;
    let empty = error.to_string().contains("No files found");
    match (empty, history) {
        (true, true) => {
            format!("{NO_RUNS}: reports.report_runs will list runs after the first one")
        }
        (true, false) => format!(
            "report {report} {NOT_RUN_YET}: {table} will answer after its first run \
             (`segmint report run {report}`, `RUN REPORT {report}` or its schedule)"
        ),
        (false, _) => format!("the outputs of {table} cannot be read: {error}"),
    }
}

async fn restore_view(ctx: &SessionContext, sql: &str) -> Result<()> {
    ctx.sql(sql).await?.collect().await?;
    Ok(())
}

/// The single LOCATION of a CREATE EXTERNAL TABLE.
fn single_location(create: &CreateExternalTable) -> std::result::Result<String, String> {
    match create.locations.as_slice() {
        [location] => Ok(location.clone()),
        _ => Err("CREATE EXTERNAL TABLE takes exactly one LOCATION".to_string()),
    }
}

/// The columns a CREATE EXTERNAL TABLE declares, without its partition columns.
fn declared_schema(create: &CreateExternalTable) -> Option<Arc<Schema>> {
    let fields: Vec<_> = create
        .schema
        .fields()
        .iter()
        .filter(|f| !create.table_partition_cols.contains(f.name()))
        .cloned()
        .collect();
    (!fields.is_empty()).then(|| Arc::new(Schema::new(fields)))
}

fn dataset_config(
    name: &str,
    url: String,
    create: &CreateExternalTable,
) -> std::result::Result<DatasetConfig, DdlError> {
    let format = match create.file_type.to_ascii_uppercase().as_str() {
        "PARQUET" => DatasetFormat::Parquet,
        "CSV" => DatasetFormat::Csv,
        "JSON" | "NDJSON" => DatasetFormat::Json,
        other => {
            return Err(DdlError::Unsupported(format!(
                "STORED AS {other} is not supported; use PARQUET, CSV or JSON"
            )));
        }
    };
    Ok(DatasetConfig {
        name: name.to_string(),
        url,
        format,
        partition_columns: (!create.table_partition_cols.is_empty())
            .then(|| create.table_partition_cols.clone()),
        shared: false,
    })
}

/// The name of an object in schema public, checked to be a plain identifier.
fn public_name(reference: &TableReference) -> std::result::Result<String, DdlError> {
    if let Some(schema) = reference.schema()
        && schema != DEFAULT_SCHEMA
    {
        return Err(DdlError::Denied(format!(
            "objects are created in schema {DEFAULT_SCHEMA}, not {schema}"
        )));
    }
    let name = reference.table();
    SavedCatalog::check_name(name).map_err(DdlError::InvalidName)?;
    Ok(name.to_string())
}

/// Creates an empty schema called `name` in `ctx`'s default catalog (shared by every session),
/// unless it exists. `None` when there is no default catalog.
pub(crate) fn new_schema(
    ctx: &SessionContext,
    name: &str,
) -> Result<Option<Arc<dyn datafusion::catalog::SchemaProvider>>> {
    let state = ctx.state();
    let default_catalog = &state.config_options().catalog.default_catalog;
    let Some(provider) = ctx.catalog(default_catalog) else {
        return Ok(None);
    };
    if let Some(existing) = provider.schema(name) {
        return Ok(Some(existing));
    }
    let schema = Arc::new(datafusion::catalog::MemorySchemaProvider::new());
    provider.register_schema(name, schema.clone())?;
    Ok(Some(schema))
}

/// `url` ending in `/`: a prefix, not a file.
pub fn with_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_without_runs_is_said_in_words() {
        let empty = SegmintError::Dataset {
            name: "reports.goal_attainment".into(),
            url: "file:///r/goal_attainment/".into(),
            message: "Error during planning: No files found at file:///r/goal_attainment/. \
                      Cannot infer schema from an empty location"
                .into(),
        };
        let message = report_not_served("reports.goal_attainment", &empty);
        assert!(
            message.starts_with(
                "report goal_attainment has not run yet: reports.goal_attainment will answer \
                 after its first run"
            ),
            "{message}"
        );
        assert!(!message.contains("infer"), "{message}");
        let history = report_not_served("reports.report_runs", &empty);
        assert!(history.starts_with("no report has run yet"), "{history}");
        let corrupt = SegmintError::Dataset {
            name: "reports.goal_attainment".into(),
            url: "file:///r/goal_attainment/".into(),
            message: "Parquet error: invalid footer".into(),
        };
        let message = report_not_served("reports.goal_attainment", &corrupt);
        assert!(message.contains("invalid footer"), "{message}");
    }

    #[test]
    fn locations_that_could_mean_something_else_are_refused() {
        assert_eq!(
            normalized_location("s3://lake/crm/orders/").as_deref(),
            Some("s3://lake/crm/orders/")
        );
        assert_eq!(
            normalized_location("/data/lake/").as_deref(),
            Some("file:///data/lake/")
        );
        for sneaky in [
            "s3://lake/crm/..?x",
            "file:///srv/allowed/..#",
            "s3://lake/crm/.\t./vault/",
            "file:///srv/allowed/..\\..\\etc/",
            "s3://lake/crm/%2e%2e/vault/",
            "s3://lake/crm%2f..%2fvault/",
            "https://user:token@host/data/",
            "https://host/data/x.parquet?X-Amz-Signature=abc",
        ] {
            assert_eq!(normalized_location(sneaky), None, "{sneaky}");
        }
    }
}
