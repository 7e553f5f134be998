//! Renders any value tokio-postgres receives (always in binary format) as the text PostgreSQL
//! would send, so extended-protocol results compare with simple-protocol ones in `.slt` files.

use postgres_protocol::types as pg;
use tokio_postgres::types::{FromSql, Kind, Type};

/// A value of any type, rendered as PostgreSQL text.
pub struct PgText(pub String);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

const PG_EPOCH_DAYS: i64 = 10_957; // 2000-01-01 - 1970-01-01

fn render(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    Ok(match *ty {
        Type::BOOL => if pg::bool_from_sql(raw)? { "t" } else { "f" }.to_string(),
        Type::INT2 => pg::int2_from_sql(raw)?.to_string(),
        Type::INT4 | Type::OID => pg::int4_from_sql(raw)?.to_string(),
        Type::INT8 => pg::int8_from_sql(raw)?.to_string(),
        Type::FLOAT4 => format_float(f64::from(pg::float4_from_sql(raw)?)),
        Type::FLOAT8 => format_float(pg::float8_from_sql(raw)?),
        Type::NUMERIC => numeric(raw)?,
        Type::DATE => {
            let days = i64::from(pg::date_from_sql(raw)?) + PG_EPOCH_DAYS;
            chrono::DateTime::from_timestamp(days * 86_400, 0)
                .ok_or("date out of range")?
                .format("%Y-%m-%d")
                .to_string()
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = pg::timestamp_from_sql(raw)? + PG_EPOCH_DAYS * 86_400_000_000;
            let t =
                chrono::DateTime::from_timestamp_micros(micros).ok_or("timestamp out of range")?;
            let mut text = t.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
            while text.ends_with('0') {
                text.pop();
            }
            if text.ends_with('.') {
                text.pop();
            }
            if *ty == Type::TIMESTAMPTZ {
                text.push_str("+00");
            }
            text
        }
        Type::RECORD => record(raw)?,
        _ => match ty.kind() {
            Kind::Array(element) => {
                let array = pg::array_from_sql(raw)?;
                let mut parts = Vec::new();
                let mut values = array.values();
                while let Some(value) = fallible_iterator::FallibleIterator::next(&mut values)? {
                    parts.push(match value {
                        Some(bytes) => quote_array_element(&render(element, bytes)?),
                        None => "NULL".to_string(),
                    });
                }
                format!("{{{}}}", parts.join(","))
            }
            _ => String::from_utf8(raw.to_vec())?,
        },
    })
}

/// Decodes PostgreSQL's binary record (field count, then oid, length and bytes per field) into
/// its text form `(a,b)`.
fn record(raw: &[u8]) -> Result<String, BoxError> {
    let int = |at: usize| -> Result<i32, BoxError> {
        raw.get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "short record".into())
    };
    let fields = int(0)?;
    let mut at = 4;
    let mut parts = Vec::new();
    for _ in 0..fields {
        let oid = int(at)? as u32;
        let len = int(at + 4)?;
        at += 8;
        if len < 0 {
            parts.push(String::new());
            continue;
        }
        let bytes = raw.get(at..at + len as usize).ok_or("short record field")?;
        at += len as usize;
        let ty = Type::from_oid(oid).unwrap_or(Type::TEXT);
        let text = render(&ty, bytes)?;
        parts.push(
            if text.is_empty() || text.contains([',', '(', ')', '"', ' ', '\\']) {
                format!("\"{}\"", text.replace('"', "\"\""))
            } else {
                text
            },
        );
    }
    Ok(format!("({})", parts.join(",")))
}

fn quote_array_element(text: &str) -> String {
    if text.is_empty()
        || text.contains([',', '{', '}', '"', ' ', '\\'])
        || text.eq_ignore_ascii_case("null")
    {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.to_string()
    }
}

fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        value.to_string()
    }
}

/// Decodes PostgreSQL's binary NUMERIC (base-10000 digits) into its text form.
fn numeric(raw: &[u8]) -> Result<String, BoxError> {
    let read = |i: usize| -> Result<i16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short numeric".into())
    };
    let ndigits = read(0)? as usize;
    let weight = i32::from(read(2)?);
    let sign = read(4)? as u16;
    let dscale = read(6)? as usize;
    if sign == 0xC000 {
        return Ok("NaN".to_string());
    }
    let digits: Vec<i16> = (0..ndigits)
        .map(|i| read(8 + 2 * i))
        .collect::<Result<_, _>>()?;
    let digit_at = |position: i32| -> i16 {
        if position < 0 {
            0
        } else {
            digits.get(position as usize).copied().unwrap_or(0)
        }
    };
    let mut int_part = String::new();
    if weight < 0 {
        int_part.push('0');
    } else {
        for position in 0..=weight {
            if int_part.is_empty() {
                int_part = digit_at(position).to_string();
            } else {
                int_part.push_str(&format!("{:04}", digit_at(position)));
            }
        }
    }
    let mut frac = String::new();
    let mut position = weight + 1;
    while frac.len() < dscale {
        frac.push_str(&format!("{:04}", digit_at(position)));
        position += 1;
    }
    frac.truncate(dscale);
    let mut text = if sign == 0x4000 {
        "-".to_string()
    } else {
        String::new()
    };
    text.push_str(&int_part);
    if dscale > 0 {
        text.push('.');
        text.push_str(&frac);
    }
    Ok(text)
}

impl<'a> FromSql<'a> for PgText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        render(ty, raw).map(PgText)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[test]
fn numeric_binary_decoding() {
    // 1234.50 = digits [1234, 5000], weight 0, scale 2
    let raw = [0, 2, 0, 0, 0, 0, 0, 2, 0x04, 0xD2, 0x13, 0x88];
    assert_eq!(numeric(&raw).unwrap(), "1234.50");
    // -0.05 = digits [500], weight -1, scale 2
    let raw = [0, 1, 0xFF, 0xFF, 0x40, 0, 0, 2, 0x01, 0xF4];
    assert_eq!(numeric(&raw).unwrap(), "-0.05");
}
