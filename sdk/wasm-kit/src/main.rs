//! `wasm-kit`: the build helper behind `plugins/build` for non-Rust plugins, so CI needs
//! no `wasm-tools` or `wit-bindgen-cli` install.
//!
//! ```text
//! wasm-kit c-bindings --wit DIR --world NAME --out DIR   # scenario.h/.c + component-type object
//! wasm-kit component --module CORE.wasm --out OUT.wasm    # core wasip1 module -> component
//! ```
//!
//! # Layout
//!
//! Everything is in this file: argument parsing, `c_bindings` (wit-bindgen-c over a
//! parsed WIT package) and `component` (wit-component with the WASI preview1 reactor
//! adapter of the wasmtime release the host uses).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        bail!(
            "usage: wasm-kit c-bindings --wit DIR --world NAME --out DIR | component --module CORE.wasm --out OUT.wasm"
        );
    };
    let flag = |name: &str| -> Result<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .with_context(|| format!("{command} needs {name} VALUE"))
    };
    match command.as_str() {
        "c-bindings" => c_bindings(
            Path::new(&flag("--wit")?),
            &flag("--world")?,
            &PathBuf::from(flag("--out")?),
        ),
        "component" => component(Path::new(&flag("--module")?), Path::new(&flag("--out")?)),
        other => bail!("unknown command {other}; expected c-bindings or component"),
    }
}

/// Writes C bindings for `world` of the WIT package in `wit` into `out`.
fn c_bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let (package, _) = resolve
        .push_path(wit)
        .with_context(|| format!("parsing WIT in {}", wit.display()))?;
    let world_id = resolve.select_world(&[package], Some(world))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world_id, &mut files)
        .context("generating C bindings")?;
    std::fs::create_dir_all(out)?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Turns a core module built for wasip1 (with the WIT embedded by the bindings' object
/// file) into a component, adapting WASI preview1 imports to WASI 0.2.
fn component(module: &Path, out: &Path) -> Result<()> {
    let bytes = std::fs::read(module).with_context(|| format!("reading {}", module.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&bytes)?
        .validate(true)
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
        .context("encoding the component")?;
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
