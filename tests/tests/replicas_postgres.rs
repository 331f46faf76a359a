//! firedrill's store in a real PostgreSQL (`storage.postgres`, the password from the
//! environment), as an operator running several replicas would have it.
//!
//! - Two `firedrill serve` replicas share the database and one Lease on a sandbox: each
//!   scheduled slot runs once; the leader, SIGKILLed with a node cordoned mid-drill, is
//!   replaced by the standby, which rolls the run back on its cluster and records it
//!   `interrupted`, and runs the slot that was queued behind that drill; the chain holds
//!   records written by both replicas and `verify` finds it intact; each run's email lands
//!   in the Maildir once; after PostgreSQL restarts, the leader's next drill runs as
//!   before; a drill whose store is down when it ends is stored, `passed`, once the store
//!   is back.
//! - A `firedrill run` whose store restarts mid-drill finishes and is recorded, or fails
//!   naming the store; one whose store stays down until the run ends fails naming it and
//!   `firedrill recover` records it. Either way nothing recorded before is lost and no node
//!   is left cordoned.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Timelike, Utc};
use firedrill_tests::servers::{PostgresStoreServer, STORE_PASSWORD};
use firedrill_tests::{Guard, SandboxProcess, firedrill, free_port, http_get, http_request};
use serde_json::Value;
use tempfile::TempDir;

/// The variable the configurations name for the store's password.
const PASSWORD_ENV: &str = "FIREDRILL_STORE_PASSWORD";
const TOKEN_ENV: &str = "FIREDRILL_API_TOKEN";
const TOKEN: &str = "replicas-postgres-token";

/// Two zones of one node; web and batch behind disruption budgets, replacements Ready
/// after `start_delay`, so a zone drain lasts long enough to be caught mid-way.
fn platform(start_delay: &str) -> String {
    format!(
        r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    pdb: {{ maxUnavailable: 1 }}
    startDelay: {start_delay}
  - name: batch
    replicas: 2
    pdb: {{ maxUnavailable: 1 }}
    startDelay: {start_delay}
"#
    )
}

/// Writes `dir/NAME.yaml`: reports and plugin cache in `dir/NAME-data`, the journal, runs,
/// outbox and schedule in `pg`, mail into `maildir`; the drills `every-minute`
/// (scheduled pod failure), `zone` (zone-a cordoned and drained) and `quick` (one pod
/// killed); then `extra`.
fn write_config(
    dir: &Path,
    name: &str,
    sandbox: &SandboxProcess,
    pg: &PostgresStoreServer,
    maildir: &Path,
    extra: &str,
) -> PathBuf {
    let text = format!(
        r#"version: 1
storage:
  path: {storage}
  postgres:
    url: "{url}"
    password: {{ env: {PASSWORD_ENV} }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
services:
  web: {{ namespace: shop, selector: app.kubernetes.io/name=web, workload: deployment/web }}
  batch: {{ namespace: shop, selector: app.kubernetes.io/name=batch, workload: deployment/batch }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
    zone-failure:
      kubernetes:
        - {{ verbs: [list, patch], namespaces: [":cluster"] }}
        - {{ verbs: [list, evict], namespaces: ["*"] }}
drills:
  every-minute:
    schedule: {{ cron: "* * * * *", grace: 30s }}
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web], objectives: {{ rto: 2m }} }}
  zone:
    phases:
      - {{ name: zone-failure, scenario: zone-failure, services: [web, batch], params: {{ zone: zone-a }}, objectives: {{ rto: 2m }} }}
  quick:
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web], objectives: {{ rto: 2m }} }}
notifications:
  email:
    from: firedrill <firedrill@localhost>
    to: [sre@example.com]
    maildir: {maildir}
{extra}"#,
        storage = dir.join(format!("{name}-data")).display(),
        url = pg.url(),
        kubeconfig = sandbox.kubeconfig.display(),
        maildir = maildir.display(),
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A `firedrill -c CONFIG` command with the store's password in the environment.
fn cli(config: &Path) -> Command {
    let mut cmd = firedrill();
    cmd.arg("-c").arg(config).env(PASSWORD_ENV, STORE_PASSWORD);
    cmd
}

/// Exit code, stdout and stderr.
fn output_of(cmd: &mut Command) -> (i32, String, String) {
    let output = cmd.stdin(Stdio::null()).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `firedrill runs --output json`: `run_id`, `drill`, `outcome`, `email`, ...
fn runs(config: &Path) -> Vec<Value> {
    let (code, stdout, stderr) = output_of(cli(config).args(["runs", "--output", "json"]));
    assert_eq!(code, 0, "firedrill runs: {stderr}");
    serde_json::from_str::<Value>(&stdout)
        .unwrap_or_else(|e| panic!("firedrill runs: {e}: {stdout}"))
        .as_array()
        .unwrap()
        .clone()
}

fn run_ids(listed: &[Value]) -> Vec<String> {
    listed
        .iter()
        .map(|run| run["run_id"].as_str().unwrap().to_string())
        .collect()
}

/// `firedrill verify` succeeds and says the chain is intact with `records` records.
fn assert_chain_intact(config: &Path, records: usize) {
    let (code, stdout, stderr) = output_of(cli(config).arg("verify"));
    assert_eq!(
        code,
        0,
        "verify with {}: {stdout}{stderr}",
        config.display()
    );
    assert!(
        stdout.contains(&format!("Chain intact: {records} records")),
        "verify with {}: {stdout}",
        config.display()
    );
}

fn cordoned(sandbox: &SandboxProcess) -> usize {
    sandbox.get_json("/api/v1/nodes")["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|node| node["spec"]["unschedulable"] == Value::Bool(true))
        .count()
}

fn deployments_ready(sandbox: &SandboxProcess) -> bool {
    let deployments = sandbox.get_json("/apis/apps/v1/namespaces/shop/deployments");
    deployments["items"].as_array().unwrap().iter().all(|d| {
        d["status"]["readyReplicas"] == d["spec"]["replicas"]
            && d["status"]["updatedReplicas"] == d["spec"]["replicas"]
    })
}

/// No node cordoned and every deployment back at its replicas, Ready.
fn assert_cluster_restored(sandbox: &SandboxProcess, context: &dyn Fn() -> String) {
    assert_eq!(
        cordoned(sandbox),
        0,
        "a node is still cordoned\n{}",
        context()
    );
    wait_until(
        Duration::from_secs(60),
        "every deployment Ready",
        context,
        || deployments_ready(sandbox),
    );
}

/// The run whose zone-failure phase the journal (in PostgreSQL) shows injecting, if any.
fn zone_run_injecting(pg: &PostgresStoreServer) -> Option<String> {
    pg.psql(
        "SELECT run FROM journal WHERE kind = 'injecting' \
         AND entry::json->>'phase' = 'zone-failure' ORDER BY seq DESC LIMIT 1",
    )
    .ok()
    .filter(|run| !run.is_empty())
}

/// Waits until zone-a is cordoned and the journal shows a run's zone-failure injecting:
/// the middle of a zone drill. Returns that run's id.
fn await_zone_injecting(
    pg: &PostgresStoreServer,
    sandbox: &SandboxProcess,
    context: &dyn Fn() -> String,
) -> String {
    let mut zone_run = None;
    wait_until(
        Duration::from_secs(60),
        "zone-a cordoned, zone-failure journaled as injecting",
        context,
        || {
            // The cordon first: the journal's `injecting` is committed before the fault,
            // so once zone-a is cordoned the newest entry is this run's. Read the other
            // way round, an earlier run's entry could be taken for it.
            if cordoned(sandbox) != 1 {
                return false;
            }
            zone_run = zone_run_injecting(pg);
            zone_run.is_some()
        },
    );
    zone_run.unwrap()
}

/// The kinds of `run`'s journal entries, in order.
fn journal_kinds(pg: &PostgresStoreServer, run: &str) -> Vec<String> {
    pg.psql_ok(&format!(
        "SELECT kind FROM journal WHERE run = '{run}' ORDER BY seq"
    ))
    .lines()
    .map(str::to_string)
    .collect()
}

/// Runs the journal shows started and not finished.
fn unfinished_runs(pg: &PostgresStoreServer) -> Vec<String> {
    pg.psql_ok(
        "SELECT run FROM journal GROUP BY run \
         HAVING count(*) FILTER (WHERE kind = 'run-finished') = 0",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// How many messages of each run the Maildir holds (by their `Message-ID`,
/// `<RUN_ID@firedrill.invalid>`).
fn messages_by_run(maildir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return counts;
    };
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let headers = text.split("\r\n\r\n").next().unwrap_or_default();
        let run = headers
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("message-id")
                    .then_some(value.trim())
            })
            .and_then(|id| id.strip_prefix('<')?.strip_suffix("@firedrill.invalid>"))
            .unwrap_or_else(|| panic!("{}: no firedrill Message-ID", entry.path().display()));
        *counts.entry(run.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Every listed run's email was delivered on its first attempt and is in the Maildir
/// exactly once; the Maildir holds nothing else.
fn assert_each_run_mailed_once(maildir: &Path, listed: &[Value]) {
    for run in listed {
        assert_eq!(
            run["email"], "delivered (1 attempts)",
            "the email of {}",
            run["run_id"]
        );
    }
    let counts = messages_by_run(maildir);
    let expected: BTreeMap<String, usize> = run_ids(listed).into_iter().map(|id| (id, 1)).collect();
    assert_eq!(counts, expected, "messages in the Maildir, by run");
}

/// Polls `done` every 100 ms until it holds, panicking after `limit` with `context()`.
fn wait_until(
    limit: Duration,
    what: &str,
    context: &dyn Fn() -> String,
    mut done: impl FnMut() -> bool,
) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The last lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One `firedrill serve` replica: its configuration, API, log and storage directory.
struct Replica {
    identity: &'static str,
    config: PathBuf,
    api: String,
    log: PathBuf,
    data: PathBuf,
    process: Option<Guard>,
}

impl Replica {
    fn new(
        dir: &Path,
        identity: &'static str,
        sandbox: &SandboxProcess,
        pg: &PostgresStoreServer,
        maildir: &Path,
        port: u16,
    ) -> Self {
        let extra = format!(
            "api: {{ listen: \"127.0.0.1:{port}\", token: {{ env: {TOKEN_ENV} }} }}\n\
             leader_election: {{ enabled: true, namespace: shop, lease: firedrill, duration: 3s }}\n"
        );
        let config = write_config(dir, identity, sandbox, pg, maildir, &extra);
        Self {
            identity,
            config,
            api: format!("http://127.0.0.1:{port}"),
            log: dir.join(format!("{identity}.log")),
            data: dir.join(format!("{identity}-data")),
            process: None,
        }
    }

    /// `firedrill serve` as this replica (`FIREDRILL_POD_NAME`), the store's password and
    /// the API token from the environment, its log in `self.log`.
    fn start(&mut self) {
        let child = cli(&self.config)
            .arg("serve")
            .env("FIREDRILL_POD_NAME", self.identity)
            .env(TOKEN_ENV, TOKEN)
            .env("RUST_LOG", "warn,firedrill=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&self.log).unwrap())
            .spawn()
            .expect("start firedrill serve");
        self.process = Some(Guard(child));
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        drop(self.process.take());
    }

    /// `POST /api/v1/drills/DRILL/run` with the token.
    fn trigger(&self, drill: &str) {
        http_request(
            &self.api,
            "POST",
            &format!("/api/v1/drills/{drill}/run"),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .unwrap_or_else(|e| panic!("trigger {drill} on {}: {e}", self.identity));
    }

    /// The runs the replica's API lists (from the shared store).
    fn runs(&self) -> Vec<Value> {
        http_get(&self.api, "/api/v1/runs")
            .ok()
            .and_then(|body| serde_json::from_str::<Value>(&body).ok())
            .and_then(|runs| runs.as_array().cloned())
            .unwrap_or_default()
    }

    /// A run's record from the replica's API.
    fn record(&self, id: &str) -> Value {
        let body = http_get(&self.api, &format!("/api/v1/runs/{id}"))
            .unwrap_or_else(|e| panic!("GET run {id} from {}: {e}", self.identity));
        serde_json::from_str(&body).unwrap()
    }

    /// Whether this replica wrote `run`'s report files (in its own storage directory).
    fn reported(&self, run: &str) -> bool {
        self.data.join("reports").join(run).is_dir()
    }
}

fn lease_holder(sandbox: &SandboxProcess) -> Option<String> {
    http_get(
        &sandbox.url,
        "/apis/coordination.k8s.io/v1/namespaces/shop/leases/firedrill",
    )
    .ok()
    .and_then(|body| serde_json::from_str::<Value>(&body).ok())
    .and_then(|lease| lease["spec"]["holderIdentity"].as_str().map(str::to_string))
}

fn of_drill<'a>(listed: &'a [Value], drill: &str) -> Vec<&'a Value> {
    listed.iter().filter(|run| run["drill"] == drill).collect()
}

#[test]
fn replicas_on_one_postgres_store_run_each_slot_once_and_the_standby_recovers_a_killed_leader() {
    let started = Instant::now();
    let dir = TempDir::new().unwrap();
    let pg = PostgresStoreServer::start(dir.path());
    // Replacements take 12 s to be Ready: the zone drill, triggered at second 50 to 54,
    // is still running when the next minute's slot comes due.
    let sandbox = SandboxProcess::start(dir.path(), Some(platform("12s").as_str()));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    sandbox.wait_ready("shop", "app.kubernetes.io/name=batch", 2);
    let maildir = dir.path().join("mail");
    let port_a = free_port();
    let port_b = std::iter::repeat_with(free_port)
        .find(|port| *port != port_a)
        .unwrap();
    let mut replicas = [
        Replica::new(dir.path(), "replica-a", &sandbox, &pg, &maildir, port_a),
        Replica::new(dir.path(), "replica-b", &sandbox, &pg, &maildir, port_b),
    ];
    for replica in &mut replicas {
        replica.start();
    }
    let logs: Vec<(&str, PathBuf)> = replicas
        .iter()
        .map(|r| (r.identity, r.log.clone()))
        .collect();
    let ctx = || {
        let mut text = String::new();
        for (identity, log) in &logs {
            text.push_str(&format!("--- {identity} log (tail):\n{}\n", tail(log, 40)));
        }
        text.push_str(&format!("--- PostgreSQL log (tail):\n{}\n", pg.log()));
        text
    };
    wait_until(Duration::from_secs(60), "both replicas ready", &ctx, || {
        replicas.iter().all(|r| http_get(&r.api, "/readyz").is_ok())
    });
    wait_until(Duration::from_secs(30), "a leader", &ctx, || {
        lease_holder(&sandbox).is_some()
    });
    let leader_name = lease_holder(&sandbox).unwrap();
    let leader = replicas
        .iter()
        .position(|r| r.identity == leader_name)
        .unwrap_or_else(|| panic!("unknown Lease holder {leader_name}"));
    let standby = 1 - leader;

    // The leader runs the first scheduled slot; both replicas list it from the one store.
    wait_until(
        Duration::from_secs(100),
        "the first scheduled run",
        &ctx,
        || !of_drill(&replicas[leader].runs(), "every-minute").is_empty(),
    );
    assert_eq!(
        replicas[standby].runs().len(),
        replicas[leader].runs().len(),
        "both replicas list the runs of the one store"
    );

    // The zone drill is triggered late in a minute, so that the next slot comes due while
    // it runs and waits in the leader's queue. The leader is SIGKILLed then, with zone-a
    // cordoned and its drain under way.
    let second = Utc::now().second();
    if !(50..54).contains(&second) {
        std::thread::sleep(Duration::from_secs(u64::from((110 - second) % 60)));
    }
    replicas[leader].trigger("zone");
    let queued_slot = {
        let now = Utc::now();
        now - chrono::Duration::seconds(i64::from(now.second()))
            - chrono::Duration::nanoseconds(i64::from(now.nanosecond()))
            + chrono::Duration::minutes(1)
    };
    let zone_run = await_zone_injecting(&pg, &sandbox, &ctx);
    // (The log may colour field names: match the slot's time alone.)
    let due = queued_slot.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    wait_until(
        Duration::from_secs(30),
        "the leader to queue the next slot behind the zone drill",
        &ctx,
        || {
            std::fs::read_to_string(&replicas[leader].log)
                .unwrap_or_default()
                .lines()
                .any(|line| line.contains("Drill due") && line.contains(&due))
        },
    );
    replicas[leader].kill();
    let killed_at = Utc::now();
    let at_kill = journal_kinds(&pg, &zone_run);
    assert!(
        !at_kill.iter().any(|kind| kind == "run-finished"),
        "the zone drill finished before the kill: {at_kill:?}"
    );
    assert_eq!(cordoned(&sandbox), 1, "zone-a is cordoned at the kill");

    // The standby takes the Lease over, rolls the run back and records it interrupted.
    let standby_name = replicas[standby].identity;
    wait_until(
        Duration::from_secs(30),
        "the standby to take the Lease over",
        &ctx,
        || lease_holder(&sandbox).as_deref() == Some(standby_name),
    );
    wait_until(
        Duration::from_secs(60),
        "the standby to record the killed run interrupted",
        &ctx,
        || {
            replicas[standby]
                .runs()
                .iter()
                .any(|run| run["id"] == zone_run.as_str() && run["outcome"] == "interrupted")
        },
    );
    assert_cluster_restored(&sandbox, &ctx);
    assert!(
        replicas[standby].reported(&zone_run),
        "the standby recorded the interrupted run"
    );
    let (code, report, stderr) =
        output_of(cli(&replicas[standby].config).arg("report").arg(&zone_run));
    assert_eq!(code, 0, "report {zone_run}: {stderr}");
    assert!(
        report.contains("Rollback of zone-failure after interruption"),
        "the report of {zone_run} says what was rolled back: {report}"
    );

    // The standby, now leading, runs the next slot.
    wait_until(
        Duration::from_secs(90),
        "a scheduled run by the new leader",
        &ctx,
        || {
            of_drill(&replicas[standby].runs(), "every-minute")
                .iter()
                .any(|run| {
                    run["started_at"]
                        .as_str()
                        .and_then(|at| at.parse::<DateTime<Utc>>().ok())
                        .is_some_and(|at| at > killed_at)
                })
        },
    );

    // PostgreSQL restarts between drills: the leader's next drill runs as before.
    pg.stop();
    pg.start_again();
    replicas[standby].trigger("quick");
    let mut quick = None;
    wait_until(
        Duration::from_secs(60),
        "the drill triggered after PostgreSQL restarted to be recorded",
        &ctx,
        || {
            quick = of_drill(&replicas[standby].runs(), "quick")
                .first()
                .map(|run| run["id"].as_str().unwrap().to_string());
            quick.is_some()
        },
    );
    let quick = quick.unwrap();
    let record = replicas[standby].record(&quick);
    assert_eq!(
        record["outcome"]["kind"],
        "passed",
        "the drill after PostgreSQL restarted: {:#}\n{}",
        record["outcome"],
        ctx()
    );

    // PostgreSQL stops mid-drill and stays down after the drill ends: the leader keeps
    // the record and stores it once PostgreSQL is back, with the outcome the drill had
    // (a run that ended is never recorded `interrupted` for its store's outage).
    replicas[standby].trigger("zone");
    let outage_run = await_zone_injecting(&pg, &sandbox, &ctx);
    pg.stop();
    let retrying = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .any(|line| {
                line.contains("Could not record the run; trying again")
                    && line.contains(&outage_run)
            })
    };
    wait_until(
        Duration::from_secs(60),
        "the leader to finish the drill and wait for its store",
        &ctx,
        || retrying(&replicas[standby].log),
    );
    pg.start_again();
    wait_until(
        Duration::from_secs(60),
        "the run held through the outage to be stored",
        &ctx,
        || {
            replicas[standby]
                .runs()
                .iter()
                .any(|run| run["id"] == outage_run.as_str())
        },
    );
    let record = replicas[standby].record(&outage_run);
    assert_eq!(
        record["outcome"]["kind"],
        "passed",
        "the drill whose store was down when it ended: {:#}\n{}",
        record["outcome"],
        ctx()
    );
    assert_cluster_restored(&sandbox, &ctx);

    // Every email delivered once.
    let config = replicas[standby].config.clone();
    wait_until(
        Duration::from_secs(60),
        "every run's email to be delivered",
        &ctx,
        || {
            runs(&config).iter().all(|run| {
                run["email"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("delivered"))
            })
        },
    );
    let listed = runs(&config);
    assert_each_run_mailed_once(&maildir, &listed);

    // One chain, written by both replicas, intact whichever configuration verifies it.
    let ids = run_ids(&listed);
    for id in &ids {
        let writers: Vec<&str> = replicas
            .iter()
            .filter(|r| r.reported(id))
            .map(|r| r.identity)
            .collect();
        assert_eq!(writers.len(), 1, "run {id} recorded by {writers:?}");
    }
    for replica in &replicas {
        assert!(
            ids.iter().any(|id| replica.reported(id)),
            "{} recorded no run: {ids:?}",
            replica.identity
        );
    }
    for replica in &replicas {
        assert_chain_intact(&replica.config, ids.len());
    }
    assert_eq!(
        unfinished_runs(&pg),
        Vec::<String>::new(),
        "unfinished runs"
    );

    // Each scheduled slot ran once, one a minute with none left out across the takeover;
    // the slot queued behind the killed leader's drill was run by the standby.
    let mut slots: Vec<(DateTime<Utc>, String)> = of_drill(&listed, "every-minute")
        .iter()
        .map(|run| {
            let id = run["run_id"].as_str().unwrap().to_string();
            let record = replicas[standby].record(&id);
            assert_eq!(record["trigger"]["kind"], "schedule", "{record:#}");
            (
                record["scheduled_for"].as_str().unwrap().parse().unwrap(),
                id,
            )
        })
        .collect();
    slots.sort();
    assert!(slots.len() >= 2, "scheduled runs: {slots:?}");
    for pair in slots.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            chrono::Duration::minutes(1),
            "each slot once, none missed: {slots:?}"
        );
    }
    let queued = slots
        .iter()
        .find(|(slot, _)| *slot == queued_slot)
        .unwrap_or_else(|| {
            panic!("the slot {queued_slot} queued at the kill never ran: {slots:?}")
        });
    assert!(
        replicas[standby].reported(&queued.1),
        "the standby ran the slot {queued_slot} queued behind the killed leader's drill"
    );
    for replica in &mut replicas {
        replica.kill();
    }
    println!(
        "replicas on PostgreSQL: {} runs, {} slots, in {:.0} s",
        ids.len(),
        slots.len(),
        started.elapsed().as_secs_f64()
    );
}

/// How long the store is down in [`drill_with_store_down_mid_drill`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outage {
    /// Stopped and started again at once, while the drill goes on.
    Restart,
    /// Stopped until the `firedrill run` process has ended.
    UntilTheRunEnds,
}

/// `firedrill run zone`, with the store's PostgreSQL stopped once zone-a is cordoned.
fn drill_with_store_down_mid_drill(outage: Outage) {
    let started = Instant::now();
    let dir = TempDir::new().unwrap();
    let pg = PostgresStoreServer::start(dir.path());
    // Replacements take 4 s to be Ready: the drill outlasts the restart.
    let sandbox = SandboxProcess::start(dir.path(), Some(platform("4s").as_str()));
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);
    sandbox.wait_ready("shop", "app.kubernetes.io/name=batch", 2);
    let maildir = dir.path().join("mail");
    let config = write_config(dir.path(), "cli", &sandbox, &pg, &maildir, "");
    let out = dir.path().join("run.out");
    let err = dir.path().join("run.err");
    let ctx = || {
        format!(
            "--- run stderr:\n{}\n--- PostgreSQL log (tail):\n{}\n",
            tail(&err, 60),
            pg.log()
        )
    };

    // Recorded before the outage.
    let (code, stdout, stderr) = output_of(cli(&config).args(["run", "quick", "--output", "json"]));
    assert_eq!(code, 0, "the first run: {stdout}{stderr}");
    let before = runs(&config);
    assert_eq!(before.len(), 1, "{before:?}");

    let mut child = Guard(
        cli(&config)
            .args(["run", "zone", "--output", "json"])
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    );
    let zone_run = await_zone_injecting(&pg, &sandbox, &ctx);
    let at_stop = journal_kinds(&pg, &zone_run);
    assert!(
        !at_stop.iter().any(|kind| kind == "run-finished"),
        "the drill finished before the store stopped: {at_stop:?}"
    );
    pg.stop();
    let store_back_at = match outage {
        Outage::Restart => {
            pg.start_again();
            Some(Utc::now())
        }
        Outage::UntilTheRunEnds => None,
    };
    let limit = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < limit,
            "firedrill run did not end within 120 s\n{}",
            ctx()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    if outage == Outage::UntilTheRunEnds {
        pg.start_again();
    }
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(
        !stdout.contains(STORE_PASSWORD) && !stderr.contains(STORE_PASSWORD),
        "the store's password is never printed"
    );
    let store = pg.server_name();
    match serde_json::from_str::<Value>(&stdout) {
        // Finished and recorded: listed, its journal closed, nothing owed.
        Ok(record) => {
            assert_ne!(
                outage,
                Outage::UntilTheRunEnds,
                "a run whose store was down until it ended cannot have been recorded\n{}",
                ctx()
            );
            assert_eq!(record["id"], zone_run.as_str());
            assert_eq!(
                record["outcome"]["kind"],
                "passed",
                "{:#}\n{}",
                record["outcome"],
                ctx()
            );
            assert_eq!(status.code(), Some(0));
            // The store was back before the final rollback was journaled: nothing failed.
            let rolled_back_at = record["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .find(|event| {
                    event["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("Final rollback of zone-failure"))
                })
                .and_then(|event| event["at"].as_str()?.parse::<DateTime<Utc>>().ok())
                .unwrap_or_else(|| panic!("no final rollback in the timeline: {record:#}"));
            // (The timeline notes the rollback once it is journaled; a second covers the
            // rollback itself.)
            if let Some(back) = store_back_at
                && rolled_back_at - back > chrono::Duration::seconds(1)
            {
                assert!(
                    !stderr.contains("ERROR"),
                    "the store was back {} ms before the final rollback, yet:\n{stderr}",
                    (rolled_back_at - back).num_milliseconds(),
                );
            }
            let kinds = journal_kinds(&pg, &zone_run);
            assert!(
                kinds.iter().any(|k| k == "run-finished") && kinds.iter().any(|k| k == "recorded"),
                "the journal closes the run: {kinds:?}"
            );
        }
        // Failed: the error names the store, and `recover` records the run.
        Err(_) => {
            assert_ne!(status.code(), Some(0), "no record, yet exit 0: {stderr}");
            assert!(
                stderr.contains(&format!("PostgreSQL store at {store}")),
                "the error names the store {store}:\n{stderr}"
            );
            let (code, _, recovered) = output_of(cli(&config).arg("recover"));
            assert_eq!(code, 0, "recover: {recovered}");
            assert!(
                recovered.contains(&format!("Recovered interrupted run {zone_run}")),
                "recover: {recovered}"
            );
        }
    }
    // Whatever happened: nothing owed, the cluster as before, nothing recorded lost.
    let (code, _, recovered) = output_of(cli(&config).arg("recover"));
    assert_eq!(code, 0, "recover: {recovered}");
    assert!(
        recovered.contains("No interrupted run"),
        "recover: {recovered}"
    );
    assert_cluster_restored(&sandbox, &ctx);
    let after = runs(&config);
    assert_eq!(after.len(), 2, "{after:#?}");
    assert_eq!(after[0], before[0], "the run recorded before is unchanged");
    assert_eq!(after[1]["run_id"], zone_run.as_str());
    let expected = match outage {
        Outage::Restart => ["passed", "interrupted"].as_slice(),
        Outage::UntilTheRunEnds => ["interrupted"].as_slice(),
    };
    assert!(
        expected.contains(&after[1]["outcome"].as_str().unwrap()),
        "{:#}",
        after[1]
    );
    assert_chain_intact(&config, 2);
    assert_eq!(
        unfinished_runs(&pg),
        Vec::<String>::new(),
        "unfinished runs"
    );
    assert_each_run_mailed_once(&maildir, &after);
    drop(child);
    println!(
        "store {outage:?} mid-drill: {} in {:.0} s",
        after[1]["outcome"],
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_run_whose_postgres_store_restarts_mid_drill_is_recorded_or_fails_naming_it() {
    drill_with_store_down_mid_drill(Outage::Restart);
}

#[test]
fn a_run_whose_postgres_store_stays_down_fails_naming_it_and_recover_records_it() {
    drill_with_store_down_mid_drill(Outage::UntilTheRunEnds);
}
