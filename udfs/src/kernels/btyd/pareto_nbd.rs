//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note 009;
//! crm-reference §4.2): while alive a customer buys at a Poisson rate λ ~ Gamma(r, α) and
//! their lifetime is exponential with rate μ ~ Gamma(s, β).
//!
//! One customer's likelihood is evaluated from its integral form (Fader & Hardie note 009,
//! before the integral is solved with `₂F₁`):
//!
//! `L = Γ(r+x)/Γ(r) · α^r · [ (α+T)^−(r+x) S(T) + ∫_{t_x}^{T} (α+y)^−(r+x) f(y) dy ]`
//!
//! where `S` and `f` are the survival function and density of the lifetime after mixing over
//! μ. The dropout side is parametrised by its mean rate `μ̄ = s/β` and the squared coefficient
//! of variation `v = 1/s`: `S(y) = (1 + μ̄vy)^(−1/v)` and `f(y) = μ̄ (1 + μ̄vy)^(−1/v − 1)`. At
//! `v = 0` this is the exponential-dropout limit (every customer drops out at the same rate
//! μ̄, `s → ∞` with `s/β` fixed), which many shops' data sit at: in this form it is an
//! ordinary point, so fits reach it directly instead of walking `s` and `β` off to infinity.
//!
//! The integrand is positive, decreasing and log-convex; it is integrated by ten-point
//! Gauss-Legendre panels, each as wide as the integrand takes to fall by `e^2.5` and no wider
//! than its distance to the nearest singularity (`y = −α`, `y = −β`), until it has fallen by
//! `e^45`. That gives about 1e-14 relative (checked against the closed form in `₂F₁`), and
//! the gradient in all four parameters comes from the same nodes.

use statrs::function::gamma::{digamma, ln_gamma};

use super::bgnbd::check_repeaters;
use super::fit::{BOUNDARY, Estimate, search};
use super::gauss_legendre::for_each_node;
use super::observations::Rows;
use super::{History, one_minus_exp_over, positive};

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

/// The largest `s` a fit reports. A fit that reaches the exponential-dropout limit (`s → ∞`)
/// reports `s` = this and `β = s / μ̄`: a dropout rate whose coefficient of variation is
/// 0.1%, indistinguishable from the limit in every prediction.
pub const S_LIMIT: f64 = 1e6;

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

    fn rates(&self) -> Rates {
        Rates::new(self.r, self.alpha, self.s / self.beta, 1.0 / self.s)
    }

    /// One customer's log-likelihood.
    pub fn log_likelihood(&self, h: History) -> Result<f64, String> {
        let terms = self.rates().terms(h)?;
        Ok(ln_gamma(self.r + h.x) - ln_gamma(self.r) + terms.log_sum)
    }

    /// P(alive | x, t_x, T): the share of the likelihood from staying alive until `T`.
    pub fn p_alive(&self, h: History) -> Result<f64, String> {
        Ok(self.rates().terms(h)?.alive_share)
    }

    /// E[Y(t) | x, t_x, T] = (r+x)(β+T)/((α+T)(s−1)) [1 − ((β+T)/(β+T+t))^(s−1)] P(alive),
    /// continuous at `s = 1`. With `x = t_x = T = 0` it is E[X(t)] for a new customer.
    pub fn expected_purchases(&self, t: f64, h: History) -> Result<f64, String> {
        if !(t.is_finite() && t >= 0.0) {
            return Err(format!("the horizon t must be >= 0, got {t}"));
        }
        let Rates {
            r, alpha, mu, v, ..
        } = self.rates();
        // The dropout hazard of a customer alive at T, and the log-survival over the horizon
        // divided by v: (β+T)/(s−1) = 1/(c(1−v)), ((β+T)/(β+T+t))^(s−1) = e^−(1−v)u.
        let c = mu / (1.0 + mu * v * h.t);
        let u = c * t * ln1p_over(v * c * t);
        let expected =
            (r + h.x) / ((alpha + h.t) * c) * one_minus_exp_over(1.0 - v, -u) * self.p_alive(h)?;
        if expected.is_finite() {
            Ok(expected.max(0.0))
        } else {
            Err(format!(
                "Pareto/NBD expected purchases overflowed at t = {t}"
            ))
        }
    }
}

/// `ln(1+z)/z`, 1 at `z = 0`.
fn ln1p_over(z: f64) -> f64 {
    if z == 0.0 { 1.0 } else { z.ln_1p() / z }
}

/// `(ln(1+z) − z/(1+z)) / z²` given `ln(1+z)`, ½ at `z = 0` (the derivative of the
/// log-survival in `v`).
fn survival_curvature(z: f64, log1p_z: f64) -> f64 {
    if z < 1e-3 {
        // The series: 1/2 − 2z/3 + 3z²/4 − 4z³/5 + 5z⁴/6.
        0.5 + z * (-2.0 / 3.0 + z * (0.75 + z * (-0.8 + z * (5.0 / 6.0))))
    } else {
        (log1p_z - z / (1.0 + z)) / (z * z)
    }
}

/// The model in the fitting parametrisation: `r`, `α`, the mean dropout rate `μ̄ = s/β` and
/// `v = 1/s` (`v = 0` is the exponential-dropout limit).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rates {
    r: f64,
    alpha: f64,
    mu: f64,
    v: f64,
    log_alpha: f64,
    log_mu: f64,
}

/// One customer's likelihood without `Γ(r+x)/Γ(r)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Terms {
    /// `ln(alive + gone)`.
    log_sum: f64,
    /// `alive / (alive + gone)`: P(alive at T).
    alive_share: f64,
    /// The gradient of `log_sum` in `(ln r, ln α, ln μ̄, v)`.
    gradient: [f64; 4],
}

/// The log of one term's integrand at `y` and its gradient in `(ln r, ln α, ln μ̄, v)`.
type LogTerm = (f64, [f64; 4]);

impl Rates {
    fn new(r: f64, alpha: f64, mu: f64, v: f64) -> Rates {
        Rates {
            r,
            alpha,
            mu,
            v,
            log_alpha: alpha.ln(),
            log_mu: mu.ln(),
        }
    }

    /// `ln S(y)` and its partials in `ln μ̄` and `v`, given `z = μ̄vy` and `ln(1 + z)`.
    fn log_survival(&self, y: f64, z: f64, log1p_z: f64) -> (f64, f64, f64) {
        let my = self.mu * y;
        let log_s = if z == 0.0 { -my } else { -my * (log1p_z / z) };
        (
            log_s,
            -my / (1.0 + z),
            my * my * survival_curvature(z, log1p_z),
        )
    }

    /// `r ln α − (r+x) ln(α+y)` and its partials in `ln r` and `ln α`.
    fn log_purchases(&self, x: f64, y: f64) -> (f64, f64, f64) {
        let Rates { r, alpha, .. } = *self;
        let log_ratio = -(y / alpha).ln_1p();
        let value = r * log_ratio - x * (self.log_alpha - log_ratio);
        (value, r * log_ratio, r - (r + x) * alpha / (alpha + y))
    }

    /// The alive term: `r ln α − (r+x) ln(α+T) + ln S(T)`.
    fn log_alive(&self, h: History) -> LogTerm {
        let (p, dr, da) = self.log_purchases(h.x, h.t);
        let z = self.mu * self.v * h.t;
        let (s, dm, dv) = self.log_survival(h.t, z, z.ln_1p());
        (p + s, [dr, da, dm, dv])
    }

    /// The integrand of the gone term at `y`: `r ln α − (r+x) ln(α+y) + ln f(y)`.
    fn log_gone_at(&self, x: f64, y: f64) -> LogTerm {
        let Rates { mu, v, .. } = *self;
        let (p, dr, da) = self.log_purchases(x, y);
        let z = mu * v * y;
        let log1p_z = z.ln_1p();
        let (s, dm, dv) = self.log_survival(y, z, log1p_z);
        let value = p + self.log_mu + s - log1p_z;
        let over = 1.0 / (1.0 + z);
        (value, [dr, da, 1.0 + dm - z * over, dv - mu * y * over])
    }

    /// How fast the gone integrand falls at `y` (minus its log-derivative).
    fn decay(&self, x: f64, y: f64) -> f64 {
        let Rates {
            r, alpha, mu, v, ..
        } = *self;
        (r + x) / (alpha + y) + mu * (1.0 + v) / (1.0 + mu * v * y)
    }

    /// The customer's two likelihood terms, summed in log space, with the gradient.
    fn terms(&self, h: History) -> Result<Terms, String> {
        let (alive, d_alive) = self.log_alive(h);
        let (first, _) = self.log_gone_at(h.x, h.t_x);
        let top = alive.max(first);
        let mut sum = (alive - top).exp();
        let mut gradient = d_alive.map(|d| d * sum);
        let alive_weight = sum;
        let mut y = h.t_x;
        // The nearest singularities of the integrand, at y = −α and y = −β = −1/(μ̄v).
        let beta = 1.0 / (self.mu * self.v);
        let mut panels = 0;
        // The integrand at the panel's last node (the rightmost, see `for_each_node`): it
        // decreases, so stopping once it has fallen by e^45 there drops less than the bound.
        let mut last = first;
        while y < h.t && last - top >= -45.0 {
            let width = (2.5 / self.decay(h.x, y))
                .min(self.alpha + y)
                .min(beta + y)
                .min(h.t - y);
            let end = if width >= h.t - y { h.t } else { y + width };
            for_each_node(y, end, |node, weight| {
                let (value, d) = self.log_gone_at(h.x, node);
                last = value;
                let term = weight * (value - top).exp();
                sum += term;
                for (g, d) in gradient.iter_mut().zip(d) {
                    *g += term * d;
                }
            });
            y = end;
            panels += 1;
            if panels > 10_000 {
                return Err(format!(
                    "Pareto/NBD: the likelihood integral did not converge at x = {}, t_x = {}, T = {}",
                    h.x, h.t_x, h.t
                ));
            }
        }
        let log_sum = top + sum.ln();
        if !log_sum.is_finite() {
            return Err(format!(
                "Pareto/NBD: the likelihood cannot be evaluated at x = {}, t_x = {}, T = {}",
                h.x, h.t_x, h.t
            ));
        }
        Ok(Terms {
            log_sum,
            alive_share: alive_weight / sum,
            gradient: gradient.map(|g| g / sum),
        })
    }
}

/// The fit's search variables: `(ln r, ln α, ln μ̄, w)` with `v = 1/s = w²`, so the
/// exponential-dropout limit `w = 0` is an interior point of an unbounded search.
fn rates_at(theta: &[f64]) -> Option<Rates> {
    let [log_r, log_alpha, log_mu, w] = *theta else {
        return None;
    };
    let rates = Rates::new(log_r.exp(), log_alpha.exp(), log_mu.exp(), w * w);
    let finite = [rates.r, rates.alpha, rates.mu, rates.v];
    (finite.iter().all(|p| p.is_finite()) && rates.r > 0.0 && rates.alpha > 0.0 && rates.mu > 0.0)
        .then_some(rates)
}

/// The negative mean log-likelihood of `rows` (`[x, t_x, T]`) at the search variables
/// `theta` (see [`rates_at`]), and its gradient in `theta` written to `gradient`; `+∞`
/// where it cannot be evaluated.
pub fn objective(rows: &Rows<3>, theta: &[f64], gradient: &mut [f64], threads: usize) -> f64 {
    let Some(rates) = rates_at(theta) else {
        return f64::INFINITY;
    };
    let r = rates.r;
    let sums = rows.sum_chunks::<5>(threads, |values, weights| {
        let mut out = [0.0; 5];
        let mut current_x = f64::NAN;
        let (mut x_ll, mut x_dr) = (0.0, 0.0);
        for (row, w) in values.iter().zip(weights) {
            let [x, t_x, t] = *row;
            if x != current_x {
                current_x = x;
                x_ll = ln_gamma(r + x) - ln_gamma(r);
                x_dr = r * (digamma(r + x) - digamma(r));
            }
            let Ok(terms) = rates.terms(History { x, t_x, t }) else {
                return [f64::NAN; 5];
            };
            out[0] += w * (x_ll + terms.log_sum);
            out[1] += w * (x_dr + terms.gradient[0]);
            out[2] += w * terms.gradient[1];
            out[3] += w * terms.gradient[2];
            out[4] += w * terms.gradient[3];
        }
        out
    });
    let total = rows.total();
    let value = -sums[0] / total;
    if !(value.is_finite() && sums.iter().all(|s| s.is_finite())) {
        return f64::INFINITY;
    }
    gradient[0] = -sums[1] / total;
    gradient[1] = -sums[2] / total;
    gradient[2] = -sums[3] / total;
    // dv/dw = 2w.
    gradient[3] = -sums[4] * 2.0 * theta[3] / total;
    value
}

/// The maximum-likelihood Pareto/NBD parameters for `rows` (`[x, t_x, T]`, weighted), with
/// the analytic gradient. When the data sit at the exponential-dropout limit the estimate
/// reports `s` = [`S_LIMIT`] (see there).
pub fn fit(rows: &Rows<3>, threads: usize) -> Result<Estimate, String> {
    let mean_t = check_repeaters("Pareto/NBD", rows)?;
    let scale = mean_t / 5.0;
    let objective = |theta: &[f64], gradient: &mut [f64]| objective(rows, theta, gradient, threads);
    let start = |r: f64, alpha: f64, s: f64, beta: f64| {
        vec![r.ln(), alpha.ln(), (s / beta).ln(), 1.0 / s.sqrt()]
    };
    let starts = [
        start(1.0, 1.0, 1.0, 1.0),
        start(0.5, 2.0 * scale, 0.5, 2.0 * scale),
    ];
    let (theta, value) = search("Pareto/NBD", &starts, &objective)?;
    let Some(rates) = rates_at(&theta) else {
        return Err("Pareto/NBD: the fit left the parameter space".to_string());
    };
    let off = |name: &str, direction: &str| {
        Err(format!(
            "Pareto/NBD: the data cannot identify the model ({name} runs off to {direction}); \
             it needs more customers with varied repeat purchases"
        ))
    };
    let checks = [
        ("r", rates.r.ln()),
        ("alpha", (rates.alpha / mean_t).ln()),
        ("the dropout rate s/beta", (rates.mu * mean_t).ln()),
    ];
    for (name, log_offset) in checks {
        if log_offset.abs() > BOUNDARY {
            return off(name, if log_offset > 0.0 { "infinity" } else { "zero" });
        }
    }
    let s = (1.0 / rates.v).min(S_LIMIT);
    if s.ln() < -BOUNDARY {
        return off("s", "zero");
    }
    let model = ParetoNbd::new(rates.r, rates.alpha, s, s / rates.mu)?;
    // At the limit the reported s is not the optimum's: its likelihood is evaluated again.
    let value = if s < S_LIMIT {
        value
    } else {
        let reported = [theta[0], theta[1], theta[2], 1.0 / s.sqrt()];
        objective(&reported, &mut [0.0; 4])
    };
    Ok(Estimate {
        params: vec![model.r, model.alpha, model.s, model.beta],
        log_likelihood: -value * rows.total(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::btyd::hyp2f1::hyp2f1_one;
    use crate::kernels::btyd::log_add_exp;
    use crate::kernels::btyd::observations::Observations;
    use crate::kernels::btyd::testing::{check_gradient, close, history};
    use proptest::prelude::*;

    /// The closed form of one customer's log-likelihood in `₂F₁` (crm-reference §4.2), after
    /// Euler's transformation `₂F₁(1, ·; r+s+x+1; z)`: the oracle of the integral.
    fn closed_form(m: &ParetoNbd, h: History) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *m;
        let c = r + s + h.x + 1.0;
        let term = |t: f64| {
            if alpha >= beta {
                let z = (alpha - beta) / (alpha + t);
                let f = hyp2f1_one(r + h.x, c, z).unwrap();
                f.ln() - (r + h.x) * (alpha + t).ln() - s * (beta + t).ln()
            } else {
                let z = (beta - alpha) / (beta + t);
                let f = hyp2f1_one(s + 1.0, c, z).unwrap();
                f.ln() + (1.0 - r - h.x) * (alpha + t).ln() - (1.0 + s) * (beta + t).ln()
            }
        };
        let (at_last, at_end) = (term(h.t_x), term(h.t));
        let log_a0 = at_last + (-(at_end - at_last).min(0.0).exp_m1()).ln();
        let alive = -(r + h.x) * (alpha + h.t).ln() - s * (beta + h.t).ln();
        let gone = s.ln() - (r + s + h.x).ln() + log_a0;
        ln_gamma(r + h.x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln() + log_add_exp(alive, gone)
    }

    fn rows(histories: &[(f64, f64, f64, f64)]) -> Rows<3> {
        let mut o = Observations::<3>::new();
        for &(x, t_x, t, w) in histories {
            o.add([x, t_x, t], w);
        }
        o.rows()
    }

    #[test]
    fn the_integral_matches_the_closed_form_on_cdnow_parameters() {
        let m = ParetoNbd::new(0.553, 10.578, 0.606, 11.669).unwrap();
        for (x, t_x, t) in [(0.0, 0.0, 38.86), (2.0, 30.43, 38.86), (40.0, 1.0, 78.0)] {
            let h = History::new(x, t_x, t).unwrap();
            close(m.log_likelihood(h).unwrap(), closed_form(&m, h), 1e-11);
        }
    }

    #[test]
    fn objective_gradient_matches_differences() {
        let data = rows(&[
            (0.0, 0.0, 30.0, 40.0),
            (1.0, 5.0, 25.0, 10.0),
            (3.0, 20.0, 28.0, 6.0),
            (12.0, 29.0, 30.0, 2.0),
        ]);
        for theta in [
            [-0.5, 2.0, -3.0, 0.8],
            [0.1, 1.0, -2.0, 0.0],
            [0.2, 3.0, -4.0, 2.5],
        ] {
            check_gradient(
                |theta, gradient| objective(&data, theta, gradient, 1),
                &theta,
            );
        }
    }

    #[test]
    fn the_exponential_dropout_limit_is_reported_at_s_limit() {
        // Purchases from λ ~ Gamma(1, 10); every lifetime is 30 weeks exactly, less dispersed
        // than any exponential, so the likelihood is highest at the exponential limit.
        let mut data = Vec::new();
        let mut state = 7u64;
        let mut uniform = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        for _ in 0..4000 {
            let lambda = -(uniform().ln()) / 10.0;
            let death = 30.0;
            let t: f64 = 52.0;
            let (mut now, mut x, mut t_x) = (0.0, 0.0, 0.0);
            loop {
                now += -(uniform().ln()) / lambda;
                if now > t.min(death) {
                    break;
                }
                x += 1.0;
                t_x = now;
            }
            data.push((x, t_x, t, 1.0));
        }
        let estimate = fit(&rows(&data), 2).unwrap();
        let [r, alpha, s, beta] = estimate.params[..] else {
            panic!("four parameters");
        };
        assert!(r > 0.0 && alpha > 0.0);
        assert_eq!(s, S_LIMIT);
        assert!(
            (0.02..0.06).contains(&(s / beta)),
            "mean dropout {}",
            s / beta
        );
        let model = ParetoNbd::new(r, alpha, s, beta).unwrap();
        let total: f64 = data
            .iter()
            .map(|&(x, t_x, t, _)| {
                model
                    .log_likelihood(History::new(x, t_x, t).unwrap())
                    .unwrap()
            })
            .sum();
        close(estimate.log_likelihood, total, 1e-6 * total.abs());
        let p_alive = ParetoNbd::new(r, alpha, s, beta)
            .unwrap()
            .p_alive(History::new(3.0, 40.0, 52.0).unwrap())
            .unwrap();
        assert!((0.0..1.0).contains(&p_alive));
    }

    #[test]
    fn at_s_limit_predictions_are_the_exponential_dropout_ones() {
        let (r, alpha, mu) = (0.8, 10.0, 0.015);
        let m = ParetoNbd::new(r, alpha, S_LIMIT, S_LIMIT / mu).unwrap();
        let new = History::new(0.0, 0.0, 0.0).unwrap();
        let exponential = r / alpha * (1.0 - (-mu * 52.0f64).exp()) / mu;
        close(
            m.expected_purchases(52.0, new).unwrap(),
            exponential,
            1e-5 * exponential,
        );
        // Alive at T after the last purchase at t_x: the odds of having died in between.
        let h = History::new(2.0, 10.0, 50.0).unwrap();
        let k = r + 2.0;
        let alive = (alpha + 50.0f64).powf(-k) * (-mu * 50.0f64).exp();
        let mut gone = 0.0;
        for i in 0..200_000 {
            let y = 10.0 + (f64::from(i) + 0.5) * 40.0 / 200_000.0;
            gone += (alpha + y).powf(-k) * mu * (-mu * y).exp() * 40.0 / 200_000.0;
        }
        close(m.p_alive(h).unwrap(), alive / (alive + gone), 1e-6);
    }

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
        fn the_integral_matches_the_closed_form(m in model(), h in history()) {
            let integral = m.log_likelihood(h).unwrap();
            let closed = closed_form(&m, h);
            prop_assert!(
                (integral - closed).abs() <= 1e-10 * closed.abs().max(1.0),
                "{integral} vs {closed}"
            );
        }

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
