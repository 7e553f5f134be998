//! `customer_tags(as_of)`: every customer's rule-based tags as a text array
//! (`customer_id, tags`).
//!
//! Business meaning: the tag system of crm-reference §3.2 — basic-info, behaviour, value and
//! preference tags — defined as data, not code. The definitions live in `sql/tags/tags.toml`:
//! a per-customer feature query (`{as_of}` marks the analysis date) and a list of tags, each a
//! boolean SQL predicate over the features with a category, an optional mutually exclusive
//! `group` (the lowest `priority` that matches wins) and a priority. Evaluation is one query:
//! one `CASE` per group and per stand-alone tag, collected with `array_compact`, so adding a
//! tag costs one expression, not one scan.
//!
//! Pair it with `has_tag(tags, 'price_sensitive')` or `array_has(tags, ...)` to select a
//! segment. Definitions are checked when the function is built: unknown keys, duplicate or
//! malformed names, and a feature query without `{as_of}` are errors.
//!
//! `customer_id` is returned as BIGINT by default; [`with_definitions_for`] serves it as the
//! deployment's own id type (text ids: Olist-style hex strings, e-mail hashes). A tag may say
//! what it `needs` from the customer model (`needs = ["order_items"]`): the server leaves out
//! the tags whose inputs the shop does not have.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{internal_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Documentation, Expr, LogicalPlanBuilder, TableType};
use datafusion::physical_plan::ExecutionPlan;
use serde::Deserialize;

use crate::args::{self, Days};
use crate::{CrmFunction, NamedTableFunction};

/// The tag definitions shipped with Segmint (`sql/tags/tags.toml`).
pub const DEFAULT_DEFINITIONS: &str = include_str!("../../../sql/tags/tags.toml");

/// Registers `customer_tags` with the shipped definitions.
pub fn functions() -> Vec<CrmFunction> {
    let definitions = TagDefinitions::parse(DEFAULT_DEFINITIONS)
        .unwrap_or_else(|error| panic!("sql/tags/tags.toml is invalid: {error}"));
    vec![with_definitions(definitions)]
}

/// `customer_tags` evaluating `definitions` (for a deployment's own tag file).
pub fn with_definitions(definitions: TagDefinitions) -> CrmFunction {
    with_definitions_for(definitions, DataType::Int64)
}

/// `customer_tags` evaluating `definitions`, serving `customer_id` as `customer_id_type`
/// (BIGINT or text).
pub fn with_definitions_for(
    definitions: TagDefinitions,
    customer_id_type: DataType,
) -> CrmFunction {
    let customer_id_type = if customer_id_type.is_integer() {
        DataType::Int64
    } else {
        DataType::Utf8
    };
    CrmFunction::Table(Box::new(NamedTableFunction {
        name: "customer_tags",
        function: Arc::new(CustomerTags {
            definitions: Arc::new(definitions),
            customer_id_type,
        }),
        argument_types: &[DataType::Date32],
        documentation: documentation(),
    }))
}

/// One tag rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDefinition {
    /// The tag as it appears in `tags` (lowercase snake_case).
    pub name: String,
    /// `basic`, `behavior`, `preference`, `value` or `lifecycle`.
    pub category: String,
    /// Mutually exclusive group: at most one tag of a group per customer.
    #[serde(default)]
    pub group: Option<String>,
    /// Within a group, the lowest priority that matches wins.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// Boolean SQL expression over the feature columns.
    pub predicate: String,
    /// Disabled tags are kept in the file but not evaluated.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// What the tag needs from the customer model (`"order_items"`, `"orders.channel"`);
    /// a deployment without it leaves the tag out.
    #[serde(default)]
    pub needs: Vec<String>,
}

fn default_priority() -> i32 {
    100
}

fn enabled() -> bool {
    true
}

/// A parsed, checked tag file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDefinitions {
    /// The per-customer feature query; `{as_of}` is replaced by the analysis date.
    pub features: String,
    /// What every tag needs from the customer model (the feature query's inputs).
    #[serde(default)]
    pub needs: Vec<String>,
    /// The tags, in file order.
    #[serde(rename = "tag")]
    pub tags: Vec<TagDefinition>,
}

const CATEGORIES: &[&str] = &["basic", "behavior", "preference", "value", "lifecycle"];

impl TagDefinitions {
    /// Parses and checks a tag file.
    pub fn parse(text: &str) -> std::result::Result<TagDefinitions, String> {
        let definitions: TagDefinitions = toml::from_str(text).map_err(|e| e.to_string())?;
        if !definitions.features.contains("{as_of}") {
            return Err("the features query must use {as_of}".to_string());
        }
        let mut seen = std::collections::HashSet::new();
        for tag in &definitions.tags {
            let valid = !tag.name.is_empty()
                && tag
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(format!(
                    "tag name '{}' must be lowercase snake_case",
                    tag.name
                ));
            }
            if !seen.insert(tag.name.as_str()) {
                return Err(format!("tag '{}' is defined twice", tag.name));
            }
            if !CATEGORIES.contains(&tag.category.as_str()) {
                return Err(format!(
                    "tag '{}': category '{}' is not one of {}",
                    tag.name,
                    tag.category,
                    CATEGORIES.join(", ")
                ));
            }
            if tag.predicate.trim().is_empty() {
                return Err(format!("tag '{}' has an empty predicate", tag.name));
            }
        }
        Ok(definitions)
    }

    /// The evaluation query for one analysis date, with BIGINT customer ids.
    pub fn query(&self, as_of: Days) -> String {
        self.query_for(as_of, &DataType::Int64)
    }

    /// The evaluation query for one analysis date, with customer ids of `customer_id_type`.
    pub fn query_for(&self, as_of: Days, customer_id_type: &DataType) -> String {
        let id_type = if customer_id_type.is_integer() {
            "BIGINT"
        } else {
            "VARCHAR"
        };
        let as_of = format!("DATE '{}'", args::format_date(as_of));
        let mut groups: BTreeMap<&str, Vec<&TagDefinition>> = BTreeMap::new();
        let mut columns = Vec::new();
        for tag in self.tags.iter().filter(|t| t.enabled) {
            match &tag.group {
                Some(group) => groups.entry(group.as_str()).or_default().push(tag),
                None => columns.push(format!(
                    "CASE WHEN ({}) THEN '{}' END",
                    tag.predicate, tag.name
                )),
            }
        }
        for (_, mut tags) in groups {
            tags.sort_by_key(|t| t.priority);
            let arms: Vec<String> = tags
                .iter()
                .map(|t| format!("WHEN ({}) THEN '{}'", t.predicate, t.name))
                .collect();
            columns.push(format!("CASE {} END", arms.join(" ")));
        }
        let tags = if columns.is_empty() {
            "CAST(make_array() AS VARCHAR[])".to_string()
        } else {
            format!("array_compact(make_array({}))", columns.join(",\n  "))
        };
        format!(
            "WITH features AS (\n{}\n)\nSELECT CAST(customer_id AS {id_type}) AS customer_id,\n  {tags} AS tags\nFROM features",
            self.features.replace("{as_of}", &as_of)
        )
    }
}

/// The `customer_tags` table function.
#[derive(Debug)]
pub struct CustomerTags {
    definitions: Arc<TagDefinitions>,
    customer_id_type: DataType,
}

impl TableFunctionImpl for CustomerTags {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let [as_of] = exprs else {
            return plan_err!("customer_tags takes (as_of), got {} arguments", exprs.len());
        };
        let as_of = args::date("customer_tags", 1, as_of, args.session())?;
        Ok(Arc::new(TagTable {
            query: self.definitions.query_for(as_of, &self.customer_id_type),
            schema: schema(&self.customer_id_type),
        }))
    }
}

/// The tags of one analysis date: planned from the evaluation query when scanned.
#[derive(Debug)]
struct TagTable {
    query: String,
    schema: SchemaRef,
}

fn schema(customer_id_type: &DataType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("customer_id", customer_id_type.clone(), true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ),
    ]))
}

#[async_trait]
impl TableProvider for TagTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| internal_datafusion_err!("customer_tags needs a DataFusion session"))?;
        let plan = state.create_logical_plan(&self.query).await.map_err(|e| {
            e.context("customer_tags: evaluating the tag definitions (sql/tags/tags.toml)")
        })?;
        // Serve exactly the declared types (`CAST(... AS VARCHAR)` may plan as a view type).
        let plan = LogicalPlanBuilder::from(plan)
            .project(self.schema.fields().iter().map(|field| {
                datafusion::logical_expr::cast(
                    datafusion::prelude::col(field.name()),
                    field.data_type().clone(),
                )
                .alias(field.name())
            }))?
            .build()?;
        let plan = match projection {
            Some(indices) => LogicalPlanBuilder::from(plan)
                .select(indices.iter().copied())?
                .build()?,
            None => plan,
        };
        state.create_physical_plan(&plan).await
    }
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "Rule-based tags of every customer (crm-reference §3.2) as a text array: \
             basic-info (age band), value (vip, high_spender), behaviour (one_time_buyer, \
             repeat_buyer, high_frequency, recent_buyer) and preference tags (price_sensitive, \
             full_price_buyer, brand_loyal, prefers_<channel>). Definitions are data in \
             sql/tags/tags.toml: a feature query and one SQL predicate per tag, with mutually \
             exclusive groups (lowest priority wins).",
            "customer_tags(as_of)",
        )
        .with_argument("as_of", "analysis date; orders before it count")
        .with_sql_example(
            "SELECT customer_id, tags FROM customer_tags(DATE '2026-01-01')\n\
             WHERE has_tag(tags, 'price_sensitive') LIMIT 10;",
        )
        .build()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_definitions_parse() {
        let definitions = TagDefinitions::parse(DEFAULT_DEFINITIONS).unwrap();
        assert!(definitions.tags.len() >= 10);
        let query = definitions.query(args::parse_date("2026-01-01").unwrap());
        assert!(query.contains("DATE '2026-01-01'"));
        assert!(!query.contains("{as_of}"));
        // One CASE per group: the age group is a single expression.
        assert_eq!(query.matches("THEN 'age_").count(), 6);
    }

    #[test]
    fn bad_definitions_are_refused() {
        let ok = "features = \"SELECT 1 AS customer_id WHERE {as_of} IS NOT NULL\"\n";
        let tag = |name: &str, category: &str| {
            format!("[[tag]]\nname = \"{name}\"\ncategory = \"{category}\"\npredicate = \"true\"\n")
        };
        assert!(TagDefinitions::parse(&format!("{ok}{}", tag("a", "basic"))).is_ok());
        assert!(TagDefinitions::parse(&format!("{ok}{}", tag("Bad Name", "basic"))).is_err());
        assert!(TagDefinitions::parse(&format!("{ok}{}", tag("a", "mood"))).is_err());
        assert!(
            TagDefinitions::parse(&format!("{ok}{}{}", tag("a", "basic"), tag("a", "value")))
                .is_err()
        );
        assert!(TagDefinitions::parse("features = \"SELECT 1\"\n").is_err());
        assert!(TagDefinitions::parse(&format!("{ok}colour = 1\n")).is_err());
    }
}
