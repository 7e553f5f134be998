//! The saved catalog: every object created over the wire (saved segments as views, external
//! tables, materialised tables) is kept as the one SQL statement that recreates it, in
//! `<dir>/<name>.sql`, and replayed at start.
//!
//! A file is written to a temporary name, synced and renamed into place, so a crash never
//! leaves a half-written statement and never loses the previous version. Names are plain
//! lowercase identifiers, which keeps them safe as file names.

use std::path::{Path, PathBuf};

use crate::error::{Result, SegmintError};

/// First line of the file of a table whose Parquet files Segmint wrote and owns.
const MATERIALIZED_MARK: &str = "-- segmint: materialized";

/// The folder of saved objects.
#[derive(Debug, Clone)]
pub struct SavedCatalog {
    dir: PathBuf,
}

/// One saved object, as read back from its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedObject {
    /// The object (view or table) name.
    pub name: String,
    /// The statement that recreates it.
    pub sql: String,
    /// Whether Segmint wrote its data (`CREATE TABLE AS`), and so may delete it.
    pub materialized: bool,
}

impl SavedCatalog {
    /// A saved catalog in `dir` (created if missing).
    pub fn open(dir: &Path) -> Result<SavedCatalog> {
        std::fs::create_dir_all(dir)
            .map_err(|e| SegmintError::io(format!("creating catalog dir {}", dir.display()), e))?;
        Ok(SavedCatalog {
            dir: dir.to_path_buf(),
        })
    }

    /// Checks that `name` can be saved: a lowercase SQL identifier of at most 63 bytes.
    pub fn check_name(name: &str) -> std::result::Result<(), String> {
        if crate::config::is_identifier(name) && name.len() <= 63 {
            Ok(())
        } else {
            Err(format!(
                "name \"{name}\" must be a lowercase identifier (a-z, 0-9, _) in schema public"
            ))
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.sql"))
    }

    /// Saves the statement of `name`, replacing an older version atomically.
    pub fn save(&self, object: &SavedObject) -> Result<()> {
        let target = self.path(&object.name);
        let temporary = self.dir.join(format!(".{}.sql.tmp", object.name));
        let mut text = String::new();
        if object.materialized {
            text.push_str(MATERIALIZED_MARK);
            text.push('\n');
        }
        text.push_str(object.sql.trim());
        text.push('\n');
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, &target)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            SegmintError::io(format!("saving {}", target.display()), e)
        })?;
        // The rename is the commit; making it durable is best effort from here on.
        self.sync_dir();
        Ok(())
    }

    fn sync_dir(&self) {
        if let Err(error) = std::fs::File::open(&self.dir).and_then(|d| d.sync_all()) {
            tracing::warn!(dir = %self.dir.display(), %error, "catalog folder not synced");
        }
    }

    /// Removes `name` (no error when it was never saved).
    pub fn remove(&self, name: &str) -> Result<()> {
        match std::fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(SegmintError::io(format!("removing saved object {name}"), e))
            }
            _ => Ok(()),
        }
    }

    fn pending_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!(".{name}.pending"))
    }

    /// Records that table `name` is being written at `location`, before any file is written,
    /// so a write killed half-way can be removed at the next start.
    pub fn begin_write(&self, name: &str, location: &str) -> Result<()> {
        let path = self.pending_path(name);
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&path)?;
            file.write_all(location.as_bytes())?;
            file.sync_all()
        };
        write().map_err(|e| SegmintError::io(format!("recording {}", path.display()), e))
    }

    /// The write of table `name` is over (committed or cleaned up).
    pub fn end_write(&self, name: &str) {
        let _ = std::fs::remove_file(self.pending_path(name));
        self.sync_dir();
    }

    /// Writes that never ended: (table name, location).
    pub fn pending_writes(&self) -> Vec<(String, String)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let file = entry.file_name().to_string_lossy().into_owned();
                let name = file
                    .strip_prefix('.')?
                    .strip_suffix(".pending")?
                    .to_string();
                let location = std::fs::read_to_string(entry.path()).ok()?;
                Some((name, location.trim().to_string()))
            })
            .collect()
    }

    /// Every saved object, in name order. Unreadable files are reported and skipped.
    pub fn load(&self) -> Vec<SavedObject> {
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "sql"))
                .collect(),
            Err(error) => {
                tracing::error!(dir = %self.dir.display(), %error, "cannot list the saved catalog");
                return vec![];
            }
        };
        files.sort();
        let mut objects = Vec::with_capacity(files.len());
        for file in files {
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let (materialized, sql) = match text.strip_prefix(MATERIALIZED_MARK) {
                        Some(rest) => (true, rest.trim().to_string()),
                        None => (false, text.trim().to_string()),
                    };
                    objects.push(SavedObject {
                        name,
                        sql,
                        materialized,
                    });
                }
                Err(error) => {
                    tracing::warn!(file = %file.display(), %error, "saved object not readable")
                }
            }
        }
        objects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, sql: &str) -> SavedObject {
        SavedObject {
            name: name.to_string(),
            sql: sql.to_string(),
            materialized: false,
        }
    }

    #[test]
    fn names_are_checked_and_saves_replace_atomically() {
        assert!(SavedCatalog::check_name("at_risk_vip").is_ok());
        assert!(SavedCatalog::check_name("../etc").is_err());
        assert!(SavedCatalog::check_name("Big").is_err());
        let dir = tempfile::tempdir().expect("dir");
        let saved = SavedCatalog::open(dir.path()).expect("open");
        saved
            .save(&view("a", "CREATE VIEW a AS SELECT 1"))
            .expect("save");
        saved
            .save(&view("a", "CREATE OR REPLACE VIEW a AS SELECT 2"))
            .expect("replace");
        let table = SavedObject {
            name: "t".to_string(),
            sql: "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'file:///x/'".to_string(),
            materialized: true,
        };
        saved.save(&table).expect("save table");
        let loaded = saved.load();
        assert_eq!(loaded.len(), 2, "no temp file left, one file per name");
        assert!(loaded[0].sql.contains("SELECT 2"));
        assert_eq!(loaded[1], table);
        saved.remove("a").expect("remove");
        saved.remove("a").expect("removing twice is fine");
        assert_eq!(saved.load().len(), 1);
        saved.begin_write("t", "file:///x/v2/").expect("pending");
        assert_eq!(
            saved.pending_writes(),
            vec![("t".to_string(), "file:///x/v2/".to_string())]
        );
        assert_eq!(saved.load().len(), 1, "pending writes are not objects");
        saved.end_write("t");
        assert!(saved.pending_writes().is_empty());
    }
}
