//! Durations in scenario parameters, written as the configuration writes them: `30s`,
//! `5m`, `1h30m`, `500ms`, `2d`, or a number of seconds.

use serde::Deserialize;

/// Milliseconds from `30s`, `1m30s`, `500ms`, `1.5s`, `2h`, `1d`, or plain seconds (`90`,
/// `0.5`); an error saying what is wrong otherwise.
pub fn parse_ms(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("a duration cannot be empty".into());
    }
    if let Ok(seconds) = trimmed.parse::<f64>() {
        return if seconds >= 0.0 && seconds.is_finite() {
            Ok((seconds * 1000.0).round() as u64)
        } else {
            Err(format!("duration {text:?}: must be zero or more seconds"))
        };
    }
    let mut total = 0.0_f64;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {text:?}: expected a number before each unit"))?;
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit] {
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            unit => {
                return Err(format!(
                    "duration {text:?}: unit {unit:?} is not one of ms, s, m, h, d"
                ));
            }
        };
        total += number * factor;
        rest = &rest[unit..];
    }
    Ok(total.round() as u64)
}

/// For `#[serde(deserialize_with = "firedrill_sdk::duration::deserialize_ms")]`: a
/// parameter given as a number of seconds or as text like `30s`, in milliseconds.
pub fn deserialize_ms<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Raw::deserialize(deserializer)? {
        Raw::Seconds(seconds) => Ok(seconds.saturating_mul(1000)),
        Raw::Text(text) => parse_ms(&text).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_configuration_writes_them() {
        assert_eq!(parse_ms("30s"), Ok(30_000));
        assert_eq!(parse_ms("1m30s"), Ok(90_000));
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert_eq!(parse_ms("1.5s"), Ok(1_500));
        assert_eq!(parse_ms("2h"), Ok(7_200_000));
        assert_eq!(parse_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_ms("90"), Ok(90_000));
        assert_eq!(parse_ms("0s"), Ok(0));
        for bad in ["", "3 weeks", "5 minutes", "m5", "-3"] {
            assert!(parse_ms(bad).is_err(), "{bad}");
        }
    }
}
