//! Built-in scenario `redis-restore` (the DR runbook's Redis "Full Restore"): stop Redis
//! (its StatefulSet scaled to zero), put the newest RDB backup in place of its dump, start
//! it again, and check that it answers with the expected keys. The restore's duration is
//! the phase's RTO; the backup's age is its data loss (the RPO exposure). The dump that
//! was live is moved aside, not deleted, and put back on rollback unless the drill keeps
//! the restored data.
//!
//! The files are handled through `exec` in a tools pod that mounts both the backups and
//! Redis's data directory (on a cluster, a pod with the data volume; the runbook's
//! `kubectl cp` into the Redis pod cannot work while that pod is scaled away).

use firedrill_sdk::prelude::*;
use firedrill_sdk::redis::Reply;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The connection that checks the keys after the restore.
    connection: String,
    /// The pod that reads the backups and writes Redis's data directory.
    tools_pod: String,
    #[serde(default)]
    tools_container: Option<String>,
    /// The Redis StatefulSet. Default: the owner of the phase service's pods.
    #[serde(default)]
    workload: Option<String>,
    #[serde(default = "default_backups")]
    backups: String,
    /// Glob of backup names; the newest match is restored.
    #[serde(default = "default_pattern")]
    pattern: String,
    #[serde(default = "default_data_dir")]
    data_dir: String,
    #[serde(default = "default_dump_file")]
    dump_file: String,
    /// Keys that must exist after the restore.
    #[serde(default)]
    expect_keys: Vec<String>,
    /// Fewest keys (`DBSIZE`) the restored database must hold.
    #[serde(default)]
    min_keys: Option<u64>,
    /// Leave the restored data in place (true), or put the dump that was live back on
    /// rollback (false, the default: the drill leaves the data as it found it).
    #[serde(default)]
    keep_restored: bool,
    /// How long scaling down (inject, rollback) or up (rollback) may take, in seconds;
    /// within the host's `plugins.limits.call_timeout` (2 minutes by default), which ends
    /// any call.
    #[serde(default = "default_scale_timeout")]
    scale_timeout_seconds: u32,
}

fn default_backups() -> String {
    "/backups".into()
}
fn default_pattern() -> String {
    "*.rdb".into()
}
fn default_data_dir() -> String {
    "/data".into()
}
fn default_dump_file() -> String {
    "dump.rdb".into()
}
fn default_scale_timeout() -> u32 {
    90
}

/// What inject did, for verify, findings and rollback (which may run in a fresh process).
#[derive(Serialize, Deserialize, Clone)]
struct Restore {
    namespace: String,
    workload: String,
    /// The StatefulSet's pods, as a label selector.
    selector: String,
    /// Its replicas before the drill.
    replicas: u32,
    backup: String,
    /// The backup's age when the restore started, in seconds.
    backup_age_seconds: u64,
    /// The live dump's path, and where it was moved for rollback.
    dump: String,
    aside: String,
    /// Whether a dump existed to move aside (none: rollback removes the restored one).
    moved_aside: bool,
    /// Keys before the restore (`DBSIZE`), if Redis answered.
    keys_before: Option<i64>,
    /// Set once the backup is in place.
    swapped: bool,
}

struct RedisRestore;

const EXEC_TIMEOUT_MS: u32 = 60_000;
const POLL: core::time::Duration = core::time::Duration::from_millis(250);

fn namespace(phase: &Phase<Params>) -> Result<String, Error> {
    Ok(phase.first_service("Redis")?.namespace.clone())
}

/// The StatefulSet: the parameter, else the owner of the service's first pod.
fn workload(phase: &Phase<Params>) -> Result<String, Error> {
    if let Some(name) = &phase.params.workload {
        return Ok(name.clone());
    }
    let service = phase.first_service("Redis")?;
    let pods = cluster::list_pods(&service.namespace, &service.selector)?;
    pods.iter()
        .find_map(|pod| match &pod.owner {
            Some((kind, name)) if kind == "StatefulSet" => Some(name.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            Error::InvalidParams(format!(
                "no pod of service {} is owned by a StatefulSet: set `workload`",
                service.name
            ))
        })
}

/// The StatefulSet's replicas and its pods' selector.
fn statefulset(namespace: &str, name: &str) -> Result<(u32, String), Error> {
    let text = cluster::get_object("apps/v1", "StatefulSet", Some(namespace), name)?;
    let object: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::failed(format!("statefulset {name}: {e}")))?;
    let replicas = object
        .pointer("/spec/replicas")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    let labels = object
        .pointer("/spec/selector/matchLabels")
        .and_then(serde_json::Value::as_object)
        .filter(|labels| !labels.is_empty())
        .ok_or_else(|| {
            Error::failed(format!(
                "statefulset {name} selects its pods without matchLabels"
            ))
        })?;
    let selector = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join(",");
    Ok((u32::try_from(replicas).unwrap_or(u32::MAX), selector))
}

fn scale(namespace: &str, name: &str, replicas: u32) -> Result<(), Error> {
    cluster::patch_object(
        "apps/v1",
        "StatefulSet",
        Some(namespace),
        name,
        &serde_json::json!({"spec": {"replicas": replicas}}).to_string(),
    )?;
    Ok(())
}

/// Waits until no pod of the StatefulSet is left (terminating ones included: their Redis
/// may still be writing its dump).
fn wait_gone(restore: &Restore, timeout_seconds: u32) -> Result<(), Error> {
    let deadline = clock::now_ms() + u64::from(timeout_seconds) * 1000;
    loop {
        let left = cluster::list_pods(&restore.namespace, &restore.selector)?;
        if left.is_empty() {
            return Ok(());
        }
        if clock::now_ms() >= deadline {
            let names: Vec<&str> = left.iter().map(|p| p.name.as_str()).collect();
            return Err(Error::Timeout(format!(
                "statefulset {} scaled to 0, but after {timeout_seconds} s these pods remain: {}",
                restore.workload,
                names.join(", ")
            )));
        }
        clock::sleep(POLL);
    }
}

/// Runs `sh -c script` with positional arguments in the tools pod; fails on a non-zero exit.
fn sh(p: &Params, namespace: &str, script: &str, args: &[&str]) -> Result<String, Error> {
    let mut command = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
    command.extend(args.iter().map(|a| (*a).to_string()));
    let out = cluster::exec(
        namespace,
        &p.tools_pod,
        p.tools_container.as_deref(),
        &command,
        EXEC_TIMEOUT_MS,
    )?;
    if out.exit_code != 0 {
        return Err(Error::failed(format!(
            "`{script}` in {} exited with {}: {}",
            p.tools_pod,
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(out.stdout)
}

fn int_reply(reply: Reply) -> Option<i64> {
    match reply {
        Reply::Int(n) => Some(n),
        _ => None,
    }
}

/// The run id reduced to what is safe in a file name.
fn run_suffix(run_id: &str) -> String {
    run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn join(dir: &str, file: &str) -> String {
    format!("{}/{file}", dir.trim_end_matches('/'))
}

/// The backup's path, size, SHA-256 and age in seconds.
fn newest_backup(p: &Params, namespace: &str) -> Result<(String, String, String, u64), Error> {
    let newest = sh(
        p,
        namespace,
        r#"cd "$1" && ls -1t -- $2 2>/dev/null | head -n 1"#,
        &[&p.backups, &p.pattern],
    )?;
    let newest = newest.trim();
    if newest.is_empty() {
        return Err(Error::failed(format!(
            "no backup matching {} in {}:{}",
            p.pattern, p.tools_pod, p.backups
        )));
    }
    let backup = join(&p.backups, newest);
    let facts = sh(
        p,
        namespace,
        r#"stat -c '%Y %s' -- "$1" && sha256sum -- "$1""#,
        &[&backup],
    )?;
    let mut words = facts.split_whitespace();
    let modified: u64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| Error::failed(format!("cannot read the age of {backup}: {facts}")))?;
    let size = words.next().unwrap_or("?").to_string();
    let sha256 = words.next().unwrap_or("?").to_string();
    let age = (clock::now_ms() / 1000).saturating_sub(modified);
    Ok((backup, size, sha256, age))
}

/// The phase's data loss: the backup's age bounds it; the key counts before and after the
/// restore, once known, show what it cost.
fn data_loss(backup: &str, age: u64, keys: Option<(i64, i64)>) -> evidence::DataLoss {
    let mut method = format!(
        "age of the newest backup ({backup}) when the restore started: every write since it is lost by the restore"
    );
    if let Some((before, after)) = keys {
        method.push_str(&format!(
            "; Redis held {before} keys before the restore and {after} after it ({} fewer)",
            (before - after).max(0)
        ));
    }
    evidence::DataLoss {
        backup_age_seconds: Some(age as f64),
        method,
        ..evidence::DataLoss::default()
    }
}

impl Scenario for RedisRestore {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "redis-restore",
            "0.1.0",
            "Restores Redis from its newest RDB backup: scales the StatefulSet to zero, moves the live dump aside, copies the backup in, scales back up, and checks that Redis answers with the expected keys. The restore's duration is the RTO, the backup's age the data loss (RPO exposure). Rollback puts the live dump back unless keep_restored is set.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "connection": { "type": "string" },
                "tools_pod": { "type": "string" },
                "tools_container": { "type": "string" },
                "workload": { "type": "string" },
                "backups": { "type": "string", "default": "/backups" },
                "pattern": { "type": "string", "default": "*.rdb" },
                "data_dir": { "type": "string", "default": "/data" },
                "dump_file": { "type": "string", "default": "dump.rdb", "pattern": "^[^/]+$" },
                "expect_keys": { "type": "array", "items": { "type": "string" } },
                "min_keys": { "type": "integer", "minimum": 0 },
                "keep_restored": { "type": "boolean", "default": false },
                "scale_timeout_seconds": { "type": "integer", "minimum": 1, "default": 90 }
            },
            "required": ["connection", "tools_pod"],
            "additionalProperties": false
        }))
        .needs(Capability::cluster(
            &[Verb::Get, Verb::List, Verb::Watch, Verb::Patch],
            &["*"],
        ))
        .needs(Capability::Exec(vec!["*".into()]))
        .needs(Capability::Redis("params.connection".into()))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let p = &phase.params;
        let namespace = namespace(phase)?;
        let workload = workload(phase)?;
        let target = format!("statefulset/{workload} in namespace {namespace}");
        let dump = join(&p.data_dir, &p.dump_file);
        let mut actions = vec![
            Action::new(
                ActionKind::Exec,
                format!("pod/{} in namespace {namespace}", p.tools_pod),
                format!("find the newest {} in {}", p.pattern, p.backups),
            ),
            Action::new(
                ActionKind::Stop,
                target.clone(),
                "scale to 0 replicas and wait until its pods are gone",
            ),
            Action::new(
                ActionKind::Exec,
                format!("pod/{} in namespace {namespace}", p.tools_pod),
                format!(
                    "move {dump} aside to {dump}.firedrill-{} and copy the backup in",
                    run_suffix(&phase.run_id)
                ),
            ),
            Action::new(
                ActionKind::Other("scale-up".into()),
                target.clone(),
                "scale back to its replicas",
            ),
            Action::new(
                ActionKind::Redis,
                format!("connection {}", p.connection),
                format!(
                    "check DBSIZE >= {} and {} expected key(s)",
                    p.min_keys.unwrap_or(0),
                    p.expect_keys.len()
                ),
            ),
        ];
        if !p.keep_restored {
            actions.push(Action::new(
                ActionKind::Other("rollback".into()),
                format!("statefulset/{workload} in namespace {namespace}"),
                "afterwards: scale to 0, put the moved-aside dump back, scale up",
            ));
        }
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        if p.dump_file.is_empty() || p.dump_file.contains('/') {
            return Err(Error::InvalidParams(format!(
                "dump_file {:?} must be a file name in data_dir",
                p.dump_file
            )));
        }
        let namespace = namespace(phase)?;
        let workload = workload(phase)?;
        let (replicas, selector) = statefulset(&namespace, &workload)?;
        if replicas == 0 {
            return Err(Error::failed(format!(
                "statefulset {workload} has 0 replicas: there is no Redis to restore"
            )));
        }
        let (backup, size, sha256, age) = newest_backup(p, &namespace)?;
        evidence::text(
            "backup.txt",
            &format!(
                "backup: {backup}\nsize: {size} bytes\nsha256: {sha256}\nage at restore: {age} s\n"
            ),
        )?;
        evidence::keep_data_loss(&data_loss(&backup, age, None))?;
        let keys_before = redis::run(&p.connection, &["DBSIZE"])
            .ok()
            .and_then(int_reply);
        let dump = join(&p.data_dir, &p.dump_file);
        let mut restore = Restore {
            namespace: namespace.clone(),
            workload: workload.clone(),
            selector,
            replicas,
            backup: backup.clone(),
            backup_age_seconds: age,
            aside: format!("{dump}.firedrill-{}", run_suffix(&phase.run_id)),
            dump,
            moved_aside: false,
            keys_before,
            swapped: false,
        };
        // Recorded before anything changes, so that a rollback after a crash from here on
        // scales the StatefulSet back and finds the dump moved aside.
        state::set_json("restore", &restore)?;
        scale(&namespace, &workload, 0)?;
        log::info(&format!(
            "scaled statefulset {namespace}/{workload} to 0 to restore {backup}"
        ));
        wait_gone(&restore, p.scale_timeout_seconds)?;
        // Once Redis is gone (it saves its dump as it stops, if it persists at all): move
        // that dump aside, unless an earlier attempt already did, and copy the backup in
        // under a temporary name first, so Redis never starts on half a file.
        let moved = sh(
            p,
            &namespace,
            r#"if [ -e "$3" ]; then echo kept; elif [ -e "$2" ]; then mv -- "$2" "$3" && echo moved; else echo none; fi
cp -- "$1" "$2.firedrill-tmp" && mv -- "$2.firedrill-tmp" "$2""#,
            &[&restore.backup, &restore.dump, &restore.aside],
        )?;
        restore.moved_aside = matches!(moved.trim(), "moved" | "kept");
        restore.swapped = true;
        state::set_json("restore", &restore)?;
        scale(&namespace, &workload, replicas)?;
        log::info(&format!(
            "restored {backup} into {}; statefulset {namespace}/{workload} scaled back to {replicas}",
            restore.dump
        ));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let p = &phase.params;
        let Some(restore) = state::get_json::<Restore>("restore") else {
            return Err(Error::failed("no restore was started"));
        };
        let ready = cluster::list_pods(&restore.namespace, &restore.selector)?
            .iter()
            .filter(|pod| pod.ready && !pod.terminating)
            .count();
        if ready < restore.replicas as usize {
            return Ok(Verdict::Recovering(format!(
                "{ready} of {} Redis pod(s) Ready",
                restore.replicas
            )));
        }
        // Redis answers `LOADING` while it reads the dump: still recovering.
        let keys = match redis::run(&p.connection, &["DBSIZE"]) {
            Ok(reply) => int_reply(reply).unwrap_or(0),
            Err(err) => {
                return Ok(Verdict::Recovering(format!(
                    "Redis does not answer yet: {err:?}"
                )));
            }
        };
        let mut missing = Vec::new();
        for key in &p.expect_keys {
            if redis::run(&p.connection, &["EXISTS", key])
                .ok()
                .and_then(int_reply)
                != Some(1)
            {
                missing.push(key.as_str());
            }
        }
        let mut report = format!(
            "restored {} into {}\nkeys after the restore (DBSIZE): {keys}\n",
            restore.backup, restore.dump
        );
        if let Some(before) = restore.keys_before {
            report.push_str(&format!(
                "keys before the restore: {before} ({} fewer now: written after the backup, lost by the restore)\n",
                (before - keys).max(0)
            ));
        }
        report.push_str(&format!(
            "expected keys present: {} of {}\n",
            p.expect_keys.len() - missing.len(),
            p.expect_keys.len()
        ));
        evidence::text("restore-verification.txt", &report)?;
        let mut problems = Vec::new();
        if let Some(min) = p.min_keys
            && keys < i64::try_from(min).unwrap_or(i64::MAX)
        {
            problems.push(format!("{keys} keys, fewer than {min}"));
        }
        if !missing.is_empty() {
            problems.push(format!("missing keys: {}", missing.join(", ")));
        }
        if problems.is_empty() {
            let lost = restore.keys_before.map(|before| (before, keys));
            evidence::keep_data_loss(&data_loss(
                &restore.backup,
                restore.backup_age_seconds,
                lost,
            ))?;
            Ok(Verdict::Recovered)
        } else {
            Ok(Verdict::Failed(format!(
                "restored from {}: {}",
                restore.backup,
                problems.join("; ")
            )))
        }
    }

    fn findings(phase: &Phase<Params>) -> Result<Findings, Error> {
        let mut findings = evidence::kept_findings();
        if phase.params.keep_restored
            && let Some(restore) = state::get_json::<Restore>("restore")
            && restore.moved_aside
        {
            findings = findings.follow_up(format!(
                "Redis now serves the data of {}; the dump it replaced is kept at {} in pod {}: remove it once the restored data is accepted",
                restore.backup, restore.aside, phase.params.tools_pod
            ));
        }
        Ok(findings)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        let Some(restore) = state::get_json::<Restore>("restore") else {
            return Ok(());
        };
        if restore.swapped && !p.keep_restored {
            // The restored Redis stops first (and saves the restored data as it goes);
            // then the dump that was live goes back in place.
            scale(&restore.namespace, &restore.workload, 0)?;
            wait_gone(&restore, p.scale_timeout_seconds)?;
            let script = if restore.moved_aside {
                r#"if [ -e "$2" ]; then mv -f -- "$2" "$1"; fi"#
            } else {
                r#"rm -f -- "$1""#
            };
            sh(
                p,
                &restore.namespace,
                script,
                &[&restore.dump, &restore.aside],
            )?;
            log::info(&format!(
                "put the pre-drill dump back at {}; the restored data is discarded",
                restore.dump
            ));
        }
        // Whatever happened, the StatefulSet gets its replicas back.
        scale(&restore.namespace, &restore.workload, restore.replicas)?;
        cluster::wait_pods_ready(
            &restore.namespace,
            &restore.selector,
            restore.replicas,
            p.scale_timeout_seconds.saturating_mul(1000),
        )?;
        state::remove("restore");
        Ok(())
    }
}

export_scenario!(RedisRestore);
