//! The pre-drill phase against a real Alertmanager (Debian's `prometheus-alertmanager`):
//! a silence is created for the drill, with an expiry, and removed at its end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use firedrill_tests::{
    SandboxProcess, http_get, require_plugins, run_json, servers::start_alertmanager, write_config,
};
use serde_json::Value;
use tempfile::TempDir;

#[test]
fn pre_drill_silences_warning_alerts_for_the_drill_and_lifts_the_silence_after() {
    require_plugins(&["pre-drill"]);
    let dir = TempDir::new().unwrap();
    let (alertmanager, _am) = start_alertmanager(dir.path());
    let sandbox = SandboxProcess::start(dir.path(), None);
    let host = alertmanager.trim_start_matches("http://");
    let config = write_config(
        dir.path(),
        &sandbox,
        &format!(
            r#"services:
  capsule: {{ namespace: butterfly, selector: app.kubernetes.io/name=capsule }}
plugins:
  grants:
    pre-drill:
      kubernetes: [{{ verbs: [get, list], namespaces: ["*", ":cluster"] }}]
      hosts: ["{host}"]
drills:
  prep:
    phases:
      - name: pre-drill
        scenario: pre-drill
        params: {{ alertmanager: "{alertmanager}", silence_minutes: 90 }}
"#
        ),
    );
    let (_, record) = run_json(&config, "prep");
    assert_eq!(record["outcome"]["kind"], "passed", "{record:#}");
    let run_id = record["id"].as_str().unwrap();

    let silences: Value =
        serde_json::from_str(&http_get(&alertmanager, "/api/v2/silences").unwrap()).unwrap();
    let ours: Vec<&Value> = silences
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["createdBy"] == "firedrill")
        .collect();
    assert_eq!(ours.len(), 1, "{silences:#}");
    let silence = ours[0];
    assert!(
        silence["comment"].as_str().unwrap().contains(run_id),
        "{silence:#}"
    );
    assert_eq!(silence["matchers"][0]["name"], "severity");
    assert_eq!(silence["matchers"][0]["value"], "warning");
    // Lifted at the end of the drill (an expired silence), and it was set to expire by
    // itself about 90 minutes after it started.
    assert_eq!(silence["status"]["state"], "expired", "{silence:#}");
    // The baseline was attached as evidence.
    assert!(
        record["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "baseline.txt"
                && e["content"].as_str().unwrap().contains("zone-a-node-1"))
    );
}
