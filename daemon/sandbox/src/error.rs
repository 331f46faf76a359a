//! The crate's error type: what can go wrong starting, configuring or stopping a sandbox.

use std::path::PathBuf;

/// Errors at the sandbox's boundary.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The platform file could not be read.
    #[error("cannot read platform file {path}")]
    ReadPlatform {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The platform file is not valid.
    #[error("invalid platform file {path}: {message}")]
    InvalidPlatform {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        message: String,
    },
    /// The listener is not on a loopback address; the sandbox has no authentication.
    #[error("the sandbox listens on loopback only, not on {address}")]
    NotLoopback {
        /// The refused address.
        address: std::net::SocketAddr,
    },
    /// The listener's address could not be read.
    #[error("cannot read the listener's address")]
    ListenerAddress(#[source] std::io::Error),
    /// Seeding the platform into the store failed (a duplicate or invalid object).
    #[error("cannot load the platform: {0}")]
    Seed(String),
    /// The kubeconfig could not be written.
    #[error("cannot write kubeconfig {path}")]
    WriteKubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or server configuration could not be made.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// A token could not be minted (no such ServiceAccount).
    #[error("cannot mint a token")]
    Token(#[source] crate::auth::TokenError),
    /// The HTTP server failed.
    #[error("the sandbox api server failed")]
    Serve(#[source] std::io::Error),
    /// A sandbox task panicked or was cancelled.
    #[error("a sandbox task ended abnormally")]
    Task(#[source] tokio::task::JoinError),
}
