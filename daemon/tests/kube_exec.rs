//! `KubeCluster::exec` (the plugins' `exec` capability) against an in-process sandbox: the
//! simulated `nodetool status` and `kafka-topics.sh --describe`, exit codes taken from the
//! error channel's `Status`, errors for pods that cannot run a command, and local exec.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};
use firedrill::adapters::kube::{KubeCluster, connect_url};
use firedrill_host::capabilities::cluster::Cluster;
use firedrill_sandbox::{Platform, Sandbox, SandboxConfig, SandboxHandle, Timing};

const TIMEOUT: Duration = Duration::from_secs(20);

async fn start(platform: Platform) -> Result<(SandboxHandle, KubeCluster)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let config = SandboxConfig {
        platform,
        timing: Timing {
            tick: Duration::from_millis(20),
            start_delay: Duration::from_millis(200),
            ready_delay: Duration::from_millis(100),
            shutdown_delay: Duration::from_millis(100),
            isr_catch_up: Duration::from_millis(300),
            ..Timing::default()
        },
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(listener, config, std::future::pending()).await?;
    let cluster = KubeCluster::new(connect_url(&sandbox.base_url())?.client);
    Ok((sandbox, cluster))
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cluster_exec_reads_simulated_tools_and_exit_codes() -> Result<()> {
    let (sandbox, cluster) = start(Platform::seed()).await?;
    let nodetool = cluster
        .exec(
            "butterfly",
            "cassandra-0",
            None,
            &words("nodetool status"),
            TIMEOUT,
        )
        .await?;
    ensure!(nodetool.exit_code == 0, "{nodetool:?}");
    ensure!(
        nodetool.stdout.starts_with("Datacenter: dc1\n"),
        "{nodetool:?}"
    );
    ensure!(
        nodetool
            .stdout
            .lines()
            .filter(|l| l.starts_with("UN  "))
            .count()
            == 3,
        "{nodetool:?}"
    );
    let describe = cluster
        .exec(
            "butterfly",
            "kafka-1",
            Some("kafka"),
            &words("kafka-topics.sh --bootstrap-server localhost:9092 --describe --topic firedrill-canary"),
            TIMEOUT,
        )
        .await?;
    ensure!(describe.exit_code == 0, "{describe:?}");
    ensure!(
        describe.stdout.contains(
            "\tTopic: firedrill-canary\tPartition: 2\tLeader: 2\tReplicas: 2,0,1\tIsr: 2,0,1\n"
        ),
        "{describe:?}"
    );
    let unknown = cluster
        .exec(
            "butterfly",
            "redis-0",
            None,
            &words("redis-cli ping"),
            TIMEOUT,
        )
        .await?;
    ensure!(unknown.exit_code == 127, "{unknown:?}");
    ensure!(unknown.stderr.contains("command not found"), "{unknown:?}");
    let missing_pod = cluster
        .exec(
            "butterfly",
            "kafka-7",
            None,
            &words("kafka-topics.sh --list"),
            TIMEOUT,
        )
        .await;
    ensure!(missing_pod.is_err(), "{missing_pod:?}");
    sandbox.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_cluster_exec_runs_local_commands_when_the_platform_opts_in() -> Result<()> {
    let platform = Platform::from_yaml(
        "namespace: local\nzones: [zone-a]\nnodesPerZone: 1\nstatefulsets:\n  - name: tools\n    replicas: 1\n    exec: local\n    env: {GREETING: hello}\n",
        Path::new("local.yaml"),
    )?;
    let (sandbox, cluster) = start(platform).await?;
    let command = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "echo $GREETING; echo warn >&2; exit 3".to_owned(),
    ];
    let output = cluster
        .exec("local", "tools-0", None, &command, TIMEOUT)
        .await?;
    ensure!(output.exit_code == 3, "{output:?}");
    ensure!(output.stdout == "hello\n", "{output:?}");
    ensure!(output.stderr == "warn\n", "{output:?}");

    // Megabytes on stderr while stdout stays open: both streams are read at once, so
    // neither side waits for the other.
    let command = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "head -c 3000000 /dev/zero | tr '\\0' e >&2; echo out".to_owned(),
    ];
    let output = cluster
        .exec("local", "tools-0", None, &command, TIMEOUT)
        .await?;
    ensure!(output.exit_code == 0, "{:?}", output.exit_code);
    ensure!(output.stdout == "out\n", "{:?}", output.stdout);
    ensure!(output.stderr.len() == 3_000_000, "{}", output.stderr.len());
    sandbox.shutdown().await?;
    Ok(())
}
