//! Row types of the demo tables and their Arrow schemas.
//!
//! Rows are plain structs; a chunk of rows becomes one `RecordBatch` in [`Table::batch`].
//! Money is `numeric(12,2)` (Decimal128, in cents), order times are `timestamptz`, other
//! event times `timestamp`, and customers' interests a `text[]`.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int16Array, Int32Array,
    Int64Array, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

/// Precision and scale of money columns.
const MONEY: DataType = DataType::Decimal128(12, 2);

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn ts_utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

/// A demo table: its name, schema and how rows become a batch.
pub trait Table: Sized {
    /// The table (and folder) name.
    const NAME: &'static str;
    /// The Arrow schema.
    fn schema() -> SchemaRef;
    /// Converts rows to a batch with [`Self::schema`].
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError>;
}

fn money(values: impl Iterator<Item = i64>) -> Result<ArrayRef, ArrowError> {
    Ok(Arc::new(
        Decimal128Array::from_iter_values(values.map(i128::from))
            .with_precision_and_scale(12, 2)?,
    ))
}

fn text<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn opt_text<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn micros(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values))
}

fn micros_utc(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone("UTC"))
}

/// A registered customer (`customers`).
#[derive(Debug, Clone)]
pub struct Customer {
    /// Customer id.
    pub customer_id: i64,
    /// Registration time (µs since epoch).
    pub registered_at: i64,
    /// Birth date (days since epoch).
    pub birth_date: i32,
    /// `female`, `male` or `unknown`.
    pub gender: &'static str,
    /// Sales region.
    pub region: &'static str,
    /// City tier 1..5.
    pub city_tier: i16,
    /// How the customer was acquired.
    pub acquisition_channel: &'static str,
    /// Accepts marketing messages.
    pub marketing_opt_in: bool,
    /// Declared interests (categories).
    pub interests: Vec<&'static str>,
}

impl Table for Customer {
    const NAME: &'static str = "customers";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("registered_at", ts(), false),
            Field::new("birth_date", DataType::Date32, true),
            Field::new("gender", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("city_tier", DataType::Int16, false),
            Field::new("acquisition_channel", DataType::Utf8, false),
            Field::new("marketing_opt_in", DataType::Boolean, false),
            Field::new(
                "interests",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let mut interests = ListBuilder::new(StringBuilder::new());
        for row in rows {
            for interest in &row.interests {
                interests.values().append_value(interest);
            }
            interests.append(true);
        }
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.customer_id),
                )),
                micros(rows.iter().map(|r| r.registered_at)),
                Arc::new(Date32Array::from_iter_values(
                    rows.iter().map(|r| r.birth_date),
                )),
                text(rows.iter().map(|r| r.gender)),
                text(rows.iter().map(|r| r.region)),
                Arc::new(Int16Array::from_iter_values(
                    rows.iter().map(|r| r.city_tier),
                )),
                text(rows.iter().map(|r| r.acquisition_channel)),
                Arc::new(BooleanArray::from_iter(
                    rows.iter().map(|r| Some(r.marketing_opt_in)),
                )),
                Arc::new(interests.finish()),
            ],
        )
    }
}

/// An order header (`orders`), partitioned by `order_month`.
#[derive(Debug, Clone)]
pub struct Order {
    /// Order id.
    pub order_id: i64,
    /// Buyer.
    pub customer_id: i64,
    /// Order time (µs since epoch, UTC).
    pub order_ts: i64,
    /// `web`, `app`, `mini-program` or `offline store`.
    pub channel: &'static str,
    /// Sum of item lines, in cents.
    pub gross_amount: i64,
    /// Discount, in cents.
    pub discount_amount: i64,
    /// Gross minus discount, in cents.
    pub net_amount: i64,
    /// `completed`, `refunded` or `cancelled`.
    pub status: &'static str,
    /// Number of item lines.
    pub item_count: i32,
}

impl Table for Order {
    const NAME: &'static str = "orders";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("order_ts", ts_utc(), false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("gross_amount", MONEY, false),
            Field::new("discount_amount", MONEY, false),
            Field::new("net_amount", MONEY, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("item_count", DataType::Int32, false),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.order_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.customer_id),
                )),
                micros_utc(rows.iter().map(|r| r.order_ts)),
                text(rows.iter().map(|r| r.channel)),
                money(rows.iter().map(|r| r.gross_amount))?,
                money(rows.iter().map(|r| r.discount_amount))?,
                money(rows.iter().map(|r| r.net_amount))?,
                text(rows.iter().map(|r| r.status)),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.item_count),
                )),
            ],
        )
    }
}

/// One line of an order (`order_items`).
#[derive(Debug, Clone)]
pub struct OrderItem {
    /// The order.
    pub order_id: i64,
    /// Line number within the order, from 1.
    pub line_no: i16,
    /// Product bought.
    pub product_id: i32,
    /// The product's brand.
    pub brand: &'static str,
    /// The product's category.
    pub category: &'static str,
    /// Units.
    pub quantity: i32,
    /// Price per unit, in cents.
    pub unit_price: i64,
}

impl Table for OrderItem {
    const NAME: &'static str = "order_items";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("order_id", DataType::Int64, false),
            Field::new("line_no", DataType::Int16, false),
            Field::new("product_id", DataType::Int32, false),
            Field::new("brand", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("quantity", DataType::Int32, false),
            Field::new("unit_price", MONEY, false),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.order_id),
                )),
                Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.line_no))),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.product_id),
                )),
                text(rows.iter().map(|r| r.brand)),
                text(rows.iter().map(|r| r.category)),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.quantity),
                )),
                money(rows.iter().map(|r| r.unit_price))?,
            ],
        )
    }
}

/// A product of the catalog (`products`).
#[derive(Debug, Clone)]
pub struct Product {
    /// Product id.
    pub product_id: i32,
    /// Display name.
    pub name: String,
    /// Brand.
    pub brand: &'static str,
    /// Category.
    pub category: &'static str,
    /// List price, in cents.
    pub list_price: i64,
    /// Launch date (days since epoch).
    pub launched_on: i32,
}

impl Table for Product {
    const NAME: &'static str = "products";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("product_id", DataType::Int32, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("brand", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("list_price", MONEY, false),
            Field::new("launched_on", DataType::Date32, false),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.product_id),
                )),
                text(rows.iter().map(|r| r.name.as_str())),
                text(rows.iter().map(|r| r.brand)),
                text(rows.iter().map(|r| r.category)),
                money(rows.iter().map(|r| r.list_price))?,
                Arc::new(Date32Array::from_iter_values(
                    rows.iter().map(|r| r.launched_on),
                )),
            ],
        )
    }
}

/// A browsing event (`events`).
#[derive(Debug, Clone)]
pub struct Event {
    /// Event id.
    pub event_id: i64,
    /// Who.
    pub customer_id: i64,
    /// Browsing session.
    pub session_id: i64,
    /// When (µs since epoch).
    pub event_ts: i64,
    /// `browse`, `search`, `add_to_cart` or `favorite`.
    pub event_type: &'static str,
    /// Product concerned (none for searches).
    pub product_id: Option<i32>,
    /// Search text (searches only).
    pub search_term: Option<&'static str>,
    /// Seconds spent.
    pub dwell_seconds: f64,
    /// Channel of the session.
    pub channel: &'static str,
}

impl Table for Event {
    const NAME: &'static str = "events";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("event_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("session_id", DataType::Int64, false),
            Field::new("event_ts", ts(), false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("product_id", DataType::Int32, true),
            Field::new("search_term", DataType::Utf8, true),
            Field::new("dwell_seconds", DataType::Float64, false),
            Field::new("channel", DataType::Utf8, false),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.event_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.customer_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.session_id),
                )),
                micros(rows.iter().map(|r| r.event_ts)),
                text(rows.iter().map(|r| r.event_type)),
                Arc::new(rows.iter().map(|r| r.product_id).collect::<Int32Array>()),
                opt_text(rows.iter().map(|r| r.search_term)),
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.dwell_seconds),
                )),
                text(rows.iter().map(|r| r.channel)),
            ],
        )
    }
}

/// A product review (`reviews`).
#[derive(Debug, Clone)]
pub struct Review {
    /// Review id.
    pub review_id: i64,
    /// The order reviewed.
    pub order_id: i64,
    /// Reviewer.
    pub customer_id: i64,
    /// Product reviewed.
    pub product_id: i32,
    /// When (µs since epoch).
    pub created_at: i64,
    /// Stars 1..5.
    pub rating: i16,
    /// Characters of review text.
    pub text_length: i32,
    /// Times shared.
    pub shares: i32,
}

impl Table for Review {
    const NAME: &'static str = "reviews";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("review_id", DataType::Int64, false),
            Field::new("order_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("product_id", DataType::Int32, false),
            Field::new("created_at", ts(), false),
            Field::new("rating", DataType::Int16, false),
            Field::new("text_length", DataType::Int32, false),
            Field::new("shares", DataType::Int32, false),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.review_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.order_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.customer_id),
                )),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.product_id),
                )),
                micros(rows.iter().map(|r| r.created_at)),
                Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.rating))),
                Arc::new(Int32Array::from_iter_values(
                    rows.iter().map(|r| r.text_length),
                )),
                Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.shares))),
            ],
        )
    }
}

/// A customer-service ticket (`support_tickets`).
#[derive(Debug, Clone)]
pub struct SupportTicket {
    /// Ticket id.
    pub ticket_id: i64,
    /// Who raised it.
    pub customer_id: i64,
    /// The order concerned, if any.
    pub order_id: Option<i64>,
    /// Opened (µs since epoch).
    pub created_at: i64,
    /// First agent reply.
    pub first_response_at: i64,
    /// Closed; none while open.
    pub resolved_at: Option<i64>,
    /// `complaint`, `question` or `return`.
    pub kind: &'static str,
    /// CSAT 1..5, when the customer answered.
    pub satisfaction: Option<i16>,
}

impl Table for SupportTicket {
    const NAME: &'static str = "support_tickets";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("ticket_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("order_id", DataType::Int64, true),
            Field::new("created_at", ts(), false),
            Field::new("first_response_at", ts(), false),
            Field::new("resolved_at", ts(), true),
            Field::new("kind", DataType::Utf8, false),
            Field::new("satisfaction", DataType::Int16, true),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.ticket_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.customer_id),
                )),
                Arc::new(rows.iter().map(|r| r.order_id).collect::<Int64Array>()),
                micros(rows.iter().map(|r| r.created_at)),
                micros(rows.iter().map(|r| r.first_response_at)),
                Arc::new(
                    rows.iter()
                        .map(|r| r.resolved_at)
                        .collect::<TimestampMicrosecondArray>(),
                ),
                text(rows.iter().map(|r| r.kind)),
                Arc::new(rows.iter().map(|r| r.satisfaction).collect::<Int16Array>()),
            ],
        )
    }
}

/// A Net Promoter Score answer (`nps_responses`).
#[derive(Debug, Clone)]
pub struct NpsResponse {
    /// Response id.
    pub response_id: i64,
    /// Who answered.
    pub customer_id: i64,
    /// When (µs since epoch).
    pub responded_at: i64,
    /// Score 0..10.
    pub score: i16,
}

impl Table for NpsResponse {
    const NAME: &'static str = "nps_responses";
    fn schema() -> SchemaRef {
        schema(vec![
            Field::new("response_id", DataType::Int64, false),
            Field::new("customer_id", DataType::Int64, false),
            Field::new("responded_at", ts(), false),
            Field::new("score", DataType::Int16, false),
        ])
    }
    fn batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(
            Self::schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.response_id),
                )),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|r| r.customer_id),
                )),
                micros(rows.iter().map(|r| r.responded_at)),
                Arc::new(Int16Array::from_iter_values(rows.iter().map(|r| r.score))),
            ],
        )
    }
}
