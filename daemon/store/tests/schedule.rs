//! The scheduler state on each backend: each drill's handled instant, to the nanosecond, saved without touching other drills'.

use std::collections::BTreeMap;

use chrono::Duration;
use firedrill_core::report::fixtures::slot;

use crate::backends::{Backend, Keys, on_both_backends};

on_both_backends!(handled_slots_are_kept_per_drill_to_the_nanosecond_across_reopening,);

fn handled_slots_are_kept_per_drill_to_the_nanosecond_across_reopening(backend: &dyn Backend) {
    let store = backend.open(Keys::None);
    assert!(store.handled_slots().unwrap().is_empty());
    let at = slot() + Duration::nanoseconds(123_456_789);
    let weekly = BTreeMap::from([("weekly".to_string(), at)]);
    store.save_handled_slots(&weekly).unwrap();
    // Saving some drills keeps the others'.
    let monthly = BTreeMap::from([("monthly".to_string(), at + Duration::days(1))]);
    store.save_handled_slots(&monthly).unwrap();
    let later = BTreeMap::from([("weekly".to_string(), at + Duration::days(7))]);
    store.save_handled_slots(&later).unwrap();
    drop(store);

    let saved = backend.open(Keys::None).handled_slots().unwrap();
    assert_eq!(saved.keys().collect::<Vec<_>>(), ["monthly", "weekly"]);
    assert_eq!(saved["weekly"], at + Duration::days(7));
    assert_eq!(saved["monthly"], at + Duration::days(1));
}
