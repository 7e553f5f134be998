//! The HTML page of a run: one self-contained file (inline CSS and SVG, no scripts, no external
//! resources) with the report's charts and its first rows, so it can be mailed, archived or
//! opened from object storage as it is.

use std::collections::BTreeMap;
use std::fmt::Write;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use super::definition::{ChartKind, ChartSpec, ReportDefinition, ValueFormat};
use super::period::{Period, Window};

/// Rows shown in the page's table; the CSV and Parquet files hold all of them.
const TABLE_ROWS: usize = 200;
/// Bars drawn per chart, largest first when there are more.
const MAX_BARS: usize = 40;
/// Heatmap rows and columns drawn.
const MAX_CELLS: usize = 40;

const WIDTH: f64 = 760.0;
const LABEL_WIDTH: f64 = 230.0;
const BAR_HEIGHT: f64 = 22.0;

/// The page for one run: title, period, charts, then the table.
pub fn page(
    report: &ReportDefinition,
    window: &Window,
    period: Period,
    rows: &[RecordBatch],
    charts: &[(&ChartSpec, Vec<RecordBatch>)],
) -> Result<String, String> {
    let mut html = String::new();
    let title = escape(&report.name);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} as of {as_of}</title><style>{CSS}</style></head><body>\n\
         <h1>{title}</h1><p class=\"lead\">{description}</p>\
         <p class=\"meta\">as of <b>{as_of}</b> · period {period} from {start} to {last} · \
         {count} rows</p>\n",
        as_of = window.as_of,
        description = escape(&report.description),
        start = window.start,
        last = window.as_of,
        count = rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
    );
    for (spec, batches) in charts {
        let table = Columns::new(batches);
        let _ = writeln!(
            html,
            "<section class=\"chart\"><h2>{}</h2>",
            escape(&spec.title)
        );
        match spec.kind {
            ChartKind::Bar => bar_chart(&mut html, spec, &table)?,
            ChartKind::Heatmap => heatmap(&mut html, spec, &table)?,
        }
        html.push_str("</section>\n");
    }
    data_table(&mut html, &Columns::new(rows));
    html.push_str("</body></html>\n");
    Ok(html)
}

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;\
background:#fff}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:18px 0 6px}\
.lead{margin:0;color:#444}.meta{color:#666;font-size:13px}svg text{font-size:12px;\
font-family:'DejaVu Sans',Arial,sans-serif}table{border-collapse:collapse;font-size:12px;\
margin-top:16px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:right}\
th{background:#f3f3f3}td{white-space:nowrap}td.t{text-align:left}.none{color:#888;font-style:italic}";

/// A run's rows by column name, as text and as numbers.
struct Columns {
    names: Vec<String>,
    text: BTreeMap<String, Vec<Option<String>>>,
    numbers: BTreeMap<String, Vec<Option<f64>>>,
    rows: usize,
}

impl Columns {
    fn new(batches: &[RecordBatch]) -> Columns {
        let mut columns = Columns {
            names: vec![],
            text: BTreeMap::new(),
            numbers: BTreeMap::new(),
            rows: 0,
        };
        if let Some(first) = batches.first() {
            columns.names = first
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
        for batch in batches {
            columns.rows += batch.num_rows();
            for (i, name) in columns.names.iter().enumerate() {
                let Some(column) = batch.columns().get(i) else {
                    continue;
                };
                columns
                    .text
                    .entry(name.clone())
                    .or_default()
                    .extend(as_text(column));
                columns
                    .numbers
                    .entry(name.clone())
                    .or_default()
                    .extend(as_numbers(column));
            }
        }
        columns
    }

    fn text(&self, name: &str) -> Result<&[Option<String>], String> {
        self.text
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| self.missing(name))
    }

    fn numbers(&self, name: &str) -> Result<&[Option<f64>], String> {
        self.numbers
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| self.missing(name))
    }

    fn missing(&self, name: &str) -> String {
        format!(
            "chart column '{name}' is not in the rows ({})",
            self.names.join(", ")
        )
    }

    /// Rows whose text columns equal every value of `filter`.
    fn keep(&self, filter: &BTreeMap<String, String>) -> Result<Vec<usize>, String> {
        let mut keep: Vec<usize> = (0..self.rows).collect();
        for (column, wanted) in filter {
            let values = self.text(column)?;
            keep.retain(|&row| values[row].as_deref() == Some(wanted.as_str()));
        }
        Ok(keep)
    }
}

fn as_text(column: &ArrayRef) -> Vec<Option<String>> {
    match cast(column, &DataType::Utf8) {
        Ok(cast) => cast
            .as_any()
            .downcast_ref::<StringArray>()
            .map(|a| a.iter().map(|v| v.map(str::to_string)).collect())
            .unwrap_or_else(|| vec![None; column.len()]),
        Err(_) => vec![None; column.len()],
    }
}

fn as_numbers(column: &ArrayRef) -> Vec<Option<f64>> {
    if !column.data_type().is_numeric() {
        return vec![None; column.len()];
    }
    match cast(column, &DataType::Float64) {
        Ok(cast) => cast
            .as_any()
            .downcast_ref::<Float64Array>()
            .map(|a| a.iter().map(|v| v.filter(|x| x.is_finite())).collect())
            .unwrap_or_else(|| vec![None; column.len()]),
        Err(_) => vec![None; column.len()],
    }
}

fn format_value(value: f64, format: ValueFormat) -> String {
    match format {
        ValueFormat::Percent => format!("{:.1}%", value * 100.0),
        ValueFormat::Number if value.abs() >= 1000.0 => thousands(value),
        ValueFormat::Number if value.fract() == 0.0 => format!("{value:.0}"),
        ValueFormat::Number => format!("{value:.2}"),
    }
}

fn thousands(value: f64) -> String {
    let whole = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0.0 { format!("-{out}") } else { out }
}

fn status_colour(status: Option<&str>) -> &'static str {
    match status {
        Some("green") => "#2e7d32",
        Some("amber") => "#f9a825",
        Some("red") => "#c62828",
        _ => "#3f6fb5",
    }
}

fn bar_chart(html: &mut String, spec: &ChartSpec, table: &Columns) -> Result<(), String> {
    let labels = table.text(&spec.category)?;
    let values = table.numbers(&spec.value)?;
    let statuses = match &spec.status {
        Some(column) => Some(table.text(column)?),
        None => None,
    };
    let mut bars: Vec<(String, f64, Option<&str>)> = table
        .keep(&spec.filter)?
        .into_iter()
        .filter_map(|row| {
            let value = values[row]?;
            let label = labels[row].clone().unwrap_or_else(|| "(null)".into());
            let status = statuses.and_then(|s| s[row].as_deref());
            Some((label, value, status))
        })
        .collect();
    if bars.len() > MAX_BARS {
        bars.sort_by(|a, b| b.1.total_cmp(&a.1));
        bars.truncate(MAX_BARS);
    }
    if bars.is_empty() {
        html.push_str("<p class=\"none\">No rows to draw.</p>");
        return Ok(());
    }
    let top = bars
        .iter()
        .map(|b| b.1)
        .chain(spec.reference)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let plot = WIDTH - LABEL_WIDTH - 10.0;
    let height = bars.len() as f64 * (BAR_HEIGHT + 6.0) + 24.0;
    let _ = write!(
        html,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         role=\"img\" aria-label=\"{}\">",
        escape(&spec.title)
    );
    for (i, (label, value, status)) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * (BAR_HEIGHT + 6.0);
        let width = (value.max(0.0) / top * plot).max(1.0);
        let _ = write!(
            html,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect class=\"bar\" x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{width:.1}\" \
             height=\"{BAR_HEIGHT}\" fill=\"{fill}\"><title>{label}: {shown}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{shown}</text>",
            lx = LABEL_WIDTH - 6.0,
            ty = y + BAR_HEIGHT * 0.7,
            label = escape(&truncate(label, 34)),
            fill = status_colour(*status),
            shown = format_value(*value, spec.format),
            vx = LABEL_WIDTH + width + 4.0,
        );
    }
    if let Some(reference) = spec.reference {
        let x = LABEL_WIDTH + reference / top * plot;
        let bottom = height - 18.0;
        let _ = write!(
            html,
            "<line class=\"reference\" x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{bottom}\" \
             stroke=\"#222\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{x:.1}\" y=\"{ty}\" text-anchor=\"middle\">target {shown}</text>",
            ty = height - 4.0,
            shown = format_value(reference, spec.format),
        );
    }
    html.push_str("</svg>\n");
    Ok(())
}

fn heatmap(html: &mut String, spec: &ChartSpec, table: &Columns) -> Result<(), String> {
    let series_column = spec
        .series
        .as_deref()
        .ok_or_else(|| format!("heatmap '{}' needs a series column", spec.title))?;
    let rows_text = table.text(&spec.category)?;
    let columns_text = table.text(series_column)?;
    let values = table.numbers(&spec.value)?;
    let mut row_keys: Vec<String> = vec![];
    let mut column_keys: Vec<String> = vec![];
    let mut cells: BTreeMap<(usize, usize), Option<f64>> = BTreeMap::new();
    for row in table.keep(&spec.filter)? {
        let (Some(r), Some(c)) = (&rows_text[row], &columns_text[row]) else {
            continue;
        };
        let ri = position(&mut row_keys, r);
        let ci = position(&mut column_keys, c);
        cells.insert((ri, ci), values[row]);
    }
    if cells.is_empty() {
        html.push_str("<p class=\"none\">No rows to draw.</p>");
        return Ok(());
    }
    let nrows = row_keys.len().min(MAX_CELLS);
    let ncols = column_keys.len().min(MAX_CELLS);
    let top = cells
        .values()
        .flatten()
        .fold(0.0_f64, |a, b| a.max(*b))
        .max(f64::MIN_POSITIVE);
    let label = 110.0;
    let cell_w = ((WIDTH - label) / ncols as f64).clamp(14.0, 64.0);
    let cell_h = 22.0;
    let width = label + cell_w * ncols as f64 + 4.0;
    let height = cell_h * (nrows as f64 + 1.0) + 4.0;
    let _ = write!(
        html,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"{}\">",
        escape(&spec.title)
    );
    for (ci, key) in column_keys.iter().take(ncols).enumerate() {
        let _ = write!(
            html,
            "<text x=\"{x:.1}\" y=\"15\" text-anchor=\"middle\">{}</text>",
            escape(&truncate(key, 8)),
            x = label + cell_w * (ci as f64 + 0.5),
        );
    }
    for (ri, key) in row_keys.iter().take(nrows).enumerate() {
        let y = cell_h * (ri as f64 + 1.0);
        let _ = write!(
            html,
            "<text x=\"{x}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>",
            escape(&truncate(key, 16)),
            x = label - 6.0,
            ty = y + cell_h * 0.7,
        );
        for (ci, column_key) in column_keys.iter().take(ncols).enumerate() {
            let x = label + cell_w * ci as f64;
            match cells.get(&(ri, ci)).copied().flatten() {
                Some(value) => {
                    let shade = (value / top).clamp(0.0, 1.0);
                    let (r, g, b) = blend(shade);
                    let text = if shade > 0.55 { "#fff" } else { "#222" };
                    let shown = format_value(value, spec.format);
                    let _ = write!(
                        html,
                        "<rect class=\"cell\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell_w:.1}\" \
                         height=\"{cell_h}\" fill=\"rgb({r},{g},{b})\" stroke=\"#fff\">\
                         <title>{}, {}: {shown}</title></rect>",
                        escape(key),
                        escape(column_key),
                    );
                    if cell_w >= 40.0 {
                        let _ = write!(
                            html,
                            "<text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" \
                             fill=\"{text}\">{shown}</text>",
                            tx = x + cell_w / 2.0,
                            ty = y + cell_h * 0.7,
                        );
                    }
                }
                None => {
                    let _ = write!(
                        html,
                        "<rect class=\"empty\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell_w:.1}\" \
                         height=\"{cell_h}\" fill=\"#f4f4f4\" stroke=\"#fff\"/>"
                    );
                }
            }
        }
    }
    html.push_str("</svg>\n");
    Ok(())
}

/// White to dark blue.
fn blend(shade: f64) -> (u8, u8, u8) {
    let mix = |from: f64, to: f64| (from + (to - from) * shade).round() as u8;
    (mix(235.0, 16.0), mix(243.0, 62.0), mix(252.0, 140.0))
}

fn position(keys: &mut Vec<String>, key: &str) -> usize {
    match keys.iter().position(|k| k == key) {
        Some(i) => i,
        None => {
            keys.push(key.to_string());
            keys.len() - 1
        }
    }
}

fn data_table(html: &mut String, table: &Columns) {
    html.push_str("<h2>Rows</h2><table><thead><tr>");
    for name in &table.names {
        let _ = write!(html, "<th>{}</th>", escape(name));
    }
    html.push_str("</tr></thead><tbody>\n");
    for row in 0..table.rows.min(TABLE_ROWS) {
        html.push_str("<tr>");
        for name in &table.names {
            let numeric = table.numbers[name][row].is_some();
            let text = table.text[name][row].as_deref().unwrap_or("");
            let shown = match table.numbers[name][row] {
                Some(value) if value.fract() != 0.0 => format!("{value:.4}"),
                _ => text.to_string(),
            };
            let class = if numeric { "" } else { " class=\"t\"" };
            let _ = write!(html, "<td{class}>{}</td>", escape(&shown));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table>\n");
    if table.rows > TABLE_ROWS {
        let _ = write!(
            html,
            "<p class=\"meta\">First {TABLE_ROWS} of {} rows: the CSV and Parquet files hold all.</p>",
            table.rows
        );
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn rows() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("k", DataType::Int32, false),
            Field::new("attainment", DataType::Float64, true),
            Field::new("status", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["AOV <net>", "NPS", "CSAT"])),
                Arc::new(Int32Array::from(vec![0, 1, 0])),
                Arc::new(Float64Array::from(vec![Some(1.1), Some(0.5), None])),
                Arc::new(StringArray::from(vec!["green", "red", "amber"])),
            ],
        )
        .expect("batch")
    }

    fn spec(kind: &str) -> ChartSpec {
        toml::from_str(&format!(
            "kind = \"{kind}\"\ntitle = \"t\"\ncategory = \"name\"\nvalue = \"attainment\"\n\
             series = \"k\"\nstatus = \"status\"\nreference = 1.0\nformat = \"percent\""
        ))
        .expect("chart spec")
    }

    #[test]
    fn bars_are_coloured_by_status_with_a_target_line() {
        let mut html = String::new();
        bar_chart(&mut html, &spec("bar"), &Columns::new(&[rows()])).expect("chart");
        assert_eq!(html.matches("<rect class=\"bar\"").count(), 2, "{html}");
        assert!(html.contains("#2e7d32") && html.contains("#c62828"));
        assert!(html.contains("AOV &lt;net&gt;") && html.contains("110.0%"));
        assert!(html.contains("class=\"reference\""));
    }

    #[test]
    fn heatmaps_leave_null_cells_empty() {
        let mut html = String::new();
        heatmap(&mut html, &spec("heatmap"), &Columns::new(&[rows()])).expect("heatmap");
        assert_eq!(html.matches("<rect class=\"cell\"").count(), 2, "{html}");
        assert_eq!(html.matches("<rect class=\"empty\"").count(), 4, "{html}");
    }

    #[test]
    fn missing_columns_are_named() {
        let mut chart = spec("bar");
        chart.value = "nope".into();
        let error = bar_chart(&mut String::new(), &chart, &Columns::new(&[rows()]))
            .expect_err("missing column");
        assert!(
            error.contains("'nope'") && error.contains("attainment"),
            "{error}"
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(format_value(0.1475, ValueFormat::Percent), "14.8%");
        assert_eq!(format_value(36.99181, ValueFormat::Number), "36.99");
    }
}
