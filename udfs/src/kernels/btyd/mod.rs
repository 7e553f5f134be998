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
}
