//! `firedrill demo`: a drill end to end on the embedded sandbox, and where to find what it produced.

use std::path::Path;

use firedrill_core::config::{self, SEED_CONFIG};
use sha2::{Digest, Sha256};

use crate::cli::{DemoArgs, OutputFormat, RunArgs};
use crate::exit::{CommandError, Exit};

pub async fn run(config_path: &Path, args: &DemoArgs) -> Result<Exit, CommandError> {
    let seeded = !config_path.exists();
    let (config, sha) = if !seeded {
        let text = std::fs::read(config_path).map_err(|source| CommandError::Io {
            path: config_path.display().to_string(),
            source,
        })?;
        (
            crate::load_config(config_path)?,
            hex::encode(Sha256::digest(text)),
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
    };
    let (exit, reports) = super::drill::run_loaded(&config, sha, &run_args).await?;
    println!("\nWhat the demo produced:");
    println!(
        "  report (Markdown):   {}",
        reports.join("report.md").display()
    );
    println!(
        "  report (HTML):       {}",
        reports.join("report.html").display()
    );
    println!(
        "  review agenda:       {}",
        reports.join("agenda.md").display()
    );
    println!(
        "  evidence chain:      {}",
        config
            .storage_path
            .join(firedrill_store::DATABASE_FILE)
            .display()
    );
    if let Some(email) = &config.email {
        match &email.transport {
            config::EmailTransport::Maildir(dir) => {
                println!("  email (Maildir):     {}", dir.join("new").display());
            }
            config::EmailTransport::Smtp { host, port, .. } => {
                println!(
                    "  email:               sent through {host}:{port} (or waiting in the outbox)"
                );
            }
        }
    }
    if seeded {
        println!(
            "Next: `firedrill init` writes this seed configuration to firedrill.yaml so you can point it at your platform."
        );
    } else {
        println!("Next: `firedrill runs`, `firedrill verify`, `firedrill report RUN_ID`.");
    }
    Ok(exit)
}
