//! The charts of the fixture runs, parsed back with a real XML parser: bands, marks and their places.

use std::collections::BTreeSet;

use super::*;
use crate::report::fixtures::{aborted_run, charted_run, failing_run, passing_run, watched_run};
use crate::series::{ProbeBucket, ProbeSeries};

fn parse(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}:\n{svg}"))
}

fn has_class(node: &roxmltree::Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|classes| classes.split_whitespace().any(|c| c == class))
}

fn with_class<'a, 'input>(
    doc: &'a roxmltree::Document<'input>,
    class: &str,
) -> Vec<roxmltree::Node<'a, 'input>> {
    doc.descendants().filter(|n| has_class(n, class)).collect()
}

fn number(node: &roxmltree::Node<'_, '_>, name: &str) -> f64 {
    node.attribute(name)
        .unwrap_or_else(|| panic!("no {name} on {node:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} of {node:?}: {e}"))
}

fn timeline_of(run: &RunRecord) -> Chart {
    Charts::from_run(run).timeline.expect("a timeline")
}

/// The mark of `class` for `phase`.
fn mark<'a, 'input>(
    doc: &'a roxmltree::Document<'input>,
    class: &str,
    phase: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    with_class(doc, class)
        .into_iter()
        .find(|n| n.attribute("data-phase") == Some(phase))
}

/// The fixtures' run: 09:00:20 to 09:41:20 UTC (2460 s), over a plot from x 48 to 696.
fn x_at_offset(seconds: f64) -> f64 {
    48.0 + seconds / 2460.0 * 648.0
}

#[test]
fn every_phase_of_the_run_is_a_band_named_on_the_timeline() {
    let run = charted_run();
    let chart = timeline_of(&run);
    let doc = parse(&chart.svg);
    let bands = with_class(&doc, "band");
    let named: Vec<&str> = bands
        .iter()
        .map(|b| b.attribute("data-phase").unwrap_or(""))
        .collect();
    assert_eq!(
        named,
        [
            "pod-failure",
            "zone-failure",
            "db-failover",
            "kafka-failover"
        ]
    );
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect();
    for label in [
        "pod-failure (pod-failure): passed",
        "zone-failure (zone-failure): failed",
        "db-failover (postgres-failover): failed",
        "kafka-failover (kafka-broker-failure): passed",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "{label} not in {texts:#?}"
        );
    }
    // pod-failure ran from +10 s to +63 s of the run; the failed zone phase is hatched.
    let pod = &bands[0];
    assert!((number(pod, "x") - x_at_offset(10.0)).abs() < 0.01);
    assert!((number(pod, "width") - (x_at_offset(63.0) - x_at_offset(10.0))).abs() < 0.02);
    assert!(has_class(pod, "passed"));
    assert!(has_class(&bands[1], "failed"));
    assert_eq!(bands[1].attribute("fill"), Some("url(#timeline-hatch)"));
    // The chart says what it is, to a screen reader too.
    let root = doc.root_element();
    assert_eq!(root.attribute("role"), Some("img"));
    assert_eq!(
        root.attribute("aria-labelledby"),
        Some("timeline-title timeline-desc")
    );
    assert_eq!(
        root.attribute("height"),
        Some(chart.height.to_string().as_str())
    );
    assert!(
        chart
            .notes
            .iter()
            .any(|n| n.starts_with("2. zone-failure: failed"))
    );
}

#[test]
fn the_rto_deadline_is_drawn_at_the_fault_plus_the_target() {
    // pod-failure: injected at +15 s (no recorded clock), RTO 2m: the deadline at +135 s.
    let run = passing_run();
    let doc_text = timeline_of(&run).svg;
    let doc = parse(&doc_text);
    let deadline = mark(&doc, "rto-deadline", "pod-failure").expect("a deadline");
    assert!((number(&deadline, "x1") - x_at_offset(135.0)).abs() < 0.01);
    assert_eq!(number(&deadline, "x1"), number(&deadline, "x2"));
    // Recovered 38 s after the fault, at +53 s.
    let recovered = mark(&doc, "recovered", "pod-failure").expect("a recovery");
    assert!((number(&recovered, "cx") - x_at_offset(53.0)).abs() < 0.01);

    // With a recorded clock, the deadline runs from where it started: the zone phase's
    // cordon 20 s before inject returned (+365 s), RTO 5m: the deadline at +665 s.
    let run = watched_run();
    let doc_text = timeline_of(&run).svg;
    let doc = parse(&doc_text);
    let deadline = mark(&doc, "rto-deadline", "zone-failure").expect("a deadline");
    assert!((number(&deadline, "x1") - x_at_offset(665.0)).abs() < 0.01);
    let fault = mark(&doc, "fault", "zone-failure").expect("the fault");
    let points = fault.attribute("points").unwrap_or("");
    let tip_x: f64 = points
        .split_whitespace()
        .last()
        .and_then(|p| p.split(',').next())
        .and_then(|x| x.parse().ok())
        .expect("the triangle's tip");
    assert!((tip_x - x_at_offset(365.0)).abs() < 0.01, "{points}");

    // A deadline after the end of the run stays on the chart, at its right edge, marked so.
    let mut run = passing_run();
    run.phases[3].rto_target_seconds = Some(3600.0);
    let chart = timeline_of(&run);
    let doc = parse(&chart.svg);
    let deadline = mark(&doc, "rto-deadline", "kafka-failover").expect("a deadline");
    assert!(has_class(&deadline, "beyond"));
    assert_eq!(number(&deadline, "x1"), 696.0);
    assert!(!has_class(
        &mark(&doc, "rto-deadline", "pod-failure").unwrap(),
        "beyond"
    ));
    assert!(
        chart
            .notes
            .iter()
            .any(|n| n.contains("RTO target 1h (deadline at +1h 29m 45s)")),
        "{:#?}",
        chart.notes
    );
}

#[test]
fn aborts_rollbacks_and_skipped_phases_are_marked_by_shape_and_pattern() {
    let run = aborted_run();
    let chart = timeline_of(&run);
    let doc = parse(&chart.svg);
    assert!(mark(&doc, "abort", "zone-failure").is_some());
    assert!(mark(&doc, "recovered", "zone-failure").is_none());
    for phase in ["pod-failure", "zone-failure"] {
        assert!(mark(&doc, "rollback", phase).is_some(), "{phase}");
    }
    let bands = with_class(&doc, "band");
    for (band, stopped) in bands.iter().zip([false, true, false, false]) {
        assert_eq!(has_class(band, "stopped"), stopped, "{band:?}");
    }
    for skipped in ["db-failover", "kafka-failover"] {
        let band = bands
            .iter()
            .find(|b| b.attribute("data-phase") == Some(skipped))
            .expect("a band");
        assert!(has_class(band, "skipped"));
        assert_eq!(band.attribute("stroke-dasharray"), Some("3 2"));
        for class in ["fault", "rollback", "rto-deadline", "abort"] {
            assert!(mark(&doc, class, skipped).is_none(), "{class} on {skipped}");
        }
    }
    assert!(
        chart
            .notes
            .iter()
            .any(|n| n.starts_with("The drill was aborted: capsule availability")),
        "{:#?}",
        chart.notes
    );
}

#[test]
fn names_are_escaped_in_the_svg_and_read_back_exactly() {
    let mut run = charted_run();
    let hostile = r#"db<&"fail'>"#;
    run.drill = "<script>alert(1)</script>".to_string();
    run.phases[2].name = hostile.to_string();
    run.probe_series[0].service = "a<b>&c".to_string();
    let charts = Charts::from_run(&run);
    for chart in charts.all() {
        let doc = parse(&chart.svg);
        assert!(!chart.svg.contains("<script>"), "{}", chart.id);
        assert!(!chart.svg.contains("db<&"), "{}", chart.id);
        assert!(doc.root_element().has_tag_name("svg"));
    }
    let timeline = charts.timeline.as_ref().expect("a timeline");
    let doc = parse(&timeline.svg);
    assert!(mark(&doc, "band", hostile).is_some());
    assert!(doc.descendants().any(|n| n.has_tag_name("title")
        && n.text() == Some("Drill timeline: <script>alert(1)</script>")));
    let service = &charts.services[0];
    assert_eq!(service.id, "service-a-b--c");
    assert!(parse(&service.svg).descendants().any(|n| {
        n.has_tag_name("title") && n.text() == Some("a<b>&c: availability and p95 latency")
    }));
    let canaries = &charts.canaries[0];
    assert_eq!(canaries.id, "canaries-db---fail--");
}

#[test]
fn each_service_chart_has_a_bar_per_probed_bucket_and_its_p95_line() {
    let run = charted_run();
    let charts = Charts::from_run(&run);
    assert_eq!(charts.services.len(), 6);
    let capsule = charts
        .services
        .iter()
        .find(|c| c.id == "service-capsule")
        .expect("capsule's chart");
    assert_eq!(capsule.cid, "service-capsule@charts.firedrill.invalid");
    let doc = parse(&capsule.svg);
    let series = &run.probe_series[1];
    assert_eq!(series.service, "capsule");
    let dipped = series.buckets.iter().filter(|b| b.failures > 0).count();
    assert!(dipped > 0);
    assert_eq!(with_class(&doc, "answered").len(), series.buckets.len());
    assert_eq!(with_class(&doc, "failed").len(), dipped);
    // A failed bar fills the panel's top down to the answered share (3 of 5: 40%).
    let failed = &with_class(&doc, "failed")[0];
    assert!((number(failed, "height") - 0.4 * 70.0).abs() < 0.01);
    // One unbroken p95 line, scaled to 2 s (the next round value above 1.25 s).
    let lines = with_class(&doc, "p95");
    assert_eq!(lines.len(), 1);
    let points = lines[0]
        .attribute("points")
        .unwrap_or("")
        .split_whitespace()
        .count();
    assert_eq!(points, series.buckets.len());
    assert!(doc.descendants().any(
        |n| n.has_tag_name("text") && n.text() == Some("p95 latency per 15s (scale 0 to 2 s)")
    ));
    // Every phase that ran is shaded behind the bars.
    let columns: Vec<&str> = with_class(&doc, "phase-column")
        .iter()
        .filter_map(|c| c.attribute("data-phase"))
        .collect();
    assert_eq!(
        columns,
        [
            "pod-failure",
            "zone-failure",
            "db-failover",
            "kafka-failover"
        ]
    );
    assert!(
        capsule
            .notes
            .iter()
            .any(|n| n.starts_with("Lowest availability 60.00% at ")),
        "{:#?}",
        capsule.notes
    );
    assert!(
        capsule
            .notes
            .iter()
            .any(|n| n.starts_with("Highest p95 latency 1250 ms"))
    );
}

#[test]
fn a_bucket_without_probes_breaks_the_bars_and_the_line() {
    let mut run = failing_run();
    let busy = ProbeBucket {
        successes: 2,
        failures: 0,
        p95_micros: Some(5_000),
    };
    run.probe_series = vec![ProbeSeries {
        service: "web".into(),
        from: run.started_at,
        bucket_ms: 60_000,
        buckets: vec![busy, busy, ProbeBucket::default(), busy, busy],
    }];
    let chart = &Charts::from_run(&run).services[0];
    let doc = parse(&chart.svg);
    assert_eq!(with_class(&doc, "answered").len(), 4);
    assert_eq!(with_class(&doc, "p95").len(), 2);
    assert!(
        chart
            .notes
            .iter()
            .any(|n| n == "Every one of 8 probes was answered.")
    );
}

#[test]
fn a_phase_with_canaries_gets_its_writes_stacked_by_what_became_of_them() {
    let run = charted_run();
    let charts = Charts::from_run(&run);
    assert_eq!(charts.canaries.len(), 1);
    let chart = &charts.canaries[0];
    assert_eq!(chart.id, "canaries-db-failover");
    let doc = parse(&chart.svg);
    let lost = with_class(&doc, "lost");
    assert_eq!(lost.len(), 1);
    let title = lost[0]
        .children()
        .find(|n| n.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap_or("");
    assert!(title.ends_with(": 3 acknowledged and lost"), "{title}");
    assert_eq!(with_class(&doc, "unacknowledged").len(), 4);
    assert_eq!(with_class(&doc, "kept").len(), 56);
    // The fault 2 s into the canaries' 60 s axis (their last bucket ends after the phase).
    let fault = mark(&doc, "fault", "db-failover").expect("the fault");
    let tip_x: f64 = fault
        .attribute("points")
        .and_then(|p| p.split_whitespace().last())
        .and_then(|p| p.split(',').next())
        .and_then(|x| x.parse().ok())
        .expect("a tip");
    assert!(
        (tip_x - (48.0 + 2.0 / 60.0 * 648.0)).abs() < 0.01,
        "{tip_x}"
    );
    assert!(
        chart
            .notes
            .iter()
            .any(|n| n.contains("3 acknowledged and lost"))
    );
}

#[test]
fn every_id_in_a_report_is_unique_and_every_pattern_it_uses_is_its_own() {
    let charts = Charts::from_run(&charted_run());
    let mut ids = BTreeSet::new();
    for chart in charts.all() {
        let doc = parse(&chart.svg);
        let own: BTreeSet<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("id"))
            .collect();
        for id in &own {
            assert!(id.starts_with(&chart.id), "{id} in {}", chart.id);
            assert!(ids.insert(id.to_string()), "{id} twice");
        }
        for node in doc.descendants() {
            for attr in node.attributes() {
                if let Some(reference) = attr.value().strip_prefix("url(#") {
                    let target = reference.trim_end_matches(')');
                    assert!(own.contains(target), "{target} in {}", chart.id);
                }
            }
        }
    }
}

#[test]
fn a_record_from_before_series_were_kept_gets_the_timeline_only() {
    let charts = Charts::from_run(&failing_run());
    assert!(charts.timeline.is_some());
    assert!(charts.services.is_empty());
    assert!(charts.canaries.is_empty());
    let mut empty = failing_run();
    empty.phases.clear();
    assert!(Charts::from_run(&empty).is_empty());
    // The templates do without them.
    let report = crate::report::Report::from_run(&empty, None, &[]);
    let rendered = crate::report::Renderer::new()
        .and_then(|r| r.render_all(&report))
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(!rendered.report_html.contains("<svg"));
    assert!(!rendered.email_html.contains("cid:"));
}
