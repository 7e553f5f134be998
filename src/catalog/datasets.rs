//! One dataset → one DataFusion listing table.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;

use crate::config::{DatasetConfig, DatasetFormat};
use crate::error::{Result, SegmintError};

/// What registering one dataset gave.
#[derive(Debug, Clone)]
pub struct DatasetStatus {
    /// The table name.
    pub name: String,
    /// The resolved URL.
    pub url: String,
    /// Number of data columns (partition columns excluded).
    pub columns: usize,
    /// Hive partition columns, configured or found from the folders.
    pub partition_columns: Vec<String>,
    /// Why the dataset is not served, when it is not.
    pub error: Option<String>,
}

impl DatasetStatus {
    /// A dataset that could not be registered.
    pub fn failed(dataset: &DatasetConfig, error: String) -> Self {
        DatasetStatus {
            name: dataset.name.clone(),
            url: dataset.url.clone(),
            columns: 0,
            partition_columns: vec![],
            error: Some(error),
        }
    }
}

/// Turns a configured location into a URL DataFusion lists: plain paths become absolute
/// `file://` URLs, and directories get the trailing `/` that marks a prefix.
pub fn resolve_url(location: &str) -> Result<String> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    let path = Path::new(location);
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| SegmintError::io("reading the current directory", e))?
            .join(path)
    };
    let mut text = absolute.to_string_lossy().into_owned();
    if absolute.is_dir() && !text.ends_with('/') {
        text.push('/');
    }
    Ok(format!("file://{text}"))
}

fn file_format(format: DatasetFormat) -> Arc<dyn FileFormat> {
    match format {
        DatasetFormat::Parquet => Arc::new(ParquetFormat::default()),
        DatasetFormat::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
        DatasetFormat::Json => Arc::new(JsonFormat::default()),
    }
}

/// Registers one dataset as a listing table, inferring its schema and partition columns.
pub async fn register_dataset(
    ctx: &SessionContext,
    dataset: &DatasetConfig,
) -> Result<DatasetStatus> {
    let fail = |message: String| SegmintError::Dataset {
        name: dataset.name.clone(),
        url: dataset.url.clone(),
        message,
    };
    let url = resolve_url(&dataset.url)?;
    let table_url = ListingTableUrl::parse(&url).map_err(|e| fail(e.to_string()))?;
    let state = ctx.state();
    state
        .runtime_env()
        .object_store(&table_url)
        .map_err(|_| fail(format!("no object store is configured for '{url}'")))?;

    let mut options = ListingOptions::new(file_format(dataset.format))
        .with_file_extension(dataset.format.extension());
    let partition_columns = match &dataset.partition_columns {
        Some(columns) => columns.clone(),
        None => options
            .infer_partitions(&state, &table_url)
            .await
            .map_err(|e| fail(e.to_string()))?,
    };
    options = options.with_table_partition_cols(
        partition_columns
            .iter()
            .map(|c| (c.clone(), DataType::Utf8))
            .collect(),
    );
    options
        .validate_partitions(&state, &table_url)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let schema = options
        .infer_schema(&state, &table_url)
        .await
        .map_err(|e| fail(first_line(&e.to_string())))?;
    let columns = schema.fields().len();
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(schema);
    let table = ListingTable::try_new(config).map_err(|e| fail(e.to_string()))?;
    ctx.register_table(dataset.name.as_str(), Arc::new(table))
        .map_err(|e| fail(e.to_string()))?;
    Ok(DatasetStatus {
        name: dataset.name.clone(),
        url,
        columns,
        partition_columns,
        error: None,
    })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or(text).to_string()
}
