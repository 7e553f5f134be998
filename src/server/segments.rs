//! Saving segments over the wire: `CREATE [OR REPLACE] VIEW name AS SELECT ...` and
//! `DROP VIEW [IF EXISTS] name` are the only writes this endpoint accepts, and only when a
//! segments folder is configured. Every other write stays refused (SQLSTATE 25006).

use datafusion::common::TableReference;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use pgwire::error::PgWireResult;

use super::sqlstate::{FEATURE_NOT_SUPPORTED, INSUFFICIENT_PRIVILEGE, INVALID_NAME, user_error};
use crate::catalog::SegmentStore;
use crate::engine::{DEFAULT_SCHEMA, views};

/// A change to the saved segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentWrite {
    /// Save (or replace) segment `name` with its `CREATE VIEW` statement.
    Save {
        /// The view name.
        name: String,
        /// The statement that recreates it.
        statement: String,
    },
    /// Forget segment `name`.
    Drop {
        /// The view name.
        name: String,
    },
}

impl SegmentWrite {
    /// The command tag PostgreSQL answers with.
    pub fn tag(&self) -> &'static str {
        match self {
            SegmentWrite::Save { .. } => "CREATE VIEW",
            SegmentWrite::Drop { .. } => "DROP VIEW",
        }
    }
}

/// The segment change `plan` makes, if it is a `CREATE VIEW` or `DROP VIEW` at its top.
pub fn segment_write(plan: &LogicalPlan) -> PgWireResult<Option<SegmentWrite>> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateView(view)) => {
            if view.temporary {
                return Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "temporary views are not supported: CREATE VIEW saves a segment for everyone",
                ));
            }
            let name = segment_name(&view.name)?;
            let statement = view.definition.clone().ok_or_else(|| {
                user_error(FEATURE_NOT_SUPPORTED, "this view has no SQL text to save")
            })?;
            Ok(Some(SegmentWrite::Save { name, statement }))
        }
        LogicalPlan::Ddl(DdlStatement::DropView(view)) => Ok(Some(SegmentWrite::Drop {
            name: segment_name(&view.name)?,
        })),
        _ => Ok(None),
    }
}

fn segment_name(reference: &TableReference) -> PgWireResult<String> {
    if let Some(schema) = reference.schema()
        && schema != DEFAULT_SCHEMA
    {
        return Err(user_error(
            INSUFFICIENT_PRIVILEGE,
            format!("segments are saved in schema {DEFAULT_SCHEMA}, not {schema}"),
        ));
    }
    let name = reference.table();
    SegmentStore::check_name(name).map_err(|message| user_error(INVALID_NAME, message))?;
    if views::BUILT_IN
        .iter()
        .any(|(file, _)| file.strip_suffix(".sql") == Some(name))
    {
        return Err(user_error(
            INSUFFICIENT_PRIVILEGE,
            format!("\"{name}\" is a built-in view of sql/views/ and cannot be changed"),
        ));
    }
    Ok(name.to_string())
}
