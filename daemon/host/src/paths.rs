//! Where the daemon finds plugins by default: `<dir of the firedrill executable>/../plugins`,
//! which is `target/plugins` for a cargo-built binary, where `plugins/build` writes.

use std::path::{Path, PathBuf};

use crate::error::PluginError;

/// The default plugin directory for an executable at `exe`.
pub fn plugin_dir_for(exe: &Path) -> Option<PathBuf> {
    Some(exe.parent()?.parent()?.join("plugins"))
}

/// The default plugin directory for the running executable.
pub fn default_plugin_dir() -> Result<PathBuf, PluginError> {
    let exe = std::env::current_exe().map_err(|source| PluginError::Io {
        path: "the running executable".into(),
        source,
    })?;
    plugin_dir_for(&exe).ok_or_else(|| PluginError::Setup {
        message: format!(
            "{} has no grandparent directory to hold plugins/",
            exe.display()
        ),
        source: None,
    })
}

/// The `*.wasm` files in `dir`, sorted by name.
pub fn plugin_files(dir: &Path) -> Result<Vec<PathBuf>, PluginError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PluginError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm") && path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plugin_dir_is_a_sibling_of_the_executables_dir() {
        assert_eq!(
            plugin_dir_for(Path::new("/repo/target/debug/firedrill")),
            Some(PathBuf::from("/repo/target/plugins"))
        );
        assert_eq!(
            plugin_dir_for(Path::new("/usr/bin/firedrill")),
            Some(PathBuf::from("/usr/plugins"))
        );
    }

    #[test]
    fn plugin_files_lists_only_wasm_files_in_name_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.wasm", "a.wasm", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        std::fs::create_dir(dir.path().join("c.wasm")).expect("dir");
        let names: Vec<String> = plugin_files(dir.path())
            .expect("list")
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, vec!["a.wasm", "b.wasm"]);
    }
}
