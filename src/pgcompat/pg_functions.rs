//! PostgreSQL catalog functions that `datafusion-pg-catalog` lacks and drivers call:
//! `to_regtype(name)` (SQLAlchemy and psycopg's type lookup) and
//! `information_schema._pg_expandarray(array)` (pgjdbc's `getPrimaryKeys`).

use std::sync::Arc;

use super::types::Type;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, Int32Builder, ListArray, StructArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

/// SQL types DataFusion has no Arrow type for, planned as text: `uuid`, `json` and `jsonb`
/// values travel as their text form (wire type `text`); everything else goes to
/// `datafusion-pg-catalog`'s planner (`regclass`, `oid`, `pg_catalog.int4`...).
#[derive(Debug)]
struct TypePlanner;

impl datafusion::logical_expr::planner::TypePlanner for TypePlanner {
    fn plan_type_field(
        &self,
        sql_type: &datafusion::sql::sqlparser::ast::DataType,
    ) -> Result<Option<Arc<Field>>> {
        use datafusion::sql::sqlparser::ast::DataType as Sql;
        match sql_type {
            Sql::Uuid | Sql::JSON | Sql::JSONB => {
                Ok(Some(Arc::new(Field::new("", DataType::Utf8, true))))
            }
            // `"char"`, PostgreSQL's one-byte internal type (catalog columns like relkind).
            Sql::Custom(name, modifiers)
                if modifiers.is_empty()
                    && name.0.len() == 1
                    && name.0[0]
                        .as_ident()
                        .is_some_and(|i| i.value == "char" && i.quote_style == Some('"')) =>
            {
                Ok(Some(Arc::new(
                    Field::new("", DataType::Utf8, true).with_metadata(
                        std::collections::HashMap::from([(
                            super::types::CHAR_KEY.to_string(),
                            "char".to_string(),
                        )]),
                    ),
                )))
            }
            other => datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner
                .plan_type_field(other),
        }
    }
}

/// Registers the functions and the type planner.
pub fn register(ctx: &SessionContext) {
    {
        use datafusion::execution::session_state::SessionStateBuilder;
        let state = ctx.state_ref();
        let existing = state.read().clone();
        let with_planner = SessionStateBuilder::new_from_existing(existing)
            .with_type_planner(Arc::new(TypePlanner))
            .build();
        *state.write() = with_planner;
    }
    ctx.register_udf(ScalarUDF::new_from_impl(ToRegtype::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(TypeNames::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::default()));
    // generate_subscripts(array, 1): the subscripts 1..n of each array (unnested into rows by
    // the SQL rewrite, like PostgreSQL's set-returning function).
    ctx.register_udf(datafusion::logical_expr::create_udf(
        "generate_subscripts",
        vec![
            DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
            DataType::Int64,
        ],
        DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let rows = match &args[0] {
                ColumnarValue::Array(a) => a.len(),
                ColumnarValue::Scalar(_) => 1,
            };
            let input = args[0].to_array(rows)?;
            let lists = input.as_list::<i32>();
            let mut out = datafusion::arrow::array::ListBuilder::new(Int32Builder::new());
            for row in 0..rows {
                if lists.is_null(row) {
                    out.append_null();
                    continue;
                }
                for i in 0..lists.value_length(row) {
                    out.values().append_value(i + 1);
                }
                out.append(true);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    ));
    use datafusion::common::ScalarValue;
    let started = ScalarValue::TimestampMicrosecond(
        Some(chrono::Utc::now().timestamp_micros()),
        Some("+00:00".into()),
    );
    ctx.register_udf(constant("pg_postmaster_start_time", vec![], started));
    // A Segmint server is never a recovering standby.
    let no = ScalarValue::Boolean(Some(false));
    ctx.register_udf(constant("pg_is_in_recovery", vec![], no));
    // The built-in tablespaces live in the data directory: PostgreSQL answers ''.
    let here = ScalarValue::Utf8(Some(String::new()));
    ctx.register_udf(constant(
        "pg_tablespace_location",
        vec![DataType::Int32],
        here,
    ));
    // Every collation and type Segmint lists is in pg_catalog, which is always searched.
    for name in ["pg_collation_is_visible", "pg_type_is_visible"] {
        let visible = ScalarValue::Boolean(Some(true));
        ctx.register_udf(constant(name, vec![DataType::Int32], visible));
    }
    // Segmint's tables have no indexes: no index OID has a definition (PostgreSQL answers
    // NULL for an OID that is not an index).
    let index_args = vec![DataType::Int32, DataType::Int32, DataType::Boolean];
    ctx.register_udf(constant(
        "pg_get_indexdef",
        index_args,
        ScalarValue::Utf8(None),
    ));
    // Parquet datasets have no serial columns, so no column has a sequence.
    let column_args = vec![DataType::Utf8, DataType::Utf8];
    ctx.register_udf(constant(
        "pg_get_serial_sequence",
        column_args,
        ScalarValue::Utf8(None),
    ));
}

/// A function answering `value` for every row whose first argument is not NULL (and NULL
/// otherwise, as PostgreSQL's strict functions do).
pub(crate) fn constant(
    name: &str,
    arguments: Vec<DataType>,
    value: datafusion::common::ScalarValue,
) -> ScalarUDF {
    let return_type = value.data_type();
    datafusion::logical_expr::create_udf(
        name,
        arguments,
        return_type.clone(),
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let null = datafusion::common::ScalarValue::try_from(&return_type)?;
            Ok(match args.first() {
                None => ColumnarValue::Scalar(value.clone()),
                Some(ColumnarValue::Scalar(v)) => {
                    ColumnarValue::Scalar(if v.is_null() { null } else { value.clone() })
                }
                Some(ColumnarValue::Array(a)) => {
                    let values = value.to_array_of_size(a.len())?;
                    let nulls = null.to_array_of_size(a.len())?;
                    let valid = datafusion::arrow::array::BooleanArray::from(
                        (0..a.len()).map(|i| a.is_valid(i)).collect::<Vec<_>>(),
                    );
                    ColumnarValue::Array(datafusion::arrow::compute::kernels::zip::zip(
                        &valid, &values, &nulls,
                    )?)
                }
            })
        }),
    )
}

/// The types `to_regtype` knows, with the SQL spellings that name them.
const TYPES: &[(&Type, &[&str])] = &[
    (&Type::BOOL, &["boolean"]),
    (&Type::BYTEA, &[]),
    (&Type::CHAR, &["\"char\""]),
    (&Type::NAME, &[]),
    (&Type::INT8, &["bigint"]),
    (&Type::INT2, &["smallint"]),
    (&Type::INT4, &["integer", "int"]),
    (&Type::TEXT, &[]),
    (&Type::OID, &[]),
    (&Type::JSON, &[]),
    (&Type::FLOAT4, &["real"]),
    (&Type::FLOAT8, &["double precision"]),
    (&Type::BPCHAR, &["character", "char"]),
    (&Type::VARCHAR, &["character varying"]),
    (&Type::DATE, &[]),
    (&Type::TIME, &["time without time zone"]),
    (&Type::TIMESTAMP, &["timestamp without time zone"]),
    (&Type::TIMESTAMPTZ, &["timestamp with time zone"]),
    (&Type::INTERVAL, &[]),
    (&Type::TIMETZ, &["time with time zone"]),
    (&Type::NUMERIC, &["decimal"]),
    (&Type::UUID, &[]),
    (&Type::JSONB, &[]),
    (&Type::RECORD, &[]),
    (&Type::BOOL_ARRAY, &["boolean[]"]),
    (&Type::INT2_ARRAY, &["smallint[]"]),
    (&Type::INT4_ARRAY, &["integer[]", "int[]"]),
    (&Type::INT8_ARRAY, &["bigint[]"]),
    (&Type::TEXT_ARRAY, &["text[]"]),
    (&Type::VARCHAR_ARRAY, &["character varying[]", "varchar[]"]),
    (&Type::FLOAT4_ARRAY, &["real[]"]),
    (&Type::FLOAT8_ARRAY, &["double precision[]"]),
    (&Type::NUMERIC_ARRAY, &["numeric[]"]),
    (&Type::DATE_ARRAY, &["date[]"]),
    (&Type::TIMESTAMP_ARRAY, &["timestamp[]"]),
    (&Type::TIMESTAMPTZ_ARRAY, &["timestamptz[]"]),
    (&Type::UUID_ARRAY, &["uuid[]"]),
];

/// The OID of a type name as `to_regtype` resolves it; `None` for unknown types.
pub fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    TYPES
        .iter()
        .find(|(t, aliases)| t.name() == name || aliases.contains(&name))
        .map(|(t, _)| t.oid() as i32)
}

/// `to_regtype(text)`: the type's OID, or NULL when there is no such type.
#[derive(Debug)]
struct ToRegtype {
    signature: Signature,
}

impl Default for ToRegtype {
    fn default() -> Self {
        ToRegtype {
            signature: Signature::exact(vec![DataType::Utf8], Volatility::Stable),
        }
    }
}
udf_identity!(ToRegtype, "to_regtype");

impl ScalarUDFImpl for ToRegtype {
    fn name(&self) -> &str {
        "to_regtype"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let names = cast(&args.args[0].to_array(args.number_rows)?, &DataType::Utf8)?;
        let oids: Int32Array = names
            .as_string::<i32>()
            .iter()
            .map(|name| name.and_then(type_oid))
            .collect();
        Ok(ColumnarValue::Array(Arc::new(oids)))
    }
}

/// `_pg_expandarray(array)`: the elements with their 1-based positions, as an array of
/// `(x, n)` records (unnested into rows by the SQL rewrite, like PostgreSQL's set-returning
/// function). Accepts integer arrays and the text form of `int2vector` (`'1 3'`).
#[derive(Debug)]
struct ExpandArray {
    signature: Signature,
}

impl Default for ExpandArray {
    fn default() -> Self {
        ExpandArray {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}
udf_identity!(ExpandArray, "_pg_expandarray");

fn record_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int32, true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn element_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(record_fields()), true))
}

fn elements(array: &ArrayRef, row: usize) -> Result<Vec<Option<i32>>> {
    if array.is_null(row) {
        return Ok(vec![]);
    }
    Ok(match array.data_type() {
        DataType::List(_) => {
            let values = cast(&array.as_list::<i32>().value(row), &DataType::Int32)?;
            values
                .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                .iter()
                .collect()
        }
        _ => {
            let text = cast(array, &DataType::Utf8)?;
            text.as_string::<i32>()
                .value(row)
                .split(|c: char| c.is_whitespace() || c == ',' || c == '{' || c == '}')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<i32>().ok())
                .collect()
        }
    })
}

impl ScalarUDFImpl for ExpandArray {
    fn name(&self) -> &str {
        "_pg_expandarray"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(element_field()))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let mut x = Int32Builder::new();
        let mut n = Int32Builder::new();
        let mut lengths = Vec::with_capacity(input.len());
        for row in 0..input.len() {
            let values = elements(&input, row)?;
            lengths.push(values.len());
            for (i, value) in values.into_iter().enumerate() {
                x.append_option(value);
                n.append_value(i as i32 + 1);
            }
        }
        let records = StructArray::try_new(
            record_fields(),
            vec![Arc::new(x.finish()) as ArrayRef, Arc::new(n.finish())],
            None,
        )?;
        let list = ListArray::try_new(
            element_field(),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(records),
            input.logical_nulls(),
        )?;
        Ok(ColumnarValue::Array(Arc::new(list)))
    }
}

/// `_pg_type_names(oids)`: the names of the types in an OID array or `oidvector` text, what
/// `oids::regtype[]::text[]` shows in PostgreSQL.
#[derive(Debug)]
struct TypeNames {
    signature: Signature,
}

impl Default for TypeNames {
    fn default() -> Self {
        TypeNames {
            signature: Signature::any(1, Volatility::Stable),
        }
    }
}
udf_identity!(TypeNames, "_pg_type_names");

impl ScalarUDFImpl for TypeNames {
    fn name(&self) -> &str {
        "_pg_type_names"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new(
            "item",
            DataType::Utf8,
            true,
        ))))
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let mut names = datafusion::arrow::array::ListBuilder::new(
            datafusion::arrow::array::StringBuilder::new(),
        );
        for row in 0..input.len() {
            if input.is_null(row) {
                names.append_null();
                continue;
            }
            for oid in elements(&input, row)? {
                let name = oid.map(|oid| {
                    Type::from_oid(oid as u32)
                        .map(|t| t.name().to_string())
                        .unwrap_or_else(|| oid.to_string())
                });
                names.values().append_option(name);
            }
            names.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(names.finish())))
    }
}

/// `json_build_object(key, value, ...)`: a JSON object as text (SQLAlchemy's column
/// reflection builds identity options with it).
#[derive(Debug)]
struct JsonBuildObject {
    signature: Signature,
}

impl Default for JsonBuildObject {
    fn default() -> Self {
        JsonBuildObject {
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }
}
udf_identity!(JsonBuildObject, "json_build_object");

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_value(value: &datafusion::common::ScalarValue) -> String {
    use datafusion::common::ScalarValue as S;
    if value.is_null() {
        return "null".to_string();
    }
    match value {
        S::Boolean(Some(b)) => b.to_string(),
        v if v.data_type().is_numeric() => v.to_string(),
        v => json_string(&v.to_string()),
    }
}

impl ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !args.args.len().is_multiple_of(2) {
            return datafusion::common::exec_err!(
                "json_build_object takes an even number of arguments (keys and values)"
            );
        }
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(args.number_rows))
            .collect::<Result<Vec<_>>>()?;
        let mut out = datafusion::arrow::array::StringBuilder::new();
        for row in 0..args.number_rows {
            let mut parts = Vec::with_capacity(arrays.len() / 2);
            for pair in arrays.chunks(2) {
                let key = datafusion::common::ScalarValue::try_from_array(&pair[0], row)?;
                let value = datafusion::common::ScalarValue::try_from_array(&pair[1], row)?;
                parts.push(format!(
                    "{}: {}",
                    json_string(&key.to_string()),
                    json_value(&value)
                ));
            }
            out.append_value(format!("{{{}}}", parts.join(", ")));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_resolve_like_postgres() {
        assert_eq!(type_oid("integer"), Some(23));
        assert_eq!(type_oid("pg_catalog.int8"), Some(20));
        assert_eq!(type_oid("timestamp with time zone"), Some(1184));
        assert_eq!(type_oid("hstore"), None);
    }
}
