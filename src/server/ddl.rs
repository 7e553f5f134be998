//! DDL over the wire, for administrators (`[catalog] allow_ddl`): `CREATE [OR REPLACE] VIEW`
//! (saved segments), `CREATE EXTERNAL TABLE`, `CREATE TABLE AS`, `DROP TABLE | VIEW`,
//! `CREATE [OR REPLACE] FUNCTION` / `DROP FUNCTION` (SQL functions), `CREATE INDEX` /
//! `DROP INDEX` (customer indexes), and the admin command
//! `REFRESH DATASET name` / `REFRESH DATASETS`. The catalog does the work; this
//! module recognises the statements and answers like PostgreSQL.

use std::sync::Arc;

use datafusion::common::TableReference;
use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{ObjectType, Statement};
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};

use super::sqlstate::{FEATURE_NOT_SUPPORTED, to_pg_error, user_error};
use crate::catalog::indexes::IndexDefinition;
use crate::catalog::{Catalog, DdlError, ObjectKind, index_definition, plain_name};
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
    /// `CREATE INDEX [IF NOT EXISTS] name ON dataset (column)`.
    CreateIndex {
        /// What the index covers.
        definition: IndexDefinition,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP INDEX [IF EXISTS] names`.
    DropIndex {
        /// The indexes.
        names: Vec<String>,
        /// `IF EXISTS`.
        if_exists: bool,
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

/// The catalog change a `CREATE INDEX` or `DROP INDEX` statement makes.
pub fn index_change(statement: &Statement) -> PgWireResult<CatalogChange> {
    match statement {
        Statement::CreateIndex(create) => {
            let (definition, if_not_exists) = index_definition(create).map_err(pg_error)?;
            Ok(CatalogChange::CreateIndex {
                definition,
                if_not_exists,
            })
        }
        Statement::Drop {
            object_type: ObjectType::Index,
            names,
            if_exists,
            cascade,
            ..
        } => {
            if *cascade {
                return Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "DROP INDEX ... CASCADE is not supported: nothing depends on an index",
                ));
            }
            let names = names
                .iter()
                .map(plain_name)
                .collect::<Result<Vec<_>, _>>()
                .map_err(pg_error)?;
            Ok(CatalogChange::DropIndex {
                names,
                if_exists: *if_exists,
            })
        }
        _ => Err(user_error(
            FEATURE_NOT_SUPPORTED,
            "expected CREATE INDEX or DROP INDEX",
        )),
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
        CatalogChange::CreateIndex {
            definition,
            if_not_exists,
        } => {
            catalog
                .create_index(ctx, definition.clone(), *if_not_exists)
                .await
                .map_err(pg_error)?;
            Tag::new("CREATE INDEX")
        }
        CatalogChange::DropIndex { names, if_exists } => {
            for name in names {
                catalog
                    .drop_index(ctx, name, *if_exists)
                    .await
                    .map_err(pg_error)?;
            }
            Tag::new("DROP INDEX")
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
