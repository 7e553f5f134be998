//! PostgreSQL catalog functions that `datafusion-pg-catalog` lacks and drivers call:
//! `to_regtype(name)` (SQLAlchemy and psycopg's type lookup) and
//! `information_schema._pg_expandarray(array)` (pgjdbc's `getPrimaryKeys`).

use std::sync::Arc;

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
use pgwire::api::Type;

/// Registers the functions.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(ToRegtype::default()));
    ctx.register_udf(ScalarUDF::new_from_impl(ExpandArray::default()));
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

macro_rules! plain_udf_identity {
    ($t:ty, $name:literal) => {
        impl PartialEq for $t {
            fn eq(&self, _: &Self) -> bool {
                true
            }
        }
        impl Eq for $t {}
        impl std::hash::Hash for $t {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                $name.hash(state)
            }
        }
    };
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
plain_udf_identity!(ToRegtype, "to_regtype");

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
plain_udf_identity!(ExpandArray, "_pg_expandarray");

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
