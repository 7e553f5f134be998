//! SQL plumbing shared by the predictive-value functions (crm-reference §4): the prediction
//! functions are numeric [`ScalarSpec`](crate::scalar_spec::ScalarSpec)s, the accumulator
//! behind the `*_fit` aggregates ([`aggregate`]), and the plan that summarises transactions
//! into `x, t_x, T, m_x` ([`summary`]). The models themselves are in
//! [`kernels::btyd`](crate::kernels::btyd).

pub mod aggregate;
pub mod summary;

/// Reads a whole-number argument (months, counts) given as a DOUBLE.
pub fn whole(name: &str, value: f64) -> std::result::Result<i64, String> {
    if value.fract() == 0.0 && value.abs() < 1e9 {
        Ok(value as i64)
    } else {
        Err(format!("{name} must be a whole number, got {value}"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn whole_numbers_only() {
        assert_eq!(super::whole("months", 12.0), Ok(12));
        assert!(super::whole("months", 1.5).is_err());
    }
}
