//! `pareto_nbd_p_alive(r, alpha, s, beta, x, t_x, T)`: the probability that a customer is alive.
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
    param("x", Kind::Number),
    param("t_x", Kind::Number),
    param("T", Kind::Number),
];

/// Registers `pareto_nbd_p_alive`.
pub fn functions() -> Vec<CrmFunction> {
    vec![ScalarSpec::numbers("pareto_nbd_p_alive", PARAMS, p_alive, DOC).into_function()]
}

// The kernel evaluates both likelihood terms in log space.
fn p_alive(v: &[f64]) -> Result<f64, String> {
    let model = ParetoNbd::new(v[0], v[1], v[2], v[3])?;
    model.p_alive(History::new(v[4], v[5], v[6])?)
}

const DOC: Doc = Doc {
    description: "Probability that a customer is still alive under the Pareto/NBD model \
             (crm-reference §4.2): 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0), with A0 \
             evaluated as its integral over the time of dropout between t_x and T. The same question as bgnbd_p_alive (who is \
             likely to come back), for the model where customers can drop out at any time, not \
             only after a purchase, so even a customer without repeat purchases fades. \
             Parameters from pareto_nbd_fit; x, t_x, T from btyd_summary (same time unit). \
             NULL in any argument gives NULL. Errors: a parameter that is not positive, x not a \
             whole number >= 0, t_x outside [0, T].",
    syntax: "pareto_nbd_p_alive(r, alpha, s, beta, x, t_x, T)",
    arguments: &[
        ("r, alpha", "purchase-rate Gamma shape and scale (> 0)"),
        ("s, beta", "dropout-rate Gamma shape and scale (> 0)"),
        ("x", "repeat transactions in the calibration period"),
        ("t_x", "time of the last transaction since the first"),
        (
            "T",
            "time from the first transaction to the end of calibration",
        ),
    ],
    example: "SELECT round(pareto_nbd_p_alive(0.553, 10.578, 0.606, 11.669, 2, 30.43, 38.86), 6);\n\
             -- 0.869168",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_customer() {
        let p = p_alive(&[0.553, 10.578, 0.606, 11.669, 2.0, 30.43, 38.86]).unwrap();
        assert!((p - 0.869168).abs() < 1e-6);
        assert!(p_alive(&[0.553, 10.578, 0.0, 11.669, 2.0, 30.43, 38.86]).is_err());
    }
}
