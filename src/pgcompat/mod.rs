//! PostgreSQL compatibility: everything that makes a DataFusion session look like PostgreSQL
//! to the clients analysts use (psql, DBeaver, BI tools, drivers).
//!
//! It sits between the engine and the protocol server. The engine knows nothing about
//! PostgreSQL; it calls [`Postgres`] (an [`engine::Dialect`]) while it builds a context, and the
//! server uses the parser, the rewrites and the column naming below. Nothing here imports the
//! wire protocol: type mapping goes through [`types`].
//!
//! - catalog: `pg_catalog` from `datafusion-pg-catalog` with Segmint's overlay
//!   ([`pg_proc`] lists the CRM and `CREATE FUNCTION` functions, [`catalog_tables`] reshapes
//!   columns drivers read, [`information_schema`] is PostgreSQL's `information_schema.columns`
//!   and key views);
//! - functions: [`pg_functions`] (`to_regtype`, `_pg_expandarray`, ...) and `version()`;
//! - SQL: [`sql_parser`] (the compatibility parser, for catalog queries only), [`rewrite`]
//!   (syntax-tree rewrites of what DataFusion cannot plan as written) and [`naming`]
//!   (PostgreSQL's names for unaliased result columns).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;

use crate::catalog::Catalog;
use crate::engine::{self, sql_functions::SqlFunctions};
use crate::error::{Result, SegmintError};

pub mod catalog_tables;
pub mod information_schema;
pub mod naming;
pub mod pg_functions;
pub mod pg_indexes;
pub mod pg_proc;
pub mod rewrite;
pub mod sql_parser;
pub mod types;

/// The PostgreSQL version Segmint reports to clients, which they parse to pick features.
pub const PG_COMPAT_VERSION: &str = "15.0";

/// PostgreSQL's catalog and functions, installed into every context the engine builds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

#[async_trait]
impl engine::Dialect for Postgres {
    fn register_functions(&self, ctx: &SessionContext, database: &str) -> Result<()> {
        datafusion_pg_catalog::setup_pg_catalog(ctx, database, EmptyContextProvider)
            .map_err(|e| SegmintError::DataFusion(*e))?;
        ctx.register_udf(version_udf());
        pg_functions::register(ctx);
        Ok(())
    }

    async fn install_catalog(
        &self,
        ctx: &SessionContext,
        database: &str,
        sql_functions: Arc<SqlFunctions>,
        catalog: &Arc<Catalog>,
    ) -> Result<()> {
        pg_proc::install(ctx, database, sql_functions, pg_indexes::table(catalog)?).await?;
        Ok(())
    }
}

/// `version()` in the form drivers parse (`PostgreSQL 15.0 ...`), naming Segmint.
fn version_udf() -> ScalarUDF {
    let text = format!(
        "PostgreSQL {PG_COMPAT_VERSION} (Segmint {}, Apache DataFusion {}) on {}",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH
    );
    pg_functions::constant("version", vec![], ScalarValue::Utf8(Some(text)))
}
