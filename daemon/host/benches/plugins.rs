//! Prints plugin load and call costs: first-load compile time per language, load from
//! the precompiled cache, and per-call host overhead (fresh instance + call). Numbers
//! are printed, never asserted. Run `plugins/build` first.

#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firedrill_host::{Backends, Grants, Limits, Phase, WasmtimeHost};

const CALLS: u32 = 200;

fn plugin_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/plugins")
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let plugins = [
        ("rust", "rust-pod-killer"),
        ("c", "c-pod-counter"),
        ("python", "python-pod-counter"),
        ("javascript", "js-pod-counter"),
    ];
    let rust = plugin_dir().join("rust-pod-killer.wasm");
    assert!(
        rust.is_file(),
        "{} is missing: run `plugins/build` first",
        rust.display()
    );
    let phase = Phase {
        run_id: "bench".into(),
        name: "bench".into(),
        params: "{}".into(),
        services: Vec::new(),
    };

    println!(
        "{:<11} {:>10} {:>16} {:>16} {:>22}",
        "language", "size", "first load", "cached load", "per call (instance+call)"
    );
    for (language, name) in plugins {
        let path = plugin_dir().join(format!("{name}.wasm"));
        if !path.is_file() {
            println!(
                "{language:<11} missing: {} (run plugins/build)",
                path.display()
            );
            continue;
        }
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let cache = tempfile::tempdir().expect("cache dir");

        // First load: compiles with Cranelift and fills the cache.
        let cold_host =
            WasmtimeHost::new(Some(cache.path().to_path_buf()), Backends::default()).expect("host");
        let started = Instant::now();
        cold_host
            .load_file(&path, Grants::default(), Limits::default())
            .await
            .expect("first load");
        let first = started.elapsed();

        // A new host (as after a daemon restart) loads from the cache.
        let warm_host =
            WasmtimeHost::new(Some(cache.path().to_path_buf()), Backends::default()).expect("host");
        let started = Instant::now();
        let plugin = warm_host
            .load_file(&path, Grants::default(), Limits::default())
            .await
            .expect("cached load");
        let cached = started.elapsed();

        // Per call: a fresh Store and instance from the InstancePre, then `verify`
        // (no services, so the plugin does no capability calls).
        for _ in 0..5 {
            plugin.verify(&phase, None).await.expect("warm-up call");
        }
        let started = Instant::now();
        for _ in 0..CALLS {
            plugin.verify(&phase, None).await.expect("call");
        }
        let per_call = started.elapsed() / CALLS;
        println!(
            "{language:<11} {:>7} KB {:>16} {:>16} {:>22}",
            size / 1024,
            millis(first),
            millis(cached),
            millis(per_call)
        );
    }
}
