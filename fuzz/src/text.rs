//! The duration and label selector targets: grammar-ish strings and arbitrary ones.

use std::collections::BTreeMap;

use firedrill_core::duration::HumanDuration;
use firedrill_core::selector::LabelSelector;
use proptest::prelude::*;
use proptest::sample::select;

use crate::harness::{Outcome, unclear};

pub fn duration_strategy() -> impl Strategy<Value = String> {
    let unit = select(
        &[
            "ns", "us", "µs", "ms", "s", "sec", "secs", "second", "m", "min", "mins", "minute",
            "h", "hr", "hour", "hours", "d", "day", "days", "w", "week", "M", "month", "y", "year",
            "x", "", "S", "H",
        ][..],
    );
    let number = prop_oneof![
        6 => (0u64..100_000).prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => "[0-9]{15,30}",
        1 => "-?[0-9]{1,3}\\.[0-9]{1,3}",
    ];
    let space = select(&["", " ", "  ", "\t"][..]);
    prop_oneof![
        6 => prop::collection::vec((number.clone(), space.clone(), unit, space), 1..5).prop_map(
            |parts| parts.into_iter().map(|(n, a, u, b)| format!("{n}{a}{u}{b}")).collect()
        ),
        2 => number,
        2 => any::<String>(),
    ]
}

/// Parses a duration: an error says how to write one; what parses prints and parses back
/// to the same duration.
pub fn check_duration(text: &str) -> Result<Outcome, String> {
    match HumanDuration::parse(text) {
        Ok(duration) => {
            let printed = duration.to_string();
            match HumanDuration::parse(&printed) {
                Ok(again) if again == duration => Ok(Outcome::Accepted),
                Ok(again) => Err(format!(
                    "{text:?} parsed as {duration:?}, printed {printed:?}, re-read as {again:?}"
                )),
                Err(error) => Err(format!(
                    "{text:?} parsed, but its printed form {printed:?} does not: {error}"
                )),
            }
        }
        Err(message) => match unclear(&message, text) {
            Some(reason) => Err(reason),
            None => Ok(Outcome::Rejected),
        },
    }
}

fn label_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "([a-z0-9]([-a-z0-9.]{0,8}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?",
        1 => "[a-z]{60,70}",
        1 => "[a-z.]{250,260}/[a-z]{1,3}",
        1 => "[ -~]{0,6}",
    ]
}

fn label_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "([A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?)?",
        1 => "[a-z]{60,70}",
        1 => "[ -~]{0,6}",
    ]
}

fn requirement() -> impl Strategy<Value = String> {
    let values = || prop::collection::vec(label_value(), 0..4).prop_map(|v| v.join(","));
    prop_oneof![
        3 => (label_key(), label_value()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => (label_key(), label_value()).prop_map(|(k, v)| format!("{k}=={v}")),
        2 => (label_key(), label_value()).prop_map(|(k, v)| format!("{k}!={v}")),
        2 => (label_key(), values()).prop_map(|(k, v)| format!("{k} in ({v})")),
        2 => (label_key(), values()).prop_map(|(k, v)| format!("{k} notin ({v})")),
        1 => label_key().prop_map(|k| format!("!{k}")),
        1 => label_key(),
        1 => (label_key(), "[ ()!=,a-z]{0,6}").prop_map(|(k, junk)| format!("{k}{junk}")),
    ]
}

pub fn selector_strategy() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    let text = prop_oneof![
        8 => (prop::collection::vec(requirement(), 0..5), select(&[",", ", ", " ,"][..]))
            .prop_map(|(parts, sep)| parts.join(sep)),
        2 => any::<String>(),
    ];
    let labels = prop::collection::vec((label_key(), label_value()), 0..4);
    (text, labels)
}

/// Parses a selector: an error names the selector and a reason; what parses prints and
/// parses back to itself, and matches any labels without a panic.
pub fn check_selector(input: &(String, Vec<(String, String)>)) -> Result<Outcome, String> {
    let (text, labels) = input;
    match LabelSelector::parse(text) {
        Ok(selector) => {
            let labels: BTreeMap<String, String> = labels.iter().cloned().collect();
            let _ = selector.matches(&labels);
            let printed = selector.to_string();
            match LabelSelector::parse(&printed) {
                Ok(again) if again == selector => Ok(Outcome::Accepted),
                Ok(again) => Err(format!(
                    "{text:?} printed as {printed:?} re-reads as {again:?}"
                )),
                Err(error) => Err(format!(
                    "{text:?} parsed, but its printed form does not: {error}"
                )),
            }
        }
        Err(error) => {
            if error.reason.trim().is_empty() {
                return Err(format!("no reason given: {error}"));
            }
            match unclear(&error.to_string(), text) {
                Some(reason) => Err(reason),
                None => Ok(Outcome::Rejected),
            }
        }
    }
}
