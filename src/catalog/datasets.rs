//! One dataset → one DataFusion listing table, and listing it again when files land.
//!
//! A dataset is a file, a prefix (`s3://lake/orders/`) or a glob (`s3://lake/orders/*.parquet`).
//! Hive partition columns are found from `key=value` folders when the config does not name
//! them; a filter on one reads only the matching folders. The schema is the union of the files'
//! schemas, so a column added to newer files reads as NULL in older ones.
//!
//! Listings are cached (DataFusion's list-files cache): queries never list the bucket. A
//! refresh lists the prefix once and swaps the cached listing, so new files become visible to
//! every query at once; when they bring new columns, the table is registered again with the
//! wider schema.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::TableScopedPath;
use datafusion::execution::cache::cache_manager::CachedFileList;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore};
use url::Url;

use super::indexes::{IndexHandle, IndexedTable};
use super::object_stores::ObjectStores;
use crate::config::{DatasetConfig, DatasetFormat};
use crate::error::{Result, SegmintError, first_line};

/// Where a served table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetOrigin {
    /// `[[datasets]]` in the config file (or `--dataset`, `--demo`).
    Config,
    /// `CREATE EXTERNAL TABLE` over the wire.
    External,
    /// `CREATE TABLE AS` over the wire: Parquet that Segmint wrote and owns.
    Materialized,
    /// The runs of a scheduled report (`reports.<name>`).
    Report,
}

impl DatasetOrigin {
    /// The name shown in `segmint.datasets`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetOrigin::Config => "config",
            DatasetOrigin::External => "external",
            DatasetOrigin::Materialized => "materialized",
            DatasetOrigin::Report => "report",
        }
    }
}

/// What registering or refreshing one dataset gave.
#[derive(Debug, Clone)]
pub struct DatasetStatus {
    /// The table name.
    pub name: String,
    /// The resolved URL.
    pub url: String,
    /// Where it came from.
    pub origin: DatasetOrigin,
    /// Number of data columns (partition columns excluded).
    pub columns: usize,
    /// Hive partition columns, configured or found from the folders.
    pub partition_columns: Vec<String>,
    /// Files found by the last listing.
    pub files: usize,
    /// When it was last listed.
    pub listed_at: Option<DateTime<Utc>>,
    /// Why the dataset is not served, when it is not.
    pub error: Option<String>,
}

impl DatasetStatus {
    /// A dataset that could not be registered.
    pub fn failed(dataset: &DatasetConfig, origin: DatasetOrigin, error: String) -> Self {
        DatasetStatus {
            name: dataset.name.clone(),
            url: redacted_url(&dataset.url),
            origin,
            columns: 0,
            partition_columns: vec![],
            files: 0,
            listed_at: Some(Utc::now()),
            error: Some(error),
        }
    }
}

/// A dataset that is being served: what a refresh needs to list it again.
#[derive(Debug, Clone)]
pub struct ServedDataset {
    table_url: ListingTableUrl,
    options: ListingOptions,
    schema: SchemaRef,
    /// The columns were declared, not inferred: a refresh keeps them.
    declared: bool,
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

/// `url` without user info and query string, for statuses, logs and errors: presigned or
/// SAS URLs carry credentials there.
pub fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => url.split('?').next().unwrap_or(url).to_string(),
    }
}

/// Splits `s3://lake/orders/2026-*.parquet` into the listed prefix and the glob. HTTP URLs
/// have no globs (`?` starts their query).
fn listing_url(url: &str) -> std::result::Result<ListingTableUrl, String> {
    let (scheme_end, path_start) = match url.find("://") {
        Some(i) => (i + 3, url[i + 3..].find('/').map(|p| i + 3 + p)),
        None => (0, Some(0)),
    };
    if url.starts_with("http://") || url.starts_with("https://") {
        return ListingTableUrl::parse(url).map_err(|e| e.to_string());
    }
    let glob_at = url[scheme_end..]
        .find(['*', '?', '['])
        .map(|i| i + scheme_end);
    match (glob_at, path_start) {
        (Some(glob), Some(path)) if glob > path => {
            let cut = url[..glob].rfind('/').map_or(glob, |i| i + 1);
            ListingTableUrl::parse(&url[..cut])
                .and_then(|base| base.with_glob(&url[cut..]))
                .map_err(|e| e.to_string())
        }
        _ => ListingTableUrl::parse(url).map_err(|e| e.to_string()),
    }
}

fn file_format(format: DatasetFormat) -> Arc<dyn FileFormat> {
    match format {
        DatasetFormat::Parquet => Arc::new(ParquetFormat::default()),
        DatasetFormat::Csv => Arc::new(CsvFormat::default().with_has_header(true)),
        DatasetFormat::Json => Arc::new(JsonFormat::default()),
    }
}

/// Registers one dataset as a listing table, inferring its schema (unless given) and its
/// partition columns.
pub async fn register_dataset(
    ctx: &SessionContext,
    stores: &ObjectStores,
    dataset: &DatasetConfig,
    origin: DatasetOrigin,
    schema: Option<SchemaRef>,
    indexes: &[Arc<IndexHandle>],
) -> Result<(ServedDataset, DatasetStatus)> {
    let fail = |message: String| SegmintError::Dataset {
        name: dataset.name.clone(),
        url: redacted_url(&dataset.url),
        message,
    };
    let url = resolve_url(&dataset.url)?;
    let parsed = Url::parse(&url).map_err(|e| fail(e.to_string()))?;
    stores.ensure(&parsed)?;
    let table_url = listing_url(&url).map_err(fail)?;
    // A listing cached by an earlier try (a report folder caught holding only its staged
    // files, say) must not decide what this registration finds.
    relist(ctx, &table_url).await.map_err(fail)?;
    let state = ctx.state();

    let mut options = ListingOptions::new(file_format(dataset.format))
        .with_file_extension(dataset.format.extension());
    let partition_columns = match &dataset.partition_columns {
        Some(columns) => columns.clone(),
        None => options
            .infer_partitions(&state, &table_url)
            .await
            .map_err(|e| fail(first_line(&e.to_string())))?,
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
        .map_err(|e| fail(first_line(&e.to_string())))?;
    let declared = schema.is_some();
    let schema = match schema {
        Some(schema) => schema,
        None => infer_schema(ctx, &options, &table_url)
            .await
            .map_err(fail)?,
    };
    let served = ServedDataset {
        table_url,
        options,
        schema,
        declared,
    };
    install(ctx, &dataset.name, &served, indexes).map_err(|e| fail(e.to_string()))?;
    let files = served.count_files(ctx).await.map_err(fail)?;
    Ok((
        served.clone(),
        DatasetStatus {
            name: dataset.name.clone(),
            url: redacted_url(&url),
            origin,
            columns: served.schema.fields().len(),
            partition_columns,
            files,
            listed_at: Some(Utc::now()),
            error: None,
        },
    ))
}

/// Lists a prefix dataset from its store and swaps the list-files cache's entry for it, so
/// what the next scan or inference sees is what the store holds now. A single file is not
/// cached, and nothing is done for it.
async fn relist(
    ctx: &SessionContext,
    table_url: &ListingTableUrl,
) -> std::result::Result<(), String> {
    let runtime = ctx.runtime_env();
    let Some(cache) = runtime.cache_manager.get_list_files_cache() else {
        return Ok(());
    };
    if !table_url.is_collection() {
        return Ok(());
    }
    let store = runtime.object_store(table_url).map_err(|e| e.to_string())?;
    let mut listed: Vec<_> = store
        .list(Some(table_url.prefix()))
        .try_collect()
        .await
        .map_err(|e| first_line(&e.to_string()))?;
    listed.shrink_to_fit();
    let key = TableScopedPath {
        table: table_url.get_table_ref().clone(),
        path: table_url.prefix().clone(),
    };
    // An empty listing is not cached (its size is zero): drop what an earlier one left.
    cache.remove(&key);
    cache.put(&key, CachedFileList::new(listed));
    Ok(())
}

/// Registers (or replaces) the listing table of `served` under `name`, with its `indexes`.
pub(super) fn install(
    ctx: &SessionContext,
    name: &str,
    served: &ServedDataset,
    indexes: &[Arc<IndexHandle>],
) -> Result<()> {
    let config = ListingTableConfig::new(served.table_url.clone())
        .with_listing_options(served.options.clone())
        .with_schema(served.schema.clone());
    let table: Arc<dyn TableProvider> = Arc::new(ListingTable::try_new(config)?);
    let table: Arc<dyn TableProvider> = match indexes {
        [] => table,
        indexes => Arc::new(IndexedTable::new(table, indexes.to_vec())),
    };
    // Replacing is deregistering first: the schema provider refuses to overwrite a name.
    ctx.deregister_table(name)?;
    ctx.register_table(name, table)?;
    Ok(())
}

impl ServedDataset {
    /// The files the cached listing holds for this dataset.
    pub async fn files(
        &self,
        ctx: &SessionContext,
    ) -> std::result::Result<Vec<ObjectMeta>, String> {
        let state = ctx.state();
        let store = self.store(ctx)?;
        self.table_url
            .list_all_files(&state, store.as_ref(), &self.options.file_extension)
            .await
            .map_err(|e| first_line(&e.to_string()))?
            .try_collect()
            .await
            .map_err(|e| first_line(&e.to_string()))
    }

    /// The object store the dataset is in.
    pub fn store(&self, ctx: &SessionContext) -> std::result::Result<Arc<dyn ObjectStore>, String> {
        ctx.runtime_env()
            .object_store(&self.table_url)
            .map_err(|e| e.to_string())
    }

    /// The table's columns (the files' columns, then the partition columns).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether the dataset is Parquet.
    pub fn is_parquet(&self) -> bool {
        self.options.file_extension == DatasetFormat::Parquet.extension()
    }

    /// Whether `column` comes from the folder names (`key=value`) rather than the files.
    pub fn is_partition_column(&self, column: &str) -> bool {
        self.options
            .table_partition_cols
            .iter()
            .any(|(name, _)| name == column)
    }

    async fn count_files(&self, ctx: &SessionContext) -> std::result::Result<usize, String> {
        Ok(self.files(ctx).await?.len())
    }

    /// Lists the dataset again and swaps the cached listing; registers the table again when
    /// new files widened the schema. Returns the number of files.
    pub async fn refresh(
        &mut self,
        ctx: &SessionContext,
        name: &str,
        indexes: &[Arc<IndexHandle>],
    ) -> Result<usize> {
        let url = redacted_url(self.table_url.as_str());
        let fail = |message: String| SegmintError::Dataset {
            name: name.to_string(),
            url: url.clone(),
            message,
        };
        relist(ctx, &self.table_url).await.map_err(fail)?;
        let schema = match self.declared {
            true => self.schema.clone(),
            false => infer_schema(ctx, &self.options, &self.table_url)
                .await
                .map_err(fail)?,
        };
        if schema != self.schema {
            tracing::info!(
                dataset = name,
                columns = schema.fields().len(),
                "schema widened"
            );
            let widened = ServedDataset {
                schema,
                ..self.clone()
            };
            install(ctx, name, &widened, indexes)?;
            *self = widened;
        }
        self.count_files(ctx).await.map_err(fail)
    }

    /// Number of data columns.
    pub fn columns(&self) -> usize {
        self.schema.fields().len()
    }
}

/// The union of the files' schemas. A column some files lack becomes nullable, so it reads as
/// NULL in them even when the writer of the newer files declared it required; the other
/// columns keep their nullability (BI tools show NOT NULL from it).
async fn infer_schema(
    ctx: &SessionContext,
    options: &ListingOptions,
    table_url: &ListingTableUrl,
) -> std::result::Result<SchemaRef, String> {
    let state = ctx.state();
    let error = |e: datafusion::error::DataFusionError| first_line(&e.to_string());
    let merged = options
        .infer_schema(&state, table_url)
        .await
        .map_err(error)?;
    if options.file_extension != DatasetFormat::Parquet.extension() {
        // Text formats are read with every column nullable anyway.
        return Ok(with_nullable(&merged, |_| true));
    }
    let store = state.runtime_env().object_store(table_url).map_err(error)?;
    let files: Vec<_> = table_url
        .list_all_files(&state, store.as_ref(), &options.file_extension)
        .await
        .map_err(error)?
        .try_collect()
        .await
        .map_err(error)?;
    let mut missing = std::collections::BTreeSet::new();
    for file in &files {
        // Footers are in the metadata cache since the merged inference: no requests here.
        let schema = options
            .format
            .infer_schema(&state, &store, std::slice::from_ref(file))
            .await
            .map_err(error)?;
        for field in merged.fields() {
            if schema.field_with_name(field.name()).is_err() {
                missing.insert(field.name().clone());
            }
        }
    }
    Ok(with_nullable(&merged, |name| missing.contains(name)))
}

fn with_nullable(schema: &SchemaRef, nullable: impl Fn(&str) -> bool) -> SchemaRef {
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            let nullable = f.is_nullable() || nullable(f.name());
            f.as_ref().clone().with_nullable(nullable)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_split_into_prefix_and_pattern() {
        let url = listing_url("s3://lake/orders/2026-*.parquet").unwrap();
        assert_eq!(url.prefix().as_ref(), "orders");
        assert!(url.is_collection());
        assert!(url.contains(&"orders/2026-01.parquet".into(), true));
        assert!(!url.contains(&"orders/2025-12.parquet".into(), true));
        let plain = listing_url("s3://lake/orders/").unwrap();
        assert!(plain.get_glob().is_none());
        let bucket_glob = listing_url("s3://lake/*.parquet").unwrap();
        assert!(bucket_glob.get_glob().is_some());
    }

    /// A report folder listed while it held only staged files (a refresh racing a run) is
    /// registered once its Parquet file lands, and a folder emptied later is found empty: no
    /// listing the list-files cache kept from an earlier try decides either.
    #[tokio::test]
    async fn registration_and_refresh_list_afresh() {
        use datafusion::execution::cache::cache_manager::CacheManagerConfig;
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;

        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(
                CacheManagerConfig::default()
                    .with_list_files_cache_limit(1 << 20)
                    .with_list_files_cache_ttl(None),
            )
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(Default::default(), runtime.clone());
        let stores = ObjectStores::new(runtime, &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("goal_attainment");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("2026-10-31.csv"), "a\n1\n").unwrap();
        std::fs::write(folder.join("2026-10-31.parquet.0123.tmp"), "staged").unwrap();
        let dataset = DatasetConfig {
            name: "goal_attainment".into(),
            url: format!("file://{}/", folder.display()),
            format: DatasetFormat::Parquet,
            partition_columns: Some(vec![]),
            shared: false,
        };
        let register =
            || register_dataset(&ctx, &stores, &dataset, DatasetOrigin::Report, None, &[]);
        let error = register().await.expect_err("no Parquet file yet");
        assert!(error.to_string().contains("No files found"), "{error}");

        ctx.sql(&format!(
            "COPY (SELECT 1 AS a) TO '{}' STORED AS PARQUET",
            folder.join("2026-10-31.parquet").display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        let (mut served, status) = register().await.expect("the Parquet file is found");
        assert_eq!(status.files, 1);
        let rows = ctx
            .sql("SELECT count(*) FROM goal_attainment")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(rows[0].num_rows(), 1);

        std::fs::remove_dir_all(&folder).unwrap();
        std::fs::create_dir(&folder).unwrap();
        let error = served
            .refresh(&ctx, "goal_attainment", &[])
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("No files found"),
            "an emptied folder keeps no cached listing: {error}"
        );
    }
}
