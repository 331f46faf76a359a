//! `firedrill plugin inspect` on every built plugin, and `firedrill plugin new`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use firedrill_tests::{firedrill, require_plugins, target_dir};
use tempfile::TempDir;

#[test]
fn inspect_describes_every_built_plugin_and_its_wit_version() {
    require_plugins(&["pre-drill", "pod-failure", "zone-failure", "full-recovery"]);
    let dir = target_dir().join("..").join("plugins");
    let cache = TempDir::new().unwrap();
    let mut inspected = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "wasm") {
            continue;
        }
        let output = firedrill()
            .env("XDG_CACHE_HOME", cache.path())
            .args(["plugin", "inspect"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        // Every plugin and SDK example targets 0.2.0 (0.1.0 components keep loading: the
        // legacy fixture, in target/plugin-fixtures, proves it).
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(
            text.contains("targets:      firedrill:scenario@0.2.0"),
            "{text}"
        );
        assert!(text.contains(&format!("scenario:     {stem} ")), "{text}");
        inspected += 1;
    }
    assert!(
        inspected >= 4,
        "only {inspected} plugins in {}",
        dir.display()
    );
}

#[test]
fn inspect_rejects_a_file_that_is_not_a_scenario() {
    let dir = TempDir::new().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm not really").unwrap();
    let output = firedrill()
        .args(["plugin", "inspect"])
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("junk.wasm"));
}

#[test]
fn new_scaffolds_a_rust_plugin_against_the_checkouts_sdk() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("checkout-canary");
    let output = firedrill()
        .args(["plugin", "new", "checkout-canary", "--dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest = std::fs::read_to_string(out.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"checkout-canary\""),
        "{manifest}"
    );
    assert!(manifest.contains("sdk/rust"), "{manifest}");
    let source = std::fs::read_to_string(out.join("src/lib.rs")).unwrap();
    assert!(source.contains("export_scenario!"), "{source}");
    let refused = firedrill()
        .args(["plugin", "new", "x", "--lang", "cobol", "--dir"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
}
