//! SQL cursors: `DECLARE name CURSOR FOR query`, `FETCH [FORWARD] n | ALL FROM name`, `MOVE`,
//! `CLOSE name | ALL`, as psycopg's named cursors, pgcli and hand-written scripts use them.
//!
//! A cursor holds the running query's batch stream and hands out the next rows on each
//! `FETCH`, so a large segment is read in pieces without being computed twice or held whole.
//! Cursors are forward-only; those declared `WITHOUT HOLD` (the default) close when the
//! transaction ends, as in PostgreSQL.

use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::sql::sqlparser::ast::{FetchDirection, Value};
use futures::StreamExt;
use pgwire::error::PgWireResult;

use super::sqlstate::{FEATURE_NOT_SUPPORTED, to_pg_error, user_error};

/// `42P03`: a cursor of that name is already open.
pub use crate::sqlstate::DUPLICATE_CURSOR;
/// `34000`: no cursor of that name.
pub use crate::sqlstate::INVALID_CURSOR_NAME;
/// `55000`: the cursor cannot do that (scroll backwards).
pub use crate::sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE as NOT_IN_PREREQUISITE_STATE;

/// How many rows a `FETCH` or `MOVE` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchCount {
    /// The next `n` rows.
    Forward(u64),
    /// Every remaining row.
    All,
}

impl FetchCount {
    /// The count of a parsed `FETCH` direction; backward and absolute moves are refused.
    pub fn from_direction(direction: &FetchDirection) -> PgWireResult<FetchCount> {
        let number = |value: &Value| -> PgWireResult<u64> {
            match value {
                Value::Number(n, _) => n.parse::<u64>().map_err(|_| backward()),
                _ => Err(user_error(
                    FEATURE_NOT_SUPPORTED,
                    "FETCH count must be a number",
                )),
            }
        };
        Ok(match direction {
            FetchDirection::Next | FetchDirection::Forward { limit: None } => {
                FetchCount::Forward(1)
            }
            FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
                FetchCount::Forward(number(&limit.value)?)
            }
            FetchDirection::All | FetchDirection::ForwardAll => FetchCount::All,
            _ => return Err(backward()),
        })
    }
}

fn backward() -> pgwire::error::PgWireError {
    user_error(
        NOT_IN_PREREQUISITE_STATE,
        "cursor can only scan forward (Segmint cursors are NO SCROLL)",
    )
}

struct Cursor {
    stream: SendableRecordBatchStream,
    pending: Option<RecordBatch>,
    hold: bool,
}

/// The open cursors of one session.
#[derive(Default)]
pub struct Cursors {
    open: Mutex<HashMap<String, Cursor>>,
}

impl Cursors {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cursor>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens cursor `name` over a running query.
    pub fn declare(
        &self,
        name: &str,
        stream: SendableRecordBatchStream,
        hold: bool,
    ) -> PgWireResult<()> {
        let mut open = self.open();
        if open.contains_key(name) {
            return Err(user_error(
                DUPLICATE_CURSOR,
                format!("cursor \"{name}\" already exists"),
            ));
        }
        open.insert(
            name.to_string(),
            Cursor {
                stream,
                pending: None,
                hold,
            },
        );
        Ok(())
    }

    /// The result schema of cursor `name`.
    pub fn schema(&self, name: &str) -> PgWireResult<SchemaRef> {
        self.open()
            .get(name)
            .map(|cursor| cursor.stream.schema())
            .ok_or_else(|| missing(name))
    }

    /// The next rows of cursor `name` (fewer at the end, none past it).
    pub async fn fetch(&self, name: &str, count: FetchCount) -> PgWireResult<Vec<RecordBatch>> {
        // Take the cursor out while it reads so no lock is held across an await.
        let mut cursor = self.open().remove(name).ok_or_else(|| missing(name))?;
        let result = read(&mut cursor, count).await;
        self.open().insert(name.to_string(), cursor);
        result
    }

    /// Closes cursor `name`.
    pub fn close(&self, name: &str) -> PgWireResult<()> {
        self.open()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| missing(name))
    }

    /// Closes every cursor.
    pub fn close_all(&self) {
        self.open().clear();
    }

    /// Closes the cursors that end with the transaction (declared without `WITH HOLD`).
    pub fn end_transaction(&self) {
        self.open().retain(|_, cursor| cursor.hold);
    }
}

fn missing(name: &str) -> pgwire::error::PgWireError {
    user_error(
        INVALID_CURSOR_NAME,
        format!("cursor \"{name}\" does not exist"),
    )
}

async fn read(cursor: &mut Cursor, count: FetchCount) -> PgWireResult<Vec<RecordBatch>> {
    let mut wanted = match count {
        FetchCount::Forward(n) => n as usize,
        FetchCount::All => usize::MAX,
    };
    let mut batches = Vec::new();
    while wanted > 0 {
        let batch = match cursor.pending.take() {
            Some(batch) => batch,
            None => match cursor.stream.next().await {
                Some(batch) => batch.map_err(to_pg_error)?,
                None => break,
            },
        };
        if batch.num_rows() > wanted {
            batches.push(batch.slice(0, wanted));
            cursor.pending = Some(batch.slice(wanted, batch.num_rows() - wanted));
            wanted = 0;
        } else {
            wanted -= batch.num_rows();
            batches.push(batch);
        }
    }
    Ok(batches)
}
