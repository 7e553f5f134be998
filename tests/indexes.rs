//! Customer indexes over the wire, on data laid out by another writer: the CDNOW master log
//! in time order with text buyer ids, written like pyarrow's defaults (no page index, chunk
//! statistics only), in two files. `CREATE INDEX` builds the sidecar; lookups by `=`, `IN`
//! and a bound parameter answer as an independent count over the raw log; `EXPLAIN` and
//! `pg_indexes` show the index; bad definitions get their SQLSTATE; a refresh extends the
//! index to a new file; a restart loads it; `[[indexes]]` in the config builds one too;
//! `DROP INDEX` forgets it and its files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use segmint::config::{DatasetConfig, DatasetFormat, IndexConfig};
use tokio_postgres::Client;

use crate::cdnow::cdnow_dir;
use crate::support::{TestServer, connect_to, sqlstate};

/// One purchase of the log.
#[derive(Clone)]
struct Purchase {
    buyer: String,
    day: i32,
    cds: i32,
    cents: i64,
}

/// The CDNOW master log, ordered by day as a time-ordered export would be.
fn purchases() -> Vec<Purchase> {
    let text = std::fs::read_to_string(cdnow_dir().join("CDNOW_master.txt")).expect("read log");
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let mut rows: Vec<Purchase> = text
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let day = chrono::NaiveDate::parse_from_str(f[1], "%Y%m%d").expect("date");
            Purchase {
                buyer: format!("C{:05}", f[0].parse::<u32>().expect("id")),
                day: (day - epoch).num_days() as i32,
                cds: f[2].parse().expect("cds"),
                cents: (f[3].parse::<f64>().expect("amount") * 100.0).round() as i64,
            }
        })
        .collect();
    rows.sort_by_key(|p| p.day);
    rows
}

/// Writes `rows` as one Parquet file the way pyarrow does by default, with small row groups
/// and pages so a lookup has something to skip.
fn write(path: &Path, rows: &[Purchase]) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("buyer", DataType::Utf8, false),
        Field::new("day", DataType::Date32, false),
        Field::new("cds", DataType::Int32, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|p| p.buyer.as_str()),
            )),
            Arc::new(Date32Array::from_iter_values(rows.iter().map(|p| p.day))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|p| p.cds))),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|p| p.cents as f64 / 100.0),
            )),
        ],
    )
    .expect("batch");
    let properties = WriterProperties::builder()
        .set_max_row_group_row_count(Some(8_192))
        .set_data_page_row_count_limit(1_000)
        .set_write_batch_size(1_000)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_compression(Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path).expect("create");
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn server(data: &Path, catalog: &Path, indexes: Vec<IndexConfig>) -> TestServer {
    let mut config = segmint::Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    config.datasets = vec![DatasetConfig {
        name: "purchases".to_string(),
        url: format!("{}/", data.display()),
        format: DatasetFormat::Parquet,
        partition_columns: Some(vec![]),
        shared: false,
    }];
    config.catalog.dir = Some(catalog.to_path_buf());
    config.catalog.allow_ddl = true;
    config.catalog.refresh_interval = "0s".to_string();
    config.indexes = indexes;
    TestServer::start(config)
}

/// `(count, cents)` of `buyer`'s purchases in `rows`.
fn expected(rows: &[Purchase], buyers: &[&str]) -> (i64, i64) {
    let mine: Vec<_> = rows
        .iter()
        .filter(|p| buyers.contains(&p.buyer.as_str()))
        .collect();
    (mine.len() as i64, mine.iter().map(|p| p.cents).sum())
}

async fn answer(client: &Client, filter: &str) -> (i64, i64) {
    let sql = format!(
        "SELECT count(*), CAST(coalesce(round(sum(amount) * 100), 0) AS BIGINT) \
         FROM purchases WHERE {filter}"
    );
    let row = client.query_one(&sql, &[]).await.expect(&sql);
    (row.get(0), row.get(1))
}

async fn explain(client: &Client, filter: &str) -> String {
    let sql = format!("EXPLAIN SELECT * FROM purchases WHERE {filter}");
    client
        .simple_query(&sql)
        .await
        .expect(&sql)
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn listed_indexes(client: &Client) -> Vec<(String, String)> {
    client
        .query(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'purchases' \
             ORDER BY indexname",
            &[],
        )
        .await
        .expect("pg_indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn indexes_answer_lookups_on_a_foreign_layout_and_survive_refresh_and_restart() {
    let mut rows = purchases();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("purchases");
    let catalog = dir.path().join("catalog");
    std::fs::create_dir_all(&data).expect("mkdir");
    write(&data.join("part-0.parquet"), &rows[..40_000]);
    write(&data.join("part-1.parquet"), &rows[40_000..]);

    let server = server(&data, &catalog, vec![]);
    let client = connect_to(&server.conn_str("segmint")).await;
    let filters: [(&str, &[&str]); 4] = [
        ("buyer = 'C00017'", &["C00017"]),
        ("buyer = 'C23570'", &["C23570"]),
        (
            "buyer IN ('C00001', 'C07592', 'C99999')",
            &["C00001", "C07592"],
        ),
        ("buyer = 'C99999'", &[]),
    ];
    let mut before = BTreeMap::new();
    for (filter, buyers) in filters {
        let scanned = answer(&client, filter).await;
        assert_eq!(
            scanned,
            expected(&rows, buyers),
            "{filter} without an index"
        );
        before.insert(filter, scanned);
    }

    client
        .batch_execute("CREATE INDEX purchases_by_buyer ON purchases (buyer)")
        .await
        .expect("create the index");
    assert!(catalog.join("purchases_by_buyer.sql").exists());
    assert!(catalog.join("indexes/purchases_by_buyer.json").exists());
    for (filter, _) in filters {
        assert_eq!(answer(&client, filter).await, before[filter], "{filter}");
        let plan = explain(&client, filter).await;
        assert!(
            plan.contains("IndexLookupExec: index=purchases_by_buyer"),
            "{filter}: {plan}"
        );
    }
    let plan = explain(&client, "buyer = 'C00017'").await;
    assert!(plan.contains("files=1 of 2 indexed, rows=1,"), "{plan}");
    // A bound parameter is a lookup too.
    let row = client
        .query_one(
            "SELECT count(*) FROM purchases WHERE buyer = $1",
            &[&"C00017"],
        )
        .await
        .expect("prepared lookup");
    assert_eq!(row.get::<_, i64>(0), before["buyer = 'C00017'"].0);
    // Other filters are planned as before.
    let plan = explain(&client, "buyer > 'C23000'").await;
    assert!(!plan.contains("IndexLookupExec"), "{plan}");
    assert_eq!(
        listed_indexes(&client).await,
        [(
            "purchases_by_buyer".to_string(),
            "CREATE INDEX purchases_by_buyer ON public.purchases USING btree (buyer)".to_string()
        )]
    );

    for (sql, code) in [
        (
            "CREATE INDEX purchases_by_buyer ON purchases (cds)",
            "42P07",
        ),
        ("CREATE INDEX purchases ON purchases (cds)", "42P07"),
        ("CREATE INDEX x ON nowhere (buyer)", "42P01"),
        ("CREATE INDEX x ON purchases (nobody)", "42703"),
        ("CREATE INDEX x ON purchases (day)", "0A000"),
        ("CREATE INDEX x ON purchases (buyer) WHERE cds > 1", "0A000"),
        ("CREATE UNIQUE INDEX x ON purchases (buyer)", "0A000"),
        ("CREATE INDEX \"Big\" ON purchases (buyer)", "42602"),
        ("DROP INDEX nope", "42704"),
    ] {
        let error = client.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&error), code, "{sql}: {error:?}");
    }
    client
        .batch_execute("CREATE VIEW big_buyers AS SELECT * FROM purchases WHERE cds > 5")
        .await
        .expect("a view");
    for (sql, code) in [
        ("CREATE INDEX x ON big_buyers (buyer)", "42809"),
        ("CREATE VIEW purchases_by_buyer AS SELECT 1", "42P07"),
    ] {
        let error = client.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&error), code, "{sql}: {error:?}");
    }
    // Unquoted names are folded to lowercase, as PostgreSQL does.
    client
        .batch_execute("CREATE INDEX IF NOT EXISTS Purchases_By_Buyer ON Purchases (BUYER)")
        .await
        .expect("IF NOT EXISTS");
    client
        .batch_execute("DROP INDEX IF EXISTS nope")
        .await
        .expect("IF EXISTS");

    // New purchases land; a refresh extends the index to them.
    let late: Vec<Purchase> = (0..5)
        .map(|i| Purchase {
            buyer: "C00017".to_string(),
            day: 11_000 + i,
            cds: 1,
            cents: 1_000 + i as i64,
        })
        .collect();
    write(&data.join("part-2.parquet"), &late);
    rows.extend(late);
    client
        .batch_execute("REFRESH DATASET purchases")
        .await
        .expect("refresh");
    assert_eq!(
        answer(&client, "buyer = 'C00017'").await,
        expected(&rows, &["C00017"])
    );
    let plan = explain(&client, "buyer = 'C00017'").await;
    assert!(plan.contains("of 3 indexed"), "{plan}");
    assert!(plan.contains("unindexed files read whole=0"), "{plan}");
    drop(client);
    server.stop();

    // After a restart the saved index is loaded, and the config file adds another.
    let by_cds = IndexConfig {
        name: "purchases_by_cds".to_string(),
        dataset: "purchases".to_string(),
        column: "cds".to_string(),
    };
    let server = self::server(&data, &catalog, vec![by_cds]);
    let client = connect_to(&server.conn_str("segmint")).await;
    assert_eq!(listed_indexes(&client).await.len(), 2);
    assert_eq!(
        answer(&client, "buyer = 'C00017'").await,
        expected(&rows, &["C00017"])
    );
    assert!(
        explain(&client, "buyer = 'C00017'")
            .await
            .contains("index=purchases_by_buyer")
    );
    let sevens = rows.iter().filter(|p| p.cds == 7).count() as i64;
    assert_eq!(answer(&client, "cds = 7").await.0, sevens);
    assert!(
        explain(&client, "cds = 7")
            .await
            .contains("index=purchases_by_cds")
    );
    let error = client
        .batch_execute("DROP INDEX purchases_by_cds")
        .await
        .expect_err("a config index is the config file's");
    assert_eq!(sqlstate(&error), "42501", "{error:?}");

    client
        .batch_execute("DROP INDEX public.\"purchases_by_buyer\"")
        .await
        .expect("drop");
    assert_eq!(listed_indexes(&client).await.len(), 1);
    assert!(!catalog.join("purchases_by_buyer.sql").exists());
    assert!(!catalog.join("indexes/purchases_by_buyer.json").exists());
    let plan = explain(&client, "buyer = 'C00017'").await;
    assert!(!plan.contains("IndexLookupExec"), "{plan}");
    assert_eq!(
        answer(&client, "buyer = 'C00017'").await,
        expected(&rows, &["C00017"])
    );
    let leftovers: Vec<_> = std::fs::read_dir(catalog.join("indexes"))
        .expect("indexes folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("purchases_by_buyer"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    server.stop();
}
