//! Lifecycle stage rules (crm-reference §2): prospect, new, reactivated, active, dormant,
//! churned, evaluated top-down; and the purchase-interval (cadence) variant.

use crate::args::{Days, format_date};

/// Day thresholds of the stage rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// First order at most this many days ago: `new`.
    pub new_days: i64,
    /// Last order at most this many days ago: `active`.
    pub active_days: i64,
    /// Last order more than this many days ago: `churned` (between active and this: `dormant`).
    pub churn_days: i64,
}

impl Thresholds {
    /// Checks `new_days >= 0` and `active_days <= churn_days`.
    pub fn validate(&self) -> Result<(), String> {
        if self.new_days < 0 || self.active_days < 0 || self.churn_days < 0 {
            return Err("day thresholds must not be negative".to_string());
        }
        if self.active_days > self.churn_days {
            return Err(format!(
                "active_days ({}) must not exceed churn_days ({})",
                self.active_days, self.churn_days
            ));
        }
        Ok(())
    }
}

/// What a customer's order history says, for one analysis date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Date of the first order.
    pub first: Option<Days>,
    /// Date of the last order.
    pub last: Option<Days>,
    /// Number of orders (0 for a registered customer who never bought).
    pub orders: i64,
    /// Days between the last order and the one before it, when known.
    pub gap_before_last: Option<i64>,
}

/// How `new` is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NewRule {
    /// First order within `new_days` (the default).
    #[default]
    FirstOrder,
    /// "A second purchase makes you active": new only while the customer has one order.
    SecondPurchase,
}

/// The stage of one customer. `Ok(None)` when dates are missing for a buyer; an error when an
/// order lies after the analysis date (the caller should filter such orders).
pub fn stage(
    history: History,
    as_of: Days,
    thresholds: Thresholds,
    new_rule: NewRule,
) -> Result<Option<&'static str>, String> {
    if history.orders <= 0 {
        return Ok(Some("prospect"));
    }
    let (Some(first), Some(last)) = (history.first, history.last) else {
        return Ok(None);
    };
    if last > as_of || first > as_of {
        return Err(format!(
            "an order on {} lies after the analysis date {}",
            format_date(last.max(first)),
            format_date(as_of)
        ));
    }
    let since_first = i64::from(as_of - first);
    let since_last = i64::from(as_of - last);
    let is_new = since_first <= thresholds.new_days
        && (new_rule == NewRule::FirstOrder || history.orders == 1);
    Ok(Some(if is_new {
        "new"
    } else if since_last <= thresholds.active_days
        && history
            .gap_before_last
            .is_some_and(|gap| gap > thresholds.churn_days)
    {
        "reactivated"
    } else if since_last <= thresholds.active_days {
        "active"
    } else if since_last <= thresholds.churn_days {
        "dormant"
    } else {
        "churned"
    }))
}

/// The cadence variant: active while the days since the last order are within `k1` typical
/// gaps, dormant within `k2`, churned beyond.
pub fn cadence_stage(days_since_last: f64, typical_gap: f64, k1: f64, k2: f64) -> &'static str {
    if days_since_last <= k1 * typical_gap {
        "active"
    } else if days_since_last <= k2 * typical_gap {
        "dormant"
    } else {
        "churned"
    }
}

/// The median of a list of gaps (`None` when empty).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// Gaps in days between consecutive distinct order days (`days` sorted ascending).
pub fn gaps(days: &[Days]) -> Vec<f64> {
    days.windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| f64::from(w[1] - w[0]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFAULTS: Thresholds = Thresholds {
        new_days: 30,
        active_days: 90,
        churn_days: 180,
    };

    fn history(first: Days, last: Days, orders: i64) -> History {
        History {
            first: Some(first),
            last: Some(last),
            orders,
            gap_before_last: None,
        }
    }

    #[test]
    fn stages_follow_the_spec_order() {
        let as_of = 1000;
        let s = |h| stage(h, as_of, DEFAULTS, NewRule::FirstOrder).unwrap();
        assert_eq!(
            s(History {
                first: None,
                last: None,
                orders: 0,
                gap_before_last: None
            }),
            Some("prospect")
        );
        assert_eq!(s(history(980, 990, 2)), Some("new"));
        assert_eq!(s(history(500, 950, 5)), Some("active"));
        assert_eq!(s(history(500, 880, 5)), Some("dormant"));
        assert_eq!(s(history(500, 820, 5)), Some("dormant"));
        assert_eq!(s(history(500, 819, 5)), Some("churned"));
        let back = History {
            gap_before_last: Some(300),
            ..history(100, 950, 3)
        };
        assert_eq!(s(back), Some("reactivated"));
        assert_eq!(
            stage(
                history(980, 990, 2),
                as_of,
                DEFAULTS,
                NewRule::SecondPurchase
            )
            .unwrap(),
            Some("active")
        );
        assert!(stage(history(980, 1001, 2), as_of, DEFAULTS, NewRule::FirstOrder).is_err());
    }

    #[test]
    fn cadence_and_medians() {
        assert_eq!(cadence_stage(10.0, 10.0, 1.5, 3.0), "active");
        assert_eq!(cadence_stage(25.0, 10.0, 1.5, 3.0), "dormant");
        assert_eq!(cadence_stage(31.0, 10.0, 1.5, 3.0), "churned");
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(gaps(&[1, 1, 4, 10]), vec![3.0, 6.0]);
    }

    proptest! {
        #[test]
        fn later_last_orders_never_look_worse(first in 0i32..500, a in 0i32..500, b in 0i32..500) {
            let rank = |s: &str| ["churned", "dormant", "active", "new"].iter().position(|x| *x == s).unwrap();
            let (early, late) = (first + a.min(b), first + a.max(b));
            let as_of = first + 500;
            let s1 = stage(history(first, early, 2), as_of, DEFAULTS, NewRule::FirstOrder).unwrap().unwrap();
            let s2 = stage(history(first, late, 2), as_of, DEFAULTS, NewRule::FirstOrder).unwrap().unwrap();
            prop_assert!(rank(s1) <= rank(s2));
        }
    }
}
