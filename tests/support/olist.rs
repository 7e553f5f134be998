//! An Olist-shaped shop (the Brazilian marketplace's public data set, in miniature), generated
//! deterministically as Parquet: text hex ids, one `customer_id` per order that maps to a
//! person's `customer_unique_id`, payments and reviews in their own tables, statuses
//! `delivered` / `canceled` / `shipped`, and no browsing events. The tests map it onto
//! Segmint's customer model with joins and check what comes out against [`Shop`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

/// People (distinct `customer_unique_id`s) in the generated shop.
pub const PERSONS: usize = 500;

/// One buyer.
#[derive(Debug, Clone)]
pub struct Person {
    /// `customer_unique_id`: 32 lowercase hex characters.
    pub unique_id: String,
    /// `customer_state` (two letters).
    pub state: String,
    /// `customer_city`.
    pub city: String,
}

/// One order, with what the tests need to recompute the reports.
#[derive(Debug, Clone)]
pub struct Order {
    /// `order_id`: 32 hex characters.
    pub order_id: String,
    /// The per-order `customer_id` of Olist (32 hex characters).
    pub customer_id: String,
    /// Index into [`Shop::persons`].
    pub person: usize,
    /// `order_purchase_timestamp`.
    pub ts: NaiveDateTime,
    /// `order_status`: `delivered`, `canceled` or `shipped`.
    pub status: &'static str,
    /// The sum of the order's payments (whole cents, so sums are exact in binary64 up to
    /// rounding of the cents themselves).
    pub amount: f64,
    /// The order's review score, if it was reviewed.
    pub review: Option<i64>,
}

/// The generated shop: its Parquet files and the rows written to them.
#[derive(Debug)]
pub struct Shop {
    /// Folder holding `olist_*.parquet`.
    pub dir: PathBuf,
    /// The buyers.
    pub persons: Vec<Person>,
    /// The orders, in purchase order.
    pub orders: Vec<Order>,
}

impl Shop {
    /// The Parquet file of table `name` (`olist_orders`, ...).
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.parquet"))
    }

    /// The table names written.
    pub fn tables() -> [&'static str; 4] {
        [
            "olist_orders",
            "olist_payments",
            "olist_reviews",
            "olist_customers",
        ]
    }
}

/// SplitMix64: small, deterministic, good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn hex_id(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

const STATES: [(&str, &str); 6] = [
    ("SP", "sao paulo"),
    ("RJ", "rio de janeiro"),
    ("MG", "belo horizonte"),
    ("RS", "porto alegre"),
    ("PR", "curitiba"),
    ("BA", "salvador"),
];

/// The first purchase day of the generated history; purchases run for [`DAYS`] days.
pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2017, 1, 1).expect("valid date")
}

/// Days of purchase history (2017-01-01 up to 2018-08-31).
pub const DAYS: u64 = 608;

/// The shop, generated once per test run into a kept temporary folder.
pub fn shop() -> &'static Shop {
    static SHOP: OnceLock<Shop> = OnceLock::new();
    SHOP.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("segmint-olist")
            .tempdir()
            .expect("temp dir")
            .keep();
        generate(&dir, 20_17)
    })
}

/// Generates the shop into `dir` with `seed`.
pub fn generate(dir: &Path, seed: u64) -> Shop {
    let mut rng = Rng(seed);
    let persons: Vec<Person> = (0..PERSONS)
        .map(|_| {
            let (state, city) = STATES[rng.below(STATES.len() as u64) as usize];
            Person {
                unique_id: rng.hex_id(),
                state: state.to_string(),
                city: city.to_string(),
            }
        })
        .collect();
    let start = first_day().and_hms_opt(0, 0, 0).expect("midnight");
    let mut orders = Vec::new();
    // Payment rows (order_id, payment_sequential, payment_value).
    let mut payments: Vec<(String, i64, f64)> = Vec::new();
    for (person, _) in persons.iter().enumerate() {
        // 60% buy once, 25% twice, 15% three or four times.
        let n = match rng.below(100) {
            0..60 => 1,
            60..85 => 2,
            _ => 3 + rng.below(2),
        };
        for _ in 0..n {
            let ts = start + TimeDelta::seconds(rng.below(DAYS * 86_400) as i64);
            let status = match rng.below(100) {
                0..85 => "delivered",
                85..93 => "canceled",
                _ => "shipped",
            };
            let order_id = rng.hex_id();
            let parts = 1 + rng.below(2);
            let mut cents = 0;
            for sequential in 1..=parts {
                let part = 500 + rng.below(30_000) as i64;
                cents += part;
                payments.push((order_id.clone(), sequential as i64, part as f64 / 100.0));
            }
            let review =
                (status == "delivered" && rng.below(10) < 7).then(|| 1 + rng.below(5) as i64);
            orders.push(Order {
                order_id,
                customer_id: rng.hex_id(),
                person,
                ts,
                status,
                amount: cents as f64 / 100.0,
                review,
            });
        }
    }
    orders.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.order_id.cmp(&b.order_id)));

    let micros = |ts: &NaiveDateTime| ts.and_utc().timestamp_micros();
    let timestamp = || DataType::Timestamp(TimeUnit::Microsecond, None);
    let text = |values: Vec<&str>| -> ArrayRef { Arc::new(StringArray::from(values)) };

    write(
        &dir.join("olist_orders.parquet"),
        vec![
            (
                "order_id",
                DataType::Utf8,
                text(orders.iter().map(|o| o.order_id.as_str()).collect()),
            ),
            (
                "customer_id",
                DataType::Utf8,
                text(orders.iter().map(|o| o.customer_id.as_str()).collect()),
            ),
            (
                "order_status",
                DataType::Utf8,
                text(orders.iter().map(|o| o.status).collect()),
            ),
            (
                "order_purchase_timestamp",
                timestamp(),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    orders.iter().map(|o| micros(&o.ts)),
                )),
            ),
        ],
    );
    write(
        &dir.join("olist_payments.parquet"),
        vec![
            (
                "order_id",
                DataType::Utf8,
                text(payments.iter().map(|p| p.0.as_str()).collect()),
            ),
            (
                "payment_sequential",
                DataType::Int64,
                Arc::new(Int64Array::from_iter_values(payments.iter().map(|p| p.1))),
            ),
            (
                "payment_value",
                DataType::Float64,
                Arc::new(Float64Array::from_iter_values(payments.iter().map(|p| p.2))),
            ),
        ],
    );
    let reviewed: Vec<&Order> = orders.iter().filter(|o| o.review.is_some()).collect();
    let review_ids: Vec<String> = reviewed
        .iter()
        .map(|o| format!("r{}", &o.order_id[..31]))
        .collect();
    write(
        &dir.join("olist_reviews.parquet"),
        vec![
            (
                "review_id",
                DataType::Utf8,
                text(review_ids.iter().map(String::as_str).collect()),
            ),
            (
                "order_id",
                DataType::Utf8,
                text(reviewed.iter().map(|o| o.order_id.as_str()).collect()),
            ),
            (
                "review_score",
                DataType::Int64,
                Arc::new(Int64Array::from_iter_values(
                    reviewed.iter().map(|o| o.review.unwrap_or(0)),
                )),
            ),
            (
                "review_creation_date",
                timestamp(),
                Arc::new(TimestampMicrosecondArray::from_iter_values(
                    reviewed
                        .iter()
                        .map(|o| micros(&(o.ts + TimeDelta::days(7)))),
                )),
            ),
        ],
    );
    write(
        &dir.join("olist_customers.parquet"),
        vec![
            (
                "customer_id",
                DataType::Utf8,
                text(orders.iter().map(|o| o.customer_id.as_str()).collect()),
            ),
            (
                "customer_unique_id",
                DataType::Utf8,
                text(
                    orders
                        .iter()
                        .map(|o| persons[o.person].unique_id.as_str())
                        .collect(),
                ),
            ),
            (
                "customer_city",
                DataType::Utf8,
                text(
                    orders
                        .iter()
                        .map(|o| persons[o.person].city.as_str())
                        .collect(),
                ),
            ),
            (
                "customer_state",
                DataType::Utf8,
                text(
                    orders
                        .iter()
                        .map(|o| persons[o.person].state.as_str())
                        .collect(),
                ),
            ),
        ],
    );
    Shop {
        dir: dir.to_path_buf(),
        persons,
        orders,
    }
}

fn write(path: &Path, columns: Vec<(&str, DataType, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, data_type, _)| Field::new(*name, data_type.clone(), false))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, _, array)| array).collect(),
    )
    .expect("batch");
    let file = std::fs::File::create(path).expect("create parquet file");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("parquet writer");
    writer.write(&batch).expect("write batch");
    writer.close().expect("close parquet file");
}
