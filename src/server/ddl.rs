//! DDL over the wire, for administrators (`[catalog] allow_ddl`): `CREATE [OR REPLACE] VIEW`
//! (saved segments), `CREATE EXTERNAL TABLE`, `CREATE TABLE AS`, `DROP TABLE | VIEW`,
//! `CREATE [OR REPLACE] FUNCTION` / `DROP FUNCTION` (SQL functions), and the admin command
//! `REFRESH DATASET name` / `REFRESH DATASETS`. The catalog does the work; this
//! module recognises the statements and answers like PostgreSQL.

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DfParsedStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};

use super::sqlstate::{FEATURE_NOT_SUPPORTED, SYNTAX_ERROR, to_pg_error, user_error};
use crate::catalog::{Catalog, DdlError, ObjectKind};
use crate::engine::sql_functions::{self, SqlFunctions};

/// A change to the catalog, planned and waiting to run.
#[derive(Debug, Clone)]
pub enum CatalogChange {
    /// `CREATE EXTERNAL TABLE`, with the statement text that is saved.
    CreateExternalTable {
        /// The planned statement.
        create: Box<CreateExternalTable>,
        /// Its SQL text.
        sql: String,
    },
    /// `CREATE [OR REPLACE] TABLE name AS query`.
    CreateTableAs {
        /// The table name.
        name: TableReference,
        /// The query whose rows are written.
        input: Box<LogicalPlan>,
        /// `OR REPLACE`.
        or_replace: bool,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `CREATE [OR REPLACE] VIEW name AS query`.
    CreateView {
        /// The view name.
        name: TableReference,
        /// The DDL plan DataFusion executes.
        plan: Box<LogicalPlan>,
        /// The statement that recreates it.
        definition: String,
    },
    /// `DROP TABLE` or `DROP VIEW`.
    Drop {
        /// The object.
        name: TableReference,
        /// Table or view.
        kind: ObjectKind,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `REFRESH DATASET name` (`None`: `REFRESH DATASETS`).
    Refresh(Option<String>),
    /// `CREATE [OR REPLACE] FUNCTION`, planned when it runs.
    CreateFunction {
        /// The engine's SQL functions.
        functions: Arc<SqlFunctions>,
        /// The statement.
        statement: Box<Statement>,
        /// Its SQL text, which is saved.
        sql: String,
    },
    /// `DROP FUNCTION [IF EXISTS] names`.
    DropFunction {
        /// The engine's SQL functions.
        functions: Arc<SqlFunctions>,
        /// The functions.
        names: Vec<String>,
        /// `IF EXISTS`.
        if_exists: bool,
    },
}

/// The change a `CREATE FUNCTION` or `DROP FUNCTION` statement makes, if it is one.
pub fn function_change(
    statement: &Statement,
    functions: &Arc<SqlFunctions>,
) -> Option<CatalogChange> {
    match statement {
        Statement::CreateFunction(_) => Some(CatalogChange::CreateFunction {
            functions: functions.clone(),
            statement: Box::new(statement.clone()),
            sql: statement.to_string(),
        }),
        Statement::DropFunction(drop) => Some(CatalogChange::DropFunction {
            functions: functions.clone(),
            names: sql_functions::drop_names(drop),
            if_exists: drop.if_exists,
        }),
        _ => None,
    }
}

/// Whether `plan` is a catalog change (rather than a query or a refused write).
pub fn is_catalog_change(plan: &LogicalPlan) -> bool {
    matches!(
        plan,
        LogicalPlan::Ddl(
            DdlStatement::CreateView(_)
                | DdlStatement::DropView(_)
                | DdlStatement::CreateMemoryTable(_)
                | DdlStatement::DropTable(_)
                | DdlStatement::CreateExternalTable(_)
        )
    )
}

/// The catalog change `plan` makes, if it is one.
pub fn catalog_change(plan: &LogicalPlan) -> PgWireResult<Option<CatalogChange>> {
    let LogicalPlan::Ddl(ddl) = plan else {
        return Ok(None);
    };
    let change = match ddl {
        DdlStatement::CreateView(view) => {
            if view.temporary {
                return Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "temporary views are not supported: CREATE VIEW saves a segment for everyone",
                ));
            }
            let definition = view.definition.clone().ok_or_else(|| {
                user_error(FEATURE_NOT_SUPPORTED, "this view has no SQL text to save")
            })?;
            CatalogChange::CreateView {
                name: view.name.clone(),
                plan: Box::new(plan.clone()),
                definition,
            }
        }
        DdlStatement::CreateMemoryTable(create) => {
            if create.temporary {
                return Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "temporary tables are not supported: CREATE TABLE AS materialises a table for everyone",
                ));
            }
            if is_values_only(&create.input) {
                return Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "CREATE TABLE needs AS SELECT ...: tables are datasets or materialised queries",
                ));
            }
            CatalogChange::CreateTableAs {
                name: create.name.clone(),
                input: Box::new(create.input.as_ref().clone()),
                or_replace: create.or_replace,
                if_not_exists: create.if_not_exists,
            }
        }
        DdlStatement::CreateExternalTable(create) => CatalogChange::CreateExternalTable {
            sql: create.definition.clone().unwrap_or_default(),
            create: create.clone(),
        },
        DdlStatement::DropView(drop) => CatalogChange::Drop {
            name: drop.name.clone(),
            kind: ObjectKind::View,
            if_exists: drop.if_exists,
        },
        DdlStatement::DropTable(drop) => CatalogChange::Drop {
            name: drop.name.clone(),
            kind: ObjectKind::Table,
            if_exists: drop.if_exists,
        },
        _ => return Ok(None),
    };
    Ok(Some(change))
}

/// `CREATE TABLE t (a INT)` plans as an empty VALUES input: not a materialised query.
fn is_values_only(input: &LogicalPlan) -> bool {
    matches!(input, LogicalPlan::EmptyRelation(_))
        || matches!(input, LogicalPlan::Values(_)) && input.schema().fields().is_empty()
}

/// Recognises the statements the PostgreSQL parser does not know: `REFRESH DATASET[S]` and
/// `CREATE EXTERNAL TABLE` (DataFusion's own syntax). `None` for everything else.
pub async fn parse_special(ctx: &SessionContext, sql: &str) -> PgWireResult<Option<CatalogChange>> {
    let text = sql.trim().trim_end_matches(';').trim();
    let words: Vec<&str> = text.split_whitespace().collect();
    let lower: Vec<String> = words
        .iter()
        .take(6)
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    match lower.as_slice() {
        ["refresh", "datasets"] => return Ok(Some(CatalogChange::Refresh(None))),
        ["refresh", "dataset", _] => {
            let name = words[2].trim_matches('"');
            let name = if words[2].starts_with('"') {
                name.to_string()
            } else {
                name.to_ascii_lowercase()
            };
            return Ok(Some(CatalogChange::Refresh(Some(name))));
        }
        ["refresh", ..] => {
            return Err(user_error(
                SYNTAX_ERROR,
                "expected REFRESH DATASET name or REFRESH DATASETS",
            ));
        }
        _ => {}
    }
    let external = lower.first() == Some(&"create")
        && lower
            .iter()
            .skip(1)
            .skip_while(|w| matches!(**w, "or" | "replace" | "unbounded"))
            .take(2)
            .eq(["external", "table"].iter());
    if !external {
        return Ok(None);
    }
    let mut statements = DFParser::parse_sql_with_dialect(text, &PostgreSqlDialect {})
        .map_err(|e| user_error(SYNTAX_ERROR, e.to_string()))?;
    let (Some(statement), true) = (statements.pop_front(), statements.is_empty()) else {
        return Err(user_error(
            SYNTAX_ERROR,
            "CREATE EXTERNAL TABLE must be sent on its own",
        ));
    };
    if !matches!(statement, DfParsedStatement::CreateExternalTable(_)) {
        return Ok(None);
    }
    let plan = ctx
        .state()
        .statement_to_plan(statement)
        .await
        .map_err(to_pg_error)?;
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) => {
            Ok(Some(CatalogChange::CreateExternalTable {
                create,
                sql: text.to_string(),
            }))
        }
        _ => Ok(None),
    }
}

/// Runs a catalog change and answers with PostgreSQL's command tag.
pub async fn run(
    change: &CatalogChange,
    catalog: &Catalog,
    ctx: &SessionContext,
) -> PgWireResult<Response> {
    if !catalog.ddl_allowed() {
        return Err(pg_error(DdlError::ReadOnly));
    }
    let tag = match change {
        CatalogChange::CreateExternalTable { create, sql } => {
            catalog
                .create_external_table(ctx, create, sql)
                .await
                .map_err(pg_error)?;
            Tag::new("CREATE EXTERNAL TABLE")
        }
        CatalogChange::CreateTableAs {
            name,
            input,
            or_replace,
            if_not_exists,
        } => {
            let rows = catalog
                .create_table_as(
                    ctx,
                    name,
                    input.as_ref().clone(),
                    *or_replace,
                    *if_not_exists,
                )
                .await
                .map_err(pg_error)?;
            Tag::new("SELECT").with_rows(rows as usize)
        }
        CatalogChange::CreateView {
            name,
            plan,
            definition,
        } => {
            catalog
                .create_view(ctx, name, plan.as_ref().clone(), definition)
                .await
                .map_err(pg_error)?;
            Tag::new("CREATE VIEW")
        }
        CatalogChange::Drop {
            name,
            kind,
            if_exists,
        } => {
            catalog
                .drop_object(ctx, name, *kind, *if_exists)
                .await
                .map_err(pg_error)?;
            Tag::new(match kind {
                ObjectKind::Table => "DROP TABLE",
                ObjectKind::View => "DROP VIEW",
            })
        }
        CatalogChange::Refresh(name) => {
            let statuses = catalog
                .refresh(ctx, name.as_deref())
                .await
                .map_err(pg_error)?;
            if let (Some(_), Some(error)) = (name, statuses.first().and_then(|s| s.error.clone())) {
                return Err(pg_error(DdlError::Failed(error)));
            }
            Tag::new("REFRESH").with_rows(statuses.len())
        }
        CatalogChange::CreateFunction {
            functions,
            statement,
            sql,
        } => {
            catalog
                .change(functions.create_saved(ctx, statement, sql))
                .await
                .map_err(to_pg_error)?;
            Tag::new("CREATE FUNCTION")
        }
        CatalogChange::DropFunction {
            functions,
            names,
            if_exists,
        } => {
            catalog
                .change(async { functions.drop_saved(ctx, names, *if_exists) })
                .await
                .map_err(|e| user_error(e.sqlstate(), e.to_string()))?;
            Tag::new("DROP FUNCTION")
        }
    };
    Ok(Response::Execution(tag))
}

fn pg_error(error: DdlError) -> PgWireError {
    match error {
        DdlError::Engine(error) => to_pg_error(*error),
        other => user_error(other.sqlstate(), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn special_statements_are_recognised() {
        let ctx = SessionContext::new();
        assert!(matches!(
            parse_special(&ctx, "refresh datasets;").await,
            Ok(Some(CatalogChange::Refresh(None)))
        ));
        match parse_special(&ctx, "REFRESH DATASET Orders").await {
            Ok(Some(CatalogChange::Refresh(Some(name)))) => assert_eq!(name, "orders"),
            other => panic!("{other:?}"),
        }
        assert!(
            parse_special(&ctx, "REFRESH MATERIALIZED VIEW x")
                .await
                .is_err()
        );
        assert!(matches!(parse_special(&ctx, "SELECT 1").await, Ok(None)));
        match parse_special(
            &ctx,
            "CREATE OR REPLACE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://lake/t/'",
        )
        .await
        {
            Ok(Some(CatalogChange::CreateExternalTable { create, .. })) => {
                assert_eq!(create.locations, vec!["s3://lake/t/".to_string()]);
                assert!(create.or_replace);
            }
            other => panic!("{other:?}"),
        }
    }
}
