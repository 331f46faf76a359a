//! firedrill-host's integration tests, one binary: every file links wasmtime, and
//! one binary instead of six keeps the build's disk and link time down.

mod common;

mod capabilities;
mod inspect;
mod languages;
mod rust_plugin;
mod scaffold;
mod versions;
mod zoo;
