//! The catalog as a role sees it: tables and schemas it was not granted are not listed, and
//! naming one is refused with SQLSTATE 42501. Every path that looks a table up by name goes
//! through the session's catalog list (SQL, table functions, `information_schema`), so this
//! one wrapper covers them all. It cannot change the catalog: that is for administrators,
//! whose sessions see the shared catalog itself.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};

use super::Role;
use crate::catalog::DEFAULT_SCHEMA;

/// The message (and, through it, SQLSTATE 42501) of a refused table or schema.
pub fn permission_denied(what: &str, name: &str) -> DataFusionError {
    DataFusionError::Plan(format!("permission denied for {what} {name}"))
}

/// Wraps the shared catalog list for one role.
#[derive(Debug)]
pub struct GrantedCatalogs {
    inner: Arc<dyn CatalogProviderList>,
    role: Arc<Role>,
}

impl GrantedCatalogs {
    /// The catalogs `role` may read.
    pub fn new(inner: Arc<dyn CatalogProviderList>, role: Arc<Role>) -> Self {
        GrantedCatalogs { inner, role }
    }
}

impl CatalogProviderList for GrantedCatalogs {
    fn register_catalog(
        &self,
        _name: String,
        _catalog: Arc<dyn CatalogProvider>,
    ) -> Option<Arc<dyn CatalogProvider>> {
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        self.inner.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let inner = self.inner.catalog(name)?;
        Some(Arc::new(GrantedCatalog {
            inner,
            role: self.role.clone(),
        }))
    }
}

#[derive(Debug)]
struct GrantedCatalog {
    inner: Arc<dyn CatalogProvider>,
    role: Arc<Role>,
}

impl CatalogProvider for GrantedCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.inner
            .schema_names()
            .into_iter()
            .filter(|s| s == DEFAULT_SCHEMA || self.role.reads_schema(s))
            .collect()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let inner = self.inner.schema(name)?;
        let access = if name == DEFAULT_SCHEMA {
            SchemaAccess::Datasets
        } else if self.role.reads_schema(name) {
            return Some(inner);
        } else {
            SchemaAccess::Denied
        };
        Some(Arc::new(GrantedSchema {
            name: name.to_string(),
            inner,
            role: self.role.clone(),
            access,
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaAccess {
    /// `public`: the tables in the role's `datasets`.
    Datasets,
    /// A schema the role was not granted.
    Denied,
}

#[derive(Debug)]
struct GrantedSchema {
    name: String,
    inner: Arc<dyn SchemaProvider>,
    role: Arc<Role>,
    access: SchemaAccess,
}

impl GrantedSchema {
    fn granted(&self, table: &str) -> bool {
        self.access == SchemaAccess::Datasets && self.role.reads_dataset(table)
    }
}

#[async_trait]
impl SchemaProvider for GrantedSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner
            .table_names()
            .into_iter()
            .filter(|t| self.granted(t))
            .collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.granted(name) {
            return self.inner.table(name).await;
        }
        if !self.inner.table_exist(name) {
            return Ok(None);
        }
        Err(match self.access {
            SchemaAccess::Denied => permission_denied("schema", &self.name),
            SchemaAccess::Datasets => permission_denied("table", name),
        })
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        if self.granted(name) {
            self.inner.table_type(name).await
        } else {
            Ok(None)
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.granted(name) && self.inner.table_exist(name)
    }
}
