//! The `redis-restore` drill against a real Redis: the sandbox's `redis` StatefulSet is a
//! process pod (a platform file's `process:`), so scaling it to 0 really stops
//! redis-server and scaling it up starts a new one that loads the restored dump. The
//! backups and the data directory are reached through an `exec: local` tools pod, as a
//! pod mounting them would on a cluster.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firedrill_tests::servers::redis_cli;
use firedrill_tests::{firedrill, free_port, http_get, require_plugins, run_json, wait_for};
use serde_json::Value;

/// `firedrill sandbox up` stopped as an operator stops it (SIGTERM), so that it stops its
/// process pods; killed if it does not exit within 30 s.
struct Sandbox {
    child: Option<Child>,
    url: String,
    kubeconfig: PathBuf,
}

impl Sandbox {
    fn start(dir: &Path, platform: &str) -> Self {
        let port = free_port();
        let kubeconfig = dir.join("sandbox.kubeconfig");
        let platform_file = dir.join("platform.yaml");
        std::fs::write(&platform_file, platform).unwrap();
        let child = firedrill()
            .args(["sandbox", "up", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--platform")
            .arg(&platform_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start firedrill sandbox up");
        let sandbox = Self {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            kubeconfig,
        };
        wait_for(Duration::from_secs(30), "the sandbox to answer", || {
            sandbox.kubeconfig.exists() && http_get(&sandbox.url, "/version").is_ok()
        });
        sandbox
    }

    fn pods(&self, namespace: &str, selector: &str) -> Vec<Value> {
        let body = http_get(
            &self.url,
            &format!("/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"),
        )
        .unwrap();
        let list: Value = serde_json::from_str(&body).unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    fn wait_ready(&self, namespace: &str, selector: &str) {
        wait_for(Duration::from_secs(60), "the pod to be Ready", || {
            self.pods(namespace, selector).iter().any(|pod| {
                pod["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        });
    }

    /// SIGTERM, then waits for the exit; SIGKILL after 30 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a process is alive (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X')
    })
}

fn redis_pid(port: u16) -> u32 {
    let info = redis_cli(port, &["INFO", "server"]).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("no process_id in {info}"))
}

fn exists(port: u16, key: &str) -> bool {
    redis_cli(port, &["EXISTS", key]).unwrap().trim() == "1"
}

fn dbsize(port: u16) -> u64 {
    redis_cli(port, &["DBSIZE"])
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Sets `prefix:1` to `prefix:count`.
fn write_keys(port: u16, prefix: &str, range: std::ops::RangeInclusive<u32>) {
    let mut args: Vec<String> = vec!["MSET".into()];
    for i in range {
        args.push(format!("{prefix}:{i}"));
        args.push(format!("value {i}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    redis_cli(port, &args).unwrap();
}

/// An RDB snapshot of the live Redis at `path` (`redis-cli --rdb`), dated `age` ago.
fn backup(port: u16, path: &Path, age: &str) {
    let status = Command::new("timeout")
        .args(["30", "redis-cli", "-h", "127.0.0.1", "-p"])
        .arg(port.to_string())
        .arg("--rdb")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "redis-cli --rdb");
    let status = Command::new("touch")
        .args(["-d", age])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "touch");
}

fn evidence(record: &Value, name: &str) -> String {
    record["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == name)
        .filter_map(|e| e["content"].as_str())
        .next_back()
        .unwrap_or_else(|| panic!("no {name} in the record's evidence"))
        .to_string()
}

fn config(dir: &Path, sandbox: &Sandbox, port: u16, data: &Path, backups: &Path) -> PathBuf {
    let drill = |name: &str, keep: bool| {
        format!(
            r#"
  {name}:
    phases:
      - name: restore
        scenario: redis-restore
        services: [redis]
        params:
          connection: sessions
          tools_pod: tools-0
          backups: {backups}
          data_dir: {data}
          expect_keys: ["order:1", "order:50"]
          min_keys: 50
          keep_restored: {keep}
        objectives: {{ rto: 2m, rpo: 1h }}"#,
            backups = backups.display(),
            data = data.display(),
        )
    };
    let text = format!(
        r#"version: 1
storage: {{ path: data }}
targets:
  lab: {{ kind: kubeconfig, kubeconfig: {kubeconfig} }}
default_target: lab
services:
  redis: {{ namespace: data, selector: app=redis }}
connections:
  sessions: {{ kind: redis, url: "redis://127.0.0.1:{port}" }}
plugins:
  grants:
    redis-restore:
      kubernetes: [{{ verbs: [get, list, watch, patch], namespaces: [data] }}]
      exec: [data]
      connections: [sessions]
drills:{keep}{roll_back}
"#,
        kubeconfig = sandbox.kubeconfig.display(),
        keep = drill("restore", true),
        roll_back = drill("restore-and-roll-back", false),
    );
    let path = dir.join("firedrill.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn redis_restore_brings_back_the_backup_and_loses_what_was_written_after_it() {
    require_plugins(&["redis-restore"]);
    for program in ["redis-server", "redis-cli"] {
        assert!(
            Command::new(program)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success()),
            "{program} is missing: install redis-server and redis-tools (.ci/setup does)"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("firedrill-redis-restore-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("redis-data");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&backups).unwrap();
    let port = free_port();
    // Redis persists with an RDB save point, so it saves its dump as it stops (SIGTERM).
    let platform = format!(
        r#"namespace: data
zones: [zone-a]
nodesPerZone: 1
statefulsets:
  - name: redis
    replicas: 1
    port: {port}
    startDelay: 0s
    process:
      command: [redis-server, --port, "{port}", --bind, 127.0.0.1, --dir, "{data}", --dbfilename, dump.rdb, --save, "3600 1", --appendonly, "no"]
      ready: {{tcp: {port}}}
  - name: tools
    replicas: 1
    port: 8080
    startDelay: 0s
    exec: local
"#,
        data = data.display(),
    );
    let mut sandbox = Sandbox::start(dir.path(), &platform);
    sandbox.wait_ready("data", "app=redis");
    sandbox.wait_ready("data", "app=tools");
    let first_pid = redis_pid(port);

    // An older backup of ten keys, the newest of fifty (20 minutes old), then five keys
    // written after it: what a restore from it loses.
    write_keys(port, "order", 1..=10);
    backup(port, &backups.join("redis-old.rdb"), "3 hours ago");
    write_keys(port, "order", 11..=50);
    backup(port, &backups.join("redis-newest.rdb"), "20 minutes ago");
    write_keys(port, "late", 1..=5);
    assert_eq!(dbsize(port), 55);
    let config = config(dir.path(), &sandbox, port, &data, &backups);

    // The plan names the scale-down and the swap of the dump, and changes nothing.
    let plan = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["plan", "restore"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains("statefulset/redis") && plan.contains("scale to 0"),
        "{plan}"
    );
    assert!(plan.contains("dump.rdb.firedrill-"), "{plan}");
    assert_eq!(redis_pid(port), first_pid);
    assert_eq!(dbsize(port), 55);

    let (code, record) = run_json(&config, "restore");
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "passed", "{phase:#}");
    assert_eq!(code, 0, "{record:#}");
    let rto = phase["recovery_seconds"].as_f64().unwrap();
    assert!(rto > 0.0, "{phase:#}");
    let age = phase["data_loss"]["backup_age_seconds"].as_f64().unwrap();
    assert!((1200.0..1200.0 + 300.0).contains(&age), "backup age {age}");
    // What an operator checks: the backup's keys are back, the later ones are gone, and
    // it is a new redis-server that loaded them.
    assert!(exists(port, "order:1") && exists(port, "order:50"));
    assert!(
        !exists(port, "late:1"),
        "keys written after the backup are lost"
    );
    assert_eq!(dbsize(port), 50);
    let second_pid = redis_pid(port);
    assert_ne!(first_pid, second_pid);
    assert!(!alive(first_pid), "the old redis-server was stopped");
    let backup_text = evidence(&record, "backup.txt");
    assert!(backup_text.contains("redis-newest.rdb"), "{backup_text}");
    assert!(backup_text.contains("sha256: "), "{backup_text}");
    let verification = evidence(&record, "restore-verification.txt");
    assert!(
        verification.contains("keys before the restore: 55 (5 fewer now"),
        "{verification}"
    );
    let method = phase["data_loss"]["method"].as_str().unwrap();
    assert!(
        method.contains("55 keys before the restore and 50 after it (5 fewer)"),
        "{method}"
    );
    // The dump that was live is kept beside the restored one, and the report says so.
    let kept: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("dump.rdb.firedrill-"))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let follow_ups = phase["follow_ups"].to_string();
    assert!(follow_ups.contains(&kept[0]), "{follow_ups}");
    println!(
        "redis restore: recovered in {rto:.3} s from a backup {age:.0} s old; 5 keys written after it lost"
    );

    // Again, leaving the data as it was: writes after the backup are back after the run.
    write_keys(port, "late", 1..=5);
    let (_, record) = run_json(&config, "restore-and-roll-back");
    let phase = &record["phases"][0];
    assert_eq!(phase["verdict"]["kind"], "passed", "{phase:#}");
    let verification = evidence(&record, "restore-verification.txt");
    assert!(
        verification.contains("keys after the restore (DBSIZE): 50"),
        "{verification}"
    );
    assert!(phase["follow_ups"].as_array().is_none_or(Vec::is_empty));
    assert!(exists(port, "late:1") && exists(port, "late:5"));
    assert_eq!(dbsize(port), 55);
    let third_pid = redis_pid(port);
    assert!(!alive(second_pid));

    sandbox.stop();
    assert!(
        !alive(third_pid),
        "no redis-server is left once the sandbox stopped"
    );
}
