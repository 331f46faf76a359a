//! Compiles the built-in scenarios (`plugins/*`, Rust, wasm32-wasip2) and embeds them in
//! the `firedrill` binary, so a copy of the binary alone runs every seed drill.
//!
//! Where the components come from, in order:
//! 1. `FIREDRILL_BUILTIN_PLUGINS=DIR`: `DIR/<name>.wasm` for every built-in, as
//!    `plugins/build` writes them to `target/plugins` (with Debian's toolchain when rustup
//!    cannot add the wasm target; CI sets it so the plugins are not built twice).
//! 2. Otherwise `cargo build --release --target wasm32-wasip2` of the plugin crates, in
//!    `target/guests` (the directory `plugins/build` uses, so the two share one cache).
//!
//! When neither can work the build stops and says what to run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    if let Err(message) = run() {
        // Cargo prints a failing build script's stderr; say it plainly, once.
        eprintln!("\nerror: {message}\n");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .ok_or("the daemon crate has no parent directory")?
        .to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    let plugins = builtin_names(&root.join("plugins"))?;

    println!("cargo::rerun-if-env-changed=FIREDRILL_BUILTIN_PLUGINS");
    println!("cargo::rerun-if-env-changed=FIREDRILL_GUEST_TARGET");
    for (name, _) in &plugins {
        println!(
            "cargo::rerun-if-changed={}",
            root.join("plugins").join(name).display()
        );
    }
    for path in ["sdk/rust", "sdk/wit", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", root.join(path).display());
    }

    let built: Vec<(String, PathBuf)> = match std::env::var_os("FIREDRILL_BUILTIN_PLUGINS") {
        Some(dir) => prebuilt(Path::new(&dir), &plugins)?,
        None => compile(&root, &plugins)?,
    };

    // Copies in OUT_DIR: a later plugin build cannot change what this binary embeds.
    let mut source = String::from(
        "/// The built-in scenarios compiled into this binary: (name, component bytes).\n\
         pub static BUILTIN: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &built {
        let copy = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(path, &copy).map_err(|err| {
            format!(
                "cannot copy {} into {}: {err}",
                path.display(),
                copy.display()
            )
        })?;
        let _ = writeln!(
            source,
            "    ({name:?}, include_bytes!({:?})),",
            copy.display().to_string()
        );
    }
    source.push_str("];\n");
    std::fs::write(out_dir.join("builtin_plugins.rs"), source)
        .map_err(|err| format!("cannot write builtin_plugins.rs: {err}"))?;
    Ok(())
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("cargo did not set {name}"))
}

/// (scenario name, crate name) of every `plugins/<name>/Cargo.toml`, sorted.
fn builtin_names(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|err| {
        format!(
            "cannot read {} ({err}): the built-in scenarios are built from the repository's plugins/ directory",
            dir.display()
        )
    })?;
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let package = text
            .lines()
            .find_map(|line| {
                let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_string())
            })
            .ok_or_else(|| format!("{} names no package", manifest.display()))?;
        names.push((entry.file_name().to_string_lossy().into_owned(), package));
    }
    names.sort();
    if names.is_empty() {
        return Err(format!("no plugin crates in {}", dir.display()));
    }
    Ok(names)
}

fn prebuilt(dir: &Path, plugins: &[(String, String)]) -> Result<Vec<(String, PathBuf)>, String> {
    let mut built = Vec::new();
    for (name, _) in plugins {
        let path = dir.join(format!("{name}.wasm"));
        println!("cargo::rerun-if-changed={}", path.display());
        if !path.is_file() {
            return Err(format!(
                "FIREDRILL_BUILTIN_PLUGINS={} has no {name}.wasm: run `plugins/build` first, or unset it to compile the plugins here",
                dir.display()
            ));
        }
        built.push((name.clone(), path));
    }
    Ok(built)
}

fn compile(root: &Path, plugins: &[(String, String)]) -> Result<Vec<(String, PathBuf)>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let has_target = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .is_some_and(|dir| {
            std::fs::read_dir(dir).is_ok_and(|mut entries| {
                entries.any(|e| {
                    e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
                })
            })
        });
    if !has_target {
        return Err(format!(
            "firedrill embeds its built-in scenarios, compiled for {TARGET}, and this Rust \
             toolchain cannot build for it.\n  \
             Add the target:   rustup target add {TARGET}\n  \
             or, without rustup's target (Debian's toolchain, std built from source):\n    \
             plugins/build --only rust && FIREDRILL_BUILTIN_PLUGINS=$PWD/target/plugins cargo build -p firedrill"
        ));
    }
    let target_dir = std::env::var_os("FIREDRILL_GUEST_TARGET")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/guests"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(root)
        .args(["build", "--quiet", "--release", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    for (_, package) in plugins {
        command.args(["-p", package]);
    }
    // The outer build's settings are for the host: none of them applies to the guests
    // (clippy's wrapper would lint them, the host's rustflags would reach wasm).
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
    ] {
        command.env_remove(var);
    }
    let output = command
        .output()
        .map_err(|err| format!("cannot run {cargo}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the built-in scenarios for {TARGET} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let built_dir = target_dir.join(TARGET).join("release");
    plugins
        .iter()
        .map(|(name, package)| {
            let path = built_dir.join(format!("{}.wasm", package.replace('-', "_")));
            if path.is_file() {
                Ok((name.clone(), path))
            } else {
                Err(format!("the build wrote no {}", path.display()))
            }
        })
        .collect()
}
