//! `firedrill plugin inspect` and `firedrill plugin new`.

use std::path::{Path, PathBuf};

use firedrill_host::scaffold::{SdkSource, new_rust_plugin};
use firedrill_host::{Backends, WasmtimeHost};

use crate::exit::{CommandError, Exit};

/// Loads `file`, calls `describe`, and prints what it says and the WIT version it targets.
pub async fn inspect(file: &Path) -> Result<Exit, CommandError> {
    // A cache beside the user's other caches keeps a second inspect fast; none is needed
    // for correctness.
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|dir| dir.join("firedrill").join("plugin-cache"));
    let host = WasmtimeHost::new(cache, Backends::default())
        .map_err(|err| CommandError::Usage(format!("cannot start the plugin host: {err}")))?;
    let report = firedrill_host::inspect::inspect(&host, file)
        .await
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
