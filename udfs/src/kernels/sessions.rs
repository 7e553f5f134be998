//! Sessionization: numbering a customer's visits. Events are taken in order; a new session
//! starts when the time since the previous event exceeds the gap (an inactivity timeout such as
//! 30 minutes). Events without a timestamp stay in the current session.

/// Session numbers 1, 2, ... for `timestamps` in order; a session starts when the difference
/// to the previous non-NULL timestamp is greater than `gap`. NULL timestamps keep the current
/// number (the first session if they come first). Timestamps that go backwards (input not in
/// time order) do not start a session.
pub fn session_numbers(timestamps: &[Option<i64>], gap: i64) -> Vec<i64> {
    let mut session = 1;
    let mut previous: Option<i64> = None;
    timestamps
        .iter()
        .map(|ts| {
            if let Some(ts) = *ts {
                if let Some(previous) = previous
                    && i128::from(ts) - i128::from(previous) > i128::from(gap)
                {
                    session += 1;
                }
                previous = Some(ts);
            }
            session
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gaps_start_sessions() {
        let ts = [Some(0), Some(10), Some(41), None, Some(45), Some(100)];
        assert_eq!(
            session_numbers(&[Some(0), Some(10), Some(40)], 30),
            vec![1, 1, 1]
        );
        assert_eq!(session_numbers(&ts, 30), vec![1, 1, 2, 2, 2, 3]);
        // Exactly the gap stays in the session.
        assert_eq!(session_numbers(&[Some(0), Some(30)], 30), vec![1, 1]);
        assert_eq!(session_numbers(&[None, None, Some(5)], 30), vec![1, 1, 1]);
        assert_eq!(session_numbers(&[], 30), Vec::<i64>::new());
        assert_eq!(
            session_numbers(&[Some(i64::MIN), Some(i64::MAX)], i64::MAX),
            vec![1, 2]
        );
    }

    proptest! {
        #[test]
        fn sessions_count_gaps(
            mut ts in proptest::collection::vec(0i64..1000, 1..50),
            gap in 0i64..100,
        ) {
            ts.sort_unstable();
            let with_nulls: Vec<Option<i64>> = ts.iter().copied().map(Some).collect();
            let sessions = session_numbers(&with_nulls, gap);
            prop_assert_eq!(sessions[0], 1);
            for i in 1..ts.len() {
                let step = sessions[i] - sessions[i - 1];
                prop_assert_eq!(step, i64::from(ts[i] - ts[i - 1] > gap));
            }
            // A larger gap never gives more sessions.
            let wider = session_numbers(&with_nulls, gap + 10);
            prop_assert!(wider.last() <= sessions.last());
        }
    }
}
