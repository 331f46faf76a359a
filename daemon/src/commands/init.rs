//! `firedrill init`: writes the seed configuration.

use std::io::Write;
use std::path::Path;

use firedrill_core::config::SEED_CONFIG;

use crate::exit::{CommandError, Exit};

/// Writes the seed configuration to `out` (`-` is standard output), refusing to overwrite
/// an existing file unless `force`.
pub fn run(out: &Path, force: bool) -> Result<Exit, CommandError> {
    if out == Path::new("-") {
        crate::out!("{SEED_CONFIG}");
        return Ok(Exit::Success);
    }
    let io = |source| CommandError::Io {
        path: out.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        // create_new makes "does it exist?" and "create it" one step, so a file appearing in
        // between is never overwritten.
        options.create_new(true);
    }
    let mut file = match options.open(out) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CommandError::Usage(format!(
                "{} already exists; nothing was written (use --force to overwrite it)",
                out.display()
            )));
        }
        Err(err) => return Err(io(err)),
    };
    file.write_all(SEED_CONFIG.as_bytes()).map_err(io)?;
    eprintln!(
        "Wrote the seed configuration to {}.\nNext: `firedrill check -c {0}` validates it; `firedrill schedule -c {0}` lists the next runs.",
        out.display()
    );
    Ok(Exit::Success)
}
