//! `bgnbd_p_alive(r, alpha, a, b, x, t_x, T)`: the probability that a customer is still alive.
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
    param("x", Kind::Number),
    param("t_x", Kind::Number),
    param("T", Kind::Number),
];

/// Registers `bgnbd_p_alive`.
pub fn functions() -> Vec<CrmFunction> {
    vec![ScalarSpec::numbers("bgnbd_p_alive", PARAMS, p_alive, DOC).into_function()]
}

fn p_alive(v: &[f64]) -> Result<f64, String> {
    let model = BgNbd::new(v[0], v[1], v[2], v[3])?;
    Ok(model.p_alive(History::new(v[4], v[5], v[6])?))
}

const DOC: Doc = Doc {
    description: "Probability that a customer is still alive under the BG/NBD model (crm-reference \
             §4.1): 1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)). It tells who is \
             likely to come back (alive: has not dropped out). 1 for customers without repeat \
             purchases (BG/NBD only lets a customer drop out right after a purchase), falling \
             the longer a frequent buyer has been silent. Parameters from bgnbd_fit; x, t_x, T \
             from btyd_summary (same time unit). NULL in any argument gives NULL. Errors: a \
             parameter that is not positive, x not a whole number >= 0, t_x outside [0, T].",
    syntax: "bgnbd_p_alive(r, alpha, a, b, x, t_x, T)",
    arguments: &[
        ("r, alpha", "purchase-rate Gamma shape and scale (> 0)"),
        ("a, b", "dropout Beta parameters (> 0)"),
        ("x", "repeat transactions in the calibration period"),
        ("t_x", "time of the last transaction since the first"),
        (
            "T",
            "time from the first transaction to the end of calibration",
        ),
    ],
    example: "SELECT round(bgnbd_p_alive(0.243, 4.414, 0.793, 2.426, 2, 30.43, 38.86), 6);\n\
             -- 0.726579\n\
             SELECT s.customer_id,\n       \
             bgnbd_p_alive(f.fit.r, f.fit.alpha, f.fit.a, f.fit.b, s.x, s.t_x, s.\"T\")\n\
             FROM btyd_summary('orders', DATE '2026-01-01') s\n\
             CROSS JOIN (SELECT bgnbd_fit(x, t_x, \"T\") AS fit\n            \
             FROM btyd_summary('orders', DATE '2026-01-01')) f;",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_customer() {
        let p = p_alive(&[0.243, 4.414, 0.793, 2.426, 2.0, 30.43, 38.86]).unwrap();
        assert!((p - 0.726579).abs() < 1e-6);
        assert_eq!(
            p_alive(&[0.243, 4.414, 0.793, 2.426, 0.0, 0.0, 38.86]).unwrap(),
            1.0
        );
    }

    #[test]
    fn bad_input_is_named() {
        let err = p_alive(&[0.243, -1.0, 0.793, 2.426, 2.0, 30.0, 38.0]).unwrap_err();
        assert!(err.contains("alpha must be a positive number"), "{err}");
        let err = p_alive(&[0.243, 4.4, 0.793, 2.426, 2.0, 40.0, 38.0]).unwrap_err();
        assert!(err.contains("t_x <= T"), "{err}");
    }
}
