//! How a sandbox is configured: its platform and the timing of its simulated controllers.

use std::time::Duration;

use crate::platform::Platform;

/// The timing of the simulated controllers and probes. Tests shorten these.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// How often the controllers reconcile.
    pub tick: Duration,
    /// From scheduled to Running (image pull, container start), unless the workload sets
    /// its own with the `sandbox.firedrill.dev/start-delay` template annotation.
    pub start_delay: Duration,
    /// From Running to Ready (the readiness probe's first success).
    pub ready_delay: Duration,
    /// Relative jitter applied to both delays (0.2 means up to +/-20%).
    pub jitter: f64,
    /// How long a terminating pod's containers take to exit after SIGTERM (capped by the
    /// grace period).
    pub shutdown_delay: Duration,
    /// Mean latency of a service proxy probe answered by a Ready endpoint.
    pub probe_latency: Duration,
    /// How long a simulated Kafka broker whose pod became Ready again takes to catch up
    /// and rejoin the in-sync replicas (a platform file's `catchUpDelay` overrides it per
    /// workload). A broker's first readiness needs no catch-up.
    pub isr_catch_up: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(100),
            start_delay: Duration::from_secs(2),
            ready_delay: Duration::from_secs(1),
            jitter: 0.2,
            shutdown_delay: Duration::from_secs(1),
            probe_latency: Duration::from_millis(4),
            isr_catch_up: Duration::from_secs(2),
        }
    }
}

/// Everything a sandbox starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// The platform preloaded at start.
    pub platform: Platform,
    /// Controller timing.
    pub timing: Timing,
    /// Whether the platform's first pods start Ready at once (a warm cluster) rather than
    /// going through the start delay.
    pub warm_start: bool,
    /// How many changes the store keeps for watches resuming from a resourceVersion.
    pub history_capacity: usize,
    /// Serve https with a self-signed certificate (written into the kubeconfig) instead
    /// of http: kubectl and other client-go tools send bearer tokens only over https.
    pub tls: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            platform: Platform::seed(),
            timing: Timing::default(),
            warm_start: true,
            history_capacity: 10_000,
            tls: false,
        }
    }
}
