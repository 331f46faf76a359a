//! Process pods: the kubelet's part for workloads whose container is a local process (a
//! platform file's `process:`). The process starts when its pod starts running (in its own
//! process group, stdout and stderr kept as the pod's log), the pod is Ready while its TCP
//! port accepts (or while it runs), an exit while the pod lives restarts it with the
//! kubelet's crash-loop back-off, a deleted pod's process gets SIGTERM and SIGKILL after
//! the grace period before the pod object goes, and every process is stopped with the
//! sandbox.
//!
//! Signals go to the whole process group with the shell's `kill`, as `pods/exec` does:
//! the workspace has no unsafe code for `killpg(2)`.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Controllers, write_if_changed};
use crate::ground_truth::PodReady;
use crate::object::{self, int_at, str_at};
use crate::platform::{Platform, ProcessSpec, WorkloadKind};
use crate::resources::{NODES, PODS};
use crate::simulated::owner_workload;
use crate::store::{Object, State};

/// How often process pods are looked at (exits, readiness, stops) while any exists.
const POLL: Duration = Duration::from_millis(200);
/// The readiness probe's period once a pod is Ready, and the failures in a row that make
/// it NotReady again (the kubelet's `failureThreshold` default).
const PROBE_PERIOD: Duration = Duration::from_secs(1);
const FAILURE_THRESHOLD: u32 = 3;
/// How long a TCP readiness probe waits for the connection (loopback answers at once).
const PROBE_TIMEOUT: Duration = Duration::from_millis(200);
/// The kubelet's crash-loop back-off: the first restart at once, then 10 s doubling up to
/// 5 minutes, forgotten once a container has run for 10 minutes.
const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
const BACKOFF_RESET: Duration = Duration::from_secs(600);
/// How long the process of a pod removed behind the kubelet's back has after SIGTERM.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);
/// The tail of a pod's output kept as its log.
const LOG_LIMIT: usize = 1 << 20;
/// The longest a stopping sandbox waits for its processes after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The process pods of one sandbox, shared by the controllers (which start and stop the
/// processes), the API (`pods/log`) and the sandbox's handle (which kills them all when it
/// is dropped).
#[derive(Debug, Clone, Default)]
pub struct Processes {
    /// The process of each workload that declares one, with its kind, namespace and name
    /// (a handful: a list).
    specs: Arc<Vec<(WorkloadKind, String, String, ProcessSpec)>>,
    table: Arc<Mutex<Table>>,
}

#[derive(Debug, Default)]
struct Table {
    /// The container of each process pod that started, by pod uid.
    containers: HashMap<String, Container>,
    /// Processes of pods removed without the kubelet (a forced deletion): SIGTERM sent,
    /// SIGKILL at the instant.
    orphans: Vec<(Child, Instant)>,
    /// Each pod's output by `(namespace, name)`, kept after the pod as a node keeps a
    /// container's log for a while.
    logs: HashMap<(String, String), Arc<Mutex<Log>>>,
    /// The sandbox stopped: nothing starts any more.
    closed: bool,
}

/// The output of a pod's container (every start of it), its last [`LOG_LIMIT`] bytes.
#[derive(Debug, Default)]
struct Log {
    bytes: Vec<u8>,
}

impl Log {
    fn append(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        if self.bytes.len() > LOG_LIMIT {
            let excess = self.bytes.len() - LOG_LIMIT;
            self.bytes.drain(..excess);
        }
    }
}

/// One process pod's container as the kubelet tracks it.
#[derive(Debug)]
struct Container {
    spec: ProcessSpec,
    /// The running process; none while crash-looping.
    child: Option<Child>,
    started_at: Instant,
    started_stamp: String,
    restarts: u32,
    /// The next start while crash-looping, the wait before it, and the back-off after it.
    restart_at: Option<Instant>,
    delay: Duration,
    backoff: Duration,
    /// The last exit: `lastState.terminated` in the pod's status.
    last_exit: Option<Value>,
    ready: bool,
    probe_failures: u32,
    next_probe: Instant,
    /// SIGTERM sent (the pod is being deleted); SIGKILL at this instant.
    kill_at: Option<Instant>,
    log: Arc<Mutex<Log>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data stays consistent whatever panicked while holding it: every update is a
    // single field or a whole entry.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Processes {
    /// The process workloads of `platform` (none: nothing is ever started).
    pub fn new(platform: &Platform) -> Self {
        let specs = platform
            .workloads
            .iter()
            .filter_map(|w| {
                let spec = w.process.clone()?;
                Some((w.kind, w.namespace.clone(), w.name.clone(), spec))
            })
            .collect();
        Self {
            specs: Arc::new(specs),
            table: Arc::default(),
        }
    }

    /// The process a pod's container is, when its workload declares one.
    pub(super) fn spec_for(&self, state: &State, pod: &Value) -> Option<&ProcessSpec> {
        if self.specs.is_empty() {
            return None;
        }
        let (kind, name) = owner_workload(state, pod)?;
        let namespace = object::namespace(pod);
        self.specs
            .iter()
            .find(|(k, ns, n, _)| *k == kind && ns == namespace && *n == name)
            .map(|(_, _, _, spec)| spec)
    }

    /// Whether the pod's container is a process that started: its deletion and
    /// readiness are this module's, not the simulated kubelet's.
    pub(super) fn holds(&self, uid: &str) -> bool {
        !self.specs.is_empty() && locked(&self.table).containers.contains_key(uid)
    }

    /// The output of a process pod's container so far, if it is one that started.
    pub fn log(&self, namespace: &str, pod: &str) -> Option<String> {
        let table = locked(&self.table);
        let log = table.logs.get(&(namespace.to_owned(), pod.to_owned()))?;
        let text = String::from_utf8_lossy(&locked(log).bytes).into_owned();
        Some(text)
    }

    /// Stops every process: SIGTERM to each group, SIGKILL to those still running
    /// [`STOP_GRACE`] later; nothing starts afterwards.
    pub async fn stop_all(&self) {
        let mut children = self.close();
        if children.is_empty() {
            return;
        }
        for child in &children {
            signal_group(child.id(), Signal::Term);
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            children.retain_mut(|child| !matches!(child.try_wait(), Ok(Some(_)) | Err(_)));
            if children.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::info!(
            count = children.len(),
            "Sandbox process pods still running after SIGTERM: killed"
        );
        for mut child in children {
            kill_now(&mut child);
        }
    }

    /// Kills every process at once (SIGKILL to each group) and starts nothing afterwards:
    /// for a sandbox dropped without being stopped.
    pub fn kill_all(&self) {
        for mut child in self.close() {
            kill_now(&mut child);
        }
    }

    /// Marks the table closed and takes every process out of it.
    fn close(&self) -> Vec<Child> {
        let mut table = locked(&self.table);
        table.closed = true;
        let mut children: Vec<Child> = table
            .containers
            .drain()
            .filter_map(|(_, container)| container.child)
            .collect();
        children.extend(table.orphans.drain(..).map(|(child, _)| child));
        children
    }
}

/// Kills the sandbox's processes when dropped: the handle of an embedded sandbox holds
/// one, so that no server outlives it.
#[derive(Debug)]
pub struct KillOnDrop(pub Processes);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_all();
    }
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Sends a signal to the process group `pid` leads (the process and what it started).
fn signal_group(pid: u32, signal: Signal) {
    let number = match signal {
        Signal::Term => 15,
        Signal::Kill => 9,
    };
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -{number} -{pid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !sent.is_ok_and(|status| status.success()) {
        tracing::debug!(pid, ?signal, "Process pod: no process group to signal");
    }
}

/// SIGKILL to the group, then the process reaped.
fn kill_now(child: &mut Child) {
    signal_group(child.id(), Signal::Kill);
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts a container's process in its own process group, its output into `log`.
fn spawn(spec: &ProcessSpec, log: &Arc<Mutex<Log>>) -> std::io::Result<Child> {
    let (program, args) = spec
        .command
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command"))?;
    let mut child = Command::new(program)
        .args(args)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: a terminal's Ctrl-C does not reach it, the sandbox stops it, and
        // what it starts is signalled with it.
        .process_group(0)
        .spawn()?;
    let outputs: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ];
    for mut output in outputs.into_iter().flatten() {
        let log = Arc::clone(log);
        // A thread per stream, ending when the process group closes it.
        let copied = std::thread::Builder::new()
            .name("sandbox-process-log".into())
            .spawn(move || {
                let mut buffer = [0u8; 8192];
                loop {
                    match output.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(read) => locked(&log).append(&buffer[..read]),
                    }
                }
            });
        if let Err(error) = copied {
            tracing::warn!(%error, "Process pod: its output is not logged");
        }
    }
    Ok(child)
}

/// A whole-second duration as Go prints it in the kubelet's messages (`10s`, `5m0s`).
fn go_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{seconds}s")
    } else {
        format!("{}m{}s", seconds / 60, seconds % 60)
    }
}

/// Whether something accepts TCP connections on the loopback port.
fn tcp_accepts(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, PROBE_TIMEOUT).is_ok()
}

/// An exit status as a container's exit code (a signal `n` gives `128 + n`).
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1)
}

impl Container {
    fn new(spec: ProcessSpec, log: Arc<Mutex<Log>>, now: Instant) -> Self {
        Self {
            spec,
            child: None,
            started_at: now,
            started_stamp: String::new(),
            restarts: 0,
            restart_at: Some(now),
            delay: Duration::ZERO,
            backoff: Duration::ZERO,
            last_exit: None,
            ready: false,
            probe_failures: 0,
            next_probe: now,
            kill_at: None,
            log,
        }
    }

    /// Starts the process (again); a start that fails counts as an exit.
    fn start(&mut self, now: Instant, stamp: &str, pod: &str) {
        self.restart_at = None;
        self.ready = false;
        self.probe_failures = 0;
        self.next_probe = now;
        match spawn(&self.spec, &self.log) {
            Ok(child) => {
                tracing::debug!(pod, pid = child.id(), "Process pod started");
                self.child = Some(child);
                self.started_at = now;
                self.started_stamp = stamp.to_owned();
            }
            Err(error) => {
                let program = self.spec.command.first().map_or("", String::as_str);
                let message = format!("cannot run {program}: {error}");
                locked(&self.log).append(format!("sandbox: {message}\n").as_bytes());
                self.exited(128, "StartError", &message, now, stamp);
            }
        }
    }

    /// Notes an exit and when the next start is due.
    fn exited(&mut self, code: i32, reason: &str, message: &str, now: Instant, stamp: &str) {
        self.child = None;
        self.ready = false;
        let mut terminated = json!({
            "exitCode": code,
            "reason": reason,
            "startedAt": self.started_stamp,
            "finishedAt": stamp,
        });
        if !message.is_empty() {
            terminated["message"] = json!(message);
        }
        self.last_exit = Some(json!({"terminated": terminated}));
        if now.saturating_duration_since(self.started_at) >= BACKOFF_RESET {
            self.backoff = Duration::ZERO;
        }
        self.delay = self.backoff;
        self.restart_at = Some(now + self.delay);
        self.backoff = if self.backoff.is_zero() {
            BACKOFF_INITIAL
        } else {
            (self.backoff * 2).min(BACKOFF_MAX)
        };
    }

    /// Probes readiness when due.
    fn probe(&mut self, now: Instant) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let Some(port) = self.spec.ready_tcp else {
            self.ready = matches!(child.try_wait(), Ok(None));
            return;
        };
        if now < self.next_probe {
            return;
        }
        if tcp_accepts(port) {
            self.ready = true;
            self.probe_failures = 0;
        } else if self.ready {
            self.probe_failures += 1;
            if self.probe_failures >= FAILURE_THRESHOLD {
                self.ready = false;
                self.probe_failures = 0;
            }
        }
        self.next_probe = now + if self.ready { PROBE_PERIOD } else { POLL };
    }

    /// The container's `state` in the pod's status.
    fn state(&self, pod: &Value) -> Value {
        if self.child.is_some() {
            return json!({"running": {"startedAt": self.started_stamp}});
        }
        json!({"waiting": {
            "reason": "CrashLoopBackOff",
            "message": format!(
                "back-off {} restarting failed container={} pod={}_{}({})",
                go_duration(self.delay),
                str_at(pod, "/spec/containers/0/name"),
                object::name(pod),
                object::namespace(pod),
                object::uid(pod),
            ),
        }})
    }
}

impl Controllers {
    /// The process pods this sandbox runs (none unless the platform file declares them).
    pub fn with_processes(mut self, processes: Processes) -> Self {
        self.processes = processes;
        self
    }

    /// One pass over the process pods: starts, exits and restarts, readiness, stops of
    /// deleted pods, and the processes of pods removed behind the kubelet's back.
    pub(super) fn process_pods(&mut self, state: &mut State, now: Instant) {
        if self.processes.specs.is_empty() {
            return;
        }
        let processes = self.processes.clone();
        let mut table = locked(&processes.table);
        if table.closed {
            return;
        }
        let wall_now = Utc::now();
        let stamp = object::timestamp(wall_now);
        let pods: Vec<(Object, ProcessSpec)> = state
            .list(&PODS, None)
            .filter(|pod| !str_at(pod, "/spec/nodeName").is_empty())
            .filter_map(|pod| {
                let spec = processes.spec_for(state, pod)?.clone();
                Some((Arc::clone(pod), spec))
            })
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        for (pod, spec) in pods {
            let uid = object::uid(&pod).to_owned();
            seen.insert(uid.clone());
            if object::is_terminating(&pod) {
                if let Some(container) = table.containers.get_mut(&uid)
                    && self::stopped(container, &pod, now, &mut self.next_due)
                {
                    table.containers.remove(&uid);
                    state.remove(&PODS, object::namespace(&pod), object::name(&pod));
                }
                continue;
            }
            if str_at(&pod, "/status/phase") != "Running" {
                continue;
            }
            let key = (
                object::namespace(&pod).to_owned(),
                object::name(&pod).to_owned(),
            );
            if !table.containers.contains_key(&uid) {
                // A new pod of that name starts a new log.
                let log: Arc<Mutex<Log>> = Arc::default();
                table.logs.insert(key, Arc::clone(&log));
                table
                    .containers
                    .insert(uid.clone(), Container::new(spec, log, now));
            }
            let Some(container) = table.containers.get_mut(&uid) else {
                continue;
            };
            if let Some(child) = container.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                // The container ends with its main process: what it left running in its
                // group goes too (the group's id cannot be reused while any member lives).
                signal_group(child.id(), Signal::Kill);
                let code = exit_code(status);
                let reason = if code == 0 { "Completed" } else { "Error" };
                tracing::info!(pod = %object::name(&pod), code, "Process pod exited");
                container.exited(code, reason, "", now, &stamp);
            }
            if container.child.is_none()
                && let Some(restart_at) = container.restart_at
            {
                if now >= restart_at {
                    if container.last_exit.is_some() {
                        container.restarts += 1;
                    }
                    container.start(now, &stamp, object::name(&pod));
                } else {
                    due(&mut self.next_due, restart_at);
                }
            }
            let was_ready = object::pod_is_ready(&pod);
            let node_ready = state
                .get(&NODES, "", str_at(&pod, "/spec/nodeName"))
                .is_some_and(|node| object::condition_is_true(node, "Ready"));
            container.probe(now);
            let ready = container.ready && node_ready;
            let mut updated = (*pod).clone();
            set_container_status(&mut updated, container, ready, &stamp);
            write_if_changed(state, &PODS, &pod, updated);
            if ready && !was_ready {
                self.record_ready(state, &pod, wall_now);
            }
        }
        // Pods removed without the kubelet (forced deletion, namespace deletion): their
        // processes get "a small grace period before being force killed", as the
        // Kubernetes documentation puts it for force-deleted pods.
        let gone: Vec<String> = table
            .containers
            .keys()
            .filter(|uid| !seen.contains(uid.as_str()))
            .cloned()
            .collect();
        for uid in gone {
            if let Some(Container {
                child: Some(child), ..
            }) = table.containers.remove(&uid)
            {
                signal_group(child.id(), Signal::Term);
                table.orphans.push((child, now + ORPHAN_GRACE));
            }
        }
        table.orphans.retain_mut(|(child, kill_at)| {
            if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
                return false;
            }
            if now >= *kill_at {
                kill_now(child);
                return false;
            }
            true
        });
        if !table.containers.is_empty() || !table.orphans.is_empty() {
            due(&mut self.next_due, now + POLL);
        }
    }

    /// Records in the ground truth that a process pod became Ready.
    fn record_ready(&self, state: &State, pod: &Value, now: DateTime<Utc>) {
        let node_name = str_at(pod, "/spec/nodeName").to_owned();
        let zone = state
            .get(&NODES, "", &node_name)
            .map(|node| str_at(node, "/metadata/labels/topology.kubernetes.io~1zone").to_owned())
            .unwrap_or_default();
        let (workload_kind, workload) = self.workload_of(state, pod);
        self.recorder.record(PodReady {
            namespace: object::namespace(pod).to_owned(),
            pod: object::name(pod).to_owned(),
            uid: object::uid(pod).to_owned(),
            workload_kind,
            workload,
            node: node_name,
            zone,
            pod_ip: str_at(pod, "/status/podIP").to_owned(),
            created_at: str_at(pod, "/metadata/creationTimestamp")
                .parse::<DateTime<Utc>>()
                .unwrap_or(now),
            ready_at: now,
        });
    }
}

/// Moves a deleted pod's process towards its end: SIGTERM at first sight, SIGKILL once
/// the pod's grace period is over. `true` once it has exited (or never ran).
fn stopped(
    container: &mut Container,
    pod: &Value,
    now: Instant,
    next_due: &mut Option<Instant>,
) -> bool {
    let Some(child) = container.child.as_mut() else {
        return true;
    };
    let kill_at = *container.kill_at.get_or_insert_with(|| {
        signal_group(child.id(), Signal::Term);
        let grace = int_at(pod, "/metadata/deletionGracePeriodSeconds")
            .unwrap_or(30)
            .max(0);
        now + Duration::from_secs(grace as u64)
    });
    if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
        return true;
    }
    if now >= kill_at {
        tracing::info!(pod = %object::name(pod), "Process pod did not stop within its grace period: killed");
        kill_now(child);
        return true;
    }
    due(next_due, kill_at.min(now + POLL));
    false
}

fn due(next_due: &mut Option<Instant>, at: Instant) {
    *next_due = Some(next_due.map_or(at, |due| due.min(at)));
}

/// Writes the container's status and the pod's readiness conditions.
fn set_container_status(pod: &mut Value, container: &Container, ready: bool, stamp: &str) {
    let state = container.state(pod);
    if let Some(status) = pod.pointer_mut("/status/containerStatuses/0") {
        status["ready"] = json!(ready);
        status["started"] = json!(container.child.is_some());
        status["restartCount"] = json!(container.restarts);
        status["state"] = state;
        status["lastState"] = container.last_exit.clone().unwrap_or_else(|| json!({}));
    }
    if object::pod_is_ready(pod) != ready {
        let reason = (!ready).then_some("ContainersNotReady");
        object::set_condition(pod, "ContainersReady", ready, reason, stamp);
        object::set_condition(pod, "Ready", ready, reason, stamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(command: &[&str]) -> ProcessSpec {
        ProcessSpec {
            command: command.iter().map(|w| (*w).to_owned()).collect(),
            env: Default::default(),
            ready_tcp: None,
        }
    }

    #[test]
    fn the_back_off_restarts_at_once_then_after_10_s_doubling_to_5_minutes() {
        let now = Instant::now();
        let mut container = Container::new(spec(&["true"]), Arc::default(), now);
        let mut delays = Vec::new();
        for _ in 0..7 {
            container.exited(1, "Error", "", now, "");
            delays.push(
                container
                    .restart_at
                    .map(|at| at.saturating_duration_since(now).as_secs()),
            );
        }
        assert_eq!(
            delays,
            [0, 10, 20, 40, 80, 160, 300].map(Some).to_vec(),
            "the kubelet's documented back-off"
        );
    }

    #[test]
    fn back_off_messages_print_durations_as_the_kubelet_does() {
        assert_eq!(go_duration(Duration::from_secs(40)), "40s");
        assert_eq!(go_duration(BACKOFF_MAX), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(160)), "2m40s");
    }

    #[test]
    fn a_log_keeps_its_tail() {
        let mut log = Log::default();
        log.append(&vec![b'a'; LOG_LIMIT]);
        log.append(b"end");
        assert_eq!(log.bytes.len(), LOG_LIMIT);
        assert!(log.bytes.ends_with(b"aend"));
    }

    #[test]
    fn a_missing_program_is_a_start_error_and_crash_loops() {
        let now = Instant::now();
        let mut container = Container::new(
            spec(&["/nonexistent/firedrill-no-such-program"]),
            Arc::default(),
            now,
        );
        container.start(now, "2026-01-01T00:00:00Z", "p-0");
        assert!(container.child.is_none());
        let reason = container
            .last_exit
            .as_ref()
            .and_then(|exit| exit.pointer("/terminated/reason"))
            .and_then(Value::as_str);
        assert_eq!(reason, Some("StartError"));
        assert!(
            String::from_utf8_lossy(&locked(&container.log).bytes).contains("cannot run"),
            "the pod's log says why"
        );
    }
}
