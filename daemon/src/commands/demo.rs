//! `firedrill demo`: a drill end to end on the embedded sandbox, and where to find what it produced.

use std::path::Path;

use firedrill_core::config::{self, SEED_CONFIG};
use sha2::{Digest, Sha256};

use crate::cli::{DemoArgs, OutputFormat, RunArgs};
use crate::exit::{CommandError, Exit};

/// Serves the API on the configuration's address (or, if that is taken, a free loopback
/// port) until `stop`; `None` if no port could be had, which the demo survives.
async fn serve_api(
    config: &firedrill_core::config::Config,
    sha: &str,
    metrics: &crate::metrics::Metrics,
    stop: tokio_util::sync::CancellationToken,
) -> Option<std::net::SocketAddr> {
    let listener = match tokio::net::TcpListener::bind(config.api.listen).await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?,
    };
    let address = listener.local_addr().ok()?;
    let renderer = crate::app::render::renderer(config).ok()?;
    let (jobs, _) = tokio::sync::mpsc::unbounded_channel();
    // The console's pages guarded as `serve` guards them; a viewer token that cannot be
    // read serves nothing rather than open pages.
    let viewer_token = match &config.api.viewer_token {
        Some(secret) => Some(firedrill_notify::resolve_secret(secret).ok()?),
        None => None,
    };
    let state = crate::api::AppState {
        config: tokio::sync::watch::channel(crate::app::live::LiveConfig {
            config: std::sync::Arc::new(config.clone()),
            sha256: sha.to_string(),
        })
        .1,
        metrics: metrics.clone(),
        store: crate::app::store::StoreAt::of(config),
        renderer: std::sync::Arc::new(renderer),
        // The demo takes no triggers: its one run is already decided.
        token: None,
        jobs,
        running: std::sync::Arc::default(),
        ready: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)),
        leading: tokio::sync::watch::channel(true).1,
        console: crate::api::console::Console::new(viewer_token).ok()?,
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, crate::api::router(state))
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Some(address)
}

pub async fn run(config_path: &Path, args: &DemoArgs) -> Result<Exit, CommandError> {
    let seeded = !config_path.exists();
    let (config, sha) = if !seeded {
        (
            crate::load_config(config_path)?,
            crate::app::session::config_sha256(config_path),
        )
    } else {
        eprintln!(
            "No {} here: using the seed configuration, with its data under {}/",
            config_path.display(),
            args.dir.display()
        );
        let config = config::load_str(
            "seed configuration",
            SEED_CONFIG,
            &args.dir,
            &crate::resolve_context(),
        )?;
        (config, hex::encode(Sha256::digest(SEED_CONFIG.as_bytes())))
    };
    let run_args = RunArgs {
        drill: args.drill.clone(),
        target: Some("sandbox".into()),
        output: OutputFormat::Text,
        junit: None,
    };
    // The API and /metrics are served while the drill runs, as `serve` would.
    let metrics = crate::metrics::Metrics::new()
        .map_err(|err| CommandError::Usage(format!("cannot set up metrics: {err}")))?;
    metrics.register_drills(&config);
    let stop = tokio_util::sync::CancellationToken::new();
    let api = serve_api(&config, &sha, &metrics, stop.clone()).await;
    if let Some(address) = &api {
        crate::sayln!(
            "Web console, API and metrics while the demo runs: http://{address}/, http://{address}/api/v1/drills, http://{address}/metrics"
        );
    }
    let (exit, reports) =
        crate::present::run_and_print(&config, sha, &run_args, Some(&metrics)).await?;
    stop.cancel();
    crate::sayln!("\nWhat the demo produced:");
    crate::sayln!(
        "  report (Markdown):   {}",
        reports.join("report.md").display()
    );
    crate::sayln!(
        "  report (HTML):       {}",
        reports.join("report.html").display()
    );
    crate::sayln!(
        "  review agenda:       {}",
        reports.join("agenda.md").display()
    );
    crate::sayln!(
        "  evidence chain:      {}",
        config
            .storage_path
            .join(firedrill_store::DATABASE_FILE)
            .display()
    );
    if let Some(email) = &config.email {
        match &email.transport {
            config::EmailTransport::Maildir(dir) => {
                crate::sayln!("  email (Maildir):     {}", dir.join("new").display());
            }
            config::EmailTransport::Smtp { host, port, .. } => {
                crate::sayln!(
                    "  email:               sent through {host}:{port} (or waiting in the outbox)"
                );
            }
        }
    }
    if seeded {
        crate::sayln!(
            "Next: `firedrill init` writes this seed configuration to firedrill.yaml so you can point it at your platform."
        );
    } else {
        crate::sayln!("Next: `firedrill runs`, `firedrill verify`, `firedrill report RUN_ID`.");
    }
    Ok(exit)
}
