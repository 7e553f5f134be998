//! A statement as either protocol keeps it between parsing and running: planned queries,
//! queries planned again at each execution, session commands, cursors, `COPY`, DDL and
//! `RUN REPORT`. The plan cache holds these, the handler runs them.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement;
use pgwire::error::PgWireResult;

use super::copy::CopyOut;
use super::cursors::FetchCount;
use super::ddl::CatalogChange;
use super::run_report::RunReport;
use super::sqlstate::to_pg_error;
use super::statement::SessionCommand;

/// A statement planned and ready for the planner's output to be bound and run.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The logical plan; parameters are still placeholders.
    pub plan: LogicalPlan,
    /// The result column names the client sees, when they differ from the plan's.
    pub columns: Option<Vec<String>>,
}

/// A statement whose table-function arguments are parameters: planned again at each Execute.
#[derive(Debug, Clone)]
pub struct DeferredQuery {
    /// The statement with its parameters still in the table-function arguments.
    pub statement: Statement,
    /// Its form before the compatibility rewrites (names result columns).
    pub original: Option<Statement>,
    /// The parameter numbers in table-function arguments and their types.
    pub table_params: BTreeMap<usize, DataType>,
    /// The statement planned with placeholder values, for its parameter and result types.
    pub probe: Planned,
}

impl DeferredQuery {
    /// The types of all parameters: table-function arguments take the function's argument
    /// types, the others what DataFusion inferred from the probe plan.
    pub fn parameter_types(&self) -> PgWireResult<Vec<Option<DataType>>> {
        let mut types = parameter_types(&self.probe.plan)?;
        let count = self.table_params.keys().max().copied().unwrap_or(0);
        if types.len() < count {
            types.resize(count, None);
        }
        for (number, data_type) in &self.table_params {
            types[number - 1] = Some(data_type.clone());
        }
        Ok(types)
    }
}

/// A statement of the extended protocol: its text (for the query log) and what running it
/// means.
#[derive(Debug, Clone)]
pub struct ParsedStatement {
    /// The SQL as the client sent it.
    pub sql: Arc<str>,
    /// What running it means.
    pub prepared: Prepared,
}

/// A statement prepared for either protocol.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// `RUN REPORT`: administrators only.
    RunReport(RunReport),
    /// A session command, answered without the engine.
    Command(SessionCommand),
    /// A planned query or statement.
    Query(Box<Planned>),
    /// A query with parameters in table-function arguments.
    Deferred(Box<DeferredQuery>),
    /// `COPY ... TO STDOUT`.
    Copy(Box<CopyOut>, Box<Planned>),
    /// `DECLARE name CURSOR FOR query`.
    Declare {
        /// The cursor name.
        name: String,
        /// Whether it outlives the transaction (`WITH HOLD`).
        hold: bool,
        /// The cursor's query.
        query: Box<Planned>,
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
    /// DDL and `REFRESH DATASET`, run by the catalog.
    Catalog(Box<CatalogChange>),
}

/// Parameter types by position (`$1` first), as far as DataFusion could infer them.
pub fn parameter_types(plan: &LogicalPlan) -> PgWireResult<Vec<Option<DataType>>> {
    let types = plan.get_parameter_types().map_err(to_pg_error)?;
    let mut ordered: Vec<(usize, Option<DataType>)> = types
        .into_iter()
        .filter_map(|(id, t)| {
            id.trim_start_matches('$')
                .parse::<usize>()
                .ok()
                .map(|n| (n, t))
        })
        .collect();
    ordered.sort_by_key(|(n, _)| *n);
    let count = ordered.last().map_or(0, |(n, _)| *n);
    let mut result = vec![None; count];
    for (n, t) in ordered {
        if n >= 1 {
            result[n - 1] = t;
        }
    }
    Ok(result)
}
