//! Weighted, deduplicated customer rows for model fitting. A customer base has far fewer
//! distinct `(x, t_x, T)` (or `(x, m_x)`) rows than customers, and the log-likelihood of
//! identical rows is the same, so fitting sums each distinct row once, times its count.
//! Rows are kept sorted by `x`, so the parts of a likelihood that depend on `x` alone (the
//! log-gamma and digamma terms) are computed once per distinct `x`.

use datafusion::common::HashMap;

/// The rows summed together by one task in [`Rows::sum_chunks`].
pub const CHUNK: usize = 2_048;

/// Distinct rows of `N` numbers (the first is `x`) with their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observations<const N: usize> {
    counts: HashMap<[u64; N], f64>,
    /// Rows taken as they come (see [`Observations::push`]), combined with equal rows only
    /// by [`Observations::rows`]' sort.
    pushed: Vec<([u64; N], f64)>,
}

impl<const N: usize> Observations<N> {
    /// No rows.
    pub fn new() -> Self {
        Observations {
            counts: HashMap::default(),
            pushed: Vec::new(),
        }
    }

    /// Adds `weight` customers with `row` (`-0.0` is stored as `0.0`).
    pub fn add(&mut self, row: [f64; N], weight: f64) {
        *self.counts.entry(key(row)).or_default() += weight;
    }

    /// Adds `weight` customers with `row` without looking for an equal row yet: for rows that
    /// are mostly distinct already (other groups' distinct rows being merged), which the sort
    /// in [`Observations::rows`] then combines at no extra cost.
    pub fn push(&mut self, row: [f64; N], weight: f64) {
        self.pushed.push((key(row), weight));
        // Many groups' rows repeating one another (a long merge) are combined now and then,
        // so memory follows the distinct rows rather than everything merged.
        if self.pushed.len() >= COMBINE_PUSHED_AT.max(2 * self.counts.len()) {
            for (key, weight) in std::mem::take(&mut self.pushed) {
                *self.counts.entry(key).or_default() += weight;
            }
        }
    }

    /// Adds every row of `other`.
    pub fn merge(&mut self, other: &Observations<N>) {
        for (key, weight) in other.entries() {
            *self.counts.entry(*key).or_default() += weight;
        }
    }

    /// The number of distinct rows (at most: pushed rows are counted as they came).
    pub fn distinct(&self) -> usize {
        self.counts.len() + self.pushed.len()
    }

    /// The total weight (customers).
    pub fn total(&self) -> f64 {
        self.entries().map(|(_, weight)| weight).sum()
    }

    /// The counted rows, then the pushed ones.
    fn entries(&self) -> impl Iterator<Item = (&[u64; N], &f64)> + '_ {
        self.counts
            .iter()
            .chain(self.pushed.iter().map(|(key, weight)| (key, weight)))
    }

    /// The rows with their weights in no particular order, for handing them on to be merged
    /// (where [`Observations::rows`]' sort would be wasted). A row may come more than once:
    /// pushed rows are not combined yet.
    pub fn iter(&self) -> impl Iterator<Item = ([f64; N], f64)> + '_ {
        self.entries()
            .map(|(key, weight)| (key.map(f64::from_bits), *weight))
    }

    /// The distinct rows with their weights, in a fixed order (by `x`, then the other
    /// columns), so a fit is deterministic whatever order the rows arrived in.
    pub fn rows(&self) -> Rows<N> {
        // Sorted on integer keys in `f64::total_cmp`'s order, equal keys (pushed rows) by
        // weight, so the unstable sort's result does not depend on the arrival order.
        let order = |bits: u64| {
            let signed = bits as i64;
            signed ^ (((signed >> 63) as u64) >> 1) as i64
        };
        let mut rows: Vec<([i64; N], [u64; N], f64)> = self
            .entries()
            .map(|(key, weight)| (key.map(order), *key, *weight))
            .collect();
        // Equal rows (a pushed row that was also added, or pushed twice) have equal keys, so
        // the unstable sort can reorder only their weights: summed in weight order below, the
        // total does not depend on it either.
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.total_cmp(&b.2)));
        let (mut values, mut weights): (Vec<[f64; N]>, Vec<f64>) = (Vec::new(), Vec::new());
        let mut last: Option<[u64; N]> = None;
        for (_, key, weight) in rows {
            match (last, weights.last_mut()) {
                (Some(previous), Some(total)) if previous == key => *total += weight,
                _ => {
                    values.push(key.map(f64::from_bits));
                    weights.push(weight);
                    last = Some(key);
                }
            }
        }
        Rows { values, weights }
    }

    /// Makes room for `additional` more pushed rows.
    pub fn reserve_pushed(&mut self, additional: usize) {
        self.pushed.reserve(additional);
    }
}

/// Pushed rows at which [`Observations::push`] folds them into the counts (or twice the
/// counted rows, when more).
const COMBINE_PUSHED_AT: usize = 1 << 20;

/// A row's key: its numbers' bits, with `-0.0` as `0.0`.
fn key<const N: usize>(row: [f64; N]) -> [u64; N] {
    row.map(|v| if v == 0.0 { 0u64 } else { v.to_bits() })
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

    /// Sums `f(rows, weights)` over fixed chunks of the rows: see [`sum_chunks`].
    pub fn sum_chunks<const K: usize>(
        &self,
        threads: usize,
        f: impl Fn(&[[f64; N]], &[f64]) -> [f64; K] + Sync,
    ) -> [f64; K] {
        sum_chunks(&self.values, &self.weights, threads, f)
    }
}

/// Sums `f(rows, weights)` over fixed chunks of [`CHUNK`] rows, adding each chunk's `K`
/// outputs in chunk order, on up to `threads` threads. The chunks and the order of the
/// additions do not depend on `threads`, so results are the same on every machine.
pub fn sum_chunks<T: Sync, const K: usize>(
    values: &[T],
    weights: &[f64],
    threads: usize,
    f: impl Fn(&[T], &[f64]) -> [f64; K] + Sync,
) -> [f64; K] {
    let chunks: Vec<(&[T], &[f64])> = values.chunks(CHUNK).zip(weights.chunks(CHUNK)).collect();
    let threads = threads.clamp(1, 16).min(chunks.len().max(1));
    let mut parts = vec![[0.0; K]; chunks.len()];
    if threads == 1 {
        for (part, (values, weights)) in parts.iter_mut().zip(&chunks) {
            *part = f(values, weights);
        }
    } else {
        std::thread::scope(|scope| {
            let f = &f;
            let chunks = &chunks;
            let handles: Vec<_> = (0..threads)
                .map(|worker| {
                    scope.spawn(move || {
                        (worker..chunks.len())
                            .step_by(threads)
                            .map(|i| (i, f(chunks[i].0, chunks[i].1)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for handle in handles {
                // A panic in `f` is a bug; surface it as NaN rather than unwinding here.
                match handle.join() {
                    Ok(done) => done.into_iter().for_each(|(i, part)| parts[i] = part),
                    Err(_) => parts.iter_mut().for_each(|p| *p = [f64::NAN; K]),
                }
            }
        });
    }
    let mut total = [0.0; K];
    for part in parts {
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    total
}

/// A row that starts with a customer's repeat purchases `x`.
pub trait RepeatCount {
    /// The row's `x`.
    fn x(&self) -> f64;
}

impl<const N: usize> RepeatCount for [f64; N] {
    fn x(&self) -> f64 {
        self[0]
    }
}

/// Splits rows sorted by `x` into runs of equal `x`, each with its weights, so a likelihood
/// computes its `x`-only terms once per run.
pub fn runs_of_equal_x<'a, T: RepeatCount>(
    values: &'a [T],
    weights: &'a [f64],
) -> impl Iterator<Item = (&'a [T], &'a [f64])> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        let x = values.get(start)?.x();
        // At least one row, so a NaN `x` (never equal to itself) cannot stall the walk.
        let length = values[start..]
            .iter()
            .take_while(|row| row.x() == x)
            .count()
            .max(1);
        let run = (
            &values[start..start + length],
            &weights[start..start + length],
        );
        start += length;
        Some(run)
    })
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
        // Pushed rows are combined with equal added and pushed rows when sorted.
        a.push([1.0, 2.0, 3.0], 4.0);
        a.push([5.0, 0.0, 6.0], 1.0);
        a.push([-0.0, 0.0, 3.0], 0.5);
        a.push([5.0, 0.0, 6.0], 2.0);
        assert_eq!(a.total(), 12.5);
        let rows = a.rows();
        assert_eq!(
            rows.values,
            vec![[0.0, 0.0, 3.0], [1.0, 2.0, 3.0], [5.0, 0.0, 6.0]]
        );
        assert_eq!(rows.weights, vec![3.5, 6.0, 3.0]);
    }

    #[test]
    fn pushed_rows_are_combined_before_they_pile_up() {
        let mut o = Observations::<2>::new();
        for i in 0..COMBINE_PUSHED_AT {
            o.push([(i % 10) as f64, 1.0], 1.0);
        }
        assert_eq!(o.distinct(), 10);
        o.push([3.0, 1.0], 0.5);
        assert_eq!(o.distinct(), 11, "one pushed row waits");
        let rows = o.rows();
        assert_eq!(rows.values.len(), 10);
        let threes = (0..COMBINE_PUSHED_AT).filter(|i| i % 10 == 3).count();
        assert_eq!(rows.weights[3], threes as f64 + 0.5);
    }

    #[test]
    fn rows_come_in_numeric_order_whatever_their_signs() {
        let values = [
            [2.5, -1.0],
            [-3.0, 4.0],
            [0.0, -0.5],
            [2.5, -7.25],
            [1e300, 0.0],
            [-1e-300, 2.0],
            [0.0, 3.0],
            [f64::INFINITY, 1.0],
        ];
        let mut o = Observations::<2>::new();
        for v in values {
            o.add(v, 1.0);
        }
        let mut expected = values.to_vec();
        expected.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
        assert_eq!(o.rows().values, expected);
    }

    #[test]
    fn runs_split_where_x_changes() {
        let values = [[0.0, 1.0], [0.0, 2.0], [2.0, 1.0], [3.0, 1.0], [3.0, 5.0]];
        let weights = [1.0, 2.0, 3.0, 4.0, 5.0];
        let runs: Vec<(f64, usize, f64)> = runs_of_equal_x(&values, &weights)
            .map(|(run, w)| (run[0][0], run.len(), w.iter().sum()))
            .collect();
        assert_eq!(runs, vec![(0.0, 2, 3.0), (2.0, 1, 3.0), (3.0, 2, 9.0)]);
        assert_eq!(runs_of_equal_x::<[f64; 2]>(&[], &[]).count(), 0);
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
        assert_eq!(one, four, "the same on any number of threads");
    }
}
