//! Engine behaviour with fake scenarios, probes and journal, on tokio's paused clock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use firedrill_core::config::Canary;
use firedrill_core::run::{ClockStart, ClockStop};

use super::ports::*;
use super::*;

/// A scenario that recovers `recover_after` after `inject`, or never.
struct FakeScenario {
    recover_after: Option<Duration>,
    /// How long each `verify` call takes.
    verify_cost: Duration,
    injected_at: Mutex<Option<Instant>>,
    rollbacks: AtomicU32,
    verify_calls: AtomicU32,
    /// How long `inject` takes from its first effect to its return.
    inject_takes: Duration,
}

impl FakeScenario {
    fn new(recover_after: Option<Duration>) -> Arc<Self> {
        Self::slow(recover_after, Duration::ZERO)
    }

    fn slow(recover_after: Option<Duration>, verify_cost: Duration) -> Arc<Self> {
        Arc::new(Self {
            recover_after,
            verify_cost,
            injected_at: Mutex::new(None),
            rollbacks: AtomicU32::new(0),
            verify_calls: AtomicU32::new(0),
            inject_takes: Duration::ZERO,
        })
    }
}

#[async_trait]
impl Scenario for FakeScenario {
    async fn plan(&self, ctx: &PhaseContext) -> Result<Vec<PlannedAction>, ScenarioError> {
        Ok(ctx
            .services
            .iter()
            .map(|s| PlannedAction {
                kind: "delete-pod".into(),
                target: format!("one pod of {}", s.name),
                detail: "force delete".into(),
            })
            .collect())
    }
    async fn inject(&self, _: &PhaseContext) -> Result<Injected, ScenarioError> {
        let first = Instant::now();
        *self.injected_at.lock() = Some(first);
        // A drain held back by budgets: the fault's first effect comes long before inject
        // returns.
        if !self.inject_takes.is_zero() {
            tokio::time::sleep(self.inject_takes).await;
            let last = Instant::now();
            return Ok(Injected {
                first_effect: Some(Effect {
                    at: first,
                    action: "cordon node zone-a-1".into(),
                }),
                last_effect: Some(Effect {
                    at: last,
                    action: "evict pod shop/web-3".into(),
                }),
                held_back: self.inject_takes / 2,
            });
        }
        Ok(Injected::default())
    }
    async fn verify(
        &self,
        _: &PhaseContext,
        _: Option<&Change>,
    ) -> Result<Verified, ScenarioError> {
        let injected = self.injected_at.lock().expect("inject ran");
        self.verify_calls.fetch_add(1, Ordering::SeqCst);
        // The call takes its time, then looks: the worst case for the measurement, as a
        // plugin that checks many services reads the last of them near the call's end.
        tokio::time::sleep(self.verify_cost).await;
        let elapsed = injected.elapsed();
        let recovery = match self.recover_after {
            Some(after) if elapsed >= after => Recovery::Recovered,
            _ => Recovery::Recovering("replacement not Ready".into()),
        };
        Ok(Verified {
            recovery,
            outside_cluster: false,
        })
    }
    async fn rollback(&self, _: &PhaseContext) -> Result<(), ScenarioError> {
        self.rollbacks.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct FakeHost(BTreeMap<String, Arc<FakeScenario>>);

#[async_trait]
impl ScenarioHost for FakeHost {
    async fn load(&self, scenario: &str) -> Result<Arc<dyn Scenario>, ScenarioError> {
        self.0
            .get(scenario)
            .cloned()
            .map(|s| s as Arc<dyn Scenario>)
            .ok_or_else(|| ScenarioError(format!("no plugin {scenario}")))
    }
    fn plugin_sha256(&self, _: &str) -> Option<String> {
        Some("00".into())
    }
}

/// Probes fail while `failing` is set.
#[derive(Default)]
struct FakeProber {
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Prober for FakeProber {
    async fn probe(&self, _: &ProbeTarget, _: Duration) -> ProbeOutcome {
        let ok = !self.failing.load(Ordering::SeqCst);
        ProbeOutcome {
            ok,
            latency: Duration::from_millis(3),
            failure: (!ok).then(|| "HTTP 503 Service Unavailable".into()),
        }
    }
}

struct ThreeReady;

#[async_trait]
impl Baseline for ThreeReady {
    async fn ready_pods(&self, _: &str, _: &str) -> Result<u32, ScenarioError> {
        Ok(3)
    }
}

#[derive(Default)]
struct MemJournal(Mutex<Vec<(String, JournalEntry)>>);

impl MemJournal {
    fn entries(&self, run_id: &str) -> Vec<JournalEntry> {
        let entries = self.0.lock();
        entries
            .iter()
            .filter(|(run, _)| run == run_id)
            .map(|(_, entry)| entry.clone())
            .collect()
    }
}

#[async_trait]
impl Journal for MemJournal {
    async fn append(&self, run_id: &str, entry: &JournalEntry) -> Result<(), ScenarioError> {
        self.0.lock().push((run_id.into(), entry.clone()));
        Ok(())
    }
    async fn unfinished(&self) -> Result<Vec<(String, Vec<JournalEntry>)>, ScenarioError> {
        let entries = self.0.lock().clone();
        let mut runs: BTreeMap<String, Vec<JournalEntry>> = BTreeMap::new();
        for (run, entry) in entries {
            runs.entry(run).or_default().push(entry);
        }
        Ok(runs
            .into_iter()
            .filter(|(_, entries)| {
                !entries
                    .iter()
                    .any(|e| matches!(e, JournalEntry::RunFinished { .. }))
            })
            .collect())
    }
}

/// A primary and a replica in memory, on the paused clock from `prepare`: the replica
/// stops receiving writes at `replica_stops`, the primary is down from `down` until
/// `up_again`, after which writes land on the promoted replica.
#[derive(Default)]
struct FakeCanaries {
    started: Mutex<Option<Instant>>,
    replica_stops: Option<Duration>,
    down: Option<Duration>,
    up_again: Option<Duration>,
    primary: Mutex<BTreeSet<u64>>,
    replica: Mutex<BTreeSet<u64>>,
    cleaned: AtomicU32,
}

#[async_trait]
impl CanaryStore for FakeCanaries {
    async fn prepare(&self, _: &Canary, _: &str, _: &str) -> Result<(), ScenarioError> {
        *self.started.lock() = Some(Instant::now());
        Ok(())
    }
    async fn write(&self, _: &Canary, _: &str, _: &str, seq: u64) -> Result<(), ScenarioError> {
        let now = self.started.lock().unwrap().elapsed();
        let down = self.down.is_some_and(|d| now >= d);
        let up_again = self.up_again.is_some_and(|u| now >= u);
        if down && !up_again {
            return Err(ScenarioError("connection refused".into()));
        }
        if up_again {
            self.replica.lock().insert(seq);
            return Ok(());
        }
        self.primary.lock().insert(seq);
        if self.replica_stops.is_none_or(|at| now < at) {
            self.replica.lock().insert(seq);
        }
        Ok(())
    }
    async fn read_back(
        &self,
        _: &Canary,
        _: &str,
        _: &str,
    ) -> Result<BTreeSet<u64>, ScenarioError> {
        Ok(self.replica.lock().clone())
    }
    async fn clean_up(&self, _: &Canary, _: &str, _: &str, _: &str) -> Result<(), ScenarioError> {
        self.cleaned.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

const CANARY_CONFIG: &str = r#"
version: 1
services:
  db: { namespace: data, selector: app=db }
connections:
  primary: { kind: postgres, url: "postgres://firedrill@primary:5432/app" }
  replica: { kind: postgres, url: "postgres://firedrill@replica:5432/app" }
drills:
  drill:
    phases:
      - name: failover
        scenario: pod-failure
        canary: { connection: primary, read_from: replica }
        objectives: { rto: 5s, rpo: 200ms }
"#;

fn canary_rig(store: FakeCanaries, recover_after: Duration) -> (Engine, Arc<FakeScenario>, Config) {
    let mut rig = rig(Some(recover_after), None);
    rig.engine.canaries = Arc::new(store);
    let config = firedrill_core::config::load_str(
        "t.yaml",
        CANARY_CONFIG,
        Path::new("."),
        &crate::resolve_context(),
    )
    .unwrap();
    (rig.engine, rig.first, config)
}

#[tokio::test(start_paused = true)]
async fn canaries_count_acknowledged_writes_the_new_primary_lacks() {
    // Canaries start at 0, the fault comes after the 1 s lead; the replica stopped
    // receiving at 0.55 s, so the writes acknowledged from 0.6 s to the fault are lost.
    let store = FakeCanaries {
        replica_stops: Some(Duration::from_millis(550)),
        down: Some(Duration::from_millis(1_000)),
        up_again: Some(Duration::from_millis(1_500)),
        ..FakeCanaries::default()
    };
    let (engine, _, config) = canary_rig(store, Duration::from_millis(800));
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    let loss = phase.data_loss.as_ref().expect("canaries measured");
    assert!(loss.canaries_written >= 18, "{loss:?}");
    assert!(
        loss.canaries_acknowledged < loss.canaries_written,
        "{loss:?}"
    );
    assert!((4..=5).contains(&loss.acknowledged_lost), "{loss:?}");
    assert!(
        (0.45..=0.65).contains(&loss.loss_window_seconds),
        "{loss:?}"
    );
    let PhaseVerdict::Failed { reasons } = &phase.verdict else {
        panic!("{:?}", phase.verdict);
    };
    assert!(
        reasons[0].contains("acknowledged writes lost"),
        "{reasons:?}"
    );
    assert!(
        record
            .timeline
            .iter()
            .any(|e| e.message.starts_with("Canaries read back")),
        "{:?}",
        record.timeline
    );
}

#[tokio::test(start_paused = true)]
async fn the_canary_series_keeps_each_write_by_what_became_of_it() {
    // As above: writes acknowledged from 0.6 s to the fault lost, refused while down.
    let store = FakeCanaries {
        replica_stops: Some(Duration::from_millis(550)),
        down: Some(Duration::from_millis(1_000)),
        up_again: Some(Duration::from_millis(1_500)),
        ..FakeCanaries::default()
    };
    let (engine, _, config) = canary_rig(store, Duration::from_millis(800));
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    let loss = phase.data_loss.as_ref().expect("canaries measured");
    let series = phase.canary_series.as_ref().expect("the writes over time");
    // Twice the 100 ms cadence; from the canaries' start, their lead before the fault.
    assert_eq!(series.bucket_ms, 200);
    let injected = phase.injected_at.expect("injected");
    assert!(
        series.from >= phase.started_at && series.from < injected,
        "{series:?}"
    );
    let (kept, lost, refused) = series.buckets.iter().fold((0, 0, 0), |(k, l, u), b| {
        (
            k + u64::from(b.kept),
            l + u64::from(b.lost),
            u + u64::from(b.unacknowledged),
        )
    });
    assert_eq!(lost, loss.acknowledged_lost, "{series:?}");
    assert_eq!(kept + lost, loss.canaries_acknowledged);
    assert_eq!(kept + lost + refused, loss.canaries_written);
    assert!(refused > 0, "{series:?}");
}

#[tokio::test(start_paused = true)]
async fn synchronous_canaries_lose_nothing_and_pass() {
    let store = FakeCanaries {
        down: Some(Duration::from_millis(1_000)),
        up_again: Some(Duration::from_millis(1_500)),
        ..FakeCanaries::default()
    };
    let (engine, _, config) = canary_rig(store, Duration::from_millis(800));
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    let loss = phase.data_loss.as_ref().expect("canaries measured");
    assert_eq!(loss.acknowledged_lost, 0, "{loss:?}");
    assert!(loss.loss_window_seconds <= 0.1, "{loss:?}");
    assert_eq!(phase.verdict, PhaseVerdict::Passed, "{phase:?}");
}

#[tokio::test(start_paused = true)]
async fn canaries_never_acknowledged_inject_nothing() {
    let store = FakeCanaries {
        down: Some(Duration::ZERO),
        ..FakeCanaries::default()
    };
    let (engine, scenario, config) = canary_rig(store, Duration::ZERO);
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let PhaseVerdict::Error { message } = &record.phases[0].verdict else {
        panic!("{:?}", record.phases[0].verdict);
    };
    assert!(
        message.contains("no canary write to primary was acknowledged")
            && message.contains("connection refused")
            && message.ends_with("nothing was injected"),
        "{message}"
    );
    assert!(scenario.injected_at.lock().is_none());
}

#[tokio::test(start_paused = true)]
async fn canaries_of_a_phase_that_never_injected_are_removed() {
    let store = Arc::new(FakeCanaries {
        down: Some(Duration::ZERO),
        ..FakeCanaries::default()
    });
    let (mut engine, _, config) = canary_rig(FakeCanaries::default(), Duration::ZERO);
    engine.canaries = store.clone();
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    assert!(matches!(
        record.phases[0].verdict,
        PhaseVerdict::Error { .. }
    ));
    assert!(store.cleaned.load(Ordering::SeqCst) >= 1);
}

const CONFIG: &str = r#"
version: 1
services:
  capsule:
    namespace: butterfly
    selector: app=capsule
    probes: [{ service_proxy: { service: capsule } }]
probing: { interval: 1s }
abort: { availability_window: 3, availability_floor: 0.5 }
drills:
  drill:
    phases:
      - { name: first, scenario: pod-failure, objectives: { rto: 2s, availability_floor: 0.9 }, deadline: 5s }
      - { name: second, scenario: zone-failure, objectives: { rto: 2s } }
"#;

fn config() -> Config {
    firedrill_core::config::load_str("t.yaml", CONFIG, Path::new("."), &crate::resolve_context())
        .unwrap()
}

struct Rig {
    engine: Engine,
    first: Arc<FakeScenario>,
    second: Arc<FakeScenario>,
    prober: Arc<FakeProber>,
    journal: Arc<MemJournal>,
}

fn binding(server: &str, uid: &str) -> ClusterBinding {
    ClusterBinding {
        target: "lab".into(),
        identity: ClusterIdentity {
            server: server.into(),
            kube_system_uid: Some(uid.into()),
            embedded: false,
        },
    }
}

fn rig(first: Option<Duration>, second: Option<Duration>) -> Rig {
    let first = FakeScenario::new(first);
    let second = FakeScenario::new(second);
    let host = FakeHost(BTreeMap::from([
        ("pod-failure".to_string(), first.clone()),
        ("zone-failure".to_string(), second.clone()),
    ]));
    let prober = Arc::new(FakeProber::default());
    let journal = Arc::new(MemJournal::default());
    Rig {
        engine: Engine {
            host: Arc::new(host),
            prober: prober.clone(),
            baseline: Arc::new(ThreeReady),
            journal: journal.clone(),
            alerts: None,
            metrics: None,
            canaries: Arc::new(FakeCanaries::default()),
            watches: None,
            verify_interval: Duration::from_millis(100),
            verify_fallback: Duration::from_secs(2),
            binding: binding("https://a.example:6443", "uid-a"),
            elsewhere: BTreeMap::new(),
        },
        first,
        second,
        prober,
        journal,
    }
}

fn request() -> RunRequest {
    RunRequest::new(
        "drill",
        Trigger::Cli {
            user: "test".into(),
        },
        None,
        "abc".into(),
    )
}

#[tokio::test(start_paused = true)]
async fn recovery_is_measured_from_inject_to_the_verify_that_saw_it() {
    let rig = rig(Some(Duration::from_millis(1_450)), Some(Duration::ZERO));
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    assert_eq!(record.outcome, Outcome::Passed, "{record:#?}");
    let first = &record.phases[0];
    let recovery = first.recovery_seconds.unwrap();
    // Verify is polled every 100 ms: recovery is seen within one interval of the truth.
    assert!((1.45..=1.55).contains(&recovery), "{recovery}");
    assert_eq!(
        first.actions,
        ["delete-pod one pod of capsule: force delete"]
    );
    assert_eq!(
        (first.recovered_at.unwrap() - first.injected_at.unwrap()).num_milliseconds(),
        (recovery * 1000.0).round() as i64
    );
    // Both phases injected a fault; both are rolled back at the end, newest first.
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    assert_eq!(rig.second.rollbacks.load(Ordering::SeqCst), 1);
    assert_eq!(record.plugin_sha256.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_probe_series_hold_every_probe_from_the_start_of_the_run() {
    let rig = rig(Some(Duration::from_millis(1_450)), Some(Duration::ZERO));
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    let capsule = &record.availability[0];
    let [series] = record.probe_series.as_slice() else {
        panic!("{:?}", record.probe_series);
    };
    assert_eq!(series.service, "capsule");
    assert_eq!(series.from, record.started_at);
    // Twice the 1 s probe interval.
    assert_eq!(series.bucket_ms, 2_000);
    let probes: u64 = series.buckets.iter().map(|b| u64::from(b.probes())).sum();
    assert!(probes > 0);
    assert_eq!(probes, capsule.probes, "{series:?}");
    // The fake answers in 3 ms.
    for bucket in series.buckets.iter().filter(|b| b.probes() > 0) {
        assert_eq!(bucket.p95_micros, Some(3_000), "{series:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_verify_neither_stretches_the_polling_interval_nor_reports_recovery_early() {
    // Each verify takes 60 ms and looks at its end: calls still start every 100 ms from
    // the end of inject, so a recovery at 1.45 s is seen by the call that starts at 1.4 s
    // and ends at 1.46 s (not 1.6 s, as a 100 ms pause after each call would give). The
    // recovery is dated at the end of that call: dating it at the start (1.4 s) would
    // report it before it happened.
    let mut rig = rig(None, Some(Duration::ZERO));
    let first = FakeScenario::slow(
        Some(Duration::from_millis(1_450)),
        Duration::from_millis(60),
    );
    let host = FakeHost(BTreeMap::from([
        ("pod-failure".to_string(), first.clone()),
        ("zone-failure".to_string(), rig.second.clone()),
    ]));
    rig.engine.host = Arc::new(host);
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    let recovery = record.phases[0].recovery_seconds.unwrap();
    assert!((1.45..=1.55).contains(&recovery), "{recovery}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_recovery_fails_the_phase_rolls_it_back_and_stops_the_drill() {
    let rig = rig(Some(Duration::from_millis(3_000)), Some(Duration::ZERO));
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    assert_eq!(record.outcome, Outcome::Failed);
    let PhaseVerdict::Failed { reasons } = &record.phases[0].verdict else {
        panic!("{:?}", record.phases[0].verdict);
    };
    assert!(reasons[0].contains("over the 2 s RTO"), "{reasons:?}");
    assert_eq!(record.phases[0].rollback.as_deref(), Some("rolled back"));
    assert_eq!(record.phases[1].verdict, PhaseVerdict::Skipped);
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    assert_eq!(rig.second.rollbacks.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn no_recovery_before_the_deadline_times_out() {
    let rig = rig(None, Some(Duration::ZERO));
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    assert_eq!(record.phases[0].verdict, PhaseVerdict::TimedOut);
    assert_eq!(record.phases[0].recovery_seconds, None);
    assert_eq!(record.outcome, Outcome::Failed);
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_availability_breach_aborts_the_drill_and_rolls_back() {
    let rig = rig(None, Some(Duration::ZERO));
    rig.prober.failing.store(true, Ordering::SeqCst);
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    let Outcome::Aborted { reason } = &record.outcome else {
        panic!("{:?}", record.outcome);
    };
    assert!(
        reason.starts_with("capsule answered 0% of its last 3 probes"),
        "{reason}"
    );
    assert!(matches!(
        record.phases[0].verdict,
        PhaseVerdict::Aborted { .. }
    ));
    assert_eq!(record.phases[1].verdict, PhaseVerdict::Skipped);
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    let capsule = &record.availability[0];
    assert_eq!(
        (capsule.service.as_str(), capsule.successes),
        ("capsule", 0)
    );
    assert!(capsule.probes >= 3);
}

#[tokio::test(start_paused = true)]
async fn an_operator_abort_stops_the_current_phase() {
    let rig = rig(None, Some(Duration::ZERO));
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(700)).await;
        trigger.cancel();
    });
    let record = rig.engine.run(&config(), request(), cancel, None).await;
    assert_eq!(
        record.outcome,
        Outcome::Aborted {
            reason: "stopped by an operator".into()
        }
    );
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_run_is_rolled_back_and_recorded_at_the_next_start() {
    let rig = rig(None, None);
    let ctx = PhaseContext {
        run_id: "drill-1".into(),
        drill: "drill".into(),
        phase: "second".into(),
        scenario: "zone-failure".into(),
        params: serde_json::json!({}),
        services: vec![],
    };
    for entry in [
        JournalEntry::RunStarted {
            drill: "drill".into(),
            at: Utc::now(),
            target: Some("lab".into()),
            cluster: Some(rig.engine.binding.identity.clone()),
        },
        JournalEntry::Injecting {
            phase: "first".into(),
            context: PhaseContext {
                phase: "first".into(),
                scenario: "pod-failure".into(),
                ..ctx.clone()
            },
            at: Utc::now(),
            target: None,
            cluster: None,
        },
        JournalEntry::RolledBack {
            phase: "first".into(),
            at: Utc::now(),
        },
        JournalEntry::Injecting {
            phase: "second".into(),
            context: ctx,
            at: Utc::now(),
            target: None,
            cluster: None,
        },
    ] {
        rig.journal.append("drill-1", &entry).await.unwrap();
    }
    let interrupted = rig.engine.interrupted().await.unwrap();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].owed_phases(), ["second"]);
    let recovered = rig.engine.recover(&interrupted[0], None).await.unwrap();
    assert_eq!(recovered.outcome, Outcome::Interrupted);
    assert_eq!(recovered.target, "lab");
    // Only the phase still owing a rollback is rolled back.
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 0);
    assert_eq!(rig.second.rollbacks.load(Ordering::SeqCst), 1);
    // And the run is no longer unfinished.
    assert!(rig.engine.interrupted().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_engine_refuses_to_roll_back_a_run_recorded_on_another_cluster() {
    let rig = rig(None, None);
    let ctx = PhaseContext {
        run_id: "drill-2".into(),
        drill: "drill".into(),
        phase: "second".into(),
        scenario: "zone-failure".into(),
        params: serde_json::json!({}),
        services: vec![],
    };
    for entry in [
        JournalEntry::RunStarted {
            drill: "drill".into(),
            at: Utc::now(),
            target: Some("lab".into()),
            // Same target name, but the kubeconfig now reaches another cluster.
            cluster: Some(binding("https://a.example:6443", "uid-other").identity),
        },
        JournalEntry::Injecting {
            phase: "second".into(),
            context: ctx,
            at: Utc::now(),
            target: None,
            cluster: None,
        },
    ] {
        rig.journal.append("drill-2", &entry).await.unwrap();
    }
    let interrupted = rig.engine.interrupted().await.unwrap();
    let err = rig.engine.recover(&interrupted[0], None).await.unwrap_err();
    assert!(err.0.contains("uid-other"), "{err}");
    assert_eq!(rig.second.rollbacks.load(Ordering::SeqCst), 0);
    // Still owed.
    assert_eq!(rig.engine.interrupted().await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_records_the_target_and_cluster_it_used() {
    let rig = rig(Some(Duration::ZERO), Some(Duration::ZERO));
    let record = rig
        .engine
        .run(&config(), request(), CancellationToken::new(), None)
        .await;
    assert_eq!(record.target, "lab");
    let entries = rig.journal.entries(&record.id);
    let Some(JournalEntry::RunStarted {
        target, cluster, ..
    }) = entries.first()
    else {
        panic!("{entries:?}");
    };
    assert_eq!(target.as_deref(), Some("lab"));
    assert_eq!(cluster.as_ref(), Some(&rig.engine.binding.identity));
}

#[tokio::test(start_paused = true)]
async fn a_phase_whose_plan_exceeds_the_blast_radius_is_refused_before_injecting() {
    let rig = rig(Some(Duration::ZERO), Some(Duration::ZERO));
    let config = firedrill_core::config::load_str(
        "t.yaml",
        &CONFIG.replace("drills:", "blast_radius: { max_pods: 0 }\ndrills:"),
        Path::new("."),
        &crate::resolve_context(),
    )
    .unwrap();
    let record = rig
        .engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let PhaseVerdict::Error { message } = &record.phases[0].verdict else {
        panic!("{:?}", record.phases[0].verdict);
    };
    assert!(
        message.contains("1 pod is over the limit of 0"),
        "{message}"
    );
    assert_eq!(record.phases[0].injected_at, None);
    assert!(rig.first.injected_at.lock().is_none());
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 0);
    assert_eq!(record.outcome, Outcome::Failed);
}

/// Reports `alert` firing from `after` on.
struct FiringAfter {
    start: Instant,
    after: Duration,
}

#[async_trait]
impl AlertSource for FiringAfter {
    async fn firing(&self) -> Result<Vec<String>, ScenarioError> {
        Ok(if self.start.elapsed() >= self.after {
            vec!["Watchdog".into(), "KubeAPIDown".into()]
        } else {
            vec!["Watchdog".into()]
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_configured_alert_firing_aborts_the_drill_and_rolls_back() {
    let mut rig = rig(None, Some(Duration::ZERO));
    rig.engine.alerts = Some(Arc::new(FiringAfter {
        start: Instant::now(),
        after: Duration::from_secs(2),
    }));
    let config = firedrill_core::config::load_str(
        "t.yaml",
        &CONFIG.replace(
            "abort: {",
            "abort: { alerts: { prometheus: \"http://127.0.0.1:9\", names: [KubeAPIDown], interval: 500ms }, ",
        ),
        Path::new("."),
        &crate::resolve_context(),
    )
    .unwrap();
    let record = rig
        .engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    assert_eq!(
        record.outcome,
        Outcome::Aborted {
            reason: "alert KubeAPIDown is firing".into()
        }
    );
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    // Watchdog fires all the time but is not an abort alert.
}

/// A phase watch that reports scripted changes, each some time after the watch starts.
struct FakeWatches {
    script: Vec<(Duration, &'static str)>,
    seen: WatchSeen,
}

struct FakeWatch {
    changes: tokio::sync::watch::Receiver<Option<Change>>,
    seen: WatchSeen,
}

#[async_trait]
impl Watches for FakeWatches {
    async fn watch(&self, _: &WatchScope) -> Result<Arc<dyn PhaseWatch>, ScenarioError> {
        let (sender, changes) = tokio::sync::watch::channel(None);
        let start = Instant::now();
        let script = self.script.clone();
        tokio::spawn(async move {
            for (seq, (after, summary)) in script.into_iter().enumerate() {
                tokio::time::sleep_until(start + after).await;
                sender.send_replace(Some(Change {
                    seq: seq as u64 + 1,
                    at: Instant::now(),
                    kind: "Pod".into(),
                    namespace: Some("butterfly".into()),
                    name: "capsule-new".into(),
                    summary: summary.into(),
                }));
            }
            // Keep the channel open for the rest of the phase.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        Ok(Arc::new(FakeWatch {
            changes,
            seen: self.seen.clone(),
        }))
    }
}

#[async_trait]
impl PhaseWatch for FakeWatch {
    fn changes(&self) -> tokio::sync::watch::Receiver<Option<Change>> {
        self.changes.clone()
    }
    fn direct_reads(&self) -> u64 {
        0
    }
    async fn finish(&self) -> WatchSeen {
        self.seen.clone()
    }
}

const WATCH_CONFIG: &str = r#"
version: 1
services:
  capsule:
    namespace: butterfly
    selector: app=capsule
    min_ready: 2
drills:
  drill:
    phases:
      - { name: first, scenario: pod-failure, objectives: { rto: 10s, min_ready: true, pdb_respected: true }, deadline: 20s }
"#;

fn watch_rig(
    recover_after: Duration,
    inject_takes: Duration,
    watches: FakeWatches,
) -> (Engine, Arc<FakeScenario>, Config) {
    let scenario = Arc::new(FakeScenario {
        inject_takes,
        ..Arc::into_inner(FakeScenario::new(Some(recover_after))).expect("one owner")
    });
    let mut rig = rig(None, None);
    rig.engine.host = Arc::new(FakeHost(BTreeMap::from([(
        "pod-failure".to_string(),
        scenario.clone(),
    )])));
    rig.engine.watches = Some(Arc::new(watches));
    let config = firedrill_core::config::load_str(
        "t.yaml",
        WATCH_CONFIG,
        Path::new("."),
        &crate::resolve_context(),
    )
    .unwrap();
    (rig.engine, scenario, config)
}

fn healthy_seen() -> WatchSeen {
    WatchSeen {
        services: vec![ReadinessSeen {
            service: "capsule".into(),
            ready_at_start: 3,
            min_ready: 2,
            budget: Some(("capsule-pdb".into(), 1)),
        }],
        ..WatchSeen::default()
    }
}

#[tokio::test(start_paused = true)]
async fn recovery_is_dated_at_the_watch_event_that_made_verify_true() {
    let watches = FakeWatches {
        script: vec![
            (Duration::from_millis(300), "created"),
            (Duration::from_millis(700), "scheduled on node-b"),
            (Duration::from_millis(1_453), "became Ready"),
        ],
        seen: healthy_seen(),
    };
    let (engine, scenario, config) =
        watch_rig(Duration::from_millis(1_453), Duration::ZERO, watches);
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    assert_eq!(phase.verdict, PhaseVerdict::Passed, "{phase:#?}");
    // The Ready event's own instant: not the end of a poll 100 ms later, not before it.
    let recovery = phase.recovery_seconds.expect("recovered");
    assert!((recovery - 1.453).abs() < 1e-6, "{recovery}");
    let clock = phase.clock.as_ref().expect("clock recorded");
    assert_eq!(clock.stopped_by, ClockStop::WatchEvent);
    assert_eq!(
        clock.event.as_deref(),
        Some("Pod butterfly/capsule-new became Ready")
    );
    assert_eq!(clock.started_by, ClockStart::InjectReturned);
    // Once after inject and once per change: not every 100 ms (15 calls).
    let calls = scenario.verify_calls.load(Ordering::SeqCst);
    assert_eq!(calls, 4, "{clock:?}");
    assert_eq!(clock.verify_calls, 4);
    assert!(
        phase
            .detection
            .as_deref()
            .unwrap_or_default()
            .contains("watch event"),
        "{:?}",
        phase.detection
    );
}

#[tokio::test(start_paused = true)]
async fn a_recovery_no_watched_change_explains_is_dated_by_the_call_never_before() {
    // The last change comes at 1.2 s, but the scenario's condition becomes true at 1.5 s
    // (something the watch does not see): the fallback call at 3.2 s dates it.
    let watches = FakeWatches {
        script: vec![(Duration::from_millis(1_200), "became Ready")],
        seen: healthy_seen(),
    };
    let (engine, _, config) = watch_rig(Duration::from_millis(1_500), Duration::ZERO, watches);
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    let recovery = phase.recovery_seconds.expect("recovered");
    assert!(recovery >= 1.5, "dated before the recovery: {recovery}");
    assert!((recovery - 3.2).abs() < 1e-6, "{recovery}");
    let clock = phase.clock.as_ref().expect("clock recorded");
    assert_eq!(clock.stopped_by, ClockStop::VerifyCall);
}

#[tokio::test(start_paused = true)]
async fn the_clock_starts_at_the_faults_first_effect_not_when_inject_returns() {
    // A drain held back by budgets: cordon at 0, the last eviction accepted at 3 s;
    // the services are back 3.5 s after the cordon.
    let watches = FakeWatches {
        script: vec![(Duration::from_millis(3_500), "became Ready")],
        seen: healthy_seen(),
    };
    let (engine, _, config) = watch_rig(
        Duration::from_millis(3_500),
        Duration::from_secs(3),
        watches,
    );
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    let recovery = phase.recovery_seconds.expect("recovered");
    assert!(
        (recovery - 3.5).abs() < 1e-6,
        "the drain counts: {recovery}"
    );
    let clock = phase.clock.as_ref().expect("clock recorded");
    assert_eq!(clock.started_by, ClockStart::FirstAction);
    assert_eq!(clock.first_action.as_deref(), Some("cordon node zone-a-1"));
    assert!((clock.inject_seconds - 3.0).abs() < 1e-6, "{clock:?}");
    assert!((clock.held_back_seconds - 1.5).abs() < 1e-6, "{clock:?}");
    assert_eq!(clock.started_at, phase.started_at);
}

#[tokio::test(start_paused = true)]
async fn the_checklist_fails_a_phase_below_min_ready_or_over_its_budget() {
    let watches = FakeWatches {
        script: vec![(Duration::from_millis(500), "became Ready")],
        seen: WatchSeen {
            services: vec![ReadinessSeen {
                service: "capsule".into(),
                ready_at_start: 3,
                min_ready: 1,
                budget: Some(("capsule-pdb".into(), 1)),
            }],
            ..WatchSeen::default()
        },
    };
    let (engine, _, config) = watch_rig(Duration::from_millis(500), Duration::ZERO, watches);
    let record = engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let phase = &record.phases[0];
    let PhaseVerdict::Failed { reasons } = &phase.verdict else {
        panic!("{:?}", phase.verdict);
    };
    assert!(
        reasons
            .iter()
            .any(|r| r == "capsule fell to 1 Ready pods, below its min_ready of 2"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r
            == "capsule had 2 pods unavailable at once; its disruption budget capsule-pdb allows 1"),
        "{reasons:?}"
    );
    let rows: Vec<_> = phase
        .checklist
        .iter()
        .map(|r| (r.check, r.passed))
        .collect();
    assert_eq!(
        rows,
        vec![
            (firedrill_core::run::Check::MinReady, false),
            (firedrill_core::run::Check::PdbRespected, false)
        ]
    );
}

/// Prometheus as the checks see it: `errors` answers `bad` from `after` on (else 0.001),
/// `flowing` one series, anything else no series.
struct FakeMetrics {
    start: Instant,
    after: Duration,
    bad: f64,
    queries: Mutex<Vec<String>>,
}

#[async_trait]
impl MetricsSource for FakeMetrics {
    async fn query(
        &self,
        promql: &str,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<firedrill_core::check::Sample>, ScenarioError> {
        self.queries.lock().push(promql.to_string());
        let sample = |value| firedrill_core::check::Sample {
            labels: BTreeMap::from([("job".to_string(), "capsule".to_string())]),
            value,
        };
        Ok(if promql.contains("errors") {
            let value = if self.start.elapsed() >= self.after {
                self.bad
            } else {
                0.001
            };
            vec![sample(value)]
        } else if promql.starts_with("flowing") {
            vec![sample(1.0)]
        } else {
            Vec::new()
        })
    }
}

fn with_checks(rig: &mut Rig, after: Duration) -> Arc<FakeMetrics> {
    let metrics = Arc::new(FakeMetrics {
        start: Instant::now(),
        after,
        bad: 0.2,
        queries: Mutex::new(Vec::new()),
    });
    rig.engine.metrics = Some(metrics.clone());
    metrics
}

/// [`CONFIG`] with a Prometheus, three checks and the drill's `checks`.
fn checks_config(drill_checks: &str, abort: bool) -> Config {
    let text = CONFIG.replace(
        "drills:\n  drill:\n",
        &format!(
            "prometheus: {{ url: \"http://127.0.0.1:9\" }}\n\
             checks:\n  \
               errors: {{ query: \"max_over_time(errors{{job='capsule'}}[$__range])\", expect: \"< 0.01\", every: 1s, abort: {abort} }}\n  \
               flowing: {{ query: flowing, expect: present }}\n  \
               absent: {{ query: \"absent_metric\", expect: \"< 1\" }}\n\
             drills:\n  drill:\n    checks: {drill_checks}\n"
        ),
    );
    firedrill_core::config::load_str("t.yaml", &text, Path::new("."), &crate::resolve_context())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_steady_state_without_data_means_the_drill_never_starts() {
    let mut rig = rig(Some(Duration::from_millis(300)), Some(Duration::ZERO));
    with_checks(&mut rig, Duration::MAX);
    let config = checks_config("{ before: [flowing, absent] }", false);
    let record = rig
        .engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let Outcome::NotStarted { reason } = &record.outcome else {
        panic!("{:?}", record.outcome);
    };
    assert!(reason.contains("check absent (before) no-data"), "{reason}");
    assert!(rig.first.injected_at.lock().is_none(), "nothing injected");
    assert!(
        record
            .phases
            .iter()
            .all(|p| p.verdict == PhaseVerdict::Skipped)
    );
    let verdicts: Vec<(&str, CheckVerdict)> = record
        .checks
        .iter()
        .map(|c| (c.check.as_str(), c.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("flowing", CheckVerdict::Pass),
            ("absent", CheckVerdict::NoData)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_violated_abort_check_stops_the_drill_and_rolls_back() {
    let mut rig = rig(None, Some(Duration::ZERO));
    let metrics = with_checks(&mut rig, Duration::from_millis(2500));
    let config = checks_config("{ before: [flowing], during: [errors] }", true);
    let record = rig
        .engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    let Outcome::Aborted { reason } = &record.outcome else {
        panic!("{:?}", record.outcome);
    };
    assert_eq!(
        reason,
        "check errors failed: 0.2 is not < 0.01 {job=\"capsule\"}"
    );
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    let during: Vec<CheckVerdict> = record
        .checks
        .iter()
        .filter(|c| c.stage == CheckStage::During)
        .map(|c| c.verdict)
        .collect();
    // Once a second from the phase's start: passes until the errors rise at 2.5 s.
    assert_eq!(
        during,
        [
            CheckVerdict::Pass,
            CheckVerdict::Pass,
            CheckVerdict::Pass,
            CheckVerdict::Fail
        ]
    );
    // `$__range` is the time since the phase began.
    let queries = metrics.queries.lock().clone();
    assert!(
        queries.contains(&"max_over_time(errors{job='capsule'}[2s])".to_string()),
        "{queries:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_violation_without_abort_fails_the_phase_and_an_after_check_waits_within() {
    let mut rig = rig(
        Some(Duration::from_millis(1500)),
        Some(Duration::from_millis(300)),
    );
    with_checks(&mut rig, Duration::from_millis(500));
    let text = "{ during: [errors], after: [errors] }";
    let mut config = checks_config(text, false);
    // The errors stay high: the after check gives up after its `within`.
    config.checks.get_mut("errors").unwrap().within = Duration::from_secs(3);
    let record = rig
        .engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    assert_eq!(record.outcome, Outcome::Failed);
    let PhaseVerdict::Failed { reasons } = &record.phases[0].verdict else {
        panic!("{:?}", record.phases[0].verdict);
    };
    assert_eq!(
        reasons,
        &["check errors (during) fail: 0.2 is not < 0.01 {job=\"capsule\"}".to_string()]
    );
    // The drill stops after the failed phase; its verification ran four times in 3 s.
    let after = record
        .checks
        .iter()
        .filter(|c| c.stage == CheckStage::After)
        .count();
    assert_eq!(after, 4, "{:#?}", record.checks);
    assert!(
        record.timeline.iter().any(|e| e
            .message
            .starts_with("After the drill: check errors (after) fail")),
        "{:#?}",
        record.timeline
    );
}

/// The primary region on `lab`, the DR region on `dr`: the second phase acts on `dr`,
/// whose `capsule` is its own service; the primary's `capsule` is expected down.
const TWO_TARGETS: &str = r#"
version: 1
targets:
  lab: { kind: kubeconfig, kubeconfig: lab.yaml }
  dr: { kind: kubeconfig, kubeconfig: dr.yaml }
default_target: lab
services:
  capsule:
    target: lab
    namespace: butterfly
    selector: app=capsule
    probes: [{ service_proxy: { service: capsule } }]
  capsule-dr:
    target: dr
    namespace: butterfly
    selector: app=capsule
    probes: [{ service_proxy: { service: capsule } }]
probing: { interval: 1s }
abort: { availability_window: 3, availability_floor: 0.5 }
drills:
  drill:
    expect_down: [capsule]
    phases:
      - { name: first, scenario: pod-failure, objectives: { rto: 2s }, deadline: 5s }
      - { name: second, scenario: zone-failure, target: dr, objectives: { rto: 2s } }
"#;

/// The rig's engine with a second target `dr`: its own scenarios, prober and cluster.
fn two_target_rig() -> (Rig, Arc<FakeScenario>, Arc<FakeProber>) {
    let mut rig = rig(Some(Duration::ZERO), Some(Duration::ZERO));
    let dr_scenario = FakeScenario::new(Some(Duration::from_millis(500)));
    let dr_prober = Arc::new(FakeProber::default());
    let mut dr = rig.engine.clone();
    dr.host = Arc::new(FakeHost(BTreeMap::from([(
        "zone-failure".to_string(),
        dr_scenario.clone(),
    )])));
    dr.prober = dr_prober.clone();
    dr.binding = ClusterBinding {
        target: "dr".into(),
        ..binding("https://dr.example:6443", "uid-dr")
    };
    rig.engine.elsewhere.insert("dr".into(), dr);
    (rig, dr_scenario, dr_prober)
}

#[tokio::test(start_paused = true)]
async fn a_phase_naming_another_target_runs_and_rolls_back_on_that_targets_cluster() {
    let (rig, dr_scenario, _) = two_target_rig();
    let config = firedrill_core::config::load_str(
        "t.yaml",
        TWO_TARGETS,
        Path::new("."),
        &crate::resolve_context(),
    )
    .unwrap();
    // The primary region is down for the whole drill: expected, so no abort.
    rig.prober.failing.store(true, Ordering::SeqCst);
    let record = rig
        .engine
        .run(&config, request(), CancellationToken::new(), None)
        .await;
    assert_eq!(record.outcome, Outcome::Passed, "{record:#?}");
    assert_eq!(record.target, "lab");
    assert_eq!(record.phases[0].target, None);
    assert_eq!(record.phases[1].target.as_deref(), Some("dr"));
    let recovery = record.phases[1].recovery_seconds.unwrap();
    assert!((0.5..=0.6).contains(&recovery), "{recovery}");
    // The second phase ran on dr's scenarios, not on the primary's.
    assert_eq!(dr_scenario.rollbacks.load(Ordering::SeqCst), 1);
    assert!(rig.second.injected_at.lock().is_none());
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    // Each service was probed through its own target: the primary's failed, dr's did not.
    let availability = |name: &str| {
        record
            .availability
            .iter()
            .find(|a| a.service == name)
            .unwrap_or_else(|| panic!("{name} not probed: {:#?}", record.availability))
    };
    assert_eq!(availability("capsule").successes, 0);
    let dr = availability("capsule-dr");
    assert!(dr.probes > 0 && dr.successes == dr.probes, "{dr:?}");
    // The journal says where each fault went.
    let entries = rig.journal.entries(&record.id);
    let targets: Vec<(String, Option<String>)> = entries
        .iter()
        .filter_map(|entry| match entry {
            JournalEntry::Injecting { phase, target, .. } => Some((phase.clone(), target.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("first".to_string(), Some("lab".to_string())),
            ("second".to_string(), Some("dr".to_string()))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_run_is_rolled_back_phase_by_phase_on_each_phases_target() {
    let (rig, dr_scenario, _) = two_target_rig();
    let context = |phase: &str, scenario: &str| PhaseContext {
        run_id: "drill-3".into(),
        drill: "drill".into(),
        phase: phase.into(),
        scenario: scenario.into(),
        params: serde_json::json!({}),
        services: vec![],
    };
    let dr = rig.engine.elsewhere["dr"].binding.clone();
    for entry in [
        JournalEntry::RunStarted {
            drill: "drill".into(),
            at: Utc::now(),
            target: Some("lab".into()),
            cluster: Some(rig.engine.binding.identity.clone()),
        },
        JournalEntry::Injecting {
            phase: "first".into(),
            context: context("first", "pod-failure"),
            at: Utc::now(),
            target: Some("lab".into()),
            cluster: Some(rig.engine.binding.identity.clone()),
        },
        JournalEntry::Injecting {
            phase: "second".into(),
            context: context("second", "zone-failure"),
            at: Utc::now(),
            target: Some("dr".into()),
            cluster: Some(dr.identity.clone()),
        },
    ] {
        rig.journal.append("drill-3", &entry).await.unwrap();
    }
    let interrupted = rig.engine.interrupted().await.unwrap();
    assert_eq!(interrupted[0].other_targets(), ["dr"]);
    // A dr target now reaching another cluster: nothing is touched anywhere.
    let mut repointed = rig.engine.clone();
    if let Some(engine) = repointed.elsewhere.get_mut("dr") {
        engine.binding = binding("https://dr.example:6443", "uid-new");
    }
    let err = repointed.recover(&interrupted[0], None).await.unwrap_err();
    assert!(
        err.0.contains("uid-dr") && err.0.contains("uid-new"),
        "{err}"
    );
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 0);
    assert_eq!(dr_scenario.rollbacks.load(Ordering::SeqCst), 0);
    // With both clusters as they were, each phase is rolled back where it ran.
    let record = rig.engine.recover(&interrupted[0], None).await.unwrap();
    assert_eq!(record.outcome, Outcome::Interrupted);
    assert_eq!(rig.first.rollbacks.load(Ordering::SeqCst), 1);
    assert_eq!(dr_scenario.rollbacks.load(Ordering::SeqCst), 1);
    assert_eq!(rig.second.rollbacks.load(Ordering::SeqCst), 0);
    assert!(
        record
            .timeline
            .iter()
            .any(|e| e.message.contains("Rollback of second on target dr")),
        "{:#?}",
        record.timeline
    );
}
