//! PostgreSQL types of Arrow types, and the field metadata that asks for a PostgreSQL type
//! Arrow has no name for.
//!
//! The mapping is arrow-pg's, the one the wire protocol describes result columns with, so
//! `information_schema.columns`, `pg_proc` and a query's `RowDescription` always agree.

use datafusion::arrow::datatypes::DataType;
pub use postgres_types::Type;

/// Field metadata key marking a text column as PostgreSQL's one-byte `"char"`.
pub const CHAR_KEY: &str = arrow_pg::datatypes::PG_CHAR_KEY;

/// Field metadata key marking an integer column as an OID alias (`regproc`, `oid`...).
pub const OID_ALIAS_KEY: &str = arrow_pg::datatypes::PG_OID_ALIAS_KEY;

/// The PostgreSQL type a column of `data_type` is sent as; `None` when there is none.
pub fn pg_type(data_type: &DataType) -> Option<Type> {
    arrow_pg::datatypes::into_pg_type(data_type).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, TimeUnit};
    use std::sync::Arc;

    #[test]
    fn arrow_types_map_to_postgres_types() {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        let zoned = DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()));
        for (data_type, pg) in [
            (DataType::Int64, Type::INT8),
            (DataType::Utf8View, Type::TEXT),
            (DataType::Decimal128(12, 2), Type::NUMERIC),
            (zoned, Type::TIMESTAMPTZ),
            (DataType::Date32, Type::DATE),
            (list, Type::TEXT_ARRAY),
        ] {
            assert_eq!(pg_type(&data_type), Some(pg), "{data_type}");
        }
    }
}
