//! Saved segments: views that analysts create over the wire (`CREATE VIEW at_risk_vip AS ...`),
//! kept as one SQL file each so they survive a restart and appear to BI tools as views.
//!
//! A file is written to a temporary name and renamed into place, so a crash never leaves a
//! half-written segment and never loses the previous version. Names are plain lowercase
//! identifiers, which keeps them safe as file names.

use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;

use crate::error::{Result, SegmintError};

/// The folder of saved segments.
#[derive(Debug, Clone)]
pub struct SegmentStore {
    dir: PathBuf,
}

/// What happened to one saved segment at start.
#[derive(Debug, Clone)]
pub struct SegmentStatus {
    /// The segment (view) name.
    pub name: String,
    /// Why it could not be restored, if it could not.
    pub error: Option<String>,
}

impl SegmentStore {
    /// A store in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<SegmentStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SegmintError::io(format!("creating segments dir {}", dir.display()), e))?;
        Ok(SegmentStore {
            dir: dir.to_path_buf(),
        })
    }

    /// Checks that `name` can be a saved segment: a lowercase SQL identifier.
    pub fn check_name(name: &str) -> std::result::Result<(), String> {
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.len() <= 63;
        if valid {
            Ok(())
        } else {
            Err(format!(
                "segment name \"{name}\" must be a lowercase identifier (a-z, 0-9, _) in schema public"
            ))
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sql"))
    }

    /// Saves the `CREATE VIEW` statement of segment `name`, replacing an older version atomically.
    pub fn save(&self, name: &str, statement: &str) -> Result<()> {
        let target = self.path(name);
        let temporary = self.dir.join(format!(".{name}.sql.tmp"));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(statement.trim().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temporary, &target)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            SegmintError::io(format!("saving segment {}", target.display()), e)
        })
    }

    /// Removes segment `name` (no error when it was never saved).
    pub fn remove(&self, name: &str) -> Result<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(SegmintError::io(format!("removing segment {name}"), e))
            }
            _ => Ok(()),
        }
    }

    /// Creates every saved segment in `ctx`, in name order; a broken one is reported and skipped.
    pub async fn restore(&self, ctx: &SessionContext) -> Vec<SegmentStatus> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .collect(),
            Err(error) => {
                tracing::error!(dir = %self.dir.display(), %error, "cannot list saved segments");
                return vec![];
            }
        };
        files.sort();
        let mut statuses = Vec::with_capacity(files.len());
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let result = async {
                let sql = std::fs::read_to_string(&file)
                    .map_err(|e| SegmintError::io(format!("reading {}", file.display()), e))?;
                ctx.sql(&sql).await?.collect().await?;
                Ok::<(), SegmintError>(())
            }
            .await;
            let error = result.err().map(|e| e.to_string());
            match &error {
                None => tracing::info!(segment = %name, "restored saved segment"),
                Some(error) => {
                    tracing::warn!(segment = %name, %error, "saved segment not restored")
                }
            }
            statuses.push(SegmentStatus { name, error });
        }
        statuses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_saves_replace_atomically() {
        assert!(SegmentStore::check_name("at_risk_vip").is_ok());
        assert!(SegmentStore::check_name("../etc").is_err());
        assert!(SegmentStore::check_name("Big").is_err());
        let dir = tempfile::tempdir().expect("dir");
        let store = SegmentStore::open(dir.path()).expect("open");
        store.save("a", "CREATE VIEW a AS SELECT 1").expect("save");
        store
            .save("a", "CREATE OR REPLACE VIEW a AS SELECT 2")
            .expect("replace");
        let text = std::fs::read_to_string(dir.path().join("a.sql")).expect("read");
        assert!(text.contains("SELECT 2"));
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no temp file left"
        );
        store.remove("a").expect("remove");
        store.remove("a").expect("removing twice is fine");
    }
}
