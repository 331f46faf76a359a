//! Runs a seed sandbox in the foreground until Ctrl-C, for poking at it with kubectl:
//! `cargo run -p firedrill-sandbox --example up -- /tmp/sandbox.kubeconfig [PLATFORM.yaml]`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use firedrill_sandbox::{Platform, Sandbox, SandboxConfig};

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let kubeconfig = PathBuf::from(args.next().context("usage: up KUBECONFIG [PLATFORM]")?);
    let platform = match args.next() {
        Some(path) => Platform::from_file(&PathBuf::from(path))?,
        None => Platform::seed(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let config = SandboxConfig {
        platform,
        ..SandboxConfig::default()
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let sandbox = Sandbox::start(listener, config, shutdown).await?;
    sandbox.write_kubeconfig(&kubeconfig)?;
    println!(
        "sandbox at {}; KUBECONFIG={}",
        sandbox.base_url(),
        kubeconfig.display()
    );
    sandbox.join().await?;
    Ok(())
}
