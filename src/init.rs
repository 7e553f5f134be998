//! `segmint init DIR`: a starter project for a shop's own data — a commented `segmint.toml`,
//! `model/` with one mapping template per entity whose comments carry the contract
//! (docs/model.md), and `sql/` with copies of the shipped views, tag rules, segments, goal
//! tree and reports to edit. Existing files are never overwritten.
//!
//! A template is all comments, so it maps nothing until the shop writes its `SELECT`:
//! `segmint check` then says which entities are mapped and valid.

use std::path::{Path, PathBuf};

use crate::error::{Result, SegmintError};
use crate::model::contract::{ENTITIES, Entity, Missing, REQUIRED_ENTITY};
use crate::project::Assets;

/// Writes the starter project into `dir`; returns the files written (existing ones are kept).
pub fn init(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut write = |relative: &str, text: &str| -> Result<()> {
        let path = dir.join(relative);
        if path.exists() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| SegmintError::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| SegmintError::io(format!("writing {}", path.display()), e))?;
        written.push(path);
        Ok(())
    };
    write("segmint.toml", CONFIG)?;
    for entity in ENTITIES {
        write(&format!("model/{}.sql", entity.name), &template(entity))?;
    }
    let assets = Assets::shipped();
    for view in &assets.views {
        write(&format!("sql/views/{}", view.file), &view.text)?;
    }
    write("sql/tags/tags.toml", &assets.tags.text)?;
    write("sql/segments/customer_segments.sql", &assets.segments.text)?;
    write("sql/goals/goals.toml", &assets.goals.text)?;
    write("sql/goals/targets.csv", &assets.targets.text)?;
    for report in &assets.reports {
        write(&format!("sql/reports/{}", report.file), &report.text)?;
    }
    write("sql/functions/functions.sql", FUNCTIONS)?;
    Ok(written)
}

/// The mapping template of one entity: the contract as comments, and an example `SELECT`.
pub fn template(entity: &Entity) -> String {
    let mut text = format!(
        "-- model/{name}.sql: maps your data onto Segmint's `{name}` entity ({grain}).\n\
         -- Write one SELECT over your datasets that yields the columns below (cast, join and\n\
         -- rename as you need); it is served as the view model.{name}. {presence}\n\
         -- This file is all comments, so it maps nothing yet. See docs/model.md.\n\
         --\n\
         -- column                 accepted types                   required  meaning\n",
        name = entity.name,
        grain = entity.grain,
        presence = if entity.name == REQUIRED_ENTITY {
            "This entity is required."
        } else {
            "Optional: delete the file if you have no such data."
        },
    );
    for column in entity.columns {
        let missing = match column.missing {
            _ if column.required => String::new(),
            Missing::Null => " (missing: NULL)".to_string(),
            Missing::Expression(sql) => format!(" (missing: {sql})"),
        };
        text.push_str(&format!(
            "--   {:<22} {:<32} {:<9} {}{missing}\n",
            column.name,
            column.kind.accepted(),
            if column.required { "yes" } else { "no" },
            column.meaning
        ));
    }
    text.push_str("--\n-- Example:\n");
    let required: Vec<&str> = entity
        .columns
        .iter()
        .filter(|c| c.required)
        .map(|c| c.name)
        .collect();
    text.push_str(&format!(
        "-- SELECT {}\n--   FROM my_{}\n",
        required
            .iter()
            .map(|c| format!("my_{c} AS {c}"))
            .collect::<Vec<_>>()
            .join(",\n--        "),
        entity.name
    ));
    if entity.name == REQUIRED_ENTITY {
        text.push_str(
            "-- A Shopify-style export:\n\
             -- SELECT id AS order_id, buyer_id AS customer_id, created_at AS order_ts,\n\
             --        CAST(total_price AS DECIMAL(12,2)) AS net_amount,\n\
             --        CASE financial_status WHEN 'paid' THEN 'completed' ELSE financial_status END AS status\n\
             --   FROM shop_orders\n",
        );
    }
    text
}

const CONFIG: &str = r#"# segmint.toml: a Segmint project for your own data. Run from this folder:
#   segmint check --config segmint.toml    what is mapped, valid and available
#   segmint serve --config segmint.toml    serve it on 127.0.0.1:5433 (psql -h 127.0.0.1 -p 5433)
# Relative paths are read from this file's folder.

[project]
# model/ holds one <entity>.sql mapping per entity (docs/model.md); sql/ holds copies of the
# shipped views, tags, segments, goals and reports: edit them, no rebuild needed.
dir = "."

[server]
listen = "127.0.0.1:5433"

# Your data: one [[datasets]] per table (Parquet, CSV or JSON; a file, a folder or a glob;
# local paths or s3:// gs:// az:// URLs with [[object_stores]] credentials).
# [[datasets]]
# name = "shop_orders"
# url = "data/orders/"
# format = "parquet"

[functions]
# The analysis date views are built for (default: today).
# as_of = "2026-11-01"

[reports]
# Where report runs write Parquet/CSV/HTML, served back as reports.<name>.
output_url = "reports/"

[catalog]
# Saved segments (CREATE VIEW), CREATE TABLE AS and CREATE FUNCTION over the wire.
allow_ddl = true
dir = "catalog/"
tables_url = "tables/"
"#;

const FUNCTIONS: &str = "-- CREATE FUNCTION statements loaded at start (scalar SQL bodies), e.g.:\n\
-- CREATE FUNCTION margin(revenue DOUBLE, cost DOUBLE) RETURNS DOUBLE LANGUAGE sql\n\
--   AS $$ (revenue - cost) / nullif(revenue, 0) $$;\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_project_and_keeps_existing_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("model")).expect("mkdir");
        std::fs::write(dir.path().join("model/orders.sql"), "SELECT 1").expect("write");
        let written = init(dir.path()).expect("init");
        assert!(written.iter().any(|p| p.ends_with("segmint.toml")));
        assert!(written.iter().any(|p| p.ends_with("model/customers.sql")));
        assert!(
            written
                .iter()
                .any(|p| p.ends_with("sql/reports/order_value.sql"))
        );
        let kept = std::fs::read_to_string(dir.path().join("model/orders.sql")).expect("read");
        assert_eq!(kept, "SELECT 1");
        let config = crate::config::Config::from_file(&dir.path().join("segmint.toml"))
            .expect("the starter config parses");
        assert_eq!(
            config.project.dir.as_deref(),
            Some(dir.path().join(".").as_path())
        );
        let template = template(crate::model::contract::entity("events").expect("events"));
        assert!(template.lines().all(|l| l.starts_with("--")));
        assert!(template.contains("event_ts"));
    }
}
