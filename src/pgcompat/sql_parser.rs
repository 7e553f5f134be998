//! Parsing SQL as PostgreSQL clients send it. `datafusion-pg-catalog`'s compatibility
//! parser makes the catalog queries of psql, pgcli and BI tools plannable; one of its rules
//! replaces every correlated scalar subquery of a select list by NULL (a catalog column
//! DataFusion could not compute) and gives the others `LIMIT 1`. Right for those catalog
//! queries, it would silently change an analyst's answer
//! (`SELECT c.id, (SELECT sum(o.amount) FROM orders o WHERE o.customer_id = c.id) FROM customers c`).
//! So only statements that read the PostgreSQL catalog go through that parser whole; every
//! other statement is parsed as written and gets the compatibility rules without that one.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Statement, visit_relations, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall,
    FixArrayLiteral, FixVersionColumnName, PrependUnqualifiedPgTableName,
    ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation, RewritePgCatalogOperator,
    RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};

/// A parsed statement: after the compatibility rewrites, and as written (which names result
/// columns) when the rewrites kept the statement count.
pub type ParsedSql = (Statement, Option<Statement>);

/// The server's SQL parser.
pub struct SqlParser {
    catalog_queries: PostgresCompatibilityParser,
    rules: Vec<Arc<dyn SqlStatementRewriteRule>>,
}

impl Default for SqlParser {
    fn default() -> Self {
        Self::new()
    }
}

impl SqlParser {
    /// The parser with `datafusion-pg-catalog`'s rules.
    pub fn new() -> Self {
        // The compatibility parser's rules in its order, without RemoveSubqueryFromProjection.
        let rules: Vec<Arc<dyn SqlStatementRewriteRule>> = vec![
            Arc::new(AliasDuplicatedProjectionRewrite),
            Arc::new(ResolveUnqualifiedIdentifier),
            Arc::new(RewriteArrayAnyAllOperation),
            Arc::new(PrependUnqualifiedPgTableName),
            Arc::new(StripCallableQualifier),
            Arc::new(FixArrayLiteral),
            Arc::new(CurrentUserVariableToSessionUserFunctionCall),
            Arc::new(StripCollate),
            Arc::new(RewritePgCatalogOperator),
            Arc::new(RewriteRegCastToSubquery::new()),
            Arc::new(FixVersionColumnName),
        ];
        SqlParser {
            catalog_queries: PostgresCompatibilityParser::new(),
            rules,
        }
    }

    /// Parses every statement of `sql`.
    pub fn parse(&self, sql: &str) -> Result<Vec<ParsedSql>, ParserError> {
        let written = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
            Ok(written) => written,
            // Some client catalog queries only parse after the compatibility parser's
            // substitutions.
            Err(_) => {
                return Ok(self
                    .catalog_queries
                    .parse(sql)?
                    .into_iter()
                    .map(|mut s| {
                        qualify_segmint_catalog_tables(&mut s);
                        (s, None)
                    })
                    .collect());
            }
        };
        if written.iter().any(reads_pg_catalog) {
            let mut rewritten = self.catalog_queries.parse(sql)?;
            rewritten
                .iter_mut()
                .for_each(qualify_segmint_catalog_tables);
            if rewritten.len() == written.len() {
                return Ok(rewritten
                    .into_iter()
                    .zip(written.into_iter().map(Some))
                    .collect());
            }
            return Ok(rewritten.into_iter().map(|s| (s, None)).collect());
        }
        Ok(written
            .into_iter()
            .map(|statement| {
                let rewritten = self
                    .rules
                    .iter()
                    .fold(statement.clone(), |s, rule| rule.rewrite(s));
                (rewritten, Some(statement))
            })
            .collect())
    }
}

/// The `pg_catalog` tables Segmint adds to the bundled ones (which the compatibility rules
/// qualify by themselves).
const SEGMINT_CATALOG_TABLES: &[&str] = &["pg_indexes"];

/// Qualifies unqualified names of [`SEGMINT_CATALOG_TABLES`] with `pg_catalog`, as
/// PostgreSQL's search path finds them.
fn qualify_segmint_catalog_tables(statement: &mut Statement) {
    let _ = visit_relations_mut(statement, |name| {
        if let [part] = name.0.as_slice()
            && let Some(ident) = part.as_ident()
            && SEGMINT_CATALOG_TABLES.contains(&ident.value.to_ascii_lowercase().as_str())
        {
            let table = ident.clone();
            *name = ObjectName(vec![
                ObjectNamePart::Identifier(Ident::new("pg_catalog")),
                ObjectNamePart::Identifier(table),
            ]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Whether `statement` reads a table of the PostgreSQL catalog (`pg_catalog.*`,
/// `information_schema.*` or an unqualified `pg_*`).
fn reads_pg_catalog(statement: &Statement) -> bool {
    let catalog = |name: &ObjectName| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.to_ascii_lowercase()))
            .collect();
        match parts.as_slice() {
            [table] => table.starts_with("pg_"),
            [.., schema, _] => schema == "pg_catalog" || schema == "information_schema",
            [] => false,
        }
    };
    visit_relations(statement, |name| {
        if catalog(name) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> String {
        let mut statements = SqlParser::new().parse(sql).expect("parses");
        assert_eq!(statements.len(), 1);
        statements.remove(0).0.to_string()
    }

    #[test]
    fn keeps_the_correlated_subqueries_of_analysts() {
        let sql = "SELECT c.id, (SELECT sum(o.amount) FROM orders AS o WHERE o.customer_id = c.id) AS spend FROM customers AS c";
        assert_eq!(parsed(sql), sql);
        let uncorrelated = "SELECT (SELECT max(amount) FROM orders) AS top FROM customers";
        assert_eq!(parsed(uncorrelated), uncorrelated, "no LIMIT 1 added");
    }

    #[test]
    fn catalog_queries_get_every_compatibility_rule() {
        let psql = "SELECT c.relname, (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = c.relnamespace) FROM pg_catalog.pg_class c";
        assert!(parsed(psql).contains("NULL"), "{}", parsed(psql));
        assert!(reads_pg_catalog(
            &Parser::parse_sql(&PostgreSqlDialect {}, "SELECT * FROM pg_type").expect("parses")[0]
        ));
        assert!(reads_pg_catalog(
            &Parser::parse_sql(
                &PostgreSqlDialect {},
                "SELECT * FROM information_schema.columns"
            )
            .expect("parses")[0]
        ));
    }

    #[test]
    fn segmint_catalog_tables_are_found_unqualified() {
        assert_eq!(
            parsed("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'"),
            "SELECT indexname FROM pg_catalog.pg_indexes WHERE tablename = 'orders'"
        );
        assert!(parsed("SELECT * FROM pg_catalog.pg_indexes").contains("pg_catalog.pg_indexes"));
    }

    #[test]
    fn other_rules_still_apply_and_originals_are_kept() {
        let mut statements = SqlParser::new()
            .parse("SELECT version(); SELECT 1 AS x")
            .expect("parses");
        assert_eq!(statements.len(), 2);
        let (rewritten, original) = statements.remove(0);
        assert_eq!(
            original.expect("as written").to_string(),
            "SELECT version()"
        );
        assert_ne!(
            rewritten.to_string(),
            "SELECT version()",
            "the version column is named"
        );
        assert!(SqlParser::new().parse("SELEC 1").is_err());
    }
}
