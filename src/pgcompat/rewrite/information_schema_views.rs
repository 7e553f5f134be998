//! `information_schema.columns` and the key and constraint views read the tables Segmint
//! serves itself ([`crate::pgcompat::information_schema`]), under the view's name.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, TableAlias, TableFactor, VisitorMut,
};

use crate::pgcompat::information_schema::{EXTRA_VIEWS, REWRITE_PREFIX};

/// The `information_schema` view rewrite.
pub struct OwnInformationSchemaViews;

/// The view of `information_schema.<view>` that Segmint serves itself, if `name` is one.
fn own_view(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
        .collect();
    match parts.as_slice() {
        [.., schema, view]
            if schema == "information_schema" && EXTRA_VIEWS.contains(&view.as_str()) =>
        {
            Some(view.clone())
        }
        _ => None,
    }
}

impl VisitorMut for OwnInformationSchemaViews {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } = factor
            && let Some(view) = own_view(name)
        {
            *name = ObjectName(vec![
                ObjectNamePart::Identifier(Ident::new("pg_catalog")),
                ObjectNamePart::Identifier(Ident::new(format!("{REWRITE_PREFIX}{view}"))),
            ]);
            if alias.is_none() {
                *alias = Some(TableAlias {
                    explicit: true,
                    name: Ident::new(view),
                    columns: vec![],
                    at: None,
                });
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        crate::pgcompat::rewrite::visited(&mut OwnInformationSchemaViews, sql)
    }

    #[test]
    fn own_views_are_read_under_their_name() {
        assert_eq!(
            rewritten("SELECT column_name FROM information_schema.columns"),
            "SELECT column_name FROM pg_catalog._segmint_information_schema_columns AS columns"
        );
        assert_eq!(
            rewritten("SELECT 1 FROM INFORMATION_SCHEMA.columns AS c"),
            "SELECT 1 FROM pg_catalog._segmint_information_schema_columns AS c"
        );
        let tables = "SELECT 1 FROM information_schema.tables";
        assert_eq!(rewritten(tables), tables, "DataFusion serves this one");
    }
}
