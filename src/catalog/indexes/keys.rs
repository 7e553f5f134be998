//! The key file of an index: one row per indexed row, `(key, file, row)`, sorted by key and
//! kept as Parquet in row groups of [`ROW_GROUP_ROWS`]. The smallest and largest key of every
//! row group stay in memory, so a lookup reads only the row groups that can hold its keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{
    SortOptions, cast, filter, filter_record_batch, is_not_null, or, sort_to_indices, take,
};
use datafusion::arrow::datatypes::UInt32Type;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;

use super::IndexError;

/// Rows per row group of a key file: what one lookup of one key reads, at most twice.
pub const ROW_GROUP_ROWS: usize = 16 * 1024;

/// The type keys are kept as: every integer type as `Int64`, every text type as `Utf8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// Integer keys.
    Integer,
    /// Text keys.
    Text,
}

impl KeyType {
    /// The key type of a column of `data_type`; `None` for a type an index does not serve.
    pub fn of(data_type: &DataType) -> Option<KeyType> {
        match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => Some(KeyType::Integer),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(KeyType::Text),
            DataType::Dictionary(_, value) => KeyType::of(value),
            _ => None,
        }
    }

    /// The Arrow type keys are stored and compared as.
    pub fn arrow(self) -> DataType {
        match self {
            KeyType::Integer => DataType::Int64,
            KeyType::Text => DataType::Utf8,
        }
    }

    /// `key` as this type, or `None` when it cannot be one (a text literal against integer
    /// keys that is not a number, say: the index then does not answer).
    pub fn key(self, key: &ScalarValue) -> Option<ScalarValue> {
        if key.is_null() {
            return None;
        }
        key.cast_to(&self.arrow()).ok().filter(|k| !k.is_null())
    }
}

/// The columns of a key file.
fn schema(key_type: KeyType) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", key_type.arrow(), false),
        Field::new("file", DataType::UInt32, false),
        Field::new("row", DataType::UInt32, false),
    ]))
}

/// Where a key file's bytes are.
#[derive(Debug, Clone)]
enum Source {
    /// Kept in memory (no catalog folder to persist into).
    Memory(Bytes),
    /// A file under the catalog folder.
    Disk(PathBuf),
}

/// An open key file.
#[derive(Debug, Clone)]
pub struct KeyFile {
    key_type: KeyType,
    source: Source,
    metadata: ArrowReaderMetadata,
    /// Smallest and largest key of each row group, in row-group order (ascending).
    bounds: Vec<(ScalarValue, ScalarValue)>,
    rows: u64,
}

/// Indexed rows by file number: row numbers within the file, ascending, without repeats.
pub type Matches = BTreeMap<u32, Vec<u32>>;

impl KeyFile {
    /// Sorts `(keys, files, rows)` by key and writes them as a key file, at `path` (through a
    /// temporary name, so a crash never leaves half a file there) or in memory.
    pub fn write(
        key_type: KeyType,
        batches: &[RecordBatch],
        path: Option<&Path>,
    ) -> Result<KeyFile, IndexError> {
        let schema = schema(key_type);
        let all = datafusion::arrow::compute::concat_batches(&schema, batches)?;
        let order = sort_to_indices(all.column(0), Some(SortOptions::default()), None)?;
        let columns: Vec<ArrayRef> = all
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &order, None))
            .collect::<Result<_, _>>()?;
        let sorted = RecordBatch::try_new(schema.clone(), columns)?;
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut buffer = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buffer, schema, Some(properties))?;
        let mut offset = 0;
        while offset < sorted.num_rows() {
            let length = ROW_GROUP_ROWS.min(sorted.num_rows() - offset);
            writer.write(&sorted.slice(offset, length))?;
            offset += length;
        }
        writer.close()?;
        let bytes = Bytes::from(buffer);
        let source = match path {
            Some(path) => {
                write_atomically(path, &bytes)?;
                Source::Disk(path.to_path_buf())
            }
            None => Source::Memory(bytes.clone()),
        };
        KeyFile::from_bytes(key_type, source, bytes)
    }

    /// Opens the key file at `path`.
    pub fn open(key_type: KeyType, path: &Path) -> Result<KeyFile, IndexError> {
        let bytes = std::fs::read(path).map_err(|e| IndexError::Io {
            what: format!("reading {}", path.display()),
            source: e,
        })?;
        KeyFile::from_bytes(
            key_type,
            Source::Disk(path.to_path_buf()),
            Bytes::from(bytes),
        )
    }

    fn from_bytes(key_type: KeyType, source: Source, bytes: Bytes) -> Result<KeyFile, IndexError> {
        let metadata = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new())?;
        if metadata.schema().field(0).data_type() != &key_type.arrow() {
            return Err(IndexError::Corrupt(format!(
                "its keys are {}, not {}",
                metadata.schema().field(0).data_type(),
                key_type.arrow()
            )));
        }
        let parquet = metadata.metadata();
        let converter = StatisticsConverter::try_new(
            "key",
            metadata.schema(),
            parquet.file_metadata().schema_descr(),
        )?;
        let mins = converter.row_group_mins(parquet.row_groups())?;
        let maxes = converter.row_group_maxes(parquet.row_groups())?;
        let mut bounds = Vec::with_capacity(mins.len());
        for i in 0..mins.len() {
            bounds.push((
                ScalarValue::try_from_array(&mins, i)?,
                ScalarValue::try_from_array(&maxes, i)?,
            ));
        }
        let rows = parquet.file_metadata().num_rows().max(0) as u64;
        // On disk, the bytes are read again at each lookup (a few row groups), not kept.
        let source = match source {
            Source::Memory(_) => Source::Memory(bytes),
            disk => disk,
        };
        Ok(KeyFile {
            key_type,
            source,
            metadata,
            bounds,
            rows,
        })
    }

    /// Number of indexed rows.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The indexed rows holding any of `keys` (already of the key type).
    pub fn lookup(&self, keys: &[ScalarValue]) -> Result<Matches, IndexError> {
        let mut groups: Vec<usize> = Vec::new();
        for key in keys {
            // Row groups are sorted: the ones that may hold `key` are one run.
            let first = self.bounds.partition_point(|(_, max)| max < key);
            groups.extend((first..self.bounds.len()).take_while(|&g| &self.bounds[g].0 <= key));
        }
        groups.sort_unstable();
        groups.dedup();
        let mut matches = Matches::new();
        if groups.is_empty() {
            return Ok(matches);
        }
        let batches = self.read(Some(groups))?;
        let needles: Vec<_> = keys
            .iter()
            .map(|k| k.to_scalar())
            .collect::<Result<_, _>>()?;
        for batch in batches {
            let mut mask: Option<BooleanArray> = None;
            for needle in &needles {
                let hit = eq(batch.column(0), needle)?;
                mask = Some(match mask {
                    Some(m) => or(&m, &hit)?,
                    None => hit,
                });
            }
            let Some(mask) = mask else { continue };
            let hits = filter_record_batch(&batch, &mask)?;
            let files = hits.column(1).as_primitive::<UInt32Type>();
            let rows = hits.column(2).as_primitive::<UInt32Type>();
            for (file, row) in files.values().iter().zip(rows.values()) {
                matches.entry(*file).or_default().push(*row);
            }
        }
        for rows in matches.values_mut() {
            rows.sort_unstable();
            rows.dedup();
        }
        Ok(matches)
    }

    /// Every `(key, file, row)` of the files `keep` maps to a new number, renumbered (an index
    /// extended at refresh keeps the rows of the files that did not change).
    pub fn kept(&self, keep: &BTreeMap<u32, u32>) -> Result<Vec<RecordBatch>, IndexError> {
        let mut kept = Vec::new();
        for batch in self.read(None)? {
            let files = batch.column(1).as_primitive::<UInt32Type>();
            let mask: BooleanArray = files
                .values()
                .iter()
                .map(|f| Some(keep.contains_key(f)))
                .collect();
            let batch = filter_record_batch(&batch, &mask)?;
            let files = batch.column(1).as_primitive::<UInt32Type>();
            let renumbered = UInt32Array::from_iter_values(
                files
                    .values()
                    .iter()
                    .map(|f| keep.get(f).copied().unwrap_or(*f)),
            );
            kept.push(RecordBatch::try_new(
                batch.schema(),
                vec![
                    batch.column(0).clone(),
                    Arc::new(renumbered),
                    batch.column(2).clone(),
                ],
            )?);
        }
        Ok(kept)
    }

    /// The rows of the given row groups (all when `None`).
    fn read(&self, groups: Option<Vec<usize>>) -> Result<Vec<RecordBatch>, IndexError> {
        fn batches<T: ChunkReader + 'static>(
            reader: T,
            metadata: &ArrowReaderMetadata,
            groups: Option<Vec<usize>>,
        ) -> Result<Vec<RecordBatch>, IndexError> {
            let mut builder =
                ParquetRecordBatchReaderBuilder::new_with_metadata(reader, metadata.clone())
                    .with_batch_size(ROW_GROUP_ROWS);
            if let Some(groups) = groups {
                builder = builder.with_row_groups(groups);
            }
            Ok(builder.build()?.collect::<Result<Vec<_>, _>>()?)
        }
        match &self.source {
            Source::Memory(bytes) => batches(bytes.clone(), &self.metadata, groups),
            Source::Disk(path) => {
                let file = std::fs::File::open(path).map_err(|e| IndexError::Io {
                    what: format!("opening {}", path.display()),
                    source: e,
                })?;
                batches(file, &self.metadata, groups)
            }
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }
}

/// One batch of `(key, file, row)` for `file`: `keys` (any integer or text type) at row
/// numbers `first_row..`; rows without a key are left out (`= NULL` finds nothing).
pub fn batch(
    key_type: KeyType,
    keys: &ArrayRef,
    file: u32,
    first_row: u32,
) -> Result<RecordBatch, IndexError> {
    let keys = cast(keys.as_ref(), &key_type.arrow())?;
    let end = u32::try_from(keys.len())
        .ok()
        .and_then(|n| first_row.checked_add(n))
        .ok_or_else(|| IndexError::Corrupt("an index covers files of at most 2^32 rows".into()))?;
    let rows: ArrayRef = Arc::new(UInt32Array::from_iter_values(first_row..end));
    let (keys, rows) = if keys.null_count() > 0 {
        let present = is_not_null(keys.as_ref())?;
        (filter(&keys, &present)?, filter(&rows, &present)?)
    } else {
        (keys, rows)
    };
    let files = UInt32Array::from_iter_values(std::iter::repeat_n(file, keys.len()));
    Ok(RecordBatch::try_new(
        schema(key_type),
        vec![keys, Arc::new(files), rows],
    )?)
}

/// An empty batch of the key file's columns.
pub fn empty(key_type: KeyType) -> RecordBatch {
    RecordBatch::new_empty(schema(key_type))
}

/// Writes `bytes` to `path` through a temporary file renamed into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        IndexError::Io {
            what: format!("writing {}", path.display()),
            source: e,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StringArray};

    fn lookup(file: &KeyFile, keys: &[ScalarValue]) -> Matches {
        file.lookup(keys).unwrap()
    }

    #[test]
    fn keys_are_found_in_memory_and_on_disk() {
        // Three files of 50,000 rows; key = row % 7,001 in file 0, and so on.
        let batches: Vec<RecordBatch> = (0..3u32)
            .map(|f| {
                let keys: ArrayRef = Arc::new(Int32Array::from_iter_values(
                    (0..50_000).map(|r| (r * 7 + f as i32) % 7_001),
                ));
                batch(KeyType::Integer, &keys, f, 0).unwrap()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let on_disk = KeyFile::write(
            KeyType::Integer,
            &batches,
            Some(&dir.path().join("k.parquet")),
        )
        .unwrap();
        let reopened = KeyFile::open(KeyType::Integer, &dir.path().join("k.parquet")).unwrap();
        let in_memory = KeyFile::write(KeyType::Integer, &batches, None).unwrap();
        assert_eq!(in_memory.rows(), 150_000);
        assert!(in_memory.bounds.len() > 5);
        for file in [&on_disk, &reopened, &in_memory] {
            let key = ScalarValue::Int64(Some(42));
            let found = lookup(file, std::slice::from_ref(&key));
            // Brute force over the same rows.
            let mut expected = Matches::new();
            for f in 0..3u32 {
                for r in 0..50_000u32 {
                    if (r as i64 * 7 + f as i64) % 7_001 == 42 {
                        expected.entry(f).or_default().push(r);
                    }
                }
            }
            assert_eq!(found, expected);
            let both = lookup(
                file,
                &[ScalarValue::Int64(Some(0)), ScalarValue::Int64(Some(7_000))],
            );
            assert!(both.values().map(Vec::len).sum::<usize>() > 0);
            assert!(lookup(file, &[ScalarValue::Int64(Some(9_999))]).is_empty());
            assert!(lookup(file, &[ScalarValue::Int64(Some(-1))]).is_empty());
        }
    }

    #[test]
    fn text_keys_skip_nulls_and_keep_files_renumbered() {
        let keys: ArrayRef = Arc::new(StringArray::from(vec![
            Some("b"),
            None,
            Some("a"),
            Some("b"),
        ]));
        let first = batch(KeyType::Text, &keys, 0, 0).unwrap();
        assert_eq!(first.num_rows(), 3);
        let second = batch(KeyType::Text, &keys, 1, 10).unwrap();
        let file = KeyFile::write(KeyType::Text, &[first, second], None).unwrap();
        let b = lookup(&file, &[ScalarValue::Utf8(Some("b".into()))]);
        assert_eq!(b, Matches::from([(0, vec![0, 3]), (1, vec![10, 13])]));
        // Keep file 1 only, as file 0.
        let kept = file.kept(&BTreeMap::from([(1, 0)])).unwrap();
        let again = KeyFile::write(KeyType::Text, &kept, None).unwrap();
        assert_eq!(again.rows(), 3);
        assert_eq!(
            lookup(&again, &[ScalarValue::Utf8(Some("a".into()))]),
            Matches::from([(0, vec![12])])
        );
        assert!(
            KeyType::Integer
                .key(&ScalarValue::Utf8(Some("x".into())))
                .is_none()
        );
        assert_eq!(
            KeyType::Integer.key(&ScalarValue::Utf8(Some("12".into()))),
            Some(ScalarValue::Int64(Some(12)))
        );
    }
}
