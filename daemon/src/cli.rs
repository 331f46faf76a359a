//! The command-line interface: every subcommand, its options and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 a drill failed an objective (or `verify` found a broken chain);
2 error (bad configuration, bad input, unreachable cluster); 3 a drill was aborted, or
did not start because its steady-state checks failed.

Start with `firedrill init` to write the seed configuration, `firedrill check` to validate
it, and `firedrill schedule` to see when each drill runs next.";

/// Disaster-recovery drills that run themselves.
///
/// firedrill reads a drill-schedule table, runs each drill's phases on time (pod failure,
/// zone failure, database, Redis and Kafka failover, full recovery) as sandboxed
/// WebAssembly scenario plugins, measures recovery time per phase, data loss and the
/// availability of every service, exports the figures to Prometheus, keeps tamper-evident
/// evidence and emails the post-drill report.
#[derive(Debug, Parser)]
#[command(name = "firedrill", version, about, long_about, after_help = AFTER_HELP)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "FIREDRILL_CONFIG",
        default_value = "firedrill.yaml",
        value_name = "FILE"
    )]
    pub config: PathBuf,

    /// Log more (repeat for more detail). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the seed configuration: the runbooks' platform, drills, schedule and RTO table.
    ///
    /// The file is commented so it reads as documentation of every setting. It never
    /// overwrites an existing file unless --force is given.
    Init(InitArgs),

    /// Validate the configuration and summarise its drills, phases and next runs.
    ///
    /// Every problem is reported with file, line, column and field path, all at once; the
    /// exit code is 2 when there is any.
    Check(CheckArgs),

    /// Show every action a drill would take against the current cluster, changing nothing.
    Plan(DrillArgs),

    /// Run a drill now, with live progress, and record the run.
    ///
    /// Ctrl-C aborts: the current phase is rolled back and the run is recorded as
    /// aborted. A run left unfinished by a killed process is rolled back first. In CI,
    /// `--junit FILE` writes the result as JUnit XML for the job to read.
    Run(RunArgs),

    /// Run the daemon: every drill on its schedule, plus the web console, the HTTP API and /metrics.
    ///
    /// Everything is served on `api.listen` (default 127.0.0.1:9477). The web console's
    /// pages (`/`, `/runs`, `/runs/RUN_ID`, `/audit`, `/drills/NAME/plan`) are open unless
    /// `api.viewer_token` is set, in which case a browser signs in at `/login` and scripts
    /// send `Authorization: Bearer TOKEN`. Starting and aborting runs, from the console's
    /// forms or `POST /api/v1/...`, needs the admin token `api.token`.
    Serve,

    /// Roll back runs that a killed firedrill left unfinished, and record them as interrupted.
    ///
    /// Each run is rolled back on the cluster it ran on: the target it used is opened and
    /// checked to still reach the same cluster (API server URL and the UID of its
    /// kube-system namespace) before anything is touched. A run whose target is gone from
    /// the configuration, unreachable, or now points at another cluster is not touched: it
    /// stays owed, is named with the reason, and the command exits 2; run it again once
    /// the target is back. `run` and `serve` recover by themselves when they start; use
    /// this to restore clusters without starting anything else.
    Recover(RecoverArgs),

    /// List the next runs of every drill, in its time zone and in UTC, honouring blackouts.
    Schedule(ScheduleArgs),

    /// Run the embedded sandbox: a simulated Kubernetes cluster kubectl can talk to.
    Sandbox(SandboxArgs),

    /// Run a drill end to end on the embedded sandbox: report, agenda, email, API and metrics.
    ///
    /// Uses the configuration file when it exists, otherwise the seed configuration with
    /// everything written under --dir. Nothing outside that directory is touched.
    Demo(DemoArgs),

    /// List recorded runs, oldest first, with outcome and email delivery status (`--output
    /// json` also lists each webhook and Grafana annotation of a run, and its delivery).
    Runs(RunsArgs),

    /// Re-render the report of a recorded run (Markdown, HTML, JSON, the agenda, or JUnit XML).
    Report(ReportArgs),

    /// Verify the tamper-evident hash chain of run records: exit 0 intact, 1 broken.
    ///
    /// Walks the store's chain and names the record and field of any change. With
    /// `--bundle FILE`, checks an evidence bundle (from `audit --bundle`) offline instead,
    /// with no store and no configuration: every file against its MANIFEST, the chain
    /// segment's per-field digests, hashes and links from its anchor, the signatures, and
    /// each record, report and artefact file against the chain; a problem names the file,
    /// or the record and field.
    Verify(VerifyArgs),

    /// The auditor's view: every scheduled slot in a period, and whether it ran and passed.
    ///
    /// Exit 0 when every slot ran on time, met its objectives and the chain is intact;
    /// 1 otherwise. `--bundle FILE.tar.gz` also writes the period's evidence bundle: the
    /// run records as stored, their report files and artefacts, the chain segment with its
    /// anchors, the public key when the store signs, and a MANIFEST with the SHA-256 of
    /// every file, for `firedrill verify --bundle` on another machine.
    Audit(AuditArgs),

    /// Inspect and scaffold scenario plugins (`plugins/build` builds them).
    Plugin(PluginArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the configuration (`-` for standard output).
    #[arg(short, long, default_value = "firedrill.yaml", value_name = "FILE")]
    pub out: PathBuf,

    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the configuration's JSON Schema (for editors) instead of checking a file.
    #[arg(long)]
    pub schema: bool,
}

#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The drill, by its name in the configuration.
    pub drill: String,

    /// The target cluster: `sandbox` or a target name from the configuration.
    #[arg(long)]
    pub target: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The drill to run. `region-failover` shows the DR runbook's region failover across
    /// two embedded sandboxes (the primary region and `sandbox-dr`); `service-recovery`,
    /// `all-services-restart`, `data-restoration` and `kafka-cluster-recovery` its other
    /// procedures. `database-failover` needs real databases.
    #[arg(long, default_value = "zone-failure")]
    pub drill: String,

    /// Where the seed configuration's data goes (run store, reports, mailbox) when no
    /// configuration file exists.
    #[arg(long, default_value = "firedrill-demo", value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Recover only the runs of this target (a name from the configuration), and runs one
    /// of whose phases acted on it (each of their phases is rolled back on its own
    /// target); runs on other targets are left owed. Also rolls back, on this target, runs recorded by a
    /// firedrill older than 0.2 (which did not record their cluster): name the target
    /// they ran on.
    #[arg(long)]
    pub target: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The drill, by its name in the configuration.
    pub drill: String,

    /// The target cluster: `sandbox` or a target name from the configuration.
    #[arg(long)]
    pub target: Option<String>,

    /// Progress and summary as text, or the run record as JSON on standard output.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Also write the run as JUnit XML to FILE, for CI: one testsuite for the run, one
    /// testcase per phase objective (recovery, RTO, RPO, availability floor per service,
    /// checklist rows) and per PromQL check, each failure naming the figure (`RTO 74.2 s
    /// exceeded target 60 s`). Written whatever the outcome: a run that was aborted,
    /// interrupted, did not start or could not run has an error testcase `run`, so a CI
    /// job reading the file fails. The exit code is the drill's, as without it (a passing
    /// run whose file cannot be written exits 2).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// List runs after this instant (RFC 3339, e.g. 2026-03-28T00:00:00Z). Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,

    /// How many runs to list per drill.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub count: u16,

    /// Only these drills (repeatable). Default: every scheduled drill.
    #[arg(long = "drill", value_name = "NAME")]
    pub drills: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Run the sandbox in the foreground and write a kubeconfig for kubectl.
    Up {
        /// Address to listen on (loopback only).
        #[arg(long, default_value = "127.0.0.1:6443")]
        listen: String,

        /// Where to write the kubeconfig.
        #[arg(
            long,
            default_value = "firedrill-sandbox.kubeconfig",
            value_name = "FILE"
        )]
        kubeconfig: PathBuf,

        /// A platform file replacing the built-in seed platform.
        #[arg(long, value_name = "FILE")]
        platform: Option<PathBuf>,

        /// Which built-in platform to start without --platform: `primary` (nine nodes in
        /// zone-a..zone-c, every service at full size) or `dr` (the DR region: four nodes
        /// in dr-zone-a and dr-zone-b, the applications at one replica standing by). Run
        /// one of each to drill a region failover on a laptop.
        #[arg(
            long,
            value_name = "REGION",
            default_value = "primary",
            conflicts_with = "platform"
        )]
        region: SandboxRegionArg,

        /// Serve https with a self-signed certificate (written into the kubeconfig as the
        /// cluster's certificate authority). kubectl and other client-go tools send a
        /// bearer token, such as a ServiceAccount's from `kubectl create token`, only over
        /// https: use this to act as a ServiceAccount under RBAC.
        #[arg(long)]
        tls: bool,
    },
}

/// The built-in sandbox platforms (`sandbox up --region`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxRegionArg {
    Primary,
    Dr,
}

#[derive(Debug, Args)]
pub struct RunIdArgs {
    /// The run's id, as listed by `firedrill runs`.
    pub run_id: String,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only runs of these drills (repeatable).
    #[arg(long = "drill", value_name = "NAME")]
    pub drills: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// The post-drill report in Markdown.
    Md,
    /// The post-drill report in HTML (inline CSS, readable in mail clients).
    Html,
    /// The report model as JSON.
    Json,
    /// The review-meeting agenda in Markdown.
    Agenda,
    /// JUnit XML for CI, as `run --junit` writes it.
    Junit,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run's id, as listed by `firedrill runs`.
    pub run_id: String,

    /// What to render.
    #[arg(long, value_enum, default_value_t = ReportFormat::Md)]
    pub format: ReportFormat,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also check every record's ed25519 signature against this public key (32 bytes,
    /// raw or hex).
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    /// Check this evidence bundle (`audit --bundle`) instead of the store, offline: no
    /// configuration is read. Signatures are checked with --public-key when given (use a
    /// key obtained elsewhere: one inside the bundle only proves it is consistent), else
    /// with the bundle's own key.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Md,
    Html,
    Json,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Start of the period: a date (2026-10-01, midnight UTC) or an RFC 3339 instant.
    /// Default: 92 days before --until.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,

    /// End of the period: a date (that whole day included) or an RFC 3339 instant.
    /// Default: now.
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,

    /// Only these drills (repeatable). Default: every scheduled drill.
    #[arg(long = "drill", value_name = "NAME")]
    pub drills: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Md)]
    pub format: AuditFormat,

    /// Also write the period's evidence bundle (.tar.gz) to FILE: the records of the runs
    /// that started in the period and every record between them (a chain segment has no
    /// gaps, so --drill does not narrow it), the record before as the anchor, report
    /// files, artefacts, the public key when storage.signing_key is set, and a MANIFEST.
    /// Check it with `firedrill verify --bundle FILE`.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PluginArgs {
    #[command(subcommand)]
    pub command: PluginCommand,
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the scenarios this configuration can run and where each component comes
    /// from: plugins.custom, a file in the plugin directory (overrides a built-in of
    /// that name), or built into this binary.
    List,
    /// Load a plugin and print what it describes: name, version, parameters, capabilities.
    Inspect {
        /// The component file, or the name of a built-in scenario (e.g. zone-failure).
        file: PathBuf,
    },
    /// Scaffold a new scenario plugin that builds.
    New {
        /// The scenario's name (lowercase letters, digits and '-').
        name: String,
        /// The plugin's language.
        #[arg(long, default_value = "rust")]
        lang: String,
        /// Directory to create the plugin in. Default: ./NAME.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Path of the firedrill Rust SDK (`sdk/rust` of a checkout). Default: the
        /// checkout firedrill was built from, if any.
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
}
