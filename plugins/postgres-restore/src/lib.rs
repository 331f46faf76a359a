//! Built-in scenario `postgres-restore` (the DR runbook's "Full Restore from Backup"):
//! restore the newest backup into a scratch database, check configured tables, report the
//! restore's duration as the RTO and the backup's age as the RPO exposure; the scratch
//! database is dropped on rollback.
//!
//! The backup files live where a pod with `pg_restore` and `psql` can read them (a backup
//! volume, or a CronJob's output); the tools run there through `exec`, with the pod's own
//! `PGHOST`/`PGUSER`/`PGPASSWORD` environment. The restore runs in the background so that
//! `verify` measures how long it takes.

use firedrill_sdk::postgres;
use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Connection used to create and drop the scratch database (on the server restored into).
    connection: String,
    /// Pod that runs `pg_restore`/`psql` and sees the backups. Default: the first Ready pod
    /// of the phase's first service.
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    container: Option<String>,
    /// Directory of the backups in that pod.
    #[serde(default = "default_backups")]
    backups: String,
    /// Glob of backup file names; the newest match is restored. `.sql` files are run with
    /// `psql`, anything else with `pg_restore`.
    #[serde(default = "default_pattern")]
    pattern: String,
    /// Scratch database name. Default: `firedrill_restore_` and the run's suffix.
    #[serde(default)]
    scratch_database: Option<String>,
    /// Directory for the restore's log and exit-code files in the pod.
    #[serde(default = "default_work_dir")]
    work_dir: String,
    /// Tables checked after the restore.
    #[serde(default)]
    tables: Vec<TableCheck>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
struct TableCheck {
    /// `table` or `schema.table`.
    name: String,
    /// Fewest rows the restored table must have.
    #[serde(default)]
    min_rows: Option<u64>,
    /// Expected md5 of the table's rows (as `md5(string_agg(row::text, E'\n' ORDER BY
    /// row::text))`); checked when given, always reported.
    #[serde(default)]
    checksum: Option<String>,
}

fn default_backups() -> String {
    "/backups".into()
}
fn default_pattern() -> String {
    "*.dump".into()
}
fn default_work_dir() -> String {
    "/tmp".into()
}

/// What inject started, for verify and rollback (which may run in a fresh process).
#[derive(Serialize, Deserialize)]
struct Restore {
    namespace: String,
    pod: String,
    database: String,
    backup: String,
    marker: String,
}

struct PostgresRestore;

const EXEC_TIMEOUT_MS: u32 = 60_000;

/// Every scratch database name starts with this, so that no other database is ever dropped.
const SCRATCH_PREFIX: &str = "firedrill_";

fn is_identifier(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            let mut chars = p.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

fn scratch_name(phase: &Phase<Params>) -> String {
    phase.params.scratch_database.clone().unwrap_or_else(|| {
        let suffix: String = phase
            .run_id
            .chars()
            .rev()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(24)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
            .to_ascii_lowercase();
        format!("firedrill_restore_{suffix}")
    })
}

fn target(phase: &Phase<Params>) -> Result<(String, String), Error> {
    let service = phase.first_service("PostgreSQL")?;
    if let Some(pod) = &phase.params.pod {
        return Ok((service.namespace.clone(), pod.clone()));
    }
    cluster::ready_pods(service)?
        .into_iter()
        .next()
        .map(|p| (p.namespace, p.name))
        .ok_or_else(|| Error::failed(format!("service {} has no Ready pod", service.name)))
}

/// Runs `sh -c script` with positional arguments in the pod; fails on a non-zero exit.
fn sh(
    namespace: &str,
    pod: &str,
    container: Option<&str>,
    script: &str,
    args: &[&str],
) -> Result<String, Error> {
    let mut command = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
    command.extend(args.iter().map(|a| (*a).to_string()));
    let out = cluster::exec(namespace, pod, container, &command, EXEC_TIMEOUT_MS)?;
    if out.exit_code != 0 {
        return Err(Error::failed(format!(
            "`{script}` in {pod} exited with {}: {}",
            out.exit_code,
            out.stderr.trim()
        )));
    }
    Ok(out.stdout)
}

fn drop_scratch(connection: &str, database: &str) -> Result<(), Error> {
    postgres::execute(
        connection,
        &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        &[],
    )?;
    Ok(())
}

impl Scenario for PostgresRestore {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "postgres-restore",
            "0.1.0",
            "Restores the newest PostgreSQL backup (pg_dump file) into a scratch database, checks row counts and checksums of configured tables, and reports the restore's duration as the RTO and the backup's age as the RPO exposure. The scratch database is dropped afterwards.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "connection": { "type": "string" },
                "pod": { "type": "string" },
                "container": { "type": "string" },
                "backups": { "type": "string", "default": "/backups" },
                "pattern": { "type": "string", "default": "*.dump" },
                "scratch_database": { "type": "string", "pattern": "^firedrill_[a-z0-9_]{0,53}$" },
                "work_dir": { "type": "string", "default": "/tmp" },
                "tables": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string" },
                        "min_rows": { "type": "integer", "minimum": 0 },
                        "checksum": { "type": "string" }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                } }
            },
            "required": ["connection"],
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
        .needs(Capability::Postgres("params.connection".into()))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let p = &phase.params;
        let (namespace, pod) = target(phase)?;
        let database = scratch_name(phase);
        Ok(vec![
            Action::new(
                ActionKind::Sql,
                format!("connection {}", p.connection),
                format!("CREATE DATABASE {database} (scratch, dropped afterwards)"),
            ),
            Action::new(
                ActionKind::Exec,
                format!("pod/{pod} in namespace {namespace}"),
                format!(
                    "restore the newest {}/{} into {database}, then check {} table(s)",
                    p.backups,
                    p.pattern,
                    p.tables.len()
                ),
            ),
        ])
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        let database = scratch_name(phase);
        // The scratch database is dropped before and after: a name that is not
        // unmistakably firedrill's could be a real database.
        if !is_identifier(&database)
            || database.contains('.')
            || !database.starts_with(SCRATCH_PREFIX)
        {
            return Err(Error::InvalidParams(format!(
                "scratch database name {database:?} must be a plain identifier starting with {SCRATCH_PREFIX} (it is dropped before and after the restore)"
            )));
        }
        if let Some(bad) = p.tables.iter().find(|t| !is_identifier(&t.name)) {
            return Err(Error::InvalidParams(format!(
                "table name {:?} is not a plain identifier",
                bad.name
            )));
        }
        let (namespace, pod) = target(phase)?;
        let container = p.container.as_deref();
        let newest = sh(
            &namespace,
            &pod,
            container,
            r#"cd "$1" && ls -1t -- $2 2>/dev/null | head -n 1"#,
            &[&p.backups, &p.pattern],
        )?;
        let newest = newest.trim();
        if newest.is_empty() {
            return Err(Error::failed(format!(
                "no backup matching {} in {}:{}",
                p.pattern, pod, p.backups
            )));
        }
        let backup = format!("{}/{newest}", p.backups.trim_end_matches('/'));
        let facts = sh(
            &namespace,
            &pod,
            container,
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
        let now = clock::now_ms() / 1000;
        let age = now.saturating_sub(modified);
        evidence::text(
            "backup.txt",
            &format!(
                "backup: {backup}\nsize: {size} bytes\nsha256: {sha256}\nmodified: {modified} (unix)\nage at restore: {age} s\n"
            ),
        )?;
        evidence::keep_data_loss(&evidence::DataLoss {
            backup_age_seconds: Some(age as f64),
            method: format!(
                "age of the newest backup ({backup}) when the restore started: what a restore from it loses at most"
            ),
            ..evidence::DataLoss::default()
        })?;

        let marker = format!(
            "{}/firedrill-restore-{database}",
            p.work_dir.trim_end_matches('/')
        );
        // Recorded before the database exists, so that a rollback after a crash here
        // still drops it.
        state::set_json(
            "restore",
            &Restore {
                namespace: namespace.clone(),
                pod: pod.clone(),
                database: database.clone(),
                backup: backup.clone(),
                marker: marker.clone(),
            },
        )?;
        drop_scratch(&p.connection, &database)?;
        postgres::execute(&p.connection, &format!("CREATE DATABASE {database}"), &[])?;
        // In the background, so that verify measures the restore; the exit code lands in
        // `<marker>.exit`, the output in `<marker>.log`.
        sh(
            &namespace,
            &pod,
            container,
            r#"rm -f -- "$3.exit" "$3.log"
( case "$1" in
    *.sql) psql -v ON_ERROR_STOP=1 -q -d "$2" -f "$1" ;;
    *) pg_restore --no-owner --no-privileges --exit-on-error -d "$2" "$1" ;;
  esac > "$3.log" 2>&1
  echo $? > "$3.exit.tmp" && mv "$3.exit.tmp" "$3.exit" ) < /dev/null > /dev/null 2>&1 &"#,
            &[&backup, &database, &marker],
        )?;
        log::info(&format!(
            "restoring {backup} into {database} in {namespace}/{pod}"
        ));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let p = &phase.params;
        let Some(restore) = state::get_json::<Restore>("restore") else {
            return Err(Error::failed("no restore was started"));
        };
        let container = p.container.as_deref();
        let exit = sh(
            &restore.namespace,
            &restore.pod,
            container,
            r#"cat -- "$1.exit" 2>/dev/null || true"#,
            &[&restore.marker],
        )?;
        match exit.trim() {
            "" => return Ok(Verdict::Recovering(format!("restoring {}", restore.backup))),
            "0" => {}
            code => {
                let log = sh(
                    &restore.namespace,
                    &restore.pod,
                    container,
                    r#"tail -n 20 -- "$1.log""#,
                    &[&restore.marker],
                )
                .unwrap_or_default();
                evidence::text("restore.log", &log)?;
                return Ok(Verdict::Failed(format!(
                    "restoring {} exited with {code}: {}",
                    restore.backup,
                    log.lines().last().unwrap_or("")
                )));
            }
        }
        let mut report = format!("restored {} into {}\n", restore.backup, restore.database);
        let mut problems = Vec::new();
        for table in &p.tables {
            let sql = format!(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} t",
                table.name
            );
            let out = sh(
                &restore.namespace,
                &restore.pod,
                container,
                r#"psql -X -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2""#,
                &[&restore.database, &sql],
            );
            let out = match out {
                Ok(out) => out,
                Err(err) => {
                    problems.push(format!("{}: {err:?}", table.name));
                    continue;
                }
            };
            let mut fields = out.trim().split('|');
            let rows: u64 = fields.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let checksum = fields.next().unwrap_or("").to_string();
            report.push_str(&format!("{}: {rows} rows, md5 {checksum}\n", table.name));
            if let Some(min) = table.min_rows
                && rows < min
            {
                problems.push(format!("{} has {rows} rows, fewer than {min}", table.name));
            }
            if let Some(expected) = &table.checksum
                && *expected != checksum
            {
                problems.push(format!(
                    "{} checksum {checksum} differs from the expected {expected}",
                    table.name
                ));
            }
        }
        evidence::text("restore-verification.txt", &report)?;
        if problems.is_empty() {
            Ok(Verdict::Recovered)
        } else {
            Ok(Verdict::Failed(problems.join("; ")))
        }
    }

    fn findings(_phase: &Phase<Params>) -> Result<Findings, Error> {
        // Measured during the phase and kept in state: this call is a fresh instance.
        Ok(evidence::kept_findings())
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        let Some(restore) = state::get_json::<Restore>("restore") else {
            return Ok(());
        };
        drop_scratch(&phase.params.connection, &restore.database)?;
        let _ = sh(
            &restore.namespace,
            &restore.pod,
            phase.params.container.as_deref(),
            // Dropping the database ends a restore still running; its exit code may land
            // a moment later, so the files are removed again shortly after.
            r#"rm -f -- "$1.exit" "$1.exit.tmp" "$1.log"
( sleep 5; rm -f -- "$1.exit" "$1.exit.tmp" "$1.log" ) < /dev/null > /dev/null 2>&1 &"#,
            &[&restore.marker],
        );
        state::remove("restore");
        Ok(())
    }
}

export_scenario!(PostgresRestore);
