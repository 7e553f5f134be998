//! "Buy till you die" models of non-contractual customer bases (crm-reference §4): BG/NBD,
//! Pareto/NBD and the Gamma-Gamma spend model, with discounted CLV. Pure numbers: each model
//! has its per-customer log-likelihood (with its gradient where it is cheap), P(alive) and
//! expected purchases; [`fit`] finds maximum-likelihood parameters over weighted, deduplicated
//! customers.
//!
//! Every function checks its inputs and returns `Err(message)` for input outside the model, so
//! the SQL functions can turn it into a clear error; the SQL layer also refuses any result that
//! is not a finite number.

pub mod bgnbd;
pub mod clv;
pub mod fit;
pub mod gamma_gamma;
pub mod gauss_legendre;
pub mod hyp2f1;
pub mod observations;
pub mod pareto_nbd;
pub mod trigamma;

/// One customer's calibration-period history: `x` repeat transactions, the last at `t_x`,
/// observed for `T` (`t`) time units since the first purchase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct History {
    /// Repeat transactions (the first purchase is not counted).
    pub x: f64,
    /// Time of the last transaction, from the first purchase.
    pub t_x: f64,
    /// Time from the first purchase to the end of calibration (`T`).
    pub t: f64,
}

impl History {
    /// A checked history: finite, `x >= 0`, `0 <= t_x <= T`.
    pub fn new(x: f64, t_x: f64, t: f64) -> Result<History, String> {
        if !(x.is_finite() && t_x.is_finite() && t.is_finite()) {
            return Err(format!("x, t_x and T must be finite (got {x}, {t_x}, {t})"));
        }
        if x < 0.0 || x.fract() != 0.0 {
            return Err(format!(
                "x (repeat transactions) must be a whole number >= 0, got {x}"
            ));
        }
        if t_x < 0.0 || t_x > t {
            return Err(format!("need 0 <= t_x <= T, got t_x = {t_x}, T = {t}"));
        }
        Ok(History { x, t_x, t })
    }
}

/// Checks that every named model parameter is finite and positive.
pub fn positive(model: &str, params: &[(&str, f64)]) -> Result<(), String> {
    for (name, value) in params {
        if !(value.is_finite() && *value > 0.0) {
            return Err(format!(
                "{model} parameter {name} must be a positive number, got {value}"
            ));
        }
    }
    Ok(())
}

/// `ln(eᵃ + eᵇ)` without overflow; `−∞` terms are allowed.
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    let (high, low) = if a >= b { (a, b) } else { (b, a) };
    if high == f64::NEG_INFINITY {
        return high;
    }
    high + (low - high).exp().ln_1p()
}

/// `(1 − eᵘᵛ) / u`, continuous at `u = 0` (where it is `−v`): the bracket of the models'
/// expected-purchases formulas, finite at the parameter values where they divide by zero.
pub fn one_minus_exp_over(u: f64, v: f64) -> f64 {
    if u == 0.0 { -v } else { -(u * v).exp_m1() / u }
}

/// Helpers shared by the models' tests.
#[cfg(test)]
pub mod testing {
    use super::History;
    use super::observations::{Observations, Rows};
    use proptest::prelude::*;

    /// Asserts `|actual − expected| <= tolerance`.
    pub fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} vs {expected}"
        );
    }

    /// Histories with up to 60 repeat purchases over up to 200 time units.
    pub fn history() -> impl Strategy<Value = History> {
        (0u32..60, 0.0f64..1.0, 0.1f64..200.0).prop_map(|(x, f, t)| {
            let t_x = if x == 0 { 0.0 } else { f * t };
            History::new(f64::from(x), t_x, t).expect("a valid history")
        })
    }

    /// A xorshift generator with gamma variates (Marsaglia and Tsang), for simulated shops.
    struct Rng(u64);
    impl Rng {
        fn u(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            (-2.0 * self.u().ln()).sqrt() * (std::f64::consts::TAU * self.u()).cos()
        }
        fn gamma(&mut self, shape: f64) -> f64 {
            if shape < 1.0 {
                return self.gamma(shape + 1.0) * self.u().powf(1.0 / shape);
            }
            let d = shape - 1.0 / 3.0;
            let c = 1.0 / (9.0 * d).sqrt();
            loop {
                let z = self.normal();
                let v = (1.0 + c * z).powi(3);
                if v > 0.0 && self.u().ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                    return d * v;
                }
            }
        }
    }

    /// A simulated shop of `n` customers drawn from the models with known parameters: BG/NBD
    /// r = 0.25, α = 4, a = 0.8, b = 2.5 (weeks, observed for up to a year at day resolution),
    /// and Gamma-Gamma p = 6.25, q = 3.7, γ = 15 for spend. Returns the `[x, t_x, T]` rows and
    /// the repeat buyers' `[x, m_x]` rows.
    pub fn simulated_shop(n: usize) -> (Rows<3>, Rows<2>) {
        let mut rng = Rng(0x9E3779B97F4A7C15);
        let (mut o3, mut o2) = (Observations::<3>::new(), Observations::<2>::new());
        for _ in 0..n {
            let lambda = rng.gamma(0.25) / 4.0;
            let pa = rng.gamma(0.8);
            let p = pa / (pa + rng.gamma(2.5));
            let big_t = (rng.u() * 364.0).floor() / 7.0;
            let nu = rng.gamma(3.7) / 15.0;
            let (mut t, mut x, mut t_x, mut spend) = (0.0, 0.0, 0.0, 0.0);
            loop {
                t += -rng.u().ln() / lambda;
                if t > big_t {
                    break;
                }
                x += 1.0;
                t_x = (t * 7.0).floor() / 7.0;
                spend += rng.gamma(6.25) / nu;
                if rng.u() < p {
                    break;
                }
            }
            o3.add([x, t_x, big_t], 1.0);
            if x > 0.0 {
                o2.add([x, (spend / x * 100.0).round() / 100.0], 1.0);
            }
        }
        (o3.rows(), o2.rows())
    }

    /// Asserts that `objective`'s gradient at `theta` matches central differences.
    pub fn check_gradient(objective: impl Fn(&[f64], &mut [f64]) -> f64, theta: &[f64]) {
        let mut gradient = vec![0.0; theta.len()];
        let mut ignore = vec![0.0; theta.len()];
        objective(theta, &mut gradient);
        for i in 0..theta.len() {
            let h = 1e-6;
            let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
            up[i] += h;
            down[i] -= h;
            let numeric = (objective(&up, &mut ignore) - objective(&down, &mut ignore)) / (2.0 * h);
            close(gradient[i], numeric, 1e-7);
        }
    }

    /// Asserts that `objective`'s Hessian at `theta` matches central differences of its
    /// gradient, relative to the Hessian's largest entry.
    pub fn check_hessian(objective: impl Fn(&[f64], &mut [f64], &mut [f64]) -> f64, theta: &[f64]) {
        let n = theta.len();
        let mut hessian = vec![0.0; n * n];
        objective(theta, &mut vec![0.0; n], &mut hessian);
        let size = hessian.iter().fold(0.0f64, |m, h| m.max(h.abs()));
        for i in 0..n {
            let h = 1e-6;
            let (mut up, mut down) = (theta.to_vec(), theta.to_vec());
            up[i] += h;
            down[i] -= h;
            let (mut g_up, mut g_down) = (vec![0.0; n], vec![0.0; n]);
            objective(&up, &mut g_up, &mut []);
            objective(&down, &mut g_down, &mut []);
            for j in 0..n {
                let numeric = (g_up[j] - g_down[j]) / (2.0 * h);
                assert!(
                    (hessian[j * n + i] - numeric).abs() <= 1e-6 * size.max(1.0),
                    "H[{j}][{i}] = {} vs {numeric}",
                    hessian[j * n + i]
                );
            }
        }
    }
}
