//! Measured floats survive each backend: whatever finite `f64` a run holds, its record verifies intact after a reopen.
//!
//! A field's digest is taken from the canonical text of the in-memory value at append,
//! and `verify` recomputes it from the stored text. That only agrees if parsing the text
//! gives back the very same float (serde_json's `float_roundtrip`, turned on for the
//! workspace): its default fast parser can be one ulp off, and `verify` then reported an
//! untouched record as broken.

use chrono::Duration;
use firedrill_core::report::fixtures::{passing_run, slot};
use firedrill_core::run::{RunRecord, ServiceAvailability};
use firedrill_store::canonical::{canonical_json, field_digests};
use firedrill_store::report_hashes;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use crate::backends::{Backend, Keys, on_both_backends};

on_both_backends!(
    a_recovery_time_the_default_float_parser_reads_back_one_ulp_off_verifies_intact,
    stored_floats_are_their_shortest_text_as_before_so_existing_stores_verify,
    a_run_holding_any_finite_float_verifies_intact_after_reopening,
);

/// The value from the issue: a recovery time the default parser reads back one ulp off.
const REPORTED: f64 = 3.6047462770000003;

/// A passing run with `value` in every measured float a phase and the run carry.
fn run_with(value: f64) -> RunRecord {
    let mut run = passing_run();
    run.overall_rto_seconds = Some(value);
    let phase = &mut run.phases[0];
    phase.recovery_seconds = Some(value);
    phase.availability_floor = Some(value);
    phase.availability = vec![ServiceAvailability {
        service: "capsule".to_string(),
        probes: 7,
        successes: 3,
        latency_p95_seconds: Some(value),
        latency_max_seconds: Some(-value),
        last_failure: None,
    }];
    if let Some(loss) = run.phases[2].data_loss.as_mut() {
        loss.loss_window_seconds = value;
        loss.backup_age_seconds = Some(value / 3.0);
    }
    run
}

/// Appends `runs` to the (new) store of `backend`, then reopens it and verifies.
fn append_reopen_verify(
    backend: &dyn Backend,
    runs: &[RunRecord],
) -> firedrill_store::Verification {
    {
        let mut store = backend.open(Keys::None);
        for (i, run) in runs.iter().enumerate() {
            let mut run = run.clone();
            run.id = format!("{}-{i}", run.id);
            store
                .append(
                    &run,
                    report_hashes([("report.md", "# report")]),
                    slot() + Duration::hours(1),
                )
                .unwrap();
        }
    }
    backend.open(Keys::None).verify().unwrap()
}

fn a_recovery_time_the_default_float_parser_reads_back_one_ulp_off_verifies_intact(
    backend: &dyn Backend,
) {
    // Before exact parsing: "field run.phases[0].recovery_seconds: does not match its
    // recorded digest" on a store nobody touched.
    let mut run = passing_run();
    run.phases[0].recovery_seconds = Some(REPORTED);
    let verification = append_reopen_verify(backend, &[run]);
    assert!(verification.intact(), "{:?}", verification.broken);
}

fn stored_floats_are_their_shortest_text_as_before_so_existing_stores_verify(
    backend: &dyn Backend,
) {
    // The writing side did not change: the entry holds the shortest text that reads back
    // as the float (what stores written before exact parsing hold too), and exact parsing
    // reads that text back to the float its digest was taken from.
    assert!(append_reopen_verify(backend, &[run_with(REPORTED)]).intact());
    let entry = backend.raw().column("entry", 1);
    assert!(entry.contains(r#""recovery_seconds":3.6047462770000003,"#));
    let parsed: Value = serde_json::from_str("3.6047462770000003").unwrap();
    assert_eq!(parsed.as_f64().map(f64::to_bits), Some(REPORTED.to_bits()));
}

/// Finite floats of every kind: any bit pattern (subnormals, huge, negative zero), and the
/// decimal-looking sums and quotients that measurements produce.
fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |value| value.is_finite()),
        (0u64..10_000_000_000, 0u32..12)
            .prop_map(|(digits, scale)| digits as f64 / 10f64.powi(scale as i32)),
        (1u64..100_000, 1u64..100_000).prop_map(|(a, b)| (a as f64 / b as f64) * 1.1),
        Just(0.1 + 0.2),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        Just(f64::EPSILON),
    ]
}

/// Each case in a store of its own (`Backend::fresh`), which proptest's macro cannot hand
/// its cases.
fn a_run_holding_any_finite_float_verifies_intact_after_reopening(backend: &dyn Backend) {
    let mut runner = TestRunner::new(ProptestConfig::with_cases(64));
    let values = proptest::collection::vec(finite_f64(), 1..4);
    runner
        .run(&values, |values| {
            let runs: Vec<RunRecord> = values.iter().copied().map(run_with).collect();
            let verification = append_reopen_verify(&*backend.fresh(), &runs);
            prop_assert!(
                verification.intact(),
                "{:?} for {values:?}",
                verification.broken
            );
            prop_assert_eq!(verification.records, runs.len() as u64);
            Ok(())
        })
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn canonical_text_of_any_finite_float_parses_back_to_the_same_text(value in finite_f64()) {
        let original = serde_json::json!({ "run": { "phases": [{ "recovery_seconds": value }] } });
        let text = canonical_json(&original);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(canonical_json(&parsed), text);
        prop_assert_eq!(field_digests(&parsed), field_digests(&original));
    }
}
