//! `LiveConfig`: the configuration in force, shared by `serve`'s loops and the API.

use std::sync::Arc;

use firedrill_core::config::Config;

/// The configuration in force and the hash of the file it came from; replaced on reload.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub config: Arc<Config>,
    pub sha256: String,
}
