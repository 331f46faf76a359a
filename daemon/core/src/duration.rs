//! Human-written durations in configuration files (`90s`, `2m`, `1h30m`, or whole seconds).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration as a person writes it: `300s`, `5m`, `1h30m`, `2d`; a bare integer is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Parses `90s`, `2m`, `1h 30m`, `4h`, or a bare number of seconds.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if let Ok(secs) = trimmed.parse::<u64>() {
            return Ok(Self::from_secs(secs));
        }
        humantime::parse_duration(trimmed).map(Self).map_err(|err| {
            format!("invalid duration `{trimmed}` ({err}); write it like 90s, 5m or 1h30m")
        })
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Seconds(u64),
            Text(String),
        }
        match Repr::deserialize(deserializer) {
            Ok(Repr::Seconds(secs)) => Ok(Self::from_secs(secs)),
            Ok(Repr::Text(text)) => Self::parse(&text).map_err(serde::de::Error::custom),
            Err(_) => Err(serde::de::Error::custom(
                "expected a duration such as 90s, 5m or 1h30m",
            )),
        }
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration such as 90s, 5m, 1h30m or 2d; a bare integer is seconds.",
            "anyOf": [
                { "type": "string", "pattern": "^\\s*([0-9]+\\s*[a-zA-Z]+\\s*)+$" },
                { "type": "integer", "minimum": 0 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_bare_seconds() {
        assert_eq!(HumanDuration::parse("2m").unwrap().0.as_secs(), 120);
        assert_eq!(HumanDuration::parse("1h30m").unwrap().0.as_secs(), 5400);
        assert_eq!(HumanDuration::parse("300").unwrap().0.as_secs(), 300);
        assert!(HumanDuration::parse("soon").is_err());
    }

    #[test]
    fn displays_as_it_would_be_written() {
        assert_eq!(HumanDuration::from_secs(900).to_string(), "15m");
        assert_eq!(HumanDuration::from_secs(14_400).to_string(), "4h");
    }
}
