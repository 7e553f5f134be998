//! Customer lifetime value with discrete monthly discounting (lifetimes'
//! `customer_lifetime_value`; crm-reference §4.4):
//! `CLV = Σ_{i=1..H} E[M] · (E[Y(i·f)] − E[Y((i−1)·f)]) / (1+d)^i`.

/// Periods per month for the usual time units (lifetimes' constants): weeks 4.345, days 30,
/// months 1, hours 720.
pub fn periods_per_month(unit: &str) -> Option<f64> {
    match unit {
        "weeks" => Some(4.345),
        "days" => Some(30.0),
        "months" => Some(1.0),
        "hours" => Some(720.0),
        _ => None,
    }
}

/// The discounted value of `months` months of purchases at `spend` per purchase.
/// `expected(t)` is the model's E[Y(t) | customer] after `t` time units; `periods_per_month`
/// converts months to those units; `monthly_discount` is `d`.
pub fn discounted_value(
    months: i64,
    monthly_discount: f64,
    periods_per_month: f64,
    spend: f64,
    expected: impl Fn(f64) -> Result<f64, String>,
) -> Result<f64, String> {
    if !(0..=1200).contains(&months) {
        return Err(format!("months must be between 0 and 1200, got {months}"));
    }
    if !(monthly_discount.is_finite() && monthly_discount > -1.0) {
        return Err(format!(
            "monthly_discount must be a rate above -1, got {monthly_discount}"
        ));
    }
    if !(periods_per_month.is_finite() && periods_per_month > 0.0) {
        return Err(format!(
            "periods_per_month must be positive, got {periods_per_month}"
        ));
    }
    let mut value = 0.0;
    let mut before = 0.0;
    for i in 1..=months {
        let after = expected(i as f64 * periods_per_month)?;
        value += spend * (after - before) / (1.0 + monthly_discount).powi(i as i32);
        before = after;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::btyd::History;
    use crate::kernels::btyd::bgnbd::BgNbd;
    use crate::kernels::btyd::gamma_gamma::GammaGamma;

    #[test]
    fn reference_oracle() {
        let bg = BgNbd::new(0.243, 4.414, 0.793, 2.426).unwrap();
        let gg = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
        let h = History::new(2.0, 30.43, 38.86).unwrap();
        let spend = gg.expected_spend(2.0, 22.35).unwrap();
        let clv =
            discounted_value(12, 0.01, 4.345, spend, |t| bg.expected_purchases(t, h)).unwrap();
        assert!((clv - 36.289211).abs() < 1e-6, "{clv}");
    }

    #[test]
    fn bad_arguments_are_refused() {
        let flat = |t: f64| Ok(t);
        assert!(discounted_value(-1, 0.01, 4.345, 1.0, flat).is_err());
        assert!(discounted_value(12, -1.0, 4.345, 1.0, flat).is_err());
        assert!(discounted_value(12, 0.01, 0.0, 1.0, flat).is_err());
        assert_eq!(discounted_value(0, 0.01, 4.345, 1.0, flat).unwrap(), 0.0);
        // Undiscounted, linear purchases: months · f · spend.
        let v = discounted_value(12, 0.0, 2.0, 3.0, flat).unwrap();
        assert!((v - 72.0).abs() < 1e-12);
    }
}
