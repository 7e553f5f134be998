//! A shop's project folder: its SQL assets, read at start so that changing a tag threshold,
//! a view or a report needs no rebuild.
//!
//! Segmint ships its views (`sql/views`), tag rules (`sql/tags`), segment dimensions
//! (`sql/segments`), goal tree and targets (`sql/goals`) and reports (`sql/reports`) compiled
//! in. `[project] dir` (or `--project DIR`) names a folder with the same layout: a file there
//! replaces the shipped file of the same name, and a new name adds an asset. `sql/functions`
//! holds `CREATE FUNCTION` statements loaded at start, and `model/` the shop's mappings onto
//! the customer model. `[reports] dir` and `[reports] goals_dir` keep working: they are read
//! after the project folder.
//!
//! ```text
//! <project>/segmint.toml
//! <project>/model/<entity>.sql
//! <project>/sql/views/*.sql      sql/tags/tags.toml   sql/segments/customer_segments.sql
//! <project>/sql/goals/goals.toml sql/goals/targets.csv sql/reports/*.sql sql/functions/*.sql
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Config;
use crate::error::{Result, SegmintError};

/// The shipped views, in creation order.
pub const SHIPPED_VIEWS: &[(&str, &str)] = &[
    (
        "completed_orders.sql",
        include_str!("../sql/views/completed_orders.sql"),
    ),
    (
        "customer_360.sql",
        include_str!("../sql/views/customer_360.sql"),
    ),
];

/// The shipped tag rules.
pub const SHIPPED_TAGS: &str = include_str!("../sql/tags/tags.toml");

/// The shipped segment dimensions of the reports.
pub const SHIPPED_SEGMENTS: &str = include_str!("../sql/segments/customer_segments.sql");

/// The shipped goal tree.
pub const SHIPPED_GOALS: &str = include_str!("../sql/goals/goals.toml");

/// The shipped goal targets.
pub const SHIPPED_TARGETS: &str = include_str!("../sql/goals/targets.csv");

/// The shipped reports.
pub const SHIPPED_REPORTS: &[(&str, &str)] = &[
    (
        "goal_attainment.sql",
        include_str!("../sql/reports/goal_attainment.sql"),
    ),
    (
        "cohort_retention.sql",
        include_str!("../sql/reports/cohort_retention.sql"),
    ),
    (
        "customer_retention.sql",
        include_str!("../sql/reports/customer_retention.sql"),
    ),
    (
        "repurchase.sql",
        include_str!("../sql/reports/repurchase.sql"),
    ),
    (
        "order_value.sql",
        include_str!("../sql/reports/order_value.sql"),
    ),
    (
        "acquisition.sql",
        include_str!("../sql/reports/acquisition.sql"),
    ),
    (
        "satisfaction.sql",
        include_str!("../sql/reports/satisfaction.sql"),
    ),
    (
        "rfm_migration.sql",
        include_str!("../sql/reports/rfm_migration.sql"),
    ),
    (
        "lifecycle_flows.sql",
        include_str!("../sql/reports/lifecycle_flows.sql"),
    ),
    (
        "browse_funnel.sql",
        include_str!("../sql/reports/browse_funnel.sql"),
    ),
    (
        "browse_sessions.sql",
        include_str!("../sql/reports/browse_sessions.sql"),
    ),
    (
        "browse_paths.sql",
        include_str!("../sql/reports/browse_paths.sql"),
    ),
    (
        "channel_mix.sql",
        include_str!("../sql/reports/channel_mix.sql"),
    ),
];

/// Where an asset's text came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into Segmint.
    Shipped,
    /// A file of the project folder (or of `[reports] dir` / `goals_dir`).
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Shipped => f.write_str("shipped"),
            Origin::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One SQL asset: its file name, its text and where it came from.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file name (`customer_360.sql`), which is what a project file replaces.
    pub file: String,
    /// The file's text.
    pub text: String,
    /// Shipped, or the file it was read from.
    pub origin: Origin,
}

impl Asset {
    fn shipped(file: &str, text: &str) -> Asset {
        Asset {
            file: file.to_string(),
            text: text.to_string(),
            origin: Origin::Shipped,
        }
    }

    /// The label used in errors and logs: `built-in:name.sql` or the file's path.
    pub fn label(&self) -> String {
        match &self.origin {
            Origin::Shipped => format!("built-in:{}", self.file),
            Origin::File(path) => path.display().to_string(),
        }
    }
}

/// The effective SQL assets of a deployment.
#[derive(Debug, Clone)]
pub struct Assets {
    /// Views, shipped ones first in their order, then the project's new ones by name.
    pub views: Vec<Asset>,
    /// The tag rules (`tags.toml`).
    pub tags: Asset,
    /// The segment dimensions of the reports (`customer_segments.sql`).
    pub segments: Asset,
    /// The goal tree (`goals.toml`).
    pub goals: Asset,
    /// The goal targets (`targets.csv`).
    pub targets: Asset,
    /// Report definitions, by file name.
    pub reports: Vec<Asset>,
    /// `CREATE FUNCTION` files, by name.
    pub functions: Vec<Asset>,
    /// The folder of model mappings, when there is one.
    pub model_dir: Option<PathBuf>,
}

impl Default for Assets {
    fn default() -> Self {
        Assets::shipped()
    }
}

impl Assets {
    /// The shipped assets alone.
    pub fn shipped() -> Assets {
        Assets {
            views: SHIPPED_VIEWS
                .iter()
                .map(|(f, t)| Asset::shipped(f, t))
                .collect(),
            tags: Asset::shipped("tags.toml", SHIPPED_TAGS),
            segments: Asset::shipped("customer_segments.sql", SHIPPED_SEGMENTS),
            goals: Asset::shipped("goals.toml", SHIPPED_GOALS),
            targets: Asset::shipped("targets.csv", SHIPPED_TARGETS),
            reports: SHIPPED_REPORTS
                .iter()
                .map(|(f, t)| Asset::shipped(f, t))
                .collect(),
            functions: vec![],
            model_dir: None,
        }
    }

    /// The shipped assets with the project folder's (and `[reports] dir` / `goals_dir`'s)
    /// files laid over them.
    pub fn load(config: &Config) -> Result<Assets> {
        let mut assets = Assets::shipped();
        if let Some(dir) = &config.project.dir {
            if !dir.is_dir() {
                return Err(SegmintError::ConfigInvalid(format!(
                    "project.dir {}: no such folder (segmint init {} writes a starter project)",
                    dir.display(),
                    dir.display()
                )));
            }
            let sql = dir.join("sql");
            overlay(&mut assets.views, &sql.join("views"), "sql")?;
            replace(&mut assets.tags, &sql.join("tags"))?;
            replace(&mut assets.segments, &sql.join("segments"))?;
            replace(&mut assets.goals, &sql.join("goals"))?;
            replace(&mut assets.targets, &sql.join("goals"))?;
            overlay(&mut assets.reports, &sql.join("reports"), "sql")?;
            overlay(&mut assets.functions, &sql.join("functions"), "sql")?;
        }
        if let Some(dir) = &config.reports.dir {
            overlay(&mut assets.reports, dir, "sql")?;
        }
        if let Some(dir) = &config.reports.goals_dir {
            replace(&mut assets.goals, dir)?;
            replace(&mut assets.targets, dir)?;
        }
        assets.model_dir = config.model_dir();
        Ok(assets)
    }

    /// The model mappings: `(entity, file)` for every `<entity>.sql` of the model folder.
    pub fn model_files(&self) -> Result<Vec<(String, PathBuf)>> {
        let Some(dir) = &self.model_dir else {
            return Ok(vec![]);
        };
        if !dir.exists() {
            return Ok(vec![]);
        }
        let mut files = Vec::new();
        for path in sql_files(dir, "sql")? {
            let Some(stem) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            // A template that is all comments (as `segmint init` writes them) maps nothing.
            if is_only_comments(&read(&path)?) {
                continue;
            }
            files.push((stem, path));
        }
        Ok(files)
    }
}

/// Files of `dir` ending in `.ext`, sorted; none when the folder does not exist.
fn sql_files(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(error) => {
            return Err(SegmintError::io(
                format!("reading {}", dir.display()),
                error,
            ));
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    Ok(paths)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| SegmintError::io(format!("reading {}", path.display()), e))
}

/// Lays the `.ext` files of `dir` over `assets`: same file name replaces, new names append.
fn overlay(assets: &mut Vec<Asset>, dir: &Path, ext: &str) -> Result<()> {
    for path in sql_files(dir, ext)? {
        let Some(file) = path
            .file_name()
            .and_then(|f| f.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        let asset = Asset {
            text: read(&path)?,
            file,
            origin: Origin::File(path),
        };
        match assets.iter_mut().find(|a| a.file == asset.file) {
            Some(existing) => *existing = asset,
            None => assets.push(asset),
        }
    }
    Ok(())
}

/// Replaces `asset` by the file of the same name in `dir`, if there is one.
fn replace(asset: &mut Asset, dir: &Path) -> Result<()> {
    let path = dir.join(&asset.file);
    if path.is_file() {
        asset.text = read(&path)?;
        asset.origin = Origin::File(path);
    }
    Ok(())
}

/// Whether `text` holds nothing but `--` comments and blank lines.
pub fn is_only_comments(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with("--"))
}

/// The leading `--` comment lines of a SQL asset, as TOML (the report front-matter format).
pub fn front_matter(text: &str) -> String {
    let mut toml = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let Some(comment) = trimmed.strip_prefix("--") else {
            break;
        };
        toml.push_str(comment.strip_prefix(' ').unwrap_or(comment));
        toml.push('\n');
    }
    toml
}

/// What an asset needs from the customer model: `needs = ["events", "orders.channel"]` in
/// its front matter (entities, or `entity.column` for an optional column).
pub fn needs(text: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Needs {
        #[serde(default)]
        needs: Vec<String>,
    }
    // Views' front matter is prose; only a `needs = [...]` line is read.
    let lines: String = front_matter(text)
        .lines()
        .filter(|l| l.trim_start().starts_with("needs"))
        .collect::<Vec<_>>()
        .join("\n");
    toml::from_str::<Needs>(&lines)
        .map(|n| n.needs)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_files_replace_and_add() {
        let dir = tempfile::tempdir().expect("tempdir");
        let views = dir.path().join("sql/views");
        std::fs::create_dir_all(&views).expect("mkdir");
        std::fs::write(
            views.join("customer_360.sql"),
            "CREATE VIEW customer_360 AS SELECT 1",
        )
        .expect("write");
        std::fs::write(
            views.join("zz_extra.sql"),
            "CREATE VIEW zz_extra AS SELECT 2",
        )
        .expect("write");
        let tags = dir.path().join("sql/tags");
        std::fs::create_dir_all(&tags).expect("mkdir");
        std::fs::write(tags.join("tags.toml"), "features = 'x'").expect("write");
        let mut config = Config::default();
        config.project.dir = Some(dir.path().to_path_buf());
        let assets = Assets::load(&config).expect("load");
        let names: Vec<&str> = assets.views.iter().map(|a| a.file.as_str()).collect();
        assert_eq!(
            names,
            ["completed_orders.sql", "customer_360.sql", "zz_extra.sql"]
        );
        assert!(assets.views[1].text.ends_with("SELECT 1"));
        assert_eq!(assets.views[0].origin, Origin::Shipped);
        assert_eq!(assets.tags.text, "features = 'x'");
        assert_eq!(assets.model_dir, Some(dir.path().join("model")));
    }

    #[test]
    fn needs_are_read_from_front_matter() {
        let text = "-- name = \"x\"\n-- needs = [\"events\", \"orders.channel\"]\nSELECT 1";
        assert_eq!(needs(text), ["events", "orders.channel"]);
        assert!(needs("-- prose only\nSELECT 1").is_empty());
    }

    #[test]
    fn a_missing_project_folder_is_an_error() {
        let mut config = Config::default();
        config.project.dir = Some(PathBuf::from("/nonexistent/segmint-project"));
        assert!(Assets::load(&config).is_err());
    }
}
