//! Shared test helpers: start a sandbox on 127.0.0.1:0 with fast controllers, build a
//! kube client or run kubectl against it, and wait for conditions with a deadline.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use firedrill_sandbox::{Platform, Sandbox, SandboxConfig, SandboxHandle, Timing};

/// Controller timing short enough for tests, long enough to observe transitions.
pub fn fast_timing() -> Timing {
    Timing {
        tick: Duration::from_millis(20),
        start_delay: Duration::from_millis(300),
        ready_delay: Duration::from_millis(100),
        jitter: 0.2,
        shutdown_delay: Duration::from_millis(100),
        probe_latency: Duration::from_millis(1),
        isr_catch_up: Duration::from_millis(500),
    }
}

/// A running sandbox plus what a test needs around it.
pub struct TestSandbox {
    pub handle: SandboxHandle,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl TestSandbox {
    pub async fn start() -> Result<Self> {
        Self::with_config(SandboxConfig {
            timing: fast_timing(),
            ..SandboxConfig::default()
        })
        .await
    }

    pub async fn with_config(config: SandboxConfig) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let handle = Sandbox::start(listener, config, std::future::pending()).await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        handle.write_kubeconfig(&kubeconfig)?;
        Ok(Self {
            handle,
            dir,
            kubeconfig,
        })
    }

    pub fn client(&self) -> Result<kube::Client> {
        install_crypto_provider();
        let mut config = kube::Config::new(self.handle.base_url().parse()?);
        // kube retries 429 and 503 by default, which would hide the very answers the
        // tests check (a refused eviction, a service without endpoints).
        config.default_retry = false;
        Ok(kube::Client::try_from(config)?)
    }

    /// Runs kubectl with this sandbox's kubeconfig and a private discovery cache.
    pub fn kubectl(&self, args: &[&str]) -> Result<KubectlOutput> {
        // The global flag goes first: after `exec ... --` it would be the command's.
        let output = Command::new("kubectl")
            .arg("--request-timeout=30s")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .output()
            .context("running kubectl")?;
        Ok(KubectlOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs kubectl and fails the test with its output if it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let output = self.kubectl(args)?;
        if !output.success {
            bail!(
                "kubectl {} failed\nstdout:\n{}\nstderr:\n{}",
                args.join(" "),
                output.stdout,
                output.stderr
            );
        }
        Ok(output.stdout)
    }

    pub async fn stop(self) -> Result<()> {
        self.handle.shutdown().await?;
        Ok(())
    }
}

#[derive(Debug)]
pub struct KubectlOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A platform with nodes only, for tests that create their own workloads.
pub fn empty_platform() -> Platform {
    Platform::nodes_only(vec!["zone-a".into(), "zone-b".into(), "zone-c".into()], 2)
}

/// Picks ring as rustls' provider (the workspace enables both ring and aws-lc-rs, so
/// rustls cannot choose); a second call finds it installed, which is fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
