//! Five-field cron expressions (minute hour day-of-month month day-of-week): parsing and matching.
//!
//! The dialect is Vixie cron's, which is what operators already write in crontabs and
//! Kubernetes CronJobs: `*`, lists, ranges, steps, month and weekday names, `0` or `7` for
//! Sunday, and the macros `@hourly`, `@daily`, `@weekly`, `@monthly`, `@quarterly`,
//! `@yearly`. When both day-of-month and day-of-week are restricted, a day matches if
//! either matches (Vixie semantics). Seconds are not supported: drills are scheduled to
//! the minute.

use std::fmt;

use chrono::{Datelike, NaiveDate};

/// Why a cron expression was rejected. The message names the field and the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "expected 5 fields (minute hour day-of-month month day-of-week) or a macro such as @weekly, found {found}"
    )]
    FieldCount { found: usize },
    #[error(
        "unknown macro `{0}` (expected @hourly, @daily, @weekly, @monthly, @quarterly or @yearly)"
    )]
    UnknownMacro(String),
    #[error("{field} value {value} is out of range {min}-{max}")]
    OutOfRange {
        field: &'static str,
        value: u32,
        min: u32,
        max: u32,
    },
    #[error("{field} has an invalid value `{text}`")]
    Invalid { field: &'static str, text: String },
    #[error("{field} range {start}-{end} is reversed")]
    ReversedRange {
        field: &'static str,
        start: u32,
        end: u32,
    },
    #[error("{field} step must be at least 1")]
    ZeroStep { field: &'static str },
}

/// One field's allowed values as a bit set (bit n set = value n allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldSet {
    bits: u64,
    /// True when the field was written as `*` (or `*/1`): matters for the day-of-month /
    /// day-of-week OR rule.
    star: bool,
}

impl FieldSet {
    fn contains(self, value: u32) -> bool {
        value < 64 && self.bits & (1u64 << value) != 0
    }

    fn values(self, min: u32, max: u32) -> impl Iterator<Item = u32> {
        (min..=max).filter(move |v| self.contains(*v))
    }
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Offset of the first name: months are named from 1, weekdays from 0.
    names_start: u32,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    names_start: 0,
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    names_start: 0,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    names_start: 0,
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    names_start: 1,
};
// Day-of-week accepts 0-7 (both 0 and 7 are Sunday); 7 is folded into 0 after parsing.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    names_start: 0,
};

/// A parsed five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    minutes: FieldSet,
    hours: FieldSet,
    days_of_month: FieldSet,
    months: FieldSet,
    days_of_week: FieldSet,
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl CronExpr {
    /// Parses a cron expression; the error names the offending field.
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let trimmed = text.trim();
        let expanded = match trimmed {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@quarterly" => "0 0 1 1,4,7,10 *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other if other.starts_with('@') => {
                return Err(CronError::UnknownMacro(other.to_string()));
            }
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount {
                found: fields.len(),
            });
        }
        let mut days_of_week = parse_field(fields[4], &DAY_OF_WEEK)?;
        if days_of_week.contains(7) {
            days_of_week.bits = (days_of_week.bits & !(1 << 7)) | 1;
        }
        Ok(Self {
            source: trimmed.to_string(),
            minutes: parse_field(fields[0], &MINUTE)?,
            hours: parse_field(fields[1], &HOUR)?,
            days_of_month: parse_field(fields[2], &DAY_OF_MONTH)?,
            months: parse_field(fields[3], &MONTH)?,
            days_of_week,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does the expression fire on this calendar day (at some hour and minute)?
    pub fn matches_date(&self, date: NaiveDate) -> bool {
        if !self.months.contains(date.month()) {
            return false;
        }
        let dom = self.days_of_month.contains(date.day());
        let dow = self
            .days_of_week
            .contains(date.weekday().num_days_from_sunday());
        match (self.days_of_month.star, self.days_of_week.star) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            // Vixie cron: when both are restricted, either one matching is enough.
            (false, false) => dom || dow,
        }
    }

    /// The hours of a matching day, ascending.
    pub fn hours(&self) -> impl Iterator<Item = u32> + '_ {
        self.hours.values(0, 23)
    }

    /// The minutes of a matching hour, ascending.
    pub fn minutes(&self) -> impl Iterator<Item = u32> + '_ {
        self.minutes.values(0, 59)
    }
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<FieldSet, CronError> {
    let mut set = FieldSet {
        bits: 0,
        star: false,
    };
    for part in text.split(',') {
        if part.is_empty() {
            return Err(invalid(spec, text));
        }
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| invalid(spec, part))?;
                if step == 0 {
                    return Err(CronError::ZeroStep { field: spec.name });
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (start, end) = if range == "*" {
            if step == 1 && !text.contains(',') {
                set.star = true;
            }
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let start = parse_value(a, spec)?;
            let end = parse_value(b, spec)?;
            if start > end {
                return Err(CronError::ReversedRange {
                    field: spec.name,
                    start,
                    end,
                });
            }
            (start, end)
        } else {
            let start = parse_value(range, spec)?;
            // `5/15` means "from 5 to the end, every 15", as in Vixie cron.
            let end = if part.contains('/') { spec.max } else { start };
            (start, end)
        };
        let mut value = start;
        while value <= end {
            set.bits |= 1u64 << value;
            value += step;
        }
    }
    Ok(set)
}

fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    let upper = text.to_ascii_uppercase();
    if let Some(index) = spec.names.iter().position(|name| *name == upper) {
        // The name tables are at most twelve long, so the cast cannot truncate.
        return Ok(index as u32 + spec.names_start);
    }
    let value: u32 = text.parse().map_err(|_| invalid(spec, text))?;
    if value < spec.min || value > spec.max {
        return Err(CronError::OutOfRange {
            field: spec.name,
            value,
            min: spec.min,
            max: spec.max,
        });
    }
    Ok(value)
}

fn invalid(spec: &FieldSpec, text: &str) -> CronError {
    CronError::Invalid {
        field: spec.name,
        text: text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn minute_out_of_range_names_the_field_and_range() {
        let err = CronExpr::parse("61 * * * *").unwrap_err();
        assert_eq!(err.to_string(), "minute value 61 is out of range 0-59");
    }

    #[test]
    fn wrong_field_count_is_explained() {
        let err = CronExpr::parse("0 0 * * * *").unwrap_err();
        assert!(err.to_string().starts_with("expected 5 fields"), "{err}");
    }

    #[test]
    fn names_ranges_steps_and_lists_are_understood() {
        let cron = CronExpr::parse("*/15 9-17/4 * JAN,jul MON-FRI").unwrap();
        assert_eq!(cron.minutes().collect::<Vec<_>>(), vec![0, 15, 30, 45]);
        assert_eq!(cron.hours().collect::<Vec<_>>(), vec![9, 13, 17]);
        // 2026-07-06 is a Monday, 2026-07-05 a Sunday, 2026-08-03 a Monday in August.
        assert!(cron.matches_date(date(2026, 7, 6)));
        assert!(!cron.matches_date(date(2026, 7, 5)));
        assert!(!cron.matches_date(date(2026, 8, 3)));
    }

    #[test]
    fn sunday_is_both_zero_and_seven() {
        let seven = CronExpr::parse("0 0 * * 7").unwrap();
        let zero = CronExpr::parse("0 0 * * 0").unwrap();
        let sunday = date(2026, 11, 22);
        assert!(seven.matches_date(sunday) && zero.matches_date(sunday));
        assert!(!seven.matches_date(date(2026, 11, 23)));
    }

    #[test]
    fn restricted_day_of_month_and_week_match_either() {
        let cron = CronExpr::parse("0 0 13 * FRI").unwrap();
        assert!(cron.matches_date(date(2026, 11, 13))); // the 13th (a Friday)
        assert!(cron.matches_date(date(2026, 11, 20))); // a Friday
        assert!(cron.matches_date(date(2026, 12, 13))); // the 13th (a Sunday)
        assert!(!cron.matches_date(date(2026, 12, 14)));
    }

    #[test]
    fn quarterly_macro_fires_on_the_first_of_each_quarter() {
        let cron = CronExpr::parse("@quarterly").unwrap();
        assert!(cron.matches_date(date(2027, 4, 1)));
        assert!(!cron.matches_date(date(2027, 5, 1)));
        assert_eq!(cron.as_str(), "@quarterly");
    }

    #[test]
    fn malformed_fields_are_rejected_with_their_text() {
        assert_eq!(
            CronExpr::parse("0 0 * FOO *").unwrap_err().to_string(),
            "month has an invalid value `FOO`"
        );
        assert!(matches!(
            CronExpr::parse("0 5-2 * * *"),
            Err(CronError::ReversedRange { field: "hour", .. })
        ));
        assert!(matches!(
            CronExpr::parse("*/0 * * * *"),
            Err(CronError::ZeroStep { field: "minute" })
        ));
        assert!(matches!(
            CronExpr::parse("@fortnightly"),
            Err(CronError::UnknownMacro(_))
        ));
        assert!(matches!(
            CronExpr::parse("0,,5 * * * *"),
            Err(CronError::Invalid { .. })
        ));
    }
}
