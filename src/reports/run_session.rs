//! The session a run queries in: the engine's tables and functions, plus a private `run`
//! schema holding what the run computes once and uses many times (the customer segments that
//! every metric of the goal tree joins). Nothing in `run` is visible to other sessions, and it
//! disappears with the run.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProviderList, MemorySchemaProvider,
    SchemaProvider,
};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
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
    ) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.shared.register_schema(name, schema)
    }
}

/// A session over `shared`'s tables and functions, with a private `run` schema.
pub struct RunSession {
    ctx: SessionContext,
    run: Arc<MemorySchemaProvider>,
}

impl RunSession {
    /// Wraps a session of the engine.
    pub fn new(shared: &SessionContext) -> RunSession {
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
        }
    }

    /// The session to query in.
    pub fn ctx(&self) -> &SessionContext {
        &self.ctx
    }

    /// Keeps `batches` as `run.<name>` for the rest of the run.
    pub fn keep(&self, name: &str, batches: Vec<RecordBatch>) -> Result<()> {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        let table = MemTable::try_new(first.schema(), vec![batches])?;
        self.run.register_table(name.to_string(), Arc::new(table))?;
        Ok(())
    }
}
