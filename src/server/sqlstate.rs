//! One mapping from engine errors to PostgreSQL SQLSTATE codes (the codes themselves are in
//! `crate::sqlstate`), used for every error that reaches a client. Drivers and BI tools branch on these codes (retry, show a syntax hint,
//! refresh metadata), so each class of failure gets the code PostgreSQL itself would send.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};

use crate::engine::distributed::{self, ClusterError};
use crate::engine::sql_functions::{self, SqlFunctionError};

pub use crate::sqlstate::*;

/// The SQLSTATE for an engine error.
pub fn sqlstate_of(error: &DataFusionError) -> &'static str {
    // A CRM function's error says its kind, wherever DataFusion wrapped it.
    if let Some(crm) = segmint_udfs::error::find(error) {
        return crm_sqlstate(crm.kind);
    }
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

/// The wording of a bad argument value in messages that carry no kind (object-store options
/// of `CREATE EXTERNAL TABLE`, DataFusion's own settings). CRM functions' errors have kinds.
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
        PgWireError::PortalNotFound(_) | PgWireError::StatementNotFound(_) => {
            INVALID_SQL_STATEMENT_NAME
        }
        PgWireError::ParameterIndexOutOfBound(_) => INVALID_PARAMETER_VALUE,
        PgWireError::InvalidMessageType(_)
        | PgWireError::InvalidTargetType(_)
        | PgWireError::MessageTooLarge(..)
        | PgWireError::InvalidElementCount(..) => PROTOCOL_VIOLATION,
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
    if let Some(error) = segmint_udfs::error::find(error) {
        return error.to_string();
    }
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

    #[test]
    fn a_crm_error_keeps_its_kind_and_message_through_datafusion() {
        use segmint_udfs::error::{CrmError, ErrorKind};
        for kind in ErrorKind::ALL {
            let error: DataFusionError = CrmError::new(kind, "f: x is wrong").into();
            let wrapped = DataFusionError::Shared(std::sync::Arc::new(DataFusionError::Context(
                "while planning".into(),
                Box::new(error),
            )));
            let code = sqlstate_of(&wrapped);
            assert_eq!(code, crm_sqlstate(kind), "{kind:?}");
            assert_eq!(code.len(), 5);
            assert_eq!(
                code == INTERNAL_ERROR,
                kind == ErrorKind::Internal,
                "{kind:?}"
            );
            assert_eq!(client_message(&wrapped), "f: x is wrong");
        }
        // The wording no longer decides: an invalid-argument message that reads like a
        // type error still gets 22023.
        let error: DataFusionError =
            CrmError::new(ErrorKind::InvalidArgument, "f: cannot be cast").into();
        assert_eq!(sqlstate_of(&error), INVALID_PARAMETER_VALUE);
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

    #[tokio::test]
    async fn more_engine_errors_get_their_codes() {
        for (sql, code) in [
            (
                "SELECT column1 FROM t JOIN t AS u ON true",
                AMBIGUOUS_COLUMN,
            ),
            ("SET datafusion.no_such_setting = 1", UNDEFINED_OBJECT),
            ("SELECT abs('x', 'y')", UNDEFINED_FUNCTION),
        ] {
            assert_eq!(state_for(sql).await, code, "{sql}");
        }
    }

    #[test]
    fn arrow_errors_get_their_codes() {
        for (error, code) in [
            (ArrowError::DivideByZero, DIVISION_BY_ZERO),
            (
                ArrowError::CastError("bad digit".into()),
                INVALID_TEXT_REPRESENTATION,
            ),
            (
                ArrowError::CastError("Overflow happened".into()),
                NUMERIC_VALUE_OUT_OF_RANGE,
            ),
            (
                ArrowError::ArithmeticOverflow("x".into()),
                NUMERIC_VALUE_OUT_OF_RANGE,
            ),
            (
                ArrowError::NotYetImplemented("x".into()),
                FEATURE_NOT_SUPPORTED,
            ),
        ] {
            let wrapped = DataFusionError::ArrowError(Box::new(error), None);
            assert_eq!(sqlstate_of(&wrapped), code, "{wrapped}");
        }
        let memory = DataFusionError::ResourcesExhausted("pool".into());
        assert_eq!(sqlstate_of(&memory), OUT_OF_MEMORY);
    }
}
