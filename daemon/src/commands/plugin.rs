//! `firedrill plugin list`, `firedrill plugin inspect` and `firedrill plugin new`.

use std::path::{Path, PathBuf};

use firedrill_host::scaffold::{SdkSource, new_rust_plugin};
use firedrill_host::{Backends, WasmtimeHost};
use sha2::Digest as _;

use crate::exit::{CommandError, Exit};

/// Loads `file` (or the built-in scenario of that name), calls `describe`, and prints what it says and the WIT version it targets.
pub async fn inspect(file: &Path) -> Result<Exit, CommandError> {
    // A cache beside the user's other caches keeps a second inspect fast; none is needed
    // for correctness.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|dir| dir.join("firedrill").join("plugin-cache"));
    let host = WasmtimeHost::new(cache, Backends::default())
        .map_err(|err| CommandError::Usage(format!("cannot start the plugin host: {err}")))?;
    // A name that is no file but a built-in scenario inspects the one in this binary.
    let builtin = (!file.exists())
        .then(|| file.to_str().and_then(crate::adapters::builtin::get))
        .flatten();
    let report = match builtin {
        Some(bytes) => {
            let label = format!("built-in:{}", file.display());
            firedrill_host::inspect::inspect_bytes(&host, &label, bytes).await
        }
        None => firedrill_host::inspect::inspect(&host, file).await,
    }
    .map_err(|err| CommandError::Usage(err.to_string()))?;
    crate::out!("{report}");
    Ok(Exit::Success)
}

/// The SDK a scaffolded plugin depends on: `--sdk`, else this checkout's `sdk/rust` when
/// firedrill runs from a build tree, else the registry version.
fn sdk_source(explicit: Option<&Path>) -> SdkSource {
    if let Some(path) = explicit {
        return SdkSource::Path(path.to_path_buf());
    }
    let checkout = std::env::current_exe().ok().and_then(|exe| {
        // target/<profile>/firedrill -> the repository root
        let root = exe.parent()?.parent()?.parent()?.to_path_buf();
        let sdk = root.join("sdk").join("rust");
        sdk.join("Cargo.toml").exists().then_some(sdk)
    });
    match checkout {
        Some(path) => SdkSource::Path(path),
        None => SdkSource::Version(env!("CARGO_PKG_VERSION").into()),
    }
}

/// Writes a new plugin crate that builds.
pub fn new(
    name: &str,
    lang: &str,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> Result<Exit, CommandError> {
    if lang != "rust" {
        return Err(CommandError::Usage(format!(
            "--lang {lang}: only `rust` is scaffolded; sdk/ has guides and examples for C, Python and JavaScript"
        )));
    }
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    let files = new_rust_plugin(&dir, name, &sdk_source(sdk))
        .map_err(|err| CommandError::Usage(err.to_string()))?;
    for file in &files {
        crate::outln!("wrote {}", file.display());
    }
    crate::outln!(
        "\nBuild it:\n  rustup target add wasm32-wasip2\n  cd {} && cargo build --release --target wasm32-wasip2\nThen grant it capabilities under plugins.grants.{name} and add it under plugins.custom.",
        dir.display()
    );
    Ok(Exit::Success)
}

/// Prints every scenario the configuration can run and where its component comes from:
/// `plugins.custom`, the plugin directory, or built into this binary.
pub fn list(config_path: &Path) -> Result<Exit, CommandError> {
    use crate::adapters::host::{PluginLocator, PluginSource};
    let mut names: std::collections::BTreeSet<String> = crate::adapters::builtin::names()
        .map(str::to_string)
        .collect();
    // Without a configuration file: the built-ins and the default plugin directory.
    let host = if config_path.exists() {
        let config = crate::load_config(config_path)?;
        names.extend(config.plugins.custom.keys().cloned());
        for drill in &config.drills {
            names.extend(drill.phases.iter().map(|p| p.scenario.clone()));
        }
        PluginLocator::new(&config)
    } else {
        PluginLocator::unconfigured()
    };
    crate::outln!("{:<26} {:<10} {:>9}  SOURCE", "SCENARIO", "SHA-256", "SIZE");
    for name in names {
        match host
            .source(&name)
            .and_then(|source| Ok((source.read()?, source)))
        {
            Ok((bytes, source)) => {
                let note = match (&source, crate::adapters::builtin::get(&name)) {
                    (PluginSource::File(_), Some(builtin)) if builtin == &*bytes => {
                        "  (same as the built-in)"
                    }
                    (PluginSource::File(_), Some(_)) => "  (overrides the built-in)",
                    _ => "",
                };
                crate::outln!(
                    "{name:<26} {:<10} {:>9}  {source}{note}",
                    &hex::encode(sha2::Sha256::digest(&*bytes))[..10],
                    bytes.len(),
                );
            }
            Err(err) => crate::outln!("{name:<26} {:<10} {:>9}  missing: {err}", "-", "-"),
        }
    }
    Ok(Exit::Success)
}
