//! `CREATE INDEX` / `DROP INDEX` and `[[indexes]]`: the catalog checks the definition against
//! the dataset, builds the index ([`super::indexes`]), saves the statement (over the wire) and
//! serves the dataset with it.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{
    Catalog, DdlError, IndexConfig, IndexDefinition, IndexHandle, IndexOrigin, KeyType,
    SavedCatalog, SavedObject, ServedDataset, datasets,
};
use crate::error::first_line;

/// The definition a `CREATE INDEX` statement gives, and whether it said `IF NOT EXISTS`.
pub fn index_definition(
    create: &ast::CreateIndex,
) -> std::result::Result<(IndexDefinition, bool), DdlError> {
    let unsupported = |what: &str| {
        Err(DdlError::Unsupported(format!(
            "CREATE INDEX {what} is not supported: an index is CREATE INDEX name ON dataset (column)"
        )))
    };
    let Some(name) = &create.name else {
        return unsupported("without a name");
    };
    if create.unique {
        return unsupported("UNIQUE");
    }
    if create.predicate.is_some() {
        return unsupported("WHERE (a partial index)");
    }
    if !create.include.is_empty() {
        return unsupported("INCLUDE");
    }
    if let Some(using) = &create.using
        && !using.to_string().eq_ignore_ascii_case("btree")
    {
        return unsupported(&format!("USING {using}"));
    }
    let [column] = create.columns.as_slice() else {
        return unsupported("on several columns");
    };
    let ast::Expr::Identifier(column) = &column.column.expr else {
        return unsupported("on an expression");
    };
    Ok((
        IndexDefinition {
            name: plain_name(name)?,
            dataset: plain_name(&create.table_name)?,
            column: folded(column),
        },
        create.if_not_exists,
    ))
}

/// An identifier as PostgreSQL reads it: lowercased unless quoted.
fn folded(ident: &ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// `name` or `public.name`, as the name the catalog keeps (unquoted parts lowercased).
pub fn plain_name(name: &ast::ObjectName) -> std::result::Result<String, DdlError> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(folded))
        .collect();
    match parts.as_slice() {
        [name] => Ok(name.clone()),
        [schema, name] if schema == super::DEFAULT_SCHEMA => Ok(name.clone()),
        _ => Err(DdlError::InvalidName(format!(
            "\"{name}\" is not a name in schema public"
        ))),
    }
}

/// The definition a saved statement holds, if it is a `CREATE INDEX`.
fn saved_definition(sql: &str) -> Option<std::result::Result<IndexDefinition, DdlError>> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    match statements.as_slice() {
        [ast::Statement::CreateIndex(create)] => Some(index_definition(create).map(|(d, _)| d)),
        _ => None,
    }
}

impl Catalog {
    /// `CREATE INDEX`: builds the index, saves the statement and serves the dataset with it.
    pub async fn create_index(
        &self,
        ctx: &SessionContext,
        definition: IndexDefinition,
        if_not_exists: bool,
    ) -> std::result::Result<(), DdlError> {
        let _change = self.begin_change().await;
        if self.indexes.get(&definition.name).is_some() && if_not_exists {
            return Ok(());
        }
        self.add_index(ctx, definition, IndexOrigin::Wire, true)
            .await
    }

    /// `DROP INDEX`: forgets the index and removes its files.
    pub async fn drop_index(
        &self,
        ctx: &SessionContext,
        name: &str,
        if_exists: bool,
    ) -> std::result::Result<(), DdlError> {
        let _change = self.begin_change().await;
        let Some(handle) = self.indexes.get(name) else {
            return match if_exists {
                true => Ok(()),
                false => Err(DdlError::MissingIndex(name.to_string())),
            };
        };
        if handle.origin() == IndexOrigin::Config {
            return Err(DdlError::Denied(format!(
                "index \"{name}\" is defined in the server's config file ([[indexes]]) and cannot \
                 be dropped"
            )));
        }
        if let Some(saved) = &self.saved {
            saved
                .remove(name)
                .map_err(|e| DdlError::Failed(e.to_string()))?;
        }
        self.indexes.remove(name);
        self.serve_with_indexes(ctx, &handle.definition().dataset)
    }

    /// Builds the `[[indexes]]` of the config file; one that cannot be built is logged and
    /// left out (the dataset is still served, without it).
    pub async fn register_indexes(&self, ctx: &SessionContext, configs: &[IndexConfig]) {
        let _change = self.begin_change().await;
        for config in configs {
            let definition = IndexDefinition {
                name: config.name.clone(),
                dataset: config.dataset.clone(),
                column: config.column.clone(),
            };
            if let Err(error) = self
                .add_index(ctx, definition, IndexOrigin::Config, false)
                .await
            {
                tracing::error!(index = %config.name, %error, "index not built");
            }
        }
    }

    /// Restores the saved `CREATE INDEX` statements among `objects` (after the tables they
    /// are on); returns the others, and the indexes that could not be built.
    pub(super) async fn restore_indexes(
        &self,
        ctx: &SessionContext,
        objects: Vec<SavedObject>,
    ) -> (Vec<SavedObject>, Vec<(String, String)>) {
        let mut others = Vec::new();
        let mut failed = Vec::new();
        for object in objects {
            match saved_definition(&object.sql) {
                None => others.push(object),
                Some(Err(error)) => failed.push((object.name, error.to_string())),
                Some(Ok(definition)) => {
                    if let Err(error) = self
                        .add_index(ctx, definition, IndexOrigin::Wire, false)
                        .await
                    {
                        failed.push((object.name, error.to_string()));
                    }
                }
            }
        }
        (others, failed)
    }

    /// Checks `definition` against its dataset, builds it, saves it when asked and serves
    /// the dataset with it. Runs inside a catalog change.
    async fn add_index(
        &self,
        ctx: &SessionContext,
        definition: IndexDefinition,
        origin: IndexOrigin,
        save: bool,
    ) -> std::result::Result<(), DdlError> {
        let name = definition.name.clone();
        SavedCatalog::check_name(&name).map_err(DdlError::InvalidName)?;
        if self.indexes.get(&name).is_some()
            || self.entries().contains_key(&name)
            || self.views().contains(&name)
            || ctx.table_exist(name.as_str()).unwrap_or(false)
        {
            return Err(DdlError::Exists(name));
        }
        let dataset = definition.dataset.clone();
        if self.views().contains(&dataset) {
            return Err(DdlError::WrongKind {
                name: dataset,
                expected: "a dataset (indexes are on tables, not views)",
            });
        }
        let entry = self.entries().get(&dataset).cloned();
        let served = match entry {
            None if ctx.table_exist(dataset.as_str()).unwrap_or(false) => {
                return Err(DdlError::WrongKind {
                    name: dataset,
                    expected: "a dataset (indexes are on tables, not views)",
                });
            }
            None => return Err(DdlError::Missing(dataset)),
            Some(entry) => match entry.served.clone() {
                Some(served) => served,
                None => {
                    if !save {
                        // Built when a refresh serves the dataset again.
                        self.indexes.add(definition, origin);
                    }
                    return Err(DdlError::NotReady(format!(
                        "dataset \"{dataset}\" is not served ({}): an index is built over its \
                         files",
                        entry.status.error.clone().unwrap_or_default()
                    )));
                }
            },
        };
        key_type(&served, &definition)?;
        let handle = self.indexes.add(definition.clone(), origin);
        if let Err(error) = self.build_index(ctx, &handle, &served).await {
            if save {
                self.indexes.remove(&name);
            } else {
                // Saved or configured: kept (with its saved build), and built again at the
                // next refresh that lists the dataset; scans read the files meanwhile.
                let _ = self.serve_with_indexes(ctx, &dataset);
            }
            return Err(error);
        }
        if save
            && let Err(error) = self.save(&SavedObject {
                name: name.clone(),
                sql: definition.sql(),
                materialized: false,
            })
        {
            self.indexes.remove(&name);
            return Err(error);
        }
        self.serve_with_indexes(ctx, &dataset)
    }

    /// Builds (or extends, or loads) `handle`'s index over the dataset's files now.
    pub(super) async fn build_index(
        &self,
        ctx: &SessionContext,
        handle: &IndexHandle,
        served: &ServedDataset,
    ) -> std::result::Result<(), DdlError> {
        let key_type = key_type(served, handle.definition())?;
        let listed = served.files(ctx).await.map_err(DdlError::Failed)?;
        let store = served.store(ctx).map_err(DdlError::Failed)?;
        self.indexes
            .build(handle, store, listed, key_type)
            .await
            .map_err(|e| DdlError::Failed(first_line(&e.to_string())))
    }

    /// Registers `dataset` again with the indexes it has now.
    fn serve_with_indexes(
        &self,
        ctx: &SessionContext,
        dataset: &str,
    ) -> std::result::Result<(), DdlError> {
        let Some(served) = self.entries().get(dataset).and_then(|e| e.served.clone()) else {
            return Ok(());
        };
        datasets::install(ctx, dataset, &served, &self.indexes.on(dataset))?;
        Ok(())
    }

    /// Forgets the indexes on `dataset` (dropped), with their saved statements and files.
    pub(super) fn drop_indexes_on(&self, dataset: &str) {
        for handle in self.indexes.on(dataset) {
            let name = &handle.definition().name;
            if let Some(saved) = &self.saved
                && handle.origin() == IndexOrigin::Wire
            {
                let _ = saved.remove(name);
            }
            self.indexes.remove(name);
        }
    }
}

/// The key type of `definition`'s column, or why it cannot be indexed.
fn key_type(
    served: &ServedDataset,
    definition: &IndexDefinition,
) -> std::result::Result<KeyType, DdlError> {
    let dataset = &definition.dataset;
    let column = &definition.column;
    if !served.is_parquet() {
        return Err(DdlError::Unsupported(format!(
            "\"{dataset}\" is not Parquet: indexes are built over Parquet datasets"
        )));
    }
    if served.is_partition_column(column) {
        return Err(DdlError::Unsupported(format!(
            "\"{column}\" is a partition column of \"{dataset}\": its folders already prune \
             lookups, no index is needed"
        )));
    }
    let field = served
        .schema()
        .field_with_name(column)
        .map_err(|_| DdlError::MissingColumn {
            table: dataset.clone(),
            column: column.clone(),
        })?;
    KeyType::of(field.data_type()).ok_or_else(|| {
        DdlError::Unsupported(format!(
            "\"{column}\" is {}: an index key is an integer or text column",
            field.data_type()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> std::result::Result<(IndexDefinition, bool), DdlError> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let [ast::Statement::CreateIndex(create)] = statements.as_slice() else {
            panic!("not CREATE INDEX: {sql}");
        };
        index_definition(create)
    }

    #[test]
    fn create_index_reads_one_column_of_one_dataset() {
        let (definition, if_not_exists) =
            parse("CREATE INDEX orders_by_buyer ON public.orders (buyer_id)").unwrap();
        assert_eq!(
            definition,
            IndexDefinition {
                name: "orders_by_buyer".into(),
                dataset: "orders".into(),
                column: "buyer_id".into(),
            }
        );
        assert!(!if_not_exists);
        assert_eq!(
            saved_definition(&definition.sql()).unwrap().unwrap(),
            definition
        );
        let (_, if_not_exists) =
            parse("CREATE INDEX IF NOT EXISTS i ON orders USING btree (buyer_id)").unwrap();
        assert!(if_not_exists);
        for refused in [
            "CREATE INDEX ON orders (buyer_id)",
            "CREATE UNIQUE INDEX i ON orders (buyer_id)",
            "CREATE INDEX i ON orders (buyer_id, ordered_at)",
            "CREATE INDEX i ON orders (lower(email))",
            "CREATE INDEX i ON orders (buyer_id) WHERE total > 0",
            "CREATE INDEX i ON orders USING hash (buyer_id)",
            "CREATE INDEX i ON other.orders (buyer_id)",
        ] {
            let error = parse(refused).unwrap_err();
            assert!(
                matches!(error, DdlError::Unsupported(_) | DdlError::InvalidName(_)),
                "{refused}: {error}"
            );
        }
        assert!(saved_definition("CREATE VIEW v AS SELECT 1").is_none());
        let (folded, _) = parse("CREATE INDEX By_Buyer ON Orders (\"Buyer Id\")").unwrap();
        assert_eq!(
            folded,
            IndexDefinition {
                name: "by_buyer".into(),
                dataset: "orders".into(),
                column: "Buyer Id".into(),
            }
        );
        assert_eq!(
            saved_definition(&folded.sql()).unwrap().unwrap(),
            folded,
            "{}",
            folded.sql()
        );
    }
}
