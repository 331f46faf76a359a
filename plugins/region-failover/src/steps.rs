//! The steps a phase did, each with its time, for the evidence; and the time and
//! duration formats the evidence and the parameters use.

use super::*;

/// `90s`, `5m`, `1h30m`, `500ms`, `2d`, or plain seconds, in seconds.
pub(crate) fn parse_duration(text: &str) -> Option<f64> {
    firedrill_sdk::duration::parse_ms(text)
        .ok()
        .map(|ms| ms as f64 / 1000.0)
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC, for the evidence.
pub(crate) fn rfc3339(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    // Howard Hinnant's civil-from-days: the proleptic Gregorian date of a day number.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        ms % 1000
    )
}

/// A step done, with its time, for the evidence.
#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct Done {
    pub(crate) at_ms: u64,
    pub(crate) what: String,
}

pub(crate) fn done(steps: &mut Vec<Done>, what: String) {
    log::info(&what);
    steps.push(Done {
        at_ms: clock::now_ms(),
        what,
    });
}

pub(crate) fn steps_text(steps: &[Done]) -> String {
    steps
        .iter()
        .map(|s| format!("{}  {}\n", rfc3339(s.at_ms), s.what))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_configuration_writes_them() {
        assert_eq!(parse_duration("5m"), Some(300.0));
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("500ms"), Some(0.5));
        assert_eq!(parse_duration("90"), Some(90.0));
        assert_eq!(parse_duration("0s"), Some(0.0));
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration("m5"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_619_600_123), "2026-12-07T05:00:00.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
