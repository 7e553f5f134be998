//! A session's transaction block, kept as PostgreSQL keeps it.
//!
//! Segmint serves read-only analytics, so a transaction has nothing to roll back, but drivers
//! with autocommit off (JDBC, psycopg, ODBC) rely on the block's states: after an error inside
//! `BEGIN` every statement fails with 25P02 until `ROLLBACK`, `COMMIT` (which then answers
//! `ROLLBACK`) or `ROLLBACK TO SAVEPOINT` of a savepoint set before the error. [`Block`] is
//! that state machine; the protocol handlers ask it whether a statement may run
//! ([`Block::admit`]), tell it about errors ([`Block::fail`]) and report its
//! [`Block::status`] in every `ReadyForQuery`.

use datafusion::sql::sqlparser::ast::Ident;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use pgwire::messages::response::TransactionStatus;

use super::sqlstate::{
    IN_FAILED_SQL_TRANSACTION, INVALID_SAVEPOINT_SPECIFICATION, NO_ACTIVE_SQL_TRANSACTION,
};

/// Where a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// No transaction block: each statement is its own transaction.
    #[default]
    Idle,
    /// Inside `BEGIN`.
    InBlock,
    /// Inside `BEGIN`, after an error: only ending the block or rolling back to a savepoint
    /// runs.
    Failed,
}

/// Why a transaction statement, or a statement inside a failed block, was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// A statement other than `COMMIT` / `ROLLBACK` / `ROLLBACK TO` after an error.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    Aborted,
    /// `SAVEPOINT`, `RELEASE` or `ROLLBACK TO` outside a transaction block.
    #[error("{0} can only be used in transaction blocks")]
    OutsideBlock(&'static str),
    /// `RELEASE` or `ROLLBACK TO` of a savepoint that was not set.
    #[error("savepoint \"{0}\" does not exist")]
    NoSuchSavepoint(String),
}

impl TransactionError {
    /// The SQLSTATE a client receives.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            TransactionError::Aborted => IN_FAILED_SQL_TRANSACTION,
            TransactionError::OutsideBlock(_) => NO_ACTIVE_SQL_TRANSACTION,
            TransactionError::NoSuchSavepoint(_) => INVALID_SAVEPOINT_SPECIFICATION,
        }
    }
}

/// A session's transaction block and its savepoints.
#[derive(Debug, Default)]
pub struct Block {
    state: State,
    /// Savepoint names, oldest first (a name may repeat: the newest one counts).
    savepoints: Vec<String>,
}

impl Block {
    /// What `ReadyForQuery` reports: `I`, `T` or `E`.
    pub fn status(&self) -> TransactionStatus {
        match self.state {
            State::Idle => TransactionStatus::Idle,
            State::InBlock => TransactionStatus::Transaction,
            State::Failed => TransactionStatus::Error,
        }
    }

    /// Whether the statement(s) in `sql` may start: inside a failed block only a statement
    /// that ends the block or rolls back to a savepoint may.
    pub fn admit(&self, sql: &str) -> Result<(), TransactionError> {
        if self.state == State::Failed && !ends_failure(sql) {
            return Err(TransactionError::Aborted);
        }
        Ok(())
    }

    /// A statement failed: inside a block, the block fails.
    pub fn fail(&mut self) {
        if self.state == State::InBlock {
            self.state = State::Failed;
        }
    }

    /// The protocol layer reported `status` (an error it answered itself, such as a `Bind`
    /// that could not decode a parameter, puts a block in `E`).
    pub fn observe(&mut self, status: TransactionStatus) {
        if status == TransactionStatus::Error {
            self.fail();
        }
    }

    /// `BEGIN`: inside a block already, it changes nothing (PostgreSQL warns).
    pub fn begin(&mut self) {
        if self.state == State::Idle {
            self.state = State::InBlock;
        }
    }

    /// `COMMIT`: ends the block; returns the command tag, `ROLLBACK` for a failed block.
    pub fn commit(&mut self) -> &'static str {
        let tag = if self.state == State::Failed {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        self.end();
        tag
    }

    /// `ROLLBACK`: ends the block.
    pub fn rollback(&mut self) {
        self.end();
    }

    /// `SAVEPOINT name`.
    pub fn savepoint(&mut self, name: &Ident) -> Result<(), TransactionError> {
        self.in_block("SAVEPOINT")?;
        self.savepoints.push(fold(name));
        Ok(())
    }

    /// `RELEASE [SAVEPOINT] name`: forgets it and every savepoint set after it.
    pub fn release(&mut self, name: &Ident) -> Result<(), TransactionError> {
        self.in_block("RELEASE SAVEPOINT")?;
        let at = self.find(name)?;
        self.savepoints.truncate(at);
        Ok(())
    }

    /// `ROLLBACK TO [SAVEPOINT] name`: forgets the savepoints set after it (it stays) and
    /// clears a failure that came after it.
    pub fn rollback_to(&mut self, name: &Ident) -> Result<(), TransactionError> {
        self.in_block("ROLLBACK TO SAVEPOINT")?;
        let at = self.find(name)?;
        self.savepoints.truncate(at + 1);
        self.state = State::InBlock;
        Ok(())
    }

    fn end(&mut self) {
        self.state = State::Idle;
        self.savepoints.clear();
    }

    fn in_block(&self, what: &'static str) -> Result<(), TransactionError> {
        match self.state {
            State::Idle => Err(TransactionError::OutsideBlock(what)),
            State::InBlock | State::Failed => Ok(()),
        }
    }

    fn find(&self, name: &Ident) -> Result<usize, TransactionError> {
        let name = fold(name);
        self.savepoints
            .iter()
            .rposition(|s| *s == name)
            .ok_or(TransactionError::NoSuchSavepoint(name))
    }
}

/// An identifier as PostgreSQL compares it: unquoted names fold to lower case.
fn fold(name: &Ident) -> String {
    match name.quote_style {
        Some(_) => name.value.clone(),
        None => name.value.to_lowercase(),
    }
}

/// Whether `sql` starts with a statement a failed block accepts: `COMMIT`, `END`,
/// `ROLLBACK` (plain or `TO SAVEPOINT`) or `ABORT`. Read with the SQL tokenizer, so comments
/// and case do not matter.
fn ends_failure(sql: &str) -> bool {
    let dialect = PostgreSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, sql).tokenize() else {
        return false;
    };
    let first = tokens
        .iter()
        .find(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon));
    matches!(
        first,
        Some(Token::Word(word))
            if matches!(word.keyword, Keyword::COMMIT | Keyword::END | Keyword::ROLLBACK | Keyword::ABORT)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(name: &str) -> Ident {
        Ident::new(name)
    }

    #[test]
    fn an_error_inside_a_block_refuses_everything_but_ending_it() {
        let mut block = Block::default();
        block.fail();
        assert_eq!(block.status(), TransactionStatus::Idle, "autocommit errors");
        block.begin();
        assert_eq!(block.status(), TransactionStatus::Transaction);
        block.fail();
        assert_eq!(block.status(), TransactionStatus::Error);
        for refused in [
            "SELECT 1",
            "  select 1",
            "BEGIN",
            "SAVEPOINT a",
            "RELEASE a",
            "-- x",
        ] {
            assert_eq!(
                block.admit(refused),
                Err(TransactionError::Aborted),
                "{refused}"
            );
        }
        for accepted in [
            "ROLLBACK",
            "rollback to savepoint a",
            "/* retry */ COMMIT",
            "END",
            "abort",
            "\n ROLLBACK; SELECT 1",
        ] {
            assert_eq!(block.admit(accepted), Ok(()), "{accepted}");
        }
        assert_eq!(TransactionError::Aborted.sqlstate(), "25P02");
    }

    #[test]
    fn commit_of_a_failed_block_rolls_back() {
        let mut block = Block::default();
        block.begin();
        assert_eq!(block.commit(), "COMMIT");
        block.begin();
        block.fail();
        assert_eq!(block.commit(), "ROLLBACK");
        assert_eq!(block.status(), TransactionStatus::Idle);
        assert_eq!(block.admit("SELECT 1"), Ok(()));
    }

    #[test]
    fn rollback_to_a_savepoint_before_the_error_recovers_the_block() {
        let mut block = Block::default();
        block.begin();
        block.savepoint(&ident("a")).expect("savepoint a");
        block.savepoint(&ident("B")).expect("savepoint b");
        block.fail();
        // Savepoint names fold like identifiers.
        block.rollback_to(&ident("b")).expect("rollback to b");
        assert_eq!(block.status(), TransactionStatus::Transaction);
        // The savepoint stays after ROLLBACK TO; RELEASE forgets it and later ones.
        block.rollback_to(&ident("b")).expect("again");
        block.release(&ident("a")).expect("release a");
        assert_eq!(
            block.rollback_to(&ident("b")),
            Err(TransactionError::NoSuchSavepoint("b".into()))
        );
        assert_eq!(
            TransactionError::NoSuchSavepoint("b".into()).sqlstate(),
            "3B001"
        );
    }

    #[test]
    fn rollback_to_an_unknown_savepoint_keeps_the_failure() {
        let mut block = Block::default();
        block.begin();
        block.fail();
        assert!(block.rollback_to(&ident("nowhere")).is_err());
        assert_eq!(block.status(), TransactionStatus::Error);
    }

    #[test]
    fn savepoints_need_a_block() {
        let mut block = Block::default();
        let error = block.savepoint(&ident("a")).expect_err("outside a block");
        assert_eq!(error.sqlstate(), "25P01");
        assert_eq!(
            error.to_string(),
            "SAVEPOINT can only be used in transaction blocks"
        );
        assert!(block.release(&ident("a")).is_err());
        assert!(block.rollback_to(&ident("a")).is_err());
        block.begin();
        block.savepoint(&ident("a")).expect("inside a block");
        block.rollback();
        assert_eq!(block.status(), TransactionStatus::Idle);
        block.begin();
        assert!(
            block.rollback_to(&ident("a")).is_err(),
            "a block's savepoints end with it"
        );
    }

    #[test]
    fn a_protocol_error_fails_the_block() {
        let mut block = Block::default();
        block.observe(TransactionStatus::Error);
        assert_eq!(block.status(), TransactionStatus::Idle);
        block.begin();
        block.observe(TransactionStatus::Transaction);
        assert_eq!(block.status(), TransactionStatus::Transaction);
        block.observe(TransactionStatus::Error);
        assert_eq!(block.status(), TransactionStatus::Error);
    }
}
