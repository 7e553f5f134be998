//! `segmint check`: what a deployment serves, as tables a person reads before going live —
//! datasets (URL, files, schema found), model entities (mapped from, valid or why not),
//! views, tag rules, reports and functions (available or why not). Broken configuration (a
//! dataset that failed, a mapping that does not meet the contract, a view or function file
//! that does not plan, `orders` missing) makes it exit non-zero, so it can gate a deploy;
//! something unavailable for lack of data (a browse report on a shop without events) is
//! listed with its reason and is not an error.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::engine::Engine;
use crate::error::Result;
use crate::model::contract::REQUIRED_ENTITY;
use crate::reports::Reports;

/// The printed report and whether something configured is broken.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The tables, as printed.
    pub text: String,
    /// What is broken, one line each (empty: ready to serve).
    pub problems: Vec<String>,
}

/// Checks what `engine` (and its `reports`) serve.
pub async fn check(engine: &Arc<Engine>, reports: &Reports) -> Result<CheckReport> {
    let mut out = String::new();
    let mut problems = Vec::new();

    section(
        &mut out,
        "datasets",
        &["name", "url", "files", "columns", "status"],
    );
    for dataset in engine.datasets() {
        if dataset.name.contains('.') {
            continue; // reports.* outputs are listed with the reports
        }
        let columns = schema_of(engine, &dataset.name).await;
        let status = match &dataset.error {
            Some(error) => {
                problems.push(format!("dataset {}: {error}", dataset.name));
                format!("FAILED: {error}")
            }
            None => "ok".to_string(),
        };
        row(
            &mut out,
            &[
                &dataset.name,
                &dataset.url,
                &dataset.files.to_string(),
                &columns,
                &status,
            ],
        );
    }

    let shop = engine.shop();
    section(&mut out, "model", &["entity", "source", "status", "detail"]);
    for entity in shop.model.entities() {
        let detail = match (&entity.error, entity.usable()) {
            (Some(error), _) => {
                problems.push(format!("model entity {}: {error}", entity.entity.name));
                error.clone()
            }
            (None, true) => {
                let stand_ins: Vec<&str> = entity
                    .entity
                    .columns
                    .iter()
                    .filter(|c| !entity.provided.contains(c.name))
                    .map(|c| c.name)
                    .collect();
                if stand_ins.is_empty() {
                    "every contract column".to_string()
                } else {
                    format!("not provided: {}", stand_ins.join(", "))
                }
            }
            (None, false) => format!(
                "no model/{0}.sql and no dataset {0}: what needs it is unavailable",
                entity.entity.name
            ),
        };
        if entity.entity.name == REQUIRED_ENTITY && !entity.usable() && entity.error.is_none() {
            problems.push(format!(
                "model entity {REQUIRED_ENTITY} is required: map it in model/{REQUIRED_ENTITY}.sql"
            ));
        }
        row(
            &mut out,
            &[
                entity.entity.name,
                &entity.source.to_string(),
                entity.state(),
                &detail,
            ],
        );
    }

    section(&mut out, "views", &["view", "from", "status"]);
    for view in &shop.views {
        let status = match &view.error {
            None => "available".to_string(),
            Some(reason) if reason.starts_with("needs ") => format!("unavailable: {reason}"),
            Some(error) => {
                problems.push(format!("view {}: {error}", view.file));
                format!("FAILED: {error}")
            }
        };
        row(&mut out, &[&view.file, &view.origin, &status]);
    }

    section(&mut out, "tags", &["tag", "category", "status"]);
    for tag in &shop.tags {
        let status = match &tag.unavailable {
            None => "available".to_string(),
            Some(reason) => format!("left out: {reason}"),
        };
        row(&mut out, &[&tag.name, &tag.category, &status]);
    }

    section(&mut out, "reports", &["report", "schedule", "status"]);
    for report in reports.list() {
        let status = match reports.unavailable(report) {
            None => "available".to_string(),
            Some(reason) => format!("unavailable: {reason}"),
        };
        row(
            &mut out,
            &[
                &report.name,
                report.schedule_text.as_deref().unwrap_or("on demand"),
                &status,
            ],
        );
    }

    section(&mut out, "functions", &["function", "status"]);
    for (_, function) in engine.sql_functions().list() {
        row(&mut out, &[function.name(), "available"]);
    }
    for (name, error) in engine.unrestored() {
        problems.push(format!("{name}: {error}"));
        row(&mut out, &[name, &format!("FAILED: {error}")]);
    }

    if problems.is_empty() {
        out.push_str("\nready: nothing configured is broken\n");
    } else {
        let _ = writeln!(out, "\n{} problem(s):", problems.len());
        for problem in &problems {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    Ok(CheckReport {
        text: out,
        problems,
    })
}

/// `name type, ...` of a served table.
async fn schema_of(engine: &Engine, name: &str) -> String {
    match engine.session().table(name).await {
        Ok(frame) => frame
            .schema()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f.name(),
                    crate::model::sql_type_name(f.data_type())
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(_) => String::new(),
    }
}

fn section(out: &mut String, title: &str, header: &[&str]) {
    let _ = writeln!(out, "\n{}", title.to_uppercase());
    row(out, header);
}

fn row(out: &mut String, cells: &[&str]) {
    let widths = [24, 40, 12, 40];
    let mut line = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            line.push_str(cell);
        } else {
            let width = widths.get(i).copied().unwrap_or(16);
            let _ = write!(line, "{cell:<width$} ");
        }
    }
    let _ = writeln!(out, "{}", line.trim_end());
}
