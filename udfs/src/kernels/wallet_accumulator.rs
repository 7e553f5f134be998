//! The one accumulator behind `share_of_wallet`, `top_k_share` and `hhi`: it sums net spend per
//! key in a [`Wallet`] and differs between the three functions only in how it finishes.
//!
//! Also here: the argument coercion the three share (`key` becomes text, `amount` a double),
//! their partial-aggregation state (two lists, keys and amounts, so partitions merge) and the
//! `{key, share}` struct they return.
//!
//! Rows whose key or amount is NULL are ignored; so are non-finite amounts.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, ListArray, StringArray, StructArray,
};
use datafusion::arrow::compute::{can_cast_types, cast};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::ScalarValue;
use datafusion::common::utils::SingleRowListArrayBuilder;
use datafusion::error::Result;
use datafusion::logical_expr::Accumulator;
use datafusion::logical_expr::utils::format_state_name;

use crate::kernels::wallet::Wallet;

/// How a wallet becomes the function's result.
pub type Finish = Arc<dyn Fn(&Wallet) -> Result<ScalarValue> + Send + Sync>;

/// Net spend per key for one group; `finish` turns it into the result.
pub struct WalletAccumulator {
    wallet: Wallet,
    key_bytes: usize,
    finish: Finish,
}

impl fmt::Debug for WalletAccumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletAccumulator")
            .field("wallet", &self.wallet)
            .finish_non_exhaustive()
    }
}

impl WalletAccumulator {
    /// An empty wallet finished by `finish`.
    pub fn new(finish: Finish) -> Self {
        WalletAccumulator {
            wallet: Wallet::default(),
            key_bytes: 0,
            finish,
        }
    }

    /// The spend summed so far.
    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    fn add(&mut self, key: &str, amount: f64) {
        let before = self.wallet.len();
        self.wallet.add(key, amount);
        if self.wallet.len() > before {
            self.key_bytes += key.len();
        }
    }

    fn add_arrays(&mut self, keys: &ArrayRef, amounts: &ArrayRef) -> Result<()> {
        let keys = as_utf8(keys)?;
        let amounts = as_f64(amounts)?;
        let keys = keys.as_string::<i32>();
        let amounts = amounts.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for (key, amount) in keys.iter().zip(amounts.iter()) {
            if let (Some(key), Some(amount)) = (key, amount) {
                self.add(key, amount);
            }
        }
        Ok(())
    }
}

fn as_utf8(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Utf8 => Arc::clone(array),
        _ => cast(array, &DataType::Utf8)?,
    })
}

fn as_f64(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Float64 => Arc::clone(array),
        _ => cast(array, &DataType::Float64)?,
    })
}

impl Accumulator for WalletAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [keys, amounts, ..] = values else {
            return crate::crm_err!(
                Internal,
                "wallet accumulator: expected key and amount columns"
            );
        };
        self.add_arrays(keys, amounts)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        (self.finish)(&self.wallet)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.key_bytes
            + self.wallet.len() * (std::mem::size_of::<String>() + std::mem::size_of::<f64>() + 8)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut entries: Vec<(&str, f64)> = self.wallet.entries().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        let keys = StringArray::from_iter_values(entries.iter().map(|(k, _)| *k));
        let amounts = Float64Array::from_iter_values(entries.iter().map(|(_, a)| *a));
        Ok(vec![
            SingleRowListArrayBuilder::new(Arc::new(keys)).build_list_scalar(),
            SingleRowListArrayBuilder::new(Arc::new(amounts)).build_list_scalar(),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [keys, amounts] = states else {
            return crate::crm_err!(
                Internal,
                "wallet accumulator: expected a keys list and an amounts list"
            );
        };
        let keys: &ListArray = keys.as_list::<i32>();
        let amounts: &ListArray = amounts.as_list::<i32>();
        for row in 0..keys.len() {
            if keys.is_null(row) || amounts.is_null(row) {
                continue;
            }
            self.add_arrays(&keys.value(row), &amounts.value(row))?;
        }
        Ok(())
    }
}

/// The partial-aggregation state: the keys seen and their net amounts, as two lists.
pub fn state_fields(name: &str) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(
            format_state_name(name, "keys"),
            DataType::new_list(DataType::Utf8, true),
            true,
        )),
        Arc::new(Field::new(
            format_state_name(name, "amounts"),
            DataType::new_list(DataType::Float64, true),
            true,
        )),
    ]
}

/// Coerces `(key, amount)`: text keys stay text (other scalar types are converted to text),
/// numeric amounts become doubles. Any further arguments are left to the caller.
pub fn coerce_key_amount(function: &str, arg_types: &[DataType]) -> Result<[DataType; 2]> {
    let [key, amount, ..] = arg_types else {
        return crate::crm_err!(WrongArity, "{function}: expected (key, amount, ...)");
    };
    let key_ok = !key.is_nested() && can_cast_types(key, &DataType::Utf8);
    if !key_ok {
        return crate::crm_err!(
            WrongType,
            "{function}: key must be text (or a value convertible to text), got {key}"
        );
    }
    if !(amount.is_numeric() || amount.is_null()) {
        return crate::crm_err!(
            WrongType,
            "{function}: amount must be a number, got {amount}"
        );
    }
    Ok([DataType::Utf8, DataType::Float64])
}

/// The fields of the `{key, share}` struct.
pub fn share_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("share", DataType::Float64, true),
    ])
}

/// `STRUCT(key TEXT, share DOUBLE)`.
pub fn share_type() -> DataType {
    DataType::Struct(share_fields())
}

/// The list item field of `top_k_share`'s result.
pub fn share_item_field() -> Field {
    Field::new_list_field(share_type(), true)
}

/// `{key, share}` rows as a struct array.
pub fn share_array(shares: &[(&str, f64)]) -> StructArray {
    StructArray::new(
        share_fields(),
        vec![
            Arc::new(StringArray::from_iter_values(
                shares.iter().map(|(k, _)| *k),
            )) as ArrayRef,
            Arc::new(Float64Array::from_iter_values(
                shares.iter().map(|(_, s)| *s),
            )),
        ],
        None,
    )
}

/// One `{key, share}` struct value, or a NULL struct.
pub fn share_scalar(share: Option<(&str, f64)>) -> Result<ScalarValue> {
    match share {
        Some(share) => Ok(ScalarValue::Struct(Arc::new(share_array(&[share])))),
        None => ScalarValue::try_from(&share_type()),
    }
}

/// A list of `{key, share}` structs.
pub fn share_list_scalar(shares: &[(&str, f64)]) -> ScalarValue {
    SingleRowListArrayBuilder::new(Arc::new(share_array(shares)))
        .with_field(&share_item_field())
        .build_list_scalar()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn top() -> Finish {
        Arc::new(|w: &Wallet| share_scalar(w.shares().first().copied()))
    }

    fn batch(rows: &[(Option<&str>, Option<f64>)]) -> Vec<ArrayRef> {
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from(
                rows.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
            )),
        ]
    }

    #[test]
    fn ignores_null_rows_and_nets_refunds() {
        let mut acc = WalletAccumulator::new(top());
        acc.update_batch(&batch(&[
            (Some("a"), Some(60.0)),
            (Some("b"), Some(40.0)),
            (None, Some(500.0)),
            (Some("c"), None),
            (Some("d"), Some(50.0)),
            (Some("d"), Some(-50.0)),
        ]))
        .unwrap();
        assert_eq!(acc.wallet().shares(), vec![("a", 0.6), ("b", 0.4)]);
        let ScalarValue::Struct(s) = acc.evaluate().unwrap() else {
            panic!("struct expected")
        };
        assert_eq!(s.column(0).as_string::<i32>().value(0), "a");
    }

    #[test]
    fn empty_wallet_gives_null_struct() {
        let mut acc = WalletAccumulator::new(top());
        let value = acc.evaluate().unwrap();
        assert!(value.is_null());
        assert_eq!(value.data_type(), share_type());
    }

    #[test]
    fn key_and_amount_coercion() {
        assert_eq!(
            coerce_key_amount("f", &[DataType::Utf8View, DataType::Int32]).unwrap(),
            [DataType::Utf8, DataType::Float64]
        );
        assert_eq!(
            coerce_key_amount("f", &[DataType::Int64, DataType::Decimal128(12, 2)]).unwrap(),
            [DataType::Utf8, DataType::Float64]
        );
        assert!(coerce_key_amount("f", &[DataType::Utf8, DataType::Utf8]).is_err());
        assert!(
            coerce_key_amount(
                "f",
                &[DataType::new_list(DataType::Utf8, true), DataType::Float64]
            )
            .is_err()
        );
        assert!(coerce_key_amount("f", &[DataType::Utf8]).is_err());
    }

    proptest! {
        /// Splitting the rows over partial accumulators and merging their states gives the same
        /// wallet as one accumulator over every row.
        #[test]
        fn state_merges_across_partitions(
            rows in proptest::collection::vec((0u8..5, -50i32..500), 0..60),
            split in 0usize..60,
        ) {
            let rows: Vec<(Option<String>, Option<f64>)> = rows
                .into_iter()
                .map(|(k, a)| (Some(format!("k{k}")), Some(f64::from(a))))
                .collect();
            fn as_refs(rows: &[(Option<String>, Option<f64>)]) -> Vec<(Option<&str>, Option<f64>)> {
                rows.iter().map(|(k, a)| (k.as_deref(), *a)).collect()
            }
            let split = split.min(rows.len());
            let mut whole = WalletAccumulator::new(top());
            whole.update_batch(&batch(&as_refs(&rows))).unwrap();

            let mut left = WalletAccumulator::new(top());
            let mut right = WalletAccumulator::new(top());
            left.update_batch(&batch(&as_refs(&rows[..split]))).unwrap();
            right.update_batch(&batch(&as_refs(&rows[split..]))).unwrap();
            let states: Vec<ArrayRef> = left
                .state()
                .unwrap()
                .into_iter()
                .zip(right.state().unwrap())
                .map(|(l, r)| ScalarValue::iter_to_array(vec![l, r]).unwrap())
                .collect();
            let mut merged = WalletAccumulator::new(top());
            merged.merge_batch(&states).unwrap();

            let mut expected: Vec<(String, f64)> =
                whole.wallet().entries().map(|(k, v)| (k.to_string(), v)).collect();
            let mut got: Vec<(String, f64)> =
                merged.wallet().entries().map(|(k, v)| (k.to_string(), v)).collect();
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            got.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(expected.len(), got.len());
            for ((ek, ev), (gk, gv)) in expected.iter().zip(&got) {
                prop_assert_eq!(ek, gk);
                prop_assert!((ev - gv).abs() < 1e-9);
            }
        }
    }
}
