//! What a SQL string asks of Segmint. One classifier, shared by the simple and the extended
//! protocol, reads the text with the SQL tokenizer and parsers (never by splitting words) and
//! turns it into [`Statement`]s: Segmint's own commands (`RUN REPORT`, `REFRESH`), session
//! commands (`SET` / `SHOW` / `RESET`, transaction control, `DISCARD`, `DEALLOCATE`), cursors,
//! `COPY`, catalog statements and the SQL the engine plans. Nothing here needs a session:
//! planning ([`super::planner`]) and running ([`super::session`]) come after.

use chrono::NaiveDate;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    self, CloseCursor, Expr, Ident, ObjectName, Reset, ResetStatement, Set, Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};
use pgwire::error::PgWireResult;

use super::copy::{self, CopyOut};
use super::cursors::FetchCount;
use super::run_report::RunReport;
use super::sqlstate::{FEATURE_NOT_SUPPORTED, INVALID_DATETIME_FORMAT, SYNTAX_ERROR, user_error};
use crate::pgcompat::sql_parser::SqlParser;

/// One statement of a SQL string, classified.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `RUN REPORT name [AS OF [DATE] 'YYYY-MM-DD']`.
    RunReport(RunReport),
    /// `REFRESH DATASET name` (`Some`) or `REFRESH DATASETS` (`None`).
    Refresh(Option<String>),
    /// `CREATE [OR REPLACE] [UNBOUNDED] EXTERNAL TABLE`, as DataFusion's parser reads it.
    CreateExternalTable {
        /// The parsed statement.
        statement: Box<DfStatement>,
        /// Its text, which the catalog saves.
        sql: String,
    },
    /// A session command, answered without the engine.
    Command(SessionCommand),
    /// `COPY ... TO STDOUT`.
    Copy(Box<CopyOut>),
    /// `DECLARE name [WITH HOLD] CURSOR FOR query`.
    Declare {
        /// The cursor name.
        name: String,
        /// Whether it outlives the transaction.
        hold: bool,
        /// The cursor's query.
        query: Box<ast::Query>,
    },
    /// `FETCH n FROM name`.
    Fetch {
        /// The cursor name.
        name: String,
        /// How many rows.
        count: FetchCount,
    },
    /// `CLOSE name` (`None`: `CLOSE ALL`).
    Close(Option<String>),
    /// `CREATE FUNCTION` or `DROP FUNCTION` (SQL functions).
    Function(Box<ast::Statement>),
    /// `CREATE INDEX` or `DROP INDEX` (customer indexes).
    Index(Box<ast::Statement>),
    /// SQL for the engine to plan: queries, views, `CREATE TABLE AS`, `DROP`, `EXPLAIN`,
    /// `SET datafusion.*`...
    Sql {
        /// The statement after the PostgreSQL compatibility rewrites.
        statement: Box<ast::Statement>,
        /// Its form as sent (which names result columns), when the rewrites kept the
        /// statement count.
        original: Option<Box<ast::Statement>>,
    },
}

/// A classified statement with the text its log record shows.
#[derive(Debug, Clone)]
pub struct Classified {
    /// What it asks.
    pub statement: Statement,
    /// The SQL as sent when it is the only statement, else the statement's own text.
    pub text: String,
}

/// What a parsed statement asks of the session layer.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionCommand {
    /// `SET name = value` of a PostgreSQL variable.
    Set {
        /// The variable.
        name: String,
        /// The value, unquoted.
        value: String,
    },
    /// `SHOW name`.
    Show(String),
    /// `SHOW ALL`.
    ShowAll,
    /// `RESET name`.
    Reset(String),
    /// `RESET ALL` or `DISCARD ALL`.
    ResetAll {
        /// The command tag to answer with.
        tag: &'static str,
    },
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK` / `ABORT`.
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint(Ident),
    /// `RELEASE [SAVEPOINT] name`.
    Release(Ident),
    /// `ROLLBACK TO [SAVEPOINT] name`.
    RollbackTo(Ident),
    /// Accepted and acknowledged with a tag: `SET TRANSACTION`, `SET SESSION ...`.
    Acknowledge(&'static str),
    /// `DEALLOCATE [PREPARE] name | ALL`.
    Deallocate(String),
}

/// Classifies every statement of `sql` (none for an empty string). Segmint's own commands
/// and `CREATE EXTERNAL TABLE` are read first and must be sent alone; the rest goes through
/// `parser`, which applies the PostgreSQL compatibility rewrites.
pub fn classify(parser: &SqlParser, sql: &str) -> PgWireResult<Vec<Classified>> {
    if let Some(statement) = own_command(sql)? {
        return Ok(vec![Classified {
            statement,
            text: sql.to_string(),
        }]);
    }
    let statements = parser
        .parse(sql)
        .map_err(|e| user_error(SYNTAX_ERROR, e.to_string()))?;
    let single = statements.len() == 1;
    statements
        .into_iter()
        .map(|(statement, original)| {
            let text = if single {
                sql.to_string()
            } else {
                original.as_ref().unwrap_or(&statement).to_string()
            };
            Ok(Classified {
                statement: classify_parsed(statement, original)?,
                text,
            })
        })
        .collect()
}

/// Classifies one statement the SQL parser read.
fn classify_parsed(
    statement: ast::Statement,
    original: Option<ast::Statement>,
) -> PgWireResult<Statement> {
    if let Some(command) = session_command(&statement) {
        return Ok(Statement::Command(command));
    }
    if let Some(copy) = copy::parse(&statement) {
        return Ok(Statement::Copy(Box::new(copy?)));
    }
    Ok(match statement {
        ast::Statement::CreateFunction(_) | ast::Statement::DropFunction(_) => {
            Statement::Function(Box::new(statement))
        }
        ast::Statement::CreateIndex(_)
        | ast::Statement::Drop {
            object_type: ast::ObjectType::Index,
            ..
        } => Statement::Index(Box::new(statement)),
        ast::Statement::Declare { mut stmts } if stmts.len() == 1 => {
            let declare = stmts.remove(0);
            let (Some(name), Some(query)) = (declare.names.first(), declare.for_query) else {
                return Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "only DECLARE name CURSOR FOR query is supported",
                ));
            };
            Statement::Declare {
                name: name.value.clone(),
                hold: declare.hold.unwrap_or(false),
                query,
            }
        }
        ast::Statement::Fetch {
            name, direction, ..
        } => Statement::Fetch {
            name: name.value.clone(),
            count: FetchCount::from_direction(&direction)?,
        },
        ast::Statement::Close { cursor } => Statement::Close(match cursor {
            CloseCursor::All => None,
            CloseCursor::Specific { name } => Some(name.value.clone()),
        }),
        statement => Statement::Sql {
            statement: Box::new(statement),
            original: original.map(Box::new),
        },
    })
}

/// The tokens of `sql` without whitespace and trailing semicolons (`None` when it does not
/// tokenize: the SQL parser then reports the error).
fn tokens(sql: &str) -> Option<Vec<Token>> {
    let mut tokens: Vec<Token> = Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .ok()?
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    while tokens.last() == Some(&Token::SemiColon) {
        tokens.pop();
    }
    Some(tokens)
}

/// Whether `token` is the unquoted word `word` (any case).
fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(Word { value, quote_style: None, .. }))
        if value.eq_ignore_ascii_case(word))
}

/// An identifier as PostgreSQL folds it: quoted as written, unquoted in lower case.
fn identifier(token: Option<&Token>) -> Option<String> {
    match token {
        Some(Token::Word(Word {
            value,
            quote_style: Some(_),
            ..
        })) => Some(value.clone()),
        Some(Token::Word(Word {
            value,
            quote_style: None,
            ..
        })) => Some(value.to_ascii_lowercase()),
        _ => None,
    }
}

/// `RUN REPORT`, `REFRESH` or `CREATE EXTERNAL TABLE`, which the PostgreSQL parser does not
/// read; `None` for any other statement.
fn own_command(sql: &str) -> PgWireResult<Option<Statement>> {
    // Most statements are none of these: skip tokenizing what the parser reads next anyway.
    if !mentions_own_command(sql) {
        return Ok(None);
    }
    let Some(tokens) = tokens(sql) else {
        return Ok(None);
    };
    let word = |i: usize, w: &str| is_word(tokens.get(i), w);
    if word(0, "run") && word(1, "report") {
        return run_report(&tokens).map(|r| Some(Statement::RunReport(r)));
    }
    if word(0, "refresh") {
        return match tokens.len() {
            2 if word(1, "datasets") => Ok(Some(Statement::Refresh(None))),
            3 if word(1, "dataset") => match identifier(tokens.get(2)) {
                Some(name) => Ok(Some(Statement::Refresh(Some(name)))),
                None => Err(refresh_usage()),
            },
            _ => Err(refresh_usage()),
        };
    }
    if word(0, "create") {
        let mut i = 1;
        while ["or", "replace", "unbounded"].iter().any(|w| word(i, w)) {
            i += 1;
        }
        if word(i, "external") && word(i + 1, "table") {
            return create_external_table(sql).map(Some);
        }
    }
    Ok(None)
}

/// Whether `sql` has a word that starts one of [`own_command`]'s statements.
fn mentions_own_command(sql: &str) -> bool {
    sql.split(|c: char| !c.is_ascii_alphabetic()).any(|w| {
        ["run", "refresh", "external"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
    })
}

fn refresh_usage() -> pgwire::error::PgWireError {
    user_error(
        SYNTAX_ERROR,
        "expected REFRESH DATASET name or REFRESH DATASETS",
    )
}

/// Reads `RUN REPORT name [AS OF [DATE] 'YYYY-MM-DD']` from its tokens.
fn run_report(tokens: &[Token]) -> PgWireResult<RunReport> {
    let usage = || {
        user_error(
            SYNTAX_ERROR,
            "expected RUN REPORT name [AS OF 'YYYY-MM-DD']",
        )
    };
    let name = identifier(tokens.get(2)).ok_or_else(usage)?;
    let rest = &tokens[3.min(tokens.len())..];
    let word = |i: usize, w: &str| is_word(rest.get(i), w);
    let date = match rest {
        [] => None,
        [_, _, Token::SingleQuotedString(date)] if word(0, "as") && word(1, "of") => Some(date),
        [_, _, _, Token::SingleQuotedString(date)]
            if word(0, "as") && word(1, "of") && word(2, "date") =>
        {
            Some(date)
        }
        _ => return Err(usage()),
    };
    let as_of = date
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                user_error(
                    INVALID_DATETIME_FORMAT,
                    format!("invalid date '{d}': expected YYYY-MM-DD"),
                )
            })
        })
        .transpose()?;
    Ok(RunReport { name, as_of })
}

/// Parses `CREATE EXTERNAL TABLE` with DataFusion's parser; it must be sent on its own.
fn create_external_table(sql: &str) -> PgWireResult<Statement> {
    let text = sql.trim().trim_end_matches(';').trim();
    let mut statements = DFParser::parse_sql_with_dialect(text, &PostgreSqlDialect {})
        .map_err(|e| user_error(SYNTAX_ERROR, e.to_string()))?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(statement @ DfStatement::CreateExternalTable(_)), true) => {
            Ok(Statement::CreateExternalTable {
                statement: Box::new(statement),
                sql: text.to_string(),
            })
        }
        _ => Err(user_error(
            SYNTAX_ERROR,
            "CREATE EXTERNAL TABLE must be sent on its own",
        )),
    }
}

/// The session command `statement` is, if it is one (engine settings, `datafusion.*` and
/// `segmint.*`, are not: DataFusion keeps them).
pub fn session_command(statement: &ast::Statement) -> Option<SessionCommand> {
    use ast::Statement as S;
    match statement {
        S::Set(set) => classify_set(set),
        S::ShowVariable { variable } => {
            let engine_key = variable.len() > 1
                && ["datafusion", "segmint"]
                    .iter()
                    .any(|prefix| variable[0].value.eq_ignore_ascii_case(prefix));
            if engine_key {
                return None;
            }
            let name = variable
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let lower = name.to_ascii_lowercase();
            if lower == "all" {
                Some(SessionCommand::ShowAll)
            } else if lower.starts_with("datafusion.") || lower.starts_with("segmint.") {
                None
            } else if lower == "transaction isolation level" {
                Some(SessionCommand::Show("transaction_isolation".to_string()))
            } else if lower == "time zone" {
                Some(SessionCommand::Show("TimeZone".to_string()))
            } else {
                Some(SessionCommand::Show(name))
            }
        }
        S::Reset(ResetStatement { reset }) => match reset {
            Reset::ALL => Some(SessionCommand::ResetAll { tag: "RESET" }),
            Reset::ConfigurationParameter(name) => Some(SessionCommand::Reset(object_name(name))),
        },
        S::Discard { .. } => Some(SessionCommand::ResetAll { tag: "DISCARD ALL" }),
        S::StartTransaction { .. } => Some(SessionCommand::Begin),
        S::Commit { .. } => Some(SessionCommand::Commit),
        S::Rollback {
            savepoint: None, ..
        } => Some(SessionCommand::Rollback),
        S::Rollback {
            savepoint: Some(name),
            ..
        } => Some(SessionCommand::RollbackTo(name.clone())),
        S::Savepoint { name } => Some(SessionCommand::Savepoint(name.clone())),
        S::ReleaseSavepoint { name } => Some(SessionCommand::Release(name.clone())),
        S::Deallocate { name, .. } => Some(SessionCommand::Deallocate(name.value.clone())),
        _ => None,
    }
}

fn classify_set(set: &Set) -> Option<SessionCommand> {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = object_name(variable);
            let lower = name.to_ascii_lowercase();
            if lower.starts_with("datafusion.") || lower.starts_with("segmint.") {
                return None;
            }
            let value = values.iter().map(expr_text).collect::<Vec<_>>().join(", ");
            if lower == "time zone" || lower == "timezone" {
                return Some(SessionCommand::Set {
                    name: "TimeZone".to_string(),
                    value,
                });
            }
            Some(SessionCommand::Set { name, value })
        }
        Set::SetTimeZone { value, .. } => Some(SessionCommand::Set {
            name: "TimeZone".to_string(),
            value: expr_text(value),
        }),
        Set::SetNames { charset_name, .. } => Some(SessionCommand::Set {
            name: "client_encoding".to_string(),
            value: charset_name.value.clone(),
        }),
        Set::SetTransaction { .. } | Set::SetSessionParam(_) => {
            Some(SessionCommand::Acknowledge("SET"))
        }
        _ => None,
    }
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|part| part.as_ident().map(|i| i.value.clone()))
        .collect::<Vec<_>>()
        .join(".")
}

/// The text of a SET value: string literals unquoted, `DEFAULT` and identifiers as written.
fn expr_text(expr: &Expr) -> String {
    match expr {
        Expr::Value(ValueWithSpan { value, .. }) => match value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.to_string(),
            Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
            other => other.to_string(),
        },
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::UnaryOp { op, expr } => format!("{op}{}", expr_text(expr)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgwire::error::PgWireError;

    fn one(sql: &str) -> Statement {
        let mut classified = classify(&SqlParser::new(), sql).expect(sql);
        assert_eq!(classified.len(), 1, "{sql}");
        classified.remove(0).statement
    }

    fn code(sql: &str) -> String {
        match classify(&SqlParser::new(), sql) {
            Err(PgWireError::UserError(info)) => info.code.clone(),
            other => panic!("{sql}: expected an error, got {other:?}"),
        }
    }

    fn command(sql: &str) -> Option<SessionCommand> {
        match one(sql) {
            Statement::Command(command) => Some(command),
            _ => None,
        }
    }

    #[test]
    fn classifies_driver_commands() {
        assert_eq!(
            command("SET extra_float_digits = 3"),
            Some(SessionCommand::Set {
                name: "extra_float_digits".into(),
                value: "3".into()
            })
        );
        assert_eq!(
            command("SET TIME ZONE 'Asia/Shanghai'"),
            Some(SessionCommand::Set {
                name: "TimeZone".into(),
                value: "Asia/Shanghai".into()
            })
        );
        assert_eq!(command("SHOW ALL"), Some(SessionCommand::ShowAll));
        assert_eq!(command("BEGIN"), Some(SessionCommand::Begin));
        assert_eq!(command("COMMIT"), Some(SessionCommand::Commit));
        assert_eq!(command("ROLLBACK"), Some(SessionCommand::Rollback));
        assert_eq!(
            command("ROLLBACK TO SAVEPOINT s1"),
            Some(SessionCommand::RollbackTo(Ident::new("s1")))
        );
        assert_eq!(
            command("SAVEPOINT s1"),
            Some(SessionCommand::Savepoint(Ident::new("s1")))
        );
        assert_eq!(
            command("RELEASE s1"),
            Some(SessionCommand::Release(Ident::new("s1")))
        );
        assert_eq!(command("SELECT 1"), None);
        assert_eq!(command("SET datafusion.execution.batch_size = 100"), None);
        assert_eq!(command("SHOW datafusion.execution.batch_size"), None);
        assert_eq!(
            command("SHOW TRANSACTION ISOLATION LEVEL"),
            Some(SessionCommand::Show("transaction_isolation".into()))
        );
    }

    #[test]
    fn reads_run_report_with_the_tokenizer() {
        let report = |sql: &str| match one(sql) {
            Statement::RunReport(report) => report,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(
            report("run report goal_attainment"),
            RunReport {
                name: "goal_attainment".into(),
                as_of: None
            }
        );
        let dated = report("RUN   REPORT \"Order_Value\"\n AS OF DATE '1997-03-31';");
        assert_eq!(dated.name, "Order_Value");
        assert_eq!(dated.as_of, NaiveDate::from_ymd_opt(1997, 3, 31));
        assert_eq!(
            report("RUN REPORT Goals AS OF '2026-10-31'").name,
            "goals",
            "unquoted names fold to lower case"
        );
        assert_eq!(code("RUN REPORT"), SYNTAX_ERROR);
        assert_eq!(code("RUN REPORT g AS OF last tuesday"), SYNTAX_ERROR);
        assert_eq!(code("RUN REPORT g AS OF"), SYNTAX_ERROR);
        assert_eq!(code("RUN REPORT g; SELECT 1"), SYNTAX_ERROR);
        assert_eq!(
            code("RUN REPORT g AS OF '2026-13-45'"),
            INVALID_DATETIME_FORMAT
        );
        assert!(!mentions_own_command(
            "SELECT segment FROM rfm('orders', DATE '2026-01-01')"
        ));
        assert!(mentions_own_command("-- nightly\nRun Report g"));
        // A string that merely contains the words is SQL.
        assert!(matches!(
            one("SELECT 'RUN REPORT x'"),
            Statement::Sql { .. }
        ));
    }

    #[test]
    fn reads_refresh_and_external_tables() {
        assert!(matches!(one("REFRESH DATASETS;"), Statement::Refresh(None)));
        assert!(matches!(
            one("refresh dataset \"Orders\""),
            Statement::Refresh(Some(name)) if name == "Orders"
        ));
        assert!(matches!(
            one("REFRESH DATASET Orders"),
            Statement::Refresh(Some(name)) if name == "orders"
        ));
        assert_eq!(code("REFRESH"), SYNTAX_ERROR);
        assert_eq!(code("REFRESH DATASET a b"), SYNTAX_ERROR);
        assert!(matches!(
            one("CREATE OR REPLACE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp/x'"),
            Statement::CreateExternalTable { sql, .. } if sql.ends_with("'/tmp/x'")
        ));
        assert_eq!(
            code("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'a'; SELECT 1"),
            SYNTAX_ERROR
        );
    }

    #[test]
    fn classifies_cursors_copy_functions_and_sql() {
        assert!(matches!(
            one("DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
            Statement::Declare { name, hold: true, .. } if name == "c"
        ));
        assert!(matches!(
            one("FETCH 10 FROM c"),
            Statement::Fetch { name, count: FetchCount::Forward(10) } if name == "c"
        ));
        assert!(matches!(one("CLOSE ALL"), Statement::Close(None)));
        assert!(matches!(
            one("COPY (SELECT 1) TO STDOUT"),
            Statement::Copy(_)
        ));
        assert!(matches!(
            one("DROP FUNCTION IF EXISTS f"),
            Statement::Function(_)
        ));
        assert!(matches!(
            one("CREATE INDEX i ON orders (customer_id)"),
            Statement::Index(_)
        ));
        assert!(matches!(one("DROP INDEX IF EXISTS i"), Statement::Index(_)));
        assert!(matches!(
            one("SELECT 1 AS x"),
            Statement::Sql {
                original: Some(_),
                ..
            }
        ));
        assert_eq!(code("COPY t FROM STDIN"), "25006");
        let several = classify(&SqlParser::new(), "SELECT 1; SELECT 2").expect("parses");
        let texts: Vec<_> = several.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["SELECT 1", "SELECT 2"]);
        assert!(
            classify(&SqlParser::new(), " ;")
                .map(|c| c.is_empty())
                .unwrap_or(true)
        );
    }
}
