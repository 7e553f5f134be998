//! Maximum-likelihood fitting of the BTYD models. Parameters are positive, so the search runs
//! over their logarithms (no bounds to hit). The objective is the negative *mean*
//! log-likelihood per customer, so tolerances mean the same for 100 or 10 million customers.
//!
//! Models whose likelihood has a cheap Hessian (BG/NBD, Gamma-Gamma) are fitted by Newton's
//! method ([`maximize_second_order`]): a handful of steps, each one pass over the customers,
//! where a quasi-Newton search takes dozens. Otherwise (and where Newton fails from a start)
//! the search is L-BFGS with a Moré-Thuente line search (the `argmin` crate) from a few
//! starting points, keeping the best; if L-BFGS fails from a start (a line search that wanders
//! into a region where the likelihood cannot be evaluated), Nelder-Mead takes over from that
//! start.
//! A parameter whose logarithm runs more than [`BOUNDARY`] away from its scale (1 for shapes,
//! the mean observation time for time scales, the mean spend for money scales) means the data
//! cannot identify the model (for example nobody ever drops out), which is reported as an
//! error naming that parameter.

use std::sync::Mutex;

use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::neldermead::NelderMead;
use argmin::solver::quasinewton::LBFGS;

/// `|ln θ − ln scale|` beyond which a parameter is taken to have run off to 0 or infinity.
pub const BOUNDARY: f64 = 15.0;

/// The objective: `f(θ, ∇)` returns the negative mean log-likelihood at log-parameters `θ` and
/// writes its gradient to `∇`.
pub type Objective<'a> = dyn Fn(&[f64], &mut [f64]) -> f64 + Sync + 'a;

/// An objective with its Hessian: `f(θ, ∇, H)` as [`Objective`], also writing the Hessian in
/// `θ` to `H` (row-major, `n × n`) when `H` is not empty.
pub type SecondOrder<'a> = dyn Fn(&[f64], &mut [f64], &mut [f64]) -> f64 + Sync + 'a;

/// A fitted model.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The parameters, in the model's order.
    pub params: Vec<f64>,
    /// The total log-likelihood over all customers at `params`.
    pub log_likelihood: f64,
}

#[cfg(test)]
thread_local! {
    /// Objective evaluations made on this thread, for tests that bound a fit's work.
    pub static EVALUATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// A point with its objective value and gradient.
type Evaluation = (Vec<f64>, f64, Vec<f64>);

/// Wraps an objective for argmin, computing value and gradient together once per point.
struct Problem<'a> {
    objective: &'a Objective<'a>,
    last: Mutex<Option<Evaluation>>,
}

impl Problem<'_> {
    fn evaluate(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        if let Ok(last) = self.last.lock()
            && let Some((at, value, gradient)) = last.as_ref()
            && at.as_slice() == theta
        {
            return (*value, gradient.clone());
        }
        let mut gradient = vec![0.0; theta.len()];
        #[cfg(test)]
        EVALUATIONS.set(EVALUATIONS.get() + 1);
        let value = (self.objective)(theta, &mut gradient);
        let (value, gradient) = if value.is_finite() && gradient.iter().all(|g| g.is_finite()) {
            (value, gradient)
        } else {
            (f64::INFINITY, vec![0.0; theta.len()])
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((theta.to_vec(), value, gradient.clone()));
        }
        (value, gradient)
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, theta: &Vec<f64>) -> Result<f64, Error> {
        stop_if_interrupted()?;
        Ok(self.evaluate(theta).0)
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, theta: &Vec<f64>) -> Result<Vec<f64>, Error> {
        stop_if_interrupted()?;
        Ok(self.evaluate(theta).1)
    }
}

/// Ends the search when the query the fit runs for is gone (each evaluation passes over every
/// customer, so a cancel stops the fit within one pass).
fn stop_if_interrupted() -> Result<(), Error> {
    if crate::interrupt::interrupted() {
        return Err(Error::msg(CANCELLED));
    }
    Ok(())
}

/// Why a fit stopped early.
const CANCELLED: &str = "the query was cancelled";

fn problem<'a>(objective: &'a Objective<'a>) -> Problem<'a> {
    Problem {
        objective,
        last: Mutex::new(None),
    }
}

/// L-BFGS stops when the gradient's norm (of the mean negative log-likelihood, in the search
/// variables) falls below this.
const TOLERANCE_GRADIENT: f64 = 1e-10;

/// ... or when a step improves the mean negative log-likelihood by less than this: about
/// 10⁴ ulps of a typical mean (1 to 10 nats per customer), a change in the total that no
/// reported digit shows. Any tighter and the search spends its last iterations on rounding
/// noise: the Moré-Thuente line search, unable to find a decrease that the last bits of the
/// sum hide, bisects for ten or more evaluations per step (measured: 314 evaluations instead
/// of 42 for a BG/NBD fit of 100,000 simulated customers, with the same parameters to eight
/// digits).
const TOLERANCE_COST: f64 = 1e-12;

/// L-BFGS from `start` (search variables): the best point and its value.
fn lbfgs(objective: &Objective<'_>, start: &[f64]) -> Option<(Vec<f64>, f64)> {
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
        .with_tolerance_grad(TOLERANCE_GRADIENT)
        .ok()?
        .with_tolerance_cost(TOLERANCE_COST)
        .ok()?;
    let result = Executor::new(problem(objective), solver)
        .configure(|state| state.param(start.to_vec()).max_iters(1_000))
        .run()
        .ok()?;
    let state = result.state();
    let best = state.get_best_param()?.clone();
    let value = state.get_best_cost();
    value.is_finite().then_some((best, value))
}

/// Nelder-Mead from `start` (log-parameters), restarted from its best point until it stops
/// improving.
fn nelder_mead(objective: &Objective<'_>, start: &[f64]) -> Option<(Vec<f64>, f64)> {
    let mut best = start.to_vec();
    let mut best_value = problem(objective).evaluate(start).0;
    for _ in 0..8 {
        let mut simplex = vec![best.clone()];
        for i in 0..best.len() {
            let mut vertex = best.clone();
            vertex[i] += 0.25;
            simplex.push(vertex);
        }
        let solver = NelderMead::new(simplex).with_sd_tolerance(1e-14).ok()?;
        let result = Executor::new(problem(objective), solver)
            .configure(|state| state.max_iters(5_000))
            .run()
            .ok()?;
        let state = result.state();
        let value = state.get_best_cost();
        let point = state.get_best_param()?.clone();
        let improved = value < best_value - 1e-13;
        if value < best_value {
            best = point;
            best_value = value;
        }
        if !improved {
            break;
        }
    }
    best_value.is_finite().then_some((best, best_value))
}

/// Minimises `objective` from each of `starts` (search variables) and returns the best point
/// with its value; an error when no start leads anywhere the likelihood can be evaluated.
pub fn search(
    model: &str,
    starts: &[Vec<f64>],
    objective: &Objective<'_>,
) -> Result<(Vec<f64>, f64), String> {
    let mut best: Option<(Vec<f64>, f64)> = None;
    for theta in starts {
        if crate::interrupt::interrupted() {
            return Err(format!("{model}: {CANCELLED}"));
        }
        let found = lbfgs(objective, theta).or_else(|| nelder_mead(objective, theta));
        if let Some((point, value)) = found
            && best.as_ref().is_none_or(|(_, v)| value < *v)
        {
            best = Some((point, value));
        }
    }
    best.ok_or_else(|| {
        format!("{model}: the likelihood could not be evaluated at any starting point")
    })
}

/// Maximises the likelihood over log-parameters from each of `starts` (natural parameters)
/// and returns the best estimate. `scales` are the parameters' natural sizes (see
/// [`BOUNDARY`]); `customers` is the total weight (to turn the mean back into a total).
pub fn maximize(
    model: &str,
    names: &[&str],
    scales: &[f64],
    starts: &[Vec<f64>],
    customers: f64,
    objective: &Objective<'_>,
) -> Result<Estimate, String> {
    let (theta, value) = search(model, &log_starts(starts), objective)?;
    estimate(model, names, scales, customers, theta, value)
}

/// [`maximize`] by Newton's method, for an objective that also gives its Hessian.
///
/// Newton runs from each start in turn and stops at the first that converges inside the
/// bounds: the further starts are there for data on which the first one fails (a parameter
/// running off), not to be run every time. Where Newton stops inside the bounds without
/// converging, L-BFGS goes on from its last point; where it cannot run at all from a start
/// (the likelihood cannot be evaluated there, no damping makes the Hessian positive
/// definite), L-BFGS and then Nelder-Mead take over from that start, as in [`maximize`].
pub fn maximize_second_order(
    model: &str,
    names: &[&str],
    scales: &[f64],
    starts: &[Vec<f64>],
    customers: f64,
    objective: &SecondOrder<'_>,
) -> Result<Estimate, String> {
    let centre: Vec<f64> = scales.iter().map(|s| s.ln()).collect();
    let first_order = |theta: &[f64], gradient: &mut [f64]| objective(theta, gradient, &mut []);
    let mut best: Option<(Vec<f64>, f64)> = None;
    for theta in log_starts(starts) {
        // Newton checks for a cancel at every step and gives up (`None`) on one.
        let outcome = newton(objective, &theta, &centre);
        if crate::interrupt::interrupted() {
            return Err(format!("{model}: {CANCELLED}"));
        }
        let inside = |theta: &[f64]| within(theta, &centre, BOUNDARY);
        let (found, settled) = match outcome {
            Some(Newton {
                theta,
                value,
                converged: true,
            }) => {
                let settled = inside(&theta);
                (Some((theta, value)), settled)
            }
            // Stopped inside the bounds without converging (a stalled line search, the
            // iteration limit): L-BFGS goes on from where Newton stopped.
            Some(Newton { theta, value, .. }) if inside(&theta) => {
                let further = lbfgs(&first_order, &theta).filter(|(_, v)| *v < value);
                (further.or(Some((theta, value))), false)
            }
            // Running off: the next start may stay inside.
            Some(Newton { theta, value, .. }) => (Some((theta, value)), false),
            None => (
                lbfgs(&first_order, &theta).or_else(|| nelder_mead(&first_order, &theta)),
                false,
            ),
        };
        if let Some((point, value)) = found
            && best.as_ref().is_none_or(|(_, v)| value < *v)
        {
            best = Some((point, value));
        }
        if settled {
            break;
        }
    }
    if crate::interrupt::interrupted() {
        return Err(format!("{model}: {CANCELLED}"));
    }
    let (theta, value) = best.ok_or_else(|| {
        format!("{model}: the likelihood could not be evaluated at any starting point")
    })?;
    estimate(model, names, scales, customers, theta, value)
}

/// Natural starting points as search variables.
fn log_starts(starts: &[Vec<f64>]) -> Vec<Vec<f64>> {
    starts
        .iter()
        .map(|start| start.iter().map(|p| p.ln()).collect())
        .collect()
}

/// The estimate at the search's best point, or the error naming a parameter that ran off.
fn estimate(
    model: &str,
    names: &[&str],
    scales: &[f64],
    customers: f64,
    theta: Vec<f64>,
    value: f64,
) -> Result<Estimate, String> {
    if let Some((name, t)) = names
        .iter()
        .zip(theta.iter().zip(scales).map(|(t, s)| t - s.ln()))
        .find(|(_, t)| t.abs() > BOUNDARY || !t.is_finite())
    {
        let direction = if t > 0.0 { "infinity" } else { "zero" };
        return Err(format!(
            "{model}: the data cannot identify the model ({name} runs off to {direction}); \
             it needs more customers with varied repeat purchases"
        ));
    }
    Ok(Estimate {
        params: theta.iter().map(|t| t.exp()).collect(),
        log_likelihood: -value * customers,
    })
}

/// Where Newton's method stopped.
struct Newton {
    theta: Vec<f64>,
    value: f64,
    /// At a minimum: the Newton decrement below tolerance with a positive definite Hessian.
    converged: bool,
}

/// Newton steps at most; a fit that needs more is not converging quadratically.
const NEWTON_ITERATIONS: usize = 100;

/// The largest move of one search variable in one step (a factor of e² in the parameter):
/// far from the optimum the quadratic model is not to be trusted further.
const MAX_STEP: f64 = 2.0;

/// Newton's method with a backtracking (Armijo) line search from `start`, on the Hessian
/// made positive definite by adding a multiple of the identity where it is not (Levenberg's
/// damping). Converged when half the squared Newton decrement, the decrease the quadratic
/// model still predicts, is under [`TOLERANCE_COST`] at an undamped step, or when the
/// gradient's largest entry is under [`TOLERANCE_GRADIENT`]. Stops early when a
/// search variable leaves `centre ± (BOUNDARY + 1)`: the estimate would be refused anyway
/// (a parameter running off), so there is no point following it further. `None` when the
/// objective cannot be evaluated at the start, no damping makes the Hessian positive
/// definite, or the query is cancelled.
fn newton(objective: &SecondOrder<'_>, start: &[f64], centre: &[f64]) -> Option<Newton> {
    let n = start.len();
    let evaluate = |theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]| {
        #[cfg(test)]
        EVALUATIONS.set(EVALUATIONS.get() + 1);
        let value = objective(theta, gradient, hessian);
        let finite = value.is_finite()
            && gradient.iter().all(|g| g.is_finite())
            && hessian.iter().all(|h| h.is_finite());
        if finite { value } else { f64::INFINITY }
    };
    if crate::interrupt::interrupted() {
        return None;
    }
    let mut theta = start.to_vec();
    let (mut gradient, mut hessian) = (vec![0.0; n], vec![0.0; n * n]);
    let mut value = evaluate(&theta, &mut gradient, &mut hessian);
    if !value.is_finite() {
        return None;
    }
    let (mut trial_gradient, mut trial_hessian) = (vec![0.0; n], vec![0.0; n * n]);
    for _ in 0..NEWTON_ITERATIONS {
        if crate::interrupt::interrupted() {
            return None;
        }
        if norm_max(&gradient) < TOLERANCE_GRADIENT {
            return Some(Newton {
                theta,
                value,
                converged: true,
            });
        }
        let (mut step, damped) = newton_step(&hessian, &gradient)?;
        let decrement = -dot(&gradient, &step);
        if !damped && decrement <= 2.0 * TOLERANCE_COST {
            return Some(Newton {
                theta,
                value,
                converged: true,
            });
        }
        let longest = norm_max(&step);
        if longest > MAX_STEP {
            step.iter_mut().for_each(|s| *s *= MAX_STEP / longest);
        }
        let slope = dot(&gradient, &step);
        let mut scale = 1.0;
        let accepted = loop {
            if crate::interrupt::interrupted() {
                return None;
            }
            let trial: Vec<f64> = theta
                .iter()
                .zip(&step)
                .map(|(t, s)| t + scale * s)
                .collect();
            let trial_value = evaluate(&trial, &mut trial_gradient, &mut trial_hessian);
            if trial_value < value && trial_value <= value + 1e-4 * scale * slope {
                break Some((trial, trial_value));
            }
            scale *= 0.5;
            if scale < 1e-10 {
                break None;
            }
        };
        let Some((trial, trial_value)) = accepted else {
            // No decrease along a descent direction: the rounding floor of the sum, or a
            // region the quadratic model does not describe (L-BFGS goes on from here).
            let converged = !damped && norm_max(&gradient) < 1e-6;
            return Some(Newton {
                theta,
                value,
                converged,
            });
        };
        theta = trial;
        value = trial_value;
        std::mem::swap(&mut gradient, &mut trial_gradient);
        std::mem::swap(&mut hessian, &mut trial_hessian);
        if !within(&theta, centre, BOUNDARY + 1.0) {
            return Some(Newton {
                theta,
                value,
                converged: false,
            });
        }
    }
    Some(Newton {
        theta,
        value,
        converged: false,
    })
}

/// The Newton step `−H⁻¹∇`, with `H + μI` in place of `H` for the smallest tried `μ` that
/// makes it positive definite; also whether `μ > 0` was needed.
fn newton_step(hessian: &[f64], gradient: &[f64]) -> Option<(Vec<f64>, bool)> {
    let n = gradient.len();
    let size = (0..n)
        .map(|i| hessian[i * n + i].abs())
        .fold(1e-12, f64::max);
    let mut mu = 0.0;
    for _ in 0..40 {
        let mut shifted = hessian.to_vec();
        (0..n).for_each(|i| shifted[i * n + i] += mu);
        if let Some(factor) = cholesky(&shifted, n) {
            let step = solve_cholesky(&factor, n, gradient);
            return Some((step.iter().map(|s| -s).collect(), mu > 0.0));
        }
        mu = if mu == 0.0 { 1e-8 * size } else { mu * 10.0 };
    }
    None
}

/// The lower Cholesky factor of the `n × n` matrix `a` (row-major), or `None` when `a` is not
/// positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - sum;
                if d.is_nan() || d <= 0.0 {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - sum) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L Lᵀ x = b` for the factor `l` of [`cholesky`].
fn solve_cholesky(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; n];
    for i in 0..n {
        let sum: f64 = (0..i).map(|k| l[i * n + k] * y[k]).sum();
        y[i] = (b[i] - sum) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let sum: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (y[i] - sum) / l[i * n + i];
    }
    x
}

/// Whether every search variable is within `limit` of its scale's logarithm.
fn within(theta: &[f64], centre: &[f64], limit: f64) -> bool {
    theta
        .iter()
        .zip(centre)
        .all(|(t, c)| (t - c).abs() <= limit)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm_max(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Converts a log-likelihood's sums in natural parameters `p` to the objective's terms in
/// `θ = ln p`: the negative mean gradient `−p_i g_i / n` and, when `hessian` is not empty, the
/// negative mean Hessian `−(p_i p_j H_ij + δ_ij p_i g_i) / n`, from the gradient `g` and the
/// Hessian `h` (row-major) of the total log-likelihood.
pub fn to_search_variables(
    p: &[f64],
    g: &[f64],
    h: &[f64],
    total: f64,
    gradient: &mut [f64],
    hessian: &mut [f64],
) {
    let n = p.len();
    for i in 0..n {
        gradient[i] = -g[i] * p[i] / total;
    }
    if hessian.is_empty() {
        return;
    }
    for i in 0..n {
        for j in 0..n {
            let diagonal = if i == j { p[i] * g[i] } else { 0.0 };
            hessian[i * n + j] = -(p[i] * p[j] * h[i * n + j] + diagonal) / total;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quadratic bowl at ln θ = (1, −2).
    fn bowl(theta: &[f64], gradient: &mut [f64]) -> f64 {
        gradient[0] = 2.0 * (theta[0] - 1.0);
        gradient[1] = 8.0 * (theta[1] + 2.0);
        (theta[0] - 1.0).powi(2) + 4.0 * (theta[1] + 2.0).powi(2)
    }

    #[test]
    fn an_interrupted_fit_stops() {
        let stop = crate::interrupt::Stop::default();
        let flag = stop.flag();
        drop(stop);
        let result = crate::interrupt::Stop::watch(flag, || {
            maximize(
                "bowl",
                &["u", "v"],
                &[1.0, 1.0],
                &[vec![1.0, 1.0]],
                10.0,
                &bowl,
            )
        });
        assert_eq!(result, Err(format!("bowl: {CANCELLED}")));
    }

    #[test]
    fn finds_the_minimum_from_several_starts() {
        let estimate = maximize(
            "bowl",
            &["u", "v"],
            &[1.0, 1.0],
            &[vec![1.0, 1.0], vec![10.0, 0.01]],
            10.0,
            &bowl,
        )
        .unwrap();
        assert!((estimate.params[0] - 1f64.exp()).abs() < 1e-6);
        assert!((estimate.params[1] - (-2f64).exp()).abs() < 1e-6);
        assert!(estimate.log_likelihood.abs() < 1e-9);
    }

    #[test]
    fn a_parameter_running_off_is_an_error() {
        // Decreasing forever in the first coordinate.
        let slope = |theta: &[f64], gradient: &mut [f64]| {
            gradient[0] = -(-theta[0]).exp();
            gradient[1] = 2.0 * theta[1];
            (-theta[0]).exp() + theta[1] * theta[1]
        };
        let err = maximize(
            "slope",
            &["u", "v"],
            &[1.0, 1.0],
            &[vec![1.0, 1.0]],
            1.0,
            &slope,
        )
        .unwrap_err();
        assert!(
            err.contains("cannot identify") && err.contains("u runs off to infinity"),
            "{err}"
        );
    }

    /// The bowl with its Hessian.
    fn bowl_second_order(theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]) -> f64 {
        if !hessian.is_empty() {
            hessian.copy_from_slice(&[2.0, 0.0, 0.0, 8.0]);
        }
        bowl(theta, gradient)
    }

    /// Rosenbrock's valley, whose Hessian is indefinite away from the minimum at (1, 1).
    fn valley(theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]) -> f64 {
        let (u, v) = (theta[0], theta[1]);
        gradient[0] = -2.0 * (1.0 - u) - 400.0 * u * (v - u * u);
        gradient[1] = 200.0 * (v - u * u);
        if !hessian.is_empty() {
            hessian[0] = 2.0 - 400.0 * v + 1200.0 * u * u;
            hessian[1] = -400.0 * u;
            hessian[2] = -400.0 * u;
            hessian[3] = 200.0;
        }
        (1.0 - u).powi(2) + 100.0 * (v - u * u).powi(2)
    }

    #[test]
    fn an_interrupted_newton_fit_stops_without_evaluating() {
        let stop = crate::interrupt::Stop::default();
        let flag = stop.flag();
        drop(stop);
        EVALUATIONS.set(0);
        let result = crate::interrupt::Stop::watch(flag, || {
            maximize_second_order(
                "bowl",
                &["u", "v"],
                &[1.0, 1.0],
                &[vec![1.0, 1.0], vec![10.0, 0.01]],
                10.0,
                &bowl_second_order,
            )
        });
        assert_eq!(result, Err(format!("bowl: {CANCELLED}")));
        assert_eq!(EVALUATIONS.get(), 0);
    }

    #[test]
    fn newton_finds_a_quadratic_minimum_in_one_step() {
        EVALUATIONS.set(0);
        let estimate = maximize_second_order(
            "bowl",
            &["u", "v"],
            &[1.0, 1.0],
            &[vec![1.0, 1.0], vec![10.0, 0.01]],
            10.0,
            &bowl_second_order,
        )
        .unwrap();
        assert!((estimate.params[0] - 1f64.exp()).abs() < 1e-12);
        assert!((estimate.params[1] - (-2f64).exp()).abs() < 1e-12);
        // The start, one step (capped at MAX_STEP, so two), then the check: the second start
        // is not needed.
        assert!(EVALUATIONS.get() <= 4, "{} evaluations", EVALUATIONS.get());
    }

    #[test]
    fn newton_is_damped_where_the_hessian_is_indefinite() {
        // From (-1.2, 1), the textbook start, in the variables themselves (the starts are
        // exponentiated back by maximize_second_order, so pass e^start).
        let start = vec![(-1.2f64).exp(), 1f64.exp()];
        let estimate =
            maximize_second_order("valley", &["u", "v"], &[1.0, 1.0], &[start], 1.0, &valley)
                .unwrap();
        assert!(
            (estimate.params[0].ln() - 1.0).abs() < 1e-8,
            "{:?}",
            estimate
        );
        assert!(
            (estimate.params[1].ln() - 1.0).abs() < 1e-8,
            "{:?}",
            estimate
        );
    }

    #[test]
    fn newton_stops_when_a_parameter_runs_off() {
        let slope = |theta: &[f64], gradient: &mut [f64], hessian: &mut [f64]| {
            gradient[0] = -(-theta[0]).exp();
            gradient[1] = 2.0 * theta[1];
            if !hessian.is_empty() {
                hessian.copy_from_slice(&[(-theta[0]).exp(), 0.0, 0.0, 2.0]);
            }
            (-theta[0]).exp() + theta[1] * theta[1]
        };
        EVALUATIONS.set(0);
        let err = maximize_second_order(
            "slope",
            &["u", "v"],
            &[1.0, 1.0],
            &[vec![1.0, 1.0]],
            1.0,
            &slope,
        )
        .unwrap_err();
        assert!(err.contains("u runs off to infinity"), "{err}");
        assert!(EVALUATIONS.get() < 40, "{} evaluations", EVALUATIONS.get());
    }

    #[test]
    fn cholesky_solves_and_refuses_indefinite_matrices() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let l = cholesky(&a, 3).unwrap();
        let x = solve_cholesky(&l, 3, &[1.0, 2.0, 3.0]);
        for i in 0..3 {
            let ax: f64 = (0..3).map(|j| a[i * 3 + j] * x[j]).sum();
            assert!((ax - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
