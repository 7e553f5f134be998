//! `hhi(key, amount)`: the Herfindahl-Hirschman index of a customer's spend over keys (brands,
//! categories, channels...), `Σ share²`.
//!
//! Business meaning: crm-reference §3.3. How concentrated a customer's wallet is: 1 when all
//! spend goes to one key (a loyal customer), `1/n` when it is spread evenly over `n` keys (a
//! switcher). Shares are `spend_b / total_spend` with refunds netted per key; keys whose net
//! spend is not positive take no share.
//!
//! Returns a DOUBLE in `(0, 1]`; NULL when the group has no positive spend. Rows with a NULL
//! key or amount are ignored.

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
use crate::kernels::wallet_accumulator::{WalletAccumulator, coerce_key_amount, state_fields};

/// Registers `hhi`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Aggregate(AggregateUDF::new_from_impl(
        Hhi::new(),
    ))]
}

/// The `hhi` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Hhi {
    signature: Signature,
}

impl Hhi {
    fn new() -> Self {
        Hhi {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// `Σ share²`, or NULL without positive spend.
fn finish(wallet: &Wallet) -> Result<ScalarValue> {
    Ok(ScalarValue::Float64(wallet.hhi()))
}

impl AggregateUDFImpl for Hhi {
    fn name(&self) -> &str {
        "hhi"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return crate::crm_err!(
                WrongArity,
                "hhi: expected 2 arguments (key, amount), got {}",
                arg_types.len()
            );
        }
        Ok(coerce_key_amount(self.name(), arg_types)?.to_vec())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _acc_args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(WalletAccumulator::new(Arc::new(finish))))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(state_fields(args.name))
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: OnceLock<Documentation> = OnceLock::new();
        Some(DOC.get_or_init(|| {
            crate::docs::builder(
                "The Herfindahl-Hirschman index of the group's spend over keys, the sum of the \
                 squared shares (crm-reference §3.3): 1 when all spend goes to one key (a loyal \
                 customer), 1/n when it is spread evenly over n keys. Refunds are netted per \
                 key; keys with non-positive net spend take no share. Rows with a NULL key or \
                 amount are ignored; NULL when there is no positive spend.",
                "hhi(key, amount)",
            )
            .with_argument(
                "key",
                "what spend is split by, e.g. brand (text; numbers and dates are converted to text)",
            )
            .with_argument(
                "amount",
                "the spend of the row (numeric; negative for refunds)",
            )
            .with_sql_example(
                "SELECT customer_id, round(hhi(channel, net_amount), 3) AS channel_concentration\n\
                 FROM orders GROUP BY customer_id;\n\
                 SELECT round(hhi(k, a), 2) FROM (VALUES ('a', 60.0), ('b', 40.0)) AS t(k, a);\n\
                 -- 0.52",
            )
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn concentration() {
        let mut wallet = Wallet::default();
        wallet.add("a", 60.0);
        wallet.add("b", 40.0);
        let ScalarValue::Float64(Some(h)) = finish(&wallet).unwrap() else {
            panic!("value expected")
        };
        assert!((h - 0.52).abs() < 1e-12);
        assert_eq!(
            finish(&Wallet::default()).unwrap(),
            ScalarValue::Float64(None)
        );
    }

    proptest! {
        /// Between 1/n and 1 for n positive keys; 1/n exactly when spend is even.
        #[test]
        fn bounded_by_number_of_keys(
            amounts in proptest::collection::vec(1u32..1000, 1..20),
        ) {
            let mut wallet = Wallet::default();
            let mut even = Wallet::default();
            for (i, amount) in amounts.iter().enumerate() {
                wallet.add(&format!("k{i}"), f64::from(*amount));
                even.add(&format!("k{i}"), 7.0);
            }
            let n = amounts.len() as f64;
            let ScalarValue::Float64(Some(h)) = finish(&wallet).unwrap() else {
                panic!("value expected")
            };
            prop_assert!(h >= 1.0 / n - 1e-12 && h <= 1.0 + 1e-12);
            let ScalarValue::Float64(Some(e)) = finish(&even).unwrap() else {
                panic!("value expected")
            };
            prop_assert!((e - 1.0 / n).abs() < 1e-12);
        }
    }
}
