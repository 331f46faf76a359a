//! `firedrill plugin inspect FILE.wasm`: load a plugin, call `describe`, report the WIT
//! version it targets (0.1.0 or 0.2.0, as the host detected it at load).

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use crate::bindings::types::{Capability, Description};
use crate::cache::LoadReport;
use crate::error::PluginError;
use crate::grants::{Grants, verb_name};
use crate::host::{WasmtimeHost, WitVersion};
use crate::limits::Limits;

/// What `plugin inspect` prints.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The file inspected.
    pub path: String,
    /// Size of the component in bytes.
    pub size_bytes: usize,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// The `firedrill:scenario` version the component targets (`0.1.0`, `0.2.0`). Always
    /// set for a component the host loaded; an option for the printers' sake.
    pub wit_version: Option<String>,
    /// What `describe` answered.
    pub description: Description,
    /// How the component was loaded.
    pub load: LoadReport,
}

/// Loads `path` with no grants and default limits, calls `describe`, and reports the WIT
/// version the host found at load.
pub async fn inspect(host: &WasmtimeHost, path: &Path) -> Result<Inspection, PluginError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| PluginError::Io {
        path: label.clone(),
        source,
    })?;
    inspect_bytes(host, &label, &bytes).await
}

/// [`inspect`] for a component already in memory (a built-in scenario), named `label`.
pub async fn inspect_bytes(
    host: &WasmtimeHost,
    label: &str,
    bytes: &[u8],
) -> Result<Inspection, PluginError> {
    let label = label.to_string();
    let plugin = host
        .load_bytes(&label, bytes, Grants::default(), Limits::default())
        .await?;
    let description = plugin.describe().await?;
    let wit_version = Some(plugin.wit_version().as_str().to_owned());
    Ok(Inspection {
        path: label,
        size_bytes: bytes.len(),
        sha256: hex::encode(Sha256::digest(bytes)),
        wit_version,
        description,
        load: plugin.load_report(),
    })
}

/// The `firedrill:scenario` version a component targets: 0.2.0 when it exports 0.2.0's
/// `findings`, else the version of its first `firedrill:scenario/...@version` import
/// (none: no firedrill import, not a scenario).
pub fn wit_version_of(host: &WasmtimeHost, component: &Component) -> Option<String> {
    if WitVersion::of(host.engine(), component) == WitVersion::V0_2 {
        return Some(WitVersion::V0_2.as_str().to_owned());
    }
    component
        .component_type()
        .imports(host.engine())
        .find_map(|(name, _)| {
            name.strip_prefix("firedrill:scenario/")
                .and_then(|rest| rest.split_once('@'))
                .map(|(_, v)| v.to_owned())
        })
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.description;
        writeln!(f, "file:         {}", self.path)?;
        writeln!(f, "size:         {} bytes", self.size_bytes)?;
        writeln!(f, "sha256:       {}", self.sha256)?;
        writeln!(
            f,
            "targets:      firedrill:scenario@{}",
            self.wit_version
                .as_deref()
                .unwrap_or("unknown (no firedrill imports)")
        )?;
        writeln!(f, "scenario:     {} {}", d.name, d.version)?;
        writeln!(f, "summary:      {}", d.summary)?;
        writeln!(f, "capabilities:")?;
        if d.capabilities.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for capability in &d.capabilities {
            match capability {
                Capability::Cluster(access) => {
                    let verbs: Vec<&str> = access.verbs.iter().map(|v| verb_name(*v)).collect();
                    writeln!(
                        f,
                        "  cluster {} in {}",
                        verbs.join(","),
                        access.namespaces.join(",")
                    )?;
                }
                Capability::Exec(namespaces) => writeln!(f, "  exec in {}", namespaces.join(","))?,
                Capability::Http(hosts) => writeln!(f, "  http to {}", hosts.join(","))?,
                Capability::Postgres(name) => writeln!(f, "  postgres connection {name}")?,
                Capability::Redis(name) => writeln!(f, "  redis connection {name}")?,
            }
        }
        let schema = serde_json::from_str::<serde_json::Value>(&d.params_schema)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| d.params_schema.clone());
        writeln!(f, "parameters schema:")?;
        for line in schema.lines() {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}
