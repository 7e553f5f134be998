//! The trigamma function ψ'(x) = d²/dx² ln Γ(x), for the Hessians of the BTYD likelihoods
//! (statrs has the digamma function but not its derivative).

/// Below this the recurrence ψ'(x) = ψ'(x + 1) + 1/x² moves the argument up before the
/// asymptotic series is used; from 10 on, the series' first omitted term is under 3e-14.
const SERIES_FROM: f64 = 10.0;

/// ψ'(x) for `x > 0` (NaN otherwise).
///
/// The asymptotic series ψ'(x) ~ 1/x + 1/(2x²) + Σ B₂ₖ/x^(2k+1) (Abramowitz & Stegun
/// 6.4.12) with the Bernoulli numbers to B₁₀, after the recurrence has moved `x` to 10 or more.
pub fn trigamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let (mut x, mut shifted) = (x, 0.0);
    while x < SERIES_FROM {
        shifted += 1.0 / (x * x);
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    // B₂ = 1/6, B₄ = −1/30, B₆ = 1/42, B₈ = −1/30, B₁₀ = 5/66.
    let tail = 1.0 / 6.0
        + inv2 * (-1.0 / 30.0 + inv2 * (1.0 / 42.0 + inv2 * (-1.0 / 30.0 + inv2 * 5.0 / 66.0)));
    shifted + inv + 0.5 * inv2 + inv * inv2 * tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::function::gamma::digamma;

    #[test]
    fn known_values() {
        // ψ'(1) = π²/6, ψ'(1/2) = π²/2, ψ'(n + 1) = π²/6 − Σ_{k<=n} 1/k².
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((trigamma(1.0) - pi2 / 6.0).abs() < 1e-13);
        assert!((trigamma(0.5) - pi2 / 2.0).abs() < 1e-13);
        let partial: f64 = (1..=4).map(|k| 1.0 / f64::from(k * k)).sum();
        assert!((trigamma(5.0) - (pi2 / 6.0 - partial)).abs() < 1e-13);
        assert!(trigamma(0.0).is_nan() && trigamma(-1.0).is_nan());
    }

    #[test]
    fn is_the_derivative_of_digamma() {
        for x in [1e-3, 0.07, 0.9, 3.3, 9.99, 10.0, 47.5, 1e4, 3e6] {
            let h = 1e-5 * x;
            let numeric = (digamma(x + h) - digamma(x - h)) / (2.0 * h);
            let exact = trigamma(x);
            assert!(
                (numeric / exact - 1.0).abs() < 1e-6,
                "x = {x}: {exact} vs {numeric}"
            );
        }
    }
}
