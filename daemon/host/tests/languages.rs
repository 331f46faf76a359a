//! The C, Python and JavaScript examples, called through every export of WIT 0.2.0. They
//! share one behaviour (count Ready pods per service; name the trigger in `verify`; a
//! follow-up per service still short of replicas in `findings`), so one check covers all
//! three.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use crate::common;

use std::sync::Arc;

use common::{cluster, phase, plugin, root, web_grants};
use firedrill_host::capabilities::evidence::InMemoryEvidence;
use firedrill_host::capabilities::state::{InMemoryState, Scope, StateStore};
use firedrill_host::{
    Backends, Capability, Change, Limits, PluginError, Verdict, WasmtimeHost, WitVersion,
};

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
    // Found from the exports: a component built against 0.1.0 has no `findings`.
    assert_eq!(counter.wit_version(), WitVersion::V0_2, "{name}");

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
    // `other("count-pods")`, given to the engine by its name.
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
    // A timer call has no trigger; a watched change is named in the reason.
    let verdict = counter.verify(&short, None).await.expect("verify").verdict;
    assert!(
        matches!(&verdict, Verdict::Recovering(reason) if reason == "web: 3/5 ready"),
        "{verdict:?}"
    );
    let pod_ready = Change {
        kind: "Pod".into(),
        namespace: Some("web".into()),
        name: "web-4".into(),
        summary: "became Ready".into(),
        age_ms: 120,
    };
    let verdict = counter
        .verify(&short, Some(pod_ready))
        .await
        .expect("verify")
        .verdict;
    assert!(
        matches!(&verdict, Verdict::Recovering(reason) if reason == "web: 3/5 ready after Pod web/web-4 became Ready"),
        "{verdict:?}"
    );
    let node_cordoned = Change {
        kind: "Node".into(),
        namespace: None,
        name: "node-a".into(),
        summary: "cordoned".into(),
        age_ms: 0,
    };
    let verdict = counter
        .verify(&short, Some(node_cordoned))
        .await
        .expect("verify")
        .verdict;
    assert!(
        matches!(&verdict, Verdict::Recovering(reason) if reason == "web: 3/5 ready after Node node-a cordoned"),
        "{verdict:?}"
    );

    // No data loss measured; a follow-up only for a service still short of replicas.
    let recovered = counter
        .findings(&phase("{}"))
        .await
        .expect("findings")
        .expect("a 0.2.0 plugin has findings");
    assert!(recovered.data_loss.is_none());
    assert!(
        recovered.follow_ups.is_empty(),
        "{:?}",
        recovered.follow_ups
    );
    let still_short = counter
        .findings(&short)
        .await
        .expect("findings")
        .expect("a 0.2.0 plugin has findings");
    assert!(still_short.data_loss.is_none());
    assert_eq!(
        still_short.follow_ups,
        ["web: 3/5 pods Ready after the phase; find out why the rest did not come back"]
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
