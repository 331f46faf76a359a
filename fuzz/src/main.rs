//! `firedrill-fuzz`: a bounded fuzz run over every parser and over what a guest may return
//! through WIT. Generated inputs (proptest strategies, run through `TestRunner`) must
//! never panic, and every rejection must be a clear error.
//!
//! # Layout
//!
//! - `harness`: the shared runner (seeded batches, panics caught, time budget) and the
//!   clear-error checks.
//! - `config`: `load_str` over mutations of the seed configuration and random documents.
//! - `schedule`: cron expressions, time zones and blackouts (`Schedule::next_runs`).
//! - `text`: human durations and label selectors.
//! - `guest`: the host's checks of `describe`, `plan` and `evidence.attach` answers.

mod config;
mod guest;
mod harness;
mod schedule;
mod text;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

use crate::harness::{Plan, Report};

/// Runs every target (or one) for a number of cases within a time budget; exits 1 on any
/// panic or unclear error, printing the minimal failing input.
#[derive(Debug, Parser)]
#[command(name = "firedrill-fuzz")]
struct Args {
    /// Generated cases per target.
    #[arg(long, default_value_t = 100_000)]
    cases: u32,
    /// Overall time budget in seconds, shared fairly by the targets still to run: a target
    /// that runs out stops early and says so.
    #[arg(long, default_value_t = 3600)]
    seconds: u64,
    /// Only this target.
    #[arg(long)]
    target: Option<Target>,
    /// Seed of the generators (the same seed gives the same inputs).
    #[arg(long, default_value_t = 0x00f1_5ed5)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Target {
    Config,
    Cron,
    Duration,
    Selector,
    Guest,
}

/// Fast targets first: the time they leave over goes to the slower ones after them.
const ALL: [Target; 5] = [
    Target::Duration,
    Target::Selector,
    Target::Cron,
    Target::Guest,
    Target::Config,
];

fn run(target: Target, plan: Plan) -> Report {
    match target {
        Target::Config => harness::run(
            "config",
            config::strategy(),
            |text: &String| config::check(text),
            |text| config::show(text),
            plan,
        ),
        Target::Cron => harness::run(
            "cron",
            schedule::strategy(),
            schedule::check,
            schedule::show,
            plan,
        ),
        Target::Duration => harness::run(
            "duration",
            text::duration_strategy(),
            |text: &String| text::check_duration(text),
            |text| format!("{text:?}"),
            plan,
        ),
        Target::Selector => harness::run(
            "selector",
            text::selector_strategy(),
            text::check_selector,
            |input| format!("{input:?}"),
            plan,
        ),
        Target::Guest => harness::run("guest", guest::strategy(), guest::check, guest::show, plan),
    }
}

fn name(target: Target) -> &'static str {
    match target {
        Target::Config => "config",
        Target::Cron => "cron",
        Target::Duration => "duration",
        Target::Selector => "selector",
        Target::Guest => "guest",
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    let targets: Vec<Target> = match args.target {
        Some(target) => vec![target],
        None => ALL.to_vec(),
    };
    harness::quiet_panics();
    let end = Instant::now() + Duration::from_secs(args.seconds);
    // The targets run on a thread with tokio's default worker stack (2 MiB): the daemon
    // loads configurations on such threads (`serve` reloads), so a recursion that fits
    // only in a main thread's 8 MiB would be a crash there.
    let worker = std::thread::Builder::new()
        .name("fuzz".into())
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let mut failed = false;
            for (i, target) in targets.iter().enumerate() {
                let now = Instant::now();
                let left = end.saturating_duration_since(now);
                let share = left / u32::try_from(targets.len() - i).unwrap_or(1);
                let plan = Plan {
                    cases: args.cases,
                    deadline: now + share,
                    seed: args.seed,
                };
                let report = run(*target, plan);
                print_report(name(*target), &report);
                failed |= report.failure.is_some();
            }
            failed
        })?;
    let failed = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the fuzz thread panicked outside a case"))?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print_report(name: &str, report: &Report) {
    let seconds = report.elapsed.as_secs_f64();
    if let Some((reason, input)) = &report.failure {
        println!(
            "{name}: FAILED after {} passing cases, {seconds:.1} s: {reason}",
            report.cases
        );
        println!("{name}: minimal failing input:\n{input}");
        return;
    }
    let cases = if report.out_of_time {
        format!(
            "{} of {} cases (time budget ran out)",
            report.cases, report.planned
        )
    } else {
        format!("{} cases", report.cases)
    };
    println!(
        "{name}: {cases}, {} panics, {} rejected (clear errors), {} accepted, {seconds:.1} s",
        report.panics, report.rejected, report.accepted
    );
}
