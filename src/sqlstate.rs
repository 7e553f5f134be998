//! Every SQLSTATE Segmint answers with, named as PostgreSQL names them, and the one code of
//! each kind of CRM function error. Typed errors (`DdlError`, `SqlFunctionError`,
//! `SessionError`, `ClusterError`, `TransactionError`, the CRM functions' `ErrorKind`) say
//! their code with these constants; the protocol server maps engine errors with them
//! (`server::sqlstate`).

use segmint_udfs::error::ErrorKind;

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
/// `42501`: the role may not do this.
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// `42602`: a name that is not a valid identifier.
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

/// `42P07`: a table or view of that name exists.
pub const DUPLICATE_TABLE: &str = "42P07";
/// `42809`: the object is not of the kind the statement expects (a view dropped as a table).
pub const WRONG_OBJECT_TYPE: &str = "42809";
/// `42P02`: a `$n` parameter that does not exist.
pub const UNDEFINED_PARAMETER: &str = "42P02";
/// `42723`: a function of that name and arguments exists.
pub const DUPLICATE_FUNCTION: &str = "42723";
/// `42P13`: a function definition that cannot be used.
pub const INVALID_FUNCTION_DEFINITION: &str = "42P13";
/// `42P03`: a cursor of that name is open.
pub const DUPLICATE_CURSOR: &str = "42P03";
/// `34000`: no cursor of that name.
pub const INVALID_CURSOR_NAME: &str = "34000";
/// `26000`: no prepared statement or portal of that name.
pub const INVALID_SQL_STATEMENT_NAME: &str = "26000";
/// `55000`: the object is not in the state the statement needs (a report that cannot run).
pub const OBJECT_NOT_IN_PREREQUISITE_STATE: &str = "55000";
/// `55P02`: a setting that cannot be changed in a session.
pub const CANT_CHANGE_RUNTIME_PARAM: &str = "55P02";
/// `38000`: a routine run on the statement's behalf (a report run) failed.
pub const EXTERNAL_ROUTINE_EXCEPTION: &str = "38000";
/// `28P01`: the password (or the user) is wrong.
pub const INVALID_PASSWORD: &str = "28P01";
/// `28000`: the login is not allowed (TLS required, unknown role).
pub const INVALID_AUTHORIZATION: &str = "28000";
/// `08P01`: a message that breaks the protocol.
pub const PROTOCOL_VIOLATION: &str = "08P01";
/// `08006`: the connection failed (a login that took too long).
pub const CONNECTION_FAILURE: &str = "08006";
/// `57P05`: the session was idle for longer than it may be.
pub const IDLE_SESSION_TIMEOUT: &str = "57P05";
/// `58000`: a system failure outside the statement (a lost cluster scheduler or executor).
pub const SYSTEM_ERROR: &str = "58000";

/// The SQLSTATE of each kind of CRM function error: one code per kind, whatever the message.
pub fn crm_sqlstate(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => INVALID_PARAMETER_VALUE,
        // As PostgreSQL answers a call that no signature of the function matches.
        ErrorKind::WrongType | ErrorKind::WrongArity => UNDEFINED_FUNCTION,
        ErrorKind::ColumnType => DATATYPE_MISMATCH,
        ErrorKind::UndefinedTable => UNDEFINED_TABLE,
        ErrorKind::UndefinedColumn => UNDEFINED_COLUMN,
        ErrorKind::Unsupported => FEATURE_NOT_SUPPORTED,
        ErrorKind::Data => DATA_EXCEPTION,
        ErrorKind::Internal => INTERNAL_ERROR,
    }
}
