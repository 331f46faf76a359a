//! What watches a run while its phases go: the availability probes and the abort alerts, each a task of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use firedrill_core::config::{Config, Drill};
use firedrill_core::measure::AbortWindow;
use parking_lot::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::ports::{AlertSource, ProbeTarget, Prober};

/// The probers of a run's targets, and which target is the run's own (where services
/// that name none are probed).
pub(super) struct Probers<'a> {
    pub run_target: &'a str,
    pub by_target: BTreeMap<String, Arc<dyn Prober>>,
}

/// The probe and alert tasks of one run; [`Watchers::stop`] ends them.
pub(super) struct Watchers {
    stop: CancellationToken,
    probes: JoinHandle<()>,
    alerts: Option<JoinHandle<()>>,
}

impl Watchers {
    /// Starts probing every probed service at the configuration's cadence and, when abort
    /// alerts are configured and a source given, checking them. Either may cancel `cancel`
    /// (recording its reason in `shared`). Probe results are timed from `run_started`.
    pub(super) fn start(
        config: &Config,
        drill: &Drill,
        probers: Probers<'_>,
        alerts: Option<Arc<dyn AlertSource>>,
        shared: &Arc<Mutex<Shared>>,
        cancel: &CancellationToken,
        run_started: Instant,
    ) -> Self {
        let stop = CancellationToken::new();
        // Each service is probed through its own target; one on a target this run does
        // not use is not probed.
        let targets = probe_targets(config)
            .into_iter()
            .filter_map(|target| {
                let on = config
                    .services
                    .get(&target.service)
                    .and_then(|service| service.target.as_deref())
                    .unwrap_or(probers.run_target);
                probers
                    .by_target
                    .get(on)
                    .map(|prober| (prober.clone(), target))
            })
            .collect();
        let probing = ProbeLoop {
            targets,
            expect_down: drill.expect_down.clone(),
            run_started,
            interval: config.probing.interval,
            timeout: config.probing.timeout,
            window: AbortWindow::new(
                config.abort.availability_window,
                config.abort.availability_floor,
            ),
        };
        let probes = tokio::spawn(probing.run(shared.clone(), cancel.clone(), stop.clone()));
        let alerts = match (alerts, &config.abort.alerts) {
            (Some(source), Some(abort)) => Some(tokio::spawn(
                AlertLoop {
                    source,
                    names: abort.names.clone(),
                    interval: abort.interval,
                }
                .run(shared.clone(), cancel.clone(), stop.clone()),
            )),
            _ => None,
        };
        Self {
            stop,
            probes,
            alerts,
        }
    }

    /// Stops both tasks and waits for them: the availability tally is final after this.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let _ = self.probes.await;
        if let Some(task) = self.alerts {
            let _ = task.await;
        }
    }
}

/// Every probe of every probed service in the configuration.
pub fn probe_targets(config: &Config) -> Vec<ProbeTarget> {
    config
        .services
        .values()
        .flat_map(|service| {
            service.probes.iter().map(|probe| ProbeTarget {
                service: service.name.clone(),
                probe: probe.clone(),
            })
        })
        .collect()
}

/// Probes every target at a fixed cadence; a breach of the abort window records its
/// reason and cancels the run.
struct ProbeLoop {
    /// Each probe with the prober of its service's target.
    targets: Vec<(Arc<dyn Prober>, ProbeTarget)>,
    /// Services taken down on purpose: recorded, never a reason to abort.
    expect_down: Vec<String>,
    /// Where the record's probe series start.
    run_started: Instant,
    interval: Duration,
    timeout: Duration,
    window: AbortWindow,
}

impl ProbeLoop {
    async fn run(
        mut self,
        shared: Arc<Mutex<Shared>>,
        cancel: CancellationToken,
        stop: CancellationToken,
    ) {
        if self.targets.is_empty() {
            return;
        }
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let sent = tokio::select! {
                sent = ticker.tick() => sent,
                () = stop.cancelled() => return,
            };
            let since_start = sent.saturating_duration_since(self.run_started);
            let phase = shared.lock().phase.clone();
            let results = futures::future::join_all(self.targets.iter().map(|(prober, target)| {
                let timeout = self.timeout;
                async move { (target, prober.probe(target, timeout).await) }
            }))
            .await;
            let mut state = shared.lock();
            for (target, outcome) in results {
                state.tracker.record(
                    &target.service,
                    phase.as_deref(),
                    outcome.ok,
                    outcome.latency,
                    outcome.failure.as_deref(),
                );
                state
                    .series
                    .record(&target.service, since_start, outcome.ok, outcome.latency);
                if self.expect_down.contains(&target.service) {
                    continue;
                }
                if let Some(breach) = self.window.record(&target.service, outcome.ok)
                    && state.abort_reason.is_none()
                {
                    state.abort_reason = Some(breach.describe());
                    cancel.cancel();
                }
            }
        }
    }
}

/// Checks the abort alerts at their interval; the first configured alert seen firing
/// records its reason and cancels the run. A monitoring system that cannot be reached is
/// logged, not treated as an alert: the availability probes still guard the run.
struct AlertLoop {
    source: Arc<dyn AlertSource>,
    names: Vec<String>,
    interval: Duration,
}

impl AlertLoop {
    async fn run(
        self,
        shared: Arc<Mutex<Shared>>,
        cancel: CancellationToken,
        stop: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            match self.source.firing().await {
                Ok(firing) => {
                    if let Some(alert) = firing.iter().find(|name| self.names.contains(name)) {
                        let mut state = shared.lock();
                        if state.abort_reason.is_none() {
                            state.abort_reason = Some(format!("alert {alert} is firing"));
                        }
                        drop(state);
                        cancel.cancel();
                        return;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "Could not read firing alerts; the drill goes on guarded by its probes");
                }
            }
        }
    }
}
