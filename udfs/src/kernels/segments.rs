//! Segment maps from RFM scores and the Chinese 8-class map (crm-reference §1.3).

/// The segment presets `rfm()` and `rfm_segment()` know.
pub const PRESETS: &[&str] = &["rf_grid", "rfm_pkg", "putler"];

/// Preset 1, "RF grid": a complete partition of the 25 (R, F) cells of 5-point scores.
/// Returns `None` for scores outside `1..=5`.
pub fn rf_grid(r: u8, f: u8) -> Option<&'static str> {
    Some(match (r, f) {
        (1..=2, 1..=2) => "hibernating",
        (1..=2, 3..=4) => "at_risk",
        (1..=2, 5) => "cant_lose",
        (3, 1..=2) => "about_to_sleep",
        (3, 3) => "need_attention",
        (3..=4, 4..=5) => "loyal_customers",
        (4, 1) => "promising",
        (5, 1) => "new_customers",
        (4..=5, 2..=3) => "potential_loyalists",
        (5, 4..=5) => "champions",
        _ => return None,
    })
}

/// Preset 3, the rfm R package's documented map (CRAN 0.2.2): first match on all three
/// scores, `Others` when none matches.
pub fn rfm_package(r: u8, f: u8, m: u8) -> &'static str {
    const RULES: &[(&str, [u8; 6])] = &[
        ("Champions", [4, 5, 4, 5, 4, 5]),
        ("Loyal Customers", [2, 5, 3, 5, 3, 5]),
        ("Potential Loyalist", [3, 5, 1, 3, 1, 3]),
        ("New Customers", [4, 5, 1, 1, 1, 1]),
        ("Promising", [3, 4, 1, 1, 1, 1]),
        ("Need Attention", [2, 3, 2, 3, 2, 3]),
        ("About To Sleep", [2, 3, 1, 2, 1, 2]),
        ("At Risk", [1, 2, 2, 5, 2, 5]),
        ("Can't Lose Them", [1, 1, 4, 5, 4, 5]),
        ("Lost", [1, 2, 1, 2, 1, 2]),
    ];
    RULES
        .iter()
        .find(|(_, b)| {
            (b[0]..=b[1]).contains(&r) && (b[2]..=b[3]).contains(&f) && (b[4]..=b[5]).contains(&m)
        })
        .map_or("Others", |(name, _)| name)
}

/// Preset 2, Putler's 11 segments on R and the average of F and M, first match in the
/// published order. Under first match "Potential Loyalist" takes Recent Customers and
/// Promising whenever (F+M)/2 ≥ 1, and "Can't Lose Them" is unreachable behind "At Risk";
/// the order is kept as published so results match Putler's own tables.
pub fn putler(r: u8, f: u8, m: u8) -> &'static str {
    const RULES: &[(&str, f64, f64, f64, f64)] = &[
        ("Champions", 4.0, 5.0, 4.0, 5.0),
        ("Loyal Customers", 2.0, 5.0, 3.0, 5.0),
        ("Potential Loyalist", 3.0, 5.0, 1.0, 5.0),
        ("Recent Customers", 4.0, 5.0, 0.0, 1.0),
        ("Promising", 3.0, 4.0, 0.0, 1.0),
        ("Customers Needing Attention", 2.0, 3.0, 2.0, 3.0),
        ("About To Sleep", 2.0, 3.0, 0.0, 2.0),
        ("At Risk", 0.0, 2.0, 2.0, 5.0),
        ("Can't Lose Them", 0.0, 1.0, 4.0, 5.0),
        ("Hibernating", 1.0, 2.0, 1.0, 2.0),
        ("Lost", 0.0, 2.0, 0.0, 2.0),
    ];
    let r = f64::from(r);
    let fm = (f64::from(f) + f64::from(m)) / 2.0;
    RULES
        .iter()
        .find(|(_, r_lo, r_hi, fm_lo, fm_hi)| {
            (*r_lo..=*r_hi).contains(&r) && (*fm_lo..=*fm_hi).contains(&fm)
        })
        .map_or("Others", |(name, ..)| name)
}

/// The segment of `preset` for 5-point scores; `None` when the preset is unknown or the
/// scores are out of range.
pub fn segment(preset: &str, r: u8, f: u8, m: u8) -> Option<&'static str> {
    if !(1..=5).contains(&r) || !(1..=5).contains(&f) || !(1..=5).contains(&m) {
        return None;
    }
    match preset {
        "rf_grid" => rf_grid(r, f),
        "rfm_pkg" => Some(rfm_package(r, f, m)),
        "putler" => Some(putler(r, f, m)),
        _ => None,
    }
}

/// The Chinese 8-class type (RFM 八大客户类型) from three high/low flags.
pub fn class8(r_high: bool, f_high: bool, m_high: bool) -> &'static str {
    match (r_high, f_high, m_high) {
        (true, true, true) => "重要价值客户",
        (true, false, true) => "重要发展客户",
        (false, true, true) => "重要保持客户",
        (false, false, true) => "重要挽留客户",
        (true, true, false) => "一般价值客户",
        (true, false, false) => "一般发展客户",
        (false, true, false) => "一般保持客户",
        (false, false, false) => "一般挽留客户",
    }
}

/// The 8-class on raw values against comparison values (the population mean by default):
/// R is high when the purchase is recent (`recency < r_cut`), F and M when strictly above.
pub fn class8_raw(recency: f64, frequency: f64, monetary: f64, cuts: [f64; 3]) -> &'static str {
    class8(recency < cuts[0], frequency > cuts[1], monetary > cuts[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rf_grid_is_a_complete_partition() {
        for r in 1..=5 {
            for f in 1..=5 {
                assert!(rf_grid(r, f).is_some(), "cell {r}{f} has no segment");
            }
        }
        assert_eq!(rf_grid(5, 5), Some("champions"));
        assert_eq!(rf_grid(1, 5), Some("cant_lose"));
        assert_eq!(rf_grid(3, 3), Some("need_attention"));
        assert_eq!(rf_grid(0, 3), None);
    }

    #[test]
    fn first_match_presets() {
        assert_eq!(rfm_package(5, 5, 5), "Champions");
        assert_eq!(rfm_package(4, 1, 1), "Potential Loyalist");
        assert_eq!(rfm_package(1, 1, 5), "Others");
        assert_eq!(putler(5, 5, 5), "Champions");
        assert_eq!(putler(1, 5, 5), "At Risk");
        assert_eq!(putler(1, 1, 1), "Hibernating");
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    assert_ne!(putler(r, f, m), "Others", "putler leaves {r}{f}{m} unnamed");
                    assert_ne!(putler(r, f, m), "Can't Lose Them");
                }
            }
        }
    }

    #[test]
    fn class8_ties_count_as_low() {
        assert_eq!(
            class8_raw(10.0, 3.0, 100.0, [10.0, 3.0, 100.0]),
            "一般挽留客户"
        );
        assert_eq!(
            class8_raw(9.0, 4.0, 101.0, [10.0, 3.0, 100.0]),
            "重要价值客户"
        );
    }
}
