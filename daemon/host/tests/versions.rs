//! Both WIT versions through the same host: a 0.1.0 component behaves as it always did,
//! a 0.2.0 one gets its trigger and returns typed kinds and findings; `inject` and
//! `verify` report what their capability calls did.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use std::time::Duration;

use crate::common;

use common::{fixture, host, phase, web_grants};
use firedrill_host::{Change, ClusterGrant, Grants, Limits, Verdict, WitVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_0_1_component_loads_describes_plans_injects_verifies_and_rolls_back_unchanged() {
    let f = host();
    let legacy = f
        .host
        .load_file(
            &fixture("legacy-pod-killer"),
            web_grants(),
            Limits::default(),
        )
        .await
        .expect("load");
    assert_eq!(legacy.wit_version(), WitVersion::V0_1);
    assert_eq!(
        legacy.describe().await.expect("describe").name,
        "legacy-pod-killer"
    );

    let actions = legacy.plan(&phase("{}")).await.expect("plan");
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].kind, "delete-pod");
    assert!(
        f.cluster.calls().is_empty(),
        "plan must not change anything"
    );

    let injected = legacy.inject(&phase("{}")).await.expect("inject");
    assert_eq!(
        f.cluster.calls(),
        vec!["delete-pod web/web-1 grace=Some(0)".to_owned()]
    );
    let first = injected.first_effect.expect("the deletion is an effect");
    assert_eq!(first.action, "delete pod web/web-1");
    assert_eq!(injected.held_back, Duration::ZERO);
    let artefacts = f.evidence.artefacts();
    assert_eq!(artefacts.len(), 1);
    assert_eq!(artefacts[0].name, "deleted-pods.txt");

    // A 0.1.0 plugin is not told the trigger, and has no findings.
    let verified = legacy
        .verify(&phase("{}"), Some(change()))
        .await
        .expect("verify");
    assert!(
        matches!(&verified.verdict, Verdict::Recovering(r) if r == "web: 2/3 pods ready"),
        "{:?}",
        verified.verdict
    );
    assert!(!verified.outside_cluster, "only cluster reads");
    assert!(
        legacy
            .findings(&phase("{}"))
            .await
            .expect("findings")
            .is_none()
    );

    legacy.rollback(&phase("{}")).await.expect("rollback");
}

fn change() -> Change {
    Change {
        kind: "Pod".into(),
        namespace: Some("web".into()),
        name: "web-4".into(),
        summary: "became Ready".into(),
        age_ms: 120,
    }
}

#[tokio::test]
async fn a_0_2_component_gets_its_trigger_and_returns_typed_kinds_and_findings() {
    let f = host();
    let probe = f
        .host
        .load_file(&fixture("v2-probe"), Grants::default(), Limits::default())
        .await
        .expect("load");
    assert_eq!(probe.wit_version(), WitVersion::V0_2);

    let actions = probe.plan(&phase("{}")).await.expect("plan");
    let kinds: Vec<&str> = actions.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["drain", "scale-down"]);

    let verified = probe
        .verify(&phase("{}"), Some(change()))
        .await
        .expect("verify");
    assert!(
        matches!(&verified.verdict, Verdict::Recovering(r) if r == "Pod web/web-4 became Ready 120 ms ago"),
        "{:?}",
        verified.verdict
    );
    let timer = probe.verify(&phase("{}"), None).await.expect("verify");
    assert!(
        matches!(&timer.verdict, Verdict::Recovering(r) if r == "no trigger"),
        "{:?}",
        timer.verdict
    );

    let findings = probe
        .findings(&phase("{}"))
        .await
        .expect("findings")
        .expect("a 0.2.0 plugin has findings");
    let loss = findings.data_loss.expect("data loss");
    assert_eq!(
        (loss.writes, loss.acknowledged, loss.acknowledged_lost),
        (10, 9, 1)
    );
    assert_eq!(loss.backup_age_ms, Some(90_000));
    assert_eq!(loss.loss_window_ms, None);
    assert_eq!(loss.method, "counted by the probe");
    assert_eq!(findings.follow_ups, ["check the probe"]);
}

#[tokio::test]
async fn a_drain_reports_its_first_and_last_effect_and_the_time_budgets_held_it_back() {
    let f = host();
    f.cluster.block_evictions("web", "web-1", 3);
    let grants = Grants {
        cluster: vec![
            ClusterGrant {
                verbs: vec!["patch".into()],
                namespaces: vec![":cluster".into()],
            },
            ClusterGrant {
                verbs: vec!["evict".into()],
                namespaces: vec!["web".into()],
            },
        ],
        ..Grants::default()
    };
    let probe = f
        .host
        .load_file(&fixture("capability-probe"), grants, Limits::default())
        .await
        .expect("load");
    let params = serde_json::json!({"op": "drain", "name": "node-a"}).to_string();
    let injected = probe.inject(&phase(&params)).await.expect("inject");
    let artefacts = f.evidence.artefacts();
    let answer = &artefacts.last().expect("answer").content;
    assert_eq!(answer, "evicted web/web-2,web/web-1 after 3 retries");

    let first = injected.first_effect.expect("first effect");
    let last = injected.last_effect.expect("last effect");
    assert_eq!(first.action, "cordon node node-a");
    assert_eq!(last.action, "evict pod web/web-1");
    assert!(first.at < last.at);
    // Three refusals, three waits of the probe's 10 ms retry interval.
    assert!(
        injected.held_back >= Duration::from_millis(30),
        "{:?}",
        injected.held_back
    );
    assert!(
        last.at.duration_since(first.at) >= injected.held_back,
        "the last eviction came after the waits"
    );
}

#[tokio::test]
async fn a_verify_that_calls_http_reads_outside_the_cluster() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });
    let f = host();
    let grants = Grants {
        http: vec![format!("127.0.0.1:{port}")],
        ..Grants::default()
    };
    let probe = f
        .host
        .load_file(&fixture("v2-probe"), grants, Limits::default())
        .await
        .expect("load");
    let params = serde_json::json!({"url": format!("http://127.0.0.1:{port}/health")});
    let verified = probe
        .verify(&phase(&params.to_string()), None)
        .await
        .expect("verify");
    assert!(verified.outside_cluster);
    let quiet = probe.verify(&phase("{}"), None).await.expect("verify");
    assert!(!quiet.outside_cluster, "no http call, no outside read");
}
