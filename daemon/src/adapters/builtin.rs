//! The built-in scenarios compiled into the binary (`build.rs` builds `plugins/*` for
//! wasm32-wasip2 and embeds them), so the binary alone runs every seed drill.

include!(concat!(env!("OUT_DIR"), "/builtin_plugins.rs"));

/// The component of the built-in scenario `name`.
pub fn get(name: &str) -> Option<&'static [u8]> {
    BUILTIN
        .iter()
        .find(|(builtin, _)| *builtin == name)
        .map(|(_, bytes)| *bytes)
}

/// The built-in scenarios' names, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plugin_crate_of_the_repository_is_built_in_as_a_component() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let mut crates: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        crates.sort();
        assert!(crates.contains(&"zone-failure".to_string()), "{crates:?}");
        assert_eq!(names().collect::<Vec<_>>(), crates);
        for name in names() {
            let bytes = get(name).unwrap_or_default();
            // A component, not a core module: the `\0asm` magic, then layer 1.
            assert_eq!(&bytes[..4], b"\0asm", "{name}");
            assert_eq!(&bytes[6..8], &[1, 0], "{name} is not a component");
        }
        assert_eq!(get("no-such-scenario"), None);
        // The configuration accepts exactly the scenarios this binary carries.
        let mut known: Vec<&str> = firedrill_core::config::BUILTIN_SCENARIOS.to_vec();
        known.sort_unstable();
        assert_eq!(names().collect::<Vec<_>>(), known);
    }
}
