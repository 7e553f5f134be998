//! `CREATE TABLE name AS SELECT ...`: a segment materialised as Parquet under the configured
//! `tables_url`, in a folder of its own for each version: `<tables_url>/<name>/<version>/`.
//!
//! A version becomes the table only once all its files are written and the saved catalog
//! points at it (an atomic rename). A failed write removes its folder; a killed one leaves a
//! folder nothing points at, which [`sweep`] removes at the next start. Either way readers never
//! see a partial table, and the previous version stays whole until the new one has replaced it.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use url::Url;

use crate::error::{Result, SegmintError};

/// A fresh, never reused folder for a new version of table `name`.
pub fn version_location(tables_url: &str, name: &str) -> String {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
    let nonce: u32 = rand::random();
    format!(
        "{}/{name}/v{stamp}-{nonce:08x}/",
        tables_url.trim_end_matches('/')
    )
}

/// Runs `input` and writes its rows as Parquet files under `location`; returns the row count.
/// On failure the partly written folder is removed before the error is returned.
pub async fn write(ctx: &SessionContext, input: LogicalPlan, location: &str) -> Result<u64> {
    let frame = DataFrame::new(ctx.state(), input);
    let written = frame
        .write_parquet(location, DataFrameWriteOptions::new(), None)
        .await;
    match written {
        Ok(batches) => Ok(batches
            .iter()
            .filter_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::UInt64Array>()
                    .map(|counts| counts.iter().flatten().sum::<u64>())
            })
            .sum()),
        Err(error) => {
            if let Err(cleanup) = remove(ctx, location).await {
                tracing::warn!(%location, error = %cleanup, "could not remove a failed write");
            }
            Err(error.into())
        }
    }
}

/// Removes every file under `location` (a version folder).
pub async fn remove(ctx: &SessionContext, location: &str) -> Result<()> {
    let (store, prefix) = store_for(ctx, location)?;
    delete_matching(store.as_ref(), &prefix, |_| true).await?;
    if let Some(dir) = local_dir(location) {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Removes everything under `tables_url` that no saved table refers to: versions left by a
/// killed or failed `CREATE TABLE AS`, and versions already replaced. Returns how many
/// objects (or local folders) were removed.
pub async fn sweep(
    ctx: &SessionContext,
    tables_url: &str,
    keep: &BTreeSet<String>,
) -> Result<usize> {
    let keep_paths: Vec<String> = keep
        .iter()
        .filter_map(|location| store_for(ctx, location).ok())
        .map(|(_, prefix)| format!("{prefix}/"))
        .collect();
    if let Some(root) = local_dir(tables_url) {
        // Local folders may also hold staging files that a listing does not show.
        return Ok(sweep_local(&root, keep));
    }
    let (store, prefix) = store_for(ctx, tables_url)?;
    delete_matching(store.as_ref(), &prefix, |path| {
        let path = path.as_ref();
        !keep_paths
            .iter()
            .any(|kept| path.starts_with(kept.as_str()))
    })
    .await
}

fn sweep_local(root: &std::path::Path, keep: &BTreeSet<String>) -> usize {
    let kept: BTreeSet<std::path::PathBuf> = keep.iter().filter_map(|l| local_dir(l)).collect();
    let mut removed = 0;
    let Ok(tables) = std::fs::read_dir(root) else {
        return 0;
    };
    for table in tables.flatten().filter(|e| e.path().is_dir()) {
        let Ok(versions) = std::fs::read_dir(table.path()) else {
            continue;
        };
        for version in versions.flatten() {
            let path = version.path();
            if !kept.contains(&path) {
                let result = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match result {
                    Ok(()) => removed += 1,
                    Err(error) => tracing::warn!(path = %path.display(), %error, "not removed"),
                }
            }
        }
        // An emptied table folder goes too (fails harmlessly when a version is kept).
        let _ = std::fs::remove_dir(table.path());
    }
    removed
}

async fn delete_matching(
    store: &dyn ObjectStore,
    prefix: &StorePath,
    matches: impl Fn(&StorePath) -> bool,
) -> Result<usize> {
    let doomed: Vec<StorePath> = store
        .list(Some(prefix))
        .map_ok(|meta| meta.location)
        .try_filter(|location| futures::future::ready(matches(location)))
        .try_collect()
        .await
        .map_err(|e| SegmintError::ObjectStore {
            url: prefix.to_string(),
            message: e.to_string(),
        })?;
    let count = doomed.len();
    let mut deleted =
        store.delete_stream(futures::stream::iter(doomed.into_iter().map(Ok)).boxed());
    while let Some(result) = deleted.next().await {
        result.map_err(|e| SegmintError::ObjectStore {
            url: prefix.to_string(),
            message: e.to_string(),
        })?;
    }
    Ok(count)
}

fn store_for(ctx: &SessionContext, location: &str) -> Result<(Arc<dyn ObjectStore>, StorePath)> {
    let url = Url::parse(location).map_err(|e| SegmintError::ObjectStore {
        url: location.to_string(),
        message: e.to_string(),
    })?;
    let key = &url[..url::Position::BeforePath];
    let store = ctx.runtime_env().object_store(
        datafusion::execution::object_store::ObjectStoreUrl::parse(key)?,
    )?;
    let prefix = StorePath::from_url_path(url.path()).map_err(|e| SegmintError::ObjectStore {
        url: location.to_string(),
        message: e.to_string(),
    })?;
    Ok((store, prefix))
}

fn local_dir(location: &str) -> Option<std::path::PathBuf> {
    let url = Url::parse(location).ok()?;
    if url.scheme() != "file" {
        return None;
    }
    let path = url.to_file_path().ok()?;
    Some(path.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_never_repeat() {
        let a = version_location("s3://lake/tables/", "vip");
        let b = version_location("s3://lake/tables", "vip");
        assert!(a.starts_with("s3://lake/tables/vip/v"), "{a}");
        assert!(a.ends_with('/'));
        assert_ne!(a, b);
    }

    #[test]
    fn local_sweep_keeps_only_referenced_versions() {
        let root = tempfile::tempdir().expect("dir");
        let keep_dir = root.path().join("vip/v1");
        std::fs::create_dir_all(&keep_dir).unwrap();
        std::fs::write(keep_dir.join("a.parquet"), b"x").unwrap();
        let partial = root.path().join("vip/v2");
        std::fs::create_dir_all(&partial).unwrap();
        std::fs::write(partial.join("a.parquet#1"), b"half").unwrap();
        let orphan = root.path().join("gone/v1");
        std::fs::create_dir_all(&orphan).unwrap();
        let keep = BTreeSet::from([format!("file://{}/", keep_dir.display())]);
        assert_eq!(sweep_local(root.path(), &keep), 2);
        assert!(keep_dir.join("a.parquet").exists());
        assert!(!partial.exists());
        assert!(!root.path().join("gone").exists());
    }
}
