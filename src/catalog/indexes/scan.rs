//! Using an index: a dataset with indexes is served as an [`IndexedTable`], whose scans with
//! `column = value` or `column IN (...)` read only the rows the index points at.
//!
//! The listing table plans the scan as usual (partition pruning, statistics, the filters
//! pushed into Parquet); then every file the index knows as it is now either drops out (none
//! of its rows has a key) or carries a row selection, and files the index does not know are
//! kept whole. The filters still run on what is read, so the answer is the scan's answer.
//! [`IndexLookupExec`] above the scan says so in `EXPLAIN`.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::{
    CachedParquetFileReaderFactory, ParquetRowSelection,
};
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetFileReaderFactory, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, LogicalPlan, Operator, TableProviderFilterPushDown, TableType,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, RowSelection};
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataBuilder};

use super::{CustomerIndex, IndexHandle, KeyType};

/// A dataset served with its indexes.
#[derive(Debug)]
pub struct IndexedTable {
    inner: Arc<dyn TableProvider>,
    indexes: Vec<Arc<IndexHandle>>,
}

impl IndexedTable {
    /// `inner` (the dataset's listing table) with `indexes`.
    pub fn new(inner: Arc<dyn TableProvider>, indexes: Vec<Arc<IndexHandle>>) -> IndexedTable {
        IndexedTable { inner, indexes }
    }

    /// The listing table underneath (what a cluster reads: indexes are the server's).
    pub fn inner(&self) -> &Arc<dyn TableProvider> {
        &self.inner
    }

    /// The built index that can answer `filters`, and the keys it looks up.
    pub fn index_for(&self, filters: &[Expr]) -> Option<(Arc<CustomerIndex>, Vec<ScalarValue>)> {
        self.indexes.iter().find_map(|handle| {
            let index = handle.current()?;
            let keys = lookup_keys(filters, &index)?;
            Some((index, keys))
        })
    }
}

/// The keys of the first conjunct of `filters` that only an index lookup can satisfy:
/// `column = value`, `column IN (values)`, or a disjunction of those (the optimizer writes a
/// short IN list as one), cast to the index's key type (none when a value cannot be a key).
fn lookup_keys(filters: &[Expr], index: &CustomerIndex) -> Option<Vec<ScalarValue>> {
    let column = index.definition().column.as_str();
    let key_type = index.key_type();
    filters
        .iter()
        .flat_map(|f| split_conjunction(f))
        .find_map(|conjunct| keys_of(conjunct, column, key_type))
}

/// The keys `expr` restricts `column` to, if it is a lookup.
fn keys_of(expr: &Expr, column: &str, key_type: KeyType) -> Option<Vec<ScalarValue>> {
    let is_column = |e: &Expr| matches!(e, Expr::Column(c) if c.name == column);
    let value = |e: &Expr| match e {
        Expr::Literal(v, _) => key_type.key(v),
        _ => None,
    };
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => {
            if is_column(left) {
                Some(vec![value(right)?])
            } else if is_column(right) {
                Some(vec![value(left)?])
            } else {
                None
            }
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let mut keys = keys_of(left, column, key_type)?;
            keys.extend(keys_of(right, column, key_type)?);
            Some(keys)
        }
        Expr::InList(in_list) if !in_list.negated && is_column(&in_list.expr) => {
            in_list.list.iter().map(value).collect()
        }
        _ => None,
    }
}

#[async_trait]
impl TableProvider for IndexedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.inner.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.inner.get_logical_plan()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<datafusion::common::Statistics> {
        self.inner.statistics()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        let Some((index, keys)) = self.index_for(filters) else {
            return Ok(plan);
        };
        match index_scan(&plan, state, index, &keys)? {
            Some(indexed) => Ok(indexed),
            None => Ok(plan),
        }
    }
}

/// `plan` (a Parquet scan) reading only the rows `index` has for `keys`; `None` when `plan`
/// is not a Parquet scan.
fn index_scan(
    plan: &Arc<dyn ExecutionPlan>,
    state: &dyn Session,
    index: Arc<CustomerIndex>,
    keys: &[ScalarValue],
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
        return Ok(None);
    };
    let matches = match index.lookup(keys) {
        Ok(matches) => matches,
        Err(error) => {
            // A key file that cannot be read (dropped, being replaced) costs speed only.
            tracing::warn!(index = %index.definition().name, %error, "index not used");
            return Ok(None);
        }
    };
    let mut lookup = Lookup {
        index: index.definition().name.clone(),
        column: index.definition().column.clone(),
        keys: keys.len(),
        ..Lookup::default()
    };
    // Files stay in their groups, so what the scan declares of its partitions still holds.
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); config.file_groups.len()];
    let mut seen = std::collections::HashSet::new();
    for (group, files) in config.file_groups.iter().enumerate() {
        for file in files.files() {
            let Some(number) = index.file(&file.object_meta) else {
                // Not indexed as it is now: read whole, as without an index.
                lookup.unindexed += 1;
                groups[group].push(file.clone());
                continue;
            };
            // A file split into byte ranges is read once, whole, with its row selection.
            if !seen.insert(number) {
                continue;
            }
            lookup.indexed += 1;
            let Some(rows) = matches.get(&number) else {
                continue;
            };
            lookup.files += 1;
            lookup.rows += rows.len();
            let total = index.file_rows(number) as usize;
            let selection = RowSelection::from_consecutive_ranges(runs(rows).into_iter(), total);
            let mut chosen = file.clone();
            chosen.range = None;
            chosen
                .extensions
                .insert(ParquetRowSelection::new(selection));
            groups[group].push(chosen);
        }
    }
    let runtime = state.runtime_env();
    let inner: Arc<dyn ParquetFileReaderFactory> = match source.parquet_file_reader_factory() {
        Some(factory) => factory.clone(),
        None => Arc::new(CachedParquetFileReaderFactory::new(
            runtime.object_store(&config.object_store_url)?,
            runtime.cache_manager.get_file_metadata_cache(),
        )),
    };
    let source = source
        .clone()
        .with_parquet_file_reader_factory(Arc::new(WithPageLocations {
            inner,
            index: index.clone(),
        }));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
        .with_source(Arc::new(source))
        .build();
    let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
    tracing::debug!(?lookup, "index lookup");
    Ok(Some(Arc::new(IndexLookupExec { scan, lookup })))
}

/// Sorted row numbers as runs of consecutive rows.
fn runs(rows: &[u32]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for &row in rows {
        let row = row as usize;
        match runs.last_mut() {
            Some(run) if run.end == row => run.end += 1,
            _ => runs.push(row..row + 1),
        }
    }
    runs
}

/// What one index lookup found, as `EXPLAIN` shows it.
#[derive(Debug, Clone, Default)]
struct Lookup {
    index: String,
    column: String,
    keys: usize,
    indexed: usize,
    files: usize,
    rows: usize,
    unindexed: usize,
}

/// A scan narrowed by an index: the rows of `keys` in the files that hold them.
#[derive(Debug)]
pub struct IndexLookupExec {
    scan: Arc<dyn ExecutionPlan>,
    lookup: Lookup,
}

impl DisplayAs for IndexLookupExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let l = &self.lookup;
        write!(
            f,
            "IndexLookupExec: index={}, column={}, keys={}, files={} of {} indexed, rows={}, \
             unindexed files read whole={}",
            l.index, l.column, l.keys, l.files, l.indexed, l.rows, l.unindexed
        )
    }
}

impl ExecutionPlan for IndexLookupExec {
    fn name(&self) -> &str {
        "IndexLookupExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.scan.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.scan]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(scan), true) => Ok(Arc::new(IndexLookupExec {
                scan,
                lookup: self.lookup.clone(),
            })),
            _ => datafusion::common::internal_err!("IndexLookupExec has one child"),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.scan.execute(partition, context)
    }
}

/// Readers whose metadata carries the page locations the index read, for files that have
/// no page index: a row selection then fetches only its pages.
#[derive(Debug)]
struct WithPageLocations {
    inner: Arc<dyn ParquetFileReaderFactory>,
    index: Arc<CustomerIndex>,
}

impl ParquetFileReaderFactory for WithPageLocations {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let offsets = self
            .index
            .file(&file.object_meta)
            .and_then(|_| self.index.offset_index(file.object_meta.location.as_ref()));
        let reader =
            self.inner
                .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(match offsets {
            Some(offsets) => Box::new(PageLocatedReader {
                reader,
                offsets: Some(offsets),
            }),
            None => reader,
        })
    }
}

/// A reader that adds page locations (if any) to the metadata it returns; without, it is the
/// reader it wraps, as a sized type the Parquet stream builder takes.
pub(super) struct PageLocatedReader {
    /// The file's reader.
    pub(super) reader: Box<dyn AsyncFileReader + Send>,
    /// The page locations to add when the file has none.
    pub(super) offsets: Option<Arc<parquet::file::metadata::ParquetOffsetIndex>>,
}

impl AsyncFileReader for PageLocatedReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.reader.get_bytes(range)
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        self.reader.get_byte_ranges(ranges)
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let metadata = self.reader.get_metadata(options).await?;
            let Some(offsets) = &self.offsets else {
                return Ok(metadata);
            };
            if metadata.offset_index().is_some() {
                return Ok(metadata);
            }
            let with_pages = ParquetMetaDataBuilder::new_from_metadata(metadata.as_ref().clone())
                .set_offset_index(Some(offsets.as_ref().clone()))
                .build();
            Ok(Arc::new(with_pages))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_runs() {
        assert_eq!(runs(&[]), Vec::<Range<usize>>::new());
        assert_eq!(runs(&[3, 4, 5, 9, 11, 12]), vec![3..6, 9..10, 11..13]);
    }
}

/// End to end in one process: an index over Parquet files written without a page index, used
/// by SQL for `=` and `IN`, equal to the scan without it, and a file added after the build
/// read whole.
#[cfg(test)]
mod lookups {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{
        ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
    };
    use datafusion::prelude::SessionContext;
    use futures::TryStreamExt;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Compression;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    use super::IndexedTable;
    use crate::catalog::indexes::{IndexDefinition, IndexOrigin, Indexes, KeyType};

    /// Orders in time order: customer `(i * 7919) % 1000`, so every customer is in every
    /// row group; written like pyarrow's defaults (no page index, chunk statistics only).
    fn write_orders(path: &std::path::Path, first: i64, rows: i64) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, true),
            Field::new("channel", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, false),
        ]));
        let ids: Vec<i64> = (first..first + rows).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from_iter(ids.iter().map(|i| {
                    // Some orders have no customer.
                    (i % 97 != 0).then_some((i * 7919) % 1000)
                }))),
                Arc::new(StringArray::from_iter_values(
                    ids.iter()
                        .map(|i| ["web", "app", "store"][(*i % 3) as usize]),
                )),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| (*i % 500) as f64 / 4.0),
                )),
            ],
        )
        .unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(20_000))
            .set_data_page_row_count_limit(1_000)
            .set_write_batch_size(1_000)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_compression(Compression::SNAPPY)
            .build();
        let file = std::fs::File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    async fn table(ctx: &SessionContext, dir: &std::path::Path) -> ListingTable {
        let url = ListingTableUrl::parse(format!("file://{}/", dir.display())).unwrap();
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()));
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .infer_schema(&ctx.state())
            .await
            .unwrap();
        ListingTable::try_new(config).unwrap()
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> String {
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lookups_equal_scans_and_new_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("orders");
        std::fs::create_dir(&data).unwrap();
        write_orders(&data.join("a.parquet"), 0, 60_000);
        write_orders(&data.join("b.parquet"), 60_000, 30_000);

        // No listing cache: a table made after a file lands sees it.
        let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_cache_manager(
                datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
                    .with_list_files_cache_limit(0),
            )
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(Default::default(), runtime);
        let plain = table(&ctx, &data).await;
        let listed: Vec<_> = ctx
            .runtime_env()
            .object_store(plain.table_paths().first().unwrap())
            .unwrap()
            .list(Some(&object_store::path::Path::from(
                data.to_string_lossy().trim_start_matches('/'),
            )))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        let store = ctx
            .runtime_env()
            .object_store(plain.table_paths().first().unwrap())
            .unwrap();
        ctx.register_table("plain", Arc::new(plain)).unwrap();

        let indexes = Indexes::new(Some(&dir.path().join("catalog")));
        let definition = IndexDefinition {
            name: "orders_customer".into(),
            dataset: "orders".into(),
            column: "customer_id".into(),
        };
        let handle = indexes.add(definition.clone(), IndexOrigin::Wire);
        indexes
            .build(&handle, store.clone(), listed.clone(), KeyType::Integer)
            .await
            .unwrap();
        let index = handle.current().unwrap();
        assert_eq!(index.files(), 2);
        assert!(index.rows() > 80_000 && index.rows() < 90_000);
        // Page locations were read: the files have no page index.
        for file in &listed {
            assert!(index.offset_index(file.location.as_ref()).is_some());
        }
        let indexed = IndexedTable::new(Arc::new(table(&ctx, &data).await), vec![handle.clone()]);
        ctx.register_table("orders", Arc::new(indexed)).unwrap();

        for filter in [
            "customer_id = 17",
            "customer_id = 999",
            "customer_id IN (3, 500, 2000)",
            "17 = customer_id AND channel = 'web'",
            "customer_id = 5000",
        ] {
            let query = |t: &str| format!("SELECT * FROM {t} WHERE {filter} ORDER BY order_id");
            let expected = rows(&ctx, &query("plain")).await;
            assert_eq!(rows(&ctx, &query("orders")).await, expected, "{filter}");
            let explain = rows(&ctx, &format!("EXPLAIN {}", query("orders"))).await;
            assert!(
                explain.contains("IndexLookupExec: index=orders_customer"),
                "{explain}"
            );
        }
        let count = rows(&ctx, "SELECT count(*) FROM orders WHERE customer_id = 17").await;
        assert!(count.contains("| 89 "), "{count}");
        assert_eq!(
            count,
            rows(&ctx, "SELECT count(*) FROM plain WHERE customer_id = 17").await
        );
        // Not an index lookup: planned as before.
        let explain = rows(&ctx, "EXPLAIN SELECT * FROM orders WHERE customer_id > 17").await;
        assert!(!explain.contains("IndexLookupExec"), "{explain}");

        // A file the index has not seen is read whole.
        write_orders(&data.join("c.parquet"), 90_000, 10_000);
        let fresh = IndexedTable::new(Arc::new(table(&ctx, &data).await), vec![handle.clone()]);
        ctx.deregister_table("orders").unwrap();
        ctx.register_table("orders", Arc::new(fresh)).unwrap();
        ctx.deregister_table("plain").unwrap();
        ctx.register_table("plain", Arc::new(table(&ctx, &data).await))
            .unwrap();
        let query = |t: &str| format!("SELECT * FROM {t} WHERE customer_id = 17 ORDER BY order_id");
        let expected = rows(&ctx, &query("plain")).await;
        assert_eq!(rows(&ctx, &query("orders")).await, expected);
        let explain = rows(&ctx, &format!("EXPLAIN {}", query("orders"))).await;
        assert!(
            explain.contains("unindexed files read whole=1"),
            "{explain}"
        );

        // Extending keeps the two files' rows and reads the new one; a second index object
        // over the same folder loads the saved build.
        let listed: Vec<_> = store
            .list(Some(&object_store::path::Path::from(
                data.to_string_lossy().trim_start_matches('/'),
            )))
            .try_collect()
            .await
            .unwrap();
        indexes
            .build(&handle, store.clone(), listed.clone(), KeyType::Integer)
            .await
            .unwrap();
        assert_eq!(handle.current().unwrap().files(), 3);
        let explain = rows(&ctx, &format!("EXPLAIN {}", query("orders"))).await;
        assert!(
            explain.contains("unindexed files read whole=0"),
            "{explain}"
        );
        assert_eq!(rows(&ctx, &query("orders")).await, expected);
        let reopened = Indexes::new(Some(&dir.path().join("catalog")));
        let again = reopened.add(definition, IndexOrigin::Wire);
        reopened
            .build(&again, store, listed, KeyType::Integer)
            .await
            .unwrap();
        let loaded = again.current().unwrap();
        assert_eq!(loaded.built_at(), handle.current().unwrap().built_at());
        assert_eq!(loaded.rows(), handle.current().unwrap().rows());
    }
}
