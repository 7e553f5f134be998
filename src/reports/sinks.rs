//! Encoding a run's rows (Parquet, CSV) and writing files to object storage. Each file is one
//! `put`: object stores replace an object atomically, so a reader sees the old file or the new
//! one, never half of either.

use bytes::Bytes;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::csv::WriterBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use object_store::ObjectStoreExt;

use super::parse_url;
use crate::catalog::ObjectStores;
use crate::error::{Result, SegmintError};

/// The rows as one zstd Parquet file.
pub fn parquet(batches: &[RecordBatch]) -> Result<Bytes> {
    let schema = batches.first().map(|b| b.schema()).ok_or_else(|| {
        datafusion::arrow::error::ArrowError::InvalidArgumentError("no rows to encode".into())
    })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, schema, Some(properties))
        .map_err(|e| SegmintError::DataFusion(e.into()))?;
    for batch in batches {
        writer
            .write(batch)
            .map_err(|e| SegmintError::DataFusion(e.into()))?;
    }
    writer
        .close()
        .map_err(|e| SegmintError::DataFusion(e.into()))?;
    Ok(Bytes::from(buffer))
}

/// The rows as CSV with a header line.
pub fn csv(batches: &[RecordBatch]) -> Result<Bytes> {
    let mut buffer = Vec::new();
    {
        let mut writer = WriterBuilder::new().with_header(true).build(&mut buffer);
        for batch in batches {
            writer.write(batch)?;
        }
    }
    Ok(Bytes::from(buffer))
}

/// Writes `data` to `url` in one atomic put.
pub async fn put(stores: &ObjectStores, url: &str, data: Bytes) -> Result<()> {
    let parsed = parse_url(url)?;
    let store = stores.store_for(&parsed)?;
    let path = object_store::path::Path::from_url_path(parsed.path()).map_err(|e| {
        SegmintError::ObjectStore {
            url: url.to_string(),
            message: e.to_string(),
        }
    })?;
    store
        .put(&path, data.into())
        .await
        .map_err(|e| SegmintError::ObjectStore {
            url: url.to_string(),
            message: crate::catalog::first_line(&e.to_string()),
        })?;
    Ok(())
}
