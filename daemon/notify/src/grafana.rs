//! Grafana region annotations of a recorded run: one per phase that ran, as
//! `POST {url}/api/annotations` takes them. Pure: no I/O.

use firedrill_core::config::Grafana;
use firedrill_core::report::format_seconds;
use firedrill_core::run::{PhaseRecord, PhaseVerdict, RunRecord};
use serde_json::{Value, json};

/// One annotation to push: the phase it is of, and the request body.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub phase: String,
    pub body: Value,
}

/// The region annotations of `run`: for every phase that ran (skipped ones drew no region),
/// `time`/`timeEnd` in epoch milliseconds from the phase's start to its end, the tags of
/// `grafana.tags` with `drill:NAME`, `phase:NAME`, `outcome:LABEL` (the run's) and
/// `verdict:LABEL` (the phase's), and a text naming drill, phase, RTO against target and
/// verdict.
pub fn annotations(run: &RunRecord, grafana: &Grafana) -> Vec<Annotation> {
    run.phases
        .iter()
        .filter(|phase| phase.verdict != PhaseVerdict::Skipped)
        .map(|phase| Annotation {
            phase: phase.name.clone(),
            body: annotation(run, phase, grafana),
        })
        .collect()
}

fn annotation(run: &RunRecord, phase: &PhaseRecord, grafana: &Grafana) -> Value {
    let start = phase.started_at;
    let end = phase
        .finished_at
        .or(phase.recovered_at)
        .or(run.finished_at)
        .unwrap_or(start)
        .max(start);
    let mut tags = grafana.tags.clone();
    tags.extend([
        format!("drill:{}", run.drill),
        format!("phase:{}", phase.name),
        format!("outcome:{}", run.outcome.label()),
        format!("verdict:{}", phase.verdict.label()),
    ]);
    let figure = |seconds: Option<f64>| seconds.map_or_else(|| "-".to_string(), format_seconds);
    let rto = match phase.rto_target_seconds {
        Some(target) => format!(
            "RTO {} vs target {}",
            figure(phase.recovery_seconds),
            format_seconds(target)
        ),
        None => format!("RTO {} (no target)", figure(phase.recovery_seconds)),
    };
    let mut text = format!(
        "firedrill {} / {}: {rto}, {} (run {})",
        run.drill,
        phase.name,
        phase.verdict.label(),
        run.id
    );
    if let PhaseVerdict::Failed { reasons } = &phase.verdict {
        text.push_str(&format!(": {}", reasons.join(", ")));
    }
    let mut body = json!({
        "time": start.timestamp_millis(),
        "timeEnd": end.timestamp_millis(),
        "tags": tags,
        "text": text,
    });
    if let (Some(uid), Value::Object(map)) = (&grafana.dashboard_uid, &mut body) {
        map.insert("dashboardUID".to_string(), Value::String(uid.clone()));
    }
    body
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use firedrill_core::config::Secret;
    use firedrill_core::report::fixtures::failing_run;

    use super::*;

    fn grafana(dashboard_uid: Option<&str>) -> Grafana {
        Grafana {
            url: "https://grafana.example.com".to_string(),
            token: Secret::Env("GRAFANA_TOKEN".to_string()),
            tags: vec!["firedrill".to_string(), "dr".to_string()],
            dashboard_uid: dashboard_uid.map(str::to_string),
        }
    }

    #[test]
    fn each_phase_is_a_region_tagged_with_drill_phase_and_outcome() {
        let run = failing_run();
        let annotations = annotations(&run, &grafana(None));
        assert_eq!(annotations.len(), run.phases.len());
        let zone = annotations
            .iter()
            .find(|a| a.phase == "zone-failure")
            .unwrap();
        let record = run
            .phases
            .iter()
            .find(|p| p.name == "zone-failure")
            .unwrap();
        assert_eq!(zone.body["time"], record.started_at.timestamp_millis());
        assert_eq!(
            zone.body["timeEnd"],
            record.finished_at.unwrap().timestamp_millis()
        );
        let tags: Vec<&str> = zone.body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(
            tags,
            [
                "firedrill",
                "dr",
                "drill:full-dr",
                "phase:zone-failure",
                "outcome:failed",
                "verdict:failed"
            ]
        );
        let text = zone.body["text"].as_str().unwrap();
        assert!(
            text.starts_with("firedrill full-dr / zone-failure: RTO 7m 12s vs target 5m, failed"),
            "{text}"
        );
        assert!(zone.body.get("dashboardUID").is_none());
    }

    #[test]
    fn a_dashboard_uid_scopes_the_annotation_and_skipped_phases_draw_none() {
        let mut run = failing_run();
        run.phases[3].verdict = PhaseVerdict::Skipped;
        let annotations = annotations(&run, &grafana(Some("firedrill-overview")));
        assert_eq!(annotations.len(), run.phases.len() - 1);
        assert!(
            annotations
                .iter()
                .all(|a| a.body["dashboardUID"] == "firedrill-overview")
        );
        assert!(annotations.iter().all(|a| a.phase != run.phases[3].name));
    }
}
