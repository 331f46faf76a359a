//! `firedrill plugin new NAME --lang rust`: writes a plugin crate that builds with
//! `cargo build --release --target wasm32-wasip2`.

use std::path::{Path, PathBuf};

/// Where the new crate gets `firedrill-sdk` from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdkSource {
    /// A local checkout of `sdk/rust` (the SDK is not on crates.io yet).
    Path(PathBuf),
    /// A registry version, e.g. `0.1`.
    Version(String),
}

/// Why scaffolding failed.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "plugin name {0:?} must be 1-63 lowercase letters, digits or dashes, starting with a letter"
    )]
    InvalidName(String),
    #[error("{0} already exists; choose another name or directory")]
    Exists(String),
    #[error("cannot write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a Rust plugin crate named `name` into `dir` (which must not exist) and
/// returns the files written.
pub fn new_rust_plugin(
    dir: &Path,
    name: &str,
    sdk: &SdkSource,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(ScaffoldError::InvalidName(name.to_owned()));
    }
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.display().to_string()));
    }
    let sdk_dependency = match sdk {
        SdkSource::Path(path) => format!("{{ path = {:?} }}", path.display().to_string()),
        SdkSource::Version(version) => format!("{version:?}"),
    };
    let files = [
        ("Cargo.toml", cargo_toml(name, &sdk_dependency)),
        ("src/lib.rs", lib_rs(name)),
        (".gitignore", "/target\n".to_owned()),
        ("README.md", readme(name)),
    ];
    let mut written = Vec::new();
    for (relative, content) in files {
        let path = dir.join(relative);
        let io = |source| ScaffoldError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, content).map_err(|source| ScaffoldError::Io {
            path: path.display().to_string(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

fn cargo_toml(name: &str, sdk_dependency: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
firedrill-sdk = {sdk_dependency}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[profile.release]
opt-level = "s"
strip = true

# A plugin is its own workspace, even when created inside another one.
[workspace]
"#
    )
}

fn lib_rs(name: &str) -> String {
    format!(
        r#"//! The {name} scenario plugin.

use firedrill_sdk::prelude::*;
use serde::Deserialize;

/// Phase parameters, from the drill configuration.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct Params {{
    /// Pods to delete per service.
    pods_per_service: usize,
}}

struct Plugin;

impl Scenario for Plugin {{
    type Params = Params;

    fn describe() -> Description {{
        Description::new("{name}", "0.1.0", "Describe what this scenario breaks and how it checks recovery.")
            .params_schema(serde_json::json!({{
                "type": "object",
                "properties": {{ "pods_per_service": {{ "type": "integer", "minimum": 0 }} }}
            }}))
            .needs(Capability::cluster(&[Verb::List, Verb::Delete], &["*"]))
    }}

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {{
        let mut actions = Vec::new();
        for service in &phase.services {{
            for pod in cluster::list_pods(&service.namespace, &service.selector)?.iter().take(phase.params.pods_per_service) {{
                actions.push(Action::new("delete-pod", format!("pod/{{}} in {{}}", pod.name, pod.namespace), "delete with grace period 0"));
            }}
        }}
        Ok(actions)
    }}

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {{
        for service in &phase.services {{
            for pod in cluster::list_pods(&service.namespace, &service.selector)?.iter().take(phase.params.pods_per_service) {{
                cluster::delete_pod(&pod.namespace, &pod.name, Some(0))?;
                log::info(&format!("deleted {{}}/{{}}", pod.namespace, pod.name));
            }}
        }}
        Ok(())
    }}

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {{
        for service in &phase.services {{
            let ready = cluster::list_pods(&service.namespace, &service.selector)?.iter().filter(|p| p.ready).count();
            if ready < service.replicas as usize {{
                return Ok(Verdict::Recovering(format!("{{}}: {{ready}}/{{}} ready", service.name, service.replicas)));
            }}
        }}
        Ok(Verdict::Recovered)
    }}

    fn rollback(_phase: &Phase<Params>) -> Result<(), Error> {{
        Ok(())
    }}
}}

export_scenario!(Plugin);
"#
    )
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nA firedrill scenario plugin.\n\n```sh\nrustup target add wasm32-wasip2\ncargo build --release --target wasm32-wasip2\nfiredrill plugin inspect target/wasm32-wasip2/release/{}.wasm\n```\n\nCopy the `.wasm` file into the daemon's plugin directory to use it in a drill.\n",
        name.replace('-', "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaffold_writes_a_crate_named_after_the_plugin() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("my-scenario");
        let files = new_rust_plugin(&target, "my-scenario", &SdkSource::Path("/sdk/rust".into()))
            .expect("scaffold");
        assert_eq!(files.len(), 4);
        let cargo = std::fs::read_to_string(target.join("Cargo.toml")).expect("Cargo.toml");
        assert!(cargo.contains("name = \"my-scenario\""));
        assert!(cargo.contains("firedrill-sdk = { path = \"/sdk/rust\" }"));
        let lib = std::fs::read_to_string(target.join("src/lib.rs")).expect("lib.rs");
        assert!(lib.contains("Description::new(\"my-scenario\""));
        assert!(lib.contains("export_scenario!(Plugin);"));
    }

    #[test]
    fn scaffold_refuses_bad_names_and_existing_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sdk = SdkSource::Version("0.1".into());
        assert!(matches!(
            new_rust_plugin(&dir.path().join("x"), "Bad Name", &sdk),
            Err(ScaffoldError::InvalidName(_))
        ));
        assert!(matches!(
            new_rust_plugin(dir.path(), "fine", &sdk),
            Err(ScaffoldError::Exists(_))
        ));
    }
}
