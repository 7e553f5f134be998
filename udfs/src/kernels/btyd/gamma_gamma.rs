//! The Gamma-Gamma model of spend per transaction (Fader & Hardie 2013, note 025;
//! crm-reference §4.3): transaction values are Gamma(p, ν) around a customer's mean, with
//! ν ~ Gamma(q, γ) across customers. Fitted on repeat buyers (`x >= 1`, `m_x > 0`).

use statrs::function::gamma::{digamma, ln_gamma};

use super::fit::{Estimate, maximize_second_order, to_search_variables};
use super::observations::{Rows, runs_of_equal_x};
use super::positive;
use super::trigamma::trigamma;

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

/// Repeat buyers prepared for the likelihood: rows `[x, m_x, ln m_x]`, sorted by `x`, with the
/// logarithm of the spend (which no parameter changes) taken once per fit.
#[derive(Debug, Clone)]
pub struct Buyers(Rows<3>);

impl Buyers {
    /// From rows `[x, m_x]` of repeat buyers.
    pub fn new(rows: &Rows<2>) -> Buyers {
        Buyers(Rows {
            values: rows.values.iter().map(|&[x, m]| [x, m, m.ln()]).collect(),
            weights: rows.weights.clone(),
        })
    }
}

/// The negative mean log-likelihood of `buyers` at log-parameters `theta` (`ln p, ln q,
/// ln γ`), its gradient in `theta` written to `gradient` and, when `hessian` is not empty, its
/// Hessian in `theta` (row-major 3 × 3) written to `hessian`.
///
/// Rows come sorted by `x`, so the log-gamma, digamma and trigamma terms are computed once
/// per run of equal `x`; each row adds only `ln(γ + m_x x)`, `1/(γ + m_x x)` and its square
/// to its run's sums.
pub fn objective(
    buyers: &Buyers,
    theta: &[f64],
    gradient: &mut [f64],
    hessian: &mut [f64],
    threads: usize,
) -> f64 {
    let rows = &buyers.0;
    let v: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let Ok(GammaGamma { p, q, gamma }) = GammaGamma::from_slice(&v) else {
        return f64::INFINITY;
    };
    let (ln_gamma_q, digamma_q, ln_scale) = (ln_gamma(q), digamma(q), gamma.ln());
    let trigamma_q = trigamma(q);
    // The log-likelihood, its gradient in (p, q, γ) and the upper triangle of its Hessian
    // (pp, pq, pγ, qq, qγ, γγ).
    let sums = rows.sum_chunks::<10>(threads, |values, weights| {
        let mut out = [0.0; 10];
        for (run, run_weights) in runs_of_equal_x(values, weights) {
            let x = run[0][0];
            // Σw, Σw ln m, Σw ln(γ + m x), Σw / (γ + m x), Σw / (γ + m x)² over the run.
            let (mut n, mut ln_m, mut ln_d, mut inv_d, mut inv_d2) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for (row, w) in run.iter().zip(run_weights) {
                let [_, m, log_m] = *row;
                let d = gamma + m * x;
                let inv = 1.0 / d;
                n += w;
                ln_m += w * log_m;
                ln_d += w * d.ln();
                inv_d += w * inv;
                inv_d2 += w * inv * inv;
            }
            let px = p * x;
            let k = px + q;
            let (ln_x, dig, tri) = (x.ln(), digamma(k), trigamma(k));
            out[0] += n * (ln_gamma(k) - ln_gamma(px) - ln_gamma_q + q * ln_scale + px * ln_x)
                + (px - 1.0) * ln_m
                - k * ln_d;
            out[1] += x * (n * (dig - digamma(px) + ln_x) + ln_m - ln_d);
            out[2] += n * (dig - digamma_q + ln_scale) - ln_d;
            out[3] += n * q / gamma - k * inv_d;
            out[4] += n * x * x * (tri - trigamma(px));
            out[5] += n * x * tri;
            out[6] -= x * inv_d;
            out[7] += n * (tri - trigamma_q);
            out[8] += n / gamma - inv_d;
            out[9] += -n * q / (gamma * gamma) + k * inv_d2;
        }
        out
    });
    let upper = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)];
    let mut h = [0.0; 9];
    for (&(i, j), value) in upper.iter().zip(&sums[4..]) {
        h[i * 3 + j] = *value;
        h[j * 3 + i] = *value;
    }
    let total = rows.total();
    to_search_variables(&v, &sums[1..4], &h, total, gradient, hessian);
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
    let buyers = Buyers::new(rows);
    let objective = |theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]| {
        objective(&buyers, theta, gradient, hessian, threads)
    };
    let starts = [vec![1.0; 3], vec![2.0, 3.0, 2.0 * mean_spend]];
    let scales = [1.0, 1.0, mean_spend.max(f64::MIN_POSITIVE)];
    maximize_second_order("Gamma-Gamma", &NAMES, &scales, &starts, total, &objective)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::btyd::fit::EVALUATIONS;
    use crate::kernels::btyd::observations::Observations;
    use crate::kernels::btyd::testing::{check_gradient, check_hessian, simulated_shop};
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
        for (x, m) in [(1.0, 10.0), (2.0, 22.35), (2.0, 5.0), (7.0, 41.5)] {
            o.add([x, m], 2.0);
        }
        let buyers = Buyers::new(&o.rows());
        check_gradient(
            |theta, gradient| objective(&buyers, theta, gradient, &mut [], 1),
            &[1.5, 1.2, 2.7],
        );
        for theta in [[1.5, 1.2, 2.7], [-0.4, 0.3, 0.1]] {
            check_hessian(
                |theta, gradient, hessian| objective(&buyers, theta, gradient, hessian, 1),
                &theta,
            );
        }
    }

    /// A fit of a simulated shop's repeat buyers finds the parameters their spend was drawn
    /// from, in few evaluations (a tighter stop took 434 on the 100,000-customer demo).
    #[test]
    fn fits_a_simulated_shop_in_few_evaluations() {
        let (_, buyers) = simulated_shop(20_000);
        EVALUATIONS.set(0);
        let estimate = fit(&buyers, 2).unwrap();
        let evaluations = EVALUATIONS.get();
        assert!(evaluations <= 15, "{evaluations} evaluations");
        // p and γ trade off against each other; the population's mean spend pγ/(q−1) is
        // what the data pin down (6.25 · 15 / 2.7 in the simulation).
        let [p, q, gamma] = estimate.params[..] else {
            panic!("three parameters");
        };
        let mean = p * gamma / (q - 1.0);
        assert!((mean / (6.25 * 15.0 / 2.7) - 1.0).abs() < 0.03, "{mean}");
    }

    proptest! {
        /// The objective, summed per run of equal `x`, is minus the mean of the customers'
        /// own log-likelihoods.
        #[test]
        fn objective_is_the_mean_log_likelihood(
            p in 0.5f64..20.0, q in 0.5f64..20.0, gamma in 0.5f64..100.0,
            buyers in proptest::collection::vec((1u32..30, 0.01f64..500.0, 1u32..4), 1..60),
        ) {
            let model = GammaGamma::new(p, q, gamma).unwrap();
            let mut o = Observations::<2>::new();
            let (mut total, mut sum) = (0.0, 0.0);
            for (x, m, w) in &buyers {
                let (x, w) = (f64::from(*x), f64::from(*w));
                o.add([x, *m], w);
                total += w;
                sum += w * model.log_likelihood(x, *m);
            }
            let theta = [p.ln(), q.ln(), gamma.ln()];
            let value = objective(&Buyers::new(&o.rows()), &theta, &mut [0.0; 3], &mut [], 2);
            prop_assert!((value + sum / total).abs() <= 1e-9 * (sum / total).abs().max(1.0));
        }

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
