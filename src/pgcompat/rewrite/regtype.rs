//! Type names through `regtype` casts (pgcli): `oid::regtype::text` becomes
//! `format_type(oid, NULL)` and `oids::regtype[]` becomes `_pg_type_names(oids)`.

use datafusion::sql::sqlparser::ast::{CastKind, DataType, Expr, ObjectName};

use super::ExprRule;
use super::ast::{call, null};

/// The `regtype` rewrite.
pub struct RegtypeNames;

fn is_regtype(name: &ObjectName) -> bool {
    name.to_string().eq_ignore_ascii_case("regtype")
}

impl ExprRule for RegtypeNames {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::Cast {
            expr: inner,
            data_type,
            kind,
            ..
        } = expr
        else {
            return None;
        };
        match (data_type, inner.as_ref()) {
            (
                DataType::Text,
                Expr::Cast {
                    expr: oid,
                    data_type: DataType::Custom(name, _),
                    ..
                },
            ) if matches!(kind, CastKind::DoubleColon | CastKind::Cast) && is_regtype(name) => {
                Some(call("format_type", vec![oid.as_ref().clone(), null()]))
            }
            (DataType::Array(_), _)
                if data_type
                    .to_string()
                    .to_ascii_lowercase()
                    .starts_with("regtype") =>
            {
                Some(call("_pg_type_names", vec![inner.as_ref().clone()]))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn regtype_casts_become_type_names() {
        assert_eq!(
            rewritten_by(
                &RegtypeNames,
                "SELECT a.atttypid::regtype::text, p.proargtypes::regtype[] FROM a"
            ),
            "SELECT format_type(a.atttypid, NULL), _pg_type_names(p.proargtypes) FROM a"
        );
        let other = "SELECT CAST(x AS TEXT), x::INT[] FROM a";
        assert_eq!(rewritten_by(&RegtypeNames, other), other);
    }
}
