//! Built-in scenario `postgres-failover` (the runbook's phase 3b): stop the PostgreSQL
//! primary hard and promote its streaming replica; recovered when the promoted replica
//! accepts writes.

use firedrill_sdk::postgres::{self, Value};
use firedrill_sdk::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Connection to the primary (configured under `connections`).
    primary: String,
    /// Connection to the streaming replica that is promoted.
    replica: String,
    /// The primary's pod. Default: the first pod of the phase's first service, by name.
    #[serde(default)]
    primary_pod: Option<String>,
    /// Its container. Default: the pod's first container.
    #[serde(default)]
    container: Option<String>,
    /// The command that stops the primary, run in its pod.
    #[serde(default = "default_stop_command")]
    stop_command: Vec<String>,
    /// How long the stop command may take.
    #[serde(default = "default_stop_timeout")]
    stop_timeout_ms: u32,
}

fn default_stop_command() -> Vec<String> {
    ["pg_ctl", "stop", "-m", "immediate"]
        .map(String::from)
        .to_vec()
}

fn default_stop_timeout() -> u32 {
    30_000
}

/// What inject did, for verify, rollback and the report.
#[derive(serde::Serialize, Deserialize)]
struct Stopped {
    namespace: String,
    pod: String,
}

struct PostgresFailover;

fn scalar(connection: &str, sql: &str) -> Result<Value, Error> {
    let rows = postgres::query(connection, sql, &[])?;
    rows.rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next())
        .ok_or_else(|| Error::failed(format!("{sql} returned no row on {connection}")))
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(t) => t.clone(),
        Value::Bytes(b) => format!("{} bytes", b.len()),
    }
}

/// `pg_stat_replication` of the primary, as text for the evidence.
fn replication_state(primary: &str) -> String {
    let sql = "SELECT application_name, state, sync_state, sent_lsn::text, replay_lsn::text \
               FROM pg_stat_replication";
    match postgres::query(primary, sql, &[]) {
        Ok(rows) => {
            let mut out = format!("{}\n", rows.columns.join(" | "));
            for row in rows.rows {
                let cells: Vec<String> = row.iter().map(show).collect();
                out.push_str(&cells.join(" | "));
                out.push('\n');
            }
            out
        }
        Err(err) => format!("pg_stat_replication unavailable: {err:?}\n"),
    }
}

fn primary_pod(phase: &Phase<Params>) -> Result<(String, String), Error> {
    let service = phase.first_service("PostgreSQL")?;
    if let Some(pod) = &phase.params.primary_pod {
        return Ok((service.namespace.clone(), pod.clone()));
    }
    // Stopping the wrong pod (the standby) would leave no primary: guess only when there
    // is nothing to choose between.
    let mut pods = cluster::list_pods(&service.namespace, &service.selector)?;
    match pods.len() {
        0 => Err(Error::failed(format!(
            "service {} has no pod",
            service.name
        ))),
        1 => Ok(pods
            .pop()
            .map(|p| (p.namespace, p.name))
            .unwrap_or_default()),
        n => Err(Error::InvalidParams(format!(
            "service {} has {n} pods: name the primary's with `primary_pod`",
            service.name
        ))),
    }
}

impl Scenario for PostgresFailover {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "postgres-failover",
            "0.1.0",
            "Stops the PostgreSQL primary (pg_ctl stop -m immediate in its pod, or a configured command) and promotes the streaming replica; recovered when the promoted replica accepts writes. Rebuilding the old primary as a replica is left to the operator and listed as a follow-up.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "primary": { "type": "string", "description": "connection to the primary" },
                "replica": { "type": "string", "description": "connection to the replica promoted" },
                "primary_pod": { "type": "string" },
                "container": { "type": "string" },
                "stop_command": { "type": "array", "items": { "type": "string" }, "minItems": 1,
                                  "default": ["pg_ctl", "stop", "-m", "immediate"] },
                "stop_timeout_ms": { "type": "integer", "minimum": 1000, "default": 30000 }
            },
            "required": ["primary", "replica"],
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
        .needs(Capability::Postgres("params.primary".into()))
        .needs(Capability::Postgres("params.replica".into()))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let (namespace, pod) = primary_pod(phase)?;
        Ok(vec![
            Action::new(
                ActionKind::Exec,
                format!("pod/{pod} in namespace {namespace}"),
                format!("stop the primary: {}", phase.params.stop_command.join(" ")),
            ),
            Action::new(
                ActionKind::Sql,
                format!("connection {}", phase.params.replica),
                "SELECT pg_promote(wait => false)",
            ),
        ])
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        match scalar(&p.replica, "SELECT pg_is_in_recovery()")? {
            Value::Boolean(true) => {}
            other => {
                return Err(Error::failed(format!(
                    "{} is not a standby (pg_is_in_recovery() = {}): nothing to fail over to",
                    p.replica,
                    show(&other)
                )));
            }
        }
        evidence::text("replication-before.txt", &replication_state(&p.primary))?;
        let (namespace, pod) = primary_pod(phase)?;
        // Before the stop, so that a rollback in a fresh process knows it was tried.
        state::set_json(
            "stopping",
            &Stopped {
                namespace: namespace.clone(),
                pod: pod.clone(),
            },
        )?;
        let out = cluster::exec(
            &namespace,
            &pod,
            p.container.as_deref(),
            &p.stop_command,
            p.stop_timeout_ms,
        )?;
        evidence::text(
            "primary-stop.txt",
            &format!(
                "$ {}\nexit code {}\n{}{}",
                p.stop_command.join(" "),
                out.exit_code,
                out.stdout,
                out.stderr
            ),
        )?;
        if out.exit_code != 0 {
            return Err(Error::failed(format!(
                "stopping the primary in {namespace}/{pod} exited with {}: {}",
                out.exit_code,
                out.stderr.trim()
            )));
        }
        state::set("stopped", "true")?;
        log::info(&format!(
            "primary in {namespace}/{pod} stopped; promoting {}",
            p.replica
        ));
        match scalar(&p.replica, "SELECT pg_promote(wait => false)")? {
            Value::Boolean(true) => Ok(()),
            other => Err(Error::failed(format!(
                "pg_promote() on {} answered {}",
                p.replica,
                show(&other)
            ))),
        }
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let replica = &phase.params.replica;
        match scalar(replica, "SELECT pg_is_in_recovery()") {
            Ok(Value::Boolean(false)) => {}
            Ok(_) => {
                return Ok(Verdict::Recovering(format!(
                    "{replica} is still in recovery"
                )));
            }
            Err(Error::Unavailable(e) | Error::Timeout(e)) => {
                return Ok(Verdict::Recovering(format!("{replica} unreachable: {e}")));
            }
            Err(err) => return Err(err),
        }
        // Assigning a transaction id is a write: a standby refuses it.
        match scalar(replica, "SELECT txid_current()") {
            Ok(_) => {}
            Err(Error::Refused(e) | Error::Unavailable(e) | Error::Timeout(e)) => {
                return Ok(Verdict::Recovering(format!(
                    "{replica} does not accept writes yet: {e}"
                )));
            }
            Err(err) => return Err(err),
        }
        let timeline = scalar(
            replica,
            "SELECT timeline_id::text FROM pg_control_checkpoint()",
        )
        .map(|v| show(&v))
        .unwrap_or_else(|_| "unknown".into());
        evidence::text(
            "promoted.txt",
            &format!("{replica} is primary (accepts writes), timeline {timeline}\n"),
        )?;
        Ok(Verdict::Recovered)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        let Some(target) = state::get_json::<Stopped>("stopping") else {
            return Ok(());
        };
        let mut steps = Vec::new();
        // Killed between the stop and saving `stopped`, a fresh process sees no flag: a
        // primary that no longer answers was stopped all the same.
        let primary_down = scalar(&p.primary, "SELECT 1").is_err();
        if state::get("stopped").is_some() || primary_down {
            // The primary is down. If the promotion never happened (inject failed after
            // the stop), promote now: a drill must not leave the database without a
            // primary.
            if let Ok(Value::Boolean(true)) = scalar(&p.replica, "SELECT pg_is_in_recovery()") {
                match scalar(&p.replica, "SELECT pg_promote(wait => true)") {
                    Ok(Value::Boolean(true)) => {
                        log::warn(&format!("rollback promoted {}: the failover had not", p.replica));
                    }
                    other => steps.push(format!(
                        "The primary {}/{} is stopped and promoting {} failed ({other:?}): start the old primary or promote the replica now.",
                        target.namespace, target.pod, p.replica
                    )),
                }
            }
            // A promoted replica is not demoted automatically: the old primary's data may
            // have diverged. Rebuilding it as a replica is the operator's call.
            steps.push(format!(
                "Rebuild the old PostgreSQL primary {}/{} as a replica of {} (pg_basebackup or pg_rewind), then restore the planned topology.",
                target.namespace, target.pod, p.replica
            ));
        } else {
            steps.push(format!(
                "The stop command in {}/{} did not finish successfully: check that {} is running and accepts writes, and that {} still replicates from it.",
                target.namespace, target.pod, p.primary, p.replica
            ));
        }
        let mut text = steps.join("\n");
        text.push('\n');
        evidence::text("follow-up.txt", &text)?;
        state::remove("stopping");
        state::remove("stopped");
        Ok(())
    }
}

export_scenario!(PostgresFailover);
