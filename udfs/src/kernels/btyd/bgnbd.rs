//! BG/NBD (Fader, Hardie & Lee 2005a; crm-reference §4.1): while alive a customer buys at a
//! Poisson rate λ ~ Gamma(r, α); after each purchase they drop out with probability
//! p ~ Beta(a, b).

use statrs::function::gamma::{digamma, ln_gamma};

use super::fit::{Estimate, maximize_second_order, to_search_variables};
use super::hyp2f1::tail_over_b;
use super::observations::{RepeatCount, Rows, runs_of_equal_x, sum_chunks};
use super::trigamma::trigamma;
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
        self.x_terms(h.x) + self.rest(h)
    }

    /// `r ln α + logaddexp(A3, A4)`.
    fn rest(&self, h: History) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let a3 = -(r + h.x) * (alpha + h.t).ln();
        let a4 = if h.x > 0.0 {
            a.ln() - (b + h.x - 1.0).ln() - (r + h.x) * (alpha + h.t_x).ln()
        } else {
            f64::NEG_INFINITY
        };
        r * alpha.ln() + log_add_exp(a3, a4)
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

/// One customer row for the BG/NBD likelihood: `x`, with `t_x` and `T` as indexes into
/// [`Customers`]' distinct observation times.
#[derive(Debug, Clone, Copy)]
struct TimedRow {
    x: f64,
    t_x: usize,
    t: usize,
}

impl RepeatCount for TimedRow {
    fn x(&self) -> f64 {
        self.x
    }
}

/// Customers prepared for the BG/NBD likelihood. Observation times come from dates, so a
/// customer base holds few distinct `t_x` and `T` (some hundreds of days or weeks), and an
/// evaluation computes `ln(α + t)` and `1/(α + t)` once per distinct time rather than twice
/// per row. With continuous times the table is as long as the rows and costs one more pass.
#[derive(Debug, Clone)]
pub struct Customers {
    rows: Vec<TimedRow>,
    weights: Vec<f64>,
    times: Vec<f64>,
    total: f64,
}

impl Customers {
    /// Indexes the times of `rows` (`[x, t_x, T]`, sorted by `x`, as [`Rows`] keeps them).
    pub fn new(rows: &Rows<3>) -> Customers {
        let mut times: Vec<f64> = rows.values.iter().flat_map(|r| [r[1], r[2]]).collect();
        times.sort_by(f64::total_cmp);
        times.dedup();
        let index = |t: f64| times.partition_point(|v| *v < t);
        let timed = rows
            .values
            .iter()
            .map(|&[x, t_x, t]| TimedRow {
                x,
                t_x: index(t_x),
                t: index(t),
            })
            .collect();
        Customers {
            rows: timed,
            weights: rows.weights.clone(),
            times,
            total: rows.total(),
        }
    }
}

/// The negative mean log-likelihood of `customers` at log-parameters `theta`
/// (`ln r, ln α, ln a, ln b`), its gradient in `theta` written to `gradient` and, when
/// `hessian` is not empty, its Hessian in `theta` (row-major 4 × 4) written to `hessian`.
///
/// Rows come sorted by `x`, so the log-gamma, digamma and trigamma terms are computed once
/// per run of equal `x`. A row adds `logaddexp(A3, A4)` with A3 = −(r+x) ln(α+T) and A4 =
/// ln a − ln(b+x−1) − (r+x) ln(α+t_x), and the softmax weights w₃, w₄ of the two terms,
/// from one exponential and one logarithm. Its Hessian is w₃∇²A3 + w₄∇²A4 + w₃w₄ D Dᵀ with
/// D = ∇A3 − ∇A4, whose sums are products of values the row already has.
pub fn objective(
    customers: &Customers,
    theta: &[f64],
    gradient: &mut [f64],
    hessian: &mut [f64],
    threads: usize,
) -> f64 {
    let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
    let Ok(model) = BgNbd::from_slice(&p) else {
        return f64::INFINITY;
    };
    let BgNbd { r, alpha, a, b } = model;
    let (ln_alpha, ln_a) = (alpha.ln(), a.ln());
    let (digamma_r, digamma_b, digamma_ab) = (digamma(r), digamma(b), digamma(a + b));
    let (trigamma_r, trigamma_b, trigamma_ab) = (trigamma(r), trigamma(b), trigamma(a + b));
    // ln(α + t) and 1/(α + t) per distinct time.
    let table: Vec<(f64, f64)> = customers
        .times
        .iter()
        .map(|t| {
            let at = alpha + t;
            (at.ln(), 1.0 / at)
        })
        .collect();
    // The log-likelihood, its gradient in (r, α, a, b) and the upper triangle of its Hessian
    // (rr, rα, ra, rb, αα, αa, αb, aa, ab, bb).
    let sums = sum_chunks::<_, 15>(
        &customers.rows,
        &customers.weights,
        threads,
        |values, weights| {
            let mut out = [0.0; 15];
            for (run, run_weights) in runs_of_equal_x(values, weights) {
                let x = run[0].x;
                let k = r + x;
                // Σw, Σw logaddexp(A3, A4), Σw ∂/∂r and Σw ∂/∂α of it (without the −k factor
                // of ∂/∂α), Σw of A4's weight, Σw of the weighted 1/(α+t)², and the sums of
                // s = w w₃ w₄ times D's parts: Dr = ln(α+t_x) − ln(α+T), Dα = 1/(α+t_x) −
                // 1/(α+T) (k factored out), the rest constant over the run.
                let (mut n, mut rest, mut d_r, mut d_alpha, mut w4_sum) = (0.0, 0.0, 0.0, 0.0, 0.0);
                let mut d_alpha2 = 0.0;
                let (mut s, mut s_r, mut s_alpha, mut s_rr, mut s_ralpha, mut s_alphaalpha) =
                    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
                if x == 0.0 {
                    for (row, w) in run.iter().zip(run_weights) {
                        let (ln_at, inv_at) = table[row.t];
                        n += w;
                        rest -= w * k * ln_at;
                        d_r -= w * ln_at;
                        d_alpha += w * inv_at;
                        d_alpha2 += w * inv_at * inv_at;
                    }
                } else {
                    let ln_odds = ln_a - (b + x - 1.0).ln();
                    for (row, w) in run.iter().zip(run_weights) {
                        let (ln_at_x, inv_at_x) = table[row.t_x];
                        let (ln_at, inv_at) = table[row.t];
                        let a3 = -k * ln_at;
                        let a4 = ln_odds - k * ln_at_x;
                        let e = (-(a4 - a3).abs()).exp();
                        let w4 = if a4 > a3 {
                            1.0 / (1.0 + e)
                        } else {
                            e / (1.0 + e)
                        };
                        let w3 = 1.0 - w4;
                        n += w;
                        // ln(1 + e) rather than ln_1p(e): for e <= 1 its absolute error is below
                        // 2⁻⁵³, under an ulp of the row's term, at a fraction of the cost.
                        rest += w * (a3.max(a4) + (1.0 + e).ln());
                        d_r -= w * (w3 * ln_at + w4 * ln_at_x);
                        d_alpha += w * (w3 * inv_at + w4 * inv_at_x);
                        d_alpha2 += w * (w3 * inv_at * inv_at + w4 * inv_at_x * inv_at_x);
                        w4_sum += w * w4;
                        let sw = w * w3 * w4;
                        let (dr, da) = (ln_at_x - ln_at, inv_at_x - inv_at);
                        s += sw;
                        s_r += sw * dr;
                        s_alpha += sw * da;
                        s_rr += sw * dr * dr;
                        s_ralpha += sw * dr * da;
                        s_alphaalpha += sw * da * da;
                    }
                }
                let ab = digamma_ab - digamma(a + b + x);
                let ab2 = trigamma_ab - trigamma(a + b + x);
                out[0] += n * (model.x_terms(x) + r * ln_alpha) + rest;
                out[1] += n * (digamma(k) - digamma_r + ln_alpha) + d_r;
                out[2] += n * r / alpha - k * d_alpha;
                out[3] += n * ab;
                out[4] += n * (digamma(b + x) - digamma_b + ab);
                // The x terms and r ln α, then the two terms' own second derivatives.
                out[5] += n * (trigamma(k) - trigamma_r);
                out[6] += n / alpha - d_alpha;
                out[9] += -n * r / (alpha * alpha) + k * d_alpha2;
                out[12] += n * ab2;
                out[13] += n * ab2;
                out[14] += n * (trigamma(b + x) - trigamma_b + ab2);
                if x > 0.0 {
                    let c = b + x - 1.0;
                    out[3] += w4_sum / a;
                    out[4] -= w4_sum / c;
                    out[12] -= w4_sum / (a * a);
                    out[14] += w4_sum / (c * c);
                    // w₃w₄ D Dᵀ with D = (Dr, k Dα, −1/a, 1/c) (the sign of D cancels).
                    out[5] += s_rr;
                    out[6] += k * s_ralpha;
                    out[7] -= s_r / a;
                    out[8] += s_r / c;
                    out[9] += k * k * s_alphaalpha;
                    out[10] -= k * s_alpha / a;
                    out[11] += k * s_alpha / c;
                    out[12] += s / (a * a);
                    out[13] -= s / (a * c);
                    out[14] += s / (c * c);
                }
            }
            out
        },
    );
    let upper = [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 2),
        (2, 3),
        (3, 3),
    ];
    let mut h = [0.0; 16];
    for (&(i, j), value) in upper.iter().zip(&sums[5..]) {
        h[i * 4 + j] = *value;
        h[j * 4 + i] = *value;
    }
    to_search_variables(&p, &sums[1..5], &h, customers.total, gradient, hessian);
    let value = -sums[0] / customers.total;
    if value.is_finite() {
        value
    } else {
        f64::INFINITY
    }
}

/// The maximum-likelihood BG/NBD parameters for `rows` (`[x, t_x, T]`, weighted).
pub fn fit(rows: &Rows<3>, threads: usize) -> Result<Estimate, String> {
    let mean_t = check_repeaters("BG/NBD", rows)?;
    let customers = Customers::new(rows);
    let objective = |theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]| {
        objective(&customers, theta, gradient, hessian, threads)
    };
    let starts = [vec![1.0; 4], vec![0.5, mean_t / 5.0, 1.0, 2.0]];
    let scales = [1.0, mean_t, 1.0, 1.0];
    maximize_second_order("BG/NBD", &NAMES, &scales, &starts, rows.total(), &objective)
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
    use crate::kernels::btyd::fit::{EVALUATIONS, maximize};
    use crate::kernels::btyd::observations::Observations;
    use crate::kernels::btyd::testing::{
        check_gradient, check_hessian, close, history, simulated_shop,
    };
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
        for (x, t_x, t) in [
            (0.0, 0.0, 38.0),
            (0.0, 0.0, 12.0),
            (2.0, 30.43, 38.86),
            (2.0, 3.0, 38.0),
            (5.0, 12.0, 20.0),
        ] {
            o.add([x, t_x, t], 3.0);
        }
        let customers = Customers::new(&o.rows());
        check_gradient(
            |theta, gradient| objective(&customers, theta, gradient, &mut [], 1),
            &[-1.2, 1.5, -0.2, 0.9],
        );
        for theta in [[-1.2, 1.5, -0.2, 0.9], [0.3, -0.5, 1.1, -0.7]] {
            check_hessian(
                |theta, gradient, hessian| objective(&customers, theta, gradient, hessian, 1),
                &theta,
            );
        }
    }

    proptest! {
        /// The objective, summed per run of equal `x` in chunks, is minus the mean of the
        /// customers' own log-likelihoods.
        #[test]
        fn objective_is_the_mean_log_likelihood(
            m in model(),
            histories in proptest::collection::vec((history(), 1u32..4), 1..60),
        ) {
            let mut o = Observations::<3>::new();
            let mut total = 0.0;
            let mut sum = 0.0;
            for (h, w) in &histories {
                o.add([h.x, h.t_x, h.t], f64::from(*w));
                total += f64::from(*w);
                sum += f64::from(*w) * m.log_likelihood(*h);
            }
            let theta = [m.r.ln(), m.alpha.ln(), m.a.ln(), m.b.ln()];
            let value = objective(&Customers::new(&o.rows()), &theta, &mut [0.0; 4], &mut [], 2);
            prop_assert!((value + sum / total).abs() <= 1e-9 * (sum / total).abs().max(1.0));
        }
    }

    /// A fit of a simulated shop finds the parameters it was drawn from, and stops at the
    /// optimum rather than spending evaluations on rounding noise (`fit::TOLERANCE_COST`).
    #[test]
    fn fits_a_simulated_shop_in_few_evaluations() {
        let (rows, _) = simulated_shop(20_000);
        EVALUATIONS.set(0);
        let estimate = fit(&rows, 2).unwrap();
        let evaluations = EVALUATIONS.get();
        assert!(evaluations <= 15, "{evaluations} evaluations");
        // Newton's optimum is the one L-BFGS finds on the gradient alone.
        let customers = Customers::new(&rows);
        let first_order = |theta: &[f64], gradient: &mut [f64]| {
            objective(&customers, theta, gradient, &mut [], 2)
        };
        let starts = [vec![1.0; 4]];
        let scales = [1.0, 30.0, 1.0, 1.0];
        let lbfgs = maximize(
            "BG/NBD",
            &NAMES,
            &scales,
            &starts,
            rows.total(),
            &first_order,
        )
        .unwrap();
        for (newton, lbfgs) in estimate.params.iter().zip(&lbfgs.params) {
            assert!((newton / lbfgs - 1.0).abs() < 1e-5, "{newton} vs {lbfgs}");
        }
        assert!(estimate.log_likelihood >= lbfgs.log_likelihood - 1e-6);
        // Shapes and scale within sampling error; the dropout Beta is the least identified.
        let truth = [0.25, 4.0, 0.8, 2.5];
        let tolerance = [0.1, 0.1, 0.3, 0.3];
        for ((got, truth), tolerance) in estimate.params.iter().zip(truth).zip(tolerance) {
            assert!((got / truth - 1.0).abs() < tolerance, "{got} vs {truth}");
        }
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
