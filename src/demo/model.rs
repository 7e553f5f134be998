//! The customer model behind the demo data.
//!
//! Each customer is simulated from their own random stream (seeded by the run seed and the
//! customer id), so the data is the same for a seed whatever the number of threads. Shapes:
//! purchase rates are Gamma-distributed (heavy-tailed order counts, like the NBD models of the
//! CRM literature), customers lapse after an exponential lifetime, order timing is thinned by
//! seasonality with 618 (June 18) and Double 11 (November 11) promotion peaks, line prices are
//! log-normal, and every customer has a favourite brand, category, channel and price point,
//! plus a price sensitivity that shows in discounts and promotion timing, so tags find signal.

use chrono::{Datelike, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal, Poisson};

use super::tables::{
    Customer, Event, NpsResponse, Order, OrderItem, Product, Review, SupportTicket,
};

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_MINUTE: i64 = 60_000_000;

/// First day customers can register.
pub const REGISTRATION_START: (i32, u32, u32) = (2023, 11, 1);
/// First day of orders.
pub const HISTORY_START: (i32, u32, u32) = (2024, 11, 1);
/// The day after the last order: the natural `as_of` for analyses of the demo data.
pub const AS_OF: (i32, u32, u32) = (2026, 11, 1);

/// Brands of the demo catalog.
pub const BRANDS: &[&str] = &[
    "Aurora",
    "Bamboo Lane",
    "Cedar & Co",
    "Dune",
    "Ember",
    "Fjord",
    "Glacier",
    "Harbor",
    "Indigo",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple Row",
    "Nimbus",
    "Orchid",
    "Pinecrest",
    "Quartz",
    "Redwood",
    "Saffron",
    "Tundra",
    "Umber",
    "Verve",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zephyr",
    "Atlas",
    "Beacon",
    "Cobalt",
    "Delta",
];

/// Product categories of the demo catalog, with their median price in cents.
pub const CATEGORIES: &[(&str, f64)] = &[
    ("apparel", 6_900.0),
    ("shoes", 12_900.0),
    ("beauty", 4_900.0),
    ("skincare", 8_900.0),
    ("electronics", 29_900.0),
    ("home", 5_900.0),
    ("kitchen", 7_900.0),
    ("grocery", 1_900.0),
    ("baby", 5_500.0),
    ("sports", 9_900.0),
    ("books", 2_900.0),
    ("toys", 4_500.0),
];

const CHANNELS: &[(&str, f64)] = &[
    ("web", 0.35),
    ("app", 0.40),
    ("mini-program", 0.15),
    ("offline store", 0.10),
];
const REGIONS: &[(&str, f64)] = &[
    ("east", 0.30),
    ("south", 0.25),
    ("north", 0.20),
    ("central", 0.12),
    ("west", 0.08),
    ("northeast", 0.05),
];
const GENDERS: &[(&str, f64)] = &[("female", 0.55), ("male", 0.42), ("unknown", 0.03)];
const ACQUISITION: &[(&str, f64)] = &[
    ("organic search", 0.25),
    ("paid search", 0.20),
    ("social", 0.22),
    ("referral", 0.10),
    ("livestream", 0.15),
    ("offline event", 0.08),
];
const CITY_TIERS: &[(i16, f64)] = &[(1, 0.15), (2, 0.30), (3, 0.25), (4, 0.18), (5, 0.12)];
const STATUSES: &[(&str, f64)] = &[("completed", 0.90), ("refunded", 0.05), ("cancelled", 0.05)];

/// Number of products in the catalog.
pub const PRODUCT_COUNT: i32 = 2_000;

/// Microseconds since the epoch at midnight UTC of a date.
pub fn day_micros((y, m, d): (i32, u32, u32)) -> i64 {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_micros())
}

fn days_since_epoch(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

/// A stream of random numbers for one entity of one run.
pub fn entity_rng(seed: u64, stream: u64, id: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng.set_word_pos(u128::from(id) << 20);
    ChaCha8Rng::seed_from_u64(rng.random())
}

fn pick<T: Copy>(rng: &mut impl Rng, weighted: &[(T, f64)]) -> T {
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (value, weight) in weighted {
        if x < *weight {
            return *value;
        }
        x -= weight;
    }
    weighted[weighted.len() - 1].0
}

/// Zipf-like brand index: a few brands are much more popular than the rest.
fn popular_index(rng: &mut impl Rng, n: usize) -> usize {
    let x: f64 = rng.random();
    ((x * x * n as f64) as usize).min(n - 1)
}

/// Builds the product catalog (the same for a seed).
pub fn catalog(seed: u64) -> Vec<Product> {
    let mut rng = entity_rng(seed, 1, 0);
    let launch_start = day_micros(REGISTRATION_START) - 365 * MICROS_PER_DAY;
    (1..=PRODUCT_COUNT)
        .map(|product_id| {
            let brand = BRANDS[popular_index(&mut rng, BRANDS.len())];
            let (category, median) = CATEGORIES[rng.random_range(0..CATEGORIES.len())];
            let price = LogNormal::new(median.ln(), 0.55)
                .map(|d| d.sample(&mut rng))
                .unwrap_or(median);
            let launched = launch_start + rng.random_range(0..900) * MICROS_PER_DAY;
            Product {
                product_id,
                name: format!("{brand} {category} {product_id:04}"),
                brand,
                category,
                list_price: (price.round() as i64 / 10 * 10).max(100) - 1,
                launched_on: days_since_epoch(launched),
            }
        })
        .collect()
}

/// Products grouped for the choices customers make.
pub struct CatalogIndex {
    products: Vec<Product>,
    by_brand: Vec<Vec<usize>>,
    by_category: Vec<Vec<usize>>,
}

impl CatalogIndex {
    /// Indexes a catalog by brand and category.
    pub fn new(products: Vec<Product>) -> Self {
        let mut by_brand = vec![Vec::new(); BRANDS.len()];
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for (i, product) in products.iter().enumerate() {
            if let Some(b) = BRANDS.iter().position(|b| *b == product.brand) {
                by_brand[b].push(i);
            }
            if let Some(c) = CATEGORIES.iter().position(|(c, _)| *c == product.category) {
                by_category[c].push(i);
            }
        }
        CatalogIndex {
            products,
            by_brand,
            by_category,
        }
    }

    fn random_from<'a>(&'a self, rng: &mut impl Rng, group: &[usize]) -> &'a Product {
        if group.is_empty() {
            &self.products[rng.random_range(0..self.products.len())]
        } else {
            &self.products[group[rng.random_range(0..group.len())]]
        }
    }
}

/// Everything generated for one customer.
#[derive(Default)]
pub struct CustomerRows {
    /// The customer (always one).
    pub customers: Vec<Customer>,
    /// Orders.
    pub orders: Vec<Order>,
    /// Order lines.
    pub items: Vec<OrderItem>,
    /// Browsing events.
    pub events: Vec<Event>,
    /// Reviews.
    pub reviews: Vec<Review>,
    /// Support tickets.
    pub tickets: Vec<SupportTicket>,
    /// NPS answers.
    pub nps: Vec<NpsResponse>,
}

/// Latent traits of one customer.
struct Profile {
    id: i64,
    registered_at: i64,
    buys: bool,
    yearly_rate: f64,
    lapse_at: i64,
    price_sensitive: bool,
    price_point: f64,
    favorite_brand: usize,
    favorite_category: usize,
    channel: &'static str,
    mood: f64,
}

/// How much more likely an order is at time `t` (promotion peaks, December, weekends).
fn season_boost(t: i64, price_sensitive: bool) -> f64 {
    let Some(date) = chrono::DateTime::from_timestamp_micros(t).map(|d| d.date_naive()) else {
        return 1.0;
    };
    let (month, day) = (date.month(), date.day());
    let promo = if month == 6 && (10..=18).contains(&day) {
        if day == 18 { 6.0 } else { 2.5 }
    } else if month == 11 && (1..=11).contains(&day) {
        if day == 11 { 9.0 } else { 3.0 }
    } else if month == 12 && day <= 24 {
        1.6
    } else {
        1.0
    };
    let weekend = if date.weekday().number_from_monday() >= 6 {
        1.25
    } else {
        1.0
    };
    let sensitivity = if price_sensitive && promo > 1.0 {
        1.8
    } else if price_sensitive {
        0.6
    } else {
        1.0
    };
    promo * weekend * sensitivity
}

const MAX_BOOST: f64 = 9.0 * 1.25 * 1.8;

fn is_promo(t: i64) -> bool {
    season_boost(t, false) >= 2.0
}

/// Simulates one customer and everything they did.
pub fn simulate_customer(
    seed: u64,
    customer_id: i64,
    catalog: &CatalogIndex,
    out: &mut CustomerRows,
) {
    let mut rng = entity_rng(seed, 2, customer_id as u64);
    let profile = profile(&mut rng, customer_id);
    out.customers.push(customer_row(&mut rng, &profile));
    let end = day_micros(AS_OF);
    let history_start = day_micros(HISTORY_START);
    let mut event_seq = 0i64;
    let mut session_seq = 0i64;

    if profile.buys {
        let first_delay = Exp::new(1.0 / 20.0).map_or(5.0, |d| d.sample(&mut rng));
        let mut t = (profile.registered_at + (first_delay * MICROS_PER_DAY as f64) as i64)
            .max(history_start);
        let candidate_rate = profile.yearly_rate * MAX_BOOST / (365.0 * MICROS_PER_DAY as f64);
        let gap = Exp::new(candidate_rate.max(1e-18)).ok();
        let mut first = true;
        while t < end && t < profile.lapse_at && out.orders.len() < 999 {
            let accept =
                first || rng.random::<f64>() < season_boost(t, profile.price_sensitive) / MAX_BOOST;
            if accept {
                let order_ts = t + rng.random_range(8 * MICROS_PER_HOUR..23 * MICROS_PER_HOUR)
                    % MICROS_PER_DAY;
                let order_ts = order_ts.min(end - 1);
                add_order(
                    &mut rng,
                    &profile,
                    catalog,
                    order_ts,
                    &mut event_seq,
                    &mut session_seq,
                    out,
                );
                first = false;
            }
            let Some(gap) = &gap else { break };
            t += (gap.sample(&mut rng) as i64).max(MICROS_PER_HOUR);
        }
    }
    add_idle_browsing(
        &mut rng,
        &profile,
        catalog,
        &mut event_seq,
        &mut session_seq,
        out,
    );
    add_nps(&mut rng, &profile, out);
}

fn profile(rng: &mut ChaCha8Rng, id: i64) -> Profile {
    let start = day_micros(REGISTRATION_START);
    let end = day_micros(AS_OF);
    // Slightly more recent registrations than old ones (a growing shop).
    let u: f64 = rng.random::<f64>().powf(0.8);
    let registered_at = start + ((end - start - MICROS_PER_DAY) as f64 * u) as i64;
    let yearly_rate = Gamma::new(0.8f64, 5.0)
        .map_or(3.0, |d| d.sample(rng))
        .max(0.05);
    let lifetime_years = Exp::new(1.0 / 1.4).map_or(1.0, |d| d.sample(rng));
    let lapse_at = registered_at + (lifetime_years * 365.0 * MICROS_PER_DAY as f64) as i64;
    let favorite_category = rng.random_range(0..CATEGORIES.len());
    let price_point =
        CATEGORIES[favorite_category].1 * LogNormal::new(0.0, 0.5).map_or(1.0, |d| d.sample(rng));
    Profile {
        id,
        registered_at,
        buys: rng.random::<f64>() >= 0.22,
        yearly_rate,
        lapse_at,
        price_sensitive: rng.random::<f64>() < 0.3,
        price_point,
        favorite_brand: popular_index(rng, BRANDS.len()),
        favorite_category,
        channel: pick(rng, CHANNELS),
        mood: Normal::new(0.0, 1.0).map_or(0.0, |d| d.sample(rng)),
    }
}

fn customer_row(rng: &mut ChaCha8Rng, p: &Profile) -> Customer {
    let age_years = Normal::new(33.0f64, 10.0)
        .map_or(33.0, |d| d.sample(rng))
        .clamp(18.0, 75.0);
    let birth = p.registered_at - (age_years * 365.25 * MICROS_PER_DAY as f64) as i64;
    let mut interests = Vec::new();
    if rng.random::<f64>() < 0.7 {
        interests.push(CATEGORIES[p.favorite_category].0);
    }
    for _ in 0..rng.random_range(0..3) {
        let c = CATEGORIES[rng.random_range(0..CATEGORIES.len())].0;
        if !interests.contains(&c) {
            interests.push(c);
        }
    }
    Customer {
        customer_id: p.id,
        registered_at: p.registered_at,
        birth_date: days_since_epoch(birth),
        gender: pick(rng, GENDERS),
        region: pick(rng, REGIONS),
        city_tier: pick(rng, CITY_TIERS),
        acquisition_channel: pick(rng, ACQUISITION),
        marketing_opt_in: rng.random::<f64>() < 0.6,
        interests,
    }
}

fn choose_product<'a>(rng: &mut ChaCha8Rng, p: &Profile, catalog: &'a CatalogIndex) -> &'a Product {
    let group: &[usize] = if rng.random::<f64>() < 0.55 {
        &catalog.by_brand[p.favorite_brand]
    } else if rng.random::<f64>() < 0.5 {
        &catalog.by_category[p.favorite_category]
    } else {
        &[]
    };
    // Of two candidates, customers take the one nearer their price point.
    let a = catalog.random_from(rng, group);
    let b = catalog.random_from(rng, group);
    let distance = |x: &Product| ((x.list_price as f64) / p.price_point).ln().abs();
    if distance(a) <= distance(b) { a } else { b }
}

#[allow(clippy::too_many_arguments)]
fn add_order(
    rng: &mut ChaCha8Rng,
    p: &Profile,
    catalog: &CatalogIndex,
    order_ts: i64,
    event_seq: &mut i64,
    session_seq: &mut i64,
    out: &mut CustomerRows,
) {
    let order_id = p.id * 1_000 + out.orders.len() as i64 + 1;
    let channel = if rng.random::<f64>() < 0.7 {
        p.channel
    } else {
        pick(rng, CHANNELS)
    };
    let lines = 1
        + (rng.random::<f64>().ln() / 0.45f64.ln())
            .floor()
            .clamp(0.0, 5.0) as i16;
    let session_id = next_session(p, session_seq);
    let mut t = order_ts - rng.random_range(5..90) * MICROS_PER_MINUTE;
    if rng.random::<f64>() < 0.4 {
        let term = if rng.random::<f64>() < 0.5 {
            BRANDS[p.favorite_brand]
        } else {
            CATEGORIES[p.favorite_category].0
        };
        push_event(
            rng,
            p,
            event_seq,
            session_id,
            &mut t,
            "search",
            None,
            Some(term),
            channel,
            out,
        );
    }
    let mut gross = 0i64;
    let mut first_product = 0;
    for line_no in 1..=lines {
        let product = choose_product(rng, p, catalog);
        if line_no == 1 {
            first_product = product.product_id;
        }
        for _ in 0..rng.random_range(0..3) {
            let other = catalog.random_from(rng, &catalog.by_category[p.favorite_category]);
            push_event(
                rng,
                p,
                event_seq,
                session_id,
                &mut t,
                "browse",
                Some(other.product_id),
                None,
                channel,
                out,
            );
        }
        push_event(
            rng,
            p,
            event_seq,
            session_id,
            &mut t,
            "browse",
            Some(product.product_id),
            None,
            channel,
            out,
        );
        if rng.random::<f64>() < 0.1 {
            push_event(
                rng,
                p,
                event_seq,
                session_id,
                &mut t,
                "favorite",
                Some(product.product_id),
                None,
                channel,
                out,
            );
        }
        push_event(
            rng,
            p,
            event_seq,
            session_id,
            &mut t,
            "add_to_cart",
            Some(product.product_id),
            None,
            channel,
            out,
        );
        let quantity = pick(rng, &[(1, 0.85), (2, 0.12), (3, 0.03)]);
        gross += product.list_price * i64::from(quantity);
        out.items.push(OrderItem {
            order_id,
            line_no,
            product_id: product.product_id,
            brand: product.brand,
            category: product.category,
            quantity,
            unit_price: product.list_price,
        });
    }
    let discount_rate = match (p.price_sensitive, is_promo(order_ts)) {
        (true, true) => rng.random_range(0.20..0.35),
        (true, false) => rng.random_range(0.05..0.15),
        (false, true) => rng.random_range(0.05..0.15),
        (false, false) if rng.random::<f64>() < 0.6 => 0.0,
        (false, false) => rng.random_range(0.0..0.08),
    };
    let discount = (gross as f64 * discount_rate).round() as i64;
    let status = pick(rng, STATUSES);
    out.orders.push(Order {
        order_id,
        customer_id: p.id,
        order_ts,
        channel,
        gross_amount: gross,
        discount_amount: discount,
        net_amount: gross - discount,
        status,
        item_count: i32::from(lines),
    });
    if status == "completed" && rng.random::<f64>() < 0.2 {
        let rating = (4.1 + 0.8 * p.mood + Normal::new(0.0, 0.7).map_or(0.0, |d| d.sample(rng)))
            .round()
            .clamp(1.0, 5.0) as i16;
        out.reviews.push(Review {
            review_id: order_id,
            order_id,
            customer_id: p.id,
            product_id: first_product,
            created_at: order_ts + rng.random_range(2..20) * MICROS_PER_DAY,
            rating,
            text_length: LogNormal::new(4.0, 0.9).map_or(50.0, |d| d.sample(rng)) as i32,
            shares: Poisson::new(0.3 + 0.2 * f64::from(rating - 3).max(0.0))
                .map_or(0.0, |d| d.sample(rng)) as i32,
        });
    }
    let ticket_chance = if status == "refunded" { 0.8 } else { 0.04 };
    if rng.random::<f64>() < ticket_chance {
        let kind = if status == "refunded" {
            "return"
        } else {
            pick(rng, &[("complaint", 0.4), ("question", 0.6)])
        };
        let created_at = order_ts + rng.random_range(1..240) * MICROS_PER_HOUR;
        let first_response = LogNormal::new(0.7, 1.0).map_or(2.0, |d| d.sample(rng));
        let resolve_hours =
            first_response + LogNormal::new(2.8, 1.0).map_or(16.0, |d| d.sample(rng));
        let resolved = rng.random::<f64>() < 0.95;
        let satisfaction = (rng.random::<f64>() < 0.7).then(|| {
            (4.3 - 0.02 * resolve_hours + 0.6 * p.mood)
                .round()
                .clamp(1.0, 5.0) as i16
        });
        out.tickets.push(SupportTicket {
            ticket_id: order_id,
            customer_id: p.id,
            order_id: Some(order_id),
            created_at,
            first_response_at: created_at + (first_response * MICROS_PER_HOUR as f64) as i64,
            resolved_at: resolved
                .then(|| created_at + (resolve_hours * MICROS_PER_HOUR as f64) as i64),
            kind,
            satisfaction,
        });
    }
}

fn next_session(p: &Profile, session_seq: &mut i64) -> i64 {
    *session_seq += 1;
    p.id * 10_000 + *session_seq
}

#[allow(clippy::too_many_arguments)]
fn push_event(
    rng: &mut ChaCha8Rng,
    p: &Profile,
    event_seq: &mut i64,
    session_id: i64,
    t: &mut i64,
    event_type: &'static str,
    product_id: Option<i32>,
    search_term: Option<&'static str>,
    channel: &'static str,
    out: &mut CustomerRows,
) {
    *event_seq += 1;
    let dwell: f64 = LogNormal::new(3.4, 0.9).map_or(30.0, |d| d.sample(rng));
    out.events.push(Event {
        event_id: p.id * 100_000 + *event_seq,
        customer_id: p.id,
        session_id,
        event_ts: *t,
        event_type,
        product_id,
        search_term,
        dwell_seconds: (dwell * 10.0).round() / 10.0,
        channel,
    });
    *t += (dwell * 1_000_000.0) as i64 + rng.random_range(1..30) * 1_000_000;
}

/// Browsing sessions that end without an order (window shopping and abandoned carts).
fn add_idle_browsing(
    rng: &mut ChaCha8Rng,
    p: &Profile,
    catalog: &CatalogIndex,
    event_seq: &mut i64,
    session_seq: &mut i64,
    out: &mut CustomerRows,
) {
    let start = p.registered_at.max(day_micros(HISTORY_START));
    let end = day_micros(AS_OF).min(p.lapse_at + 60 * MICROS_PER_DAY);
    if end <= start {
        return;
    }
    let sessions = Poisson::new(0.25 * (out.orders.len() as f64 + 1.0))
        .map_or(0.0, |d| d.sample(rng)) as usize;
    for _ in 0..sessions.min(500) {
        let session_id = next_session(p, session_seq);
        let mut t = rng.random_range(start..end);
        let channel = if rng.random::<f64>() < 0.7 {
            p.channel
        } else {
            pick(rng, CHANNELS)
        };
        for _ in 0..rng.random_range(1..5) {
            let product = choose_product(rng, p, catalog);
            push_event(
                rng,
                p,
                event_seq,
                session_id,
                &mut t,
                "browse",
                Some(product.product_id),
                None,
                channel,
                out,
            );
            if rng.random::<f64>() < 0.25 {
                push_event(
                    rng,
                    p,
                    event_seq,
                    session_id,
                    &mut t,
                    "add_to_cart",
                    Some(product.product_id),
                    None,
                    channel,
                    out,
                );
            }
        }
    }
}

fn add_nps(rng: &mut ChaCha8Rng, p: &Profile, out: &mut CustomerRows) {
    let Some(first) = out.orders.first().map(|o| o.order_ts) else {
        return;
    };
    let end = day_micros(AS_OF);
    for n in 0..2i64 {
        if first + 7 * MICROS_PER_DAY >= end || rng.random::<f64>() >= 0.25 {
            break;
        }
        let loyalty = (out.orders.len() as f64).ln_1p();
        let score = (7.4
            + 1.6 * p.mood
            + 0.3 * loyalty
            + Normal::new(0.0, 1.0).map_or(0.0, |d| d.sample(rng)))
        .round()
        .clamp(0.0, 10.0) as i16;
        out.nps.push(NpsResponse {
            response_id: p.id * 10 + n + 1,
            customer_id: p.id,
            responded_at: rng.random_range(first + 7 * MICROS_PER_DAY..end),
            score,
        });
    }
}

/// The month partition value (`2025-11`) of a UTC timestamp in microseconds.
pub fn month_of(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|d| d.format("%Y-%m").to_string())
        .unwrap_or_else(|| "unknown".to_string())
}
