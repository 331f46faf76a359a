//! `firedrill serve`: every drill on its schedule, the HTTP API and /metrics, the mail outbox.
//!
//! Tasks: the scheduler (wakes at each drill's next slot and queues what [`decide`] says is
//! due), the runner (runs queued drills one at a time: never two drills at once), the
//! outbox (delivers report emails with backoff), and the API. The instant up to which each
//! drill's slots were handled is kept in the store, so slots that pass while the daemon is
//! down are seen, and skipped or caught up per policy, when it comes back. A slot queued
//! behind a running drill counts as handled only once its run starts ([`SlotBook`]): a
//! leader that dies before then leaves it to the next one.
//! SIGINT/SIGTERM: the current phase is rolled back, the run recorded, then everything stops.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use firedrill_core::config::Config;
use firedrill_core::run::{RunRecord, Trigger};
use firedrill_core::scheduler::{Decision, SkipReason, decide, next_wake};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::api::{AppState, RunJob, Running, router};
use crate::app::live::LiveConfig;
use crate::app::publish::publish;
use crate::app::recovery::{Sessions, recover as recover_runs};
use crate::app::session::{config_sha256, engine_for, open};
use crate::app::store::StoreAt;
use crate::election::LeaseElector;
use crate::engine::RunRequest;
use crate::exit::{CommandError, Exit};
use crate::metrics::Metrics;

mod slots;
pub use slots::SlotBook;

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

/// How far each drill's slots were handled, from the store. A store that cannot be read
/// is reported and taken as empty: each drill's schedule then starts afresh from now.
fn load_handled(store: &StoreAt) -> BTreeMap<String, DateTime<Utc>> {
    match store.with(|opened| opened.handled_slots()) {
        Ok(handled) => handled,
        Err(err) => {
            tracing::error!(store = %store.describe(), error = %crate::exit::error_chain(&err), "Could not read the scheduler state; slots missed while the daemon was down cannot be seen");
            BTreeMap::new()
        }
    }
}

/// `firedrill serve`.
pub async fn run(config_path: &Path) -> Result<Exit, CommandError> {
    let config = Arc::new(crate::load_config(config_path)?);
    let (live_tx, live) = watch::channel(LiveConfig {
        config: config.clone(),
        sha256: config_sha256(config_path),
    });
    std::fs::create_dir_all(&config.storage_path).map_err(|source| CommandError::Io {
        path: config.storage_path.display().to_string(),
        source,
    })?;
    let token = config
        .api
        .token
        .as_ref()
        .map(|secret| {
            firedrill_notify::resolve_secret(secret)
                .map_err(|err| usage(format!("api.token: {err}")))
        })
        .transpose()?;
    let viewer_token = config
        .api
        .viewer_token
        .as_ref()
        .map(|secret| {
            firedrill_notify::resolve_secret(secret)
                .map_err(|err| usage(format!("api.viewer_token: {err}")))
        })
        .transpose()?;
    let metrics = Metrics::new().map_err(|err| usage(format!("cannot set up metrics: {err}")))?;
    let store = StoreAt::of(&config);
    // Counters start at zero for every drill and result, so the first failure is an increase.
    metrics.register_drills(&config);
    if store.may_hold_runs() {
        let at = store.clone();
        let runs = tokio::task::spawn_blocking(move || at.with(|opened| opened.runs()))
            .await
            .map_err(|err| usage(format!("cannot read the run store: {err}")))??;
        for stored in runs {
            metrics.observe_run(&stored.entry.run);
        }
    }
    metrics.refresh_schedule(&config, Utc::now());

    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            crate::app::signals::shutdown_signal().await;
            tracing::warn!(
                "Shutting down: the drill in progress is rolled back and recorded first"
            );
            shutdown.cancel();
        });
    }

    let (jobs_tx, jobs_rx) = tokio::sync::mpsc::unbounded_channel::<RunJob>();
    let running: Arc<Mutex<Option<Running>>> = Arc::new(Mutex::new(None));
    let ready = Arc::new(AtomicBool::new(false));
    // Without election this replica leads; with it, the Lease decides.
    let (leading_tx, leading) = watch::channel(config.leader_election.is_none());
    let state = AppState {
        config: live.clone(),
        metrics: metrics.clone(),
        store: store.clone(),
        renderer: Arc::new(crate::app::render::renderer(&config)?),
        token,
        jobs: jobs_tx.clone(),
        running: running.clone(),
        ready: ready.clone(),
        leading: leading.clone(),
        console: crate::api::console::Console::new(viewer_token).map_err(|err| {
            usage(format!(
                "cannot set up the web console: {}",
                crate::exit::error_chain(&err)
            ))
        })?,
    };
    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|source| CommandError::Io {
            path: format!("listen on {}", config.api.listen),
            source,
        })?;
    let address = listener.local_addr().map_err(|source| CommandError::Io {
        path: "listener address".into(),
        source,
    })?;
    eprintln!("firedrill serving on http://{address} (web console, API, /metrics)");
    let server = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router(state))
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
        })
    };

    // One session (sandbox or cluster connection) per target drills use.
    let sessions: Arc<tokio::sync::Mutex<Sessions>> = Arc::default();
    let mut targets: Vec<String> = config
        .drills
        .iter()
        .flat_map(|d| {
            std::iter::once(d.target.clone())
                .chain(d.other_targets(&d.target).into_iter().map(str::to_string))
        })
        .collect();
    targets.push(config.default_target.clone());
    targets.sort();
    targets.dedup();
    for target in &targets {
        let session = open(&config, target).await?;
        sessions.lock().await.insert(target.clone(), session);
    }
    // Without election the sender lives here for the whole run, so `changed()` never
    // reports a closed channel.
    let mut _always_leading = None;
    let election = match &config.leader_election {
        Some(settings) => {
            let client = sessions
                .lock()
                .await
                .get(&config.default_target)
                .map(|s| s.cluster.client().clone())
                .ok_or_else(|| usage("the default target is not reachable for leader election"))?;
            let identity = crate::election::identity();
            eprintln!(
                "Campaigning for lease {}/{} as {identity}",
                settings.namespace, settings.lease
            );
            let elector = LeaseElector::new(
                client,
                &settings.namespace,
                &settings.lease,
                identity,
                settings.duration,
            );
            Some(tokio::spawn(crate::election::run(
                elector,
                leading_tx,
                shutdown.clone(),
            )))
        }
        None => {
            _always_leading = Some(leading_tx);
            None
        }
    };
    ready.store(true, Ordering::SeqCst);

    let reloader = tokio::spawn(reload(config_path.to_path_buf(), live_tx, shutdown.clone()));
    let mail_wake = Arc::new(tokio::sync::Notify::new());
    let daemon = Daemon {
        live: live.clone(),
        metrics: metrics.clone(),
        leading,
        shutdown: shutdown.clone(),
        mail_wake: mail_wake.clone(),
        slots: Arc::default(),
    };
    let runner = tokio::spawn(runner(
        daemon.clone(),
        store.clone(),
        sessions.clone(),
        jobs_rx,
        running.clone(),
    ));
    let scheduler = tokio::spawn(schedule_loop(
        daemon,
        store.clone(),
        jobs_tx,
        Timing::wall(),
    ));
    let outbox = tokio::spawn(outbox(
        live.clone(),
        metrics.clone(),
        mail_wake.clone(),
        shutdown.clone(),
    ));

    shutdown.cancelled().await;
    // Abort the drill in progress: the engine rolls back and the runner records it.
    let current = running.lock().clone();
    if let Some(current) = current {
        current.cancel.cancel();
    }
    let _ = scheduler.await;
    let _ = runner.await;
    let _ = outbox.await;
    let _ = server.await;
    let _ = reloader.await;
    if let Some(election) = election {
        let _ = election.await;
    }
    Ok(Exit::Success)
}

/// How long a daemon waits before trying again to roll back runs that stay owed.
const OWED_RETRY: Duration = Duration::from_secs(60);

/// Rolls back and records the runs a previous leader (or process) left unfinished, each
/// on the cluster it ran on; returns how many stay owed (logged as errors and exported as
/// `firedrill_runs_owing_rollback`).
async fn recover(config: &Config, sessions: &mut Sessions, metrics: &Metrics) -> usize {
    match recover_runs(config, sessions, None).await {
        Ok(pass) => {
            for (record, _) in &pass.recovered {
                tracing::warn!(run = %record.id, target = %record.target, "Recovered an interrupted run: rolled back on the cluster it ran on");
                metrics.observe_run(record);
            }
            for owed in &pass.owed {
                tracing::error!(run = %owed.run.id, target = owed.run.target.as_deref().unwrap_or("not recorded"), reason = %owed.reason, "An interrupted run still owes its rollback; its cluster may be as the fault left it (retried every {} s, or run `firedrill recover`)", OWED_RETRY.as_secs());
            }
            metrics.set_runs_owing_rollback(pass.owed.len());
            pass.owed.len()
        }
        Err(err) => {
            tracing::error!(error = %err, "Could not recover interrupted runs; clusters may need `firedrill recover`");
            1
        }
    }
}

/// What `serve`'s loops share (like a kube-rs controller's `Context`): the configuration
/// in force, the metrics, whether this replica leads, and the shutdown signal.
#[derive(Clone)]
pub struct Daemon {
    pub live: watch::Receiver<LiveConfig>,
    pub metrics: Metrics,
    pub leading: watch::Receiver<bool>,
    pub shutdown: CancellationToken,
    /// Wakes the outbox loop (a run was just recorded, its email is queued).
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// The scheduler's handled and queued slots, which the runner starts.
    pub slots: Arc<SlotBook>,
}

async fn runner(
    daemon: Daemon,
    store: StoreAt,
    sessions: Arc<tokio::sync::Mutex<Sessions>>,
    mut jobs: tokio::sync::mpsc::UnboundedReceiver<RunJob>,
    running: Arc<Mutex<Option<Running>>>,
) {
    let Daemon {
        live,
        metrics,
        mut leading,
        shutdown,
        mail_wake,
        slots,
    } = daemon;
    let mut recovered = false;
    let mut owed = 0;
    loop {
        let LiveConfig {
            config,
            sha256: config_sha,
        } = live.borrow().clone();
        // A new leader first pays what the previous one owed.
        if *leading.borrow() && !recovered {
            owed = recover(&config, &mut *sessions.lock().await, &metrics).await;
            recovered = true;
            // A recovered run was recorded with its email queued: send it now, not at
            // the outbox's next pass.
            mail_wake.notify_one();
        }
        let job = tokio::select! {
            job = jobs.recv() => match job { Some(job) => job, None => return },
            // Runs still owed are tried again until they are paid.
            () = tokio::time::sleep(OWED_RETRY), if owed > 0 => {
                recovered = false;
                continue;
            }
            changed = leading.changed() => {
                if changed.is_err() {
                    return;
                }
                if !*leading.borrow() {
                    recovered = false;
                }
                continue;
            }
            () = shutdown.cancelled() => return,
        };
        if !*leading.borrow() {
            tracing::warn!(drill = %job.drill, "Not the leader: run not started");
            continue;
        }
        // A scheduled slot is handled once its run starts; one no longer queued here
        // belongs to whoever leads now.
        if let (Trigger::Schedule { .. } | Trigger::CatchUp { .. }, Some(slot)) =
            (&job.trigger, job.scheduled_for)
        {
            if !slots.start(&job.drill, slot) {
                tracing::warn!(drill = %job.drill, %slot, "Slot no longer queued on this replica (the lead changed since): run not started");
                continue;
            }
            let (book, at) = (slots.clone(), store.clone());
            let _ = tokio::task::spawn_blocking(move || book.save(&at)).await;
        }
        let Some(drill) = config.drill(&job.drill) else {
            continue;
        };
        let mut sessions = sessions.lock().await;
        let others = drill.other_targets(&drill.target);
        let engine = match engine_for(&config, &mut sessions, &drill.target, &others).await {
            Ok(engine) => engine,
            Err(err) => {
                tracing::error!(drill = %drill.name, target = %drill.target, error = %err, "Cannot reach a target of the drill; the run did not start");
                continue;
            }
        };
        let cancel = CancellationToken::new();
        let (progress, mut events) = tokio::sync::mpsc::unbounded_channel();
        {
            // Which phase runs, for the dashboard's annotations. Every PhaseStarted is
            // followed by its PhaseFinished, so the gauge is back at 0 when the run ends.
            let (metrics, drill) = (metrics.clone(), drill.name.clone());
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    metrics.observe_progress(&drill, &event);
                }
            });
        }
        let request = RunRequest::new(
            &drill.name,
            job.trigger.clone(),
            job.scheduled_for,
            config_sha.clone(),
        );
        *running.lock() = Some(Running {
            run_id: request.run_id.clone(),
            cancel: cancel.clone(),
        });
        tracing::info!(drill = %drill.name, trigger = ?job.trigger, "Drill started");
        // The `started` webhooks go out on their own task: never in the drill's way.
        let _announced = crate::app::outbox::announce_start(
            &config,
            RunRecord::begun(
                request.run_id.clone(),
                drill.name.clone(),
                drill.target.clone(),
                job.trigger.clone(),
                Utc::now(),
            ),
        );
        let record = engine.run(&config, request, cancel, Some(progress)).await;
        *running.lock() = None;
        metrics.observe_run(&record);
        tracing::info!(drill = %drill.name, run = %record.id, outcome = record.outcome.label(), "Drill finished");
        record_until_stored(&config, &record, &shutdown).await;
        mail_wake.notify_one();
    }
}

/// Records a finished run, trying again while its store is unreachable: the record is
/// held here, so a drill that ended during a store outage is stored with its own outcome
/// when the store is back (no drill starts meanwhile; each needs its journal). At shutdown
/// one last try: a record still not stored is logged in full, and the next recovery
/// records the run `interrupted`.
async fn record_until_stored(config: &Config, record: &RunRecord, shutdown: &CancellationToken) {
    let mut wait = Duration::from_secs(1);
    loop {
        let err = match publish(config, record).await {
            Ok(_) => return,
            Err(err) => err,
        };
        if shutdown.is_cancelled() {
            let json = serde_json::to_string(record).unwrap_or_default();
            tracing::error!(run = %record.id, error = %err, record = %json, "Could not record the run before shutting down; the next recovery records it interrupted (its record as finished is in this line)");
            return;
        }
        tracing::error!(run = %record.id, error = %err, retry_in_s = wait.as_secs(), "Could not record the run; trying again");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => {}
        }
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// The scheduler's sense of time: the wall clock in production; tests pass one that
/// follows tokio's paused clock so weeks pass in milliseconds.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The scheduler's timing: what "now" is, and the longest it sleeps between passes (it
/// refreshes the overdue flags at least that often).
#[derive(Clone)]
pub struct Timing {
    pub clock: Clock,
    pub max_sleep: Duration,
}

impl Timing {
    fn wall() -> Self {
        Self {
            clock: Arc::new(Utc::now),
            max_sleep: Duration::from_secs(60),
        }
    }
}

/// The scheduler loop: wakes at each drill's next slot (or after `timing.max_sleep`),
/// queues what [`decide`] says is due and records how far slots were handled.
pub async fn schedule_loop(
    daemon: Daemon,
    store: StoreAt,
    jobs: tokio::sync::mpsc::UnboundedSender<RunJob>,
    timing: Timing,
) {
    let Daemon {
        mut live,
        metrics,
        mut leading,
        shutdown,
        slots,
        ..
    } = daemon;
    let now_fn = timing.clock.clone();
    let mut fresh = true;
    loop {
        // Only the leader schedules; it takes up the handled slots where the previous
        // leader (sharing the storage) left them.
        while !*leading.borrow() {
            fresh = true;
            let config = live.borrow().config.clone();
            metrics.refresh_schedule(&config, now_fn());
            tokio::select! {
                changed = leading.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(timing.max_sleep) => {}
                () = shutdown.cancelled() => return,
            }
        }
        let config = live.borrow_and_update().config.clone();
        if fresh {
            let at = store.clone();
            let handled = tokio::task::spawn_blocking(move || load_handled(&at))
                .await
                .unwrap_or_default();
            slots.reset(handled);
            fresh = false;
        }
        let now = now_fn();
        for drill in &config.drills {
            let Some(schedule) = &drill.schedule else {
                continue;
            };
            let previous = slots.handled(&drill.name);
            for decision in decide(schedule, previous, now) {
                match decision {
                    Decision::Run { slot } => {
                        tracing::info!(drill = %drill.name, %slot, "Drill due");
                        slots.queue(&drill.name, slot);
                        let _ = jobs.send(RunJob {
                            drill: drill.name.clone(),
                            trigger: Trigger::Schedule { slot },
                            scheduled_for: Some(slot),
                        });
                    }
                    Decision::CatchUp { missed } => {
                        tracing::warn!(drill = %drill.name, missed = missed.len(), "Running once for slots missed while the daemon was down");
                        if let Some(last) = missed.last() {
                            slots.queue(&drill.name, *last);
                        }
                        let _ = jobs.send(RunJob {
                            drill: drill.name.clone(),
                            scheduled_for: missed.last().copied(),
                            trigger: Trigger::CatchUp {
                                missed_slots: missed,
                            },
                        });
                    }
                    Decision::Skip { slot, reason } => match reason {
                        SkipReason::Blackout(why) => {
                            tracing::info!(drill = %drill.name, %slot, reason = %why, "Slot skipped: blackout");
                        }
                        SkipReason::Missed => {
                            tracing::warn!(drill = %drill.name, %slot, "Slot missed while the daemon was down");
                        }
                    },
                }
            }
            slots.mark(&drill.name, now);
        }
        let (book, at) = (slots.clone(), store.clone());
        if let Err(err) = tokio::task::spawn_blocking(move || book.save(&at)).await {
            tracing::error!(error = %err, "Could not save the scheduler state");
        }
        metrics.refresh_schedule(&config, now);
        let wake = config
            .drills
            .iter()
            .filter_map(|d| d.schedule.as_ref().and_then(|s| next_wake(s, now)))
            .min();
        // Wake at the next slot, and at least every minute to refresh the overdue flags.
        let sleep = wake
            .and_then(|at| (at - now).to_std().ok())
            .unwrap_or(timing.max_sleep)
            .min(timing.max_sleep);
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            _ = leading.changed() => {}
            _ = live.changed() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Delivers the outbox (emails, webhooks, Grafana annotations) every 30 s, and at once
/// when `wake` is notified (a run was just recorded).
async fn outbox(
    live: watch::Receiver<LiveConfig>,
    metrics: Metrics,
    wake: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    loop {
        // The configuration in force: a webhook added by a reload is delivered at once
        // (its URL, headers and token are read from here at each attempt).
        let config = live.borrow().config.clone();
        match crate::app::outbox::deliver(&config).await {
            Ok(pass) => {
                match pass.mail {
                    Some(Ok(mail)) => {
                        for (run, error) in &mail.failed {
                            tracing::warn!(%run, %error, "Report email not delivered yet; it stays in the outbox");
                        }
                        metrics.set_outbox_depth(mail.waiting);
                    }
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "Email outbox pass failed; messages stay queued");
                    }
                    None => {}
                }
                match pass.pushes {
                    Some(Ok(pushes)) => {
                        for (push, error) in &pushes.failed {
                            tracing::warn!(%push, %error, "Webhook or annotation not delivered yet; it stays in the outbox");
                        }
                        metrics.set_push_outbox_depth(pushes.waiting);
                    }
                    Some(Err(err)) => {
                        tracing::warn!(error = %err, "Push outbox pass failed; messages stay queued");
                    }
                    None => {}
                }
            }
            Err(err) => tracing::warn!(error = %err, "Outbox pass failed; messages stay queued"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
            () = wake.notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Reloads the configuration on SIGHUP and when the file changes. A new file that does
/// not validate is rejected with its diagnostics and the running configuration stays;
/// the schedule state (in the store) is untouched either way. Storage, targets and the
/// API address are read at start: changing them needs a restart.
async fn reload(path: PathBuf, live: watch::Sender<LiveConfig>, shutdown: CancellationToken) {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen = modified(&path);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hup = async {
            match hangup.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<()>();
        let signalled = tokio::select! {
            () = hup => true,
            () = tokio::time::sleep(Duration::from_secs(2)) => false,
            () = shutdown.cancelled() => return,
        };
        let now_modified = modified(&path);
        if !signalled && now_modified == seen {
            continue;
        }
        seen = now_modified;
        match crate::load_config(&path) {
            Ok(config) => {
                let old = live.borrow().config.clone();
                if config.storage_path != old.storage_path
                    || config.api.listen != old.api.listen
                    || config.targets != old.targets
                {
                    tracing::warn!(
                        "Storage, targets and the API address change only at the next start"
                    );
                }
                let drills = config.drills.len();
                let _ = live.send(LiveConfig {
                    config: Arc::new(config),
                    sha256: config_sha256(&path),
                });
                tracing::info!(file = %path.display(), drills, "Configuration reloaded");
            }
            Err(err) => {
                tracing::error!(file = %path.display(), "Configuration change rejected; the running configuration stays:\n{err}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
