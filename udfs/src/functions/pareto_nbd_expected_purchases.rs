//! `pareto_nbd_expected_purchases(r, alpha, s, beta, t, x, t_x, T)`: expected purchases.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use crate::CrmFunction;
use crate::args::scalar::{Kind, Param, param};
use crate::kernels::btyd::History;
use crate::kernels::btyd::pareto_nbd::ParetoNbd;
use crate::scalar_spec::{Doc, ScalarSpec};

const PARAMS: &[Param] = &[
    param("r", Kind::Number),
    param("alpha", Kind::Number),
    param("s", Kind::Number),
    param("beta", Kind::Number),
    param("t", Kind::Number),
    param("x", Kind::Number),
    param("t_x", Kind::Number),
    param("T", Kind::Number),
];

/// Registers `pareto_nbd_expected_purchases`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::numbers("pareto_nbd_expected_purchases", PARAMS, expected, DOC).into_function(),
    ]
}

fn expected(v: &[f64]) -> Result<f64, String> {
    let model = ParetoNbd::new(v[0], v[1], v[2], v[3])?;
    model.expected_purchases(v[4], History::new(v[5], v[6], v[7])?)
}

const DOC: Doc = Doc {
    description: "Expected purchases in the next t time units under Pareto/NBD, given the \
             customer's history (crm-reference §4.2): E[Y(t) | x, t_x, T], P(alive) included. \
             It is (r+x)(beta+T)/((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive), \
             continuous at s = 1. With x = t_x = T = 0 it is E[X(t)] for a new customer. \
             Parameters from pareto_nbd_fit. NULL in any argument gives NULL. Errors: a \
             parameter that is not positive, t < 0, x not a whole number >= 0, t_x outside \
             [0, T].",
    syntax: "pareto_nbd_expected_purchases(r, alpha, s, beta, t, x, t_x, T)",
    arguments: &[
        ("r, alpha, s, beta", "Pareto/NBD parameters (> 0)"),
        ("t", "the horizon (>= 0), in the time unit of t_x and T"),
        ("x", "repeat transactions in the calibration period"),
        ("t_x", "time of the last transaction since the first"),
        (
            "T",
            "time from the first transaction to the end of calibration",
        ),
    ],
    example: "SELECT round(pareto_nbd_expected_purchases(0.553, 10.578, 0.606, 11.669, 39, 2, \
             30.43, 38.86), 6);\n-- 1.455123",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_customer() {
        let e = expected(&[0.553, 10.578, 0.606, 11.669, 39.0, 2.0, 30.43, 38.86]).unwrap();
        assert!((e - 1.455123).abs() < 1e-6);
        let new = expected(&[0.553, 10.578, 0.606, 11.669, 39.0, 0.0, 0.0, 0.0]).unwrap();
        assert!((new - 1.213003).abs() < 1e-6);
    }
}
