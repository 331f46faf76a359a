//! `firedrill sandbox up`: runs the embedded simulated cluster in the foreground for kubectl.

use std::net::SocketAddr;
use std::path::Path;

use firedrill_sandbox::{Platform, Sandbox, SandboxConfig};

use crate::app::signals::shutdown_signal;
use crate::exit::{CommandError, Exit};

/// Serves the sandbox on `listen` (loopback only) until Ctrl-C or SIGTERM, with a
/// kubeconfig written to `kubeconfig`.
pub async fn up(
    listen: &str,
    kubeconfig: &Path,
    platform: Option<&Path>,
    dr_region: bool,
    tls: bool,
) -> Result<Exit, CommandError> {
    let address: SocketAddr = listen.parse().map_err(|_| {
        CommandError::Usage(format!(
            "--listen `{listen}` is not an address such as 127.0.0.1:6443"
        ))
    })?;
    if !address.ip().is_loopback() {
        return Err(CommandError::Usage(format!(
            "--listen {address}: the sandbox takes requests without credentials for the admin, so it listens on loopback only (127.0.0.1 or [::1])"
        )));
    }
    let platform = match platform {
        Some(path) => {
            Platform::from_file(path).map_err(|err| CommandError::Usage(err.to_string()))?
        }
        None if dr_region => Platform::seed_dr(),
        None => Platform::seed(),
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| CommandError::Io {
            path: format!("listen on {address}"),
            source,
        })?;
    let config = SandboxConfig {
        platform,
        tls,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(listener, config, shutdown_signal())
        .await
        .map_err(|err| CommandError::Usage(format!("cannot start the sandbox: {err}")))?;
    sandbox.write_kubeconfig(kubeconfig).map_err(|err| {
        CommandError::Usage(format!("cannot write {}: {err}", kubeconfig.display()))
    })?;
    crate::sayln!("Sandbox Kubernetes API at {}", sandbox.base_url());
    crate::sayln!("Kubeconfig written to {}; try:", kubeconfig.display());
    crate::sayln!(
        "  kubectl --kubeconfig {} get nodes,pods -A -o wide",
        kubeconfig.display()
    );
    crate::sayln!(
        "  kubectl --kubeconfig {} delete pod -n butterfly -l app.kubernetes.io/name=capsule --grace-period=0 --force",
        kubeconfig.display()
    );
    crate::sayln!("Press Ctrl-C to stop.");
    sandbox
        .join()
        .await
        .map_err(|err| CommandError::Usage(format!("sandbox stopped with an error: {err}")))?;
    Ok(Exit::Success)
}
