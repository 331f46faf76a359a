//! What the scheduler does at a given instant: which drills are due, which slots are skipped, and why.
//!
//! The daemon keeps, per drill, the instant up to which every slot has been handled (run,
//! skipped or missed) and calls [`decide`] when it wakes. Pure, so the rules — grace,
//! blackouts, the missed-run policy — are unit tested across DST changes without waiting.

use chrono::{DateTime, Duration, Utc};

use crate::config::DrillSchedule;
use crate::config::raw::MissedRunPolicy;

/// Why a slot did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Inside a blackout window (its reason).
    Blackout(String),
    /// Passed while the daemon was not running, and the policy is `skip` (or a catch-up
    /// run covers it).
    Missed,
}

/// One thing to do about a drill now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Run the drill for `slot` (on time, or late within the grace period).
    Run { slot: DateTime<Utc> },
    /// Run the drill once for slots missed while the daemon was down (`run-once`).
    CatchUp { missed: Vec<DateTime<Utc>> },
    /// `slot` does not run.
    Skip {
        slot: DateTime<Utc>,
        reason: SkipReason,
    },
}

/// The decisions for one drill at `now`, given the instant up to which its slots were
/// handled (`None` on the daemon's first start: slots before it are not the daemon's to
/// run). Every slot in (`handled`, `now`] gets exactly one decision; the caller then
/// records `now` as handled.
pub fn decide(
    schedule: &DrillSchedule,
    handled: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let Some(handled) = handled else {
        return Vec::new();
    };
    let grace = Duration::from_std(schedule.grace).unwrap_or_else(|_| Duration::minutes(15));
    let mut decisions = Vec::new();
    let mut missed = Vec::new();
    // Bounded: a daemon down for years still answers in finite time.
    for slot in schedule
        .schedule
        .slots_after(handled)
        .take_while(|slot| slot.at <= now)
        .take(100_000)
    {
        if let Some(reason) = slot.blacked_out {
            decisions.push(Decision::Skip {
                slot: slot.at,
                reason: SkipReason::Blackout(reason),
            });
        } else if now - slot.at <= grace {
            decisions.push(Decision::Run { slot: slot.at });
        } else {
            missed.push(slot.at);
        }
    }
    let runs_now = decisions.iter().any(|d| matches!(d, Decision::Run { .. }));
    for slot in &missed {
        decisions.push(Decision::Skip {
            slot: *slot,
            reason: SkipReason::Missed,
        });
    }
    // One catch-up run for everything missed, unless a slot runs now anyway.
    if !missed.is_empty() && !runs_now && schedule.missed == MissedRunPolicy::RunOnce {
        decisions.push(Decision::CatchUp { missed });
    }
    decisions
}

/// When the scheduler should next wake for this drill: its next slot after `now`,
/// blacked-out ones included (so they are recorded as skipped on time).
pub fn next_wake(schedule: &DrillSchedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .schedule
        .slots_after(now)
        .next()
        .map(|slot| slot.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Blackout, CronExpr, Schedule};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn drill(cron: &str, tz: &str, missed: MissedRunPolicy) -> DrillSchedule {
        DrillSchedule {
            schedule: Schedule {
                cron: CronExpr::parse(cron).unwrap(),
                timezone: tz.parse().unwrap(),
                blackouts: vec![],
            },
            missed,
            grace: std::time::Duration::from_secs(15 * 60),
        }
    }

    /// Wakes the scheduler at every `next_wake` from `from` until `until`, as the daemon
    /// does, and returns the slots it ran.
    fn simulate(
        schedule: &DrillSchedule,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<Decision> {
        let mut handled = Some(from);
        let mut all = Vec::new();
        let mut now = from;
        while let Some(wake) = next_wake(schedule, now) {
            if wake > until {
                break;
            }
            now = wake;
            all.extend(decide(schedule, handled, now));
            handled = Some(now);
        }
        all
    }

    #[test]
    fn first_start_runs_nothing_from_the_past() {
        let weekly = drill("0 10 * * TUE", "Europe/Berlin", MissedRunPolicy::RunOnce);
        assert!(decide(&weekly, None, utc("2026-11-24T09:00:00Z")).is_empty());
    }

    #[test]
    fn weekly_drill_fires_at_local_ten_across_the_spring_dst_change() {
        let weekly = drill("0 10 * * TUE", "Europe/Berlin", MissedRunPolicy::Skip);
        let decisions = simulate(
            &weekly,
            utc("2026-03-15T00:00:00Z"),
            utc("2026-04-08T00:00:00Z"),
        );
        assert_eq!(
            decisions,
            vec![
                Decision::Run {
                    slot: utc("2026-03-17T09:00:00Z")
                },
                Decision::Run {
                    slot: utc("2026-03-24T09:00:00Z")
                },
                // Summer time from 29 March: 10:00 local is 08:00 UTC.
                Decision::Run {
                    slot: utc("2026-03-31T08:00:00Z")
                },
                Decision::Run {
                    slot: utc("2026-04-07T08:00:00Z")
                },
            ]
        );
    }

    #[test]
    fn quarterly_drill_fires_once_a_quarter_across_the_autumn_dst_change() {
        let quarterly = drill(
            "0 9 15 1,4,7,10 *",
            "Europe/Berlin",
            MissedRunPolicy::RunOnce,
        );
        let decisions = simulate(
            &quarterly,
            utc("2026-06-01T00:00:00Z"),
            utc("2027-02-01T00:00:00Z"),
        );
        assert_eq!(
            decisions,
            vec![
                Decision::Run {
                    slot: utc("2026-07-15T07:00:00Z")
                },
                Decision::Run {
                    slot: utc("2026-10-15T07:00:00Z")
                },
                Decision::Run {
                    slot: utc("2027-01-15T08:00:00Z")
                },
            ]
        );
    }

    #[test]
    fn a_slot_in_a_blackout_is_skipped_with_its_reason() {
        let mut weekly = drill("0 10 * * TUE", "Europe/Berlin", MissedRunPolicy::RunOnce);
        weekly.schedule.blackouts.push(Blackout::Recurring {
            cron: CronExpr::parse("0 0 20 12 *").unwrap(),
            duration: Duration::days(15),
            reason: "year-end change freeze".into(),
        });
        let decisions = simulate(
            &weekly,
            utc("2026-12-14T00:00:00Z"),
            utc("2027-01-06T00:00:00Z"),
        );
        assert_eq!(
            decisions,
            vec![
                Decision::Run {
                    slot: utc("2026-12-15T09:00:00Z")
                },
                Decision::Skip {
                    slot: utc("2026-12-22T09:00:00Z"),
                    reason: SkipReason::Blackout("year-end change freeze".into())
                },
                Decision::Skip {
                    slot: utc("2026-12-29T09:00:00Z"),
                    reason: SkipReason::Blackout("year-end change freeze".into())
                },
                Decision::Run {
                    slot: utc("2027-01-05T09:00:00Z")
                },
            ]
        );
    }

    #[test]
    fn slots_missed_while_down_run_once_under_run_once() {
        let weekly = drill("0 10 * * TUE", "UTC", MissedRunPolicy::RunOnce);
        // Down from before the 3rd to the 20th: two Tuesdays missed.
        let decisions = decide(
            &weekly,
            Some(utc("2026-11-02T00:00:00Z")),
            utc("2026-11-20T12:00:00Z"),
        );
        assert_eq!(
            decisions,
            vec![
                Decision::Skip {
                    slot: utc("2026-11-03T10:00:00Z"),
                    reason: SkipReason::Missed
                },
                Decision::Skip {
                    slot: utc("2026-11-10T10:00:00Z"),
                    reason: SkipReason::Missed
                },
                Decision::Skip {
                    slot: utc("2026-11-17T10:00:00Z"),
                    reason: SkipReason::Missed
                },
                Decision::CatchUp {
                    missed: vec![
                        utc("2026-11-03T10:00:00Z"),
                        utc("2026-11-10T10:00:00Z"),
                        utc("2026-11-17T10:00:00Z")
                    ]
                },
            ]
        );
    }

    #[test]
    fn slots_missed_while_down_are_only_recorded_under_skip() {
        let weekly = drill("0 10 * * TUE", "UTC", MissedRunPolicy::Skip);
        let decisions = decide(
            &weekly,
            Some(utc("2026-11-09T00:00:00Z")),
            utc("2026-11-20T12:00:00Z"),
        );
        assert_eq!(
            decisions,
            vec![
                Decision::Skip {
                    slot: utc("2026-11-10T10:00:00Z"),
                    reason: SkipReason::Missed
                },
                Decision::Skip {
                    slot: utc("2026-11-17T10:00:00Z"),
                    reason: SkipReason::Missed
                },
            ]
        );
    }

    #[test]
    fn a_late_start_within_grace_runs_the_slot_and_no_catch_up() {
        let weekly = drill("0 10 * * TUE", "UTC", MissedRunPolicy::RunOnce);
        let decisions = decide(
            &weekly,
            Some(utc("2026-11-16T00:00:00Z")),
            utc("2026-11-17T10:10:00Z"),
        );
        assert_eq!(
            decisions,
            vec![Decision::Run {
                slot: utc("2026-11-17T10:00:00Z")
            }]
        );
    }
}
