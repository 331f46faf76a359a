//! The precompiled-component cache: compiled machine code on disk, keyed by the
//! component's SHA-256 and by the engine's compatibility hash, so a Python or JS plugin
//! (seconds of Cranelift) is compiled once per engine configuration, not once per start.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::PluginError;

/// Where a component came from this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Compiled now (and stored, when the cache has a directory).
    Compiled,
    /// Loaded from the cache directory.
    Hit,
}

/// How a component was loaded and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadReport {
    pub outcome: CacheOutcome,
    pub elapsed: Duration,
}

/// The cache. Without a directory it compiles every time.
#[derive(Clone, Debug)]
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// Feeds `Hash` output into SHA-256, so the engine part of the key is stable across
/// processes (unlike `DefaultHasher`, whose algorithm is not guaranteed).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        // Never called: the full digest is read with `finalize` instead.
        0
    }
}

impl ComponentCache {
    /// A cache in `dir` (created on first store), or none.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The cache directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The cache key of `bytes` for `engine`: content hash, then engine hash.
    pub fn key(engine: &Engine, bytes: &[u8]) -> String {
        let content = hex::encode(Sha256::digest(bytes));
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_hash = hex::encode(hasher.0.finalize());
        format!("{content}-{}", &engine_hash[..16])
    }

    /// Loads the component for `bytes`: from the cache when present and valid,
    /// otherwise compiles it and stores the result. `label` names it in errors.
    pub fn load(
        &self,
        engine: &Engine,
        label: &str,
        bytes: &[u8],
    ) -> Result<(Component, LoadReport), PluginError> {
        let started = Instant::now();
        let Some(dir) = &self.dir else {
            let component = compile(engine, label, bytes)?;
            return Ok((
                component,
                LoadReport {
                    outcome: CacheOutcome::Compiled,
                    elapsed: started.elapsed(),
                },
            ));
        };
        let path = dir.join(format!("{}.cwasm", Self::key(engine, bytes)));
        if let Ok(precompiled) = std::fs::read(&path) {
            match deserialize(engine, &precompiled) {
                Ok(component) => {
                    return Ok((
                        component,
                        LoadReport {
                            outcome: CacheOutcome::Hit,
                            elapsed: started.elapsed(),
                        },
                    ));
                }
                Err(error) => {
                    // A truncated or stale file: compile again and overwrite it.
                    tracing::warn!(path = %path.display(), %error, "Discarding unusable precompiled plugin");
                }
            }
        }
        let precompiled =
            engine
                .precompile_component(bytes)
                .map_err(|source| PluginError::InvalidComponent {
                    path: label.to_owned(),
                    wit_version: crate::bindings::ACCEPTED_VERSIONS,
                    source: source.into(),
                })?;
        let component = deserialize(engine, &precompiled).map_err(|source| PluginError::Setup {
            message: format!("cannot load the component just compiled from {label}"),
            source: Some(source.into()),
        })?;
        if let Err(source) = store_atomically(dir, &path, &precompiled) {
            // The cache is an optimisation: a read-only disk costs time, not the call.
            tracing::warn!(path = %path.display(), error = %source, "Cannot store precompiled plugin");
        }
        Ok((
            component,
            LoadReport {
                outcome: CacheOutcome::Compiled,
                elapsed: started.elapsed(),
            },
        ))
    }
}

fn compile(engine: &Engine, label: &str, bytes: &[u8]) -> Result<Component, PluginError> {
    Component::new(engine, bytes).map_err(|source| PluginError::InvalidComponent {
        path: label.to_owned(),
        wit_version: crate::bindings::ACCEPTED_VERSIONS,
        source: source.into(),
    })
}

/// Writes to a temporary file and renames it, so a concurrent reader never sees half a file.
fn store_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

/// Loads precompiled machine code.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, precompiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be machine code produced by
    // `Engine::precompile_component`. The only bytes passed here are either the output
    // of `precompile_component` in this process or files in the daemon's own cache
    // directory, named by the content hash and the engine's compatibility hash, that
    // this function's caller wrote the same way. Wasmtime additionally checks the
    // header (version, target, engine settings) and refuses mismatches. Anyone able to
    // rewrite that directory could already replace the daemon itself.
    unsafe { Component::deserialize(engine, precompiled) }
}
