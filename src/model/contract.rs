//! The customer model's contract: the entities Segmint's views, tags, segments, goals and
//! reports read, and for each its columns with the types accepted, whether the column is
//! required, what it means, and what stands in for it when a shop does not have it.
//!
//! This table is the one source of truth: `docs/model.md` is generated from it
//! ([`markdown`], stale-checked by a test), `segmint.model` serves it as a table, `segmint
//! init` writes it into the mapping templates, and the model views are built and checked
//! against it.

use datafusion::arrow::datatypes::DataType;

/// The kinds of column type the contract accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An identifier: any integer type (served as BIGINT) or text (Olist hex ids, e-mail hashes).
    Id,
    /// A point in time: a timestamp of any unit, with or without a zone; a DATE is read as
    /// midnight.
    Timestamp,
    /// A calendar day: DATE (a timestamp is cut to its day).
    Date,
    /// A number: integer, floating point or decimal.
    Numeric,
    /// A whole number.
    Integer,
    /// Text.
    Text,
    /// True or false.
    Boolean,
    /// A list of text values.
    TextList,
}

impl Kind {
    /// The types accepted, as written in the docs and `segmint.model`.
    pub fn accepted(self) -> &'static str {
        match self {
            Kind::Id => "integer or text",
            Kind::Timestamp => "timestamp, timestamptz or date",
            Kind::Date => "date or timestamp",
            Kind::Numeric => "integer, double or decimal",
            Kind::Integer => "integer",
            Kind::Text => "text",
            Kind::Boolean => "boolean",
            Kind::TextList => "text[]",
        }
    }

    /// Whether a column of type `found` can serve as this kind.
    pub fn accepts(self, found: &DataType) -> bool {
        use DataType::*;
        let integer = found.is_integer();
        let text = matches!(found, Utf8 | Utf8View | LargeUtf8);
        match self {
            Kind::Id => integer || text,
            Kind::Timestamp | Kind::Date => {
                matches!(found, Timestamp(_, _) | Date32 | Date64)
            }
            Kind::Numeric => integer || found.is_floating() || found.is_decimal(),
            Kind::Integer => integer,
            Kind::Text => text,
            Kind::Boolean => matches!(found, Boolean),
            Kind::TextList => match found {
                List(field) | LargeList(field) => {
                    matches!(field.data_type(), Utf8 | Utf8View | LargeUtf8)
                }
                _ => false,
            },
        }
    }

    /// The SQL type a column of this kind is cast to when the shop's type needs widening
    /// (`None`: kept as the shop's type).
    pub fn normalized(self, found: &DataType) -> Option<&'static str> {
        match self {
            Kind::Id if found.is_integer() && *found != DataType::Int64 => Some("BIGINT"),
            Kind::Timestamp if matches!(found, DataType::Date32 | DataType::Date64) => {
                Some("TIMESTAMP")
            }
            Kind::Date if matches!(found, DataType::Timestamp(_, _) | DataType::Date64) => {
                Some("DATE")
            }
            _ => None,
        }
    }

    /// The SQL type of a NULL standing in for a missing column of this kind.
    pub fn null_type(self) -> &'static str {
        match self {
            Kind::Id => "BIGINT",
            Kind::Timestamp => "TIMESTAMP",
            Kind::Date => "DATE",
            Kind::Numeric => "DOUBLE",
            Kind::Integer => "INTEGER",
            Kind::Text => "VARCHAR",
            Kind::Boolean => "BOOLEAN",
            Kind::TextList => "VARCHAR[]",
        }
    }
}

/// What stands in for an optional column the shop does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// NULL of the column's kind.
    Null,
    /// A SQL expression over the entity's other contract columns.
    Expression(&'static str),
}

/// One column of an entity.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The column name the views and reports read.
    pub name: &'static str,
    /// The types accepted.
    pub kind: Kind,
    /// Whether the entity is unusable without it.
    pub required: bool,
    /// What the column means.
    pub meaning: &'static str,
    /// What stands in for it when missing (optional columns only).
    pub missing: Missing,
}

/// One entity of the model.
#[derive(Debug, Clone, Copy)]
pub struct Entity {
    /// The entity name: `model/<name>.sql` maps it, `model.<name>` serves it.
    pub name: &'static str,
    /// What one row is.
    pub grain: &'static str,
    /// Its columns, in the order the model view serves them.
    pub columns: &'static [Column],
}

impl Entity {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn required(name: &'static str, kind: Kind, meaning: &'static str) -> Column {
    Column {
        name,
        kind,
        required: true,
        meaning,
        missing: Missing::Null,
    }
}

const fn optional(name: &'static str, kind: Kind, meaning: &'static str) -> Column {
    Column {
        name,
        kind,
        required: false,
        meaning,
        missing: Missing::Null,
    }
}

const fn defaulted(
    name: &'static str,
    kind: Kind,
    meaning: &'static str,
    default: &'static str,
) -> Column {
    Column {
        name,
        kind,
        required: false,
        meaning,
        missing: Missing::Expression(default),
    }
}

/// The entity that must exist: everything else is optional.
pub const REQUIRED_ENTITY: &str = "orders";

/// Every entity, in dependency order (`customers` may be derived from `orders`).
pub const ENTITIES: &[Entity] = &[
    Entity {
        name: "orders",
        grain: "one order (or one purchase line of a transaction log)",
        columns: &[
            defaulted(
                "order_id",
                Kind::Id,
                "the order; when missing, one order per customer and timestamp",
                "concat(CAST(customer_id AS VARCHAR), '@', CAST(order_ts AS VARCHAR))",
            ),
            required("customer_id", Kind::Id, "the buying customer"),
            required("order_ts", Kind::Timestamp, "when the order was placed"),
            required(
                "net_amount",
                Kind::Numeric,
                "what the order is worth to the shop: paid amount after discounts, before \
                 shipping and tax where the shop can tell; this is the amount RFM, value and \
                 revenue read",
            ),
            optional(
                "gross_amount",
                Kind::Numeric,
                "the amount before discounts (price-sensitivity tags)",
            ),
            optional(
                "discount_amount",
                Kind::Numeric,
                "the discount granted on the order (price-sensitivity tags)",
            ),
            defaulted(
                "status",
                Kind::Text,
                "'completed' for an order that counts (paid, delivered, not refunded or \
                 cancelled); anything else ('refunded', 'cancelled', ...) does not count; when \
                 missing, every order counts",
                "'completed'",
            ),
            optional(
                "channel",
                Kind::Text,
                "where the order was placed (web, app, store...); when missing, the channel \
                 breakdowns are dropped",
            ),
            optional("item_count", Kind::Integer, "units in the order"),
        ],
    },
    Entity {
        name: "customers",
        grain: "one customer; when the shop has none, derived from orders (profile columns NULL)",
        columns: &[
            required("customer_id", Kind::Id, "the customer, as orders name them"),
            optional(
                "registered_at",
                Kind::Timestamp,
                "when the customer signed up; NULL counts as registered before any analysis \
                 date (derived customers: their first order)",
            ),
            optional("birth_date", Kind::Date, "date of birth (age-band tags)"),
            optional("gender", Kind::Text, "gender as the shop records it"),
            optional(
                "region",
                Kind::Text,
                "region, state or province (region breakdowns)",
            ),
            optional("city_tier", Kind::Integer, "city tier (1 = largest cities)"),
            optional(
                "acquisition_channel",
                Kind::Text,
                "the channel that brought the customer (acquisition report)",
            ),
            optional(
                "marketing_opt_in",
                Kind::Boolean,
                "whether the customer accepts marketing",
            ),
        ],
    },
    Entity {
        name: "order_items",
        grain: "one line of an order",
        columns: &[
            required("order_id", Kind::Id, "the order, as orders name it"),
            optional("line_no", Kind::Integer, "the line's position in the order"),
            optional("product_id", Kind::Id, "the product bought"),
            optional(
                "brand",
                Kind::Text,
                "the product's brand (brand loyalty tags)",
            ),
            optional(
                "category",
                Kind::Text,
                "the product's category (category funnels)",
            ),
            required("quantity", Kind::Integer, "units bought"),
            required("unit_price", Kind::Numeric, "price paid per unit"),
        ],
    },
    Entity {
        name: "products",
        grain: "one product",
        columns: &[
            required("product_id", Kind::Id, "the product"),
            optional("name", Kind::Text, "the product's name"),
            optional("brand", Kind::Text, "the product's brand"),
            optional("category", Kind::Text, "the product's category"),
            optional("list_price", Kind::Numeric, "the list price"),
            optional("launched_on", Kind::Date, "when it went on sale"),
        ],
    },
    Entity {
        name: "events",
        grain: "one browsing event",
        columns: &[
            optional("event_id", Kind::Id, "the event"),
            required("customer_id", Kind::Id, "the customer browsing"),
            optional("session_id", Kind::Id, "the visit it belongs to"),
            required("event_ts", Kind::Timestamp, "when it happened"),
            required(
                "event_type",
                Kind::Text,
                "'browse' (a product or page view), 'add_to_cart', 'search', ...",
            ),
            optional("product_id", Kind::Id, "the product viewed or added"),
            optional("search_term", Kind::Text, "what was searched for"),
            optional("dwell_seconds", Kind::Numeric, "time spent on the page"),
            optional("channel", Kind::Text, "web, app..."),
        ],
    },
    Entity {
        name: "reviews",
        grain: "one product or order review",
        columns: &[
            optional("review_id", Kind::Id, "the review"),
            optional("order_id", Kind::Id, "the order reviewed"),
            required("customer_id", Kind::Id, "the reviewing customer"),
            optional("product_id", Kind::Id, "the product reviewed"),
            required("created_at", Kind::Timestamp, "when it was written"),
            required("rating", Kind::Integer, "stars, 1 to 5"),
            optional("text_length", Kind::Integer, "length of the review text"),
            optional("shares", Kind::Integer, "times it was shared"),
        ],
    },
    Entity {
        name: "support_tickets",
        grain: "one customer-service ticket",
        columns: &[
            optional("ticket_id", Kind::Id, "the ticket"),
            required("customer_id", Kind::Id, "the customer"),
            optional("order_id", Kind::Id, "the order concerned"),
            required("created_at", Kind::Timestamp, "when it was opened"),
            optional("first_response_at", Kind::Timestamp, "first answer"),
            optional("resolved_at", Kind::Timestamp, "when it was resolved"),
            optional("kind", Kind::Text, "'complaint', 'question', 'refund'..."),
            optional(
                "satisfaction",
                Kind::Integer,
                "the customer's rating of the support, 1 to 5 (CSAT)",
            ),
        ],
    },
    Entity {
        name: "nps_responses",
        grain: "one answer to the net-promoter question",
        columns: &[
            optional("response_id", Kind::Id, "the response"),
            required("customer_id", Kind::Id, "the customer"),
            required("responded_at", Kind::Timestamp, "when they answered"),
            required("score", Kind::Integer, "0 to 10"),
        ],
    },
];

/// The entity called `name`.
pub fn entity(name: &str) -> Option<&'static Entity> {
    ENTITIES.iter().find(|e| e.name == name)
}

/// `docs/model.md`, generated from [`ENTITIES`].
pub fn markdown() -> String {
    let mut out = String::from(
        "# The customer model\n\n\
         <!-- Generated from src/model/contract.rs by `cargo test model_doc`\n\
         (SEGMINT_UPDATE_DOCS=1 rewrites it). Do not edit by hand. -->\n\n\
         Segmint's views (`customer_360`, `completed_orders`), tags, segments, goal tree and \
         reports read the entities below. Each is served as the view `model.<entity>`, built \
         from `model/<entity>.sql` in the project folder (a `SELECT` over the shop's own \
         datasets), else from the dataset of the same name, else (for `customers` only) \
         derived from orders. Only `orders` is required, and of its columns only \
         `customer_id`, `order_ts` and `net_amount`. An optional column the shop lacks is \
         served as its stand-in (below), so SQL written against the model runs on any shop; \
         what needs a missing entity or column says so (`segmint check`, `segmint.reports`). \
         The same contract is served as `segmint.model`; `segmint.entities` says where each \
         entity comes from and whether it is valid.\n\n",
    );
    for entity in ENTITIES {
        out.push_str(&format!(
            "## `{}`\n\nOne row: {}.\n\n| column | accepted types | required | meaning | when missing |\n|---|---|---|---|---|\n",
            entity.name, entity.grain
        ));
        for column in entity.columns {
            let missing = if column.required {
                "the entity is unusable".to_string()
            } else {
                match column.missing {
                    Missing::Null => "NULL".to_string(),
                    Missing::Expression(sql) => format!("`{sql}`"),
                }
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                column.name,
                column.kind.accepted(),
                if column.required { "yes" } else { "no" },
                column.meaning,
                missing
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_needs_only_customer_time_and_amount() {
        let orders = entity("orders").expect("orders");
        let required: Vec<&str> = orders
            .columns
            .iter()
            .filter(|c| c.required)
            .map(|c| c.name)
            .collect();
        assert_eq!(required, ["customer_id", "order_ts", "net_amount"]);
    }

    #[test]
    fn kinds_accept_what_they_say() {
        assert!(Kind::Id.accepts(&DataType::Utf8View));
        assert!(Kind::Id.accepts(&DataType::Int32));
        assert!(!Kind::Id.accepts(&DataType::Float64));
        assert!(Kind::Timestamp.accepts(&DataType::Date32));
        assert!(!Kind::Timestamp.accepts(&DataType::Utf8));
        assert!(Kind::Numeric.accepts(&DataType::Decimal128(12, 2)));
        assert!(!Kind::Numeric.accepts(&DataType::Utf8));
        assert_eq!(Kind::Id.normalized(&DataType::Int32), Some("BIGINT"));
        assert_eq!(Kind::Id.normalized(&DataType::Utf8), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = ENTITIES.iter().map(|e| e.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ENTITIES.len());
        for entity in ENTITIES {
            let mut columns: Vec<&str> = entity.columns.iter().map(|c| c.name).collect();
            columns.sort_unstable();
            columns.dedup();
            assert_eq!(columns.len(), entity.columns.len(), "{}", entity.name);
        }
    }

    #[test]
    fn model_doc_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/model.md");
        let expected = markdown();
        if std::env::var_os("SEGMINT_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &expected).expect("write docs/model.md");
        }
        let found = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            found == expected,
            "docs/model.md is stale: run SEGMINT_UPDATE_DOCS=1 cargo test --lib model_doc"
        );
    }
}
