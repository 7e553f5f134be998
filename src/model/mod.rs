//! The customer model: the shop's own tables mapped onto the entities Segmint's views, tags,
//! segments, goals and reports read ([`contract`]), served as the views `model.<entity>`.
//!
//! Each entity comes from, in order: the shop's mapping `model/<entity>.sql` (one `SELECT`
//! over its datasets, dbt-style), the dataset of the same name, or, for `customers` only, the
//! customers found in orders. Otherwise it is absent: an empty view with the contract's
//! columns, so SQL over the model still plans, and what [`Model::unavailable`] reports as
//! needing it is not offered. Every source is checked against the contract at start and at
//! each refresh: a missing required column or an unusable type makes the entity invalid with
//! one line naming the entity, the column, the expected type and what depends on it; the
//! datasets and the other entities keep being served.
//!
//! The view of an entity serves every contract column, in contract order, then the source's
//! other columns: an optional column the shop lacks is its stand-in (`status` →
//! `'completed'`, so every order counts; others NULL), integer ids are widened to BIGINT and
//! dates read as timestamps where a time is expected.

pub mod contract;
mod status_tables;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::prelude::SessionContext;

use crate::error::Result;
use contract::{Column, ENTITIES, Entity, Kind, Missing};

pub use status_tables::register as register_tables;

/// The schema the entities are served in.
pub const SCHEMA: &str = "model";

/// Where an entity's rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The shop's mapping file.
    Mapping(PathBuf),
    /// The dataset of the same name.
    Dataset,
    /// Derived from orders (`customers` only).
    Derived,
    /// Nothing: an empty view.
    Absent,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Mapping(path) => write!(f, "{}", path.display()),
            Source::Dataset => f.write_str("dataset"),
            Source::Derived => f.write_str("derived from orders"),
            Source::Absent => f.write_str("absent"),
        }
    }
}

/// What became of one entity.
#[derive(Debug, Clone)]
pub struct EntityStatus {
    /// The entity.
    pub entity: &'static Entity,
    /// Where its rows come from.
    pub source: Source,
    /// Why it is unusable (a broken mapping), if it is.
    pub error: Option<String>,
    /// The contract columns the shop provides (the others are stand-ins).
    pub provided: BTreeSet<&'static str>,
    /// The SQL types the view serves, by contract column.
    pub types: BTreeMap<&'static str, DataType>,
}

impl EntityStatus {
    /// Whether views and reports can read it: a valid source that is not absent.
    pub fn usable(&self) -> bool {
        self.error.is_none() && self.source != Source::Absent
    }

    /// `valid`, `absent` or `invalid`.
    pub fn state(&self) -> &'static str {
        match (&self.error, &self.source) {
            (Some(_), _) => "invalid",
            (None, Source::Absent) => "absent",
            (None, _) => "valid",
        }
    }
}

/// The model as built: one status per entity, in contract order.
#[derive(Debug, Clone, Default)]
pub struct Model {
    entities: Vec<EntityStatus>,
}

impl Model {
    /// Builds (or rebuilds) the `model.<entity>` views in `ctx` from the mappings in `files`
    /// (`(entity, path)`) and the datasets; `dependents` names, per entity, what reads it (for
    /// the error lines). An error already reported by the `previous` build is not logged
    /// again.
    pub async fn build(
        ctx: &SessionContext,
        files: &[(String, PathBuf)],
        dependents: &BTreeMap<String, Vec<String>>,
        previous: &Model,
    ) -> Result<Model> {
        crate::catalog::new_schema(ctx, SCHEMA)?;
        for (name, path) in files {
            if contract::entity(name).is_none() {
                tracing::warn!(
                    file = %path.display(),
                    "not a model entity (expected one of: {}): ignored",
                    ENTITIES.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
                );
            }
        }
        let mut model = Model::default();
        for entity in ENTITIES {
            let mapping = files.iter().find(|(name, _)| name == entity.name);
            let status = model
                .build_entity(ctx, entity, mapping.map(|(_, p)| p))
                .await;
            let unchanged = previous
                .entity(entity.name)
                .is_some_and(|p| p.error == status.error);
            if let Some(error) = status.error.as_ref().filter(|_| !unchanged) {
                let needed_by = dependents
                    .get(entity.name)
                    .filter(|d| !d.is_empty())
                    .map(|d| format!("; needed by {}", d.join(", ")))
                    .unwrap_or_default();
                tracing::warn!("model entity {}: {error}{needed_by}", entity.name);
            } else {
                tracing::debug!(entity = entity.name, source = %status.source, "model entity");
            }
            model.entities.push(status);
        }
        Ok(model)
    }

    /// Every entity's status, in contract order.
    pub fn entities(&self) -> &[EntityStatus] {
        &self.entities
    }

    /// The status of `name`.
    pub fn entity(&self, name: &str) -> Option<&EntityStatus> {
        self.entities.iter().find(|e| e.entity.name == name)
    }

    /// Why something needing `needs` (`events`, `orders.channel`) cannot run: `needs events`;
    /// `None` when everything it needs is there.
    /// Everything reads `orders`, so it is an implicit need of every view, tag and report.
    pub fn unavailable(&self, needs: &[String]) -> Option<String> {
        let mut missing = Vec::new();
        let implicit = contract::REQUIRED_ENTITY.to_string();
        let required = (!needs.contains(&implicit)).then_some(&implicit);
        for need in required.into_iter().chain(needs) {
            let (entity, column) = match need.split_once('.') {
                Some((entity, column)) => (entity, Some(column)),
                None => (need.as_str(), None),
            };
            let ok = match self.entity(entity) {
                // Before the model is built (or a name outside it): nothing to check.
                None => self.entities.is_empty() || contract::entity(entity).is_none(),
                Some(status) => {
                    status.usable() && column.is_none_or(|c| status.provided.contains(c))
                }
            };
            if !ok {
                missing.push(need.clone());
            }
        }
        (!missing.is_empty()).then(|| format!("needs {}", missing.join(", ")))
    }

    /// The SQL type the model serves for `column` of `entity` (`customer_id` of `customers`).
    pub fn column_type(&self, entity: &str, column: &str) -> Option<&DataType> {
        self.entity(entity)?.types.get(column)
    }

    async fn build_entity(
        &self,
        ctx: &SessionContext,
        entity: &'static Entity,
        mapping: Option<&PathBuf>,
    ) -> EntityStatus {
        let (source, query) = match mapping {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => (Source::Mapping(path.clone()), Ok(strip_statement(&text))),
                Err(error) => (
                    Source::Mapping(path.clone()),
                    Err(format!("cannot read {}: {error}", path.display())),
                ),
            },
            None if ctx
                .table_exist(format!("{}.{}", crate::catalog::DEFAULT_SCHEMA, entity.name).as_str())
                .unwrap_or(false) =>
            {
                (
                    Source::Dataset,
                    Ok(format!(
                        "SELECT * FROM {}.{}",
                        crate::catalog::DEFAULT_SCHEMA,
                        entity.name
                    )),
                )
            }
            None if entity.name == "customers" && self.usable("orders") => (
                Source::Derived,
                Ok(format!(
                    "SELECT customer_id, min(order_ts) AS registered_at FROM {SCHEMA}.orders \
                     GROUP BY customer_id"
                )),
            ),
            None => (Source::Absent, Ok(String::new())),
        };
        let mut status = EntityStatus {
            entity,
            source,
            error: None,
            provided: BTreeSet::new(),
            types: BTreeMap::new(),
        };
        let view = match query {
            Err(error) => Err(error),
            Ok(_) if status.source == Source::Absent => Ok(self.empty_view(entity)),
            Ok(query) => self.check_source(ctx, &mut status, &query).await,
        };
        let sql = match view {
            Ok(sql) => sql,
            Err(error) => {
                status.error = Some(error);
                status.provided.clear();
                // Broken or absent: an empty view keeps SQL over the model planning.
                self.empty_view(entity)
            }
        };
        let create = format!("CREATE OR REPLACE VIEW {SCHEMA}.{} AS {sql}", entity.name);
        match async { ctx.sql(&create).await?.collect().await }.await {
            Ok(_) => {
                if let Ok(table) = ctx
                    .table(format!("{SCHEMA}.{}", entity.name).as_str())
                    .await
                {
                    let schema = table.schema().as_arrow().clone();
                    status.types = types_of(entity, &schema);
                }
            }
            Err(error) => {
                status.error.get_or_insert_with(|| {
                    format!(
                        "cannot be served: {}",
                        crate::error::first_line(&error.to_string())
                    )
                });
            }
        }
        status
    }

    fn usable(&self, name: &str) -> bool {
        self.entity(name).is_some_and(EntityStatus::usable)
    }

    /// Plans the shop's source, checks it against the contract and returns the view's query.
    async fn check_source(
        &self,
        ctx: &SessionContext,
        status: &mut EntityStatus,
        query: &str,
    ) -> std::result::Result<String, String> {
        let entity = status.entity;
        let frame = ctx.sql(query).await.map_err(|e| {
            format!(
                "{} does not plan: {}",
                status.source,
                crate::error::first_line(&e.to_string())
            )
        })?;
        let schema = frame.schema().as_arrow().clone();
        let mut problems = Vec::new();
        for column in entity.columns {
            match schema.field_with_name(column.name) {
                Ok(field) if column.kind.accepts(field.data_type()) => {
                    status.provided.insert(column.name);
                }
                Ok(field) => problems.push(format!(
                    "column {} is {}, expected {} (cast it in the mapping)",
                    column.name,
                    sql_type_name(field.data_type()),
                    column.kind.accepted()
                )),
                Err(_) if column.required => problems.push(format!(
                    "required column {} ({}) is missing",
                    column.name,
                    column.kind.accepted()
                )),
                Err(_) => {}
            }
        }
        if !problems.is_empty() {
            return Err(format!("{}: {}", status.source, problems.join("; ")));
        }
        let mut select = Vec::new();
        for column in entity.columns {
            select.push(match schema.field_with_name(column.name) {
                Ok(field) => match column.kind.normalized(field.data_type()) {
                    Some(sql_type) => {
                        format!("CAST(src.\"{0}\" AS {sql_type}) AS \"{0}\"", column.name)
                    }
                    None => format!("src.\"{}\"", column.name),
                },
                Err(_) => self.stand_in(column),
            });
        }
        for field in schema.fields() {
            if entity.column(field.name()).is_none() {
                select.push(format!("src.\"{}\"", field.name().replace('"', "\"\"")));
            }
        }
        Ok(format!(
            "SELECT {} FROM ({query}) AS src",
            select.join(", ")
        ))
    }

    /// The expression standing in for a missing optional column.
    fn stand_in(&self, column: &Column) -> String {
        match column.missing {
            Missing::Expression(sql) => format!("{sql} AS \"{}\"", column.name),
            Missing::Null => format!(
                "CAST(NULL AS {}) AS \"{}\"",
                self.null_type(column),
                column.name
            ),
        }
    }

    /// The type of a NULL stand-in: ids take the type the shop uses for them in orders, so
    /// joins between entities compare like with like.
    fn null_type(&self, column: &Column) -> String {
        if column.kind == Kind::Id
            && let Some(found) = self.column_type("orders", column.name)
        {
            return sql_type_name(found);
        }
        column.kind.null_type().to_string()
    }

    /// An empty view with the contract's columns.
    fn empty_view(&self, entity: &Entity) -> String {
        let columns: Vec<String> = entity
            .columns
            .iter()
            .map(|c| format!("CAST(NULL AS {}) AS \"{}\"", self.null_type(c), c.name))
            .collect();
        format!("SELECT {} WHERE false", columns.join(", "))
    }
}

/// A mapping file's `SELECT` without comments at the end and a trailing `;`.
fn strip_statement(text: &str) -> String {
    text.trim().trim_end_matches(';').trim().to_string()
}

/// The contract columns' types in a built view.
fn types_of(entity: &Entity, schema: &Schema) -> BTreeMap<&'static str, DataType> {
    entity
        .columns
        .iter()
        .filter_map(|c| {
            schema
                .field_with_name(c.name)
                .ok()
                .map(|f| (c.name, f.data_type().clone()))
        })
        .collect()
}

/// The SQL name of an Arrow type, as people write it in a mapping.
pub fn sql_type_name(data_type: &DataType) -> String {
    use DataType::*;
    match data_type {
        Utf8 | Utf8View | LargeUtf8 => "VARCHAR".to_string(),
        Int8 | Int16 | UInt8 => "SMALLINT".to_string(),
        Int32 | UInt16 => "INTEGER".to_string(),
        Int64 | UInt32 | UInt64 => "BIGINT".to_string(),
        Float32 => "REAL".to_string(),
        Float64 => "DOUBLE".to_string(),
        Decimal128(p, s) | Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        Boolean => "BOOLEAN".to_string(),
        Date32 | Date64 => "DATE".to_string(),
        Timestamp(_, None) => "TIMESTAMP".to_string(),
        Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE".to_string(),
        List(field) | LargeList(field) => format!("{}[]", sql_type_name(field.data_type())),
        other => other.to_string(),
    }
}
