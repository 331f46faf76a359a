//! The Rust example plugin, called through every export against the fake cluster.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use crate::common;

use common::{host, phase, plugin, web_grants};
use firedrill_host::{Capability, Grants, Limits, PluginError, Verdict};

#[tokio::test]
async fn the_rust_example_answers_every_export() {
    let f = host();
    let killer = f
        .host
        .load_file(&plugin("rust-pod-killer"), web_grants(), Limits::default())
        .await
        .expect("load");

    let description = killer.describe().await.expect("describe");
    assert_eq!(description.name, "rust-pod-killer");
    assert_eq!(description.version, "0.1.0");
    assert!(matches!(
        description.capabilities.first(),
        Some(Capability::Cluster(_))
    ));

    let actions = killer
        .plan(&phase(r#"{"pods_per_service": 2}"#))
        .await
        .expect("plan");
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].kind, "delete-pod");
    assert!(
        f.cluster.calls().is_empty(),
        "plan must not change anything"
    );

    killer
        .inject(&phase(r#"{"pods_per_service": 2}"#))
        .await
        .expect("inject");
    assert_eq!(
        f.cluster.calls(),
        vec![
            "delete-pod web/web-1 grace=Some(0)".to_owned(),
            "delete-pod web/web-2 grace=Some(0)".to_owned()
        ]
    );
    let artefacts = f.evidence.artefacts();
    assert_eq!(artefacts.len(), 1);
    assert_eq!(artefacts[0].name, "deleted-pods.txt");
    assert_eq!(artefacts[0].content, "web/web-1\nweb/web-2");

    let verdict = killer
        .verify(&phase("{}"), None)
        .await
        .expect("verify")
        .verdict;
    assert!(
        matches!(&verdict, Verdict::Recovering(reason) if reason == "web: 1/3 pods ready"),
        "{verdict:?}"
    );

    killer.rollback(&phase("{}")).await.expect("rollback");
}

#[tokio::test]
async fn state_written_by_inject_is_visible_to_a_fresh_instance() {
    use firedrill_host::capabilities::state::StateStore;
    let f = host();
    let killer = f
        .host
        .load_file(&plugin("rust-pod-killer"), web_grants(), Limits::default())
        .await
        .expect("load");
    killer.inject(&phase("{}")).await.expect("inject");
    let stored = f
        .state
        .get(scope("pod-failure"), "deleted")
        .await
        .expect("state");
    assert_eq!(stored.as_deref(), Some(r#"["web/web-1"]"#));
    killer.rollback(&phase("{}")).await.expect("rollback");
    assert_eq!(
        f.state
            .get(scope("pod-failure"), "deleted")
            .await
            .expect("state"),
        None
    );
}

fn scope(phase: &str) -> firedrill_host::capabilities::state::Scope<'_> {
    firedrill_host::capabilities::state::Scope {
        run_id: "run-1",
        phase,
        scenario: "rust-pod-killer",
    }
}

/// Two phases of one scenario in one drill (pod-failure on two service groups): each
/// keeps its own state and evidence, and rolling one back leaves the other's intact.
#[tokio::test]
async fn two_phases_of_one_scenario_keep_their_own_state_and_evidence() {
    use firedrill_host::capabilities::state::StateStore;
    let f = host();
    let killer = f
        .host
        .load_file(&plugin("rust-pod-killer"), web_grants(), Limits::default())
        .await
        .expect("load");
    let mut first = phase("{}");
    first.name = "web-a".into();
    let mut second = phase("{}");
    second.name = "web-b".into();
    killer.inject(&first).await.expect("inject web-a");
    killer.inject(&second).await.expect("inject web-b");
    let a = f.state.get(scope("web-a"), "deleted").await.expect("state");
    let b = f.state.get(scope("web-b"), "deleted").await.expect("state");
    assert!(
        a.is_some() && b.is_some(),
        "each phase keeps its own: {a:?} {b:?}"
    );

    killer.rollback(&first).await.expect("rollback web-a");
    assert_eq!(
        f.state.get(scope("web-a"), "deleted").await.expect("state"),
        None
    );
    assert_eq!(
        f.state.get(scope("web-b"), "deleted").await.expect("state"),
        b,
        "rolling back web-a leaves web-b's state"
    );
    let phases: Vec<_> = f
        .evidence
        .artefacts()
        .into_iter()
        .map(|a| a.phase)
        .collect();
    assert_eq!(
        phases,
        vec![Some("web-a".to_owned()), Some("web-b".to_owned())],
        "each artefact names the phase that attached it"
    );
}

#[tokio::test]
async fn invalid_parameters_fail_with_invalid_params() {
    let f = host();
    let killer = f
        .host
        .load_file(&plugin("rust-pod-killer"), web_grants(), Limits::default())
        .await
        .expect("load");
    let error = killer
        .plan(&phase(r#"{"pods": "many"}"#))
        .await
        .expect_err("unknown field");
    assert!(
        matches!(
            error,
            PluginError::Scenario {
                kind: "invalid-params",
                function: "plan",
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn the_example_without_grants_is_denied_at_its_first_cluster_call() {
    let f = host();
    let killer = f
        .host
        .load_file(
            &plugin("rust-pod-killer"),
            Grants::default(),
            Limits::default(),
        )
        .await
        .expect("load");
    let error = killer.plan(&phase("{}")).await.expect_err("no grants");
    assert_eq!(
        error.to_string(),
        "cluster.list-pods in namespace web is not granted to scenario rust-pod-killer"
    );
}
