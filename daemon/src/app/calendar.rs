//! How schedules read to people: local times with their zone, and cadences in words.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use firedrill_core::schedule::Schedule;

/// `Tue 2026-11-24 10:00 CET (+01:00)`.
pub fn format_local(at: DateTime<Utc>, timezone: Tz) -> String {
    at.with_timezone(&timezone)
        .format("%a %Y-%m-%d %H:%M %Z (%:z)")
        .to_string()
}

/// A word for how often a schedule fires: `weekly`, `monthly`, `quarterly`, ...
pub fn cadence(schedule: &Schedule, from: DateTime<Utc>) -> String {
    let Some(period) = schedule.period(from) else {
        return "once".to_string();
    };
    let hours = period.num_hours();
    let days = period.num_days();
    if period <= Duration::hours(1) {
        "hourly".into()
    } else if (23..=25).contains(&hours) {
        "daily".into()
    } else if (167..=169).contains(&hours) {
        "weekly".into()
    } else if (28..=31).contains(&days) {
        "monthly".into()
    } else if (89..=92).contains(&days) {
        "quarterly".into()
    } else if (181..=184).contains(&days) {
        "twice a year".into()
    } else if (365..=366).contains(&days) {
        "yearly".into()
    } else {
        format!(
            "every {} at most",
            firedrill_core::duration::HumanDuration(period.to_std().unwrap_or_default())
        )
    }
}
