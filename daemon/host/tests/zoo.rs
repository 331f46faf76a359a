//! The hostile-plugin zoo: every plugin is contained with the right error, within its

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]
//! deadline, and the host keeps serving calls afterwards.

use crate::common;

use std::time::{Duration, Instant};

use common::{fixture, host, phase, plugin, tight_limits, web_grants};
use firedrill_host::{Grants, Limits, PluginError, Verdict, WasmtimeHost};

/// After a hostile call, the same host still runs a well-behaved plugin.
async fn host_still_serves(host: &WasmtimeHost) {
    let healthy = host
        .load_file(&plugin("rust-pod-killer"), web_grants(), Limits::default())
        .await
        .expect("a healthy plugin still loads");
    let verdict = healthy
        .verify(&phase("{}"), None)
        .await
        .expect("a healthy plugin still answers")
        .verdict;
    assert!(matches!(
        verdict,
        Verdict::Recovered | Verdict::Recovering(_)
    ));
}

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let f = host();
    let spin = f
        .host
        .load_file(&fixture("zoo-spin"), Grants::default(), tight_limits())
        .await
        .expect("load");
    let started = Instant::now();
    let error = spin
        .inject(&phase("{}"))
        .await
        .expect_err("an infinite loop cannot succeed");
    assert!(
        matches!(error, PluginError::OutOfFuel { ref scenario, function: "inject", .. } if scenario == "zoo-spin"),
        "{error}"
    );
    assert!(error.to_string().contains("used all its fuel"), "{error}");
    assert!(
        started.elapsed() < tight_limits().deadline,
        "fuel must end the loop before the deadline"
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn an_infinite_loop_with_unlimited_fuel_hits_the_wall_clock_deadline() {
    let f = host();
    let limits = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_millis(300),
        ..tight_limits()
    };
    let spin = f
        .host
        .load_file(&fixture("zoo-spin"), Grants::default(), limits)
        .await
        .expect("load");
    let error = spin.inject(&phase("{}")).await.expect_err("must time out");
    assert!(
        matches!(
            error,
            PluginError::Timeout {
                function: "inject",
                deadline_ms: 300,
                ..
            }
        ),
        "{error}"
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn a_sleep_past_the_deadline_times_out() {
    let f = host();
    let limits = Limits {
        deadline: Duration::from_millis(200),
        ..tight_limits()
    };
    let spin = f
        .host
        .load_file(&fixture("zoo-spin"), Grants::default(), limits)
        .await
        .expect("load");
    let error = spin
        .verify(&phase("{}"), None)
        .await
        .expect_err("must time out");
    assert!(
        matches!(
            error,
            PluginError::Timeout {
                function: "verify",
                ..
            }
        ),
        "{error}"
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_the_memory_cap() {
    let f = host();
    let bomb = f
        .host
        .load_file(
            &fixture("zoo-memory-bomb"),
            Grants::default(),
            tight_limits(),
        )
        .await
        .expect("load");
    let error = bomb
        .inject(&phase("{}"))
        .await
        .expect_err("must exhaust memory");
    assert!(
        matches!(error, PluginError::MemoryExhausted { function: "inject", limit_bytes, .. } if limit_bytes == 64 * 1024 * 1024),
        "{error}"
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn a_log_flood_exceeds_the_log_budget() {
    let f = host();
    let flood = f
        .host
        .load_file(&fixture("zoo-log-flood"), Grants::default(), tight_limits())
        .await
        .expect("load");
    let error = flood
        .inject(&phase("{}"))
        .await
        .expect_err("must exceed the log budget");
    assert!(
        matches!(
            error,
            PluginError::LogFlood {
                function: "inject",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("more than 100 lines"), "{error}");
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn a_panic_is_a_trap_quoting_the_panic_message() {
    let f = host();
    let panicky = f
        .host
        .load_file(&fixture("zoo-panic"), Grants::default(), tight_limits())
        .await
        .expect("load");
    let error = panicky.inject(&phase("{}")).await.expect_err("must trap");
    assert!(
        matches!(
            error,
            PluginError::Trap {
                function: "inject",
                ..
            }
        ),
        "{error}"
    );
    assert!(
        error.to_string().contains("zoo-panic was told to panic"),
        "{error}"
    );
    let error = panicky
        .verify(&phase("{}"), None)
        .await
        .expect_err("division by zero must trap");
    assert!(
        matches!(
            error,
            PluginError::Trap {
                function: "verify",
                ..
            }
        ),
        "{error}"
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn an_ungranted_namespace_is_denied_by_name() {
    let f = host();
    let ungranted = f
        .host
        .load_file(&fixture("zoo-ungranted"), web_grants(), tight_limits())
        .await
        .expect("load");
    let error = ungranted
        .inject(&phase("{}"))
        .await
        .expect_err("kube-system is not granted");
    assert!(matches!(error, PluginError::Denied { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "cluster.delete-pod in namespace kube-system is not granted to scenario zoo-ungranted"
    );
    assert!(
        f.cluster.calls().is_empty(),
        "nothing reached the cluster: {:?}",
        f.cluster.calls()
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn exec_without_the_exec_grant_is_denied_even_with_every_verb() {
    let f = host();
    let mut grants = web_grants();
    grants.cluster[0].verbs = ["get", "list", "watch", "patch", "delete", "evict"]
        .map(String::from)
        .to_vec();
    let exec = f
        .host
        .load_file(&fixture("zoo-exec"), grants, tight_limits())
        .await
        .expect("load");
    let error = exec
        .inject(&phase("{}"))
        .await
        .expect_err("exec is not granted");
    assert_eq!(
        error.to_string(),
        "cluster.exec in namespace web is not granted to scenario zoo-exec"
    );
    assert!(
        f.cluster.calls().is_empty(),
        "nothing reached the cluster: {:?}",
        f.cluster.calls()
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn exec_with_the_exec_grant_reaches_the_cluster() {
    let f = host();
    let grants = Grants {
        exec: vec!["web".into()],
        ..Grants::default()
    };
    let exec = f
        .host
        .load_file(&fixture("zoo-exec"), grants, tight_limits())
        .await
        .expect("load");
    exec.inject(&phase("{}")).await.expect("exec is granted");
    assert_eq!(
        f.cluster.calls(),
        vec!["exec web/api-0 sh -c kill 1".to_owned()]
    );
}

#[tokio::test]
async fn garbage_from_describe_is_a_malformed_result() {
    let f = host();
    let error = f
        .host
        .load_file(&fixture("zoo-garbage"), Grants::default(), tight_limits())
        .await
        .expect_err("garbage must not load");
    assert!(
        matches!(
            error,
            PluginError::MalformedResult {
                function: "describe",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("\"Zoo Garbage!\""), "{error}");
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn bytes_that_are_not_a_component_are_rejected() {
    let f = host();
    let error = f
        .host
        .load_bytes(
            "junk.wasm",
            b"\0asm junk",
            Grants::default(),
            Limits::default(),
        )
        .await
        .expect_err("junk is not a component");
    assert!(
        matches!(error, PluginError::InvalidComponent { .. }),
        "{error}"
    );
    host_still_serves(&f.host).await;
}

#[tokio::test]
async fn a_busy_loop_does_not_starve_other_calls_on_the_same_runtime() {
    // The test runtime has one thread: the healthy call can only make progress
    // because the spinning plugin yields to the executor at every epoch tick.
    let f = host();
    let limits = Limits {
        fuel: u64::MAX,
        deadline: Duration::from_secs(30),
        ..tight_limits()
    };
    let spin = f
        .host
        .load_file(&fixture("zoo-spin"), Grants::default(), limits)
        .await
        .expect("load");
    let healthy = f
        .host
        .load_file(&plugin("rust-pod-killer"), web_grants(), Limits::default())
        .await
        .expect("load");
    let input = phase("{}");
    let spinning = spin.inject(&input);
    let answering = healthy.verify(&input, None);
    tokio::pin!(spinning, answering);
    tokio::select! {
        biased;
        verdict = &mut answering => {
            assert!(verdict.is_ok(), "{verdict:?}");
        }
        result = &mut spinning => panic!("the loop ended first: {result:?}"),
    }
}
