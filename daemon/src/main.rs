//! Entry point of the `firedrill` binary: parses the command line and dispatches.

use std::process::ExitCode;

use clap::Parser;
use firedrill::cli::{Cli, Command, PluginCommand, SandboxCommand};
use firedrill::commands;
use firedrill::exit::{CommandError, Exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // More than one rustls crypto provider is compiled in (kube, lettre, the plugin
    // host's HTTP client); choose ring explicitly so no TLS client has to guess. It can
    // only fail if a provider is already installed, which is then the one to use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let now = chrono::Utc::now();
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(&args.out, args.force),
        Command::Check(args) => commands::check::run(&cli.config, args.schema, now),
        Command::Schedule(args) => commands::schedule::run(&cli.config, args, now),
        Command::Plan(args) => {
            runtime().and_then(|rt| rt.block_on(commands::drill::plan(&cli.config, args)))
        }
        Command::Run(args) => {
            runtime().and_then(|rt| rt.block_on(commands::drill::run(&cli.config, args)))
        }
        Command::Recover(args) => {
            runtime().and_then(|rt| rt.block_on(commands::recover::recover(&cli.config, args)))
        }
        Command::Serve => runtime().and_then(|rt| rt.block_on(commands::serve::run(&cli.config))),
        Command::Sandbox(args) => match &args.command {
            SandboxCommand::Up {
                listen,
                kubeconfig,
                platform,
                region,
                tls,
            } => runtime().and_then(|rt| {
                rt.block_on(commands::sandbox::up(
                    listen,
                    kubeconfig,
                    platform.as_deref(),
                    *region == firedrill::cli::SandboxRegionArg::Dr,
                    *tls,
                ))
            }),
        },
        Command::Demo(args) => {
            runtime().and_then(|rt| rt.block_on(commands::demo::run(&cli.config, args)))
        }
        Command::Runs(args) => commands::runs::run(&cli.config, args),
        Command::Report(args) => commands::report::run(&cli.config, args),
        Command::Verify(args) => commands::verify::run(&cli.config, args),
        Command::Audit(args) => commands::audit::run(&cli.config, args, now),
        Command::Plugin(args) => match &args.command {
            PluginCommand::List => commands::plugin::list(&cli.config),
            PluginCommand::Inspect { file } => {
                runtime().and_then(|rt| rt.block_on(commands::plugin::inspect(file)))
            }
            PluginCommand::New {
                name,
                lang,
                dir,
                sdk,
            } => commands::plugin::new(name, lang, dir.as_deref(), sdk.as_deref()),
        },
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("{}", render_error(&err));
            Exit::Error.into()
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CommandError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CommandError::Io {
            path: "the async runtime".into(),
            source,
        })
}

fn render_error(err: &CommandError) -> String {
    match err {
        // Configuration diagnostics are already one `error: ...` line each.
        CommandError::Config(config @ firedrill_core::config::ConfigError::Invalid { .. }) => {
            config.to_string()
        }
        other => format!("error: {other}"),
    }
}

fn init_logging(verbose: u8) {
    // kube's client logs every answer that is not a success as an error; firedrill gets
    // each as a result and says what it means (a probe through the service proxy of a
    // service that is down on purpose is a failed probe, not an error). Below `-vv`,
    // those lines are left out.
    let default = match verbose {
        0 => "warn,kube_client::client::builder=off",
        1 => "info,kube_client::client::builder=off",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
