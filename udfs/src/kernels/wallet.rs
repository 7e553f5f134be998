//! Share of wallet (crm-reference §3.3): spend per key (brand, category, channel) over a
//! customer's total, the top keys, and the Herfindahl-Hirschman concentration index.
//!
//! Refunds are netted: a key's total is the sum of its amounts, and keys whose net total is
//! not positive take no share. The total is the sum of the positive key totals.

use std::collections::HashMap;

/// Spend per key for one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wallet {
    totals: HashMap<String, f64>,
}

impl Wallet {
    /// Adds `amount` to `key`.
    pub fn add(&mut self, key: &str, amount: f64) {
        if !amount.is_finite() {
            return;
        }
        match self.totals.get_mut(key) {
            Some(total) => *total += amount,
            None => {
                self.totals.insert(key.to_string(), amount);
            }
        }
    }

    /// Adds every key of `other`.
    pub fn merge(&mut self, other: &Wallet) {
        for (key, amount) in &other.totals {
            self.add(key, *amount);
        }
    }

    /// Keys and their totals (any order), for serialising the state.
    pub fn entries(&self) -> impl Iterator<Item = (&str, f64)> {
        self.totals.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.totals.len()
    }

    /// Whether no key was added.
    pub fn is_empty(&self) -> bool {
        self.totals.is_empty()
    }

    /// Keys with a positive total and their shares, largest first (ties: key ascending).
    pub fn shares(&self) -> Vec<(&str, f64)> {
        let total: f64 = self.totals.values().filter(|v| **v > 0.0).sum();
        if total <= 0.0 {
            return vec![];
        }
        let mut shares: Vec<(&str, f64)> = self
            .totals
            .iter()
            .filter(|(_, v)| **v > 0.0)
            .map(|(k, v)| (k.as_str(), v / total))
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        shares
    }

    /// The Herfindahl-Hirschman index `Σ share²` (1 = all spend on one key); `None` without spend.
    pub fn hhi(&self) -> Option<f64> {
        let shares = self.shares();
        (!shares.is_empty()).then(|| shares.iter().map(|(_, s)| s * s).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shares_net_refunds_and_rank() {
        let mut w = Wallet::default();
        w.add("nike", 60.0);
        w.add("adidas", 40.0);
        w.add("puma", 10.0);
        w.add("puma", -10.0);
        let shares = w.shares();
        assert_eq!(shares, vec![("nike", 0.6), ("adidas", 0.4)]);
        assert!((w.hhi().unwrap() - 0.52).abs() < 1e-12);
        assert_eq!(Wallet::default().hhi(), None);
    }

    proptest! {
        #[test]
        fn shares_sum_to_one(amounts in proptest::collection::vec((0u8..6, 0.01f64..1000.0), 1..50)) {
            let mut a = Wallet::default();
            let mut b = Wallet::default();
            for (i, (key, amount)) in amounts.iter().enumerate() {
                let target = if i % 2 == 0 { &mut a } else { &mut b };
                target.add(&format!("k{key}"), *amount);
            }
            a.merge(&b);
            let sum: f64 = a.shares().iter().map(|(_, s)| s).sum();
            prop_assert!((sum - 1.0).abs() < 1e-9);
            let hhi = a.hhi().unwrap();
            prop_assert!(hhi > 0.0 && hhi <= 1.0 + 1e-12);
        }
    }
}
