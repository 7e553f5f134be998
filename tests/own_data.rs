//! Issue 20 end to end: shops that do not look like the demo, mapped onto the customer model
//! with `model/<entity>.sql`, served over the wire.
//!
//! (a) the CDNOW log as the only table (customer, day, CDs, amount): `order_value` and
//!     `cohort_retention` against an independent computation over the raw file, customers
//!     derived from orders, `rfm()` on `completed_orders`, browse reports unavailable;
//! (b) an Olist-shaped shop (text hex ids, payments and reviews in their own tables, statuses
//!     `delivered` / `canceled` / `shipped`, no events) mapped with joins;
//! (c) `segmint init` → `segmint check` → `segmint serve` on a fresh folder;
//! (d) broken mappings: one line naming entity, column and expected type, in
//!     `segmint.entities` and from `segmint check` (non-zero exit), the rest still served.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate, TimeDelta};
use tokio_postgres::Client;

use crate::cdnow::cdnow_csv;
use crate::cli::segmint;
use crate::support::{self, ServeProcess, TestServer, olist};

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// A `[[datasets]]` entry.
fn dataset_toml(name: &str, path: &Path, format: &str) -> String {
    format!(
        "\n[[datasets]]\nname = \"{name}\"\nurl = \"{}\"\nformat = \"{format}\"\n",
        path.display()
    )
}

/// The head of a config serving on an ephemeral port with reports written under `output`
/// and the project folder `project`.
fn config_head(project: &Path, output: &Path, as_of: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[functions]\nas_of = \"{as_of}\"\n\n\
         [project]\ndir = \"{}\"\n\n[reports]\noutput_url = \"{}\"\nscheduler = false\n",
        project.display(),
        output.display()
    )
}

/// Writes `files` (relative path, text) under `dir`.
fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write project file");
    }
}

/// A kept temporary folder (for servers shared by several tests).
fn kept_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("temp dir")
        .keep()
}

fn parse_config(toml: &str) -> segmint::Config {
    segmint::Config::from_toml(toml).unwrap_or_else(|e| panic!("config refused: {e}\n{toml}"))
}

/// The server's message of a failed statement.
fn message(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| error.to_string())
}

/// `RUN REPORT name AS OF DATE 'as_of'`, panicking with the server's message on failure.
async fn run_report(client: &Client, name: &str, as_of: &str) {
    let sql = format!("RUN REPORT {name} AS OF DATE '{as_of}'");
    if let Err(e) = client.simple_query(&sql).await {
        panic!("{sql}: {} {}", support::sqlstate(&e), message(&e));
    }
}

/// `segmint.reports`: name → (available, reason).
async fn report_availability(client: &Client) -> BTreeMap<String, (bool, Option<String>)> {
    client
        .query("SELECT name, available, reason FROM segmint.reports", &[])
        .await
        .unwrap_or_else(|e| panic!("segmint.reports: {}", message(&e)))
        .iter()
        .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2))))
        .collect()
}

/// Asserts that `name` is listed as unavailable for lack of events, and that running it is
/// refused with 55000 and a message saying so.
async fn assert_needs_events(
    client: &Client,
    listed: &BTreeMap<String, (bool, Option<String>)>,
    name: &str,
) {
    let (available, reason) = listed
        .get(name)
        .unwrap_or_else(|| panic!("{name} not in segmint.reports: {listed:?}"));
    assert!(!available, "{name} listed as available without events");
    let reason = reason.clone().unwrap_or_default();
    assert!(
        reason.contains("needs") && reason.contains("events"),
        "{name}: reason {reason:?}"
    );
    let error = client
        .simple_query(&format!("RUN REPORT {name} AS OF DATE '1997-03-31'"))
        .await
        .expect_err("a report without its entities must not run");
    assert_eq!(support::sqlstate(&error), "55000", "{name}: {error:?}");
    let text = message(&error);
    assert!(
        text.contains("needs") && text.contains("events"),
        "{name}: {text}"
    );
}

/// `segmint.entities`: entity → (source, status, error).
async fn entities(client: &Client) -> BTreeMap<String, (String, String, Option<String>)> {
    client
        .query(
            "SELECT entity, source, status, error FROM segmint.entities",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("segmint.entities: {}", message(&e)))
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                (
                    r.get::<_, Option<String>>(1).unwrap_or_default(),
                    r.get::<_, Option<String>>(2).unwrap_or_default(),
                    r.get(3),
                ),
            )
        })
        .collect()
}

/// stdout and stderr of a run, together.
fn printed(output: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_close(got: f64, want: f64, what: &str) {
    let tolerance = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: got {got}, want {want}"
    );
}

/// The month index (year * 12 + month - 1) the cohort report uses.
fn month_index(day: NaiveDate) -> i64 {
    day.year() as i64 * 12 + day.month0() as i64
}

/// The cohort retention matrix of `all` customers computed from (customer, day) purchases
/// before `end`, observed up to `as_of`: (cohort month, k) → (cohort size, retained).
fn cohort_matrix<C: Ord + Clone + std::hash::Hash>(
    purchases: impl Iterator<Item = (C, NaiveDate)>,
    as_of: NaiveDate,
) -> BTreeMap<(NaiveDate, i64), (i64, Option<i64>)> {
    let mut months: HashMap<C, BTreeSet<i64>> = HashMap::new();
    let mut first: HashMap<C, NaiveDate> = HashMap::new();
    for (customer, day) in purchases.filter(|(_, d)| *d <= as_of) {
        months
            .entry(customer.clone())
            .or_default()
            .insert(month_index(day));
        let f = first.entry(customer).or_insert(day);
        *f = (*f).min(day);
    }
    let mut cohorts: BTreeMap<NaiveDate, Vec<&C>> = BTreeMap::new();
    for (customer, day) in &first {
        let cohort = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("month start");
        cohorts.entry(cohort).or_default().push(customer);
    }
    let last_m = month_index(as_of);
    let min_m0 = cohorts
        .keys()
        .map(|c| month_index(*c))
        .min()
        .unwrap_or(last_m);
    let mut matrix = BTreeMap::new();
    for (cohort, members) in &cohorts {
        let m0 = month_index(*cohort);
        for k in 0..=(last_m - min_m0) {
            let retained = (m0 + k <= last_m).then(|| {
                members
                    .iter()
                    .filter(|c| months[**c].contains(&(m0 + k)))
                    .count() as i64
            });
            matrix.insert((*cohort, k), (members.len() as i64, retained));
        }
    }
    matrix
}

/// `reports.cohort_retention` of `as_of`, segment `all`, in the shape of [`cohort_matrix`]
/// with the rates checked against the counts.
async fn served_cohorts(
    client: &Client,
    as_of: &str,
) -> BTreeMap<(NaiveDate, i64), (i64, Option<i64>)> {
    let rows = client
        .query(
            &format!(
                "SELECT cohort, months_since_first, cohort_size, retained_customers, retention_rate \
                 FROM reports.cohort_retention \
                 WHERE as_of = DATE '{as_of}' AND segment_kind = 'all' \
                 ORDER BY cohort, months_since_first"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("reports.cohort_retention: {}", message(&e)));
    let mut matrix = BTreeMap::new();
    for row in rows {
        let cohort: String = row.get(0);
        let cohort = NaiveDate::parse_from_str(&cohort, "%Y-%m-%d").expect("cohort date");
        let k: i64 = row.get(1);
        let size: i64 = row.get(2);
        let retained: Option<i64> = row.get(3);
        let rate: Option<f64> = row.get(4);
        match (retained, rate) {
            (Some(n), Some(rate)) => {
                assert_close(rate, n as f64 / size as f64, &format!("rate {cohort} +{k}"))
            }
            (None, None) => {}
            other => panic!("{cohort} +{k}: retained and rate disagree: {other:?}"),
        }
        matrix.insert((cohort, k), (size, retained));
    }
    matrix
}

/// The `needs` a shipped report declares in its front matter (`-- needs = [...]`), or `None`
/// when it declares none.
fn declared_needs(report: &str) -> Option<Vec<String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("sql/reports/{report}.sql"));
    let text = std::fs::read_to_string(path).ok()?;
    let line = text
        .lines()
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches('-').trim())
        .find(|l| l.starts_with("needs"))?;
    let table: toml::Table = toml::from_str(line).ok()?;
    Some(
        table
            .get("needs")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
    )
}

/// Whether a shop providing `provided` (entity → columns) meets `need` (`events`,
/// `orders.channel`).
fn meets(need: &str, provided: &[(&str, &[&str])]) -> bool {
    let (entity, column) = match need.split_once('.') {
        Some((e, c)) => (e, Some(c)),
        None => (need, None),
    };
    provided
        .iter()
        .find(|(e, _)| *e == entity)
        .is_some_and(|(_, columns)| column.is_none_or(|c| columns.contains(&c)))
}

// ---------------------------------------------------------------------------------------------
// (a) CDNOW as the only table
// ---------------------------------------------------------------------------------------------

/// The analysis date of the CDNOW server: mid-February 1997, so only part of the customers
/// (all of whom first bought in 1997 Q1) have bought before it.
const CDNOW_AS_OF: &str = "1997-02-15";

/// One line of the CDNOW log.
struct Line {
    customer: u32,
    day: NaiveDate,
    amount: f64,
}

/// The CDNOW CSV read back by the test itself.
fn cdnow_lines() -> &'static [Line] {
    static LINES: OnceLock<Vec<Line>> = OnceLock::new();
    LINES.get_or_init(|| {
        let text = std::fs::read_to_string(cdnow_csv()).expect("read cdnow.csv");
        text.lines()
            .skip(1)
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                Line {
                    customer: fields[0].parse().expect("customer id"),
                    day: NaiveDate::parse_from_str(fields[1], "%Y-%m-%d").expect("day"),
                    amount: fields[3].parse().expect("amount"),
                }
            })
            .collect()
    })
}

const CDNOW_ORDERS_SQL: &str = "-- The CDNOW log: one line per purchase, no order id, no status.\n\
    SELECT customer_id, CAST(order_date AS TIMESTAMP) AS order_ts, amount AS net_amount\n\
    FROM cdnow_log\n";

/// A server whose only dataset is the CDNOW log, mapped by `model/orders.sql`.
fn cdnow_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let project = kept_dir("segmint-own-cdnow");
        write_files(&project, &[("model/orders.sql", CDNOW_ORDERS_SQL)]);
        let mut toml = config_head(&project, &project.join("reports"), CDNOW_AS_OF);
        toml.push_str(&dataset_toml("cdnow_log", cdnow_csv(), "csv"));
        TestServer::start(parse_config(&toml))
    })
}

/// `order_value` for March 1997 on the raw log: orders (one per customer and day, as the
/// model derives the order id from customer and timestamp), revenue, active customers, AOV.
#[tokio::test]
async fn cdnow_order_value_matches_an_independent_computation() {
    let client = cdnow_server().connect().await;
    run_report(&client, "order_value", "1997-03-31").await;
    let row = client
        .query_one(
            "SELECT orders, customers, revenue, aov, purchase_frequency, period_start, period_end \
             FROM reports.order_value \
             WHERE as_of = DATE '1997-03-31' AND segment_kind = 'all' AND segment = 'all'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("reports.order_value: {}", message(&e)));

    let start = NaiveDate::from_ymd_opt(1997, 3, 1).expect("date");
    let end = NaiveDate::from_ymd_opt(1997, 4, 1).expect("date");
    let march: Vec<&Line> = cdnow_lines()
        .iter()
        .filter(|l| l.day >= start && l.day < end)
        .collect();
    let orders: BTreeSet<(u32, NaiveDate)> = march.iter().map(|l| (l.customer, l.day)).collect();
    let customers: BTreeSet<u32> = march.iter().map(|l| l.customer).collect();
    let revenue: f64 = march.iter().map(|l| l.amount).sum();
    assert!(orders.len() > 10_000, "March 1997 is CDNOW's busiest month");

    assert_eq!(row.get::<_, i64>(0), orders.len() as i64, "orders");
    assert_eq!(
        row.get::<_, i64>(1),
        customers.len() as i64,
        "active customers"
    );
    assert_close(row.get(2), revenue, "revenue");
    assert_close(row.get(3), revenue / orders.len() as f64, "AOV");
    assert_close(
        row.get(4),
        orders.len() as f64 / customers.len() as f64,
        "purchase frequency",
    );
}

/// `cohort_retention` as of June 1997 on the raw log, every cell of the `all` matrix.
#[tokio::test]
async fn cdnow_cohort_retention_matches_an_independent_matrix() {
    let client = cdnow_server().connect().await;
    run_report(&client, "cohort_retention", "1997-06-30").await;
    let served = served_cohorts(&client, "1997-06-30").await;
    let as_of = NaiveDate::from_ymd_opt(1997, 6, 30).expect("date");
    let expected = cohort_matrix(cdnow_lines().iter().map(|l| (l.customer, l.day)), as_of);
    // CDNOW's customers all first bought in 1997 Q1: three cohorts, months 0..5.
    assert_eq!(expected.len(), 3 * 6);
    assert_eq!(served, expected);
}

/// Customers are derived from orders: `customer_360` lists those who bought before the
/// analysis date, with NULL profile columns; `rfm()` and `customer_tags()` run on the model.
#[tokio::test]
async fn cdnow_customers_are_derived_from_orders() {
    let client = cdnow_server().connect().await;
    let as_of = NaiveDate::parse_from_str(CDNOW_AS_OF, "%Y-%m-%d").expect("date");
    let before: Vec<&Line> = cdnow_lines().iter().filter(|l| l.day < as_of).collect();
    let buyers: BTreeSet<u32> = before.iter().map(|l| l.customer).collect();
    let spend: f64 = before.iter().map(|l| l.amount).sum();
    let all: BTreeSet<u32> = cdnow_lines().iter().map(|l| l.customer).collect();
    assert!(
        buyers.len() < all.len(),
        "the analysis date must cut the customers"
    );

    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT customer_id), count(region), count(gender), \
                    sum(frequency) FROM customer_360",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("customer_360: {}", message(&e)));
    assert_eq!(
        row.get::<_, i64>(0),
        buyers.len() as i64,
        "customer_360 rows"
    );
    assert_eq!(
        row.get::<_, i64>(1),
        buyers.len() as i64,
        "one row per customer"
    );
    assert_eq!(row.get::<_, i64>(2), 0, "derived customers have no region");
    assert_eq!(row.get::<_, i64>(3), 0, "derived customers have no gender");

    let rfm = client
        .query_one(
            &format!(
                "SELECT count(*), sum(monetary) FROM rfm('completed_orders', DATE '{CDNOW_AS_OF}')"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("rfm: {}", message(&e)));
    assert_eq!(rfm.get::<_, i64>(0), buyers.len() as i64, "rfm customers");
    assert_close(rfm.get(1), spend, "rfm monetary");

    let completed: i64 = client
        .query_one("SELECT count(*) FROM completed_orders", &[])
        .await
        .unwrap_or_else(|e| panic!("completed_orders: {}", message(&e)))
        .get(0);
    assert_eq!(
        completed,
        cdnow_lines().len() as i64,
        "without a status every order counts"
    );

    let tagged: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM customer_tags(DATE '{CDNOW_AS_OF}')"),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("customer_tags: {}", message(&e)))
        .get(0);
    assert_eq!(tagged, buyers.len() as i64, "customer_tags rows");

    let entities = entities(&client).await;
    let (source, status, error) = &entities["orders"];
    assert!(error.is_none(), "orders: {source} {status} {error:?}");
    assert!(
        source.contains("orders.sql"),
        "orders is mapped by model/orders.sql: {source}"
    );
    let (source, status, error) = &entities["customers"];
    assert!(error.is_none(), "customers: {source} {status} {error:?}");
    assert!(
        format!("{source} {status}").contains("orders"),
        "customers are derived from orders: {source} {status}"
    );
}

/// The browse reports need events, which CDNOW does not have.
#[tokio::test]
async fn cdnow_browse_reports_are_unavailable() {
    let client = cdnow_server().connect().await;
    let listed = report_availability(&client).await;
    for name in ["browse_funnel", "browse_paths", "browse_sessions"] {
        assert_needs_events(&client, &listed, name).await;
    }
    for name in ["order_value", "cohort_retention", "repurchase"] {
        assert_eq!(
            listed.get(name).map(|(available, _)| *available),
            Some(true),
            "{name}: {listed:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (b) An Olist-shaped shop
// ---------------------------------------------------------------------------------------------

/// The analysis date of the Olist server: the day after the generated history ends.
const OLIST_AS_OF: &str = "2018-09-01";

const OLIST_ORDERS_SQL: &str = "\
-- Olist: one customer_id per order, the person is customer_unique_id; payments are split
-- over several rows; 'delivered' is what counts.
SELECT o.order_id,
       c.customer_unique_id AS customer_id,
       o.order_purchase_timestamp AS order_ts,
       p.net_amount,
       CASE o.order_status WHEN 'delivered' THEN 'completed'
                           WHEN 'canceled' THEN 'cancelled'
                           ELSE o.order_status END AS status
FROM olist_orders o
JOIN olist_customers c ON c.customer_id = o.customer_id
JOIN (SELECT order_id, sum(payment_value) AS net_amount
      FROM olist_payments GROUP BY order_id) p ON p.order_id = o.order_id
";

const OLIST_CUSTOMERS_SQL: &str = "\
SELECT customer_unique_id AS customer_id,
       min(customer_state) AS region,
       min(customer_city) AS city
FROM olist_customers
GROUP BY customer_unique_id
";

const OLIST_REVIEWS_SQL: &str = "\
SELECT r.review_id,
       r.order_id,
       c.customer_unique_id AS customer_id,
       r.review_creation_date AS created_at,
       r.review_score AS rating
FROM olist_reviews r
JOIN olist_orders o ON o.order_id = r.order_id
JOIN olist_customers c ON c.customer_id = o.customer_id
";

/// What the Olist mapping provides, for checking the reports' declared needs.
const OLIST_PROVIDES: &[(&str, &[&str])] = &[
    (
        "orders",
        &[
            "order_id",
            "customer_id",
            "order_ts",
            "net_amount",
            "status",
        ],
    ),
    ("customers", &["customer_id", "region"]),
    (
        "reviews",
        &[
            "review_id",
            "order_id",
            "customer_id",
            "created_at",
            "rating",
        ],
    ),
];

fn olist_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let shop = olist::shop();
        let project = kept_dir("segmint-own-olist");
        write_files(
            &project,
            &[
                ("model/orders.sql", OLIST_ORDERS_SQL),
                ("model/customers.sql", OLIST_CUSTOMERS_SQL),
                ("model/reviews.sql", OLIST_REVIEWS_SQL),
            ],
        );
        let mut toml = config_head(&project, &project.join("reports"), OLIST_AS_OF);
        for table in olist::Shop::tables() {
            toml.push_str(&dataset_toml(table, &shop.file(table), "parquet"));
        }
        TestServer::start(parse_config(&toml))
    })
}

fn olist_as_of() -> chrono::NaiveDateTime {
    NaiveDate::parse_from_str(OLIST_AS_OF, "%Y-%m-%d")
        .expect("date")
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
}

/// Per person: (delivered orders, their payments, delivered orders in the 90 days before
/// the analysis date).
fn olist_expected() -> HashMap<&'static str, (i64, f64, i64)> {
    let shop = olist::shop();
    let as_of = olist_as_of();
    let mut per: HashMap<&str, (i64, f64, i64)> = shop
        .persons
        .iter()
        .map(|p| (p.unique_id.as_str(), (0, 0.0, 0)))
        .collect();
    for order in shop
        .orders
        .iter()
        .filter(|o| o.status == "delivered" && o.ts < as_of)
    {
        let entry = per
            .get_mut(shop.persons[order.person].unique_id.as_str())
            .expect("person");
        entry.0 += 1;
        entry.1 += order.amount;
        if order.ts >= as_of - TimeDelta::days(90) {
            entry.2 += 1;
        }
    }
    per
}

fn is_hex_id(id: &str) -> bool {
    id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// `customer_360` on Olist: one row per person with the text id, the state as region, and
/// RFM over delivered orders only (canceled and shipped do not count).
#[tokio::test]
async fn olist_customer_360_has_text_ids_regions_and_delivered_orders() {
    let client = olist_server().connect().await;
    let rows = client
        .query(
            "SELECT customer_id, region, frequency, monetary FROM customer_360",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("customer_360: {}", message(&e)));
    let shop = olist::shop();
    let expected = olist_expected();
    let states: HashMap<&str, &str> = shop
        .persons
        .iter()
        .map(|p| (p.unique_id.as_str(), p.state.as_str()))
        .collect();
    assert_eq!(rows.len(), olist::PERSONS, "one row per customer_unique_id");
    for row in &rows {
        let id: String = row.get(0);
        assert!(is_hex_id(&id), "customer id {id:?}");
        let region: Option<String> = row.get(1);
        assert_eq!(region.as_deref(), Some(states[id.as_str()]), "{id}");
        let (orders, spend, _) = expected[id.as_str()];
        assert_eq!(row.get::<_, i64>(2), orders, "{id}: delivered orders");
        assert_close(row.get(3), spend, &format!("{id}: monetary"));
    }
    let cancelled: i64 = client
        .query_one(
            "SELECT count(*) FROM model.orders WHERE status = 'cancelled'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("model.orders: {}", message(&e)))
        .get(0);
    assert_eq!(
        cancelled,
        shop.orders
            .iter()
            .filter(|o| o.status == "canceled")
            .count() as i64,
        "canceled is mapped to cancelled"
    );
    let reviews: i64 = client
        .query_one(
            "SELECT count(*) FROM model.reviews r JOIN model.customers c USING (customer_id) \
             WHERE r.rating BETWEEN 1 AND 5",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("model.reviews: {}", message(&e)))
        .get(0);
    assert_eq!(
        reviews,
        shop.orders.iter().filter(|o| o.review.is_some()).count() as i64
    );
}

/// `customer_tags` with text ids: the purchase-count and recency tags of every person.
#[tokio::test]
async fn olist_customer_tags_use_text_ids() {
    let client = olist_server().connect().await;
    let rows = client
        .query(
            &format!(
                "SELECT customer_id, has_tag(tags, 'never_bought'), has_tag(tags, 'one_time_buyer'), \
                        has_tag(tags, 'repeat_buyer'), has_tag(tags, 'recent_buyer') \
                 FROM customer_tags(DATE '{OLIST_AS_OF}')"
            ),
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("customer_tags: {}", message(&e)));
    let expected = olist_expected();
    assert_eq!(rows.len(), olist::PERSONS);
    let mut repeat = 0;
    for row in &rows {
        let id: String = row.get(0);
        assert!(is_hex_id(&id), "customer id {id:?}");
        let (orders, _, recent) = expected[id.as_str()];
        let got: [bool; 4] = [row.get(1), row.get(2), row.get(3), row.get(4)];
        assert_eq!(
            got,
            [orders == 0, orders == 1, orders >= 2, recent >= 1],
            "{id}: {orders} delivered orders, {recent} recent"
        );
        repeat += i64::from(got[2]);
    }
    assert!(repeat > 20, "the generator makes repeat buyers: {repeat}");
}

/// `order_value` for June 2018 counts delivered orders and their payments.
#[tokio::test]
async fn olist_order_value_counts_delivered_orders() {
    let client = olist_server().connect().await;
    run_report(&client, "order_value", "2018-06-30").await;
    let row = client
        .query_one(
            "SELECT orders, customers, revenue FROM reports.order_value \
             WHERE as_of = DATE '2018-06-30' AND segment_kind = 'all'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("reports.order_value: {}", message(&e)));
    let shop = olist::shop();
    let june: Vec<&olist::Order> = shop
        .orders
        .iter()
        .filter(|o| {
            o.status == "delivered"
                && o.ts.date() >= NaiveDate::from_ymd_opt(2018, 6, 1).expect("date")
                && o.ts.date() < NaiveDate::from_ymd_opt(2018, 7, 1).expect("date")
        })
        .collect();
    let buyers: BTreeSet<usize> = june.iter().map(|o| o.person).collect();
    assert_eq!(row.get::<_, i64>(0), june.len() as i64, "orders");
    assert_eq!(row.get::<_, i64>(1), buyers.len() as i64, "customers");
    assert_close(row.get(2), june.iter().map(|o| o.amount).sum(), "revenue");
}

/// `repurchase` for June 2018: buyers, repeat buyers, May's buyers and those who came back,
/// and the mean days since each June order's previous delivered order.
#[tokio::test]
async fn olist_repurchase_counts_delivered_buyers() {
    let client = olist_server().connect().await;
    run_report(&client, "repurchase", "2018-06-30").await;
    let row = client
        .query_one(
            "SELECT buyers, repeat_buyers, previous_period_buyers, \
                    repurchase_from_previous_period, avg_repurchase_interval_days \
             FROM reports.repurchase WHERE as_of = DATE '2018-06-30' AND segment_kind = 'all'",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("reports.repurchase: {}", message(&e)));
    let day = |m: u32, d: u32| NaiveDate::from_ymd_opt(2018, m, d).expect("date");
    let mut delivered: Vec<&olist::Order> = olist::shop()
        .orders
        .iter()
        .filter(|o| o.status == "delivered" && o.ts.date() < day(7, 1))
        .collect();
    delivered.sort_by(|a, b| (a.ts, &a.order_id).cmp(&(b.ts, &b.order_id)));
    let mut june: HashMap<usize, i64> = HashMap::new();
    let mut may: BTreeSet<usize> = BTreeSet::new();
    let mut last: HashMap<usize, NaiveDate> = HashMap::new();
    let mut intervals = Vec::new();
    for order in delivered {
        let date = order.ts.date();
        if date >= day(6, 1) {
            *june.entry(order.person).or_default() += 1;
            if let Some(previous) = last.get(&order.person) {
                intervals.push((date - *previous).num_days() as f64);
            }
        } else if date >= day(5, 1) {
            may.insert(order.person);
        }
        last.insert(order.person, date);
    }
    let returning = may.iter().filter(|p| june.contains_key(p)).count();
    assert_eq!(row.get::<_, i64>(0), june.len() as i64, "buyers");
    assert_eq!(
        row.get::<_, i64>(1),
        june.values().filter(|n| **n >= 2).count() as i64,
        "repeat buyers"
    );
    assert_eq!(row.get::<_, i64>(2), may.len() as i64, "May's buyers");
    assert_close(
        row.get(3),
        returning as f64 / may.len() as f64,
        "repurchase from the previous period",
    );
    assert!(
        !intervals.is_empty(),
        "the generator makes repeat buyers in June"
    );
    assert_close(
        row.get(4),
        intervals.iter().sum::<f64>() / intervals.len() as f64,
        "mean repurchase interval",
    );
}

/// `cohort_retention` as of May 2018 (orders after it exist) is the matrix of delivered
/// orders up to then: canceled and shipped orders neither start a cohort nor retain it.
#[tokio::test]
async fn olist_cohort_retention_counts_delivered_orders_only() {
    let client = olist_server().connect().await;
    run_report(&client, "cohort_retention", "2018-05-31").await;
    let served = served_cohorts(&client, "2018-05-31").await;
    let expected = cohort_matrix(
        olist::shop()
            .orders
            .iter()
            .filter(|o| o.status == "delivered")
            .map(|o| (o.person, o.ts.date())),
        NaiveDate::from_ymd_opt(2018, 5, 31).expect("date"),
    );
    assert_eq!(served.len(), expected.len(), "cells");
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(cell, want)| served.get(*cell) != Some(*want))
        .map(|((cohort, k), want)| {
            format!(
                "{cohort} +{k}: served {:?}, expected {want:?}",
                served.get(&(*cohort, *k))
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} cells differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every report says whether it can run on this shop: what its front matter needs against
/// what the mapping provides. The available ones run; the others are refused with 55000 and
/// their reason; the browse reports need events.
#[tokio::test]
async fn olist_reports_run_or_say_what_they_need() {
    let client = olist_server().connect().await;
    let listed = report_availability(&client).await;
    for name in ["order_value", "repurchase", "cohort_retention"] {
        assert_eq!(
            listed.get(name).map(|(available, _)| *available),
            Some(true),
            "{name}: {listed:?}"
        );
    }
    for name in ["browse_funnel", "browse_paths", "browse_sessions"] {
        assert_needs_events(&client, &listed, name).await;
    }
    let mut failures = Vec::new();
    for (name, (available, reason)) in &listed {
        if let Some(needs) = declared_needs(name) {
            let expected = needs.iter().all(|n| meets(n, OLIST_PROVIDES));
            if *available != expected {
                failures.push(format!(
                    "{name}: available = {available} ({reason:?}) but it needs {needs:?}"
                ));
            }
        }
        let sql = format!("RUN REPORT {name} AS OF DATE '2018-06-30'");
        match (client.simple_query(&sql).await, available) {
            (Ok(_), true) => {}
            (Err(e), false) if support::sqlstate(&e) == "55000" => {
                let text = message(&e);
                if !text.contains("needs") {
                    failures.push(format!(
                        "{name}: refused without saying what it needs: {text}"
                    ));
                }
            }
            (Ok(_), false) => failures.push(format!("{name}: listed unavailable but ran")),
            (Err(e), _) => {
                failures.push(format!("{name}: {} {}", support::sqlstate(&e), message(&e)))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // satisfaction reads support tickets and NPS answers, which Olist does not have (reviews
    // are not either): its availability follows its declared needs, checked above.
    assert!(listed.contains_key("satisfaction"), "{listed:?}");
}

// ---------------------------------------------------------------------------------------------
// (c) init → check → serve
// ---------------------------------------------------------------------------------------------

/// A shop whose orders say `buyer_id`, `created_at`, `total_price` and `financial_status`.
const SHOP_CSV: &str = "buyer_id,created_at,total_price,financial_status\n\
    u01,2024-01-05T10:00:00,20.50,paid\n\
    u01,2024-02-11T09:30:00,31.00,paid\n\
    u02,2024-01-20T18:00:00,12.00,refunded\n\
    u03,2024-03-02T12:00:00,45.25,paid\n\
    u04,2024-03-15T08:15:00,9.99,paid\n\
    u04,2024-03-28T20:45:00,15.00,paid\n";

const SHOP_ORDERS_SQL: &str = "\
SELECT buyer_id AS customer_id,
       CAST(created_at AS TIMESTAMP) AS order_ts,
       total_price AS net_amount,
       CASE financial_status WHEN 'paid' THEN 'completed' ELSE financial_status END AS status
FROM shop_orders
";

#[tokio::test]
async fn init_check_and_serve_a_fresh_project() {
    let temp = tempfile::tempdir().expect("temp dir");
    let project = temp.path().join("shop");
    let project_arg = project.to_str().expect("utf8 path");
    let init = segmint(&["init", project_arg]);
    assert!(init.status.success(), "init: {}", printed(&init));
    for file in [
        "segmint.toml",
        "model/orders.sql",
        "model/customers.sql",
        "sql/views/customer_360.sql",
        "sql/tags/tags.toml",
        "sql/reports/order_value.sql",
    ] {
        assert!(project.join(file).is_file(), "init did not write {file}");
    }
    let template = std::fs::read_to_string(project.join("model/orders.sql")).expect("template");
    for column in ["customer_id", "order_ts", "net_amount"] {
        assert!(
            template.contains(column),
            "the orders template names {column}"
        );
    }

    // A fresh project maps nothing (the templates are all comments): check describes it and
    // fails, since orders is required.
    let fresh = segmint(&["check", "--project", project_arg]);
    assert!(printed(&fresh).contains("orders"), "{}", printed(&fresh));
    assert!(
        !fresh.status.success(),
        "a project without orders is not ready: {}",
        printed(&fresh)
    );

    // The shop's own table, mapped.
    let data = project.join("data/shop_orders.csv");
    write_files(
        &project,
        &[
            ("data/shop_orders.csv", SHOP_CSV),
            ("model/orders.sql", SHOP_ORDERS_SQL),
        ],
    );
    let mut toml = std::fs::read_to_string(project.join("segmint.toml")).expect("segmint.toml");
    toml.push_str(&dataset_toml("shop_orders", &data, "csv"));
    std::fs::write(project.join("segmint.toml"), toml).expect("write segmint.toml");

    // init again keeps what the shop wrote.
    let again = segmint(&["init", project_arg]);
    assert!(again.status.success(), "init again: {}", printed(&again));
    assert_eq!(
        std::fs::read_to_string(project.join("model/orders.sql")).expect("mapping"),
        SHOP_ORDERS_SQL,
        "init overwrote the shop's mapping"
    );

    let check = segmint(&["check", "--project", project_arg]);
    let text = printed(&check);
    assert!(check.status.success(), "check --project: {text}");
    assert!(text.contains("shop_orders"), "{text}");
    assert!(text.contains("order_value"), "reports listed: {text}");
    let config_file = project.join("segmint.toml");
    let check = segmint(&["check", "--config", config_file.to_str().expect("utf8")]);
    assert!(
        check.status.success(),
        "check --config: {}",
        printed(&check)
    );

    let sql = segmint(&[
        "sql",
        "SELECT customer_id, frequency FROM rfm('completed_orders', DATE '2024-04-01') ORDER BY 1",
        "--project",
        project_arg,
        "--format",
        "csv",
    ]);
    assert!(sql.status.success(), "sql --project: {}", printed(&sql));
    assert_eq!(
        String::from_utf8_lossy(&sql.stdout).trim(),
        "customer_id,frequency\nu01,2\nu03,1\nu04,2"
    );

    let mut serve = ServeProcess::start(
        &["serve", "--project", project_arg, "--listen", "127.0.0.1:0"],
        "warn",
    );
    let client = support::connect_to(&serve.conn_str("segmint")).await;
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE status = 'completed') FROM model.orders",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("model.orders: {}", message(&e)));
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (6, 5));
    let buyers: i64 = client
        .query_one(
            "SELECT count(*) FROM rfm('completed_orders', DATE '2024-04-01')",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("rfm: {}", message(&e)))
        .get(0);
    assert_eq!(buyers, 3, "u02 only has a refunded order");
    let ids: Vec<String> = client
        .query(
            "SELECT customer_id FROM customer_tags(DATE '2024-04-01') ORDER BY 1",
            &[],
        )
        .await
        .unwrap_or_else(|e| panic!("customer_tags: {}", message(&e)))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        ids,
        ["u01", "u02", "u03", "u04"],
        "text ids, derived customers"
    );
    serve.terminate();
    let _ = serve.child.wait();
}

// ---------------------------------------------------------------------------------------------
// (d) Broken mappings
// ---------------------------------------------------------------------------------------------

const RAW_ORDERS_CSV: &str = "customer_id,order_date,amount\n\
    1,2024-01-03,10.0\n\
    1,2024-02-07,12.5\n\
    2,2024-01-15,40.0\n";

const OTHER_CSV: &str = "sku,price\nA,1.5\nB,2.5\n";

/// A project with `model/orders.sql` = `orders_sql` over `raw_orders`, and an unrelated
/// dataset `catalog_items`; returns the kept folder and the config file.
fn broken_project(orders_sql: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    write_files(
        dir.path(),
        &[
            ("data/raw_orders.csv", RAW_ORDERS_CSV),
            ("data/catalog_items.csv", OTHER_CSV),
            ("model/orders.sql", orders_sql),
        ],
    );
    let mut toml = config_head(dir.path(), &dir.path().join("reports"), "2024-03-01");
    toml.push_str(&dataset_toml(
        "raw_orders",
        &dir.path().join("data/raw_orders.csv"),
        "csv",
    ));
    toml.push_str(&dataset_toml(
        "catalog_items",
        &dir.path().join("data/catalog_items.csv"),
        "csv",
    ));
    let config = dir.path().join("segmint.toml");
    std::fs::write(&config, toml).expect("write config");
    (dir, config)
}

/// The broken mapping is reported in `segmint.entities` with the column and its expected
/// type; `order_value` is refused with 55000 instead of a planning error; the datasets still
/// answer; `segmint check` exits non-zero with a line naming entity and column.
async fn assert_broken(orders_sql: &str, column: &str, type_words: &[&str]) {
    let (_dir, config_file) = broken_project(orders_sql);
    let config = segmint::Config::from_file(&config_file).expect("config");
    let server = TestServer::start(config);
    let client = server.connect().await;

    let entities = entities(&client).await;
    let (source, status, error) = entities
        .get("orders")
        .unwrap_or_else(|| panic!("orders not in segmint.entities: {entities:?}"));
    let error = error
        .clone()
        .unwrap_or_else(|| panic!("orders: no error ({source}, {status})"));
    assert!(
        error.contains("orders") && error.contains(column),
        "names entity and column: {error}"
    );
    let lower = error.to_lowercase();
    assert!(
        type_words.iter().any(|w| lower.contains(w)),
        "names the expected type ({type_words:?}): {error}"
    );
    assert!(!error.contains('\n'), "one line: {error:?}");
    assert_ne!(status, "valid", "{status}: {error}");

    for (table, rows) in [("raw_orders", 3), ("catalog_items", 2)] {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{table} must still answer: {}", message(&e)))
            .get(0);
        assert_eq!(n, rows, "{table}");
    }
    let check = segmint(&["check", "--config", config_file.to_str().expect("utf8")]);
    let text = printed(&check);
    assert!(!check.status.success(), "check must fail: {text}");
    assert!(
        text.lines().any(|l| l.contains("orders")
            && l.contains(column)
            && type_words.iter().any(|w| l.to_lowercase().contains(w))),
        "no line names orders, {column} and its type: {text}"
    );

    // What reads orders is refused with its reason, not run on an empty view.
    let listed = report_availability(&client).await;
    let (available, reason) = listed
        .get("order_value")
        .cloned()
        .unwrap_or_else(|| panic!("order_value not in segmint.reports: {listed:?}"));
    let refused = client
        .simple_query("RUN REPORT order_value AS OF DATE '2024-02-29'")
        .await;
    assert!(
        !available && refused.is_err(),
        "order_value on invalid orders: available = {available} ({reason:?}), RUN REPORT {}",
        match &refused {
            Ok(_) => "succeeded".to_string(),
            Err(e) => format!("{} {}", support::sqlstate(e), message(e)),
        }
    );
    if let Err(e) = refused {
        assert_eq!(support::sqlstate(&e), "55000", "{}", message(&e));
    }
}

#[tokio::test]
async fn a_mapping_without_net_amount_is_reported_and_the_rest_is_served() {
    assert_broken(
        "SELECT customer_id, CAST(order_date AS TIMESTAMP) AS order_ts FROM raw_orders\n",
        "net_amount",
        &["numeric", "double", "decimal", "integer"],
    )
    .await;
}

#[tokio::test]
async fn a_mapping_with_a_text_order_ts_is_reported_and_the_rest_is_served() {
    assert_broken(
        "SELECT customer_id, CAST(order_date AS VARCHAR) AS order_ts, amount AS net_amount \
         FROM raw_orders\n",
        "order_ts",
        &["timestamp"],
    )
    .await;
}
