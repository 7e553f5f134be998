//! PostgreSQL's names for unaliased result columns.
//!
//! DataFusion names an unaliased column after its whole expression (`count(*)`, `Int64(1)`),
//! and refuses two columns with the same name. PostgreSQL names it after the outermost
//! function or column (`count`, `?column?`, `current_user`) and allows duplicates, and drivers
//! and BI tools read results by those names. [`name_columns`] gives every unaliased item of a
//! query's select list an alias with PostgreSQL's name; when two items would share a name, the
//! later ones get a unique internal alias and the wire-level names are returned separately.

use std::collections::HashSet;

use datafusion::sql::sqlparser::ast::{
    DataType as SqlType, Expr, Function, Ident, ObjectName, Query, SelectItem, SetExpr,
};

/// The unnamed column name PostgreSQL uses.
pub const UNNAMED: &str = "?column?";

/// Aliases the unaliased select items of `query` (its first SELECT, as PostgreSQL takes names
/// from the leftmost branch of a set operation) with PostgreSQL's names. `original`, when given,
/// is the same query before compatibility rewrites (which turn `current_user` into a function
/// call, say), and supplies the names when its select list has the same shape.
///
/// Returns the names the client must see when they differ from the plan's (duplicates), for a
/// select list without wildcards; `None` when the plan's names are right.
pub fn name_columns(query: &mut Query, original: Option<&Query>) -> Option<Vec<String>> {
    let original_items = original.and_then(|q| first_select_items(q).map(|items| items.to_vec()));
    let items = first_select_items_mut(query)?;
    let original_items = original_items.filter(|o| o.len() == items.len());
    let has_wildcard = items.iter().any(|item| {
        matches!(
            item,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(_, _)
        )
    });
    let mut taken: HashSet<String> = items
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .collect();
    let mut wire_names = Vec::with_capacity(items.len());
    let mut renamed = false;
    for (i, item) in items.iter_mut().enumerate() {
        match item {
            SelectItem::UnnamedExpr(expr) => {
                let name = match original_items.as_ref().map(|o| &o[i]) {
                    Some(SelectItem::UnnamedExpr(original)) => column_name(original),
                    _ => column_name(expr),
                };
                let alias = if taken.insert(name.clone()) {
                    name.clone()
                } else if has_wildcard {
                    // Output positions are unknown past a wildcard: keep DataFusion's name.
                    wire_names.push(name);
                    continue;
                } else {
                    renamed = true;
                    unique_alias(&name, i, &mut taken)
                };
                wire_names.push(name);
                *item = SelectItem::ExprWithAlias {
                    expr: expr.clone(),
                    alias: Ident::with_quote('"', alias),
                };
            }
            SelectItem::ExprWithAlias { alias, .. } => wire_names.push(alias.value.clone()),
            _ => wire_names.push(String::new()),
        }
    }
    (renamed && !has_wildcard).then_some(wire_names)
}

fn unique_alias(name: &str, position: usize, taken: &mut HashSet<String>) -> String {
    let mut n = position + 1;
    loop {
        let candidate = format!("{name}#{n}");
        if taken.insert(candidate.clone()) {
            return candidate;
        }
        n += 1;
    }
}

fn first_select_items(query: &Query) -> Option<&[SelectItem]> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => return Some(&select.projection),
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(inner) => body = inner.body.as_ref(),
            _ => return None,
        }
    }
}

fn first_select_items_mut(query: &mut Query) -> Option<&mut Vec<SelectItem>> {
    let mut body = query.body.as_mut();
    loop {
        match body {
            SetExpr::Select(select) => return Some(&mut select.projection),
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(inner) => body = inner.body.as_mut(),
            _ => return None,
        }
    }
}

/// PostgreSQL's name for an unaliased select-list expression (its `FigureColname`).
pub fn column_name(expr: &Expr) -> String {
    name_of(expr)
        .map(|(name, _)| name)
        .unwrap_or_else(|| UNNAMED.to_string())
}

/// The name and its strength: 2 for a column or function name, 1 for a keyword-like name
/// (`case`, a cast's type) that a stronger inner name overrides.
fn name_of(expr: &Expr) -> Option<(String, u8)> {
    let strong = |s: &str| Some((s.to_string(), 2));
    let weak = |s: &str| Some((s.to_string(), 1));
    match expr {
        Expr::Identifier(ident) => strong(&ident.value),
        Expr::CompoundIdentifier(parts) => parts.last().and_then(|p| strong(&p.value)),
        Expr::CompoundFieldAccess { access_chain, root } => {
            use datafusion::sql::sqlparser::ast::AccessExpr;
            match access_chain.last() {
                Some(AccessExpr::Dot(Expr::Identifier(ident))) => strong(&ident.value),
                Some(AccessExpr::Dot(inner)) => name_of(inner),
                _ => name_of(root),
            }
        }
        Expr::Function(function) => function_name(function),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => name_of(inner),
        Expr::Cast {
            expr, data_type, ..
        } => match name_of(expr) {
            Some((name, 2)) => Some((name, 2)),
            _ => weak(&type_name(data_type)),
        },
        Expr::TypedString(typed) => weak(&type_name(&typed.data_type)),
        Expr::Case { .. } => weak("case"),
        Expr::Exists { .. } => strong("exists"),
        Expr::Array(_) => strong("array"),
        Expr::Tuple(_) => strong("row"),
        Expr::Interval(_) => weak("interval"),
        Expr::Subquery(query) => first_select_items(query)
            .and_then(|items| items.first())
            .and_then(|item| match item {
                SelectItem::UnnamedExpr(expr) => name_of(expr),
                SelectItem::ExprWithAlias { alias, .. } => strong(&alias.value),
                _ => None,
            }),
        Expr::Extract { .. } => strong("extract"),
        Expr::Substring { .. } => strong("substring"),
        Expr::Position { .. } => strong("position"),
        Expr::Trim { .. } => strong("btrim"),
        Expr::Overlay { .. } => strong("overlay"),
        Expr::Ceil { .. } => strong("ceil"),
        Expr::Floor { .. } => strong("floor"),
        Expr::AtTimeZone { .. } => strong("timezone"),
        _ => None,
    }
}

fn function_name(function: &Function) -> Option<(String, u8)> {
    let name = last_part(&function.name)?;
    Some((name.to_ascii_lowercase(), 2))
}

fn last_part(name: &ObjectName) -> Option<String> {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(|ident| ident.value.clone())
}

/// The PostgreSQL type name a cast to `data_type` is named after (`1::int` is `int4`).
fn type_name(data_type: &SqlType) -> String {
    let text = data_type.to_string().to_ascii_lowercase();
    let base = text.split('(').next().unwrap_or(&text).trim();
    match base {
        "int" | "integer" | "int4" => "int4",
        "bigint" | "int8" => "int8",
        "smallint" | "int2" => "int2",
        "real" | "float4" => "float4",
        "double precision" | "double" | "float8" | "float" => "float8",
        "boolean" | "bool" => "bool",
        "decimal" | "numeric" => "numeric",
        "character varying" | "varchar" => "varchar",
        "character" | "char" => "bpchar",
        "timestamp" | "timestamp without time zone" => "timestamp",
        "timestamptz" | "timestamp with time zone" => "timestamptz",
        "time" | "time without time zone" => "time",
        other => other,
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn names(sql: &str) -> (String, Option<Vec<String>>) {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        let datafusion::sql::sqlparser::ast::Statement::Query(query) = &mut statements[0] else {
            panic!("not a query");
        };
        let wire = name_columns(query, None);
        (query.to_string(), wire)
    }

    #[test]
    fn functions_columns_and_literals_are_named_like_postgres() {
        let (sql, wire) = names(
            "SELECT count(*), t.channel, 1, 1::int, x::text, CASE WHEN a THEN 1 END, \
             DATE '2026-01-01', (SELECT max(y) FROM u), pg_catalog.version() FROM t",
        );
        assert_eq!(
            sql,
            "SELECT count(*) AS \"count\", t.channel AS \"channel\", 1 AS \"?column?\", \
             1::INT AS \"int4\", x::TEXT AS \"x\", CASE WHEN a THEN 1 END AS \"case\", \
             DATE '2026-01-01' AS \"date\", (SELECT max(y) FROM u) AS \"max\", \
             pg_catalog.version() AS \"version\" FROM t"
        );
        assert_eq!(wire, None);
    }

    #[test]
    fn duplicate_names_get_internal_aliases_and_wire_names() {
        let (sql, wire) = names("SELECT count(*), count(x), 1 AS count FROM t");
        assert_eq!(
            sql,
            "SELECT count(*) AS \"count#1\", count(x) AS \"count#2\", 1 AS count FROM t"
        );
        assert_eq!(
            wire,
            Some(vec!["count".into(), "count".into(), "count".into()])
        );
    }

    #[test]
    fn wildcards_keep_positions_unknown() {
        let (sql, wire) = names("SELECT *, count(*) FROM t");
        assert_eq!(sql, "SELECT *, count(*) AS \"count\" FROM t");
        assert_eq!(wire, None);
    }
}
