//! The semantic-layer views (`sql/views/`, shipped compiled in, replaced or added to by the
//! project folder), created at start in order so later views can use earlier ones. `{as_of}`
//! in a view becomes the analysis date the server starts with, so every column of a view
//! agrees on one date. A view declares what it needs from the customer model in a
//! `-- needs = ["customers"]` line; a view whose needs the shop lacks, or that does not plan,
//! is skipped with one warning: the datasets are still served.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

use crate::model::Model;
use crate::project::Asset;

/// What happened to one view.
#[derive(Debug, Clone)]
pub struct ViewStatus {
    /// The file it came from (`customer_360.sql`).
    pub file: String,
    /// Where the file was read from (`shipped` or a path).
    pub origin: String,
    /// What it needs from the customer model.
    pub needs: Vec<String>,
    /// Why it was skipped, if it was.
    pub error: Option<String>,
}

/// Creates `views` in `ctx` as of `as_of` (`YYYY-MM-DD`), skipping those `model` cannot feed;
/// a reason already logged for the `previous` build is not logged again.
pub async fn create_all(
    ctx: &SessionContext,
    views: &[Asset],
    as_of: &str,
    model: &Model,
    previous: &[ViewStatus],
) -> Vec<ViewStatus> {
    let mut statuses = Vec::with_capacity(views.len());
    let date = format!("DATE '{as_of}'");
    for view in views {
        let needs = crate::project::needs(&view.text);
        let before = previous.iter().find(|p| p.file == view.file);
        let known = |error: &str| before.is_some_and(|p| p.error.as_deref() == Some(error));
        let error = match model.unavailable(&needs) {
            Some(reason) => {
                if !known(&reason) {
                    tracing::warn!(view = %view.file, "view not created: {reason}");
                }
                Some(reason)
            }
            None => {
                let sql = view.text.replace("{as_of}", &date);
                match create_or_replace(ctx, &sql).await {
                    Ok(_) => {
                        tracing::debug!(view = %view.file, "created view");
                        None
                    }
                    Err(error) => {
                        let message = crate::error::first_line(&error.to_string());
                        if !known(&message) {
                            tracing::warn!(view = %view.label(), error = %message, "view not created");
                        }
                        Some(message)
                    }
                }
            }
        };
        statuses.push(ViewStatus {
            file: view.file.clone(),
            origin: view.origin.to_string(),
            needs,
            error,
        });
    }
    statuses
}

/// Runs a view's `CREATE VIEW` as `CREATE OR REPLACE VIEW`, so the model refresh can build
/// the views again.
async fn create_or_replace(ctx: &SessionContext, sql: &str) -> Result<()> {
    let mut statements = DFParser::parse_sql_with_dialect(sql, &PostgreSqlDialect {})?;
    let Some(mut statement) = statements.pop_front() else {
        return datafusion::common::plan_err!("the file holds no statement");
    };
    if !statements.is_empty() {
        return datafusion::common::plan_err!("a view file holds one CREATE VIEW statement");
    }
    match &mut statement {
        Statement::Statement(boxed) => match boxed.as_mut() {
            ast::Statement::CreateView(create) => create.or_replace = true,
            _ => return datafusion::common::plan_err!("a view file holds a CREATE VIEW statement"),
        },
        _ => return datafusion::common::plan_err!("a view file holds a CREATE VIEW statement"),
    }
    let state = ctx.state();
    let plan = state.statement_to_plan(statement).await?;
    ctx.execute_logical_plan(plan).await?.collect().await?;
    Ok(())
}
