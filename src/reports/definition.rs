//! Report definitions: one `.sql` file per report, whose leading `--` comment lines are TOML
//! front matter (name, description, schedule, time zone, period, outputs, parameters, charts)
//! and whose body, after the first line that is not such a comment, is the query. The shipped reports are compiled in; `[reports] dir` adds
//! files and replaces shipped reports of the same name.
//!
//! ```sql
//! -- name = "order_value"
//! -- description = "AOV, purchase frequency and revenue per customer"
//! -- schedule = "0 6 * * *"        # cron: minute hour day-of-month month day-of-week
//! -- timezone = "Asia/Shanghai"
//! -- period = "month"
//! -- outputs = ["parquet", "csv", "html"]
//! SELECT ...
//! ```

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono_tz::Tz;
use serde::Deserialize;

use super::period::Period;
use crate::error::{Result, SegmintError};

/// The name of the run-history table; no report may take it.
pub const RUNS_TABLE: &str = "report_runs";

/// An output format of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// `<name>/<as_of>.parquet`: what `reports.<name>` reads.
    Parquet,
    /// `<name>/<as_of>.csv`, with a header row.
    Csv,
    /// `<name>/<as_of>.html`: a self-contained page with the report's charts.
    Html,
}

/// How a chart draws its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    /// One horizontal bar per category.
    Bar,
    /// A grid: categories down, series across, cells shaded by value.
    Heatmap,
}

/// How chart values are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// `1,234.5`.
    #[default]
    Number,
    /// `12.3%` (the value is a ratio).
    Percent,
}

/// One chart of the HTML page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// Bar or heatmap.
    pub kind: ChartKind,
    /// Heading above the chart.
    pub title: String,
    /// A query (same placeholders as the report) giving the chart's rows; default: the
    /// report's own rows.
    pub sql: Option<String>,
    /// Bar label, or heatmap row.
    pub category: String,
    /// Heatmap column.
    pub series: Option<String>,
    /// The number drawn.
    pub value: String,
    /// A value drawn as a reference line (bar charts: the target, such as 1.0 attainment).
    pub reference: Option<f64>,
    /// A column of `green` / `amber` / `red` colouring each bar.
    pub status: Option<String>,
    /// Keep only rows whose text columns equal these values.
    #[serde(default)]
    pub filter: BTreeMap<String, String>,
    /// How values are printed.
    #[serde(default)]
    pub format: ValueFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    name: String,
    #[serde(default)]
    description: String,
    schedule: Option<String>,
    #[serde(default = "utc")]
    timezone: String,
    #[serde(default)]
    period: Period,
    #[serde(default = "default_outputs")]
    outputs: Vec<OutputKind>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
    #[serde(default, rename = "chart")]
    charts: Vec<ChartSpec>,
    #[serde(default)]
    needs: Vec<String>,
}

fn utc() -> String {
    "UTC".to_string()
}

fn default_outputs() -> Vec<OutputKind> {
    vec![OutputKind::Parquet, OutputKind::Csv]
}

/// A report, ready to run.
#[derive(Debug, Clone)]
pub struct ReportDefinition {
    /// Identifier: the file name and the table `reports.<name>`.
    pub name: String,
    /// What the report shows.
    pub description: String,
    /// When the scheduler runs it (cron with seconds, as parsed); `None`: on demand only.
    pub schedule: Option<cron::Schedule>,
    /// The schedule as written.
    pub schedule_text: Option<String>,
    /// The time zone the schedule is read in.
    pub timezone: Tz,
    /// The default period.
    pub period: Period,
    /// Formats written by each run.
    pub outputs: Vec<OutputKind>,
    /// Extra `{name}` placeholders, as SQL literals.
    pub params: BTreeMap<String, String>,
    /// Charts of the HTML page.
    pub charts: Vec<ChartSpec>,
    /// The query template.
    pub sql: String,
    /// Where it was read from (`built-in:goal_attainment.sql` or a path).
    pub source: String,
    /// What it needs from the customer model (`events`, `orders.channel`): without it the
    /// report is listed as unavailable and refuses to run (SQLSTATE 55000).
    pub needs: Vec<String>,
}

impl ReportDefinition {
    /// Parses one file; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<ReportDefinition> {
        let invalid = |message: String| SegmintError::Report {
            report: source.to_string(),
            message,
        };
        let mut header = String::new();
        let mut body_start = text.len();
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            let trimmed = line.trim_start();
            if let Some(comment) = trimmed.strip_prefix("--") {
                header.push_str(comment.strip_prefix(' ').unwrap_or(comment));
                if !comment.ends_with('\n') {
                    header.push('\n');
                }
            } else {
                body_start = offset;
                break;
            }
            offset += line.len();
        }
        let front: FrontMatter = toml::from_str(&header)
            .map_err(|e| invalid(format!("front matter: {}", e.message())))?;
        if !crate::config::is_identifier(&front.name) || front.name == RUNS_TABLE {
            return Err(invalid(format!(
                "name '{}' must be a lowercase SQL identifier other than {RUNS_TABLE}",
                front.name
            )));
        }
        let sql = text[body_start..].trim().trim_end_matches(';').to_string();
        if sql.is_empty() {
            return Err(invalid(
                "the file has no query after its front matter".into(),
            ));
        }
        let schedule = match &front.schedule {
            Some(text) => Some(parse_schedule(text).map_err(invalid)?),
            None => None,
        };
        let timezone = Tz::from_str(&front.timezone).map_err(|_| {
            invalid(format!(
                "timezone '{}' is not an IANA time zone (such as Asia/Shanghai)",
                front.timezone
            ))
        })?;
        if front.outputs.is_empty() || !front.outputs.contains(&OutputKind::Parquet) {
            return Err(invalid(
                "outputs must include \"parquet\": it is what reports.<name> reads".into(),
            ));
        }
        let params = front
            .params
            .iter()
            .map(|(key, value)| Ok((key.clone(), param_literal(key, value).map_err(invalid)?)))
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(ReportDefinition {
            name: front.name,
            description: front.description,
            schedule,
            schedule_text: front.schedule,
            timezone,
            period: front.period,
            outputs: front.outputs,
            params,
            charts: front.charts,
            sql,
            source: source.to_string(),
            needs: front.needs,
        })
    }

    /// Whether a run writes `kind`.
    pub fn writes(&self, kind: OutputKind) -> bool {
        self.outputs.contains(&kind)
    }
}

/// Reads a cron expression: five fields (minute first, as crontab) or six / seven with
/// seconds first (as the `cron` crate).
pub fn parse_schedule(text: &str) -> std::result::Result<cron::Schedule, String> {
    let fields = text.split_whitespace().count();
    let expression = if fields == 5 {
        format!("0 {text}")
    } else {
        text.to_string()
    };
    cron::Schedule::from_str(&expression)
        .map_err(|e| format!("schedule '{text}' is not a cron expression: {e}"))
}

/// A front-matter parameter as the SQL literal it stands for.
fn param_literal(key: &str, value: &toml::Value) -> std::result::Result<String, String> {
    if !crate::config::is_identifier(key) {
        return Err(format!("parameter '{key}' must be a lowercase identifier"));
    }
    match value {
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) if x.is_finite() => Ok(format!("{x:?}")),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::String(s) => Ok(format!("'{}'", s.replace('\'', "''"))),
        other => Err(format!(
            "parameter '{key}' must be a number, boolean or string, not {}",
            other.type_str()
        )),
    }
}

/// The reports of `assets` (shipped ones replaced by the project's of the same file name),
/// by name; a later file of the same report name replaces an earlier one.
pub fn load_all(assets: &[crate::project::Asset]) -> Result<Vec<ReportDefinition>> {
    let mut reports = BTreeMap::new();
    for asset in assets {
        let report = ReportDefinition::parse(&asset.label(), &asset.text)?;
        reports.insert(report.name.clone(), report);
    }
    Ok(reports.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_report_parses_and_is_compiled_in() {
        let reports =
            load_all(&crate::project::Assets::shipped().reports).expect("shipped reports");
        assert_eq!(
            reports.len(),
            crate::project::SHIPPED_REPORTS.len(),
            "two shipped reports share a name"
        );
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/reports");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .expect("sql/reports")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        let mut listed: Vec<String> = crate::project::SHIPPED_REPORTS
            .iter()
            .map(|(f, _)| f.to_string())
            .collect();
        listed.sort();
        assert_eq!(files, listed, "a file in sql/reports is not in BUILT_IN");
        for report in &reports {
            assert_eq!(
                report.source,
                format!("built-in:{}.sql", report.name),
                "file name and report name differ"
            );
        }
    }

    #[test]
    fn reads_front_matter_and_body() {
        let report = ReportDefinition::parse(
            "t.sql",
            "-- name = \"daily\"\n-- schedule = \"30 6 * * *\"  # every morning\n\
             -- timezone = \"Asia/Shanghai\"\n-- period = \"week\"\n-- [params]\n-- floor = 0.5\n\
             -- who = \"it's\"\n\nSELECT 1;\n",
        )
        .expect("valid report");
        assert_eq!(report.name, "daily");
        assert_eq!(report.period, Period::Week);
        assert_eq!(report.sql, "SELECT 1");
        assert_eq!(report.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(report.params["floor"], "0.5");
        assert_eq!(report.params["who"], "'it''s'");
        assert!(report.schedule.is_some());
    }

    #[test]
    fn refuses_bad_headers() {
        let cases = [
            ("-- description = \"no name\"\nSELECT 1", "name"),
            (
                "-- name = \"x\"\n-- schedule = \"every day\"\nSELECT 1",
                "cron",
            ),
            (
                "-- name = \"x\"\n-- timezone = \"Mars/Olympus\"\nSELECT 1",
                "IANA",
            ),
            (
                "-- name = \"x\"\n-- outputs = [\"csv\"]\nSELECT 1",
                "parquet",
            ),
            ("-- name = \"report_runs\"\nSELECT 1", "other than"),
            ("-- name = \"x\"\n", "no query"),
            ("-- name = \"x\"\n-- colour = 1\nSELECT 1", "colour"),
        ];
        for (text, expected) in cases {
            let error = ReportDefinition::parse("t.sql", text).expect_err(text);
            assert!(error.to_string().contains(expected), "{text}: {error}");
        }
    }
}
