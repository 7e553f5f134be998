//! Customer indexes: `CREATE INDEX name ON dataset (column)` over the wire, or `[[indexes]]`
//! in the config file. An index is a sidecar beside the data, never a copy of it:
//!
//! - a key file ([`keys`]): every `(key, file, row)` of the dataset, sorted by key, so a lookup
//!   reads one small row group per key;
//! - the files it covers, each with its size and modification time, and, for files written
//!   without a page index (pyarrow's default), the page locations of every column chunk read
//!   from the page headers ([`super::page_locations`]), so a lookup fetches only the pages
//!   holding its rows.
//!
//! With a `[catalog] dir` both are kept under `<dir>/indexes/`: the key file
//! `<name>-<build>.keys.parquet`, then the manifest `<name>.json` that names it (written last,
//! through a temporary file: it is the commit). Without one the index lives in memory and is
//! built again at each start.
//!
//! The planner uses an index for `column = value` and `column IN (...)` on its dataset
//! ([`scan::IndexedTable`]). A file the index does not know as it is now (new, rewritten) is
//! scanned in full, and a file no longer listed is not read, so a stale index is slower,
//! never wrong. A refresh that finds changed files extends the index: unchanged files keep
//! their rows, new ones are read.

mod build;
mod keys;
mod scan;

pub use keys::KeyType;
pub use scan::{IndexLookupExec, IndexedTable};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};
use datafusion::common::ScalarValue;
use object_store::ObjectMeta;
use parquet::file::metadata::ParquetOffsetIndex;
use parquet::file::page_index::offset_index::{OffsetIndexMetaData, PageLocation};
use serde::{Deserialize, Serialize};

use keys::{KeyFile, Matches};

/// Why an index could not be built, read or used.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A file of the index could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The saved index does not read back (it is then built again).
    #[error("the saved index is unreadable: {0}")]
    Corrupt(String),
    /// A data file could not be read.
    #[error("reading {path}: {message}")]
    Data {
        /// The data file.
        path: String,
        /// Why.
        message: String,
    },
    /// Arrow failed (sorting, casting keys).
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// Parquet failed (writing or reading the key file).
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// DataFusion failed.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// What an index covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDefinition {
    /// The index name (a lowercase identifier, in the relation namespace like PostgreSQL's).
    pub name: String,
    /// The dataset (table) it is on.
    pub dataset: String,
    /// The column whose values it maps to rows.
    pub column: String,
}

impl IndexDefinition {
    /// The statement that creates it, as `pg_indexes.indexdef` shows and the catalog saves.
    pub fn sql(&self) -> String {
        format!(
            "CREATE INDEX {} ON {} ({})",
            quoted(&self.name),
            quoted(&self.dataset),
            quoted(&self.column)
        )
    }

    /// `CREATE INDEX ... ON public.dataset USING btree (column)`, as `pg_indexes` shows it.
    pub fn indexdef(&self) -> String {
        format!(
            "CREATE INDEX {} ON public.{} USING btree ({})",
            quoted(&self.name),
            quoted(&self.dataset),
            quoted(&self.column)
        )
    }
}

/// `name` as SQL: bare when it is a plain lowercase identifier, double-quoted otherwise.
fn quoted(name: &str) -> String {
    if crate::config::is_identifier(name) {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Where an index was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// `[[indexes]]` in the config file.
    Config,
    /// `CREATE INDEX` over the wire (saved in the catalog folder).
    Wire,
}

/// One data file as the index saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedFile {
    /// Its path in the object store.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, in milliseconds since the epoch.
    pub modified_ms: i64,
    /// Its entity tag, when the store gives one (a rewrite within the same second of a
    /// store that keeps whole seconds still changes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
    /// Its rows.
    pub rows: u64,
    /// Page locations `[offset, size, first row]` per row group and column, read from the
    /// page headers, when the file has no page index of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<Vec<Vec<Vec<[i64; 3]>>>>,
}

impl IndexedFile {
    /// Whether `meta` is this file, unchanged.
    fn is(&self, meta: &ObjectMeta) -> bool {
        self.path == meta.location.as_ref()
            && self.size == meta.size
            && self.modified_ms == meta.last_modified.timestamp_millis()
            && (self.e_tag.is_none() || self.e_tag == meta.e_tag)
    }

    fn offset_index(&self) -> Option<ParquetOffsetIndex> {
        let pages = self.pages.as_ref()?;
        Some(
            pages
                .iter()
                .map(|columns| {
                    columns
                        .iter()
                        .map(|locations| OffsetIndexMetaData {
                            page_locations: locations
                                .iter()
                                .map(|[offset, size, first_row]| PageLocation {
                                    offset: *offset,
                                    compressed_page_size: *size as i32,
                                    first_row_index: *first_row,
                                })
                                .collect(),
                            unencoded_byte_array_data_bytes: None,
                        })
                        .collect()
                })
                .collect(),
        )
    }
}

/// What `<name>.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    definition: IndexDefinition,
    key_type: String,
    keys_file: String,
    built_at: DateTime<Utc>,
    files: Vec<IndexedFile>,
}

/// A built index.
#[derive(Debug)]
pub struct CustomerIndex {
    definition: IndexDefinition,
    files: Vec<IndexedFile>,
    by_path: HashMap<String, u32>,
    offsets: HashMap<String, Arc<ParquetOffsetIndex>>,
    keys: KeyFile,
    built_at: DateTime<Utc>,
}

impl CustomerIndex {
    fn new(
        definition: IndexDefinition,
        files: Vec<IndexedFile>,
        keys: KeyFile,
        built_at: DateTime<Utc>,
    ) -> CustomerIndex {
        let by_path = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.clone(), i as u32))
            .collect();
        let offsets = files
            .iter()
            .filter_map(|f| Some((f.path.clone(), Arc::new(f.offset_index()?))))
            .collect();
        CustomerIndex {
            definition,
            files,
            by_path,
            offsets,
            keys,
            built_at,
        }
    }

    /// What it covers.
    pub fn definition(&self) -> &IndexDefinition {
        &self.definition
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.keys.key_type()
    }

    /// The number of `meta`'s file in the index, when the index saw it as it is now.
    pub fn file(&self, meta: &ObjectMeta) -> Option<u32> {
        let number = *self.by_path.get(meta.location.as_ref())?;
        self.files[number as usize].is(meta).then_some(number)
    }

    /// The rows of `file` (a number from [`CustomerIndex::file`]).
    pub fn file_rows(&self, file: u32) -> u64 {
        self.files.get(file as usize).map_or(0, |f| f.rows)
    }

    /// The indexed rows holding any of `keys` (of the key type), by file number.
    pub fn lookup(&self, keys: &[ScalarValue]) -> Result<Matches, IndexError> {
        self.keys.lookup(keys)
    }

    /// The page locations the index read for the file at `path`, if it has none of its own.
    pub fn offset_index(&self, path: &str) -> Option<Arc<ParquetOffsetIndex>> {
        self.offsets.get(path).cloned()
    }

    /// Files covered.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// Rows with a key.
    pub fn rows(&self) -> u64 {
        self.keys.rows()
    }

    /// When it was built or last extended.
    pub fn built_at(&self) -> DateTime<Utc> {
        self.built_at
    }

    /// Whether `listed` (the dataset's files now) are exactly the files it covers.
    pub fn covers_exactly(&self, listed: &[ObjectMeta]) -> bool {
        listed.len() == self.files.len() && listed.iter().all(|m| self.file(m).is_some())
    }
}

/// An index as the tables see it: its definition and its latest build (none while the first
/// build has not finished or failed).
#[derive(Debug)]
pub struct IndexHandle {
    definition: IndexDefinition,
    origin: IndexOrigin,
    current: RwLock<Option<Arc<CustomerIndex>>>,
    error: Mutex<Option<String>>,
}

impl IndexHandle {
    /// The latest build.
    pub fn current(&self) -> Option<Arc<CustomerIndex>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What it covers.
    pub fn definition(&self) -> &IndexDefinition {
        &self.definition
    }

    /// Where it was defined.
    pub fn origin(&self) -> IndexOrigin {
        self.origin
    }

    /// Why the last build failed, if it did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, built: Result<CustomerIndex, IndexError>) -> Result<(), IndexError> {
        let mut error = self.error.lock().unwrap_or_else(|p| p.into_inner());
        match built {
            Ok(index) => {
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(index));
                *error = None;
                Ok(())
            }
            Err(failure) => {
                *error = Some(failure.to_string());
                Err(failure)
            }
        }
    }
}

/// Every index of the catalog.
#[derive(Debug)]
pub struct Indexes {
    dir: Option<PathBuf>,
    handles: Mutex<BTreeMap<String, Arc<IndexHandle>>>,
}

impl Indexes {
    /// Indexes kept under `<catalog_dir>/indexes/` (in memory without a catalog folder).
    pub fn new(catalog_dir: Option<&Path>) -> Indexes {
        Indexes {
            dir: catalog_dir.map(|d| d.join("indexes")),
            handles: Mutex::new(BTreeMap::new()),
        }
    }

    fn handles(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<IndexHandle>>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The index called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<IndexHandle>> {
        self.handles().get(name).cloned()
    }

    /// Every index, by name.
    pub fn all(&self) -> Vec<Arc<IndexHandle>> {
        self.handles().values().cloned().collect()
    }

    /// The indexes on `dataset`.
    pub fn on(&self, dataset: &str) -> Vec<Arc<IndexHandle>> {
        self.handles()
            .values()
            .filter(|h| h.definition.dataset == dataset)
            .cloned()
            .collect()
    }

    /// Adds an index (not built yet).
    pub fn add(&self, definition: IndexDefinition, origin: IndexOrigin) -> Arc<IndexHandle> {
        let handle = Arc::new(IndexHandle {
            definition: definition.clone(),
            origin,
            current: RwLock::new(None),
            error: Mutex::new(None),
        });
        self.handles().insert(definition.name, handle.clone());
        handle
    }

    /// Forgets the index called `name` and removes its files. Tables planned before keep
    /// the handle, now empty: they scan without it.
    pub fn remove(&self, name: &str) -> Option<Arc<IndexHandle>> {
        let handle = self.handles().remove(name)?;
        *handle.current.write().unwrap_or_else(|p| p.into_inner()) = None;
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_file(dir.join(format!("{name}.json")));
            remove_key_files(dir, name, None);
        }
        Some(handle)
    }

    /// Builds `handle`'s index over `listed` (the dataset's files now) from `store`: loaded
    /// from the catalog folder when saved for these files, extended when some changed
    /// (unchanged files keep their rows), built from the data otherwise.
    pub async fn build(
        &self,
        handle: &IndexHandle,
        store: Arc<dyn object_store::ObjectStore>,
        listed: Vec<ObjectMeta>,
        key_type: KeyType,
    ) -> Result<(), IndexError> {
        let name = handle.definition.name.clone();
        let previous = match handle.current() {
            Some(current) => Some(current),
            None => self.load(&handle.definition, key_type).map(Arc::new),
        };
        if let Some(previous) = &previous
            && previous.covers_exactly(&listed)
        {
            if handle.current().is_none() {
                *handle.current.write().unwrap_or_else(|p| p.into_inner()) = Some(previous.clone());
            }
            return Ok(());
        }
        let started = std::time::Instant::now();
        let built_at = Utc::now();
        let keys_file = format!(
            "{name}-{}.keys.parquet",
            built_at.format("%Y%m%dT%H%M%S%6f")
        );
        let keys_path = self.dir.as_ref().map(|d| d.join(&keys_file));
        let built = build::build(
            store,
            &handle.definition,
            key_type,
            listed,
            previous.as_deref(),
            keys_path.as_deref(),
        )
        .await
        .and_then(|(files, keys)| {
            if let Some(dir) = &self.dir {
                let manifest = Manifest {
                    definition: handle.definition.clone(),
                    key_type: key_type_name(key_type).to_string(),
                    keys_file: keys_file.clone(),
                    built_at,
                    files: files.clone(),
                };
                let text = serde_json::to_vec_pretty(&manifest)
                    .map_err(|e| IndexError::Corrupt(e.to_string()))?;
                keys::write_atomically(&dir.join(format!("{name}.json")), &text)?;
            }
            Ok(CustomerIndex::new(
                handle.definition.clone(),
                files,
                keys,
                built_at,
            ))
        });
        if let Ok(index) = &built {
            tracing::info!(
                index = %name,
                dataset = %handle.definition.dataset,
                files = index.files(),
                rows = index.rows(),
                extended = previous.is_some(),
                seconds = started.elapsed().as_secs_f64(),
                "index built"
            );
        } else if let Some(path) = &keys_path {
            let _ = std::fs::remove_file(path);
        }
        let succeeded = built.is_ok();
        handle.set(built)?;
        // Older key files go once no new lookup can pick them.
        if succeeded && let Some(dir) = &self.dir {
            remove_key_files(dir, &name, Some(&keys_file));
        }
        Ok(())
    }

    /// Forgets the index called `name` but keeps its saved build (a restore or a config
    /// index that could not be built now: the next start loads it).
    pub fn forget(&self, name: &str) {
        self.handles().remove(name);
    }

    /// The saved build of `definition`, if there is one that reads back.
    fn load(&self, definition: &IndexDefinition, key_type: KeyType) -> Option<CustomerIndex> {
        let dir = self.dir.as_ref()?;
        let path = dir.join(format!("{}.json", definition.name));
        let text = std::fs::read(&path).ok()?;
        let loaded = (|| -> Result<CustomerIndex, IndexError> {
            let manifest: Manifest =
                serde_json::from_slice(&text).map_err(|e| IndexError::Corrupt(e.to_string()))?;
            if &manifest.definition != definition || manifest.key_type != key_type_name(key_type) {
                return Err(IndexError::Corrupt(
                    "it was built for another definition".into(),
                ));
            }
            let keys = KeyFile::open(key_type, &dir.join(&manifest.keys_file))?;
            Ok(CustomerIndex::new(
                manifest.definition,
                manifest.files,
                keys,
                manifest.built_at,
            ))
        })();
        match loaded {
            Ok(index) => Some(index),
            Err(error) => {
                tracing::warn!(index = %definition.name, %error, "saved index not used: building it again");
                None
            }
        }
    }
}

fn key_type_name(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::Integer => "integer",
        KeyType::Text => "text",
    }
}

/// Removes the key files of `name` other than `keep`.
fn remove_key_files(dir: &Path, name: &str, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{name}-");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let ours = file
            .strip_prefix(&prefix)
            .is_some_and(|rest| rest.ends_with(".keys.parquet") && !rest.contains('-'));
        if ours && Some(file.as_str()) != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
