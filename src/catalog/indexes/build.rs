//! Building an index: the key column of every row group of every new or changed file is read
//! in parallel (one task per row group, so one large file uses every core), and page
//! locations are read once per file that has no page index.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::parquet::DefaultParquetFileReaderFactory;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::file::metadata::ParquetMetaData;

use super::keys::{self, KeyFile, KeyType};
use super::scan::PageLocatedReader;
use super::{CustomerIndex, IndexDefinition, IndexError, IndexedFile};
use crate::catalog::page_locations;

/// Rows per batch while reading keys.
const BATCH_ROWS: usize = 64 * 1024;

/// The files and key file of `definition` over `listed`. Files `previous` saw unchanged keep
/// their rows from it; the others are read from `store`.
pub async fn build(
    store: Arc<dyn ObjectStore>,
    definition: &IndexDefinition,
    key_type: KeyType,
    listed: Vec<ObjectMeta>,
    previous: Option<&CustomerIndex>,
    keys_path: Option<&Path>,
) -> Result<(Vec<IndexedFile>, KeyFile), IndexError> {
    let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut files: Vec<Option<IndexedFile>> = vec![None; listed.len()];
    let mut renumbered = BTreeMap::new();
    let mut to_read = Vec::new();
    for (number, meta) in listed.into_iter().enumerate() {
        match previous.and_then(|p| Some((p, p.file(&meta)?))) {
            Some((previous, old)) => {
                renumbered.insert(old, number as u32);
                files[number] = previous.files.get(old as usize).cloned();
            }
            None => to_read.push((number as u32, meta)),
        }
    }

    // Footers (and page locations where the file has no page index), one task per file.
    let opened: Vec<(u32, ObjectMeta, ArrowReaderMetadata, IndexedFile)> =
        futures::stream::iter(to_read)
            .map(|(number, meta)| {
                let store = store.clone();
                tokio::spawn(async move { open(store, number, meta).await })
            })
            .buffer_unordered(parallelism)
            .map(|joined| joined.map_err(|e| IndexError::Corrupt(e.to_string()))?)
            .try_collect()
            .await?;

    // Keys, one task per row group.
    let mut tasks = Vec::new();
    for (number, meta, metadata, file) in &opened {
        let mut first_row = 0u64;
        for (group, row_group) in metadata.metadata().row_groups().iter().enumerate() {
            tasks.push((*number, meta.clone(), metadata.clone(), group, first_row));
            first_row += row_group.num_rows().max(0) as u64;
        }
        files[*number as usize] = Some(file.clone());
    }
    let column = definition.column.clone();
    let mut batches: Vec<RecordBatch> = futures::stream::iter(tasks)
        .map(|(number, meta, metadata, group, first_row)| {
            let (store, column) = (store.clone(), column.clone());
            tokio::spawn(async move {
                row_group_keys(
                    store, &meta, metadata, &column, key_type, number, group, first_row,
                )
                .await
            })
        })
        .buffer_unordered(parallelism)
        .map(|joined| joined.map_err(|e| IndexError::Corrupt(e.to_string()))?)
        .try_collect::<Vec<Vec<RecordBatch>>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    if let Some(previous) = previous
        && !renumbered.is_empty()
    {
        batches.extend(previous.keys.kept(&renumbered)?);
    }
    if batches.is_empty() {
        batches.push(keys::empty(key_type));
    }
    let files: Vec<IndexedFile> = files.into_iter().flatten().collect();
    let keys_path = keys_path.map(Path::to_path_buf);
    let keys = tokio::task::spawn_blocking(move || {
        KeyFile::write(key_type, &batches, keys_path.as_deref())
    })
    .await
    .map_err(|e| IndexError::Corrupt(e.to_string()))??;
    Ok((files, keys))
}

/// The footer of one file, and what the index records of it.
async fn open(
    store: Arc<dyn ObjectStore>,
    number: u32,
    meta: ObjectMeta,
) -> Result<(u32, ObjectMeta, ArrowReaderMetadata, IndexedFile), IndexError> {
    let failed = |message: String| IndexError::Data {
        path: meta.location.to_string(),
        message,
    };
    let mut reader = reader(store.clone(), &meta).map_err(|e| failed(e.to_string()))?;
    let metadata = ArrowReaderMetadata::load_async(&mut reader, ArrowReaderOptions::new())
        .await
        .map_err(|e| failed(e.to_string()))?;
    let pages = if has_offset_index(metadata.metadata()) {
        None
    } else {
        match page_locations::read_offset_index(store.as_ref(), &meta.location, metadata.metadata())
            .await
        {
            Ok(index) => Some(
                index
                    .iter()
                    .map(|columns| {
                        columns
                            .iter()
                            .map(|c| {
                                c.page_locations
                                    .iter()
                                    .map(|p| {
                                        [
                                            p.offset,
                                            i64::from(p.compressed_page_size),
                                            p.first_row_index,
                                        ]
                                    })
                                    .collect()
                            })
                            .collect()
                    })
                    .collect(),
            ),
            Err(error) => {
                tracing::debug!(file = %meta.location, %error, "no page locations: lookups read whole column chunks");
                None
            }
        }
    };
    let file = IndexedFile {
        path: meta.location.to_string(),
        size: meta.size,
        modified_ms: meta.last_modified.timestamp_millis(),
        e_tag: meta.e_tag.clone(),
        rows: metadata.metadata().file_metadata().num_rows().max(0) as u64,
        pages,
    };
    Ok((number, meta, metadata, file))
}

/// DataFusion's reader of one Parquet file.
fn reader(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
) -> datafusion::error::Result<PageLocatedReader> {
    let reader = DefaultParquetFileReaderFactory::new(store).create_reader(
        0,
        PartitionedFile::from(meta.clone()),
        None,
        &ExecutionPlanMetricsSet::new(),
    )?;
    Ok(PageLocatedReader {
        reader,
        offsets: None,
    })
}

/// Whether every column chunk records where its offset index is.
fn has_offset_index(metadata: &ParquetMetaData) -> bool {
    metadata.row_groups().iter().all(|rg| {
        rg.columns()
            .iter()
            .all(|c| c.offset_index_offset().is_some())
    })
}

/// The `(key, file, row)` batches of one row group.
#[allow(clippy::too_many_arguments)]
async fn row_group_keys(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    metadata: ArrowReaderMetadata,
    column: &str,
    key_type: KeyType,
    number: u32,
    group: usize,
    first_row: u64,
) -> Result<Vec<RecordBatch>, IndexError> {
    let failed = |message: String| IndexError::Data {
        path: meta.location.to_string(),
        message,
    };
    // A file without the column holds no key: `column = value` finds nothing in it.
    if metadata.schema().field_with_name(column).is_err() {
        return Ok(vec![]);
    }
    let reader = reader(store, meta).map_err(|e| failed(e.to_string()))?;
    let mask =
        ProjectionMask::columns(metadata.metadata().file_metadata().schema_descr(), [column]);
    let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata)
        .with_projection(mask)
        .with_row_groups(vec![group])
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let too_many = || failed("an index covers files of at most 2^32 rows".into());
    let mut row = u32::try_from(first_row).map_err(|_| too_many())?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| failed(e.to_string()))?;
        let next = u32::try_from(batch.num_rows())
            .ok()
            .and_then(|n| row.checked_add(n))
            .ok_or_else(too_many)?;
        batches.push(keys::batch(key_type, batch.column(0), number, row)?);
        row = next;
    }
    Ok(batches)
}
