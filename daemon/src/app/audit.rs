//! The auditor's period view from the store: the period parsed, the stored runs and the chain's verification gathered, [`Audit::build`] called.
//!
//! `firedrill audit` prints it and the web console's `/audit` page shows it; both come
//! here, so they judge every slot the same way.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use firedrill_core::config::Config;
use firedrill_core::report::{Audit, AuditRun, ChainStatus};
use firedrill_store::{Store, StoreError};

/// How far back an audit looks when no start is given.
pub const DEFAULT_DAYS: i64 = 92;

/// `YYYY-MM-DD` (midnight UTC; with `end_of_day`, the end of that day) or RFC 3339.
/// `what` names the field in the message (`--since`, `since`).
pub fn parse_date(what: &str, text: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt().unwrap_or(day)
        } else {
            day
        };
        return Ok(day.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| {
            format!(
                "{what} `{text}` is neither a date (2026-10-01) nor an RFC 3339 instant ({err})"
            )
        })
}

/// The period `[since, until)` from optional texts: `until` defaults to `now`, `since` to
/// [`DEFAULT_DAYS`] before `until`. `names` are the fields' names for messages.
pub fn period(
    since: Option<&str>,
    until: Option<&str>,
    names: (&str, &str),
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let until = match until {
        Some(text) => parse_date(names.1, text, true)?,
        None => now,
    };
    let since = match since {
        Some(text) => parse_date(names.0, text, false)?,
        None => until - Duration::days(DEFAULT_DAYS),
    };
    if since >= until {
        return Err(format!(
            "{} ({since}) must be before {} ({until})",
            names.0, names.1
        ));
    }
    Ok((since, until))
}

/// Every stored run as the audit sees it, and the chain's verification (`None`: no run
/// was ever recorded, an empty and intact chain).
pub fn runs_and_chain(
    store: Option<&dyn Store>,
) -> Result<(Vec<AuditRun>, ChainStatus), StoreError> {
    let Some(store) = store else {
        return Ok((
            Vec::new(),
            ChainStatus {
                intact: true,
                records: 0,
                head_sha256: None,
                problem: None,
            },
        ));
    };
    let verification = store.verify()?;
    let runs = store
        .runs()?
        .into_iter()
        .map(|stored| AuditRun {
            report_sha256: stored.entry.report_sha256.get("report.md").cloned(),
            run_id: stored.entry.run.id,
            drill: stored.entry.run.drill,
            trigger: stored.entry.run.trigger,
            scheduled_for: stored.entry.run.scheduled_for,
            started_at: stored.entry.run.started_at,
            outcome: stored.entry.run.outcome,
        })
        .collect();
    let chain = ChainStatus {
        intact: verification.intact(),
        records: verification.records,
        head_sha256: verification.head_sha256.clone(),
        problem: verification.broken.as_ref().map(ToString::to_string),
    };
    Ok((runs, chain))
}

/// The audit of `[since, until)` for the drills named in `only` (every drill when empty).
pub fn audit(
    config: &Config,
    store: Option<&dyn Store>,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    only: &[String],
) -> Result<Audit, StoreError> {
    let (runs, chain) = runs_and_chain(store)?;
    let drills: Vec<_> = config
        .drills
        .iter()
        .filter(|d| only.is_empty() || only.contains(&d.name))
        .cloned()
        .collect();
    Ok(Audit::build(&drills, &runs, since, until, now, chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_period_defaults_to_the_last_92_days_and_until_covers_its_whole_day() {
        let now = at("2026-03-10T12:00:00Z");
        let (since, until) = period(None, None, ("since", "until"), now).unwrap();
        assert_eq!(until, now);
        assert_eq!(since, now - Duration::days(92));
        let (since, until) = period(
            Some("2026-01-01"),
            Some("2026-01-31"),
            ("since", "until"),
            now,
        )
        .unwrap();
        assert_eq!(since, at("2026-01-01T00:00:00Z"));
        assert_eq!(until, at("2026-02-01T00:00:00Z"));
    }

    #[test]
    fn a_period_that_ends_before_it_starts_or_does_not_parse_is_refused_by_name() {
        let now = at("2026-03-10T12:00:00Z");
        let err = period(
            Some("2026-02-01"),
            Some("2026-01-01"),
            ("--since", "--until"),
            now,
        )
        .unwrap_err();
        assert!(err.starts_with("--since ("), "{err}");
        let err = period(Some("last week"), None, ("since", "until"), now).unwrap_err();
        assert!(err.starts_with("since `last week` is neither"), "{err}");
    }
}
