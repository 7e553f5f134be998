//! The goal tree of crm-reference §5.2: goals, the metrics that measure them, and targets per
//! period and segment, read from `goals.toml` and `targets.csv` and served as the tables of the
//! `goals` schema (`goals.goals`, `goals.metrics`, `goals.goal_metrics`, `goals.targets`).
//!
//! A goal may have a parent goal; a metric hangs under one or more goals with a weight. Each
//! metric carries a SQL template that the goal-attainment report runs for its period: it
//! returns one `actual` per `(segment_kind, segment)`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::csv::ReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::error::{Result, SegmintError};

/// The schema the goal tree is served in.
pub const SCHEMA: &str = "goals";

/// One goal: "Improve retention".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// Identifier (lowercase snake_case).
    pub id: String,
    /// Display name.
    pub name: String,
    /// What the goal means.
    #[serde(default)]
    pub description: String,
    /// Who answers for it.
    #[serde(default)]
    pub owner: String,
    /// The goal it rolls up into, if any.
    pub parent: Option<String>,
    /// Its weight among its parent's children.
    #[serde(default = "one")]
    pub weight: f64,
}

/// One measurable metric: "Cohort month+1 retention".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    /// Identifier (lowercase snake_case).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unit shown next to values (`"%"`, `"USD"`, `"days"`).
    #[serde(default)]
    pub unit: String,
    /// `"up"` when more is better, `"down"` when less is (resolution time).
    pub direction: String,
    /// The period targets are set for: day, week, month or quarter.
    #[serde(default = "month")]
    pub grain: String,
    /// The goals this metric measures, with its weight in each.
    pub goals: BTreeMap<String, f64>,
    /// SQL returning `segment_kind, segment, actual` for the report's period.
    pub sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GoalFile {
    #[serde(default, rename = "goal")]
    goals: Vec<Goal>,
    #[serde(default, rename = "metric")]
    metrics: Vec<Metric>,
}

fn one() -> f64 {
    1.0
}

fn month() -> String {
    "month".to_string()
}

/// Goals, metrics and targets, checked.
#[derive(Debug, Clone)]
pub struct GoalTree {
    /// Goals in file order.
    pub goals: Vec<Goal>,
    /// Metrics in file order.
    pub metrics: Vec<Metric>,
    /// `targets.csv` as one batch.
    pub targets: RecordBatch,
}

fn invalid(what: &str, message: String) -> SegmintError {
    SegmintError::ConfigInvalid(format!("goal tree ({what}): {message}"))
}

impl GoalTree {
    /// Reads `goals.toml` and `targets.csv` from `dir`, or the shipped tree when `None`.
    pub fn load(dir: Option<&Path>) -> Result<GoalTree> {
        match dir {
            None => GoalTree::parse(
                crate::project::SHIPPED_GOALS,
                crate::project::SHIPPED_TARGETS,
            ),
            Some(dir) => {
                let read = |file: &str| {
                    let path = dir.join(file);
                    std::fs::read_to_string(&path)
                        .map_err(|e| SegmintError::io(format!("reading {}", path.display()), e))
                };
                GoalTree::parse(&read("goals.toml")?, &read("targets.csv")?)
            }
        }
    }

    /// Parses and checks a goal file and a targets file.
    pub fn parse(goals_toml: &str, targets_csv: &str) -> Result<GoalTree> {
        let file: GoalFile =
            toml::from_str(goals_toml).map_err(|e| invalid("goals.toml", e.to_string()))?;
        let targets = read_targets(targets_csv)?;
        let tree = GoalTree {
            goals: file.goals,
            metrics: file.metrics,
            targets,
        };
        tree.check()?;
        Ok(tree)
    }

    fn check(&self) -> Result<()> {
        let mut goal_ids = BTreeSet::new();
        for goal in &self.goals {
            check_id("goal", &goal.id)?;
            check_weight(&goal.id, goal.weight)?;
            if !goal_ids.insert(goal.id.as_str()) {
                return Err(invalid(
                    "goals.toml",
                    format!("goal '{}' is defined twice", goal.id),
                ));
            }
        }
        let parents: BTreeMap<&str, Option<&str>> = self
            .goals
            .iter()
            .map(|g| (g.id.as_str(), g.parent.as_deref()))
            .collect();
        for goal in &self.goals {
            let mut seen = BTreeSet::from([goal.id.as_str()]);
            let mut next = goal.parent.as_deref();
            while let Some(parent) = next {
                let Some(grand) = parents.get(parent) else {
                    return Err(invalid(
                        "goals.toml",
                        format!("goal '{}' has unknown parent '{parent}'", goal.id),
                    ));
                };
                if !seen.insert(parent) {
                    return Err(invalid(
                        "goals.toml",
                        format!("goal '{}' is its own ancestor", goal.id),
                    ));
                }
                next = *grand;
            }
        }
        let mut metric_ids = BTreeSet::new();
        for metric in &self.metrics {
            check_id("metric", &metric.id)?;
            if !metric_ids.insert(metric.id.as_str()) {
                return Err(invalid(
                    "goals.toml",
                    format!("metric '{}' is defined twice", metric.id),
                ));
            }
            if !matches!(metric.direction.as_str(), "up" | "down") {
                return Err(invalid(
                    "goals.toml",
                    format!("metric '{}': direction must be 'up' or 'down'", metric.id),
                ));
            }
            if !matches!(metric.grain.as_str(), "day" | "week" | "month" | "quarter") {
                return Err(invalid(
                    "goals.toml",
                    format!(
                        "metric '{}': grain must be day, week, month or quarter",
                        metric.id
                    ),
                ));
            }
            if metric.goals.is_empty() {
                return Err(invalid(
                    "goals.toml",
                    format!("metric '{}' measures no goal", metric.id),
                ));
            }
            for (goal, weight) in &metric.goals {
                if !goal_ids.contains(goal.as_str()) {
                    return Err(invalid(
                        "goals.toml",
                        format!("metric '{}' names unknown goal '{goal}'", metric.id),
                    ));
                }
                check_weight(&metric.id, *weight)?;
            }
        }
        let column = self
            .targets
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| invalid("targets.csv", "metric_id is not text".into()))?;
        for id in column.iter().flatten() {
            if !metric_ids.contains(id) {
                return Err(invalid(
                    "targets.csv",
                    format!("target for unknown metric '{id}'"),
                ));
            }
        }
        Ok(())
    }

    /// Serves the tree as the tables of the `goals` schema in `ctx`'s default catalog.
    pub fn register(&self, ctx: &SessionContext) -> Result<()> {
        let Some(schema) = super::new_schema(ctx, SCHEMA)? else {
            return Ok(());
        };
        for (name, batch) in [
            ("goals", self.goals_batch()?),
            ("metrics", self.metrics_batch()?),
            ("goal_metrics", self.goal_metrics_batch()?),
            ("targets", self.targets.clone()),
        ] {
            let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
            schema.register_table(name.to_string(), Arc::new(table))?;
        }
        Ok(())
    }

    fn goals_batch(&self) -> Result<RecordBatch> {
        let text = |f: fn(&Goal) -> Option<&str>| -> ArrayRef {
            Arc::new(self.goals.iter().map(f).collect::<StringArray>())
        };
        batch(
            &[
                ("goal_id", false),
                ("name", false),
                ("description", false),
                ("owner", false),
                ("parent_goal_id", true),
            ],
            vec![
                text(|g| Some(&g.id)),
                text(|g| Some(&g.name)),
                text(|g| Some(&g.description)),
                text(|g| Some(&g.owner)),
                text(|g| g.parent.as_deref()),
            ],
            Some(self.goals.iter().map(|g| g.weight).collect()),
        )
    }

    fn metrics_batch(&self) -> Result<RecordBatch> {
        let text = |f: fn(&Metric) -> &str| -> ArrayRef {
            Arc::new(
                self.metrics
                    .iter()
                    .map(|m| Some(f(m)))
                    .collect::<StringArray>(),
            )
        };
        batch(
            &[
                ("metric_id", false),
                ("name", false),
                ("unit", false),
                ("direction", false),
                ("grain", false),
                ("agg_sql", false),
            ],
            vec![
                text(|m| &m.id),
                text(|m| &m.name),
                text(|m| &m.unit),
                text(|m| &m.direction),
                text(|m| &m.grain),
                text(|m| m.sql.trim()),
            ],
            None,
        )
    }

    fn goal_metrics_batch(&self) -> Result<RecordBatch> {
        let edges: Vec<(&str, &str, f64)> = self
            .metrics
            .iter()
            .flat_map(|m| m.goals.iter().map(|(g, w)| (g.as_str(), m.id.as_str(), *w)))
            .collect();
        batch(
            &[("goal_id", false), ("metric_id", false)],
            vec![
                Arc::new(edges.iter().map(|e| Some(e.0)).collect::<StringArray>()),
                Arc::new(edges.iter().map(|e| Some(e.1)).collect::<StringArray>()),
            ],
            Some(edges.iter().map(|e| e.2).collect()),
        )
    }
}

/// A batch of text columns, with a trailing `weight` column when given.
fn batch(
    names: &[(&str, bool)],
    mut columns: Vec<ArrayRef>,
    weights: Option<Vec<f64>>,
) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = names
        .iter()
        .map(|(name, nullable)| Field::new(*name, DataType::Utf8, *nullable))
        .collect();
    if let Some(weights) = weights {
        fields.push(Field::new("weight", DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from(weights)));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// `targets.csv` with its fixed columns.
fn read_targets(text: &str) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("metric_id", DataType::Utf8, false),
        Field::new("period_start", DataType::Date32, false),
        Field::new("period_end", DataType::Date32, false),
        Field::new("segment_kind", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("target_value", DataType::Float64, false),
        Field::new("baseline_value", DataType::Float64, true),
    ]));
    let reader = ReaderBuilder::new(schema.clone())
        .with_header(true)
        .with_comment(b'#')
        .build(std::io::Cursor::new(text.as_bytes()))
        .map_err(|e| invalid("targets.csv", e.to_string()))?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| invalid("targets.csv", e.to_string()))?;
    Ok(datafusion::arrow::compute::concat_batches(
        &schema, &batches,
    )?)
}

fn check_id(kind: &str, id: &str) -> Result<()> {
    if crate::config::is_identifier(id) {
        Ok(())
    } else {
        Err(invalid(
            "goals.toml",
            format!("{kind} id '{id}' must be lowercase snake_case"),
        ))
    }
}

fn check_weight(id: &str, weight: f64) -> Result<()> {
    if weight.is_finite() && weight > 0.0 {
        Ok(())
    } else {
        Err(invalid(
            "goals.toml",
            format!("'{id}': weights must be positive"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOALS: &str = r#"
[[goal]]
id = "value"
name = "Grow customer value"

[[goal]]
id = "retention"
name = "Improve retention"
parent = "value"
weight = 2

[[metric]]
id = "m1_retention"
name = "Month+1 retention"
direction = "up"
goals = { retention = 1 }
sql = "SELECT 'all' AS segment_kind, 'all' AS segment, 0.2 AS actual"
"#;
    const TARGETS: &str = "metric_id,period_start,period_end,segment_kind,segment,target_value,baseline_value\n\
        m1_retention,2026-01-01,2027-01-01,all,all,0.25,0.2\n";

    #[test]
    fn the_shipped_tree_is_valid() {
        let tree = GoalTree::load(None).expect("shipped goal tree");
        assert!(tree.metrics.len() >= 10);
        assert!(tree.targets.num_rows() > 0);
    }

    #[test]
    fn parses_goals_metrics_and_targets() {
        let tree = GoalTree::parse(GOALS, TARGETS).expect("valid tree");
        assert_eq!(tree.goals.len(), 2);
        assert_eq!(tree.targets.num_rows(), 1);
        assert_eq!(tree.goal_metrics_batch().expect("edges").num_rows(), 1);
    }

    #[test]
    fn refuses_unknown_parents_cycles_and_targets() {
        let unknown = GOALS.replace("parent = \"value\"", "parent = \"nope\"");
        let error = GoalTree::parse(&unknown, TARGETS).expect_err("unknown parent");
        assert!(
            error.to_string().contains("unknown parent 'nope'"),
            "{error}"
        );

        let cycle = GOALS.replace(
            "name = \"Grow customer value\"",
            "name = \"x\"\nparent = \"retention\"",
        );
        let error = GoalTree::parse(&cycle, TARGETS).expect_err("cycle");
        assert!(error.to_string().contains("own ancestor"), "{error}");

        let targets = TARGETS.replace("m1_retention,2026", "nope,2026");
        let error = GoalTree::parse(GOALS, &targets).expect_err("unknown metric");
        assert!(
            error.to_string().contains("unknown metric 'nope'"),
            "{error}"
        );

        let direction = GOALS.replace("direction = \"up\"", "direction = \"sideways\"");
        assert!(GoalTree::parse(&direction, TARGETS).is_err());
    }
}
