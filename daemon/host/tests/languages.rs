//! The C, Python and JavaScript examples, called through every export. They share one
//! behaviour (count Ready pods per service), so one check covers all three.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use crate::common;

use std::sync::Arc;

use common::{cluster, phase, plugin, root, web_grants};
use firedrill_host::capabilities::evidence::InMemoryEvidence;
use firedrill_host::capabilities::state::{InMemoryState, Scope, StateStore};
use firedrill_host::{Backends, Capability, Limits, PluginError, Verdict, WasmtimeHost};

async fn pod_counter_answers_every_export(name: &str) {
    let cluster = cluster();
    let state = Arc::new(InMemoryState::default());
    let evidence = Arc::new(InMemoryEvidence::default());
    let backends = Backends {
        cluster: cluster.clone(),
        state: state.clone(),
        evidence: evidence.clone(),
        ..Backends::default()
    };
    // A cache shared across test runs: Python and JS components take seconds to compile.
    let host =
        WasmtimeHost::new(Some(root().join("target/plugin-test-cache")), backends).expect("host");
    let counter = host
        .load_file(&plugin(name), web_grants(), Limits::default())
        .await
        .expect("load");

    let description = counter.describe().await.expect("describe");
    assert_eq!(description.name, name);
    assert_eq!(description.version, "0.1.0");
    assert!(
        matches!(
            description.capabilities.as_slice(),
            [Capability::Cluster(_)]
        ),
        "{:?}",
        description.capabilities
    );
    let schema: serde_json::Value =
        serde_json::from_str(&description.params_schema).expect("schema is JSON");
    assert_eq!(schema["type"], "object");

    let actions = counter
        .plan(&phase(r#"{"note": "dry run"}"#))
        .await
        .expect("plan");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].kind, "count-pods");
    assert_eq!(actions[0].target, "web/app=web");

    counter
        .inject(&phase(r#"{"note": "now"}"#))
        .await
        .expect("inject");
    let artefacts = evidence.artefacts();
    assert_eq!(artefacts.len(), 1, "{artefacts:?}");
    assert_eq!(artefacts[0].name, "ready-pods.json");
    let counts: serde_json::Value =
        serde_json::from_str(&artefacts[0].content).expect("evidence is JSON");
    assert_eq!(counts, serde_json::json!({ "web": 3 }));
    let stored = state
        .get(
            Scope {
                run_id: "run-1",
                phase: "pod-failure",
                scenario: name,
            },
            "counts",
        )
        .await
        .expect("state");
    assert!(stored.is_some(), "inject stores its counts as state");

    let verdict = counter
        .verify(&phase("{}"), None)
        .await
        .expect("verify")
        .verdict;
    assert!(matches!(verdict, Verdict::Recovered), "{verdict:?}");
    let mut short = phase("{}");
    short.services[0].replicas = 5;
    let verdict = counter.verify(&short, None).await.expect("verify").verdict;
    assert!(
        matches!(&verdict, Verdict::Recovering(reason) if reason == "web: 3/5 ready"),
        "{verdict:?}"
    );

    counter.rollback(&phase("{}")).await.expect("rollback");
    assert_eq!(
        state
            .get(
                Scope {
                    run_id: "run-1",
                    phase: "pod-failure",
                    scenario: name
                },
                "counts"
            )
            .await
            .expect("state"),
        None
    );

    let error = counter
        .plan(&phase("[1, 2]"))
        .await
        .expect_err("params must be an object");
    assert!(
        matches!(
            error,
            PluginError::Scenario {
                kind: "invalid-params",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        cluster.calls().is_empty(),
        "a pod counter changes nothing: {:?}",
        cluster.calls()
    );
}

#[tokio::test]
async fn the_c_example_answers_every_export() {
    pod_counter_answers_every_export("c-pod-counter").await;
}

#[tokio::test]
async fn the_python_example_answers_every_export() {
    pod_counter_answers_every_export("python-pod-counter").await;
}

#[tokio::test]
async fn the_javascript_example_answers_every_export() {
    pod_counter_answers_every_export("js-pod-counter").await;
}
