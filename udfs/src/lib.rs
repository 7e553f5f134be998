//! # segmint-udfs: CRM functions for Apache DataFusion
//!
//! Every function lives in its own module file with its documentation and tests, and is added
//! to exactly one of the lists below ([`scalar_functions`], [`aggregate_functions`],
//! [`window_functions`], [`table_functions`]). [`register_all`] puts them all into a
//! `SessionContext`; the Segmint engine, its tests and its benches call nothing else, so a
//! function added here is visible to psql, reports and benchmarks at once.
//!
//! Session-wide defaults that functions read (for example lifecycle thresholds) live in
//! [`FunctionOptions`], a DataFusion config extension under the `segmint.` prefix: they come
//! from `[functions]` in `segmint.toml` and can be changed per session with
//! `SET segmint.<name> = <value>`.

use std::sync::Arc;

use datafusion::catalog::TableFunctionImpl;
use datafusion::error::Result;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};
use datafusion::prelude::{SessionConfig, SessionContext};

mod options;

pub use options::FunctionOptions;

/// A table function with the name it is called by.
pub struct NamedTableFunction {
    /// The SQL name.
    pub name: &'static str,
    /// The implementation.
    pub function: Arc<dyn TableFunctionImpl>,
}

/// Every CRM scalar function, one entry per file.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![]
}

/// Every CRM aggregate function, one entry per file.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![]
}

/// Every CRM window function, one entry per file.
pub fn window_functions() -> Vec<WindowUDF> {
    vec![]
}

/// Every CRM table function, one entry per file.
pub fn table_functions() -> Vec<NamedTableFunction> {
    vec![]
}

/// Adds the [`FunctionOptions`] extension (with its defaults) to a session config.
pub fn with_function_options(config: SessionConfig) -> SessionConfig {
    config.with_option_extension(FunctionOptions::default())
}

/// Registers every CRM function in `ctx`.
///
/// The context's config must carry [`FunctionOptions`] (see [`with_function_options`]).
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    for udf in scalar_functions() {
        ctx.register_udf(udf);
    }
    for udaf in aggregate_functions() {
        ctx.register_udaf(udaf);
    }
    for udwf in window_functions() {
        ctx.register_udwf(udwf);
    }
    for table_function in table_functions() {
        ctx.register_udtf(table_function.name, table_function.function);
    }
    Ok(())
}

/// The names of all CRM functions, sorted; used by catalogs (`\df`) and guard tests.
pub fn function_names() -> Vec<String> {
    let mut names: Vec<String> = scalar_functions()
        .iter()
        .map(|f| f.name().to_string())
        .chain(aggregate_functions().iter().map(|f| f.name().to_string()))
        .chain(window_functions().iter().map(|f| f.name().to_string()))
        .chain(table_functions().iter().map(|f| f.name.to_string()))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let names = function_names();
        let mut deduped = names.clone();
        deduped.dedup();
        assert_eq!(names, deduped, "two CRM functions share a name");
    }

    #[tokio::test]
    async fn options_are_settable_per_session() {
        let ctx = SessionContext::new_with_config(with_function_options(SessionConfig::new()));
        register_all(&ctx).expect("register");
        ctx.sql("SET segmint.lifecycle_new_days = 45")
            .await
            .expect("set")
            .collect()
            .await
            .expect("run");
        let state = ctx.state();
        let options = state
            .config_options()
            .extensions
            .get::<FunctionOptions>()
            .expect("extension present");
        assert_eq!(options.lifecycle_new_days, 45);
        let err = ctx.sql("SET segmint.no_such_option = 1").await;
        assert!(err.is_err(), "unknown option must be rejected");
    }
}
