//! The semantic-layer views shipped in `sql/views/` (compiled in), created at start in file
//! order so later views can use earlier ones. `{as_of}` in a view becomes the analysis date the
//! server starts with, so every column of a view agrees on one date. A view whose tables are missing (a deployment
//! without `customers`, say) is skipped with a warning: the datasets are still served.

use datafusion::prelude::SessionContext;

/// `(file name, SQL)` of every built-in view, in creation order.
pub const BUILT_IN: &[(&str, &str)] = &[
    (
        "completed_orders.sql",
        include_str!("../../sql/views/completed_orders.sql"),
    ),
    (
        "customer_360.sql",
        include_str!("../../sql/views/customer_360.sql"),
    ),
];

/// What happened to one view.
#[derive(Debug, Clone)]
pub struct ViewStatus {
    /// The file it came from.
    pub file: &'static str,
    /// Why it was skipped, if it was.
    pub error: Option<String>,
}

/// Creates the built-in views in `ctx` as of `as_of` (`YYYY-MM-DD`).
pub async fn create_built_in(ctx: &SessionContext, as_of: &str) -> Vec<ViewStatus> {
    let mut statuses = Vec::with_capacity(BUILT_IN.len());
    let date = format!("DATE '{as_of}'");
    for (file, sql) in BUILT_IN {
        let sql = sql.replace("{as_of}", &date);
        let result = async { ctx.sql(&sql).await?.collect().await }.await;
        let error = match result {
            Ok(_) => {
                tracing::info!(view = file, "created view");
                None
            }
            Err(error) => {
                let message = error.to_string();
                tracing::warn!(view = file, error = %message, "view not created");
                Some(message)
            }
        };
        statuses.push(ViewStatus { file, error });
    }
    statuses
}
