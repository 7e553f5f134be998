//! The catalog: object stores for every URL scheme, one listing table per dataset, and the
//! saved segments (views analysts create over the wire).
//!
//! Each dataset is registered once at start, with its schema inferred once. A dataset that
//! cannot be registered (missing path, corrupt file, unknown store) is reported and skipped:
//! the others are still served.

mod datasets;
mod object_stores;
mod segments;

pub use datasets::{DatasetStatus, register_dataset, resolve_url};
pub use object_stores::register_object_stores;
pub use segments::{SegmentStatus, SegmentStore};

use datafusion::prelude::SessionContext;

use crate::config::DatasetConfig;

/// Registers every dataset in `ctx`, returning one status per dataset (in config order).
pub async fn register_datasets(
    ctx: &SessionContext,
    datasets: &[DatasetConfig],
) -> Vec<DatasetStatus> {
    let mut statuses = Vec::with_capacity(datasets.len());
    for dataset in datasets {
        let status = match register_dataset(ctx, dataset).await {
            Ok(status) => {
                tracing::info!(
                    dataset = %dataset.name,
                    columns = status.columns,
                    partitions = ?status.partition_columns,
                    "registered dataset"
                );
                status
            }
            Err(error) => {
                tracing::error!(dataset = %dataset.name, %error, "dataset not registered");
                DatasetStatus::failed(dataset, error.to_string())
            }
        };
        statuses.push(status);
    }
    statuses
}
