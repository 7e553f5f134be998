//! `bgnbd_expected_purchases(r, alpha, a, b, t, x, t_x, T)`: expected purchases under BG/NBD.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use crate::CrmFunction;
use crate::args::scalar::{Kind, Param, param};
use crate::kernels::btyd::History;
use crate::kernels::btyd::bgnbd::BgNbd;
use crate::scalar_spec::{Doc, ScalarSpec};

const PARAMS: &[Param] = &[
    param("r", Kind::Number),
    param("alpha", Kind::Number),
    param("a", Kind::Number),
    param("b", Kind::Number),
    param("t", Kind::Number),
    param("x", Kind::Number),
    param("t_x", Kind::Number),
    param("T", Kind::Number),
];

/// Registers `bgnbd_expected_purchases`.
pub fn functions() -> Vec<CrmFunction> {
    vec![ScalarSpec::numbers("bgnbd_expected_purchases", PARAMS, expected, DOC).into_function()]
}

// The kernel evaluates ₂F₁ after an Euler transformation, which stays accurate for large `x`
// and is continuous at `a = 1`; its series needs about `(α+T+t)/(α+T)` terms.
fn expected(v: &[f64]) -> Result<f64, String> {
    let model = BgNbd::new(v[0], v[1], v[2], v[3])?;
    model.expected_purchases(v[4], History::new(v[5], v[6], v[7])?)
}

const DOC: Doc = Doc {
    description: "Expected purchases in the next t time units under BG/NBD, given the customer's \
             history (crm-reference §4.1): E[Y(t) | x, t_x, T], which already weighs in \
             P(alive). It tells how much a customer will buy: (a+b+x-1)/(a-1) \
             [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] \
             P(alive). With x = t_x = T = 0 it is E[X(t)] for a new customer. Parameters from \
             bgnbd_fit; t, t_x and T in the same time unit (weeks by default in \
             btyd_summary). NULL in any argument gives NULL. Errors: a parameter that is not \
             positive, t < 0, x not a whole number >= 0, t_x outside [0, T], a + b + x <= 1, \
             a horizon too long for the series to converge (up to about a thousand times \
             alpha + T is fine).",
    syntax: "bgnbd_expected_purchases(r, alpha, a, b, t, x, t_x, T)",
    arguments: &[
        (
            "r, alpha, a, b",
            "BG/NBD parameters (> 0), e.g. from bgnbd_fit",
        ),
        ("t", "the horizon (>= 0), e.g. 90/7.0 for 90 days in weeks"),
        ("x", "repeat transactions in the calibration period"),
        ("t_x", "time of the last transaction since the first"),
        (
            "T",
            "time from the first transaction to the end of calibration",
        ),
    ],
    example: "SELECT round(bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 39, 2, 30.43, \
             38.86), 6);\n-- 1.226028\n\
             SELECT round(bgnbd_expected_purchases(0.243, 4.414, 0.793, 2.426, 39, 0, 0, 0), 6);\n\
             -- 1.196723 (a new customer)",
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_customer() {
        let e = expected(&[0.243, 4.414, 0.793, 2.426, 39.0, 2.0, 30.43, 38.86]).unwrap();
        assert!((e - 1.226028).abs() < 1e-6);
        assert!(expected(&[0.243, 4.414, 0.793, 2.426, -1.0, 2.0, 30.43, 38.86]).is_err());
    }

    proptest! {
        /// Never negative, and zero at a zero horizon.
        #[test]
        fn non_negative(x in 0u32..30, t in 0.0f64..200.0, big_t in 1.0f64..100.0, f in 0.0f64..1.0) {
            let t_x = if x == 0 { 0.0 } else { f * big_t };
            let e = expected(&[0.243, 4.414, 0.793, 2.426, t, f64::from(x), t_x, big_t]).unwrap();
            prop_assert!(e >= 0.0);
            let zero = expected(&[0.243, 4.414, 0.793, 2.426, 0.0, f64::from(x), t_x, big_t]).unwrap();
            prop_assert_eq!(zero, 0.0);
        }
    }
}
