//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note 009;
//! crm-reference §4.2): while alive a customer buys at a Poisson rate λ ~ Gamma(r, α) and
//! their lifetime is exponential with rate μ ~ Gamma(s, β).

use statrs::function::gamma::ln_gamma;

use super::bgnbd::check_repeaters;
use super::fit::{Estimate, maximize, numeric_gradient};
use super::hyp2f1::hyp2f1_one;
use super::observations::Rows;
use super::{History, log_add_exp, one_minus_exp_over, positive};

/// Pareto/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoNbd {
    /// Shape of the purchase-rate distribution.
    pub r: f64,
    /// Scale of the purchase-rate distribution.
    pub alpha: f64,
    /// Shape of the dropout-rate distribution.
    pub s: f64,
    /// Scale of the dropout-rate distribution.
    pub beta: f64,
}

/// The parameter names, in order.
pub const NAMES: [&str; 4] = ["r", "alpha", "s", "beta"];

impl ParetoNbd {
    /// Checked parameters (each finite and positive).
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<ParetoNbd, String> {
        positive(
            "Pareto/NBD",
            &[("r", r), ("alpha", alpha), ("s", s), ("beta", beta)],
        )?;
        Ok(ParetoNbd { r, alpha, s, beta })
    }

    /// From `[r, alpha, s, beta]`.
    pub fn from_slice(p: &[f64]) -> Result<ParetoNbd, String> {
        match p {
            [r, alpha, s, beta] => ParetoNbd::new(*r, *alpha, *s, *beta),
            _ => Err("Pareto/NBD takes 4 parameters".to_string()),
        }
    }

    /// `ln[₂F₁(r+s+x, ·; r+s+x+1; z(t)) / (max(α,β)+t)^(r+s+x)]`, one of the two terms of A0.
    /// After Euler's transformation it is `₂F₁(1, ·; r+s+x+1; z)` (see [`hyp2f1_one`]).
    fn log_a0_term(&self, x: f64, t: f64) -> Result<f64, String> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let c = r + s + x + 1.0;
        if alpha >= beta {
            let z = (alpha - beta) / (alpha + t);
            let f = hyp2f1_one(r + x, c, z)?;
            Ok(f.ln() - (r + x) * (alpha + t).ln() - s * (beta + t).ln())
        } else {
            let z = (beta - alpha) / (beta + t);
            let f = hyp2f1_one(s + 1.0, c, z)?;
            Ok(f.ln() + (1.0 - r - x) * (alpha + t).ln() - (1.0 + s) * (beta + t).ln())
        }
    }

    /// `ln A0` (−∞ when `t_x = T`).
    fn log_a0(&self, h: History) -> Result<f64, String> {
        let at_last = self.log_a0_term(h.x, h.t_x)?;
        let at_end = self.log_a0_term(h.x, h.t)?;
        let difference = (at_end - at_last).min(0.0);
        Ok(at_last + (-difference.exp_m1()).ln())
    }

    /// The log-likelihood without `lnΓ(r+x) − lnΓ(r)` (which depends on `x` alone).
    fn rest(&self, h: History) -> Result<f64, String> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let alive = -(r + h.x) * (alpha + h.t).ln() - s * (beta + h.t).ln();
        let gone = s.ln() - (r + s + h.x).ln() + self.log_a0(h)?;
        Ok(r * alpha.ln() + s * beta.ln() + log_add_exp(alive, gone))
    }

    /// One customer's log-likelihood.
    pub fn log_likelihood(&self, h: History) -> Result<f64, String> {
        Ok(ln_gamma(self.r + h.x) - ln_gamma(self.r) + self.rest(h)?)
    }

    /// P(alive | x, t_x, T) = 1 / (1 + s/(r+s+x) (α+T)^(r+x) (β+T)^s A0).
    pub fn p_alive(&self, h: History) -> Result<f64, String> {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let log_odds = s.ln() - (r + s + h.x).ln()
            + (r + h.x) * (alpha + h.t).ln()
            + s * (beta + h.t).ln()
            + self.log_a0(h)?;
        Ok(1.0 / (1.0 + log_odds.exp()))
    }

    /// E[Y(t) | x, t_x, T] = (r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)] P(alive),
    /// continuous at `s = 1`. With `x = t_x = T = 0` it is E[X(t)] for a new customer.
    pub fn expected_purchases(&self, t: f64, h: History) -> Result<f64, String> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(format!("the horizon t must be >= 0, got {t}"));
        }
        let ParetoNbd { r, alpha, s, beta } = *self;
        let log_ratio = (beta + h.t).ln() - (beta + h.t + t).ln();
        let expected = (r + h.x) * (beta + h.t) / (alpha + h.t)
            * one_minus_exp_over(s - 1.0, log_ratio)
            * self.p_alive(h)?;
        if expected.is_finite() {
            Ok(expected.max(0.0))
        } else {
            Err(format!(
                "Pareto/NBD expected purchases overflowed at t = {t}"
            ))
        }
    }
}

/// The negative mean log-likelihood of `rows` (`[x, t_x, T]`) at log-parameters `theta`
/// (`ln r, ln α, ln s, ln β`); `+∞` where it cannot be evaluated.
pub fn objective(rows: &Rows<3>, theta: &[f64], threads: usize) -> f64 {
    let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let Ok(model) = ParetoNbd::from_slice(&p) else {
        return f64::INFINITY;
    };
    let [sum] = rows.sum_chunks::<1>(threads, |values, weights| {
        let mut total = 0.0;
        let mut current_x = f64::NAN;
        let mut x_ll = 0.0;
        for (row, w) in values.iter().zip(weights) {
            let [x, t_x, t] = *row;
            if x != current_x {
                current_x = x;
                x_ll = ln_gamma(model.r + x) - ln_gamma(model.r);
            }
            match model.rest(History { x, t_x, t }) {
                Ok(rest) => total += w * (x_ll + rest),
                Err(_) => return [f64::NEG_INFINITY],
            }
        }
        [total]
    });
    let value = -sum / rows.total();
    if value.is_finite() {
        value
    } else {
        f64::INFINITY
    }
}

/// The maximum-likelihood Pareto/NBD parameters for `rows` (`[x, t_x, T]`, weighted). The
/// gradient is taken by central differences (the derivative of `₂F₁` in its parameters has
/// no cheap closed form).
pub fn fit(rows: &Rows<3>, threads: usize) -> Result<Estimate, String> {
    let mean_t = check_repeaters("Pareto/NBD", rows)?;
    let scale = mean_t / 5.0;
    let value = |theta: &[f64]| objective(rows, theta, threads);
    let objective = |theta: &[f64], gradient: &mut [f64]| {
        numeric_gradient(&value, theta, gradient);
        value(theta)
    };
    let starts = [vec![1.0; 4], vec![0.5, 2.0 * scale, 0.5, 2.0 * scale]];
    let scales = [1.0, mean_t, 1.0, mean_t];
    maximize(
        "Pareto/NBD",
        &NAMES,
        &scales,
        &starts,
        rows.total(),
        &objective,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::btyd::testing::{close, history};
    use proptest::prelude::*;

    #[test]
    fn reference_oracles() {
        let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669).unwrap();
        let h = History::new(2.0, 30.43, 38.86).unwrap();
        close(m.p_alive(h).unwrap(), 0.869168, 1e-6);
        close(m.expected_purchases(39.0, h).unwrap(), 1.455123, 1e-6);
        let new = History::new(0.0, 0.0, 0.0).unwrap();
        close(m.expected_purchases(39.0, new).unwrap(), 1.213003, 1e-6);
        close(m.expected_purchases(78.0, new).unwrap(), 1.909398, 1e-6);
    }

    #[test]
    fn both_branches_of_a0_agree_where_they_meet() {
        let h = History::new(3.0, 10.0, 30.0).unwrap();
        let below = ParetoNbd::new(0.5, 10.0 - 1e-9, 0.7, 10.0).unwrap();
        let above = ParetoNbd::new(0.5, 10.0 + 1e-9, 0.7, 10.0).unwrap();
        close(
            below.log_likelihood(h).unwrap(),
            above.log_likelihood(h).unwrap(),
            1e-7,
        );
    }

    #[test]
    fn bought_at_the_end_is_alive() {
        let m = ParetoNbd::new(0.5, 10.0, 0.7, 12.0).unwrap();
        close(
            m.p_alive(History::new(4.0, 20.0, 20.0).unwrap()).unwrap(),
            1.0,
            1e-12,
        );
    }

    fn model() -> impl Strategy<Value = ParetoNbd> {
        (0.05f64..5.0, 0.5f64..50.0, 0.05f64..5.0, 0.5f64..50.0)
            .prop_map(|(r, alpha, s, beta)| ParetoNbd::new(r, alpha, s, beta).unwrap())
    }

    proptest! {
        #[test]
        fn p_alive_is_a_probability(m in model(), h in history()) {
            let p = m.p_alive(h).unwrap();
            prop_assert!((0.0..=1.0).contains(&p));
        }

        #[test]
        fn expected_purchases_grow_with_the_horizon(
            m in model(), h in history(), t in 0.0f64..100.0, more in 0.0f64..100.0,
        ) {
            let short = m.expected_purchases(t, h).unwrap();
            let long = m.expected_purchases(t + more, h).unwrap();
            prop_assert!(short >= 0.0);
            prop_assert!(long >= short - 1e-9 * short.max(1.0));
        }
    }
}
