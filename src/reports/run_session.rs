//! The session a run queries in: the engine's tables and functions, plus a private `run`
//! schema holding what the run computes once and uses many times (the customer segments that
//! every metric of the goal tree joins). Nothing in `run` is visible to other sessions, and it
//! disappears with the run.
//!
//! On one machine a `run` table is kept in memory. On a cluster whose executors can read the
//! report output location, it is written there as a Parquet scratch file
//! (`<output_url>.run/<nonce>/<name>.parquet`, which no report table lists) so the run's
//! queries, which join it, run on the cluster too; [`RunSession::clean_up`] removes the files.

use std::sync::Arc;

use super::sinks;
use crate::engine::Engine;
use crate::error::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProviderList, MemorySchemaProvider,
    SchemaProvider,
};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionContext;

/// The schema of run-local tables.
pub const RUN_SCHEMA: &str = "run";

/// The default catalog with one extra, private schema.
#[derive(Debug)]
struct WithRunSchema {
    shared: Arc<dyn CatalogProvider>,
    run: Arc<MemorySchemaProvider>,
}

impl CatalogProvider for WithRunSchema {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.shared.schema_names();
        names.push(RUN_SCHEMA.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == RUN_SCHEMA {
            Some(self.run.clone())
        } else {
            self.shared.schema(name)
        }
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn SchemaProvider>>> {
        self.shared.register_schema(name, schema)
    }
}

/// Where a run keeps its `run` tables as files the cluster's executors read.
pub struct Scratch {
    /// The engine whose object stores write the files.
    engine: Arc<Engine>,
    /// The folder URL of this run's files, ending in `/`.
    folder: String,
}

impl Scratch {
    /// A new folder for one run under `output` (a folder URL ending in `/`).
    pub fn under(engine: Arc<Engine>, output: &str) -> Scratch {
        let output = output.trim_end_matches('/');
        Scratch {
            engine,
            folder: format!("{output}.run/{:016x}/", rand::random::<u64>()),
        }
    }
}

/// A session over `shared`'s tables and functions, with a private `run` schema.
pub struct RunSession {
    ctx: SessionContext,
    run: Arc<MemorySchemaProvider>,
    scratch: Option<Scratch>,
    written: std::sync::Mutex<Vec<String>>,
}

impl RunSession {
    /// Wraps a session of the engine; `run` tables are kept in `scratch` when given, in
    /// memory otherwise.
    pub fn new(shared: &SessionContext, scratch: Option<Scratch>) -> RunSession {
        let state = shared.state();
        let default_catalog = state.config_options().catalog.default_catalog.clone();
        let list = MemoryCatalogProviderList::new();
        let run = Arc::new(MemorySchemaProvider::new());
        for name in state.catalog_list().catalog_names() {
            let Some(catalog) = state.catalog_list().catalog(&name) else {
                continue;
            };
            let catalog: Arc<dyn CatalogProvider> = if name == default_catalog {
                Arc::new(WithRunSchema {
                    shared: catalog,
                    run: run.clone(),
                })
            } else {
                catalog
            };
            list.register_catalog(name, catalog);
        }
        let state = SessionStateBuilder::new_from_existing(state)
            .with_catalog_list(Arc::new(list))
            .build();
        RunSession {
            ctx: SessionContext::new_with_state(state),
            run,
            scratch,
            written: std::sync::Mutex::default(),
        }
    }

    /// The session to query in.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Keeps `batches` as `run.<name>` for the rest of the run.
    pub async fn keep(&self, name: &str, batches: Vec<RecordBatch>) -> Result<()> {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let schema = first.schema();
        let table: Arc<dyn datafusion::catalog::TableProvider> = match &self.scratch {
            None => Arc::new(MemTable::try_new(schema, vec![batches])?),
            Some(scratch) => {
                let file = format!("{}{name}.parquet", scratch.folder);
                let data = sinks::parquet(&batches)?;
                if let Ok(mut written) = self.written.lock() {
                    written.push(file.clone());
                }
                sinks::put(scratch.engine.catalog().stores(), &file, data).await?;
                let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                    .with_file_extension(".parquet");
                let config = ListingTableConfig::new(ListingTableUrl::parse(&file)?)
                    .with_listing_options(options)
                    .with_schema(schema);
                Arc::new(ListingTable::try_new(config)?)
            }
        };
        self.run.register_table(name.to_string(), table)?;
        Ok(())
    }

    /// Removes the scratch files of the run (best effort: a file left behind is one no
    /// table reads, and is logged).
    pub async fn clean_up(&self) {
        let Some(scratch) = &self.scratch else {
            return;
        };
        let written = match self.written.lock() {
            Ok(mut written) => std::mem::take(&mut *written),
            Err(_) => return,
        };
        sinks::remove_all(
            scratch.engine.catalog().stores(),
            written.iter().map(String::as_str),
        )
        .await;
    }
}
