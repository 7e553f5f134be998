//! Parquet output of the generator: zstd-compressed files written batch by batch, with an
//! optional hive partition (`order_month=2025-11/`) chosen per row.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::tables::Table;
use crate::error::{Result, SegmintError};

/// Rows buffered before they are encoded into one record batch.
const BATCH_ROWS: usize = 32_768;
/// Rows per Parquet row group: bounds the writer's memory and gives pruning granularity.
const ROW_GROUP_ROWS: usize = 131_072;
/// Rows per data page. Rows are written customer by customer, so with the page index a
/// customer's rows are a few small pages: a lookup of one customer decodes about 2,000 rows per
/// file instead of the 20,000 of the default page size (docs/performance.md).
pub const DATA_PAGE_ROWS: usize = 2_048;

/// Writer settings for a table of `schema`. Only text columns are dictionary-encoded: the
/// dictionary of an id, timestamp or amount column is nearly as large as the column itself,
/// and reading any page of a column chunk means decompressing its dictionary first, which
/// made a one-customer lookup spend half its time in zstd.
fn properties(schema: &Schema) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(DATA_PAGE_ROWS)
        .set_dictionary_enabled(false);
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), true);
        }
    }
    builder.build()
}

fn demo_error(context: &str, error: impl std::fmt::Display) -> SegmintError {
    SegmintError::Demo(format!("{context}: {error}"))
}

/// One Parquet file receiving rows of `T`.
pub struct ParquetSink<T: Table> {
    path: PathBuf,
    rows: Vec<T>,
    writer: Option<ArrowWriter<File>>,
    written: u64,
}

impl<T: Table> ParquetSink<T> {
    /// A sink that creates `path` on its first batch.
    pub fn new(path: PathBuf) -> Self {
        ParquetSink {
            path,
            rows: Vec::with_capacity(BATCH_ROWS),
            writer: None,
            written: 0,
        }
    }

    /// Buffers a row, writing a batch when the buffer is full.
    pub fn push(&mut self, row: T) -> Result<()> {
        self.rows.push(row);
        if self.rows.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let batch = T::batch(&self.rows)?;
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                if let Some(parent) = self.path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        SegmintError::io(format!("creating {}", parent.display()), e)
                    })?;
                }
                let file = File::create(&self.path).map_err(|e| {
                    SegmintError::io(format!("creating {}", self.path.display()), e)
                })?;
                let schema = T::schema();
                let properties = properties(&schema);
                let writer = ArrowWriter::try_new(file, schema, Some(properties))
                    .map_err(|e| demo_error("opening Parquet writer", e))?;
                self.writer.insert(writer)
            }
        };
        writer
            .write(&batch)
            .map_err(|e| demo_error(&format!("writing {}", self.path.display()), e))?;
        self.written += self.rows.len() as u64;
        self.rows.clear();
        Ok(())
    }

    /// Writes what is buffered and the file footer; returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        self.flush()?;
        if let Some(writer) = self.writer.take() {
            writer
                .close()
                .map_err(|e| demo_error(&format!("closing {}", self.path.display()), e))?;
        }
        Ok(self.written)
    }
}

/// Rows of `T` spread over hive partitions `<column>=<value>/`.
pub struct PartitionedSink<T: Table> {
    dir: PathBuf,
    column: &'static str,
    file_name: String,
    key: fn(&T) -> String,
    partitions: BTreeMap<String, ParquetSink<T>>,
}

impl<T: Table> PartitionedSink<T> {
    /// A sink writing `<dir>/<column>=<key(row)>/<file_name>`.
    pub fn new(dir: &Path, column: &'static str, file_name: String, key: fn(&T) -> String) -> Self {
        PartitionedSink {
            dir: dir.to_path_buf(),
            column,
            file_name,
            key,
            partitions: BTreeMap::new(),
        }
    }

    /// Routes a row to its partition.
    pub fn push(&mut self, row: T) -> Result<()> {
        let key = (self.key)(&row);
        let sink = self.partitions.entry(key).or_insert_with_key(|key| {
            ParquetSink::new(
                self.dir
                    .join(format!("{}={key}", self.column))
                    .join(&self.file_name),
            )
        });
        sink.push(row)
    }

    /// Finishes every partition file; returns the rows written.
    pub fn finish(self) -> Result<u64> {
        let mut total = 0;
        for sink in self.partitions.into_values() {
            total += sink.finish()?;
        }
        Ok(total)
    }
}

/// Writes a whole table (small ones such as `products`) to one file.
pub fn write_all<T: Table>(path: PathBuf, rows: Vec<T>) -> Result<u64> {
    let mut sink = ParquetSink::new(path);
    for row in rows {
        sink.push(row)?;
    }
    sink.finish()
}
