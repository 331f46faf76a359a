//! Instants in text columns: RFC 3339 in UTC, written and read the same way by every backend.

use chrono::{DateTime, SecondsFormat, Utc};

/// To the millisecond, `Z`: fixed width, so SQLite compares these columns as text.
pub(crate) fn millis_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Full precision: a handled slot's instant is compared with slot times, and 0.1 kept
/// nanoseconds.
pub(crate) fn exact_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An instant written by [`millis_text`] or [`exact_text`].
pub(crate) fn parse(text: &str) -> DateTime<Utc> {
    // Only the stores write these columns, always with the functions above.
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH)
}
