//! Why a catalog change (DDL or refresh) was refused or failed; the server turns each case
//! into its PostgreSQL SQLSTATE.

use crate::sqlstate::{
    DUPLICATE_TABLE, FEATURE_NOT_SUPPORTED, INSUFFICIENT_PRIVILEGE, INVALID_NAME, IO_ERROR,
    OBJECT_NOT_IN_PREREQUISITE_STATE, READ_ONLY_SQL_TRANSACTION, UNDEFINED_COLUMN,
    UNDEFINED_OBJECT, UNDEFINED_TABLE, WRONG_OBJECT_TYPE,
};

/// A refused or failed catalog change.
#[derive(Debug, thiserror::Error)]
pub enum DdlError {
    /// DDL is turned off (`[catalog] allow_ddl`): the endpoint is read-only.
    #[error(
        "the catalog is read-only: DDL is for administrators and needs [catalog] allow_ddl = true \
         and [catalog] dir in the server's config file"
    )]
    ReadOnly,
    /// Allowed in general, but not for this object or location.
    #[error("{0}")]
    Denied(String),
    /// The name is taken.
    #[error("relation \"{0}\" already exists")]
    Exists(String),
    /// No such object.
    #[error("relation \"{0}\" does not exist")]
    Missing(String),
    /// No such index (`DROP INDEX`).
    #[error("index \"{0}\" does not exist")]
    MissingIndex(String),
    /// No such column in the table.
    #[error("column \"{column}\" does not exist in \"{table}\"")]
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// `DROP VIEW` of a table, `DROP TABLE` of a view.
    #[error("\"{name}\" is not {expected}")]
    WrongKind {
        /// The object.
        name: String,
        /// What the statement expected it to be ("a view").
        expected: &'static str,
    },
    /// Not a plain lowercase identifier.
    #[error("{0}")]
    InvalidName(String),
    /// A form of the statement Segmint does not support.
    #[error("{0}")]
    Unsupported(String),
    /// The engine refused the statement (planning or execution error).
    #[error(transparent)]
    Engine(Box<datafusion::error::DataFusionError>),
    /// The object it needs is not in a state to be used (a dataset that is not served).
    #[error("{0}")]
    NotReady(String),
    /// Storage failed: listing, writing files, saving the catalog.
    #[error("{0}")]
    Failed(String),
}

impl DdlError {
    /// The PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            DdlError::ReadOnly => READ_ONLY_SQL_TRANSACTION,
            DdlError::Denied(_) => INSUFFICIENT_PRIVILEGE,
            DdlError::Exists(_) => DUPLICATE_TABLE,
            DdlError::Missing(_) => UNDEFINED_TABLE,
            DdlError::MissingIndex(_) => UNDEFINED_OBJECT,
            DdlError::MissingColumn { .. } => UNDEFINED_COLUMN,
            DdlError::WrongKind { .. } => WRONG_OBJECT_TYPE,
            DdlError::InvalidName(_) => INVALID_NAME,
            DdlError::Unsupported(_) => FEATURE_NOT_SUPPORTED,
            DdlError::Engine(_) => "XX000",
            DdlError::NotReady(_) => OBJECT_NOT_IN_PREREQUISITE_STATE,
            DdlError::Failed(_) => IO_ERROR,
        }
    }
}

impl From<crate::error::SegmintError> for DdlError {
    fn from(error: crate::error::SegmintError) -> Self {
        match error {
            crate::error::SegmintError::DataFusion(error) => DdlError::Engine(Box::new(error)),
            other => DdlError::Failed(other.to_string()),
        }
    }
}

impl From<datafusion::error::DataFusionError> for DdlError {
    fn from(error: datafusion::error::DataFusionError) -> Self {
        DdlError::Engine(Box::new(error))
    }
}
