//! `PluginError`: everything a plugin call can fail with, as the engine reports it.

use crate::grants::Denied;

/// A boxed cause, kept for `#[source]`.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why loading a plugin or one of its calls failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read, or the cache could not be written.
    #[error("cannot read plugin {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid component, or it does not fit the WIT world.
    #[error("{path} is not a firedrill scenario component (firedrill:scenario@{wit_version})")]
    InvalidComponent {
        path: String,
        wit_version: &'static str,
        #[source]
        source: Cause,
    },
    /// The host could not be set up (engine, linker); not the plugin's fault.
    #[error("plugin host setup failed: {message}")]
    Setup {
        message: String,
        #[source]
        source: Option<Cause>,
    },
    /// The plugin asked for a capability that its grants do not cover.
    #[error("{denied}")]
    Denied {
        #[from]
        denied: Denied,
    },
    /// The plugin used all the fuel (CPU budget) of one call.
    #[error("scenario {scenario} used all its fuel ({fuel} units) in {function}")]
    OutOfFuel {
        scenario: String,
        function: &'static str,
        fuel: u64,
    },
    /// The call ran past its wall-clock deadline.
    #[error("scenario {scenario} did not finish {function} within {deadline_ms} ms")]
    Timeout {
        scenario: String,
        function: &'static str,
        deadline_ms: u128,
    },
    /// The plugin tried to grow its memory past the cap.
    #[error("scenario {scenario} exceeded its memory limit of {limit_bytes} bytes in {function}")]
    MemoryExhausted {
        scenario: String,
        function: &'static str,
        limit_bytes: usize,
    },
    /// The plugin logged more than its budget for one call.
    #[error("scenario {scenario} exceeded its log budget in {function}: {detail}")]
    LogFlood {
        scenario: String,
        function: &'static str,
        detail: String,
    },
    /// The plugin trapped (panic, `unreachable`, out-of-bounds access...).
    #[error("scenario {scenario} crashed in {function}: {detail}")]
    Trap {
        scenario: String,
        function: &'static str,
        /// The trap and, when the plugin wrote one, the end of its stderr (panic message).
        detail: String,
        #[source]
        source: Cause,
    },
    /// The plugin returned something the host cannot accept.
    #[error("scenario {scenario} returned a malformed result from {function}: {reason}")]
    MalformedResult {
        scenario: String,
        function: &'static str,
        reason: String,
    },
    /// The scenario ran and reported its own failure through the WIT `error` type.
    #[error("scenario {scenario} failed in {function}: {kind}: {message}")]
    Scenario {
        scenario: String,
        function: &'static str,
        /// The WIT error case, e.g. `invalid-params`, `timeout`, `failed`.
        kind: &'static str,
        message: String,
    },
}
