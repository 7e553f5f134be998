//! `gamma_gamma_fit(x, m_x)`: maximum-likelihood Gamma-Gamma parameters of spend per
//! transaction, as a struct `{p, q, gamma, log_likelihood}` (crm-reference §4.3).
//!
//! Business meaning: how spend per order varies around each customer's own mean and across
//! customers; `gamma_gamma_expected_spend` and `clv` then shrink each customer's observed mean
//! towards the population's. The model is fitted on repeat buyers, so rows with `x = 0` are
//! skipped (their `m_x` says nothing). On the CDNOW sample (946 repeaters) it reproduces the
//! published p = 6.25, q = 3.74, γ = 15.44, LL = −4055.9.
//!
//! Rows with a NULL input are skipped; NULL for a group without repeat buyers. Errors: `x < 0`,
//! a repeat buyer with `m_x <= 0` (filter refunds-only customers out with `WHERE m_x > 0`),
//! fewer than 2 repeat buyers, or data that cannot identify the model.

use std::sync::OnceLock;

use datafusion::logical_expr::{AggregateUDF, Documentation};

use crate::CrmFunction;
use crate::btyd::aggregate::{FitAggregate, FitSpec};
use crate::kernels::btyd::gamma_gamma::{NAMES, fit};

/// Registers `gamma_gamma_fit`.
pub fn functions() -> Vec<CrmFunction> {
    vec![CrmFunction::Aggregate(AggregateUDF::new_from_impl(
        FitAggregate::new(SPEC, documentation()),
    ))]
}

const SPEC: FitSpec<2> = FitSpec {
    name: "gamma_gamma_fit",
    inputs: ["x", "m_x"],
    params: &NAMES,
    row: spend_row,
    fit,
};

/// Keeps repeat buyers; refuses negative counts and non-positive spend.
fn spend_row(row: [f64; 2]) -> Result<Option<[f64; 2]>, String> {
    let [x, m_x] = row;
    if !(x.is_finite() && x >= 0.0) {
        return Err(format!("x must be >= 0, got {x}"));
    }
    if x == 0.0 {
        return Ok(None);
    }
    if !(m_x.is_finite() && m_x > 0.0) {
        return Err(format!(
            "the Gamma-Gamma model needs a positive mean spend, got m_x = {m_x} for x = {x} \
             (add WHERE m_x > 0)"
        ));
    }
    Ok(Some(row))
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "Maximum-likelihood Gamma-Gamma spend parameters of the group (crm-reference §4.3), \
             as a struct {p, q, gamma, log_likelihood}, fitted on repeat buyers (rows with \
             x = 0 are skipped). A repeat buyer with m_x <= 0 is an error (filter with \
             WHERE m_x > 0). NULL without repeat buyers.",
            "gamma_gamma_fit(x, m_x)",
        )
        .with_argument("x", "repeat transactions")
        .with_argument("m_x", "mean value of the repeat transactions")
        .with_sql_example(
            "SELECT gamma_gamma_fit(x, m_x)\n\
             FROM btyd_summary('orders', DATE '2026-01-01') WHERE m_x > 0;",
        )
        .build()
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeaters_only() {
        assert_eq!(spend_row([0.0, 0.0]), Ok(None));
        assert_eq!(spend_row([2.0, 10.0]), Ok(Some([2.0, 10.0])));
        assert!(spend_row([2.0, 0.0]).unwrap_err().contains("WHERE m_x > 0"));
        assert!(spend_row([-1.0, 5.0]).is_err());
    }
}
