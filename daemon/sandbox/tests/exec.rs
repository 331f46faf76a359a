//! `pods/exec` against a running sandbox: real kubectl (WebSocket `v5.channel.k8s.io`)
//! and kube's `AttachedProcess`, the simulated `nodetool status` and
//! `kafka-topics.sh --describe` following the pods through a fault, and local exec.

use crate::common;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use common::{TestSandbox, fast_timing, wait_for};
use firedrill_sandbox::{Platform, SandboxConfig};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, PostParams};
use tokio::io::AsyncReadExt;

/// What an exec printed and its exit code, read the way firedrill's `KubeCluster` reads it.
#[derive(Debug)]
struct Executed {
    stdout: String,
    stderr: String,
    exit_code: i32,
}

async fn kube_exec(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    command: &[&str],
) -> Result<Executed> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let params = AttachParams::default().stdout(true).stderr(true);
    let mut attached = pods.exec(pod, command.iter().copied(), &params).await?;
    let mut stdout_pipe = attached.stdout().context("stdout")?;
    let mut stderr_pipe = attached.stderr().context("stderr")?;
    let status = attached.take_status().context("status")?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    let (out, err, status) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(
            stdout_pipe.read_to_string(&mut stdout),
            stderr_pipe.read_to_string(&mut stderr),
            status
        )
    })
    .await?;
    out?;
    err?;
    let status = status.context("no status on the error channel")?;
    let exit_code = if status.status.as_deref() == Some("Success") {
        0
    } else {
        status
            .details
            .and_then(|d| d.causes)
            .and_then(|causes| {
                causes
                    .into_iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|c| c.message)
            .context("a failure status without an exit code")?
            .parse()?
    };
    Ok(Executed {
        stdout,
        stderr,
        exit_code,
    })
}

/// The HTTP code of a refused exec.
async fn refused_code(
    client: &kube::Client,
    namespace: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<(u16, String)> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut params = AttachParams::default().stdout(true).stderr(true);
    if let Some(container) = container {
        params = params.container(container);
    }
    match pods.exec(pod, ["nodetool", "status"], &params).await {
        Ok(_) => bail!("exec on {pod} was accepted"),
        Err(kube::Error::Api(status)) => Ok((status.code, status.message.clone())),
        Err(other) => bail!("exec on {pod} failed otherwise: {other}"),
    }
}

fn status_lines(nodetool: &str) -> Vec<(String, String)> {
    nodetool
        .lines()
        .filter(|l| matches!(l.get(..2), Some("UN" | "UJ" | "DN" | "UL" | "DL")))
        .map(|l| {
            let mut words = l.split_whitespace();
            (
                words.next().unwrap_or_default().to_owned(),
                words.next().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `(partition, leader, replicas, isr)` of every partition line.
fn partitions(describe: &str) -> Vec<(String, String, Vec<u32>, Vec<u32>)> {
    let ids = |text: &str| -> Vec<u32> { text.split(',').filter_map(|n| n.parse().ok()).collect() };
    describe
        .lines()
        .filter(|l| l.starts_with('\t'))
        .map(|l| {
            let field = |name: &str| {
                l.split('\t')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or_default()
                    .to_owned()
            };
            (
                field("Partition: "),
                field("Leader: "),
                ids(&field("Replicas: ")),
                ids(&field("Isr: ")),
            )
        })
        .collect()
}

async fn pod_uid_when_ready(pods: &Api<Pod>, name: &str, not_uid: &str) -> Result<Option<String>> {
    let Some(pod) = pods.get_opt(name).await? else {
        return Ok(None);
    };
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let ready = pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
    Ok((ready && uid != not_uid).then_some(uid))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_runs_nodetool_and_kafka_topics_and_reports_exit_codes() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let nodetool = sandbox.kubectl_ok(&[
        "exec",
        "-n",
        "butterfly",
        "cassandra-0",
        "--",
        "nodetool",
        "status",
    ])?;
    assert!(
        nodetool.starts_with("Datacenter: dc1\n===============\nStatus=Up/Down\n"),
        "{nodetool}"
    );
    let lines = status_lines(&nodetool);
    assert_eq!(lines.len(), 3, "{nodetool}");
    assert!(lines.iter().all(|(status, _)| status == "UN"), "{nodetool}");
    let describe = sandbox.kubectl_ok(&[
        "exec",
        "-n",
        "butterfly",
        "kafka-0",
        "-c",
        "kafka",
        "--",
        "/opt/kafka/bin/kafka-topics.sh",
        "--bootstrap-server",
        "localhost:9092",
        "--describe",
        "--topic",
        "orders",
    ])?;
    assert!(
        describe.starts_with("Topic: orders\tTopicId: "),
        "{describe}"
    );
    assert_eq!(partitions(&describe).len(), 6, "{describe}");
    let missing = sandbox.kubectl(&[
        "exec",
        "-n",
        "butterfly",
        "redis-0",
        "--",
        "redis-cli",
        "ping",
    ])?;
    assert!(!missing.success);
    assert!(
        missing
            .stderr
            .contains("sandbox: redis-cli: command not found"),
        "{}",
        missing.stderr
    );
    assert!(
        missing
            .stderr
            .contains("command terminated with exit code 127"),
        "{}",
        missing.stderr
    );
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_exec_reads_output_and_the_exit_code_from_the_status_channel() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let listed = kube_exec(
        &client,
        "butterfly",
        "kafka-2",
        &["kafka-topics", "--bootstrap-server", "kafka:9092", "--list"],
    )
    .await?;
    // The seed's topics: the defaults and the runbook's rim.fast-path.
    assert_eq!(listed.stdout, "firedrill-canary\norders\nrim.fast-path\n");
    assert_eq!(listed.exit_code, 0);
    let not_found = kube_exec(
        &client,
        "butterfly",
        "cassandra-1",
        &["cassandra-stress", "write", "n=1"],
    )
    .await?;
    assert_eq!(not_found.exit_code, 127);
    assert_eq!(not_found.stdout, "");
    assert!(
        not_found
            .stderr
            .starts_with("sandbox: cassandra-stress: command not found ("),
        "{}",
        not_found.stderr
    );
    let bad_flag = kube_exec(
        &client,
        "butterfly",
        "kafka-0",
        &["kafka-topics.sh", "--describe", "--zookeeper", "zk:2181"],
    )
    .await?;
    assert_eq!(bad_flag.exit_code, 1);
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_refuses_missing_pods_pods_not_running_and_unknown_containers() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let (code, message) = refused_code(&client, "butterfly", "cassandra-9", None).await?;
    assert_eq!(code, 404, "{message}");
    let (code, message) =
        refused_code(&client, "butterfly", "cassandra-0", Some("sidecar")).await?;
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("sidecar"), "{message}");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "butterfly");
    let slow: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "slow", "annotations": {"sandbox.firedrill.dev/start-delay": "1h"}},
        "spec": {"containers": [{"name": "slow", "image": "busybox"}]},
    }))?;
    pods.create(&PostParams::default(), &slow).await?;
    let (code, message) = refused_code(&client, "butterfly", "slow", None).await?;
    assert_eq!(code, 400, "{message}");
    assert_eq!(message, "pod slow is not running");
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodetool_status_shows_a_deleted_node_down_until_its_replacement_is_ready() -> Result<()> {
    let sandbox = TestSandbox::start().await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "butterfly");
    let before = kube_exec(&client, "butterfly", "cassandra-0", &["nodetool", "status"]).await?;
    let before_lines = status_lines(&before.stdout);
    assert_eq!(before_lines.len(), 3);
    let host_id = |text: &str| -> Option<String> {
        text.lines()
            .find(|l| l.contains(&before_lines[1].1))
            .and_then(|l| l.split_whitespace().nth(6).map(str::to_owned))
    };
    let old_host_id = host_id(&before.stdout).context("host id of cassandra-1")?;
    let old_uid = pods
        .get("cassandra-1")
        .await?
        .metadata
        .uid
        .unwrap_or_default();
    pods.delete("cassandra-1", &DeleteParams::default()).await?;
    let down = kube_exec(&client, "butterfly", "cassandra-0", &["nodetool", "status"]).await?;
    let down_lines = status_lines(&down.stdout);
    assert_eq!(
        down_lines[1],
        ("DN".to_owned(), before_lines[1].1.clone()),
        "{}",
        down.stdout
    );
    assert_eq!(down_lines[0].0, "UN");
    assert_eq!(down_lines[2].0, "UN");
    wait_for(
        "the replacement of cassandra-1 to be Ready",
        Duration::from_secs(30),
        || {
            let pods = pods.clone();
            let old_uid = old_uid.clone();
            async move { pod_uid_when_ready(&pods, "cassandra-1", &old_uid).await }
        },
    )
    .await?;
    let after = kube_exec(&client, "butterfly", "cassandra-2", &["nodetool", "status"]).await?;
    let after_lines = status_lines(&after.stdout);
    assert!(
        after_lines.iter().all(|(status, _)| status == "UN"),
        "{}",
        after.stdout
    );
    let new_ip = pods
        .get("cassandra-1")
        .await?
        .status
        .and_then(|s| s.pod_ip)
        .unwrap_or_default();
    assert_eq!(
        after_lines[1].1, new_ip,
        "the replacement's address is its pod IP"
    );
    let new_host_id = after
        .stdout
        .lines()
        .find(|l| l.contains(&new_ip))
        .and_then(|l| l.split_whitespace().nth(6).map(str::to_owned));
    assert_eq!(
        new_host_id,
        Some(old_host_id),
        "the host id survives the replacement"
    );
    sandbox.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_broker_leaves_every_isr_and_rejoins_only_after_catching_up() -> Result<()> {
    let catch_up = Duration::from_secs(1);
    let sandbox = TestSandbox::with_config(SandboxConfig {
        timing: firedrill_sandbox::Timing {
            isr_catch_up: catch_up,
            ..fast_timing()
        },
        ..SandboxConfig::default()
    })
    .await?;
    let client = sandbox.client()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "butterfly");
    let describe = || async {
        kube_exec(
            &client,
            "butterfly",
            "kafka-0",
            &[
                "kafka-topics.sh",
                "--bootstrap-server",
                "localhost:9092",
                "--describe",
            ],
        )
        .await
    };
    let healthy = describe().await?;
    let all = partitions(&healthy.stdout);
    // firedrill-canary (3), orders (6) and rim.fast-path (12).
    assert_eq!(all.len(), 21, "{}", healthy.stdout);
    assert!(
        all.iter().all(|(_, _, replicas, isr)| replicas == isr),
        "{}",
        healthy.stdout
    );
    assert!(
        all.iter().any(|(_, leader, _, _)| leader == "1"),
        "broker 1 leads some partitions"
    );
    let old_uid = pods.get("kafka-1").await?.metadata.uid.unwrap_or_default();
    pods.delete("kafka-1", &DeleteParams::default()).await?;
    let degraded = describe().await?;
    for (partition, leader, replicas, isr) in partitions(&degraded.stdout) {
        assert!(
            !isr.contains(&1),
            "partition {partition}: {}",
            degraded.stdout
        );
        assert_ne!(leader, "1", "partition {partition}: {}", degraded.stdout);
        let expected: Vec<u32> = replicas.iter().copied().filter(|b| *b != 1).collect();
        assert_eq!(isr, expected, "{}", degraded.stdout);
        assert_eq!(leader, expected[0].to_string());
    }
    // Poll until the ISRs are whole again; note when the replacement was first seen Ready.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen_ready = None;
    let whole_at = loop {
        if tokio::time::Instant::now() > deadline {
            bail!("the ISRs were not whole again within 30s");
        }
        if seen_ready.is_none() {
            seen_ready = pod_uid_when_ready(&pods, "kafka-1", &old_uid).await?;
        }
        let output = describe().await?;
        let observed_at = Utc::now();
        if partitions(&output.stdout)
            .iter()
            .all(|(_, _, replicas, isr)| replicas == isr)
        {
            break observed_at;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_uid = match seen_ready {
        Some(uid) => uid,
        None => pod_uid_when_ready(&pods, "kafka-1", &old_uid)
            .await?
            .context("replacement not Ready")?,
    };
    let truth = sandbox.handle.ground_truth();
    let ready_at = truth
        .pods_ready
        .iter()
        .find(|r| r.uid == new_uid)
        .context("the replacement's readiness was recorded")?
        .ready_at;
    assert!(
        whole_at - ready_at >= chrono::Duration::from_std(catch_up)?,
        "the ISR was whole {:?} after the replacement became Ready, before the catch-up delay",
        (whole_at - ready_at).to_std()
    );
    sandbox.stop().await
}

const LOCAL_PLATFORM: &str = "namespace: local
zones: [zone-a]
nodesPerZone: 1
statefulsets:
  - name: tools
    replicas: 1
    exec: local
    env: {FOO: bar, ANSWER: 42}
";

async fn local_sandbox() -> Result<TestSandbox> {
    TestSandbox::with_config(SandboxConfig {
        platform: Platform::from_yaml(LOCAL_PLATFORM, Path::new("local.yaml"))?,
        timing: fast_timing(),
        ..SandboxConfig::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_exec_runs_the_command_with_the_platform_env_and_its_exit_code() -> Result<()> {
    let sandbox = local_sandbox().await?;
    let client = sandbox.client()?;
    let ran = kube_exec(
        &client,
        "local",
        "tools-0",
        &["sh", "-c", "echo $FOO $ANSWER; echo oops >&2; exit 3"],
    )
    .await?;
    assert_eq!(ran.stdout, "bar 42\n");
    assert_eq!(ran.stderr, "oops\n");
    assert_eq!(ran.exit_code, 3);
    let missing = kube_exec(&client, "local", "tools-0", &["firedrill-no-such-program"]).await?;
    assert_eq!(missing.exit_code, 127);
    let kubectl = sandbox.kubectl(&[
        "exec",
        "-n",
        "local",
        "tools-0",
        "--",
        "sh",
        "-c",
        "echo $FOO; exit 4",
    ])?;
    assert!(!kubectl.success);
    assert_eq!(kubectl.stdout, "bar\n");
    assert!(
        kubectl
            .stderr
            .contains("command terminated with exit code 4"),
        "{}",
        kubectl.stderr
    );
    sandbox.stop().await
}

/// Whether a process is still alive: gone, or a zombie nobody reaped, is dead.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // pid (comm) STATE ...: the state follows the last ')'.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_exec_kills_the_child_and_what_it_started_when_the_client_goes_away() -> Result<()> {
    let sandbox = local_sandbox().await?;
    let client = sandbox.client()?;
    let pid_file = sandbox.dir.path().join("pids");
    // The shell starts a background sleep (a grandchild of the sandbox) and waits for it.
    let script = format!(
        "sleep 60 & echo $$ $! > {}.tmp; mv {0}.tmp {0}; wait",
        pid_file.display()
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), "local");
    let attached = pods
        .exec(
            "tools-0",
            ["sh", "-c", script.as_str()],
            &AttachParams::default().stdout(true).stderr(true),
        )
        .await?;
    let pids: Vec<u32> = wait_for(
        "the child to write its pid and its background job's",
        Duration::from_secs(10),
        || {
            let pid_file = pid_file.clone();
            async move {
                Ok(std::fs::read_to_string(&pid_file).ok().and_then(|text| {
                    let pids: Vec<u32> = text
                        .split_whitespace()
                        .filter_map(|p| p.parse().ok())
                        .collect();
                    (pids.len() == 2).then_some(pids)
                }))
            }
        },
    )
    .await?;
    assert!(pids.iter().all(|&pid| alive(pid)), "{pids:?} running");
    drop(attached);
    for pid in pids {
        wait_for(
            "the child and its background job to be killed",
            Duration::from_secs(10),
            || async move { Ok((!alive(pid)).then_some(())) },
        )
        .await?;
    }
    sandbox.stop().await
}
