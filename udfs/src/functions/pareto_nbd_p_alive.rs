//! `pareto_nbd_p_alive(r, alpha, s, beta, x, t_x, T)`: the probability that a customer is
//! still alive under the Pareto/NBD model (crm-reference §4.2).
//!
//! Business meaning: as `bgnbd_p_alive`, for the model where customers can drop out at any
//! time (not only after a purchase), so even a customer without repeat purchases fades.
//! `1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0)`, with `A0` from the Gauss hypergeometric
//! function, evaluated in log space.
//!
//! NULL in any argument gives NULL. Errors: a parameter that is not positive, `x < 0`,
//! `t_x` outside `[0, T]`.

use std::sync::OnceLock;

use datafusion::logical_expr::{Documentation, ScalarUDF};

use crate::CrmFunction;
use crate::args::scalar::{Kind, Param, param};
use crate::btyd::scalar::NumericFunction;
use crate::kernels::btyd::History;
use crate::kernels::btyd::pareto_nbd::ParetoNbd;

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
    vec![CrmFunction::Scalar(ScalarUDF::new_from_impl(
        NumericFunction::new("pareto_nbd_p_alive", PARAMS, p_alive, documentation()),
    ))]
}

fn p_alive(v: &[f64]) -> Result<f64, String> {
    let model = ParetoNbd::new(v[0], v[1], v[2], v[3])?;
    model.p_alive(History::new(v[4], v[5], v[6])?)
}

fn documentation() -> Documentation {
    static DOC: OnceLock<Documentation> = OnceLock::new();
    DOC.get_or_init(|| {
        crate::docs::builder(
            "Probability that a customer is still alive under the Pareto/NBD model \
             (crm-reference §4.2): 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0). \
             Parameters from pareto_nbd_fit; x, t_x, T from btyd_summary (same time unit). \
             NULL in any argument gives NULL.",
            "pareto_nbd_p_alive(r, alpha, s, beta, x, t_x, T)",
        )
        .with_argument("r, alpha", "purchase-rate Gamma shape and scale (> 0)")
        .with_argument("s, beta", "dropout-rate Gamma shape and scale (> 0)")
        .with_argument("x", "repeat transactions in the calibration period")
        .with_argument("t_x", "time of the last transaction since the first")
        .with_argument(
            "T",
            "time from the first transaction to the end of calibration",
        )
        .with_sql_example(
            "SELECT round(pareto_nbd_p_alive(0.553, 10.578, 0.606, 11.669, 2, 30.43, 38.86), 6);\n\
             -- 0.869168",
        )
        .build()
    })
    .clone()
}

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
