//! `plugin inspect` on every built plugin, and the precompiled cache across hosts.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use crate::common;

use common::{plugin, root};
use firedrill_host::cache::CacheOutcome;
use firedrill_host::inspect::inspect;
use firedrill_host::{Backends, Grants, Limits, WasmtimeHost};

#[tokio::test]
async fn inspect_reports_describe_and_the_wit_version_of_every_built_plugin() {
    let host = WasmtimeHost::new(
        Some(root().join("target/plugin-test-cache")),
        Backends::default(),
    )
    .expect("host");
    // Every SDK example targets WIT 0.2.0 (the 0.1.0 one is the fixture legacy-pod-killer,
    // in versions.rs); each scenario's own version is 0.1.0.
    for (name, version) in [
        ("rust-pod-killer", "0.2.0"),
        ("c-pod-counter", "0.2.0"),
        ("python-pod-counter", "0.2.0"),
        ("js-pod-counter", "0.2.0"),
    ] {
        let inspection = inspect(&host, &plugin(name)).await.expect("inspect");
        assert_eq!(inspection.description.name, name);
        assert_eq!(inspection.wit_version.as_deref(), Some(version), "{name}");
        let printed = inspection.to_string();
        assert!(
            printed.contains(&format!("targets:      firedrill:scenario@{version}")),
            "{printed}"
        );
        assert!(
            printed.contains(&format!("scenario:     {name} 0.1.0")),
            "{printed}"
        );
        assert!(printed.contains("  cluster list"), "{printed}");
    }
}

#[tokio::test]
async fn a_second_host_loads_the_component_from_the_cache() {
    let cache = tempfile::tempdir().expect("cache");
    let path = plugin("rust-pod-killer");
    let first =
        WasmtimeHost::new(Some(cache.path().to_path_buf()), Backends::default()).expect("host");
    let loaded = first
        .load_file(&path, Grants::default(), Limits::default())
        .await
        .expect("load");
    assert_eq!(loaded.load_report().outcome, CacheOutcome::Compiled);
    let second =
        WasmtimeHost::new(Some(cache.path().to_path_buf()), Backends::default()).expect("host");
    let reloaded = second
        .load_file(&path, Grants::default(), Limits::default())
        .await
        .expect("load");
    assert_eq!(reloaded.load_report().outcome, CacheOutcome::Hit);
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_recompiled_not_trusted() {
    let cache = tempfile::tempdir().expect("cache");
    let path = plugin("rust-pod-killer");
    let host =
        WasmtimeHost::new(Some(cache.path().to_path_buf()), Backends::default()).expect("host");
    host.load_file(&path, Grants::default(), Limits::default())
        .await
        .expect("load");
    for entry in std::fs::read_dir(cache.path()).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"not machine code").expect("corrupt");
    }
    let again =
        WasmtimeHost::new(Some(cache.path().to_path_buf()), Backends::default()).expect("host");
    let reloaded = again
        .load_file(&path, Grants::default(), Limits::default())
        .await
        .expect("load");
    assert_eq!(reloaded.load_report().outcome, CacheOutcome::Compiled);
    reloaded
        .describe()
        .await
        .expect("the recompiled plugin works");
}
