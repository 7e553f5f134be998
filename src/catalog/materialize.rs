//! `CREATE TABLE name AS SELECT ...`: a segment materialised as Parquet under the configured
//! `tables_url`, in a folder of its own for each version: `<tables_url>/<name>/<version>/`.
//!
//! A version becomes the table only once all its files are written and the saved catalog
//! points at it (an atomic rename). Before writing, the catalog records the write as pending;
//! a failed write removes its folder, and a killed one is removed at the next start from that
//! record. Old versions left behind by a crash are removed by [`sweep_versions`]. Either way
//! readers never see a partial table, and the previous version stays whole until the new one
//! has replaced it.

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

/// Whether a folder name is one [`version_location`] makes (`v20261123T101500.123456Z-0a1b2c3d`):
/// only such folders are ever swept.
fn is_version_name(name: &str) -> bool {
    let Some((stamp, nonce)) = name.strip_prefix('v').and_then(|rest| rest.split_once('-')) else {
        return false;
    };
    stamp.len() == 23
        && stamp.ends_with('Z')
        && stamp
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, 'T' | 'Z' | '.'))
        && nonce.len() == 8
        && nonce.chars().all(|c| c.is_ascii_hexdigit())
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

/// Removes the versions of table `name` other than `current` (left by a crash between
/// committing a replacement and deleting the old version). Returns how many objects (or local
/// folders) were removed. Only `<tables_url>/<name>/` is touched: data Segmint did not write
/// is never swept.
pub async fn sweep_versions(
    ctx: &SessionContext,
    tables_url: &str,
    name: &str,
    current: &str,
) -> Result<usize> {
    let folder = format!("{}/{name}/", tables_url.trim_end_matches('/'));
    if let (Some(folder), Some(current)) = (local_dir(&folder), local_dir(current)) {
        return Ok(sweep_local(&folder, &current));
    }
    let (store, prefix) = store_for(ctx, &folder)?;
    let (_, kept) = store_for(ctx, current)?;
    let kept = format!("{kept}/");
    let versions = format!("{prefix}/");
    delete_matching(store.as_ref(), &prefix, |path| {
        let path = path.as_ref();
        let version = path
            .strip_prefix(versions.as_str())
            .and_then(|rest| rest.split('/').next());
        !path.starts_with(kept.as_str()) && version.is_some_and(is_version_name)
    })
    .await
}

/// Removes every entry of a local table folder but the current version.
fn sweep_local(folder: &std::path::Path, current: &std::path::Path) -> usize {
    let Ok(versions) = std::fs::read_dir(folder) else {
        return 0;
    };
    let mut removed = 0;
    for version in versions.flatten() {
        let path = version.path();
        let named = version.file_name().to_str().is_some_and(is_version_name);
        if path == current || !named {
            continue;
        }
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
        let folder = a.trim_end_matches('/').rsplit('/').next().unwrap();
        assert!(is_version_name(folder), "{folder}");
        let b = version_location("s3://lake/tables", "vip");
        assert!(a.starts_with("s3://lake/tables/vip/v"), "{a}");
        assert!(a.ends_with('/'));
        assert_ne!(a, b);
    }

    #[test]
    fn local_sweep_keeps_only_the_current_version() {
        let root = tempfile::tempdir().expect("dir");
        let current = root.path().join("vip/v20261123T101500.000001Z-0000000a");
        std::fs::create_dir_all(&current).unwrap();
        std::fs::write(current.join("a.parquet"), b"x").unwrap();
        let old = root.path().join("vip/v20261122T101500.000001Z-0000000b");
        let foreign = root.path().join("vip/not-a-version");
        std::fs::create_dir_all(&foreign).unwrap();
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("a.parquet#1"), b"half").unwrap();
        let other = root.path().join("other/v1");
        std::fs::create_dir_all(&other).unwrap();
        assert_eq!(sweep_local(&root.path().join("vip"), &current), 1);
        assert!(current.join("a.parquet").exists());
        assert!(!old.exists());
        assert!(other.exists(), "other tables are not touched");
        assert!(
            foreign.exists(),
            "folders Segmint did not name are not touched"
        );
    }
}
