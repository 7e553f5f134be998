//! Per-session SQL functions over the connection's PostgreSQL variables: `current_setting()`
//! and `set_config()`, which drivers and BI tools (Grafana, pgAdmin, SQLAlchemy) call to read
//! `search_path`, `server_version_num` or `TimeZone`, and to set variables in a query.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::SessionContext;

use super::variables::SessionVariables;

/// Registers the session functions in a connection's context.
pub fn register(ctx: &SessionContext, variables: Arc<Mutex<SessionVariables>>) {
    ctx.register_udf(ScalarUDF::new_from_impl(CurrentSetting {
        variables: variables.clone(),
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Boolean]),
            ],
            Volatility::Volatile,
        ),
    }));
    ctx.register_udf(ScalarUDF::new_from_impl(SetConfig {
        variables,
        signature: Signature::exact(
            vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
            Volatility::Volatile,
        ),
    }));
}

/// `pg_backend_pid()`: the process id this connection was given (what a CancelRequest for
/// it carries).
pub fn register_backend_pid(ctx: &SessionContext, pid: i32) {
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "pg_backend_pid",
        vec![],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::Int32(Some(pid)),
            ))
        }),
    ));
}

fn text_arg(value: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    let array = value.to_array(rows)?;
    Ok(datafusion::arrow::compute::cast(&array, &DataType::Utf8)?)
}

/// `current_setting(name [, missing_ok])`: a PostgreSQL variable of this session, or an engine
/// (`datafusion.*`) or CRM function (`segmint.*`) setting.
#[derive(Debug)]
struct CurrentSetting {
    variables: Arc<Mutex<SessionVariables>>,
    signature: Signature,
}

udf_identity!(CurrentSetting, "current_setting");

impl ScalarUDFImpl for CurrentSetting {
    fn name(&self) -> &str {
        "current_setting"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names = text_arg(&args.args[0], rows)?;
        let names = names.as_string::<i32>();
        let missing_ok = match args.args.get(1) {
            Some(flag) => Some(flag.to_array(rows)?),
            None => None,
        };
        let variables = self.variables.lock().unwrap_or_else(|p| p.into_inner());
        let engine_settings = args.config_options.entries();
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if names.is_null(row) {
                out.append_null();
                continue;
            }
            let name = names.value(row);
            let value = variables.get(name).or_else(|| {
                engine_settings
                    .iter()
                    .find(|entry| entry.key.eq_ignore_ascii_case(name))
                    .map(|entry| entry.value.clone().unwrap_or_default())
            });
            match value {
                Some(value) => out.append_value(value),
                None => {
                    let ok = missing_ok
                        .as_ref()
                        .map(|flags| flags.as_boolean().value(row))
                        .unwrap_or(false);
                    if !ok {
                        return Err(exec_datafusion_err!(
                            "unrecognized configuration parameter \"{name}\""
                        ));
                    }
                    out.append_null();
                }
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `set_config(name, value, is_local)`: sets a session variable and returns its new value.
#[derive(Debug)]
struct SetConfig {
    variables: Arc<Mutex<SessionVariables>>,
    signature: Signature,
}

udf_identity!(SetConfig, "set_config");

impl ScalarUDFImpl for SetConfig {
    fn name(&self) -> &str {
        "set_config"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let names = text_arg(&args.args[0], rows)?;
        let values = text_arg(&args.args[1], rows)?;
        let (names, values) = (names.as_string::<i32>(), values.as_string::<i32>());
        let mut variables = self.variables.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = StringBuilder::with_capacity(rows, rows * 8);
        for row in 0..rows {
            if names.is_null(row) || values.is_null(row) {
                out.append_null();
                continue;
            }
            variables
                .set(names.value(row), values.value(row))
                .map_err(|e| exec_datafusion_err!("{e}"))?;
            out.append_value(values.value(row));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}
