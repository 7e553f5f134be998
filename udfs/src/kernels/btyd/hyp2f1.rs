//! The Gauss hypergeometric function `₂F₁(a, b; c; z)` on `0 <= z < 1`, in the forms the BTYD
//! models need: [`tail_over_b`] returns `(₂F₁(a, b; c; z) − 1) / b` by the power series, and
//! (in tests, as the independent oracle of the Pareto/NBD likelihood integral) `hyp2f1_one`
//! returns `₂F₁(1, b; c; z)` by a continued fraction near `z = 1`.
//!
//! Why our own: no maintained pure-Rust crate offers `₂F₁` (GSL bindings need the C library,
//! `mathru` pulls BLAS/LAPACK). The models only evaluate it at real `0 <= z < 1` after an Euler
//! transformation (`₂F₁(a,b;c;z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z)`, DLMF 15.8.1) chosen so
//! that the terms stay bounded. BG/NBD sums the power series with an honest tail bound (its
//! cost grows like `1/(1−z)`: horizons up to about a thousand times `α + T` are fine);
//! Pareto/NBD's closed form, whose `z` approaches 1 when α and β are far apart, needs
//! `hyp2f1_one`.
//! Dividing by `b` keeps expressions finite as `b → 0` (BG/NBD at `a = 1`).

/// The most terms summed before giving up (reached only when `z` is within about `1e-6` of 1).
const MAX_TERMS: usize = 20_000_000;

/// `(₂F₁(a, b; c; z) − 1) / b` for `0 <= z < 1` and `c > 0`, to about 1e-15 relative.
///
/// Terms: `t₁ = a z / c`, `t_{n+1} = t_n (a+n)(b+n) z / ((c+n)(n+1))`. Summation stops once
/// the ratio of successive terms has settled below 1 and the geometric bound on the remaining
/// tail is below 1e-17 of the sum. An error names the arguments when the series does not
/// converge within [`MAX_TERMS`] or leaves the floating-point range.
pub fn tail_over_b(a: f64, b: f64, c: f64, z: f64) -> Result<f64, String> {
    if !(0.0..1.0).contains(&z) || c <= 0.0 || !(a.is_finite() && b.is_finite() && c.is_finite()) {
        return Err(format!(
            "hypergeometric 2F1({a}, {b}; {c}; {z}) is outside 0 <= z < 1, c > 0"
        ));
    }
    let mut term = a * z / c;
    let mut sum = term;
    if term == 0.0 {
        return Ok(0.0);
    }
    // Past this index every ratio factor (a+n)(b+n)/((c+n)(n+1)) moves monotonically.
    let settled = (a.abs() + b.abs() + c.abs()).ceil() as usize + 2;
    for n in 1..MAX_TERMS {
        let n_f = n as f64;
        let ratio = (a + n_f) * (b + n_f) / ((c + n_f) * (n_f + 1.0)) * z;
        term *= ratio;
        sum += term;
        if !sum.is_finite() {
            break;
        }
        if n >= settled && ratio.abs() < 1.0 {
            let bound = ratio.abs().max(z);
            if bound < 1.0 && term.abs() * bound / (1.0 - bound) <= 1e-17 * sum.abs() {
                return Ok(sum);
            }
        }
        if term == 0.0 {
            return Ok(sum);
        }
    }
    Err(format!(
        "hypergeometric 2F1({a}, {b}; {c}; {z}) did not converge (z too close to 1)"
    ))
}

/// `₂F₁(a, b; c; z)` for `0 <= z < 1` (see [`tail_over_b`]).
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, String> {
    Ok(1.0 + b * tail_over_b(a, b, c, z)?)
}

/// `₂F₁(1, b; c; z)` for `0 <= z < 1` and `c > b > 0` (the Pareto/NBD case). Near `z = 1`
/// the power series needs about `1/(1−z)` terms, so from `z > 0.5` on this evaluates Gauss's
/// continued fraction instead (DLMF 15.7.5 with `a = 0`), which converges in a few hundred
/// steps even at `z = 0.998`: `1/(1 − k₁z/(1 − k₂z/(1 − …)))`,
/// `k_{2m+1} = (b+m)(c−1+m)/((c−1+2m)(c+2m))`, `k_{2m} = m(c−1−b+m)/((c+2m−2)(c+2m−1))`,
/// by the modified Lentz method.
#[cfg(test)]
pub fn hyp2f1_one(b: f64, c: f64, z: f64) -> Result<f64, String> {
    if !(c > b && b > 0.0 && (0.0..1.0).contains(&z) && c.is_finite()) {
        return Err(format!(
            "hypergeometric 2F1(1, {b}; {c}; {z}) needs c > b > 0 and 0 <= z < 1"
        ));
    }
    if z <= 0.5 {
        return hyp2f1(1.0, b, c, z);
    }
    let k = |n: usize| -> f64 {
        let m = (n / 2) as f64;
        if n % 2 == 1 {
            (b + m) * (c - 1.0 + m) / ((c - 1.0 + 2.0 * m) * (c + 2.0 * m))
        } else {
            m * (c - 1.0 - b + m) / ((c + 2.0 * m - 2.0) * (c + 2.0 * m - 1.0))
        }
    };
    const TINY: f64 = 1e-300;
    // f = 1 + a₁/(1 + a₂/(1 + …)) with aₙ = −kₙ z; the function is 1/f.
    let (mut f, mut big_c, mut d) = (1.0f64, 1.0f64, 0.0f64);
    for n in 1..MAX_TERMS {
        let a = -k(n) * z;
        d = 1.0 + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        big_c = 1.0 + a / big_c;
        if big_c.abs() < TINY {
            big_c = TINY;
        }
        d = 1.0 / d;
        let delta = big_c * d;
        f *= delta;
        if (delta - 1.0).abs() <= 4.0 * f64::EPSILON {
            return Ok(1.0 / f);
        }
    }
    Err(format!(
        "hypergeometric 2F1(1, {b}; {c}; {z}) did not converge (z too close to 1)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance * expected.abs().max(1.0),
            "{actual} vs {expected}"
        );
    }

    #[test]
    fn closed_forms() {
        // 2F1(1, 1; 2; z) = −ln(1−z)/z.
        for z in [0.0001, 0.3, 0.9, 0.999] {
            close(hyp2f1(1.0, 1.0, 2.0, z).unwrap(), -(-z).ln_1p() / z, 1e-13);
        }
        // 2F1(a, b; b; z) = (1−z)^(−a).
        close(
            hyp2f1(2.5, 3.0, 3.0, 0.7).unwrap(),
            0.3f64.powf(-2.5),
            1e-13,
        );
        // 2F1(1/2, 1/2; 3/2; z²) = asin(z)/z.
        let z: f64 = 0.8;
        close(hyp2f1(0.5, 0.5, 1.5, z * z).unwrap(), z.asin() / z, 1e-13);
        assert_eq!(hyp2f1(3.0, 4.0, 5.0, 0.0).unwrap(), 1.0);
    }

    #[test]
    fn scipy_values() {
        // scipy.special.hyp2f1 1.17.1.
        close(
            hyp2f1(0.242593, 2.425754, 2.218640, 0.5).unwrap(),
            1.2067347764126315,
            1e-12,
        );
        close(
            hyp2f1(2.2, 4.4, 5.6, 0.95).unwrap(),
            77.85552041717598,
            1e-12,
        );
        close(
            hyp2f1(-0.5, 0.3, 1.2, 0.6).unwrap(),
            0.9162513540357156,
            1e-12,
        );
    }

    #[test]
    fn near_zero_b_is_finite() {
        let t = tail_over_b(1.7, 1e-300, 2.0, 0.5).unwrap();
        close(t, tail_over_b(1.7, 0.0, 2.0, 0.5).unwrap(), 1e-12);
    }

    #[test]
    fn continued_fraction_near_one() {
        // scipy.special.hyp2f1(1, b, c, z) 1.17.1.
        close(
            hyp2f1_one(118.7, 120.68, 0.998).unwrap(),
            81.59004163835219,
            1e-10,
        );
        close(
            hyp2f1_one(2.0, 3.5, 0.99999).unwrap(),
            4.962944366619464,
            1e-10,
        );
        close(
            hyp2f1_one(1.5, 120.0, 0.9999999).unwrap(),
            1.0127659561428182,
            1e-12,
        );
        close(
            hyp2f1_one(0.6, 0.9, 0.5).unwrap(),
            1.5917173802588775,
            1e-12,
        );
        let (b, c, z) = (1.606, 3.16, 0.7);
        close(
            hyp2f1_one(b, c, z).unwrap(),
            hyp2f1(1.0, b, c, z).unwrap(),
            1e-12,
        );
        assert!(hyp2f1_one(3.0, 2.0, 0.7).is_err());
    }

    #[test]
    fn refuses_outside_the_disc() {
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_err());
        assert!(hyp2f1(1.0, 1.0, 2.0, -0.1).is_err());
        assert!(hyp2f1(1.0, 1.0, -2.0, 0.1).is_err());
        assert!(hyp2f1(f64::NAN, 1.0, 2.0, 0.1).is_err());
    }
}
