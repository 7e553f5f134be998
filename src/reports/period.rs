//! Reporting periods. A run reports on the period that contains its `as_of` date, up to and
//! including that day: `[period_start, as_of + 1 day)`. A run on the last day of a month covers
//! the whole month; a run in the middle covers the month to date.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate};
use serde::Deserialize;

/// The length of a reporting period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// One calendar day.
    Day,
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    #[default]
    Month,
    /// A calendar quarter.
    Quarter,
    /// A calendar year.
    Year,
    /// All history up to `as_of`.
    All,
}

/// The dates a run reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The last day reported on.
    pub as_of: NaiveDate,
    /// First day of the period.
    pub start: NaiveDate,
    /// The day after `as_of` (exclusive end).
    pub end: NaiveDate,
    /// First day of the period before.
    pub previous_start: NaiveDate,
}

/// The start of "all history".
const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};

impl Period {
    /// The name used in front matter and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Quarter => "quarter",
            Period::Year => "year",
            Period::All => "all",
        }
    }

    /// The period containing `as_of`, cut at `as_of`.
    pub fn window(self, as_of: NaiveDate) -> Window {
        let start = self.start_of(as_of);
        let previous_start = match self {
            Period::All => EPOCH,
            _ => self.start_of(start.pred_opt().unwrap_or(start)),
        };
        Window {
            as_of,
            start,
            end: as_of.succ_opt().unwrap_or(as_of),
            previous_start,
        }
    }

    /// The first day of the period holding `date`.
    fn start_of(self, date: NaiveDate) -> NaiveDate {
        let first_of_month =
            |month: u32| NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date);
        match self {
            Period::Day => date,
            Period::Week => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
            Period::Month => first_of_month(date.month()),
            Period::Quarter => first_of_month((date.month() - 1) / 3 * 3 + 1),
            Period::Year => first_of_month(1),
            Period::All => EPOCH,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Period {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "day" => Ok(Period::Day),
            "week" => Ok(Period::Week),
            "month" => Ok(Period::Month),
            "quarter" => Ok(Period::Quarter),
            "year" => Ok(Period::Year),
            "all" => Ok(Period::All),
            other => Err(format!(
                "period '{other}' is not one of day, week, month, quarter, year, all"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn windows_end_the_day_after_as_of() {
        let w = Period::Month.window(date("2026-10-31"));
        assert_eq!((w.start, w.end), (date("2026-10-01"), date("2026-11-01")));
        assert_eq!(w.previous_start, date("2026-09-01"));

        let w = Period::Month.window(date("2026-03-15"));
        assert_eq!((w.start, w.end), (date("2026-03-01"), date("2026-03-16")));

        let w = Period::Week.window(date("2026-11-22"));
        assert_eq!(w.start, date("2026-11-16"));
        assert_eq!(w.previous_start, date("2026-11-09"));

        let w = Period::Quarter.window(date("2026-08-10"));
        assert_eq!(
            (w.start, w.previous_start),
            (date("2026-07-01"), date("2026-04-01"))
        );

        let w = Period::Year.window(date("2026-01-01"));
        assert_eq!(
            (w.start, w.previous_start),
            (date("2026-01-01"), date("2025-01-01"))
        );

        let w = Period::All.window(date("1998-06-30"));
        assert_eq!((w.start, w.end), (date("1900-01-01"), date("1998-07-01")));
    }

    #[test]
    fn parses_names() {
        assert_eq!("quarter".parse::<Period>(), Ok(Period::Quarter));
        assert!("fortnight".parse::<Period>().is_err());
    }
}
