//! RFM scoring rules (crm-reference §1.2): value quantiles (the `pd.qcut` recipe), equal-size
//! buckets (`NTILE`), the rfm R package's bins, and fixed thresholds. Scores run `1..=n`.
//!
//! All functions take the values of the whole population and return one score per value, in
//! input order. They never panic on data: an empty population gives no scores.

/// The quantile of sorted `values` at `q` with linear interpolation (numpy's default,
/// R type 7, SQL `percentile_cont`).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let fraction = position - lower as f64;
    sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
}

/// The `n + 1` quantile edges at `0, 1/n, …, 1` of `values`, with the same interpolation as
/// [`quantile_sorted`], found by selection (linear time) instead of a full sort.
pub fn quantile_edges(values: &[f64], n: usize) -> Vec<f64> {
    let mut data: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if data.is_empty() {
        return vec![f64::NAN; n + 1];
    }
    let last = (data.len() - 1) as f64;
    (0..=n)
        .map(|i| {
            let position = (i as f64 / n as f64) * last;
            let lower = position.floor() as usize;
            let fraction = position - lower as f64;
            let (_, low, above) = data.select_nth_unstable_by(lower, f64::total_cmp);
            let low = *low;
            if fraction == 0.0 {
                return low;
            }
            let high = above.iter().copied().fold(f64::INFINITY, f64::min);
            low + (high - low) * fraction
        })
        .collect()
}

/// Value-quantile bins: `1 + count(inner edges < value)` (right-closed bins, lowest included).
/// With `reverse`, the bin is turned around (`n + 1 - bin`) so the smallest values score
/// highest, as recency does.
pub fn value_quantile_scores(values: &[f64], n: usize, reverse: bool) -> Vec<u8> {
    let edges = quantile_edges(values, n);
    let inner = if edges.len() > 2 {
        &edges[1..edges.len() - 1]
    } else {
        &[][..]
    };
    values
        .iter()
        .map(|v| {
            let bin = 1 + inner.iter().filter(|e| **e < *v).count();
            orient(bin, n, reverse)
        })
        .collect()
}

fn orient(bin: usize, n: usize, reverse: bool) -> u8 {
    let score = if reverse { n + 1 - bin } else { bin };
    score as u8
}

/// Equal-size buckets like SQL `NTILE(n) OVER (ORDER BY value, tiebreak)`: the first
/// `len % n` buckets hold one row more. `tiebreak[i]` orders rows with equal values (the
/// customer id, or its rank); with `descending`, larger values come first.
///
/// No sort: the rows at each bucket's first position are found by selection
/// (`select_nth_unstable`, linear time), which leaves every bucket's rows between two of
/// them; a window query sorts all rows instead.
pub fn ntile_scores<T: Ord>(values: &[f64], tiebreak: &[T], n: usize, descending: bool) -> Vec<u8> {
    let len = values.len();
    let compare = |a: &u32, b: &u32| {
        let (a, b) = (*a as usize, *b as usize);
        let by_value = values[a].total_cmp(&values[b]);
        let by_value = if descending {
            by_value.reverse()
        } else {
            by_value
        };
        by_value.then_with(|| tiebreak[a].cmp(&tiebreak[b]))
    };
    let mut order: Vec<u32> = (0..len as u32).collect();
    // The first position of buckets 2..=n (of each row, when there are fewer rows).
    let (size, larger) = (len / n.max(1), len % n.max(1));
    let starts: Vec<usize> = (1..n.min(len))
        .map(|bucket| bucket * size + bucket.min(larger))
        .collect();
    let mut done = 0;
    for &start in &starts {
        order[done..].select_nth_unstable_by(start - done, compare);
        done = start;
    }
    let mut scores = vec![0u8; len];
    let mut from = 0;
    for (bucket, &to) in starts.iter().chain(std::iter::once(&len)).enumerate() {
        for &row in &order[from..to] {
            scores[row as usize] = (bucket + 1) as u8;
        }
        from = to;
    }
    scores
}

/// The 1-based `NTILE(n)` bucket of the row at 0-based `position` among `len` rows.
pub fn ntile_bucket(position: usize, len: usize, n: usize) -> usize {
    let size = len / n;
    let larger = len % n;
    let boundary = larger * (size + 1);
    if position < boundary {
        return position / (size + 1) + 1;
    }
    match (position - boundary).checked_div(size) {
        Some(bucket) => bucket + larger + 1,
        // Fewer rows than buckets: every row has a bucket of its own.
        None => position + 1,
    }
}

/// The rfm R package's bins (crm-reference §1.2 B): `[lower_i, upper_i)` with
/// `lower = (min, b1, …)` and `upper = (b1, …, max + 1)`, where the breaks `b` are the inner
/// quantiles plus one, or the user's own breaks. A later bin wins where bins overlap, and a
/// bin may be empty (`[2, 2)`), so a score may never be given.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageBins {
    /// Inclusive lower bounds, one per bin.
    pub lower: Vec<f64>,
    /// Exclusive upper bounds, one per bin.
    pub upper: Vec<f64>,
}

impl PackageBins {
    /// Bins from `n` quantiles of `values`, or from explicit `breaks` when given.
    pub fn new(values: &[f64], n: usize, breaks: Option<&[f64]>) -> PackageBins {
        let (min, max) = values
            .iter()
            .filter(|v| !v.is_nan())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        let breaks: Vec<f64> = match breaks {
            Some(breaks) => breaks.to_vec(),
            None => {
                let edges = quantile_edges(values, n);
                edges[1..edges.len().saturating_sub(1).max(1)]
                    .iter()
                    .map(|b| b + 1.0)
                    .collect()
            }
        };
        let mut lower = vec![min];
        lower.extend(&breaks);
        let mut upper = breaks;
        upper.push(max + 1.0);
        PackageBins { lower, upper }
    }

    /// The bin (1-based) of `value`: the last bin with `lower <= value < upper`; 0 if none.
    pub fn bin(&self, value: f64) -> usize {
        self.lower
            .iter()
            .zip(&self.upper)
            .enumerate()
            .filter(|(_, (lo, hi))| **lo <= value && value < **hi)
            .map(|(i, _)| i + 1)
            .next_back()
            .unwrap_or(0)
    }

    /// Scores of `values` (recency: `reverse`, so bin 1 scores highest).
    pub fn scores(&self, values: &[f64], reverse: bool) -> Vec<u8> {
        let n = self.lower.len();
        values
            .iter()
            .map(|v| match self.bin(*v) {
                0 => 0,
                bin => orient(bin, n, reverse),
            })
            .collect()
    }
}

/// Fixed thresholds (crm-reference §1.2 C): `1 + count(cuts <= value)`, or for recency
/// (`reverse`) `n - count(cuts <= value)` with `n = cuts.len() + 1`.
pub fn threshold_score(value: f64, cuts: &[f64], reverse: bool) -> u8 {
    let above = cuts.iter().filter(|c| **c <= value).count();
    let n = cuts.len() + 1;
    if reverse {
        (n - above) as u8
    } else {
        (1 + above) as u8
    }
}

/// The rank of each value in ascending order (0-based; equal values get distinct ranks in
/// input order), used as the customer-id tie-break.
pub fn ranks<T: Ord>(keys: &[T]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..keys.len() as u32).collect();
    order.sort_by(|a, b| keys[*a as usize].cmp(&keys[*b as usize]));
    let mut rank = vec![0u32; keys.len()];
    for (position, row) in order.into_iter().enumerate() {
        rank[row as usize] = position as u32;
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&sorted, 0.0), 1.0);
        assert_eq!(quantile_sorted(&sorted, 1.0), 4.0);
        assert!((quantile_sorted(&sorted, 0.2) - 1.6).abs() < 1e-12);
        assert_eq!(quantile_edges(&[5.0, 1.0, 3.0], 2), vec![1.0, 3.0, 5.0]);
    }

    proptest! {
        #[test]
        fn selection_edges_equal_sorted_edges(values in proptest::collection::vec(-1e6f64..1e6, 1..300), n in 1usize..8) {
            let mut sorted = values.clone();
            sorted.sort_unstable_by(f64::total_cmp);
            let expected: Vec<f64> = (0..=n).map(|i| quantile_sorted(&sorted, i as f64 / n as f64)).collect();
            prop_assert_eq!(quantile_edges(&values, n), expected);
        }
    }

    #[test]
    fn value_quantiles_keep_ties_together() {
        let values = [1.0, 1.0, 1.0, 2.0, 10.0];
        let scores = value_quantile_scores(&values, 5, false);
        assert_eq!(scores[0], scores[1]);
        assert_eq!(scores[1], scores[2]);
        assert_eq!(value_quantile_scores(&values, 5, true)[4], 1);
    }

    #[test]
    fn ntile_matches_sql() {
        // NTILE(3) over 7 rows: sizes 3, 2, 2.
        let buckets: Vec<usize> = (0..7).map(|p| ntile_bucket(p, 7, 3)).collect();
        assert_eq!(buckets, vec![1, 1, 1, 2, 2, 3, 3]);
        // Fewer rows than buckets: 1, 2.
        assert_eq!(ntile_bucket(1, 2, 5), 2);
        let scores = ntile_scores(&[3.0, 1.0, 1.0, 2.0], &[0, 2, 1, 3], 2, false);
        assert_eq!(scores, vec![2, 1, 1, 2]);
        assert_eq!(ntile_scores(&[3.0, 1.0], &[0, 1], 2, true), vec![1, 2]);
    }

    #[test]
    fn package_bins_reproduce_the_cdnow_skew() {
        // Frequencies shaped like CDNOW's: quantile breaks [1, 1, 2, 4] + 1.
        let mut values = vec![1.0; 51];
        values.extend(vec![2.0; 17]);
        values.extend(vec![3.0; 10]);
        values.extend(vec![4.0; 6]);
        values.extend(vec![5.0; 16]);
        values.push(171.0);
        let bins = PackageBins::new(&values, 5, None);
        assert_eq!(bins.lower[0], 1.0);
        assert_eq!(*bins.upper.last().unwrap(), 172.0);
        assert_eq!(bins.bin(1.0), 1);
        assert!(bins.scores(&values, false).iter().all(|s| *s != 2));
    }

    #[test]
    fn thresholds_score_both_ways() {
        assert_eq!(threshold_score(5.0, &[10.0], false), 1);
        assert_eq!(threshold_score(10.0, &[10.0], false), 2);
        assert_eq!(threshold_score(5.0, &[10.0, 30.0], true), 3);
        assert_eq!(threshold_score(45.0, &[10.0, 30.0], true), 1);
    }

    proptest! {
        #[test]
        fn scores_stay_in_range(values in proptest::collection::vec(0.0f64..1e6, 1..200), n in 2usize..8) {
            let ids: Vec<u32> = (0..values.len() as u32).collect();
            for score in value_quantile_scores(&values, n, false)
                .into_iter()
                .chain(value_quantile_scores(&values, n, true))
                .chain(ntile_scores(&values, &ids, n, false))
            {
                prop_assert!((1..=n as u8).contains(&score));
            }
        }

        #[test]
        fn ntile_by_selection_matches_a_sort(
            values in proptest::collection::vec(prop_oneof![0.0f64..20.0, Just(f64::NAN), Just(3.0)], 0..300),
            n in 1usize..12,
            descending in any::<bool>(),
        ) {
            let ids: Vec<i64> = (0..values.len() as i64).map(|i| (i * 7919) % 1009).collect();
            let mut order: Vec<usize> = (0..values.len()).collect();
            order.sort_by(|&a, &b| {
                let by_value = values[a].total_cmp(&values[b]);
                let by_value = if descending { by_value.reverse() } else { by_value };
                by_value.then_with(|| ids[a].cmp(&ids[b]))
            });
            let mut expected = vec![0u8; values.len()];
            for (position, &row) in order.iter().enumerate() {
                expected[row] = ntile_bucket(position, values.len(), n) as u8;
            }
            prop_assert_eq!(ntile_scores(&values, &ids, n, descending), expected);
        }

        #[test]
        fn value_scores_are_monotone(values in proptest::collection::vec(0.0f64..1e6, 1..200)) {
            let scores = value_quantile_scores(&values, 5, false);
            for i in 0..values.len() {
                for j in 0..values.len() {
                    if values[i] < values[j] {
                        prop_assert!(scores[i] <= scores[j]);
                    }
                }
            }
        }

        #[test]
        fn ntile_buckets_are_balanced(len in 1usize..500, n in 1usize..10) {
            let mut counts = vec![0usize; n + 1];
            for p in 0..len {
                let b = ntile_bucket(p, len, n);
                prop_assert!(b >= 1 && b <= n);
                counts[b] += 1;
            }
            let used: Vec<usize> = counts[1..].iter().copied().filter(|c| *c > 0).collect();
            let max = used.iter().max().copied().unwrap_or(0);
            let min = used.iter().min().copied().unwrap_or(0);
            prop_assert!(max - min <= 1);
        }
    }
}
