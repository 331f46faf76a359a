//! The runner every target shares: proptest's `TestRunner` in seeded batches, panics
//! caught and counted, the time budget, and what counts as a clear error.

use std::cell::Cell;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// Cases per `TestRunner` run: the time budget is checked between batches, and each batch
/// has its own seed (derived from the run's seed, the target and the batch number).
const BATCH: u32 = 1000;

/// What one generated input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The parser or validator accepted it.
    Accepted,
    /// It was rejected with a clear error.
    Rejected,
}

/// How much one target may do.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub cases: u32,
    pub deadline: Instant,
    pub seed: u64,
}

/// What one target did.
#[derive(Debug, Default)]
pub struct Report {
    pub cases: u32,
    pub planned: u32,
    pub accepted: u32,
    pub rejected: u32,
    pub panics: u32,
    pub elapsed: Duration,
    pub out_of_time: bool,
    /// The reason and the minimal failing input, after shrinking.
    pub failure: Option<(String, String)>,
}

/// The message of the last panic on this process, with its location (set by [`quiet_panics`]).
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook with one that records the message instead of printing it:
/// shrinking re-runs a panicking input many times.
pub fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *LAST_PANIC
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(format!("{message}{location}"));
    }));
}

fn last_panic() -> String {
    LAST_PANIC
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .unwrap_or_else(|| "(unknown)".to_string())
}

/// Runs `check` over inputs from `strategy` until `plan.cases` have run or the deadline
/// passes. `check` returns `Err(reason)` for an unclear error; a panic is caught. The first
/// failure is shrunk to a minimal input and ends the target; `show` renders that input.
pub fn run<S, C>(
    name: &str,
    strategy: S,
    check: C,
    show: fn(&S::Value) -> String,
    plan: Plan,
) -> Report
where
    S: Strategy,
    S::Value: Debug,
    C: Fn(&S::Value) -> Result<Outcome, String>,
{
    let started = Instant::now();
    let mut report = Report {
        planned: plan.cases,
        ..Report::default()
    };
    let accepted = Cell::new(0u32);
    let rejected = Cell::new(0u32);
    let panics = Cell::new(0u32);
    let mut batch_index = 0u64;
    while report.cases < plan.cases {
        if Instant::now() >= plan.deadline {
            report.out_of_time = true;
            break;
        }
        let batch = BATCH.min(plan.cases - report.cases);
        let config = Config {
            cases: batch,
            failure_persistence: None,
            // Shrinking is bounded too: a failure is reported within seconds.
            max_shrink_time: 30_000,
            max_shrink_iters: 10_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng(plan.seed, name, batch_index));
        batch_index += 1;
        let result = runner.run(&strategy, |value| {
            match panic::catch_unwind(AssertUnwindSafe(|| check(&value))) {
                Ok(Ok(Outcome::Accepted)) => accepted.set(accepted.get() + 1),
                Ok(Ok(Outcome::Rejected)) => rejected.set(rejected.get() + 1),
                Ok(Err(reason)) => {
                    return Err(TestCaseError::fail(format!("unclear error: {reason}")));
                }
                Err(_) => {
                    panics.set(panics.get() + 1);
                    return Err(TestCaseError::fail(format!("panic: {}", last_panic())));
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => report.cases += batch,
            Err(TestError::Fail(reason, value)) => {
                report.failure = Some((reason.to_string(), show(&value)));
                break;
            }
            Err(TestError::Abort(reason)) => {
                report.failure = Some((format!("proptest aborted: {reason}"), String::new()));
                break;
            }
        }
    }
    // Shrinking re-runs inputs: the counts are exact only when nothing failed.
    report.accepted = accepted.get();
    report.rejected = rejected.get();
    report.panics = panics.get().min(1);
    report.elapsed = started.elapsed();
    report
}

/// A batch's random generator: the same seed, target and batch give the same inputs.
fn rng(seed: u64, name: &str, batch: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&batch.to_le_bytes());
    for (i, b) in name.bytes().take(16).enumerate() {
        bytes[16 + i] = b;
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Rust type names that must never reach a user: serde's wording for our types.
const RUST_WORDS: &[&str] = &[
    "struct ", "enum ", "Raw", "u32", "u64", "usize", "i64", "f64", "IndexMap", "Vec<", "Option<",
];

/// Why `message` is not a clear error for `input`, if it is not: empty, a Rust type name
/// (unless the input itself wrote it), or a raw control character.
pub fn unclear(message: &str, input: &str) -> Option<String> {
    unclear_for(message, || input.to_string())
}

/// [`unclear`] with the input rendered only when the message holds a Rust word (rendering
/// a guest's huge answer for every case would cost more than the check).
pub fn unclear_for(message: &str, input: impl FnOnce() -> String) -> Option<String> {
    if message.trim().is_empty() {
        return Some("the error message is empty".into());
    }
    let mut input = Some(input);
    let mut rendered = String::new();
    if let Some(word) = RUST_WORDS.iter().find(|word| {
        message.contains(*word) && {
            if let Some(render) = input.take() {
                rendered = render();
            }
            !rendered.contains(*word)
        }
    }) {
        return Some(format!(
            "the message names a Rust type (`{}`): {message}",
            word.trim()
        ));
    }
    if message
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Some(format!(
            "the message holds a raw control character: {message:?}"
        ));
    }
    None
}

/// Like [`unclear_for`], and the message is short enough to read (it does not echo a huge
/// input whole).
pub fn unclear_short(
    message: &str,
    input: impl FnOnce() -> String,
    max_bytes: usize,
) -> Option<String> {
    if message.len() > max_bytes {
        let head: String = message.chars().take(160).collect();
        return Some(format!(
            "the message is {} bytes (more than {max_bytes}): {head}...",
            message.len()
        ));
    }
    unclear_for(message, input)
}
