//! SQL functions: `CREATE [OR REPLACE] FUNCTION name(args) RETURNS type LANGUAGE sql AS $$ expr $$`
//! (or `... RETURN expr`), so a shop can name a formula once and use it everywhere without a
//! rebuild. `DROP FUNCTION [IF EXISTS] name` forgets one.
//!
//! A function is one scalar expression over its arguments (by name or as `$1`, `$2`, ...). It
//! is planned when it is created, against the declared argument types: a body that does not
//! parse, calls an unknown function, or names anything but its arguments is refused then, not
//! at first use. A call is replaced by the body with the call's arguments in place
//! ([`ScalarUDFImpl::simplify`]), so the optimizer sees through it (filter pushdown, constant
//! folding); evaluating the planned body is only a fallback.
//!
//! DataFusion hands `CREATE FUNCTION` to the [`SqlFunctionFactory`] installed on the engine's
//! context ([`install`]). The functions live in one registry shared by every session
//! ([`SqlFunctions`]): a change reaches the engine's prototype context at once and each open
//! session before its next statement ([`SqlFunctions::sync`]). Over the wire, functions are
//! for administrators and saved like saved segments, one statement per file in
//! `<[catalog] dir>/functions/`, and replayed at start before the views
//! ([`SqlFunctions::restore_saved`]). A project's `sql/functions/*.sql` files are loaded at
//! start by [`load_function_files`].

use crate::sqlstate::{
    DUPLICATE_FUNCTION, FEATURE_NOT_SUPPORTED, INSUFFICIENT_PRIVILEGE, INVALID_FUNCTION_DEFINITION,
    INVALID_NAME, IO_ERROR, SYNTAX_ERROR, UNDEFINED_COLUMN, UNDEFINED_FUNCTION,
    UNDEFINED_PARAMETER,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, SchemaError};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionState;
use datafusion::execution::context::{FunctionFactory, RegisterFunction};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, CreateFunction, DdlStatement, Expr, ExprSchemable, LogicalPlan,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{
    self as ast, CreateFunctionBody, ExprWithAlias, FunctionCalledOnNull, Ident, SelectItem,
    SetExpr, Statement, Value, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::catalog::SavedCatalog;

/// The folder of `[catalog] dir` that holds saved functions.
pub const SAVED_FOLDER: &str = "functions";

/// Why a SQL function was refused; each case has the SQLSTATE PostgreSQL uses for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlFunctionError {
    /// The body does not parse.
    #[error("syntax error in the body of function {function}: {message}")]
    Syntax {
        /// The function being defined.
        function: String,
        /// What the parser said.
        message: String,
    },
    /// The body calls a function that does not exist.
    #[error("function {name} does not exist (called in the body of function {function})")]
    UndefinedFunction {
        /// The function being defined.
        function: String,
        /// The unknown function.
        name: String,
    },
    /// The body names something that is not one of the arguments.
    #[error(
        "column \"{column}\" does not exist: the body of function {function} can only use its \
         arguments{arguments}"
    )]
    UndefinedColumn {
        /// The function being defined.
        function: String,
        /// The unknown name.
        column: String,
        /// The argument names, as ` (a, b)`, or empty.
        arguments: String,
    },
    /// `$n` beyond the arguments, or `$name` of no argument.
    #[error("there is no parameter {parameter} in function {function}")]
    UndefinedParameter {
        /// The function being defined.
        function: String,
        /// The placeholder.
        parameter: String,
    },
    /// `CREATE FUNCTION` (without `OR REPLACE`) of a name that is taken.
    #[error("function {0} already exists (CREATE OR REPLACE FUNCTION replaces it)")]
    Exists(String),
    /// A function Segmint or DataFusion provides: it cannot be replaced or dropped.
    #[error("function {0} is built in and cannot be replaced or dropped")]
    BuiltIn(String),
    /// `DROP FUNCTION` of a name that is not a SQL function.
    #[error("function {0} does not exist")]
    Missing(String),
    /// Valid PostgreSQL that Segmint's SQL functions do not support.
    #[error("{0}")]
    Unsupported(String),
    /// The definition is inconsistent (the body's type cannot become the declared result).
    #[error("{0}")]
    InvalidDefinition(String),
    /// Not a plain lowercase identifier.
    #[error("{0}")]
    InvalidName(String),
    /// Saving or removing the statement in the catalog folder failed.
    #[error("{0}")]
    Storage(String),
}

impl SqlFunctionError {
    /// The PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            SqlFunctionError::Syntax { .. } => SYNTAX_ERROR,
            SqlFunctionError::UndefinedFunction { .. } | SqlFunctionError::Missing(_) => {
                UNDEFINED_FUNCTION
            }
            SqlFunctionError::UndefinedColumn { .. } => UNDEFINED_COLUMN,
            SqlFunctionError::UndefinedParameter { .. } => UNDEFINED_PARAMETER,
            SqlFunctionError::Exists(_) => DUPLICATE_FUNCTION,
            SqlFunctionError::BuiltIn(_) => INSUFFICIENT_PRIVILEGE,
            SqlFunctionError::Unsupported(_) => FEATURE_NOT_SUPPORTED,
            SqlFunctionError::InvalidDefinition(_) => INVALID_FUNCTION_DEFINITION,
            SqlFunctionError::InvalidName(_) => INVALID_NAME,
            SqlFunctionError::Storage(_) => IO_ERROR,
        }
    }

    /// The error as DataFusion carries it (the server finds the typed error again).
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

/// The typed SQL function error inside `error`, if that is what it is.
pub fn find_error(error: &DataFusionError) -> Option<&SqlFunctionError> {
    match error {
        DataFusionError::External(inner) => inner.downcast_ref::<SqlFunctionError>(),
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            find_error(inner)
        }
        DataFusionError::Shared(inner) => find_error(inner),
        _ => None,
    }
}

/// One argument of a SQL function.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Argument {
    /// Its name, when it has one (`amount numeric`); else it is only `$n`.
    pub name: Option<String>,
    /// Its declared type.
    pub data_type: DataType,
}

/// One SQL function as defined.
#[derive(Debug)]
pub struct SqlFunction {
    name: String,
    arguments: Vec<Argument>,
    return_type: DataType,
    source: String,
    volatility: Volatility,
    /// The planned body: argument `n` is the column `$n`, types already coerced, cast to the
    /// result type.
    body: Expr,
    /// Tells definitions of the same name apart.
    version: u64,
}

impl SqlFunction {
    /// The function name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared arguments.
    pub fn arguments(&self) -> &[Argument] {
        &self.arguments
    }

    /// The result type.
    pub fn return_type(&self) -> &DataType {
        &self.return_type
    }

    /// The body as written (PostgreSQL's `prosrc`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Immutable, stable or volatile: as declared, else that of the body.
    pub fn volatility(&self) -> Volatility {
        self.volatility
    }

    /// The body with `args` in place of the arguments.
    fn inline(&self, args: &[Expr]) -> Result<Expr> {
        self.body
            .clone()
            .transform_down(|expr| {
                let Expr::Column(column) = &expr else {
                    return Ok(Transformed::no(expr));
                };
                match argument_index(column).and_then(|i| args.get(i)) {
                    // The argument is the caller's expression: do not look inside it.
                    Some(arg) => Ok(Transformed::new(arg.clone(), true, TreeNodeRecursion::Jump)),
                    None => Ok(Transformed::no(expr)),
                }
            })
            .map(|t| t.data)
    }
}

/// The column standing for argument `n` (1-based) in a planned body.
fn argument_column(n: usize) -> String {
    format!("${n}")
}

/// The 0-based argument a planned body's column stands for.
fn argument_index(column: &Column) -> Option<usize> {
    if column.relation.is_some() {
        return None;
    }
    let n: usize = column.name.strip_prefix('$')?.parse().ok()?;
    n.checked_sub(1)
}

/// The scalar UDF serving one SQL function.
#[derive(Debug)]
struct SqlFunctionUdf {
    function: Arc<SqlFunction>,
    signature: Signature,
    /// The planned body over a batch of the arguments, when a call is not inlined.
    evaluator: Arc<dyn PhysicalExpr>,
    input_schema: SchemaRef,
}

impl PartialEq for SqlFunctionUdf {
    fn eq(&self, other: &Self) -> bool {
        self.function.name == other.function.name && self.function.version == other.function.version
    }
}

impl Eq for SqlFunctionUdf {}

impl Hash for SqlFunctionUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.function.name.hash(state);
        self.function.version.hash(state);
    }
}

impl ScalarUDFImpl for SqlFunctionUdf {
    fn name(&self) -> &str {
        &self.function.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.function.return_type.clone())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let declared = &self.function.arguments;
        let accepted = arg_types.len() == declared.len()
            && arg_types
                .iter()
                .zip(declared)
                .all(|(given, argument)| implicitly_casts(given, &argument.data_type));
        if accepted {
            Ok(declared.iter().map(|a| a.data_type.clone()).collect())
        } else {
            datafusion::common::plan_err!(
                "no function matches the given name and argument types: {}({}) takes ({})",
                self.function.name,
                arg_types
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                declared
                    .iter()
                    .map(|a| a.data_type.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if args.len() != self.function.arguments.len() {
            return Ok(ExprSimplifyResult::Original(args));
        }
        Ok(ExprSimplifyResult::Simplified(self.function.inline(&args)?))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let columns = args
            .args
            .iter()
            .zip(self.input_schema.fields())
            .map(|(value, field)| {
                let array = value.to_array(rows)?;
                if array.data_type() == field.data_type() {
                    Ok(array)
                } else {
                    Ok(datafusion::arrow::compute::cast(&array, field.data_type())?)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new_with_options(
            self.input_schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows)),
        )?;
        self.evaluator.evaluate(&batch)
    }
}

/// Whether a call may pass `given` where `declared` is expected, close to PostgreSQL's
/// implicit casts: numbers to decimals and floats, text to text, text literals to dates and
/// times. Integers of any width pass for integers and floats for decimals, because
/// DataFusion types the literals `5` and `0.25` as bigint and double (PostgreSQL: integer
/// and numeric); a value that does not fit fails the call.
fn implicitly_casts(given: &DataType, declared: &DataType) -> bool {
    use DataType::*;
    if given == declared || given.is_null() {
        return true;
    }
    if let Dictionary(_, value) = given {
        return implicitly_casts(value, declared);
    }
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let decimal = |t: &DataType| {
        matches!(
            t,
            Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..)
        )
    };
    let float = |t: &DataType| matches!(t, Float16 | Float32 | Float64);
    let integer = |t: &DataType| t.is_integer();
    let temporal = |t: &DataType| matches!(t, Date32 | Date64 | Timestamp(..));
    match (given, declared) {
        (g, d) if integer(g) && (integer(d) || decimal(d) || float(d)) => true,
        (g, d) if (decimal(g) || float(g)) && (decimal(d) || float(d)) => true,
        (g, d) if text(g) && text(d) => true,
        (g, d) if text(g) && (temporal(d) || matches!(d, Interval(_))) => true,
        (g, Timestamp(..)) if temporal(g) => true,
        _ => false,
    }
}

/// A registered SQL function.
#[derive(Debug, Clone)]
struct Entry {
    oid: i32,
    function: Arc<SqlFunction>,
    udf: Arc<ScalarUDF>,
}

#[derive(Debug, Default)]
struct Registry {
    entries: BTreeMap<String, Entry>,
    /// Names dropped since start (sessions that still have them forget them).
    removed: BTreeSet<String>,
    next_oid: i32,
}

/// Applies a change to the prototype context's state, if it is still there.
type PrototypeHook = Box<dyn Fn(&mut dyn FnMut(&mut SessionState)) + Send + Sync>;

/// First `pg_proc` oid of SQL functions (Segmint's built-in functions are below).
pub const FIRST_OID: i32 = 950_000;

/// Every SQL function of the engine, shared by all its sessions.
pub struct SqlFunctions {
    registry: RwLock<Registry>,
    /// `<[catalog] dir>/functions`, when there is a catalog folder.
    dir: Option<PathBuf>,
    /// The engine's prototype context, which new sessions are cloned from.
    prototype: OnceLock<PrototypeHook>,
}

impl std::fmt::Debug for SqlFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlFunctions")
            .field("functions", &self.names())
            .field("dir", &self.dir)
            .finish()
    }
}

/// Installs a new registry's [`SqlFunctionFactory`] on `ctx` (the engine's prototype), saving
/// functions created over the wire in `catalog_dir/functions` when there is a catalog folder.
pub fn install(ctx: &SessionContext, catalog_dir: Option<&std::path::Path>) -> Arc<SqlFunctions> {
    let functions = Arc::new(SqlFunctions {
        registry: RwLock::new(Registry {
            next_oid: FIRST_OID,
            ..Registry::default()
        }),
        dir: catalog_dir.map(|dir| dir.join(SAVED_FOLDER)),
        prototype: OnceLock::new(),
    });
    let state = ctx.state_weak_ref();
    let hook: PrototypeHook = Box::new(move |change| {
        if let Some(state) = state.upgrade() {
            change(&mut state.write());
        }
    });
    let _ = functions.prototype.set(hook);
    ctx.state_ref()
        .write()
        .set_function_factory(Arc::new(SqlFunctionFactory {
            functions: functions.clone(),
        }));
    functions
}

impl SqlFunctions {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn on_prototype(&self, mut change: impl FnMut(&mut SessionState)) {
        if let Some(hook) = self.prototype.get() {
            hook(&mut change);
        }
    }

    /// The names of every SQL function, in order.
    pub fn names(&self) -> Vec<String> {
        self.read().entries.keys().cloned().collect()
    }

    /// Every SQL function with its `pg_proc` oid, in name order.
    pub fn list(&self) -> Vec<(i32, Arc<SqlFunction>)> {
        self.read()
            .entries
            .values()
            .map(|e| (e.oid, e.function.clone()))
            .collect()
    }

    /// The SQL function with `pg_proc` oid `oid`.
    pub fn by_oid(&self, oid: i32) -> Option<Arc<SqlFunction>> {
        self.read()
            .entries
            .values()
            .find(|e| e.oid == oid)
            .map(|e| e.function.clone())
    }

    /// The SQL function called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<SqlFunction>> {
        self.read().entries.get(name).map(|e| e.function.clone())
    }

    /// Registers `udf` for every session, replacing a function of the same name when
    /// `or_replace` (and refusing otherwise). Returns the entry it replaced.
    fn insert(
        &self,
        function: Arc<SqlFunction>,
        udf: Arc<ScalarUDF>,
        or_replace: bool,
    ) -> std::result::Result<Option<Entry>, SqlFunctionError> {
        let previous = {
            let mut registry = self.write();
            let previous = registry.entries.get(&function.name).cloned();
            if previous.is_some() && !or_replace {
                return Err(SqlFunctionError::Exists(function.name.clone()));
            }
            let oid = match &previous {
                Some(entry) => entry.oid,
                None => {
                    registry.next_oid += 1;
                    registry.next_oid - 1
                }
            };
            registry.removed.remove(&function.name);
            registry.entries.insert(
                function.name.clone(),
                Entry {
                    oid,
                    function,
                    udf: udf.clone(),
                },
            );
            previous
        };
        self.on_prototype(|state| {
            let _ = state.register_udf(udf.clone());
        });
        Ok(previous)
    }

    /// Forgets `name` everywhere; returns its entry when it was a SQL function.
    fn remove(&self, name: &str) -> Option<Entry> {
        let removed = {
            let mut registry = self.write();
            let removed = registry.entries.remove(name);
            if removed.is_some() {
                registry.removed.insert(name.to_string());
            }
            removed
        };
        if removed.is_some() {
            self.on_prototype(|state| {
                let _ = state.deregister_udf(name);
            });
        }
        removed
    }

    /// Puts `previous` back in place of `name` (undoing a change that could not be saved).
    fn put_back(&self, ctx: &SessionContext, name: &str, previous: Option<Entry>) {
        match previous {
            Some(entry) => {
                let udf = entry.udf.clone();
                {
                    let mut registry = self.write();
                    registry.removed.remove(name);
                    registry.entries.insert(name.to_string(), entry);
                }
                self.on_prototype(|state| {
                    let _ = state.register_udf(udf.clone());
                });
            }
            None => {
                self.remove(name);
            }
        }
        self.sync(ctx);
    }

    /// Brings `ctx` (a session cloned from the prototype earlier) up to date: functions
    /// created or replaced since are registered, dropped ones deregistered. Cheap when
    /// nothing changed.
    pub fn sync(&self, ctx: &SessionContext) {
        let registry = self.read();
        let state = ctx.state_ref();
        let current = |state: &SessionState, entry: &Entry| {
            state
                .scalar_functions()
                .get(&entry.function.name)
                .and_then(|f| f.inner().downcast_ref::<SqlFunctionUdf>())
                .is_some_and(|f| f.function.version == entry.function.version)
        };
        let is_sql = |state: &SessionState, name: &str| {
            state
                .scalar_functions()
                .get(name)
                .is_some_and(|f| f.inner().is::<SqlFunctionUdf>())
        };
        let stale = {
            let state = state.read();
            registry.entries.values().any(|e| !current(&state, e))
                || registry.removed.iter().any(|name| is_sql(&state, name))
        };
        if !stale {
            return;
        }
        let mut state = state.write();
        for entry in registry.entries.values() {
            if !current(&state, entry) {
                let _ = state.register_udf(entry.udf.clone());
            }
        }
        for name in &registry.removed {
            if is_sql(&state, name) {
                let _ = state.deregister_udf(name);
            }
        }
    }

    /// `CREATE [OR REPLACE] FUNCTION` over the wire: planned and checked through the function
    /// factory, then saved as `sql` in the catalog folder, then served to every session. Call
    /// it as one catalog change.
    pub async fn create_saved(
        &self,
        ctx: &SessionContext,
        statement: &Statement,
        sql: &str,
    ) -> Result<()> {
        let (_, name) = normalize(statement.clone()).map_err(SqlFunctionError::into_datafusion)?;
        let previous = self.read().entries.get(&name).cloned();
        run_create(ctx, statement.clone(), false).await?;
        if let Err(error) = self.save(&name, sql) {
            self.put_back(ctx, &name, previous);
            return Err(error.into_datafusion());
        }
        tracing::info!(function = %name, "SQL function saved");
        Ok(())
    }

    /// `DROP FUNCTION [IF EXISTS] names` over the wire: each is forgotten by every session and
    /// its saved statement removed. Built-in functions cannot be dropped.
    pub fn drop_saved(
        &self,
        ctx: &SessionContext,
        names: &[String],
        if_exists: bool,
    ) -> std::result::Result<(), SqlFunctionError> {
        for name in names {
            if self.get(name).is_none() {
                if is_built_in(&ctx.state_ref().read(), name) {
                    return Err(SqlFunctionError::BuiltIn(name.clone()));
                }
                if if_exists {
                    continue;
                }
                return Err(SqlFunctionError::Missing(name.clone()));
            }
        }
        for name in names {
            if self.get(name).is_none() {
                continue;
            }
            if let Some(dir) = &self.dir
                && dir.exists()
            {
                SavedCatalog::open(dir)
                    .and_then(|saved| saved.remove(name))
                    .map_err(|e| SqlFunctionError::Storage(e.to_string()))?;
            }
            self.remove(name);
            tracing::info!(function = %name, "SQL function dropped");
        }
        self.sync(ctx);
        Ok(())
    }

    fn save(&self, name: &str, sql: &str) -> std::result::Result<(), SqlFunctionError> {
        let Some(dir) = &self.dir else {
            return Err(SqlFunctionError::Storage(
                "functions are saved in [catalog] dir, which is not set".to_string(),
            ));
        };
        let saved =
            SavedCatalog::open(dir).map_err(|e| SqlFunctionError::Storage(e.to_string()))?;
        saved
            .save(&crate::catalog::SavedObject {
                name: name.to_string(),
                sql: sql.to_string(),
                materialized: false,
            })
            .map_err(|e| SqlFunctionError::Storage(e.to_string()))
    }

    /// Replays the functions saved in the catalog folder into `ctx` (the prototype), before
    /// the views that may use them. A saved function replaces one of the same name (from the
    /// project's `sql/functions`); one that uses another is retried once that one exists.
    /// Returns the functions that could not be restored, with why.
    pub async fn restore_saved(&self, ctx: &SessionContext) -> Vec<(String, String)> {
        let Some(dir) = self.dir.as_ref().filter(|dir| dir.is_dir()) else {
            return vec![];
        };
        let objects = match SavedCatalog::open(dir) {
            Ok(saved) => saved.load(),
            Err(error) => return vec![(SAVED_FOLDER.to_string(), error.to_string())],
        };
        let statements = objects
            .into_iter()
            .map(|object| (format!("function {}", object.name), object.sql))
            .collect::<Vec<_>>();
        let failed = run_all(ctx, statements, true).await;
        for (name, error) in &failed {
            tracing::warn!(object = %name, %error, "saved function not restored");
        }
        failed
    }
}

/// Whether `name` is a function Segmint or DataFusion provides (not a SQL function).
fn is_built_in(state: &SessionState, name: &str) -> bool {
    let scalar = state
        .scalar_functions()
        .get(name)
        .is_some_and(|f| !f.inner().is::<SqlFunctionUdf>());
    scalar
        || state.aggregate_functions().contains_key(name)
        || state.window_functions().contains_key(name)
        || state.table_functions().contains_key(name)
}

/// Handles `CREATE FUNCTION` for DataFusion: plans and checks the body, registers the
/// function for every session of the engine.
#[derive(Debug)]
pub struct SqlFunctionFactory {
    functions: Arc<SqlFunctions>,
}

#[async_trait]
impl FunctionFactory for SqlFunctionFactory {
    async fn create(
        &self,
        state: &SessionState,
        statement: CreateFunction,
    ) -> Result<RegisterFunction> {
        let function = define(state, &statement).map_err(|e| match e {
            Defined::Refused(error) => error.into_datafusion(),
            Defined::Engine(error) => error,
        })?;
        let udf = function.udf.clone();
        self.functions
            .insert(function.function, function.udf, statement.or_replace)
            .map_err(SqlFunctionError::into_datafusion)?;
        Ok(RegisterFunction::Scalar(udf))
    }
}

/// What [`define`] could not do: a typed refusal, or the engine's own planning error.
#[derive(Debug)]
enum Defined {
    Refused(SqlFunctionError),
    Engine(DataFusionError),
}

impl From<SqlFunctionError> for Defined {
    fn from(error: SqlFunctionError) -> Self {
        Defined::Refused(error)
    }
}

impl From<DataFusionError> for Defined {
    fn from(error: DataFusionError) -> Self {
        match find_error(&error) {
            Some(typed) => Defined::Refused(typed.clone()),
            None => Defined::Engine(error),
        }
    }
}

struct DefinedFunction {
    function: Arc<SqlFunction>,
    udf: Arc<ScalarUDF>,
}

static VERSIONS: AtomicU64 = AtomicU64::new(1);

/// Plans a `CREATE FUNCTION`: the body against the declared argument types.
fn define(
    state: &SessionState,
    create: &CreateFunction,
) -> std::result::Result<DefinedFunction, Defined> {
    let name = create.name.to_ascii_lowercase();
    SavedCatalog::check_name(&name)
        .map_err(|e| SqlFunctionError::InvalidName(e.replace("name \"", "function name \"")))?;
    if create.temporary {
        return Err(SqlFunctionError::Unsupported(
            "temporary functions are not supported: CREATE FUNCTION defines a function for \
             everyone"
                .to_string(),
        )
        .into());
    }
    if let Some(language) = &create.params.language
        && !language.value.eq_ignore_ascii_case("sql")
    {
        return Err(SqlFunctionError::Unsupported(format!(
            "language {} is not supported: functions are LANGUAGE sql, one expression",
            language.value
        ))
        .into());
    }
    if is_built_in(state, &name) {
        return Err(SqlFunctionError::BuiltIn(name).into());
    }
    let mut arguments = Vec::new();
    for argument in create.args.iter().flatten() {
        if argument.default_expr.is_some() {
            return Err(SqlFunctionError::Unsupported(format!(
                "function {name}: DEFAULT values of arguments are not supported"
            ))
            .into());
        }
        arguments.push(Argument {
            name: argument.name.as_ref().map(normalized),
            data_type: argument.data_type.clone(),
        });
    }
    let body = match &create.params.function_body {
        None => {
            return Err(SqlFunctionError::InvalidDefinition(format!(
                "function {name} has no body: add AS $$ expression $$ or RETURN expression"
            ))
            .into());
        }
        // `AS 'text'` (always LANGUAGE sql here): the body is SQL text.
        Some(Expr::Literal(value, _)) if create.params.language.is_some() => {
            match value.try_as_str().flatten() {
                Some(text) => Body::Text(text.to_string()),
                None => Body::Planned(create.params.function_body.clone().unwrap_or_default()),
            }
        }
        // `RETURN expr`, planned by DataFusion already.
        Some(expr) => Body::Planned(expr.clone()),
    };
    let source = match &body {
        Body::Text(text) => text.trim().to_string(),
        Body::Planned(expr) => expr.to_string(),
    };
    let expr = match body {
        Body::Text(text) => plan_text(state, &name, &arguments, &text)?,
        Body::Planned(expr) => expr,
    };
    let expr = canonical(&name, &arguments, expr)?;
    check_scalar(&name, &expr)?;

    let input = Arc::new(Schema::new(
        arguments
            .iter()
            .enumerate()
            .map(|(i, a)| Field::new(argument_column(i + 1), a.data_type.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let schema = Arc::new(DFSchema::try_from(input.as_ref().clone())?);
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_schema(schema.clone())
            .with_config_options(state.config_options().clone())
            .build(),
    );
    let mut expr = simplifier.coerce(expr, &schema)?;
    for rewrite in state.analyzer().function_rewrites() {
        expr = expr
            .transform_up(|e| rewrite.rewrite(e, &schema, state.config_options()))?
            .data;
    }
    let body_type = expr.get_type(&schema)?;
    let return_type = create.return_type.clone().unwrap_or(body_type.clone());
    if body_type != return_type {
        if !can_cast_types(&body_type, &return_type) {
            return Err(SqlFunctionError::InvalidDefinition(format!(
                "return type mismatch in function {name}: declared to return {return_type}, \
                 the body is {body_type}"
            ))
            .into());
        }
        expr = Expr::Cast(Cast::new(Box::new(expr), return_type.clone()));
    }
    // Physical planning checks what is left (argument types of the functions called).
    let evaluator = state.create_physical_expr(expr.clone(), &schema)?;
    let volatility = create
        .params
        .behavior
        .unwrap_or_else(|| volatility_of(&expr));
    let function = Arc::new(SqlFunction {
        name,
        arguments,
        return_type,
        source,
        volatility,
        body: expr,
        version: VERSIONS.fetch_add(1, Ordering::Relaxed),
    });
    let udf = Arc::new(ScalarUDF::new_from_impl(SqlFunctionUdf {
        function: function.clone(),
        signature: Signature::user_defined(volatility),
        evaluator,
        input_schema: input,
    }));
    Ok(DefinedFunction { function, udf })
}

enum Body {
    Text(String),
    Planned(Expr),
}

fn normalized(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

/// Parses and plans a body written as SQL text: one expression, or `SELECT expression`.
fn plan_text(
    state: &SessionState,
    function: &str,
    arguments: &[Argument],
    text: &str,
) -> std::result::Result<Expr, Defined> {
    let sql_expr = parse_body(function, text)?;
    // Named arguments resolve as columns of this schema; `$n` stays a placeholder.
    let naming = DFSchema::try_from(Schema::new(
        arguments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Field::new(
                    a.name.clone().unwrap_or_else(|| argument_column(i + 1)),
                    a.data_type.clone(),
                    true,
                )
            })
            .collect::<Vec<_>>(),
    ))?;
    state
        .create_logical_expr_from_sql_expr(
            ExprWithAlias {
                expr: sql_expr.clone(),
                alias: None,
            },
            &naming,
        )
        .map_err(|error| {
            if let Some(name) = unknown_function(state, &sql_expr) {
                return Defined::Refused(SqlFunctionError::UndefinedFunction {
                    function: function.to_string(),
                    name,
                });
            }
            match error.find_root() {
                DataFusionError::SchemaError(schema_error, _) => match schema_error.as_ref() {
                    SchemaError::FieldNotFound { field, .. } => {
                        Defined::Refused(undefined_column(function, arguments, field.flat_name()))
                    }
                    _ => Defined::from(error),
                },
                _ => Defined::from(error),
            }
        })
}

/// The expression of a body: `expr` or `SELECT expr` (no FROM, one column).
fn parse_body(function: &str, text: &str) -> std::result::Result<ast::Expr, SqlFunctionError> {
    let syntax = |message: String| SqlFunctionError::Syntax {
        function: function.to_string(),
        message: message.trim_start_matches("sql parser error: ").to_string(),
    };
    let text = text.trim().trim_end_matches(';').trim();
    if text.is_empty() {
        return Err(syntax("the body is empty".to_string()));
    }
    let dialect = PostgreSqlDialect {};
    let starts_with_select = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("select"));
    if starts_with_select {
        let mut statements =
            Parser::parse_sql(&dialect, text).map_err(|e| syntax(e.to_string()))?;
        let not_scalar = || {
            SqlFunctionError::Unsupported(format!(
                "the body of function {function} must be one expression (or SELECT of one \
                 expression without FROM): SQL functions do not read tables"
            ))
        };
        let (Some(Statement::Query(query)), true) = (statements.pop(), statements.is_empty())
        else {
            return Err(not_scalar());
        };
        let plain = query.with.is_none()
            && query.order_by.is_none()
            && query.limit_clause.is_none()
            && query.fetch.is_none();
        let SetExpr::Select(select) = *query.body else {
            return Err(not_scalar());
        };
        let simple = plain
            && select.from.is_empty()
            && select.selection.is_none()
            && select.having.is_none()
            && select.distinct.is_none()
            && select.projection.len() == 1;
        match select.projection.into_iter().next() {
            Some(SelectItem::UnnamedExpr(expr)) | Some(SelectItem::ExprWithAlias { expr, .. })
                if simple =>
            {
                Ok(expr)
            }
            _ => Err(not_scalar()),
        }
    } else {
        let mut parser = Parser::new(&dialect)
            .try_with_sql(text)
            .map_err(|e| syntax(e.to_string()))?;
        let expr = parser.parse_expr().map_err(|e| syntax(e.to_string()))?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(syntax(format!(
                "expected the end of the expression, found {}",
                next.token
            )));
        }
        Ok(expr)
    }
}

/// The first function `expr` calls that `state` does not know, if any.
fn unknown_function(state: &SessionState, expr: &ast::Expr) -> Option<String> {
    struct Calls(Vec<String>);
    impl Visitor for Calls {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &ast::Expr) -> std::ops::ControlFlow<()> {
            if let ast::Expr::Function(function) = expr
                && let Some(part) = function.name.0.last()
                && let Some(ident) = part.as_ident()
            {
                self.0.push(normalized(ident));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut calls = Calls(Vec::new());
    let _ = expr.visit(&mut calls);
    calls.0.into_iter().find(|name| {
        !state.scalar_functions().contains_key(name)
            && !state.aggregate_functions().contains_key(name)
            && !state.window_functions().contains_key(name)
    })
}

/// The body with argument `n` as the column `$n`, whichever way it was written; refuses
/// any other name.
fn canonical(
    function: &str,
    arguments: &[Argument],
    expr: Expr,
) -> std::result::Result<Expr, SqlFunctionError> {
    let by_name: HashMap<&str, usize> = arguments
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.name.as_deref().map(|n| (n, i)))
        .collect();
    let mut refused = None;
    let expr = expr
        .transform_up(|e| {
            let index = match &e {
                Expr::Column(column) if column.relation.is_none() => by_name
                    .get(column.name.as_str())
                    .copied()
                    .or_else(|| argument_index(column).filter(|i| *i < arguments.len())),
                Expr::Placeholder(placeholder) => {
                    let id = placeholder.id.trim_start_matches('$');
                    let index = match id.parse::<usize>() {
                        Ok(n) => n.checked_sub(1).filter(|i| *i < arguments.len()),
                        Err(_) => by_name.get(id).copied(),
                    };
                    if index.is_none() && refused.is_none() {
                        refused = Some(SqlFunctionError::UndefinedParameter {
                            function: function.to_string(),
                            parameter: placeholder.id.clone(),
                        });
                    }
                    index
                }
                _ => None,
            };
            match (index, &e) {
                (Some(i), _) => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                    argument_column(i + 1),
                )))),
                (None, Expr::Column(column)) => {
                    if refused.is_none() {
                        refused = Some(undefined_column(function, arguments, column.flat_name()));
                    }
                    Ok(Transformed::no(e))
                }
                _ => Ok(Transformed::no(e)),
            }
        })
        .map(|t| t.data);
    match (refused, expr) {
        (Some(error), _) => Err(error),
        (None, Ok(expr)) => Ok(expr),
        (None, Err(error)) => Err(SqlFunctionError::InvalidDefinition(error.to_string())),
    }
}

fn undefined_column(function: &str, arguments: &[Argument], column: String) -> SqlFunctionError {
    let names: Vec<String> = arguments.iter().filter_map(|a| a.name.clone()).collect();
    SqlFunctionError::UndefinedColumn {
        function: function.to_string(),
        column,
        arguments: if names.is_empty() {
            String::new()
        } else {
            format!(" ({})", names.join(", "))
        },
    }
}

/// Refuses bodies that are not scalar: aggregates, window functions, subqueries.
fn check_scalar(function: &str, expr: &Expr) -> std::result::Result<(), SqlFunctionError> {
    let mut what = None;
    let _ = expr.apply(|e| {
        what = match e {
            Expr::AggregateFunction(_) => Some("aggregate functions"),
            Expr::WindowFunction(_) => Some("window functions"),
            Expr::ScalarSubquery(_)
            | Expr::Exists(_)
            | Expr::InSubquery(_)
            | Expr::SetComparison(_)
            | Expr::OuterReferenceColumn(..) => Some("subqueries"),
            Expr::Unnest(_) => Some("UNNEST"),
            Expr::GroupingSet(_) => Some("grouping sets"),
            _ => None,
        };
        Ok(if what.is_some() {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    match what {
        Some(what) => Err(SqlFunctionError::Unsupported(format!(
            "the body of function {function} uses {what}: SQL functions are one scalar \
             expression over their arguments"
        ))),
        None => Ok(()),
    }
}

/// The most volatile function a body calls.
fn volatility_of(expr: &Expr) -> Volatility {
    let rank = |v: Volatility| match v {
        Volatility::Immutable => 0,
        Volatility::Stable => 1,
        Volatility::Volatile => 2,
    };
    let mut volatility = Volatility::Immutable;
    let _ = expr.apply(|e| {
        if let Expr::ScalarFunction(f) = e {
            let v = f.func.signature().volatility;
            if rank(v) > rank(volatility) {
                volatility = v;
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    volatility
}

/// Rewrites a `CREATE FUNCTION` so every body reaches the factory as SQL text: `RETURN expr`
/// becomes `LANGUAGE sql AS 'expr'`. Refuses what a SQL function here cannot honour.
/// Returns the statement and the function name.
fn normalize(statement: Statement) -> std::result::Result<(Statement, String), SqlFunctionError> {
    let Statement::CreateFunction(mut create) = statement else {
        return Err(SqlFunctionError::Unsupported(
            "only CREATE FUNCTION statements are allowed here".to_string(),
        ));
    };
    let ident = create.name.0.last().and_then(|part| part.as_ident());
    let name = ident
        .map(|ident| ident.value.to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(ident) = ident
        && ident.quote_style.is_some()
        && ident.value != name
    {
        return Err(SqlFunctionError::InvalidName(format!(
            "function name \"{}\" must be a lowercase identifier (a-z, 0-9, _)",
            ident.value
        )));
    }
    if matches!(
        create.called_on_null,
        Some(FunctionCalledOnNull::Strict | FunctionCalledOnNull::ReturnsNullOnNullInput)
    ) {
        return Err(SqlFunctionError::Unsupported(format!(
            "function {name}: STRICT (RETURNS NULL ON NULL INPUT) is not supported; write \
             the NULL handling in the body"
        )));
    }
    if !create.set_params.is_empty() {
        return Err(SqlFunctionError::Unsupported(format!(
            "function {name}: SET clauses are not supported"
        )));
    }
    if create.or_alter || create.if_not_exists {
        return Err(SqlFunctionError::Unsupported(format!(
            "function {name}: use CREATE [OR REPLACE] FUNCTION"
        )));
    }
    if let Some(CreateFunctionBody::Return(expr)) = &create.function_body {
        create.function_body = Some(CreateFunctionBody::AsBeforeOptions {
            body: ast::Expr::value(Value::SingleQuotedString(expr.to_string())),
            link_symbol: None,
        });
        if create.language.is_none() {
            create.language = Some(Ident::new("sql"));
        }
    }
    if let Some(CreateFunctionBody::AsBeforeOptions {
        link_symbol: Some(_),
        ..
    }) = &create.function_body
    {
        return Err(SqlFunctionError::Unsupported(format!(
            "function {name}: AS 'file', 'symbol' is for C functions"
        )));
    }
    if create.function_body.is_some() && create.language.is_none() {
        return Err(SqlFunctionError::InvalidDefinition(format!(
            "function {name}: no language specified (add LANGUAGE sql)"
        )));
    }
    Ok((Statement::CreateFunction(create), name))
}

/// Runs one `CREATE FUNCTION` statement in `ctx` through the function factory (`replace`
/// forces `OR REPLACE`). Returns the function name.
async fn run_create(ctx: &SessionContext, statement: Statement, replace: bool) -> Result<String> {
    let (statement, name) = normalize(statement).map_err(SqlFunctionError::into_datafusion)?;
    let mut plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(statement)))
        .await?;
    match &mut plan {
        LogicalPlan::Ddl(DdlStatement::CreateFunction(create)) => {
            create.or_replace |= replace;
        }
        _ => {
            return Err(SqlFunctionError::Unsupported(
                "only CREATE FUNCTION statements are allowed here".to_string(),
            )
            .into_datafusion());
        }
    }
    ctx.execute_logical_plan(plan).await?;
    Ok(name)
}

/// Runs labelled `CREATE FUNCTION` statements in order; a statement that fails is retried
/// after the others (it may use a function defined later) until no more succeed. Returns
/// the labels of those that failed, with why.
async fn run_all(
    ctx: &SessionContext,
    statements: Vec<(String, String)>,
    replace: bool,
) -> Vec<(String, String)> {
    let mut waiting: Vec<(String, Statement)> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    for (label, sql) in statements {
        match Parser::parse_sql(&PostgreSqlDialect {}, &sql) {
            Ok(parsed) => waiting.extend(parsed.into_iter().map(|s| (label.clone(), s))),
            Err(error) => failed.push((label, format!("syntax error: {error}"))),
        }
    }
    loop {
        let before = waiting.len();
        let mut errors = Vec::new();
        for (label, statement) in std::mem::take(&mut waiting) {
            if let Err(error) = run_create(ctx, statement.clone(), replace).await {
                errors.push((label.clone(), message(&error)));
                waiting.push((label, statement));
            }
        }
        if waiting.is_empty() || waiting.len() == before {
            failed.extend(errors);
            break;
        }
    }
    failed
}

/// The message of an error, without DataFusion's wrapping.
fn message(error: &DataFusionError) -> String {
    match find_error(error) {
        Some(typed) => typed.to_string(),
        None => match error.find_root() {
            DataFusionError::Plan(m) | DataFusionError::Execution(m) => m.clone(),
            other => other.to_string(),
        },
    }
}

/// Runs the `CREATE FUNCTION` statements of project files (`sql/functions/*.sql`: file name,
/// text; several statements per file, separated by `;`) in `ctx`, the engine's context at
/// start. Returns each file with what went wrong in it (`None`: every function was created).
/// A function that uses one defined later (in the same or another file) is created after it.
pub async fn load_function_files(
    ctx: &SessionContext,
    files: &[(String, String)],
) -> Vec<(String, Option<String>)> {
    let failed = run_all(ctx, files.to_vec(), false).await;
    files
        .iter()
        .map(|(file, _)| {
            let errors: Vec<&str> = failed
                .iter()
                .filter(|(label, _)| label == file)
                .map(|(_, error)| error.as_str())
                .collect();
            if errors.is_empty() {
                (file.clone(), None)
            } else {
                let error = errors.join("; ");
                tracing::warn!(%file, %error, "function file not fully loaded");
                (file.clone(), Some(error))
            }
        })
        .collect()
}

/// The names a `DROP FUNCTION` statement drops, lowercased as PostgreSQL folds them.
pub fn drop_names(drop: &ast::DropFunction) -> Vec<String> {
    drop.func_desc
        .iter()
        .filter_map(|desc| {
            desc.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|ident| ident.value.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;

    async fn context() -> (SessionContext, Arc<SqlFunctions>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("dir");
        let ctx = SessionContext::new();
        let functions = install(&ctx, Some(dir.path()));
        ctx.sql("CREATE TABLE orders (net_amount DOUBLE, channel VARCHAR) AS VALUES (100.0, 'web'), (NULL, 'app')")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("create");
        (ctx, functions, dir)
    }

    async fn float(ctx: &SessionContext, sql: &str) -> Option<f64> {
        let batches = ctx.sql(sql).await.expect(sql).collect().await.expect(sql);
        let column = batches[0].column(0);
        let column = datafusion::arrow::compute::cast(column, &DataType::Float64).expect("cast");
        let values = column.as_primitive::<Float64Type>();
        values.is_valid(0).then(|| values.value(0))
    }

    /// Runs `CREATE FUNCTION` as the server does (RETURN bodies as text).
    async fn create(ctx: &SessionContext, sql: &str) -> Result<String> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        run_create(ctx, statement, false).await
    }

    async fn refused(ctx: &SessionContext, sql: &str) -> SqlFunctionError {
        let error = create(ctx, sql).await.expect_err(sql);
        find_error(&error)
            .cloned()
            .unwrap_or_else(|| panic!("{sql}: not a typed error: {error}"))
    }

    #[tokio::test]
    async fn bodies_are_inlined_with_named_and_positional_arguments() {
        let (ctx, functions, _dir) = context().await;
        ctx.sql(
            "CREATE FUNCTION net_of_vat(amount double precision, rate double precision) \
             RETURNS double precision LANGUAGE sql AS $$ amount / (1 + rate) $$",
        )
        .await
        .expect("create")
        .collect()
        .await
        .expect("run");
        ctx.sql("CREATE FUNCTION twice(double precision) RETURNS double precision RETURN $1 * 2")
            .await
            .expect("create")
            .collect()
            .await
            .expect("run");
        create(
            &ctx,
            "CREATE FUNCTION half(x int) RETURNS numeric LANGUAGE sql AS 'SELECT x / 2.0'",
        )
        .await
        .expect("create");
        create(
            &ctx,
            "CREATE FUNCTION label(c text) RETURNS text RETURN upper(c) || '!'",
        )
        .await
        .expect("create");
        assert_eq!(
            float(
                &ctx,
                "SELECT net_of_vat(net_amount, 0.25) FROM orders LIMIT 1"
            )
            .await,
            Some(80.0)
        );
        assert_eq!(float(&ctx, "SELECT twice(twice(3))").await, Some(12.0));
        assert_eq!(float(&ctx, "SELECT half(5)").await, Some(2.5));
        assert_eq!(
            float(
                &ctx,
                "SELECT twice(net_amount) FROM orders WHERE channel = 'app'"
            )
            .await,
            None
        );
        // The optimizer sees the body, not a call.
        let plan = ctx
            .sql("EXPLAIN SELECT twice(net_amount) FROM orders")
            .await
            .expect("explain")
            .collect()
            .await
            .expect("run");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
            .expect("format")
            .to_string();
        assert!(
            text.contains("net_amount * Float64(2) AS twice(orders.net_amount)"),
            "inlined:\n{text}"
        );
        let batches = ctx
            .sql("SELECT label(channel) FROM orders ORDER BY 1")
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let labels =
            datafusion::arrow::compute::cast(batches[0].column(0), &DataType::Utf8).expect("cast");
        assert_eq!(labels.as_string::<i32>().value(0), "APP!");
        assert_eq!(
            functions.names(),
            vec!["half", "label", "net_of_vat", "twice"]
        );
        assert_eq!(
            functions.get("label").expect("listed").source(),
            "upper(c) || '!'"
        );
        let twice = functions.get("twice").expect("listed");
        // Planned by DataFusion (RETURN through ctx.sql): shown as DataFusion writes it.
        assert_eq!(twice.source(), "$1 * Int64(2)");
        assert_eq!(twice.volatility(), Volatility::Immutable);
    }

    #[tokio::test]
    async fn calls_that_are_not_inlined_evaluate_the_body() {
        let (ctx, _functions, _dir) = context().await;
        create(
            &ctx,
            "CREATE FUNCTION net_of_vat(amount double precision, rate double precision) \
             RETURNS numeric LANGUAGE sql AS $$ SELECT amount / (1 + rate) $$",
        )
        .await
        .expect("create");
        // Without the optimizer the call is not replaced by the body: the UDF evaluates it.
        let unoptimized = SessionContext::new_with_state(ctx.state());
        unoptimized
            .sql("SET datafusion.optimizer.max_passes = 0")
            .await
            .expect("set")
            .collect()
            .await
            .expect("run");
        let plan = unoptimized
            .sql("EXPLAIN SELECT net_of_vat(net_amount, 0.25) FROM orders")
            .await
            .expect("explain")
            .collect()
            .await
            .expect("run");
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)
            .expect("format")
            .to_string();
        assert!(text.contains("net_of_vat(net_amount"), "called:\n{text}");
        assert_eq!(
            float(
                &unoptimized,
                "SELECT net_of_vat(net_amount, 0.25) FROM orders ORDER BY 1 LIMIT 1"
            )
            .await,
            Some(80.0)
        );
    }

    #[tokio::test]
    async fn bad_bodies_are_refused_when_created() {
        let (ctx, functions, _dir) = context().await;
        let cases = [
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ x + $$",
                "42601",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ no_such_fn(x) $$",
                "42883",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ x + net_amount $$",
                "42703",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ $2 $$",
                "42P02",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ SELECT x FROM orders $$",
                "0A000",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql AS $$ sum(x) $$",
                "0A000",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int LANGUAGE python AS $$ x $$",
                "0A000",
            ),
            (
                "CREATE FUNCTION abs(x int) RETURNS int LANGUAGE sql AS $$ x $$",
                "42501",
            ),
            (
                "CREATE FUNCTION \"Big\"(x int) RETURNS int LANGUAGE sql AS $$ x $$",
                "42602",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS int STRICT LANGUAGE sql AS $$ x $$",
                "0A000",
            ),
            (
                "CREATE FUNCTION f(x int) RETURNS date LANGUAGE sql AS $$ x > 1 $$",
                "42P13",
            ),
        ];
        for (sql, code) in cases {
            let error = refused(&ctx, sql).await;
            assert_eq!(error.sqlstate(), code, "{sql}: {error}");
        }
        assert!(functions.names().is_empty(), "nothing was created");
    }

    #[tokio::test]
    async fn replacing_needs_or_replace_and_reaches_other_sessions() {
        let (ctx, functions, _dir) = context().await;
        let other = SessionContext::new_with_state(ctx.state());
        create(
            &ctx,
            "CREATE FUNCTION bonus(x double precision) RETURNS double precision RETURN x + 1",
        )
        .await
        .expect("create");
        let error = refused(
            &ctx,
            "CREATE FUNCTION bonus(x double precision) RETURNS double precision RETURN x + 2",
        )
        .await;
        assert_eq!(error.sqlstate(), "42723");
        create(
            &ctx,
            "CREATE OR REPLACE FUNCTION bonus(x double precision) RETURNS double precision \
             RETURN x + 2",
        )
        .await
        .expect("replace");
        assert_eq!(float(&ctx, "SELECT bonus(1)").await, Some(3.0));
        // A session cloned before the function existed sees it once synced.
        assert!(other.sql("SELECT bonus(1)").await.is_err());
        functions.sync(&other);
        assert_eq!(float(&other, "SELECT bonus(1)").await, Some(3.0));
        // Sessions cloned from the prototype now have it from the start.
        let later = SessionContext::new_with_state(ctx.state());
        assert_eq!(float(&later, "SELECT bonus(1)").await, Some(3.0));
        let stale = SessionContext::new();
        functions.sync(&stale);
        assert_eq!(float(&stale, "SELECT bonus(1)").await, Some(3.0));
        functions
            .drop_saved(&ctx, &["bonus".to_string()], false)
            .expect("drop");
        functions.sync(&stale);
        assert!(stale.sql("SELECT bonus(1)").await.is_err(), "dropped");
        assert_eq!(
            functions
                .drop_saved(&ctx, &["bonus".to_string()], false)
                .expect_err("gone")
                .sqlstate(),
            "42883"
        );
        functions
            .drop_saved(&ctx, &["bonus".to_string()], true)
            .expect("IF EXISTS");
        assert_eq!(
            functions
                .drop_saved(&ctx, &["abs".to_string()], true)
                .expect_err("built in")
                .sqlstate(),
            "42501"
        );
    }

    #[tokio::test]
    async fn saved_functions_are_restored_and_files_loaded_in_dependency_order() {
        let (ctx, functions, dir) = context().await;
        let sql = "CREATE FUNCTION plus_one(x int) RETURNS int LANGUAGE sql AS $$ x + 1 $$";
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        functions
            .create_saved(&ctx, &statement, sql)
            .await
            .expect("create and save");
        assert!(dir.path().join("functions/plus_one.sql").exists());

        let restarted = SessionContext::new();
        let again = install(&restarted, Some(dir.path()));
        let files = vec![
            (
                "a.sql".to_string(),
                "CREATE FUNCTION plus_three(x int) RETURNS int RETURN plus_two(x) + 1;\n\
                 CREATE FUNCTION plus_one(x int) RETURNS int RETURN x + 100;"
                    .to_string(),
            ),
            (
                "b.sql".to_string(),
                "CREATE FUNCTION plus_two(x int) RETURNS int LANGUAGE sql AS $$ x + 2 $$"
                    .to_string(),
            ),
            ("c.sql".to_string(), "CREATE FUNCTION broken(".to_string()),
        ];
        let loaded = load_function_files(&restarted, &files).await;
        assert_eq!(loaded[0], ("a.sql".to_string(), None));
        assert_eq!(loaded[1], ("b.sql".to_string(), None));
        assert!(loaded[2].1.is_some(), "{loaded:?}");
        assert!(again.restore_saved(&restarted).await.is_empty());
        assert_eq!(float(&restarted, "SELECT plus_three(1)").await, Some(4.0));
        assert_eq!(
            float(&restarted, "SELECT plus_one(1)").await,
            Some(2.0),
            "the saved definition replaces the project's"
        );

        functions
            .drop_saved(&ctx, &["plus_one".to_string()], false)
            .expect("drop");
        assert!(!dir.path().join("functions/plus_one.sql").exists());
    }

    #[test]
    fn implicit_casts_follow_postgresql() {
        assert!(implicitly_casts(&DataType::Int32, &DataType::Int64));
        assert!(implicitly_casts(
            &DataType::Decimal128(12, 2),
            &DataType::Decimal128(38, 10)
        ));
        assert!(implicitly_casts(
            &DataType::Int64,
            &DataType::Decimal128(38, 10)
        ));
        assert!(implicitly_casts(&DataType::Utf8, &DataType::Date32));
        assert!(implicitly_casts(&DataType::Int64, &DataType::Int32));
        assert!(implicitly_casts(
            &DataType::Float64,
            &DataType::Decimal128(38, 10)
        ));
        assert!(!implicitly_casts(&DataType::Float64, &DataType::Int64));
        assert!(!implicitly_casts(
            &DataType::Decimal128(12, 2),
            &DataType::Int64
        ));
        assert!(!implicitly_casts(&DataType::Utf8, &DataType::Int64));
    }
}
