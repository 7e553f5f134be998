//! One mapping from engine errors to PostgreSQL SQLSTATE codes, used for every error that
//! reaches a client. Drivers and BI tools branch on these codes (retry, show a syntax hint,
//! refresh metadata), so each class of failure gets the code PostgreSQL itself would send.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};

use crate::engine::distributed::{self, ClusterError};
use crate::engine::sql_functions::{self, SqlFunctionError};

/// `42601`: the statement does not parse.
pub const SYNTAX_ERROR: &str = "42601";
/// `42P01`: no such table or view.
pub const UNDEFINED_TABLE: &str = "42P01";
/// `42703`: no such column.
pub const UNDEFINED_COLUMN: &str = "42703";
/// `42883`: no function matches the name and argument types.
pub const UNDEFINED_FUNCTION: &str = "42883";
/// `42704`: unknown object, such as a configuration parameter.
pub const UNDEFINED_OBJECT: &str = "42704";
/// `42702`: a column reference matches several columns.
pub const AMBIGUOUS_COLUMN: &str = "42702";
/// `42804`: an expression has the wrong type.
pub const DATATYPE_MISMATCH: &str = "42804";
/// `42000`: any other planning error.
pub const SYNTAX_OR_ACCESS_RULE: &str = "42000";
/// `22012`: division by zero.
pub const DIVISION_BY_ZERO: &str = "22012";
/// `22003`: a number does not fit its type.
pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
/// `22P02`: text cannot be read as the target type.
pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
/// `22023`: an argument or setting value is not acceptable.
pub const INVALID_PARAMETER_VALUE: &str = "22023";
/// `22000`: any other data exception.
pub const DATA_EXCEPTION: &str = "22000";
/// `0A000`: valid SQL the engine does not support.
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// `25006`: a write or DDL statement on this read-only endpoint.
pub const READ_ONLY_SQL_TRANSACTION: &str = "25006";
/// `25P02`: a statement inside a transaction block that an earlier error failed.
pub const IN_FAILED_SQL_TRANSACTION: &str = "25P02";
/// `25P01`: a savepoint statement outside a transaction block.
pub const NO_ACTIVE_SQL_TRANSACTION: &str = "25P01";
/// `3B001`: `RELEASE` or `ROLLBACK TO` of a savepoint that was not set.
pub const INVALID_SAVEPOINT_SPECIFICATION: &str = "3B001";
/// insufficient_privilege
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// invalid_name
pub const INVALID_NAME: &str = "42602";
/// `22007`: a date or time that does not parse.
pub const INVALID_DATETIME_FORMAT: &str = "22007";
/// `53200`: the query needs more memory than it may use.
pub const OUT_OF_MEMORY: &str = "53200";
/// `54000`: a result is larger than the server allows.
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
/// `53300`: the server is serving as many connections as it may.
pub const TOO_MANY_CONNECTIONS: &str = "53300";
/// `57014`: the query was cancelled or timed out.
pub const QUERY_CANCELED: &str = "57014";
/// `58030`: reading the data failed.
pub const IO_ERROR: &str = "58030";
/// `XX000`: a bug or an unexpected failure.
pub const INTERNAL_ERROR: &str = "XX000";

/// The SQLSTATE for an engine error.
pub fn sqlstate_of(error: &DataFusionError) -> &'static str {
    match error {
        DataFusionError::SQL(..) => SYNTAX_ERROR,
        DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
            SchemaError::FieldNotFound { .. } => UNDEFINED_COLUMN,
            SchemaError::AmbiguousReference { .. } => AMBIGUOUS_COLUMN,
            _ => SYNTAX_OR_ACCESS_RULE,
        },
        DataFusionError::Plan(message) => plan_sqlstate(message),
        DataFusionError::NotImplemented(_) => FEATURE_NOT_SUPPORTED,
        DataFusionError::Configuration(message) => {
            if message.contains("not found") || message.contains("Could not find config") {
                UNDEFINED_OBJECT
            } else {
                INVALID_PARAMETER_VALUE
            }
        }
        DataFusionError::ResourcesExhausted(_) => OUT_OF_MEMORY,
        DataFusionError::ArrowError(arrow_error, _) => arrow_sqlstate(arrow_error),
        DataFusionError::Execution(message) => execution_sqlstate(message),
        DataFusionError::ParquetError(_)
        | DataFusionError::ObjectStore(_)
        | DataFusionError::IoError(_) => IO_ERROR,
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            sqlstate_of(inner)
        }
        DataFusionError::Shared(inner) => sqlstate_of(inner),
        DataFusionError::Collection(errors) => errors.first().map_or(INTERNAL_ERROR, sqlstate_of),
        DataFusionError::External(inner) => match inner.downcast_ref::<DataFusionError>() {
            Some(inner) => sqlstate_of(inner),
            None => match inner.downcast_ref::<ArrowError>() {
                Some(arrow_error) => arrow_sqlstate(arrow_error),
                // CREATE FUNCTION refusals carry their own code (syntax error in the body,
                // unknown function or column, ...).
                None => match inner.downcast_ref::<SqlFunctionError>() {
                    Some(error) => error.sqlstate(),
                    // A lost scheduler or executor, or a local path the cluster cannot read.
                    None => match inner.downcast_ref::<ClusterError>() {
                        Some(error) => error.sqlstate(),
                        None => INTERNAL_ERROR,
                    },
                },
            },
        },
        _ => INTERNAL_ERROR,
    }
}

fn plan_sqlstate(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if lower.starts_with("permission denied") {
        INSUFFICIENT_PRIVILEGE
    } else if lower.contains("table") && lower.contains("not found")
        || lower.contains("table \"") && lower.contains("does not exist")
    {
        UNDEFINED_TABLE
    } else if lower.contains("column \"") && lower.contains("does not exist") {
        UNDEFINED_COLUMN
    } else if is_invalid_argument(&lower) {
        INVALID_PARAMETER_VALUE
    } else if lower.contains("invalid function")
        || lower.contains("no function matches")
        || lower.contains("function") && lower.contains("not found")
        || lower.contains("failed to coerce arguments")
        || lower.contains("does not support zero arguments")
    {
        UNDEFINED_FUNCTION
    } else if lower.contains("cannot infer common")
        || lower.contains("cannot coerce")
        || lower.contains("can't be evaluated because")
        || lower.contains("unsupported data type")
        || lower.contains("cannot be cast")
    {
        DATATYPE_MISMATCH
    } else if lower.contains("not supported") || lower.contains("unsupported") {
        FEATURE_NOT_SUPPORTED
    } else {
        SYNTAX_OR_ACCESS_RULE
    }
}

/// The wording CRM functions use for a bad argument value (an option, a preset, a threshold).
fn is_invalid_argument(lower: &str) -> bool {
    lower.contains("unknown option")
        || lower.contains("unknown preset")
        || lower.contains("unknown scheme")
        || lower.contains("is not one of")
        || lower.contains("must not exceed")
        || lower.contains("must be from")
        || lower.contains("must look like")
}

fn execution_sqlstate(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if is_invalid_argument(&lower) {
        INVALID_PARAMETER_VALUE
    } else if lower.contains("divide by zero") || lower.contains("division by zero") {
        DIVISION_BY_ZERO
    } else if lower.contains("overflow") || lower.contains("out of range") {
        NUMERIC_VALUE_OUT_OF_RANGE
    } else if lower.contains("cannot cast") || lower.contains("cast error") {
        INVALID_TEXT_REPRESENTATION
    } else {
        DATA_EXCEPTION
    }
}

fn arrow_sqlstate(error: &ArrowError) -> &'static str {
    match error {
        ArrowError::DivideByZero => DIVISION_BY_ZERO,
        ArrowError::CastError(message) | ArrowError::ParseError(message) => {
            if message.to_ascii_lowercase().contains("overflow") {
                NUMERIC_VALUE_OUT_OF_RANGE
            } else {
                INVALID_TEXT_REPRESENTATION
            }
        }
        ArrowError::ArithmeticOverflow(_) => NUMERIC_VALUE_OUT_OF_RANGE,
        ArrowError::ComputeError(message) if message.contains("Overflow") => {
            NUMERIC_VALUE_OUT_OF_RANGE
        }
        ArrowError::ExternalError(inner) => match inner.downcast_ref::<DataFusionError>() {
            Some(inner) => sqlstate_of(inner),
            None => DATA_EXCEPTION,
        },
        ArrowError::IoError(..) => IO_ERROR,
        ArrowError::NotYetImplemented(_) => FEATURE_NOT_SUPPORTED,
        _ => DATA_EXCEPTION,
    }
}

/// An ERROR-level response with `code` and `message`.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

/// The SQLSTATE a client receives for `error`.
pub fn error_sqlstate(error: &PgWireError) -> String {
    let code = match error {
        PgWireError::UserError(info) => return info.code.clone(),
        // The codes pgwire itself answers with.
        PgWireError::IoError(_) => IO_ERROR,
        PgWireError::PortalNotFound(_) | PgWireError::StatementNotFound(_) => "26000",
        PgWireError::ParameterIndexOutOfBound(_) => INVALID_PARAMETER_VALUE,
        PgWireError::InvalidMessageType(_)
        | PgWireError::InvalidTargetType(_)
        | PgWireError::MessageTooLarge(..)
        | PgWireError::InvalidElementCount(..) => "08P01",
        _ => INTERNAL_ERROR,
    };
    code.to_string()
}

/// The client-facing error for an engine error: its SQLSTATE and a one-paragraph message.
pub fn to_pg_error(error: DataFusionError) -> PgWireError {
    let code = sqlstate_of(&error);
    let message = client_message(&error);
    user_error(code, message)
}

/// The error message without DataFusion's internal wrapping.
fn client_message(error: &DataFusionError) -> String {
    if let Some(error) = sql_functions::find_error(error) {
        return error.to_string();
    }
    if let Some(error) = distributed::find_error(error) {
        return error.to_string();
    }
    let root = error.find_root();
    let text = match root {
        DataFusionError::Plan(m)
        | DataFusionError::Execution(m)
        | DataFusionError::NotImplemented(m)
        | DataFusionError::Configuration(m)
        | DataFusionError::ResourcesExhausted(m) => m.clone(),
        DataFusionError::SQL(parser_error, _) => parser_error.to_string(),
        other => other.to_string(),
    };
    text.trim_start_matches("sql parser error: ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn state_for(sql: &str) -> &'static str {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t AS VALUES (1, 'a')")
            .await
            .expect("create")
            .collect()
            .await
            .expect("run");
        let error = match ctx.sql(sql).await {
            Err(error) => error,
            Ok(df) => df.collect().await.expect_err("query should fail"),
        };
        sqlstate_of(&error)
    }

    #[tokio::test]
    async fn planning_errors_get_their_codes() {
        assert_eq!(state_for("SELEC 1").await, SYNTAX_ERROR);
        assert_eq!(
            state_for("SELECT * FROM missing_table").await,
            UNDEFINED_TABLE
        );
        assert_eq!(state_for("SELECT nope FROM t").await, UNDEFINED_COLUMN);
        assert_eq!(state_for("SELECT no_such_fn(1)").await, UNDEFINED_FUNCTION);
    }

    #[tokio::test]
    async fn sql_function_refusals_keep_their_codes() {
        let ctx = SessionContext::new();
        crate::engine::sql_functions::install(&ctx, None);
        for (body, code) in [
            ("x +", SYNTAX_ERROR),
            ("no_such_fn(x)", UNDEFINED_FUNCTION),
            ("x + y", UNDEFINED_COLUMN),
        ] {
            let sql = format!("CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ {body} $$");
            let error = match ctx.sql(&sql).await {
                Ok(df) => df.collect().await.expect_err(&sql),
                Err(error) => error,
            };
            assert_eq!(sqlstate_of(&error), code, "{sql}");
            let PgWireError::UserError(info) = to_pg_error(error) else {
                panic!("a user error");
            };
            assert!(info.message.contains("function f"), "{}", info.message);
        }
    }

    #[tokio::test]
    async fn execution_errors_get_their_codes() {
        assert_eq!(state_for("SELECT 1 / 0").await, DIVISION_BY_ZERO);
        assert_eq!(
            state_for("SELECT CAST('abc' AS INT)").await,
            INVALID_TEXT_REPRESENTATION
        );
    }
}
