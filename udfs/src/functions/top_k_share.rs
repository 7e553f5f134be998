//! `top_k_share(key, amount, k)`: a customer's `k` largest keys (brands, categories,
//! channels...) by net spend, with their shares of the customer's spend.
//!
//! Business meaning: crm-reference §3.3, like `share_of_wallet` but keeping the top `k` keys,
//! e.g. a customer's three favourite brands for a recommendation or a "brand repertoire" report.
//! Shares are `spend_b / total_spend` with refunds netted per key; keys whose net spend is not
//! positive are left out, so the shares of all positive keys sum to 1 and the list may have
//! fewer than `k` entries.
//!
//! Returns a list of `STRUCT(key TEXT, share DOUBLE)`, largest share first (ties: key
//! ascending); NULL when the group has no positive spend. Rows with a NULL key or amount are
//! ignored. `k` must be a constant integer of at least 1.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use crate::CrmFunction;
use crate::kernels::wallet::Wallet;
use crate::kernels::wallet_accumulator::{
    WalletAccumulator, coerce_key_amount, share_item_field, share_list_scalar, state_fields,
};

/// Registers `top_k_share`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Aggregate(AggregateUDF::new_from_impl(
        TopKShare::new(),
    ))]
}

/// The `top_k_share` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TopKShare {
    signature: Signature,
}

impl TopKShare {
    fn new() -> Self {
        TopKShare {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The `k` largest shares, or NULL without positive spend.
fn finish(wallet: &Wallet, k: usize) -> ScalarValue {
    let shares = wallet.shares();
    if shares.is_empty() {
        return ScalarValue::List(Arc::new(datafusion::arrow::array::ListArray::new_null(
            Arc::new(share_item_field()),
            1,
        )));
    }
    share_list_scalar(&shares[..k.min(shares.len())])
}

/// `k` from its constant value.
fn parse_k(value: &ScalarValue) -> Result<usize> {
    let k = match value {
        v if !v.is_null() && v.data_type().is_integer() => match v.cast_to(&DataType::Int64)? {
            ScalarValue::Int64(Some(k)) => Some(k),
            _ => None,
        },
        _ => None,
    };
    match k {
        Some(k) if k >= 1 => Ok(usize::try_from(k).unwrap_or(usize::MAX)),
        _ => crate::crm_err!(
            InvalidArgument,
            "top_k_share: k must be a constant integer >= 1, got {value}"
        ),
    }
}

impl AggregateUDFImpl for TopKShare {
    fn name(&self) -> &str {
        "top_k_share"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 3 {
            return crate::crm_err!(
                WrongArity,
                "top_k_share: expected 3 arguments (key, amount, k), got {}",
                arg_types.len()
            );
        }
        let [key, amount] = coerce_key_amount(self.name(), arg_types)?;
        let k = &arg_types[2];
        if !(k.is_integer() || k.is_null()) {
            return crate::crm_err!(
                WrongType,
                "top_k_share: k must be a constant integer >= 1, got type {k}"
            );
        }
        Ok(vec![key, amount, DataType::Int64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(share_item_field())))
    }

    fn accumulator(&self, acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let Some(expr) = acc_args.exprs.get(2) else {
            return crate::crm_err!(
                WrongArity,
                "top_k_share: expected 3 arguments (key, amount, k)"
            );
        };
        let k = parse_k(&crate::args::physical_constant(self.name(), 3, expr)?)?;
        Ok(Box::new(WalletAccumulator::new(Arc::new(
            move |wallet: &Wallet| Ok(finish(wallet, k)),
        ))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "The k keys (brands, categories, channels...) with the largest net spend in the \
                 group, each with its share of the group's spend (crm-reference §3.3), largest \
                 first (ties: key ascending). Refunds are netted per key; keys with non-positive \
                 net spend are left out, so the list may be shorter than k. Rows with a NULL key \
                 or amount are ignored; NULL when there is no positive spend. Returns a list of \
                 structs {key, share}.",
                "top_k_share(key, amount, k)",
            )
            .with_argument(
                "key",
                "what spend is split by, e.g. brand (text; numbers and dates are converted to text)",
            )
            .with_argument(
                "amount",
                "the spend of the row (numeric; negative for refunds)",
            )
            .with_argument("k", "how many keys to keep: a constant integer >= 1")
            .with_sql_example(
                "SELECT customer_id, top_k_share(channel, net_amount, 2) AS top_channels\n\
                 FROM orders GROUP BY customer_id;\n\
                 SELECT top_k_share(k, a, 2)\n\
                 FROM (VALUES ('acme', 50.0), ('nova', 30.0), ('zenith', 20.0)) AS t(k, a);\n\
                 -- {\"(acme,0.5)\",\"(nova,0.3)\"}",
            )
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Float64Type;
    use proptest::prelude::*;

    fn entries(value: &ScalarValue) -> Vec<(String, f64)> {
        let ScalarValue::List(list) = value else {
            panic!("list expected")
        };
        let items = list.value(0);
        let items = items.as_struct();
        let keys = items.column(0).as_string::<i32>();
        let shares = items.column(1).as_primitive::<Float64Type>();
        (0..items.len())
            .map(|i| (keys.value(i).to_string(), shares.value(i)))
            .collect()
    }

    #[test]
    fn keeps_k_largest() {
        let mut wallet = Wallet::default();
        wallet.add("a", 50.0);
        wallet.add("b", 30.0);
        wallet.add("c", 20.0);
        wallet.add("d", -20.0);
        assert_eq!(
            entries(&finish(&wallet, 2)),
            vec![("a".to_string(), 0.5), ("b".to_string(), 0.3)]
        );
        assert_eq!(entries(&finish(&wallet, 10)).len(), 3);
        let none = finish(&Wallet::default(), 2);
        assert!(none.is_null());
        assert_eq!(none.data_type(), TopKShare::new().return_type(&[]).unwrap());
    }

    #[test]
    fn k_must_be_positive_integer() {
        assert_eq!(parse_k(&ScalarValue::Int64(Some(3))).unwrap(), 3);
        assert_eq!(parse_k(&ScalarValue::Int32(Some(1))).unwrap(), 1);
        assert!(parse_k(&ScalarValue::Int64(Some(0))).is_err());
        assert!(parse_k(&ScalarValue::Int64(None)).is_err());
        assert!(parse_k(&ScalarValue::Float64(Some(2.0))).is_err());
    }

    proptest! {
        /// The top k are a prefix of all shares: sorted, at most k, the first is the top key.
        #[test]
        fn top_k_is_sorted_prefix(
            amounts in proptest::collection::vec((0u8..8, -100i32..1000), 1..40),
            k in 1usize..6,
        ) {
            let mut wallet = Wallet::default();
            for (key, amount) in &amounts {
                wallet.add(&format!("k{key}"), f64::from(*amount));
            }
            let value = finish(&wallet, k);
            let all = wallet.shares();
            if all.is_empty() {
                prop_assert!(value.is_null());
            } else {
                let top = entries(&value);
                prop_assert_eq!(top.len(), k.min(all.len()));
                for (got, want) in top.iter().zip(&all) {
                    prop_assert_eq!(got.0.as_str(), want.0);
                    prop_assert_eq!(got.1, want.1);
                }
                prop_assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
            }
        }
    }
}
