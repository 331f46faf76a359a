//! Schedule arithmetic: when a drill's cron fires in its time zone, and which slots blackouts remove.
//!
//! Everything here is pure: callers pass the instant to start from. Daylight-saving rules:
//! a wall-clock time that does not exist (spring forward) fires at the first instant after
//! the gap; a wall-clock time that happens twice (fall back) fires once, at its first
//! occurrence. Both are what operators expect from cron and what cronie does.

pub mod cron;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub use self::cron::{CronError, CronExpr};

/// How far ahead we look for the next firing before concluding there is none (an
/// expression such as `0 0 30 2 *` never fires). Five years covers every leap-day schedule.
const SEARCH_DAYS: i64 = 366 * 5;

/// A window during which no drill may start.
#[derive(Debug, Clone, PartialEq)]
pub enum Blackout {
    /// A fixed window, e.g. a change freeze for a product launch.
    Window {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        reason: String,
    },
    /// A window that recurs: it opens whenever `cron` fires and lasts `duration`.
    Recurring {
        cron: CronExpr,
        duration: Duration,
        reason: String,
    },
}

impl Blackout {
    /// Why drills are not run in this window.
    pub fn reason(&self) -> &str {
        match self {
            Blackout::Window { reason, .. } | Blackout::Recurring { reason, .. } => reason,
        }
    }
}

/// A drill's schedule: a cron expression read in an IANA time zone, minus blackouts.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub cron: CronExpr,
    pub timezone: Tz,
    pub blackouts: Vec<Blackout>,
}

/// One instant the cron expression selects.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub at: DateTime<Utc>,
    /// The reason of the blackout that removes this slot, if one does.
    pub blacked_out: Option<String>,
}

impl Slot {
    /// The slot's instant in the schedule's time zone.
    pub fn local(&self, timezone: Tz) -> DateTime<Tz> {
        self.at.with_timezone(&timezone)
    }
}

impl Schedule {
    /// Every slot strictly after `after`, blacked-out ones included (and marked), in order.
    pub fn slots_after(&self, after: DateTime<Utc>) -> impl Iterator<Item = Slot> + '_ {
        firings_after(&self.cron, self.timezone, after).map(move |at| Slot {
            at,
            blacked_out: self.blackout_at(at).map(str::to_string),
        })
    }

    /// The next `count` slots after `after` that are not blacked out.
    pub fn next_runs(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Utc>> {
        self.slots_after(after)
            .filter(|slot| slot.blacked_out.is_none())
            .take(count)
            .map(|slot| slot.at)
            .collect()
    }

    /// The reason of the first blackout covering `at`, if any.
    pub fn blackout_at(&self, at: DateTime<Utc>) -> Option<&str> {
        self.blackouts.iter().find_map(|blackout| {
            let covered = match blackout {
                Blackout::Window { start, end, .. } => *start <= at && at < *end,
                Blackout::Recurring { cron, duration, .. } => {
                    // The window covering `at`, if any, opened in (at - duration, at].
                    let earliest = at - *duration;
                    firings_after(cron, self.timezone, earliest - Duration::seconds(1))
                        .next()
                        .is_some_and(|opened| opened <= at && at < opened + *duration)
                }
            };
            covered.then(|| blackout.reason())
        })
    }

    /// The longest gap between consecutive slots over the next year: the period a drill is
    /// expected to run at, used to tell when it is overdue.
    pub fn period(&self, from: DateTime<Utc>) -> Option<Duration> {
        let horizon = from + Duration::days(400);
        let slots: Vec<_> = firings_after(&self.cron, self.timezone, from)
            .take_while(|at| *at < horizon)
            .take(10_000)
            .collect();
        slots.windows(2).map(|pair| pair[1] - pair[0]).max()
    }
}

/// Every instant strictly after `after` at which `cron` fires in `timezone`, ascending.
pub fn firings_after(
    cron: &CronExpr,
    timezone: Tz,
    after: DateTime<Utc>,
) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let first_day = after.with_timezone(&timezone).date_naive();
    let mut last = after;
    (0..SEARCH_DAYS)
        .filter_map(move |offset| first_day.checked_add_signed(Duration::days(offset)))
        .filter(move |day| cron.matches_date(*day))
        .flat_map(move |day| day_firings(cron, timezone, day))
        .filter(move |at| {
            // Strictly increasing: drops instants at or before `after`, and the duplicates
            // produced when several wall-clock times fall into one DST gap.
            let keep = *at > last;
            if keep {
                last = *at;
            }
            keep
        })
}

fn day_firings(cron: &CronExpr, timezone: Tz, day: NaiveDate) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for hour in cron.hours() {
        for minute in cron.minutes() {
            let Some(time) = NaiveTime::from_hms_opt(hour, minute, 0) else {
                continue;
            };
            if let Some(at) = resolve_local(timezone, day.and_time(time)) {
                out.push(at);
            }
        }
    }
    out
}

/// Maps a wall-clock time to an instant: the first occurrence when it is ambiguous, the
/// end of the gap when it does not exist.
pub fn resolve_local(timezone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match timezone.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // Walk forward minute by minute to the first wall-clock time that exists; DST
            // gaps are at most a few hours (historically at most 2 h; 24 h for the rare
            // date-line jumps, which we also cover).
            (1..=24 * 60).find_map(|minutes| {
                match timezone.from_local_datetime(&(local + Duration::minutes(minutes))) {
                    // Transitions happen on whole minutes, so the first wall-clock minute
                    // that exists is the instant the gap ends.
                    LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
                    LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
                    LocalResult::None => None,
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn schedule(cron: &str, tz: &str) -> Schedule {
        Schedule {
            cron: CronExpr::parse(cron).unwrap(),
            timezone: tz.parse().unwrap(),
            blackouts: vec![],
        }
    }

    #[test]
    fn daily_drill_keeps_its_wall_clock_time_across_spring_forward() {
        // Europe moves to summer time on 2026-03-29 at 02:00 CET.
        let s = schedule("0 10 * * *", "Europe/Berlin");
        let runs = s.next_runs(utc("2026-03-28T00:00:00Z"), 3);
        assert_eq!(
            runs,
            vec![
                utc("2026-03-28T09:00:00Z"),
                utc("2026-03-29T08:00:00Z"),
                utc("2026-03-30T08:00:00Z"),
            ]
        );
    }

    #[test]
    fn time_inside_the_spring_gap_fires_when_the_gap_ends() {
        let s = schedule("30 2 * * *", "Europe/Berlin");
        let runs = s.next_runs(utc("2026-03-28T00:00:00Z"), 3);
        assert_eq!(
            runs,
            vec![
                utc("2026-03-28T01:30:00Z"), // 02:30 CET
                utc("2026-03-29T01:00:00Z"), // 02:30 does not exist: 03:00 CEST
                utc("2026-03-30T00:30:00Z"), // 02:30 CEST
            ]
        );
    }

    #[test]
    fn several_times_inside_one_gap_fire_once() {
        let s = schedule("*/20 2 29 3 *", "Europe/Berlin");
        let runs = s.next_runs(utc("2026-03-28T00:00:00Z"), 2);
        assert_eq!(runs[0], utc("2026-03-29T01:00:00Z"));
        assert_eq!(runs[1], utc("2027-03-29T00:00:00Z")); // 02:00 CEST, a year on
    }

    #[test]
    fn time_inside_the_autumn_overlap_fires_once() {
        // 2026-10-25 02:00-03:00 happens twice in Berlin.
        let s = schedule("30 2 * * *", "Europe/Berlin");
        let runs = s.next_runs(utc("2026-10-24T12:00:00Z"), 2);
        assert_eq!(
            runs,
            vec![utc("2026-10-25T00:30:00Z"), utc("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn weekly_drill_crosses_the_us_dst_change() {
        // US summer time starts 2026-03-08.
        let s = schedule("0 9 * * MON", "America/New_York");
        let runs = s.next_runs(utc("2026-03-01T00:00:00Z"), 2);
        assert_eq!(
            runs,
            vec![utc("2026-03-02T14:00:00Z"), utc("2026-03-09T13:00:00Z")]
        );
    }

    #[test]
    fn firings_are_strictly_after_the_start() {
        let s = schedule("0 10 * * *", "UTC");
        let runs = s.next_runs(utc("2026-05-01T10:00:00Z"), 1);
        assert_eq!(runs, vec![utc("2026-05-02T10:00:00Z")]);
    }

    #[test]
    fn impossible_dates_never_fire() {
        let s = schedule("0 0 30 2 *", "UTC");
        assert!(s.next_runs(utc("2026-01-01T00:00:00Z"), 1).is_empty());
    }

    #[test]
    fn leap_day_schedules_find_the_next_leap_year() {
        let s = schedule("0 0 29 2 *", "UTC");
        assert_eq!(
            s.next_runs(utc("2026-01-01T00:00:00Z"), 1),
            vec![utc("2028-02-29T00:00:00Z")]
        );
    }

    #[test]
    fn fixed_blackout_window_removes_slots_inside_it() {
        let mut s = schedule("0 10 * * *", "UTC");
        s.blackouts.push(Blackout::Window {
            start: utc("2026-05-02T00:00:00Z"),
            end: utc("2026-05-04T00:00:00Z"),
            reason: "launch freeze".into(),
        });
        let slots: Vec<_> = s.slots_after(utc("2026-05-01T00:00:00Z")).take(4).collect();
        assert_eq!(slots[0].blacked_out, None);
        assert_eq!(slots[1].blacked_out.as_deref(), Some("launch freeze"));
        assert_eq!(slots[2].blacked_out.as_deref(), Some("launch freeze"));
        assert_eq!(slots[3].blacked_out, None);
        assert_eq!(
            s.next_runs(utc("2026-05-01T00:00:00Z"), 2),
            vec![utc("2026-05-01T10:00:00Z"), utc("2026-05-04T10:00:00Z")]
        );
    }

    #[test]
    fn recurring_blackout_covers_weekends_in_local_time() {
        let mut s = schedule("0 10 * * *", "Europe/Berlin");
        s.blackouts.push(Blackout::Recurring {
            cron: CronExpr::parse("0 0 * * SAT").unwrap(),
            duration: Duration::hours(48),
            reason: "weekend".into(),
        });
        // 2026-11-20 is a Friday.
        let runs = s.next_runs(utc("2026-11-20T00:00:00Z"), 2);
        assert_eq!(
            runs,
            vec![utc("2026-11-20T09:00:00Z"), utc("2026-11-23T09:00:00Z")]
        );
    }

    #[test]
    fn period_is_the_longest_gap_between_slots() {
        let weekly = schedule("0 10 * * TUE", "UTC");
        assert_eq!(
            weekly.period(utc("2026-01-01T00:00:00Z")),
            Some(Duration::weeks(1))
        );
        let quarterly = schedule("0 9 15 1,4,7,10 *", "UTC");
        let period = quarterly.period(utc("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(period, Duration::days(92)); // 15 Jul -> 15 Oct
    }
}
