//! Filling a report's SQL template for one run.
//!
//! Placeholders are `{name}`:
//! * `{as_of}`, `{period_start}`, `{period_end}` (exclusive: the day after `as_of`),
//!   `{previous_period_start}`: `DATE` literals; `{period}`: the period's name as text.
//! * `{segments}`: a table with one row per customer and segment dimension
//!   (`customer_id, segment_kind, segment`) as of the period start: `all`, `rfm_segment`,
//!   `lifecycle_stage`, `channel` (the customer's main order channel) and `region`.
//!   `{segments_at_end}` is the same as of the period end. The run computes each once, before
//!   the queries that use it ([`SEGMENTS_START`], [`SEGMENTS_END`] in the run's schema).
//! * `{metric_actuals}`: a subquery of `metric_id, segment_kind, segment, actual`, every metric
//!   of the goal tree run for the period.
//! * any `[params]` of the report's front matter.
//!
//! A `{word}` that is none of these is an error, so a typo never reaches the engine.

use std::collections::BTreeMap;

use super::period::{Period, Window};
use super::run_session::RUN_SCHEMA;
use crate::catalog::GoalTree;

/// The run-local table `{segments}` stands for.
pub const SEGMENTS_START: &str = "segments_start";
/// The run-local table `{segments_at_end}` stands for.
pub const SEGMENTS_END: &str = "segments_end";

/// The query computing the segments of every customer as of `at`, from the segment
/// dimensions `segments` (`sql/segments/customer_segments.sql` or the project's copy).
pub fn segments_query(segments: &str, at: chrono::NaiveDate) -> String {
    segments
        .trim()
        .trim_end_matches(';')
        .replace("{at}", &date(at))
}

/// The run-local tables `sql` uses, with the date each is computed for.
pub fn segments_used(sql: &str, window: &Window) -> Vec<(&'static str, chrono::NaiveDate)> {
    let names: Vec<&str> = pieces(sql)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect();
    let mut used = Vec::new();
    if names.contains(&"segments") {
        used.push((SEGMENTS_START, window.start));
    }
    if names.contains(&"segments_at_end") {
        used.push((SEGMENTS_END, window.end));
    }
    used
}

/// A stretch of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    /// SQL kept as written (including string literals and comments).
    Text(&'a str),
    /// `{name}` outside string literals and comments.
    Placeholder(&'a str),
}

/// Splits `sql` into text and placeholders. Braces inside `'...'` literals, `"..."`
/// identifiers, `--` comments and `/* */` comments are text; so is `{...}` around anything
/// that is not an identifier.
fn pieces(sql: &str) -> Vec<Piece<'_>> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let skip_to = |from: usize, end: &str| {
            sql[from..]
                .find(end)
                .map_or(sql.len(), |p| from + p + end.len())
        };
        match bytes[i] {
            b'\'' => i = skip_to(i + 1, "'"),
            b'"' => i = skip_to(i + 1, "\""),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_to(i + 2, "\n"),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_to(i + 2, "*/"),
            b'{' => {
                let name = sql[i + 1..].find('}').map(|end| &sql[i + 1..i + 1 + end]);
                match name {
                    Some(name) if crate::config::is_identifier(name) => {
                        pieces.push(Piece::Text(&sql[start..i]));
                        pieces.push(Piece::Placeholder(name));
                        i += name.len() + 2;
                        start = i;
                    }
                    _ => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    pieces.push(Piece::Text(&sql[start..]));
    pieces
}

/// What a template may refer to.
pub struct Context<'a> {
    /// The run's dates.
    pub window: Window,
    /// The run's period.
    pub period: Period,
    /// The report's parameters, as SQL literals.
    pub params: &'a BTreeMap<String, String>,
    /// The goal tree, for `{metric_actuals}`.
    pub goals: &'a GoalTree,
}

fn date(d: chrono::NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

impl Context<'_> {
    /// `sql` with every placeholder replaced.
    pub fn render(&self, sql: &str) -> Result<String, String> {
        self.render_with(sql, true)
    }

    fn render_with(&self, sql: &str, metrics_allowed: bool) -> Result<String, String> {
        let mut out = String::with_capacity(sql.len());
        for piece in pieces(sql) {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Placeholder(name) => out.push_str(&self.value(name, metrics_allowed)?),
            }
        }
        Ok(out)
    }

    fn value(&self, name: &str, metrics_allowed: bool) -> Result<String, String> {
        let w = &self.window;
        Ok(match name {
            "as_of" => date(w.as_of),
            "period_start" => date(w.start),
            "period_end" => date(w.end),
            "previous_period_start" => date(w.previous_start),
            "period" => format!("'{}'", self.period),
            "segments" => format!("{RUN_SCHEMA}.{SEGMENTS_START}"),
            "segments_at_end" => format!("{RUN_SCHEMA}.{SEGMENTS_END}"),
            "metric_actuals" if metrics_allowed => self.metric_actuals()?,
            "metric_actuals" => {
                return Err("a metric's SQL cannot use {metric_actuals}".to_string());
            }
            other => match self.params.get(other) {
                Some(literal) => literal.clone(),
                None => {
                    return Err(format!(
                        "unknown placeholder {{{other}}}: use as_of, period_start, period_end, \
                         previous_period_start, period, segments, segments_at_end, \
                         metric_actuals or a [params] entry"
                    ));
                }
            },
        })
    }

    /// Every metric's query for the period, stacked.
    fn metric_actuals(&self) -> Result<String, String> {
        let parts = self
            .goals
            .metrics
            .iter()
            .map(|metric| {
                let sql = self
                    .render_with(metric.sql.trim().trim_end_matches(';'), false)
                    .map_err(|e| format!("metric {}: {e}", metric.id))?;
                Ok(format!(
                    "SELECT '{}' AS metric_id, CAST(m.segment_kind AS VARCHAR) AS segment_kind, \
                     CAST(m.segment AS VARCHAR) AS segment, CAST(m.actual AS DOUBLE) AS actual \
                     FROM ({sql}) AS m",
                    metric.id
                ))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if parts.is_empty() {
            return Ok("(SELECT CAST(NULL AS VARCHAR) AS metric_id, CAST(NULL AS VARCHAR) AS segment_kind, \
                       CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS DOUBLE) AS actual WHERE false)"
                .to_string());
        }
        Ok(format!("({})", parts.join("\nUNION ALL\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(params: &'a BTreeMap<String, String>, goals: &'a GoalTree) -> Context<'a> {
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).expect("date");
        Context {
            window: Period::Month.window(as_of),
            period: Period::Month,
            params,
            goals,
        }
    }

    #[test]
    fn fills_dates_params_and_segments() {
        let goals = GoalTree::load(None).expect("goal tree");
        let params = BTreeMap::from([("green".to_string(), "1.0".to_string())]);
        let ctx = context(&params, &goals);
        let sql = ctx
            .render("SELECT {as_of}, {period_start}, {period_end}, {period}, {green}, '{x y}'")
            .expect("render");
        assert_eq!(
            sql,
            "SELECT DATE '2026-10-31', DATE '2026-10-01', DATE '2026-11-01', 'month', 1.0, '{x y}'"
        );
        let segments = ctx.render("SELECT * FROM {segments} s").expect("segments");
        assert_eq!(segments, "SELECT * FROM run.segments_start s");
        assert_eq!(
            segments_used("x {segments_at_end} y", &ctx.window),
            vec![(SEGMENTS_END, ctx.window.end)]
        );
        assert!(
            segments_query(crate::project::SHIPPED_SEGMENTS, ctx.window.start)
                .contains("DATE '2026-10-01'")
        );
        let actuals = ctx
            .render("SELECT * FROM {metric_actuals} a")
            .expect("actuals");
        assert!(actuals.contains("UNION ALL") && !actuals.contains("{period_start}"));
    }

    #[test]
    fn leaves_strings_and_comments_alone() {
        let goals = GoalTree::load(None).expect("goal tree");
        let params = BTreeMap::new();
        let ctx = context(&params, &goals);
        let sql = "SELECT '{as_of}', 'it''s {as_of}', \"{as_of}\" -- {nope}\n/* {nope} */ {as_of}";
        assert_eq!(
            ctx.render(sql).expect("render"),
            "SELECT '{as_of}', 'it''s {as_of}', \"{as_of}\" -- {nope}\n/* {nope} */ DATE '2026-10-31'"
        );
        assert!(segments_used("SELECT 1 -- {segments}", &ctx.window).is_empty());
    }

    #[test]
    fn refuses_unknown_placeholders() {
        let goals = GoalTree::load(None).expect("goal tree");
        let params = BTreeMap::new();
        let error = context(&params, &goals)
            .render("SELECT {as_off}")
            .expect_err("typo");
        assert!(error.contains("unknown placeholder {as_off}"), "{error}");
    }
}
