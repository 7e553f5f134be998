//! `share_of_wallet(key, amount)`: the key (brand, category, channel...) a customer spends the
//! most on, and its share of the customer's spend.
//!
//! Business meaning: crm-reference §3.3. `share(b) = spend_b / total_spend`, where refunds are
//! netted per key, keys whose net spend is not positive take no share, and the total is the sum
//! of the positive keys. The top key is the one with the largest share (ties: key ascending).
//! Used per customer (`GROUP BY customer_id`) to find a favourite brand and how loyal the
//! customer is to it.
//!
//! Returns `STRUCT(key TEXT, share DOUBLE)`; NULL when the group has no positive spend. Rows
//! with a NULL key or amount are ignored. The key is text; other scalar key types (numbers,
//! dates) are converted to text. The amount must be numeric.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use crate::CrmFunction;
use crate::kernels::wallet::Wallet;
use crate::kernels::wallet_accumulator::{
    WalletAccumulator, coerce_key_amount, share_scalar, share_type, state_fields,
};

/// Registers `share_of_wallet`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Aggregate(AggregateUDF::new_from_impl(
        ShareOfWallet::new(),
    ))]
}

/// The `share_of_wallet` aggregate function.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ShareOfWallet {
    signature: Signature,
}

impl ShareOfWallet {
    fn new() -> Self {
        ShareOfWallet {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// The top key and its share, or NULL without positive spend.
fn finish(wallet: &Wallet) -> Result<datafusion::common::ScalarValue> {
    share_scalar(wallet.shares().first().copied())
}

impl AggregateUDFImpl for ShareOfWallet {
    fn name(&self) -> &str {
        "share_of_wallet"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return crate::crm_err!(
                WrongArity,
                "share_of_wallet: expected 2 arguments (key, amount), got {}",
                arg_types.len()
            );
        }
        Ok(coerce_key_amount(self.name(), arg_types)?.to_vec())
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(share_type())
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
                "The key (brand, category, channel...) with the largest net spend in the group \
                 and its share of the group's spend (crm-reference §3.3: share = key spend / \
                 total spend). Refunds are netted per key; keys with non-positive net spend take \
                 no share; ties go to the key that sorts first. Rows with a NULL key or amount \
                 are ignored; NULL when there is no positive spend. Returns a struct {key, \
                 share}; read its fields with ['key'] and ['share'].",
                "share_of_wallet(key, amount)",
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
                "SELECT customer_id,\n       \
                 share_of_wallet(channel, net_amount)['key'] AS main_channel,\n       \
                 round(share_of_wallet(channel, net_amount)['share'], 2) AS main_share\n\
                 FROM orders GROUP BY customer_id;\n\
                 SELECT share_of_wallet(k, a) FROM (VALUES ('acme', 60.0), ('nova', 40.0)) AS t(k, a);\n\
                 -- (acme,0.6)",
            )
            .build()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::common::ScalarValue;
    use datafusion::prelude::SessionContext;

    #[test]
    fn top_key_breaks_ties_by_name() {
        let mut wallet = Wallet::default();
        wallet.add("zenith", 50.0);
        wallet.add("acme", 50.0);
        wallet.add("nova", -5.0);
        let ScalarValue::Struct(top) = finish(&wallet).unwrap() else {
            panic!("struct expected")
        };
        assert_eq!(top.column(0).as_string::<i32>().value(0), "acme");
        assert_eq!(
            top.column(1)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .value(0),
            0.5
        );
        assert!(finish(&Wallet::default()).unwrap().is_null());
    }

    #[tokio::test]
    async fn groups_in_sql() {
        let ctx = SessionContext::new();
        for f in functions() {
            crate::register(&ctx, f);
        }
        let batches = ctx
            .sql(
                "SELECT c, share_of_wallet(k, a)['key'] AS k, share_of_wallet(k, a)['share'] AS s \
                 FROM (VALUES (1, 'x', 30), (1, 'y', 10), (2, 'x', -5), (2, NULL, 9)) AS t(c, k, a) \
                 GROUP BY c ORDER BY c",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let batch = &batches[0];
        assert_eq!(batch.column(1).as_string::<i32>().value(0), "x");
        assert!(batch.column(1).is_null(1));
        let shares = batch
            .column(2)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        assert_eq!(shares.value(0), 0.75);
        assert!(shares.is_null(1));
    }
}
