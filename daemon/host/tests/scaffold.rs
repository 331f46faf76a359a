//! `firedrill plugin new NAME --lang rust` writes a crate that builds for wasm32-wasip2
//! and loads in the host.

// Tests may panic on setup failures; that is how a test fails.
#![allow(clippy::expect_used)]

use crate::common;

use std::process::Command;

use common::root;
use firedrill_host::scaffold::{SdkSource, new_rust_plugin};
use firedrill_host::{Backends, Grants, Limits, WasmtimeHost};

#[tokio::test]
async fn a_scaffolded_rust_plugin_builds_and_describes_itself() {
    let cargo = env!("CARGO");
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .expect("rustc");
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    assert!(
        std::path::Path::new(&sysroot)
            .join("lib/rustlib/wasm32-wasip2")
            .is_dir(),
        "the wasm32-wasip2 target is missing: run `plugins/build` first (it runs `rustup target add wasm32-wasip2`)"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let crate_dir = dir.path().join("my-scenario");
    new_rust_plugin(
        &crate_dir,
        "my-scenario",
        &SdkSource::Path(root().join("sdk/rust")),
    )
    .expect("scaffold");

    // Its own target directory: the workspace's is locked by the running `cargo test`.
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", root().join("target/scaffold-check"))
        .status()
        .expect("cargo");
    assert!(status.success(), "the scaffolded plugin does not build");

    let wasm = root().join("target/scaffold-check/wasm32-wasip2/release/my_scenario.wasm");
    let host = WasmtimeHost::new(None, Backends::default()).expect("host");
    let plugin = host
        .load_file(&wasm, Grants::default(), Limits::default())
        .await
        .expect("load");
    assert_eq!(plugin.name(), "my-scenario");
}
