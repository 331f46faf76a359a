//! PromQL checks during a run: the steady state before anything is injected, each phase's
//! checks at their cadence while it runs (a violation of an `abort` check stops the drill),
//! and the verification checks after recovery (retried for up to `within`).
//!
//! Every evaluation becomes a [`CheckResult`] in the record; what counts against a phase
//! or the drill is [`firedrill_core::check::summaries`]'s rule.

use std::sync::Arc;

use firedrill_core::check::{expand_range, judge, summaries};
use firedrill_core::config::{Check, Config};
use firedrill_core::run::{CheckResult, CheckStage, CheckVerdict, PhaseVerdict};
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ports::MetricsSource;
use super::{Clock, Shared};

/// The checks named in `names`, in order, without repeats (a name the configuration does
/// not define is skipped: resolution already refused it).
pub(super) fn named<'a>(
    config: &Config,
    names: impl IntoIterator<Item = &'a String>,
) -> Vec<Check> {
    let mut seen = std::collections::BTreeSet::new();
    names
        .into_iter()
        .filter(|name| seen.insert(name.as_str()))
        .filter_map(|name| config.checks.get(name.as_str()).cloned())
        .collect()
}

/// Evaluates `check` once, now; `since` is where `$__range` starts.
async fn evaluate(
    source: &dyn MetricsSource,
    check: &Check,
    stage: CheckStage,
    phase: Option<&str>,
    since: Instant,
    clock: Clock,
) -> CheckResult {
    let now = Instant::now();
    let at = clock.wall_at(now);
    let query = expand_range(&check.query, now.saturating_duration_since(since));
    let (verdict, value, series, message) = match source.query(&query, at).await {
        Ok(samples) => {
            let judged = judge(&check.expect, &samples);
            (judged.verdict, judged.value, judged.series, judged.message)
        }
        Err(err) => (
            CheckVerdict::Error,
            None,
            None,
            format!("Prometheus did not answer: {}", err.0),
        ),
    };
    CheckResult {
        check: check.name.clone(),
        stage,
        phase: phase.map(str::to_string),
        query,
        expect: check.expect.to_string(),
        value,
        series,
        at,
        verdict,
        message,
    }
}

/// Evaluates each check once (the steady state), concurrently.
pub(super) async fn once(
    source: &dyn MetricsSource,
    checks: &[Check],
    stage: CheckStage,
    since: Instant,
    clock: Clock,
) -> Vec<CheckResult> {
    futures::future::join_all(
        checks
            .iter()
            .map(|check| evaluate(source, check, stage, None, since, clock)),
    )
    .await
}

/// Evaluates each check until it passes or its `within` has gone by (once when it has
/// none), concurrently; stops early when `cancel` fires.
pub(super) async fn until_passing(
    source: &dyn MetricsSource,
    checks: &[Check],
    phase: Option<&str>,
    since: Instant,
    clock: Clock,
    cancel: &CancellationToken,
) -> Vec<CheckResult> {
    let runs = checks.iter().map(|check| async move {
        let start = Instant::now();
        let mut results = Vec::new();
        loop {
            let result = evaluate(source, check, CheckStage::After, phase, since, clock).await;
            let passed = result.verdict == CheckVerdict::Pass;
            results.push(result);
            let left = check.within.saturating_sub(start.elapsed());
            if passed || left.is_zero() {
                return results;
            }
            tokio::select! {
                () = tokio::time::sleep(check.every.min(left)) => {}
                () = cancel.cancelled() => return results,
            }
        }
    });
    futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// A phase's `during` checks, each evaluated at its own cadence (the first at once) from
/// the phase's start until [`DuringChecks::stop`].
pub(super) struct DuringChecks {
    stop: CancellationToken,
    task: JoinHandle<Vec<CheckResult>>,
}

impl DuringChecks {
    /// Starts the loop. A failed or no-data evaluation of a check with `abort` records the
    /// reason in `shared` and cancels the run, like the availability floor; an unanswered
    /// query never aborts (the probes still guard the run).
    pub(super) fn start(
        source: Arc<dyn MetricsSource>,
        checks: Vec<Check>,
        phase: String,
        clock: Clock,
        shared: Arc<Mutex<Shared>>,
        cancel: CancellationToken,
    ) -> Self {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let since = Instant::now();
            let mut due: Vec<Instant> = vec![since; checks.len()];
            let mut results = Vec::new();
            loop {
                let Some(next) = due.iter().min().copied() else {
                    return results;
                };
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = stopped.cancelled() => return results,
                }
                let now = Instant::now();
                for (i, check) in checks.iter().enumerate() {
                    if due[i] > now {
                        continue;
                    }
                    due[i] = now + check.every;
                    let result = evaluate(
                        source.as_ref(),
                        check,
                        CheckStage::During,
                        Some(&phase),
                        since,
                        clock,
                    )
                    .await;
                    let violated =
                        matches!(result.verdict, CheckVerdict::Fail | CheckVerdict::NoData);
                    if violated && check.abort {
                        let mut state = shared.lock();
                        if state.abort_reason.is_none() {
                            state.abort_reason =
                                Some(format!("check {} failed: {}", check.name, result.message));
                        }
                        drop(state);
                        cancel.cancel();
                    }
                    results.push(result);
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the loop and returns every evaluation it made.
    pub(super) async fn stop(self) -> Vec<CheckResult> {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// Why `results` count against what they checked: one line per check that did not hold
/// (see [`firedrill_core::check::summaries`]), empty when all held.
pub(super) fn shortfalls(results: &[CheckResult]) -> Vec<String> {
    summaries(results)
        .iter()
        .filter(|summary| !summary.held)
        .map(|summary| summary.describe())
        .collect()
}

/// A phase verdict with its checks' shortfalls added: a passed phase fails; a failed one
/// gains the reasons; one that did not recover stays as it was.
pub(super) fn with_shortfalls(verdict: PhaseVerdict, shortfalls: Vec<String>) -> PhaseVerdict {
    if shortfalls.is_empty() {
        return verdict;
    }
    match verdict {
        PhaseVerdict::Passed => PhaseVerdict::Failed {
            reasons: shortfalls,
        },
        PhaseVerdict::Failed { mut reasons } => {
            reasons.extend(shortfalls);
            PhaseVerdict::Failed { reasons }
        }
        other => other,
    }
}
