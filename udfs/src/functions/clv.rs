//! `clv(r, alpha, a, b, p, q, gamma, x, t_x, T, m_x, months, monthly_discount,
//! periods_per_month)`: a customer's discounted lifetime value over the next `months` months.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use crate::CrmFunction;
use crate::args::scalar::{Kind, Param, param};
use crate::btyd::whole;
use crate::kernels::btyd::History;
use crate::kernels::btyd::bgnbd::BgNbd;
use crate::kernels::btyd::clv::discounted_value;
use crate::kernels::btyd::gamma_gamma::GammaGamma;
use crate::scalar_spec::{Doc, ScalarSpec};

const PARAMS: &[Param] = &[
    param("r", Kind::Number),
    param("alpha", Kind::Number),
    param("a", Kind::Number),
    param("b", Kind::Number),
    param("p", Kind::Number),
    param("q", Kind::Number),
    param("gamma", Kind::Number),
    param("x", Kind::Number),
    param("t_x", Kind::Number),
    param("T", Kind::Number),
    param("m_x", Kind::Number),
    param("months", Kind::Number),
    param("monthly_discount", Kind::Number),
    param("periods_per_month", Kind::Number),
];

/// Registers `clv`.
pub fn functions() -> Vec<CrmFunction> {
    vec![ScalarSpec::numbers("clv", PARAMS, clv, DOC).into_function()]
}

fn clv(v: &[f64]) -> Result<f64, String> {
    let purchases = BgNbd::new(v[0], v[1], v[2], v[3])?;
    let spend = GammaGamma::new(v[4], v[5], v[6])?;
    let history = History::new(v[7], v[8], v[9])?;
    let per_purchase = spend.expected_spend(history.x, v[10])?;
    discounted_value(whole("months", v[11])?, v[12], v[13], per_purchase, |t| {
        purchases.expected_purchases(t, history)
    })
}

const DOC: Doc = Doc {
    description: "Customer lifetime value over the next months, discounted monthly (crm-reference \
             §4.4, lifetimes' customer_lifetime_value): the sum over i = 1..months of \
             E[M] (E[Y(i f)] - E[Y((i-1) f)]) / (1 + monthly_discount)^i, with E[Y] from BG/NBD, \
             E[M] from Gamma-Gamma and f = periods_per_month (4.345 for weeks, 30 for days, \
             1 for months). It is what a customer is worth, in money, discounted to today. \
             NULL in any argument gives NULL. Errors: a model parameter that is not positive, \
             months that is not a whole number from 0 to 1200, monthly_discount <= -1, \
             periods_per_month <= 0, and the histories and spends that \
             bgnbd_expected_purchases and gamma_gamma_expected_spend refuse.",
    syntax: "clv(r, alpha, a, b, p, q, gamma, x, t_x, T, m_x, months, monthly_discount, \
             periods_per_month)",
    arguments: &[
        ("r, alpha, a, b", "BG/NBD parameters (bgnbd_fit)"),
        ("p, q, gamma", "Gamma-Gamma parameters (gamma_gamma_fit)"),
        ("x, t_x, T", "the customer's history (btyd_summary)"),
        (
            "m_x",
            "mean repeat spend (btyd_summary; any value when x = 0)",
        ),
        ("months", "the horizon in months (whole number, e.g. 12)"),
        ("monthly_discount", "discount rate per month (e.g. 0.01)"),
        (
            "periods_per_month",
            "time units per month: 4.345 for weeks, 30 for days, 1 for months",
        ),
    ],
    example: "SELECT round(clv(0.243, 4.414, 0.793, 2.426, 6.25, 3.74, 15.44, 2, 30.43, 38.86, \
             22.35, 12, 0.01, 4.345), 6);\n-- 36.289211",
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PUBLISHED: [f64; 7] = [0.243, 4.414, 0.793, 2.426, 6.25, 3.74, 15.44];

    fn call(x: f64, t_x: f64, t: f64, m: f64, months: f64) -> Result<f64, String> {
        let mut v = PUBLISHED.to_vec();
        v.extend([x, t_x, t, m, months, 0.01, 4.345]);
        clv(&v)
    }

    #[test]
    fn published_customer() {
        let value = call(2.0, 30.43, 38.86, 22.35, 12.0).unwrap();
        assert!((value - 36.289211).abs() < 1e-6, "{value}");
        assert!(call(2.0, 30.43, 38.86, 22.35, 1.5).is_err());
    }

    proptest! {
        /// Non-negative, and growing with the horizon.
        #[test]
        fn non_negative_and_growing(
            x in 0u32..20, f in 0.0f64..1.0, t in 1.0f64..80.0, m in 0.0f64..200.0,
            months in 0u32..36,
        ) {
            let t_x = if x == 0 { 0.0 } else { f * t };
            let short = call(f64::from(x), t_x, t, m, f64::from(months)).unwrap();
            let long = call(f64::from(x), t_x, t, m, f64::from(months + 1)).unwrap();
            prop_assert!(short >= 0.0);
            prop_assert!(long >= short);
        }
    }
}
