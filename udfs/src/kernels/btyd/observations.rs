//! Weighted, deduplicated customer rows for model fitting. A customer base has far fewer
//! distinct `(x, t_x, T)` (or `(x, m_x)`) rows than customers, and the log-likelihood of
//! identical rows is the same, so fitting sums each distinct row once, times its count.
//! Rows are kept sorted by `x`, so the parts of a likelihood that depend on `x` alone (the
//! log-gamma and digamma terms) are computed once per distinct `x`.

use std::collections::HashMap;

/// Distinct rows of `N` numbers (the first is `x`) with their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations<const N: usize> {
    counts: HashMap<[u64; N], f64>,
}

impl<const N: usize> Observations<N> {
    /// No rows.
    pub fn new() -> Self {
        Observations {
            counts: HashMap::new(),
        }
    }

    /// Adds `weight` customers with `row` (`-0.0` is stored as `0.0`).
    pub fn add(&mut self, row: [f64; N], weight: f64) {
        let key = row.map(|v| if v == 0.0 { 0u64 } else { v.to_bits() });
        *self.counts.entry(key).or_default() += weight;
    }

    /// Adds every row of `other`.
    pub fn merge(&mut self, other: &Observations<N>) {
        for (key, weight) in &other.counts {
            *self.counts.entry(*key).or_default() += weight;
        }
    }

    /// The number of distinct rows.
    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// The total weight (customers).
    pub fn total(&self) -> f64 {
        self.counts.values().sum()
    }

    /// The distinct rows with their weights, in a fixed order (by `x`, then the other
    /// columns), so a fit is deterministic whatever order the rows arrived in.
    pub fn rows(&self) -> Rows<N> {
        let mut rows: Vec<([f64; N], f64)> = self
            .counts
            .iter()
            .map(|(key, weight)| (key.map(f64::from_bits), *weight))
            .collect();
        rows.sort_by(|a, b| {
            a.0.iter()
                .zip(b.0.iter())
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        Rows {
            values: rows.iter().map(|(row, _)| *row).collect(),
            weights: rows.iter().map(|(_, w)| *w).collect(),
        }
    }
}

/// Distinct rows sorted by `x`, with their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows<const N: usize> {
    /// The rows.
    pub values: Vec<[f64; N]>,
    /// The number of customers with each row.
    pub weights: Vec<f64>,
}

impl<const N: usize> Rows<N> {
    /// The total weight.
    pub fn total(&self) -> f64 {
        self.weights.iter().sum()
    }

    /// Sums `f(rows, weights, out)` over contiguous chunks on up to `threads` threads, adding
    /// each chunk's `K` outputs. `f` sees whole runs of one `x` whenever the chunk does.
    pub fn sum_chunks<const K: usize>(
        &self,
        threads: usize,
        f: impl Fn(&[[f64; N]], &[f64]) -> [f64; K] + Sync,
    ) -> [f64; K] {
        let len = self.values.len();
        let threads = threads.clamp(1, 16).min(len.div_ceil(20_000).max(1));
        if threads == 1 {
            return f(&self.values, &self.weights);
        }
        let chunk = len.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..len)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(len);
                    let f = &f;
                    let values = &self.values[start..end];
                    let weights = &self.weights[start..end];
                    scope.spawn(move || f(values, weights))
                })
                .collect();
            let mut total = [0.0; K];
            for handle in handles {
                // A panic in `f` is a bug; surface it as NaN rather than unwinding here.
                let part = handle.join().unwrap_or([f64::NAN; K]);
                for (t, p) in total.iter_mut().zip(part) {
                    *t += p;
                }
            }
            total
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_rows_are_counted_once_with_their_weight() {
        let mut a = Observations::<3>::new();
        a.add([1.0, 2.0, 3.0], 1.0);
        a.add([0.0, 0.0, 3.0], 1.0);
        a.add([1.0, 2.0, 3.0], 1.0);
        let mut b = Observations::<3>::new();
        b.add([-0.0, 0.0, 3.0], 2.0);
        a.merge(&b);
        assert_eq!(a.distinct(), 2);
        assert_eq!(a.total(), 5.0);
        let rows = a.rows();
        assert_eq!(rows.values, vec![[0.0, 0.0, 3.0], [1.0, 2.0, 3.0]]);
        assert_eq!(rows.weights, vec![3.0, 2.0]);
    }

    #[test]
    fn chunked_sums_match_one_pass() {
        let mut o = Observations::<2>::new();
        for i in 0..100_000 {
            o.add([f64::from(i % 7), f64::from(i)], 1.0);
        }
        let rows = o.rows();
        let sum = |v: &[[f64; 2]], w: &[f64]| {
            [
                v.iter().zip(w).map(|(r, w)| r[1] * w).sum::<f64>(),
                w.iter().sum(),
            ]
        };
        let one = rows.sum_chunks(1, sum);
        let four = rows.sum_chunks(4, sum);
        assert_eq!(one[1], four[1]);
        assert!((one[0] - four[0]).abs() < 1e-6 * one[0]);
    }
}
