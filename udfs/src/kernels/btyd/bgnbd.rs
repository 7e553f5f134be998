//! BG/NBD (Fader, Hardie & Lee 2005a; crm-reference §4.1): while alive a customer buys at a
//! Poisson rate λ ~ Gamma(r, α); after each purchase they drop out with probability
//! p ~ Beta(a, b).

use statrs::function::gamma::{digamma, ln_gamma};

use super::fit::{Estimate, maximize};
use super::hyp2f1::tail_over_b;
use super::observations::Rows;
use super::{History, log_add_exp, one_minus_exp_over, positive};

/// BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BgNbd {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale of the purchase-rate distribution (in the data's time unit).
    pub alpha: f64,
    /// Dropout Beta parameter a.
    pub a: f64,
    /// Dropout Beta parameter b.
    pub b: f64,
}

/// The parameter names, in order.
pub const NAMES: [&str; 4] = ["r", "alpha", "a", "b"];

impl BgNbd {
    /// Checked parameters (each finite and positive).
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<BgNbd, String> {
        positive("BG/NBD", &[("r", r), ("alpha", alpha), ("a", a), ("b", b)])?;
        Ok(BgNbd { r, alpha, a, b })
    }

    /// From `[r, alpha, a, b]`.
    pub fn from_slice(p: &[f64]) -> Result<BgNbd, String> {
        match p {
            [r, alpha, a, b] => BgNbd::new(*r, *alpha, *a, *b),
            _ => Err("BG/NBD takes 4 parameters".to_string()),
        }
    }

    /// The part of one customer's log-likelihood that depends on `x` alone:
    /// `lnΓ(r+x) − lnΓ(r) + ln B(a, b+x) − ln B(a, b)`.
    fn x_terms(&self, x: f64) -> f64 {
        let BgNbd { r, a, b, .. } = *self;
        ln_gamma(r + x) - ln_gamma(r) + ln_gamma(b + x) + ln_gamma(a + b)
            - ln_gamma(b)
            - ln_gamma(a + b + x)
    }

    /// One customer's log-likelihood (the stable form of Hardie's note 027).
    pub fn log_likelihood(&self, h: History) -> f64 {
        self.x_terms(h.x) + self.rest(h).0
    }

    /// `r ln α + logaddexp(A3, A4)`, with the softmax weight of A4.
    fn rest(&self, h: History) -> (f64, f64) {
        let BgNbd { r, alpha, a, b } = *self;
        let a3 = -(r + h.x) * (alpha + h.t).ln();
        let a4 = if h.x > 0.0 {
            a.ln() - (b + h.x - 1.0).ln() - (r + h.x) * (alpha + h.t_x).ln()
        } else {
            f64::NEG_INFINITY
        };
        let total = log_add_exp(a3, a4);
        (r * alpha.ln() + total, (a4 - total).exp())
    }

    /// P(alive | x, t_x, T) = 1 / (1 + [x>0] a/(b+x−1) ((α+T)/(α+t_x))^(r+x)).
    pub fn p_alive(&self, h: History) -> f64 {
        if h.x == 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let log_odds =
            a.ln() - (b + h.x - 1.0).ln() + (r + h.x) * ((alpha + h.t).ln() - (alpha + h.t_x).ln());
        1.0 / (1.0 + log_odds.exp())
    }

    /// E[Y(t) | x, t_x, T]: expected purchases in the next `t` time units. With `x = t_x = T
    /// = 0` it is E[X(t)], the expectation for a new customer.
    ///
    /// `(a+b+x−1)/(a−1) [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)] P(alive)` with
    /// `z = t/(α+T+t)`, evaluated after Euler's transformation as
    /// `(a+b+x−1) [1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)]/(a−1) P(alive)`, whose series
    /// terms stay bounded and which is continuous at `a = 1`.
    pub fn expected_purchases(&self, t: f64, h: History) -> Result<f64, String> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(format!("the horizon t must be >= 0, got {t}"));
        }
        if t == 0.0 {
            return Ok(0.0);
        }
        let BgNbd { r, alpha, a, b } = *self;
        let c = a + b + h.x - 1.0;
        if c <= 0.0 {
            return Err(format!(
                "BG/NBD expected purchases need a + b + x > 1 (a = {a}, b = {b}, x = {})",
                h.x
            ));
        }
        let z = t / (alpha + h.t + t);
        let log_one_minus_z = (alpha + h.t).ln() - (alpha + h.t + t).ln();
        let u = a - 1.0;
        let s = tail_over_b(a + b - 1.0 - r, u, c, z)?;
        let v = log_one_minus_z + if u == 0.0 { s } else { (u * s).ln_1p() / u };
        let expected = c * one_minus_exp_over(u, v) * self.p_alive(h);
        if expected.is_finite() {
            Ok(expected.max(0.0))
        } else {
            Err(format!("BG/NBD expected purchases overflowed at t = {t}"))
        }
    }
}

/// The negative mean log-likelihood of `rows` (`[x, t_x, T]`) at log-parameters `theta`
/// (`ln r, ln α, ln a, ln b`), and its gradient in `theta` written to `gradient`.
pub fn objective(rows: &Rows<3>, theta: &[f64], gradient: &mut [f64], threads: usize) -> f64 {
    let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let Ok(model) = BgNbd::from_slice(&p) else {
        return f64::INFINITY;
    };
    let BgNbd { r, alpha, a, b } = model;
    let sums = rows.sum_chunks::<5>(threads, |values, weights| {
        let mut out = [0.0; 5];
        let mut current_x = f64::NAN;
        let (mut x_ll, mut dr_x, mut da_x, mut db_x) = (0.0, 0.0, 0.0, 0.0);
        for (row, w) in values.iter().zip(weights) {
            let [x, t_x, t] = *row;
            if x != current_x {
                current_x = x;
                x_ll = model.x_terms(x);
                let ab = digamma(a + b) - digamma(a + b + x);
                dr_x = digamma(r + x) - digamma(r) + alpha.ln();
                da_x = ab;
                db_x = digamma(b + x) - digamma(b) + ab;
            }
            let h = History { x, t_x, t };
            let (rest, w4) = model.rest(h);
            let w3 = 1.0 - w4;
            let ln_at = (alpha + t).ln();
            let mut dr = dr_x - w3 * ln_at;
            let mut dalpha = r / alpha - w3 * (r + x) / (alpha + t);
            let mut da = da_x;
            let mut db = db_x;
            if x > 0.0 {
                dr -= w4 * (alpha + t_x).ln();
                dalpha -= w4 * (r + x) / (alpha + t_x);
                da += w4 / a;
                db -= w4 / (b + x - 1.0);
            }
            out[0] += w * (x_ll + rest);
            out[1] += w * dr;
            out[2] += w * dalpha;
            out[3] += w * da;
            out[4] += w * db;
        }
        out
    });
    let total = rows.total();
    // d/dθ = p · d/dp; negated and averaged.
    for (i, g) in gradient.iter_mut().enumerate().take(4) {
        *g = -sums[i + 1] * p[i] / total;
    }
    let value = -sums[0] / total;
    if value.is_finite() {
        value
    } else {
        f64::INFINITY
    }
}

/// The maximum-likelihood BG/NBD parameters for `rows` (`[x, t_x, T]`, weighted).
pub fn fit(rows: &Rows<3>, threads: usize) -> Result<Estimate, String> {
    let mean_t = check_repeaters("BG/NBD", rows)?;
    let objective = |theta: &[f64], gradient: &mut [f64]| objective(rows, theta, gradient, threads);
    let starts = [vec![1.0; 4], vec![0.5, mean_t / 5.0, 1.0, 2.0]];
    let scales = [1.0, mean_t, 1.0, 1.0];
    maximize("BG/NBD", &NAMES, &scales, &starts, rows.total(), &objective)
}

/// Checks that some customers repeat (else nothing identifies the purchase rate) and returns
/// the mean observation time `T` (the scale of α and β).
pub fn check_repeaters(model: &str, rows: &Rows<3>) -> Result<f64, String> {
    if !rows.values.iter().any(|row| row[0] > 0.0) {
        return Err(format!(
            "{model}: the data cannot identify the model: no customer has a repeat purchase"
        ));
    }
    let total = rows.total();
    let mean_t = rows
        .values
        .iter()
        .zip(&rows.weights)
        .map(|(row, w)| row[2] * w)
        .sum::<f64>()
        / total;
    Ok(mean_t.max(1e-3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::btyd::observations::Observations;
    use crate::kernels::btyd::testing::{check_gradient, close, history};
    use proptest::prelude::*;

    fn published() -> BgNbd {
        BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap()
    }

    #[test]
    fn reference_oracles() {
        let h = History::new(2.0, 30.43, 38.86).unwrap();
        let m = published();
        close(m.p_alive(h), 0.726579, 1e-6);
        close(m.expected_purchases(39.0, h).unwrap(), 1.226028, 1e-6);
        close(m.expected_purchases(52.0, h).unwrap(), 1.558721, 1e-6);
        let new = History::new(0.0, 0.0, 0.0).unwrap();
        close(m.expected_purchases(39.0, new).unwrap(), 1.196723, 1e-6);
        close(m.expected_purchases(78.0, new).unwrap(), 1.860519, 1e-6);
    }

    #[test]
    fn pymc_marketing_single_point_log_likelihood() {
        let m = BgNbd::new(0.25, 4.0, 0.8, 2.5).unwrap();
        close(
            m.log_likelihood(History::new(0.0, 0.0, 40.0).unwrap()),
            -0.59947382,
            1e-8,
        );
        close(
            m.log_likelihood(History::new(200.0, 38.0, 40.0).unwrap()),
            100.7957,
            1e-4,
        );
    }

    #[test]
    fn continuous_at_a_equal_one() {
        let h = History::new(3.0, 20.0, 30.0).unwrap();
        let at = |a: f64| {
            BgNbd::new(0.5, 5.0, a, 2.0)
                .unwrap()
                .expected_purchases(26.0, h)
                .unwrap()
        };
        close(at(1.0), (at(1.0 - 1e-7) + at(1.0 + 1e-7)) / 2.0, 1e-7);
    }

    #[test]
    fn analytic_gradient_matches_differences() {
        let mut o = Observations::<3>::new();
        for (x, t_x, t) in [(0.0, 0.0, 38.0), (2.0, 30.43, 38.86), (5.0, 12.0, 20.0)] {
            o.add([x, t_x, t], 3.0);
        }
        let rows = o.rows();
        check_gradient(
            |theta, gradient| objective(&rows, theta, gradient, 1),
            &[-1.2, 1.5, -0.2, 0.9],
        );
    }

    fn model() -> impl Strategy<Value = BgNbd> {
        (0.05f64..5.0, 0.5f64..50.0, 0.05f64..5.0, 0.05f64..10.0)
            .prop_map(|(r, alpha, a, b)| BgNbd::new(r, alpha, a, b).unwrap())
    }

    proptest! {
        #[test]
        fn p_alive_is_a_probability(m in model(), h in history()) {
            let p = m.p_alive(h);
            prop_assert!((0.0..=1.0).contains(&p));
        }

        #[test]
        fn expected_purchases_grow_with_the_horizon(
            m in model(), h in history(), t in 0.0f64..100.0, more in 0.0f64..100.0,
        ) {
            let (Ok(short), Ok(long)) =
                (m.expected_purchases(t, h), m.expected_purchases(t + more, h))
            else {
                // Outside the model's domain (a + b + x <= 1) every horizon is refused.
                prop_assert!(m.expected_purchases(t, h).is_err());
                prop_assert!(m.expected_purchases(t + more, h).is_err());
                return Ok(());
            };
            prop_assert!(short >= 0.0);
            prop_assert!(long >= short - 1e-9 * short.max(1.0), "{} < {}", long, short);
        }
    }
}
