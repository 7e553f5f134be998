//! Errors of the CRM functions, each with a kind. The message says what is wrong in the
//! user's terms (`rfm: time_unit=years is not one of weeks, days, months`); the kind says what
//! sort of mistake it is, which is all a client needs to act on: the Segmint server maps each
//! kind to one SQLSTATE (`src/server/sqlstate.rs`), whatever the message's wording.
//!
//! Functions return them as DataFusion errors ([`crm_err!`] for `Err(..)`, [`crm_error!`] for
//! the error value); [`find`] gets one back out of DataFusion's wrapping.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// What sort of mistake a CRM function reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument value the function cannot use: an unknown option, preset or unit, a
    /// negative horizon, a date after `as_of`, a NULL where a constant is required.
    InvalidArgument,
    /// An argument of a type the function does not take (a text where a date is expected).
    /// PostgreSQL answers such a call as one no function signature matches (42883); so does
    /// the server, also when DataFusion's signature check rewraps the message as text.
    WrongType,
    /// The wrong number of arguments.
    WrongArity,
    /// A column of the function's input table has a type the function cannot read.
    ColumnType,
    /// A table the function was asked to read does not exist.
    UndefinedTable,
    /// A column the function needs is not in its input.
    UndefinedColumn,
    /// A request the function understands but does not serve.
    Unsupported,
    /// The data cannot give an answer: a model the data cannot identify, a fit that does not
    /// converge, values that break the function's assumptions (an order after `as_of`).
    Data,
    /// A broken invariant inside the function: a bug, not the user's mistake.
    Internal,
}

impl ErrorKind {
    /// Every kind, for tests that check each has its code.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidArgument,
        ErrorKind::WrongType,
        ErrorKind::WrongArity,
        ErrorKind::ColumnType,
        ErrorKind::UndefinedTable,
        ErrorKind::UndefinedColumn,
        ErrorKind::Unsupported,
        ErrorKind::Data,
        ErrorKind::Internal,
    ];
}

/// A CRM function's error: its kind and the message a user reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CrmError {
    /// What sort of mistake it is.
    pub kind: ErrorKind,
    /// What is wrong, naming the function and the argument.
    pub message: String,
}

impl CrmError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CrmError {
        CrmError {
            kind,
            message: message.into(),
        }
    }
}

impl From<CrmError> for DataFusionError {
    fn from(error: CrmError) -> DataFusionError {
        DataFusionError::External(Box::new(error))
    }
}

/// `Err(DataFusionError)` of a [`CrmError`]: `crm_err!(InvalidArgument, "{f}: ...", ...)`.
#[macro_export]
macro_rules! crm_err {
    ($kind:ident, $($arg:tt)*) => {
        Err($crate::crm_error!($kind, $($arg)*))
    };
}

/// The `DataFusionError` of a [`CrmError`]: `crm_error!(WrongType, "{f}: ...", ...)`.
#[macro_export]
macro_rules! crm_error {
    ($kind:ident, $($arg:tt)*) => {
        ::datafusion::error::DataFusionError::from($crate::error::CrmError::new(
            $crate::error::ErrorKind::$kind,
            format!($($arg)*),
        ))
    };
}

/// The [`CrmError`] inside `error`, through DataFusion's and Arrow's wrapping.
pub fn find(error: &DataFusionError) -> Option<&CrmError> {
    match error {
        DataFusionError::External(inner) => match inner.downcast_ref::<CrmError>() {
            Some(found) => Some(found),
            None => inner.downcast_ref::<DataFusionError>().and_then(find),
        },
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => find(inner),
        DataFusionError::Shared(inner) => find(inner),
        DataFusionError::ArrowError(arrow, _) => match arrow.as_ref() {
            ArrowError::ExternalError(inner) => match inner.downcast_ref::<CrmError>() {
                Some(found) => Some(found),
                None => inner.downcast_ref::<DataFusionError>().and_then(find),
            },
            _ => None,
        },
        DataFusionError::Collection(errors) => errors.iter().find_map(find),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(ok: bool) -> datafusion::error::Result<()> {
        if ok {
            return Ok(());
        }
        crm_err!(InvalidArgument, "f: x={} is not one of a, b", 3)
    }

    #[test]
    fn the_kind_survives_datafusion_wrapping() {
        let error = fails(false).expect_err("an error");
        let wrapped = DataFusionError::Context("planning".into(), Box::new(error));
        let shared = DataFusionError::Shared(std::sync::Arc::new(wrapped));
        let found = find(&shared).expect("found");
        assert_eq!(found.kind, ErrorKind::InvalidArgument);
        assert_eq!(found.message, "f: x=3 is not one of a, b");
        assert!(fails(true).is_ok());
        assert!(find(&DataFusionError::Plan("other".into())).is_none());
    }
}
