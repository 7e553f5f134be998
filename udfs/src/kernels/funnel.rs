//! Ordered funnels within a time window (ClickHouse `windowFunnel`, default mode): how many
//! steps of a funnel a customer reached.
//!
//! An event is a timestamp and the bitmask of the steps whose condition it matches (bit 0 =
//! step 1). A chain starts at an event matching step 1; step `k` counts when an event matching
//! step `k` occurs at or after the event that reached step `k-1` and no later than `window`
//! after the chain's step-1 event. The level is the highest step reached over all chains (0
//! without a step-1 event). Events at the same instant may serve consecutive steps, and one
//! event matching several conditions may serve several consecutive steps.

/// The most steps a funnel may have (one bit each in a `u32`).
pub const MAX_STEPS: usize = 32;

/// The funnel level reached by `events` (timestamp, step mask), for a funnel of `steps` steps
/// whose chains must complete within `window` (same unit as the timestamps) of their start.
///
/// Sorts `events` by timestamp. Runs in `O(n log n + n · steps)`: for each level it keeps
/// the start of the latest chain that reached it, which dominates earlier chains (a later
/// start leaves at least as much of the window for the following steps).
pub fn funnel_level(events: &mut [(i64, u32)], window: i64, steps: usize) -> usize {
    let steps = steps.min(MAX_STEPS);
    if steps == 0 {
        return 0;
    }
    events.sort_unstable_by_key(|(ts, _)| *ts);
    let relevant = if steps == MAX_STEPS {
        u32::MAX
    } else {
        (1u32 << steps) - 1
    };
    let mut start: [Option<i64>; MAX_STEPS] = [None; MAX_STEPS];
    let mut i = 0;
    while i < events.len() {
        // Events at the same instant act together: steps are taken in ascending order.
        let ts = events[i].0;
        let mut mask = 0u32;
        while i < events.len() && events[i].0 == ts {
            mask |= events[i].1;
            i += 1;
        }
        mask &= relevant;
        while mask != 0 {
            let step = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if step == 0 {
                start[0] = Some(ts);
            } else if let Some(first) = start[step - 1]
                && i128::from(ts) - i128::from(first) <= i128::from(window)
            {
                start[step] = Some(first);
                if step + 1 == steps {
                    return steps;
                }
            }
        }
    }
    start[..steps]
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |level| level + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: u32 = 1; // browse
    const C: u32 = 2; // add to cart
    const O: u32 = 4; // order

    /// For every step-1 event, extends the chain greedily with the earliest eligible event.
    fn brute_force(events: &[(i64, u32)], window: i64, steps: usize) -> usize {
        let mut best = 0;
        for &(start, mask) in events {
            if mask & 1 == 0 {
                continue;
            }
            let mut level = 1;
            let mut at = start;
            for step in 1..steps {
                let next = events
                    .iter()
                    .filter(|(ts, m)| m & (1 << step) != 0 && *ts >= at && *ts - start <= window)
                    .map(|(ts, _)| *ts)
                    .min();
                match next {
                    Some(ts) => {
                        at = ts;
                        level += 1;
                    }
                    None => break,
                }
            }
            best = best.max(level);
        }
        best
    }

    #[test]
    fn ordered_steps_within_window() {
        let mut events = vec![(0, B), (5, C), (15, O)];
        assert_eq!(funnel_level(&mut events, 20, 3), 3);
        assert_eq!(funnel_level(&mut events, 10, 3), 2);
        // Out of order: the cart before the browse does not count.
        let mut events = vec![(10, C), (15, B)];
        assert_eq!(funnel_level(&mut events, 100, 3), 1);
        // No step-1 event.
        let mut events = vec![(0, C), (1, O)];
        assert_eq!(funnel_level(&mut events, 100, 3), 0);
        assert_eq!(funnel_level(&mut [], 100, 3), 0);
    }

    #[test]
    fn a_later_chain_can_go_further() {
        // The first browse's window closes before the cart; the second browse's does not.
        let mut events = vec![(0, B), (50, B), (70, C), (80, O)];
        assert_eq!(funnel_level(&mut events, 40, 3), 3);
    }

    #[test]
    fn same_instant_counts_as_at_or_after() {
        let mut events = vec![(5, C), (5, B)];
        assert_eq!(funnel_level(&mut events, 0, 2), 2);
        let mut events = vec![(5, B | C)];
        assert_eq!(funnel_level(&mut events, 0, 3), 2);
    }

    #[test]
    fn thirty_two_steps() {
        let mut events: Vec<(i64, u32)> = (0..32).map(|s| (i64::from(s), 1u32 << s)).collect();
        assert_eq!(funnel_level(&mut events, 31, 32), 32);
        assert_eq!(funnel_level(&mut events, 30, 32), 31);
    }

    proptest! {
        #[test]
        fn matches_brute_force(
            events in proptest::collection::vec((0i64..40, 0u32..16), 0..25),
            window in 0i64..30,
            steps in 1usize..5,
        ) {
            let expected = brute_force(&events, window, steps);
            let mut sorted = events.clone();
            prop_assert_eq!(funnel_level(&mut sorted, window, steps), expected);
        }

        #[test]
        fn order_of_input_does_not_matter_and_window_is_monotone(
            events in proptest::collection::vec((0i64..40, 0u32..8), 0..25),
            window in 0i64..30,
        ) {
            let mut a = events.clone();
            let mut b = events.clone();
            b.reverse();
            let level = funnel_level(&mut a, window, 3);
            prop_assert_eq!(level, funnel_level(&mut b, window, 3));
            prop_assert!(funnel_level(&mut b, window + 5, 3) >= level);
            prop_assert!(level <= 3);
        }
    }
}
