//! Why a catalog change (DDL or refresh) was refused or failed; the server turns each case
//! into its PostgreSQL SQLSTATE.

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
    /// Storage failed: listing, writing files, saving the catalog.
    #[error("{0}")]
    Failed(String),
}

impl DdlError {
    /// The PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            DdlError::ReadOnly => "25006",
            DdlError::Denied(_) => "42501",
            DdlError::Exists(_) => "42P07",
            DdlError::Missing(_) => "42P01",
            DdlError::WrongKind { .. } => "42809",
            DdlError::InvalidName(_) => "42602",
            DdlError::Unsupported(_) => "0A000",
            DdlError::Engine(_) => "XX000",
            DdlError::Failed(_) => "58030",
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
