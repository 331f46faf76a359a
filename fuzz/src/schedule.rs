//! The schedule target: cron expressions (grammar-ish and arbitrary) parsed, then their
//! firings computed in a random IANA time zone from a random instant, with blackouts.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::{TZ_VARIANTS, Tz};
use firedrill_core::config::parse_instant;
use firedrill_core::schedule::{Blackout, CronExpr, Schedule};
use proptest::prelude::*;
use proptest::sample::select;

use crate::harness::{Outcome, unclear};

fn atom() -> impl Strategy<Value = String> {
    let number = prop_oneof![8 => (0u32..=64).prop_map(|n| n.to_string()), 1 => "[0-9]{1,12}"];
    let name = select(
        &[
            "JAN", "feb", "Mar", "DEC", "SUN", "mon", "Sat", "XYZ", "JANUARY", "L", "W", "#", "?",
        ][..],
    )
    .prop_map(str::to_string);
    let value = prop_oneof![4 => number, 1 => name];
    prop_oneof![
        3 => Just("*".to_string()),
        4 => value.clone(),
        3 => (value.clone(), value.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
        2 => (value.clone(), value.clone(), 0u32..80).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
        2 => (0u32..80).prop_map(|s| format!("*/{s}")),
        1 => (value.clone(), 0u32..80).prop_map(|(a, s)| format!("{a}/{s}")),
        1 => "[-*/,0-9a-zA-Z]{0,8}",
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop::collection::vec(atom(), 1..4).prop_map(|atoms| atoms.join(","))
}

/// Cron expressions: mostly five fields, sometimes the wrong count, macros, or anything.
pub fn cron_text() -> impl Strategy<Value = String> {
    let separator = select(&[" ", "  ", "\t", " \u{a0}"][..]);
    prop_oneof![
        8 => (prop::collection::vec(field(), 5), separator).prop_map(|(f, sep)| f.join(sep)),
        2 => prop::collection::vec(field(), 0..8).prop_map(|f| f.join(" ")),
        1 => select(&[
            "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@quarterly", "@yearly",
            "@annually", "@reboot", "@", "@every 5m", " @daily ",
        ][..]).prop_map(str::to_string),
        2 => any::<String>(),
    ]
}

/// One input: a cron expression, where its schedule is read, from when, and blackouts.
#[derive(Debug, Clone)]
pub struct Input {
    cron: String,
    timezone: Tz,
    /// Seconds since the epoch (1970 to 2200: what a daemon's clock can say).
    after: i64,
    blackout: Option<(String, u32)>,
    instant: String,
}

fn instant_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i32..300_000, 0u32..15, 0u32..35, 0u32..26, 0u32..62)
            .prop_map(|(y, mo, d, h, mi)| { format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}") }),
        (1900i32..2200, 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?",
        any::<String>(),
    ]
}

pub fn strategy() -> impl Strategy<Value = Input> {
    (
        cron_text(),
        select(&TZ_VARIANTS[..]),
        0i64..(230 * 365 * 86_400),
        prop::option::of((cron_text(), 0u32..(40 * 86_400))),
        instant_text(),
    )
        .prop_map(|(cron, timezone, after, blackout, instant)| Input {
            cron,
            timezone,
            after,
            blackout,
            instant,
        })
}

fn checked_cron(text: &str) -> Result<Option<CronExpr>, String> {
    match CronExpr::parse(text) {
        Ok(cron) => Ok(Some(cron)),
        Err(error) => match unclear(&error.to_string(), text) {
            Some(reason) => Err(reason),
            None => Ok(None),
        },
    }
}

/// Parses, then computes the next firings: never a panic, always increasing, none before
/// `after`, and no slot inside the blackout.
pub fn check(input: &Input) -> Result<Outcome, String> {
    // A local time or RFC 3339 instant of a blackout window: any answer but a panic.
    let _ = parse_instant(&input.instant, input.timezone);
    let Some(cron) = checked_cron(&input.cron)? else {
        return Ok(Outcome::Rejected);
    };
    let mut blackouts = Vec::new();
    if let Some((text, seconds)) = &input.blackout
        && let Some(cron) = checked_cron(text)?
    {
        blackouts.push(Blackout::Recurring {
            cron,
            duration: Duration::seconds(i64::from(*seconds)),
            reason: "freeze".into(),
        });
    }
    let schedule = Schedule {
        cron,
        timezone: input.timezone,
        blackouts,
    };
    let after = DateTime::<Utc>::from_timestamp(input.after, 0)
        .ok_or_else(|| format!("instant {} out of range", input.after))?;
    let runs = schedule.next_runs(after, 3);
    if runs.first().is_some_and(|first| *first <= after) {
        return Err(format!("a firing {runs:?} not after {after}"));
    }
    if runs.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(format!("firings not increasing: {runs:?}"));
    }
    if let Some(at) = runs.iter().find(|at| schedule.blackout_at(**at).is_some()) {
        return Err(format!("a firing at {at} inside a blackout"));
    }
    Ok(Outcome::Accepted)
}

pub fn show(input: &Input) -> String {
    format!("{input:#?}")
}
