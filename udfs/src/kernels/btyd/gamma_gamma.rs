//! The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, note 025;
//! crm-reference §4.3): transaction values are Gamma(p, ν) around a customer's mean, with
//! ν ~ Gamma(q, γ) across customers. Fitted on repeat buyers (`x >= 1`, `m_x > 0`).

use statrs::function::gamma::{digamma, ln_gamma};

use super::fit::{Estimate, maximize};
use super::observations::Rows;
use super::positive;

/// Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaGamma {
    /// Shape of the transaction values.
    pub p: f64,
    /// Shape of the customers' rate ν.
    pub q: f64,
    /// Scale of the customers' rate ν (lifetimes calls it `v`), in money.
    pub gamma: f64,
}

/// The parameter names, in order.
pub const NAMES: [&str; 3] = ["p", "q", "gamma"];

impl GammaGamma {
    /// Checked parameters (each finite and positive).
    pub fn new(p: f64, q: f64, gamma: f64) -> Result<GammaGamma, String> {
        positive("Gamma-Gamma", &[("p", p), ("q", q), ("gamma", gamma)])?;
        Ok(GammaGamma { p, q, gamma })
    }

    /// From `[p, q, gamma]`.
    pub fn from_slice(v: &[f64]) -> Result<GammaGamma, String> {
        match v {
            [p, q, gamma] => GammaGamma::new(*p, *q, *gamma),
            _ => Err("Gamma-Gamma takes 3 parameters".to_string()),
        }
    }

    /// One repeat buyer's log-likelihood (`x >= 1`, `m_x > 0`).
    pub fn log_likelihood(&self, x: f64, m_x: f64) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q)
            + q * gamma.ln()
            + (p * x - 1.0) * m_x.ln()
            + p * x * x.ln()
            - (p * x + q) * (gamma + m_x * x).ln()
    }

    /// E[M | x, m_x] = (γ + m_x x) p / (p x + q − 1): the customer's expected spend per
    /// transaction, between the population mean `pγ/(q−1)` (at `x = 0`) and `m_x`.
    pub fn expected_spend(&self, x: f64, m_x: f64) -> Result<f64, String> {
        let GammaGamma { p, q, gamma } = *self;
        if !(x.is_finite() && x >= 0.0 && m_x.is_finite()) {
            return Err(format!(
                "need x >= 0 and a finite m_x, got x = {x}, m_x = {m_x}"
            ));
        }
        if x > 0.0 && m_x <= 0.0 {
            return Err(format!(
                "the Gamma-Gamma model describes positive spend: a repeat buyer's m_x must be \
                 > 0, got {m_x}"
            ));
        }
        let denominator = p * x + q - 1.0;
        if denominator <= 0.0 {
            return Err(format!(
                "Gamma-Gamma expected spend needs p x + q > 1 (p = {p}, q = {q}, x = {x}); \
                 with q <= 1 the population mean spend is infinite"
            ));
        }
        Ok((gamma + m_x * x) * p / denominator)
    }
}

/// The negative mean log-likelihood of `rows` (`[x, m_x]`) at log-parameters `theta`
/// (`ln p, ln q, ln γ`), and its gradient in `theta` written to `gradient`.
pub fn objective(rows: &Rows<2>, theta: &[f64], gradient: &mut [f64], threads: usize) -> f64 {
    let v: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let Ok(model) = GammaGamma::from_slice(&v) else {
        return f64::INFINITY;
    };
    let GammaGamma { p, q, gamma } = model;
    let sums = rows.sum_chunks::<4>(threads, |values, weights| {
        let mut out = [0.0; 4];
        for (row, w) in values.iter().zip(weights) {
            let [x, m] = *row;
            let px = p * x;
            let log_denominator = (gamma + m * x).ln();
            let dig = digamma(px + q);
            out[0] += w * model.log_likelihood(x, m);
            out[1] += w * x * (dig - digamma(px) + m.ln() + x.ln() - log_denominator);
            out[2] += w * (dig - digamma(q) + gamma.ln() - log_denominator);
            out[3] += w * (q / gamma - (px + q) / (gamma + m * x));
        }
        out
    });
    let total = rows.total();
    for (i, g) in gradient.iter_mut().enumerate().take(3) {
        *g = -sums[i + 1] * v[i] / total;
    }
    let value = -sums[0] / total;
    if value.is_finite() {
        value
    } else {
        f64::INFINITY
    }
}

/// The maximum-likelihood Gamma-Gamma parameters for `rows` (`[x, m_x]` of repeat buyers,
/// weighted).
pub fn fit(rows: &Rows<2>, threads: usize) -> Result<Estimate, String> {
    let total = rows.total();
    if total < 2.0 {
        return Err(format!(
            "Gamma-Gamma: the data cannot identify the model: it needs at least 2 repeat \
             buyers with positive spend, got {total}"
        ));
    }
    let mean_spend = rows
        .values
        .iter()
        .zip(&rows.weights)
        .map(|(row, w)| row[1] * w)
        .sum::<f64>()
        / total;
    let objective = |theta: &[f64], gradient: &mut [f64]| objective(rows, theta, gradient, threads);
    let starts = [vec![1.0; 3], vec![2.0, 3.0, 2.0 * mean_spend]];
    let scales = [1.0, 1.0, mean_spend.max(f64::MIN_POSITIVE)];
    maximize("Gamma-Gamma", &NAMES, &scales, &starts, total, &objective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::btyd::observations::Observations;
    use crate::kernels::btyd::testing::check_gradient;
    use proptest::prelude::*;

    #[test]
    fn reference_oracle() {
        let m = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
        let spend = m.expected_spend(2.0, 22.35).unwrap();
        assert!((spend - 24.663714).abs() < 1e-6, "{spend}");
        let population = m.expected_spend(0.0, 0.0).unwrap();
        assert!((population - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert!(
            GammaGamma::new(1.0, 0.5, 1.0)
                .unwrap()
                .expected_spend(0.0, 0.0)
                .is_err()
        );
    }

    #[test]
    fn analytic_gradient_matches_differences() {
        let mut o = Observations::<2>::new();
        for (x, m) in [(1.0, 10.0), (2.0, 22.35), (7.0, 41.5)] {
            o.add([x, m], 2.0);
        }
        let rows = o.rows();
        check_gradient(
            |theta, gradient| objective(&rows, theta, gradient, 1),
            &[1.5, 1.2, 2.7],
        );
    }

    proptest! {
        /// The expectation lies between the population mean and the customer's own mean.
        #[test]
        fn shrinks_towards_the_population_mean(
            p in 0.5f64..20.0, q in 1.1f64..20.0, gamma in 0.5f64..100.0,
            x in 1u32..50, m in 0.01f64..500.0,
        ) {
            let model = GammaGamma::new(p, q, gamma).unwrap();
            let population = p * gamma / (q - 1.0);
            let e = model.expected_spend(f64::from(x), m).unwrap();
            let (low, high) = if population < m { (population, m) } else { (m, population) };
            prop_assert!(e >= low - 1e-9 * high && e <= high + 1e-9 * high);
        }
    }
}
