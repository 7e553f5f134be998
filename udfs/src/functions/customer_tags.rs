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

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::internal_datafusion_err;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Documentation, LogicalPlan, LogicalPlanBuilder};
use futures::FutureExt;
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
        // A view: planned at call time, no kernel to rebuild.
        kernel: None,
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
    /// Plans the evaluation query now, in the calling session, and serves it as a view: the
    /// planner inlines the plan, so nothing is planned when (or where) it is executed.
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let [as_of] = exprs else {
            return crate::crm_err!(
                WrongArity,
                "customer_tags takes (as_of), got {} arguments",
                exprs.len()
            );
        };
        let as_of = args::date("customer_tags", 1, as_of, args.session())?;
        let query = self.definitions.query_for(as_of, &self.customer_id_type);
        let state = args
            .session()
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| internal_datafusion_err!("customer_tags needs a DataFusion session"))?;
        // Registered tables and views resolve without waiting; a query that would need I/O
        // to find its tables cannot be planned inside the planning of the calling query.
        let plan = state
            .create_logical_plan(&query)
            .now_or_never()
            .ok_or_else(|| {
                crate::crm_error!(
                    Unsupported,
                    "customer_tags cannot be planned here: the tables of its feature query do \
                     not resolve without waiting"
                )
            })?
            .map_err(|e| {
                e.context("customer_tags: evaluating the tag definitions (sql/tags/tags.toml)")
            })?;
        let plan = declared_types(plan, &self.customer_id_type)?;
        Ok(Arc::new(ViewTable::new(plan, Some(query))))
    }
}

/// The evaluation plan projected to exactly the declared column types (`CAST(... AS VARCHAR)`
/// may plan as a view type); the nullability stays the plan's, so the view's schema is the
/// plan's schema.
fn declared_types(plan: LogicalPlan, customer_id_type: &DataType) -> Result<LogicalPlan> {
    let declared = schema(customer_id_type);
    LogicalPlanBuilder::from(plan)
        .project(declared.fields().iter().map(|field| {
            datafusion::logical_expr::cast(
                datafusion::prelude::col(field.name()),
                field.data_type().clone(),
            )
            .alias(field.name())
        }))?
        .build()
}

/// The declared columns: `customer_id` of the served id type and `tags` as a text list.
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
    use datafusion::prelude::SessionContext;

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

    #[tokio::test]
    async fn is_served_as_a_view_planned_at_call_time() {
        let ctx = crate::slt_runner::fixture_context().await;
        let state = ctx.state();
        let as_of = [crate::table::testing::date("2026-01-01")];
        for id_type in [DataType::Int64, DataType::Utf8] {
            let definitions = TagDefinitions::parse(DEFAULT_DEFINITIONS).unwrap();
            let CrmFunction::Table(function) = with_definitions_for(definitions, id_type.clone())
            else {
                panic!("a table function");
            };
            assert!(function.kernel.is_none());
            let provider = function
                .function
                .call_with_args(TableFunctionArgs::new(&as_of, &state))
                .unwrap();
            assert_eq!(
                provider.table_type(),
                datafusion::logical_expr::TableType::View
            );
            let plan = provider.get_logical_plan().expect("a view");
            assert_eq!(provider.schema().as_ref(), plan.schema().as_arrow());
            let declared = schema(&id_type);
            let types = |s: &Schema| -> Vec<DataType> {
                s.fields().iter().map(|f| f.data_type().clone()).collect()
            };
            assert_eq!(types(provider.schema().as_ref()), types(declared.as_ref()));
        }
        // Through SQL the view is inlined and runs.
        let rows: usize = ctx
            .sql("SELECT * FROM customer_tags(DATE '2026-01-01')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(rows, 7);
    }

    #[tokio::test]
    async fn a_missing_table_is_an_error_at_call_time() {
        let ctx = SessionContext::new_with_config(crate::with_function_options(
            datafusion::prelude::SessionConfig::new(),
        ));
        crate::register_all(&ctx).unwrap();
        let err = ctx
            .sql("SELECT * FROM customer_tags(DATE '2026-01-01')")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("customer_tags: evaluating the tag definitions"),
            "{err}"
        );
    }
}
