//! Process pods (a platform file's `process:`): the container is a real local process that
//! the kubelet starts, probes, restarts, stops on deletion and kills with the sandbox.

use crate::common;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use common::{TestSandbox, fast_timing, wait_for};
use firedrill_sandbox::{Platform, SandboxConfig};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

/// Whether a process is still alive: gone, or a zombie nobody reaped, is dead.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn accepts(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A sandbox with one process statefulset `server` (namespace `proc`) whose process
/// writes its pid to `pid` in `dir`, prints `started`, and listens on `port` (Python's
/// socket).
async fn server_sandbox(port: u16, dir: &Path) -> Result<TestSandbox> {
    let script = format!(
        "echo $$ > {pid}; echo started; exec python3 -c \"import socket, time; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(600)\"",
        pid = dir.join("pid").display()
    );
    let platform = format!(
        "namespace: proc\nzones: [zone-a]\nnodesPerZone: 1\nstatefulsets:\n  - name: server\n    replicas: 1\n    port: {port}\n    startDelay: 0s\n    process:\n      command: [sh, -c, {script:?}]\n      ready: {{tcp: {port}}}\n"
    );
    TestSandbox::with_config(SandboxConfig {
        platform: Platform::from_yaml(&platform, Path::new("process.yaml"))?,
        timing: fast_timing(),
        ..SandboxConfig::default()
    })
    .await
}

async fn read_pid(pid_file: &Path, not: Option<u32>) -> Result<u32> {
    wait_for(
        "the process to write its pid",
        Duration::from_secs(20),
        || async move {
            Ok(std::fs::read_to_string(pid_file)
                .ok()
                .and_then(|text| text.trim().parse::<u32>().ok())
                .filter(|pid| Some(*pid) != not))
        },
    )
    .await
}

async fn ready_pod(pods: &Api<Pod>, name: &str) -> Result<Pod> {
    wait_for(
        "the pod to be Ready",
        Duration::from_secs(30),
        || async move {
            let pod = pods.get_opt(name).await?;
            Ok(pod.filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .into_iter()
                        .flatten()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            }))
        },
    )
    .await
}

async fn scale(client: &kube::Client, replicas: i32) -> Result<()> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "proc");
    sets.patch(
        "server",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": replicas}})),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_pod_is_ready_on_its_port_and_its_process_ends_before_the_pod_goes() -> Result<()>
{
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let pid_file = dir.path().join("pid");
    let sandbox = server_sandbox(port, dir.path()).await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "proc");
    let pod = ready_pod(&pods, "server-0").await?;
    assert!(accepts(port), "Ready means the port accepts");
    let first = read_pid(&pid_file, None).await?;
    assert!(alive(first));
    let status = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .context("a container status")?;
    assert_eq!(status.restart_count, 0);
    assert!(
        status
            .state
            .as_ref()
            .and_then(|s| s.running.as_ref())
            .is_some()
    );
    let log = pods.logs("server-0", &Default::default()).await?;
    assert!(
        log.contains("started"),
        "the process's output is the pod's log: {log:?}"
    );

    // Scaled to zero, the pod is removed only once its process has exited.
    scale(&client, 0).await?;
    wait_for("the pod to be gone", Duration::from_secs(30), || {
        let pods = pods.clone();
        async move {
            let gone = pods.get_opt("server-0").await?.is_none();
            if gone {
                assert!(
                    !alive(first),
                    "the process ended before the pod was removed"
                );
            }
            Ok(gone.then_some(()))
        }
    })
    .await?;
    assert!(!accepts(port));

    // Scaled up again, a new process serves.
    scale(&client, 1).await?;
    ready_pod(&pods, "server-0").await?;
    let second = read_pid(&pid_file, Some(first)).await?;
    assert!(alive(second) && accepts(port));

    sandbox.handle.shutdown().await?;
    assert!(!alive(second), "stopping the sandbox stops its processes");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pid_file = dir.path().join("pid");
    let script = format!(
        "trap '' TERM; echo $$ > {}; exec sleep 600",
        pid_file.display()
    );
    let platform = format!(
        "namespace: proc\nzones: [zone-a]\nnodesPerZone: 1\nstatefulsets:\n  - name: stubborn\n    replicas: 1\n    startDelay: 0s\n    process:\n      command: [sh, -c, {script:?}]\n"
    );
    let sandbox = TestSandbox::with_config(SandboxConfig {
        platform: Platform::from_yaml(&platform, Path::new("process.yaml"))?,
        timing: fast_timing(),
        ..SandboxConfig::default()
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, "proc");
    let uid = ready_pod(&pods, "stubborn-0").await?.metadata.uid;
    let pid = read_pid(&pid_file, None).await?;
    pods.delete(
        "stubborn-0",
        &DeleteParams {
            grace_period_seconds: Some(1),
            ..DeleteParams::default()
        },
    )
    .await?;
    // SIGTERM is ignored: the pod stays, terminating, while its process runs.
    let terminating = pods.get_opt("stubborn-0").await?;
    assert!(
        terminating.is_some_and(|p| p.metadata.deletion_timestamp.is_some()) && alive(pid),
        "the pod waits for its process"
    );
    // Its StatefulSet replaces it at once: the pod of that uid is what goes.
    wait_for("the pod to be gone", Duration::from_secs(20), || {
        let pods = pods.clone();
        let uid = uid.clone();
        async move {
            let current = pods.get_opt("stubborn-0").await?;
            Ok(current.is_none_or(|p| p.metadata.uid != uid).then_some(()))
        }
    })
    .await?;
    assert!(!alive(pid), "SIGKILL after the grace period");
    // Its replacement ignores SIGTERM too: dropping the handle kills it without the wait
    // a graceful stop would give it.
    let TestSandbox { handle, .. } = sandbox;
    drop(handle);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_exits_is_restarted_then_backs_off() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let starts = dir.path().join("starts");
    let script = format!("echo $$ >> {}; exit 3", starts.display());
    let platform = format!(
        "namespace: proc\nzones: [zone-a]\nnodesPerZone: 1\ndeployments:\n  - name: crashy\n    replicas: 1\n    startDelay: 0s\n    process:\n      command: [sh, -c, {script:?}]\n"
    );
    let sandbox = TestSandbox::with_config(SandboxConfig {
        platform: Platform::from_yaml(&platform, Path::new("process.yaml"))?,
        timing: fast_timing(),
        ..SandboxConfig::default()
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, "proc");
    let status = wait_for(
        "the container to crash-loop",
        Duration::from_secs(20),
        || {
            let pods = pods.clone();
            async move {
                let list = pods.list(&Default::default()).await?;
                let status = list
                    .items
                    .into_iter()
                    .filter_map(|p| p.status?.container_statuses?.into_iter().next())
                    .find(|s| {
                        s.state
                            .as_ref()
                            .and_then(|state| state.waiting.as_ref())
                            .and_then(|w| w.reason.as_deref())
                            == Some("CrashLoopBackOff")
                    });
                Ok(status)
            }
        },
    )
    .await?;
    // Restarted at once after the first exit, then held back after the second.
    assert_eq!(status.restart_count, 1, "{status:?}");
    assert!(!status.ready);
    let exit_code = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(exit_code, Some(3));
    let started = std::fs::read_to_string(&starts)?.lines().count();
    assert_eq!(started, 2, "started, restarted, then backing off");
    sandbox.handle.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_sandbox_handle_kills_its_processes() -> Result<()> {
    let port = free_port()?;
    let dir = tempfile::tempdir()?;
    let pid_file = dir.path().join("pid");
    let sandbox = server_sandbox(port, dir.path()).await?;
    let pods: Api<Pod> = Api::namespaced(sandbox.client()?, "proc");
    ready_pod(&pods, "server-0").await?;
    let pid = read_pid(&pid_file, None).await?;
    let TestSandbox { handle, .. } = sandbox;
    drop(handle);
    assert!(!alive(pid), "no server outlives the embedded sandbox");
    Ok(())
}
