//! Encoding a run's rows (Parquet, CSV) and writing files to object storage. A run's files are
//! first staged under temporary names (`<file>.<nonce>.tmp`, which no table lists); only when
//! every one is staged are they moved into place, in order, the Parquet file last. A put or a
//! rename replaces an object atomically, so a reader sees the old file or the new one, never
//! half of either, and a run that fails while staging changes nothing.

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

/// Stages every `(url, data)` under a temporary name, calling `progress` with each final URL.
/// On failure, removes what it staged. Returns `(temporary, final)` URL pairs, in order.
pub async fn stage(
    stores: &ObjectStores,
    files: Vec<(String, Bytes)>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Vec<(String, String)>> {
    let nonce = format!("{:016x}", rand::random::<u64>());
    let mut staged = Vec::with_capacity(files.len());
    for (url, data) in files {
        progress(&url);
        let temporary = format!("{url}.{nonce}.tmp");
        if let Err(error) = put(stores, &temporary, data).await {
            remove_all(
                stores,
                staged.iter().map(|(t, _): &(String, String)| t.as_str()),
            )
            .await;
            return Err(error);
        }
        staged.push((temporary, url));
    }
    Ok(staged)
}

/// Moves staged files into place, in order. Returns the final URLs.
pub async fn publish(stores: &ObjectStores, staged: Vec<(String, String)>) -> Result<Vec<String>> {
    let mut written = Vec::with_capacity(staged.len());
    for (i, (temporary, url)) in staged.iter().enumerate() {
        if let Err(error) = rename(stores, temporary, url).await {
            remove_all(stores, staged[i..].iter().map(|(t, _)| t.as_str())).await;
            return Err(error);
        }
        written.push(url.clone());
    }
    Ok(written)
}

async fn rename(stores: &ObjectStores, from: &str, to: &str) -> Result<()> {
    let (store, source) = locate(stores, from)?;
    let (_, target) = locate(stores, to)?;
    store
        .rename(&source, &target)
        .await
        .map_err(|e| SegmintError::ObjectStore {
            url: to.to_string(),
            message: crate::error::first_line(&e.to_string()),
        })
}

/// Best-effort removal of staged or scratch files (a failure leaves a file no table reads,
/// and is logged).
pub async fn remove_all(stores: &ObjectStores, urls: impl Iterator<Item = &str>) {
    for url in urls {
        let removed = match locate(stores, url) {
            Ok((store, path)) => store.delete(&path).await.map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = removed {
            tracing::warn!(%url, %error, "could not remove a staged report file or scratch file");
        }
    }
}

fn locate(
    stores: &ObjectStores,
    url: &str,
) -> Result<(
    std::sync::Arc<dyn object_store::ObjectStore>,
    object_store::path::Path,
)> {
    let parsed = parse_url(url)?;
    let store = stores.store_for(&parsed)?;
    let path = object_store::path::Path::from_url_path(parsed.path()).map_err(|e| {
        SegmintError::ObjectStore {
            url: url.to_string(),
            message: e.to_string(),
        }
    })?;
    Ok((store, path))
}

/// Writes `data` to `url` in one atomic put.
pub async fn put(stores: &ObjectStores, url: &str, data: Bytes) -> Result<()> {
    let (store, path) = locate(stores, url)?;
    store
        .put(&path, data.into())
        .await
        .map_err(|e| SegmintError::ObjectStore {
            url: url.to_string(),
            message: crate::error::first_line(&e.to_string()),
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::execution::runtime_env::RuntimeEnv;

    use super::*;

    #[tokio::test]
    async fn staged_files_appear_only_when_published() {
        let stores =
            ObjectStores::new(Arc::new(RuntimeEnv::default()), &[]).expect("object stores");
        let dir = std::env::temp_dir().join(format!("segmint-sinks-{}", std::process::id()));
        let base = format!("file://{}", dir.display());
        let files = vec![
            (format!("{base}/r/d.csv"), Bytes::from_static(b"a\n1\n")),
            (format!("{base}/r/d.parquet"), Bytes::from_static(b"PAR1")),
        ];
        let staged = stage(&stores, files, &|_| {}).await.expect("stage");
        assert!(!dir.join("r/d.csv").exists() && !dir.join("r/d.parquet").exists());
        assert!(staged.iter().all(|(t, _)| t.ends_with(".tmp")));
        let written = publish(&stores, staged).await.expect("publish");
        assert_eq!(written.len(), 2);
        assert_eq!(std::fs::read(dir.join("r/d.csv")).expect("csv"), b"a\n1\n");
        let left: Vec<_> = std::fs::read_dir(dir.join("r"))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "staged files left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
