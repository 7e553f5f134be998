//! `(record).field` (pgjdbc) becomes `get_field(record, 'field')`.

use datafusion::sql::sqlparser::ast::{AccessExpr, Expr};

use super::ExprRule;
use super::ast::{call, string};

/// The record field access rewrite.
pub struct RecordFieldAccess;

impl ExprRule for RecordFieldAccess {
    fn rewrite(&self, expr: &Expr) -> Option<Expr> {
        let Expr::CompoundFieldAccess { root, access_chain } = expr else {
            return None;
        };
        let mut value = root.as_ref().clone();
        for access in access_chain {
            let AccessExpr::Dot(Expr::Identifier(field)) = access else {
                return None;
            };
            value = call("get_field", vec![value, string(&field.value)]);
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgcompat::rewrite::rewritten_by;

    #[test]
    fn fields_of_records_become_get_field() {
        assert_eq!(
            rewritten_by(&RecordFieldAccess, "SELECT (i.keys).x, (i.keys).a.b FROM i"),
            "SELECT get_field((i.keys), 'x'), get_field(get_field((i.keys), 'a'), 'b') FROM i"
        );
        let subscript = "SELECT (i.keys)[1] FROM i";
        assert_eq!(rewritten_by(&RecordFieldAccess, subscript), subscript);
    }
}
