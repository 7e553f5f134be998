//! `gamma_gamma_expected_spend(p, q, gamma, x, m_x)`: expected spend per transaction.
//! Documented once, in `DOC` (FUNCTIONS.md is generated from it).

use crate::CrmFunction;
use crate::args::scalar::{Kind, Param, param};
use crate::kernels::btyd::gamma_gamma::GammaGamma;
use crate::scalar_spec::{Doc, ScalarSpec};

const PARAMS: &[Param] = &[
    param("p", Kind::Number),
    param("q", Kind::Number),
    param("gamma", Kind::Number),
    param("x", Kind::Number),
    param("m_x", Kind::Number),
];

/// Registers `gamma_gamma_expected_spend`.
pub fn functions() -> Vec<CrmFunction> {
    vec![
        ScalarSpec::numbers("gamma_gamma_expected_spend", PARAMS, expected_spend, DOC)
            .into_function(),
    ]
}

fn expected_spend(v: &[f64]) -> Result<f64, String> {
    GammaGamma::new(v[0], v[1], v[2])?.expected_spend(v[3], v[4])
}

const DOC: Doc = Doc {
    description: "Expected spend per transaction under the Gamma-Gamma model (crm-reference §4.3): \
             (gamma + m_x x) p / (p x + q - 1), between the population mean p gamma/(q-1) \
             (x = 0) and the customer's mean repeat spend m_x. It tells what a customer's next \
             orders are worth: a weighted mean of the two, with more weight on m_x the more \
             repeat purchases; with x = 0 it is the population mean, whatever m_x. Parameters \
             from gamma_gamma_fit. NULL in any argument gives NULL. Errors: a parameter that is \
             not positive, x < 0, m_x <= 0 with x > 0, p x + q <= 1 (the mean is infinite).",
    syntax: "gamma_gamma_expected_spend(p, q, gamma, x, m_x)",
    arguments: &[
        ("p, q, gamma", "Gamma-Gamma parameters (> 0)"),
        ("x", "repeat transactions"),
        ("m_x", "mean value of the repeat transactions"),
    ],
    example: "SELECT round(gamma_gamma_expected_spend(6.25, 3.74, 15.44, 2, 22.35), 6);\n\
             -- 24.663714",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_customer() {
        let e = expected_spend(&[6.25, 3.74, 15.44, 2.0, 22.35]).unwrap();
        assert!((e - 24.663714).abs() < 1e-6);
        assert!(expected_spend(&[6.25, 0.5, 15.44, 0.0, 0.0]).is_err());
    }
}
