//! Built-in scenario `cassandra-restore` (the runbook's "Database Recovery → Full Cluster
//! Restore from Backup", without touching production): restore a backup's schema into a
//! scratch keyspace, stream its SSTables in with `sstableloader --target-keyspace`,
//! repair, check row counts; the backup's age is the RPO exposure; rollback drops the
//! scratch keyspace.
//!
//! The backup is a downloaded snapshot directory (`aws s3 sync` of the runbook's step 2)
//! in a Cassandra pod: `BACKUP/schema.cql` (the keyspace's schema) and
//! `BACKUP/KEYSPACE/TABLE/` per table with the snapshot's `manifest.json` (its
//! `created_at`) and SSTables. The tools (`cqlsh`, `sstableloader`, `nodetool`) run in
//! that pod through `exec`.

use firedrill_sdk::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Pod that runs the tools and sees the backup. Default: the first Ready pod of the
    /// phase's first service.
    #[serde(default)]
    pod: Option<String>,
    #[serde(default)]
    container: Option<String>,
    /// The backup (snapshot) directory in that pod.
    #[serde(default = "default_backup")]
    backup: String,
    /// The backed-up keyspace. Default: the one `BACKUP/schema.cql` creates.
    #[serde(default)]
    keyspace: Option<String>,
    /// Tables restored and checked. Default: every table of the schema, unchecked.
    #[serde(default)]
    tables: Vec<TableCheck>,
    /// Scratch keyspace. Default: `firedrill_restore_` and the run's suffix.
    #[serde(default)]
    scratch_keyspace: Option<String>,
    /// `sstableloader -d`: initial hosts. Default: the pod's DNS name under the phase's
    /// service (`cassandra-0.cassandra.NS.svc.cluster.local`, as the runbook writes it).
    #[serde(default)]
    hosts: Option<String>,
    /// Whether to run `nodetool repair` on the scratch keyspace after loading.
    #[serde(default = "default_true")]
    repair: bool,
    #[serde(default = "default_cqlsh")]
    cqlsh_command: String,
    #[serde(default = "default_loader")]
    loader_command: String,
    #[serde(default = "default_nodetool")]
    nodetool_command: String,
    /// How long one tool run may take (a load of a large table takes long).
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u32,
}

fn default_backup() -> String {
    "/tmp/cassandra-backup".into()
}
fn default_true() -> bool {
    true
}
fn default_cqlsh() -> String {
    "cqlsh".into()
}
fn default_loader() -> String {
    "sstableloader".into()
}
fn default_nodetool() -> String {
    "nodetool".into()
}
fn default_timeout_ms() -> u32 {
    600_000
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TableCheck {
    name: String,
    /// Fewest rows the restored table must have.
    #[serde(default)]
    min_rows: Option<u64>,
}

/// What inject did, for verify and rollback (which may run in a fresh process).
#[derive(Debug, Serialize, Deserialize)]
struct Restore {
    namespace: String,
    pod: String,
    keyspace: String,
    scratch: String,
    tables: Vec<TableCheck>,
}

const RESTORE_KEY: &str = "restore";
const TOOLS_KEY: &str = "tools";
/// Every scratch keyspace starts with this, so that no other keyspace is ever dropped.
const SCRATCH_PREFIX: &str = "firedrill_";

struct CassandraRestore;

/// A lowercase CQL identifier (unquoted).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 48
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn scratch_name(phase: &Phase<Params>) -> String {
    phase.params.scratch_keyspace.clone().unwrap_or_else(|| {
        let suffix: Vec<char> = phase
            .run_id
            .chars()
            .rev()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(24)
            .collect();
        let suffix: String = suffix.into_iter().rev().collect();
        format!("firedrill_restore_{}", suffix.to_ascii_lowercase())
    })
}

fn check_scratch(name: &str) -> Result<(), Error> {
    if is_identifier(name) && name.starts_with(SCRATCH_PREFIX) {
        Ok(())
    } else {
        Err(Error::InvalidParams(format!(
            "scratch_keyspace {name:?} must be a lowercase identifier starting with {SCRATCH_PREFIX} (it is dropped before and after the restore)"
        )))
    }
}

fn target(phase: &Phase<Params>) -> Result<(String, String), Error> {
    let service = phase.first_service("Cassandra")?;
    if let Some(pod) = &phase.params.pod {
        return Ok((service.namespace.clone(), pod.clone()));
    }
    cluster::ready_pods(service)?
        .into_iter()
        .next()
        .map(|p| (p.namespace, p.name))
        .ok_or_else(|| Error::failed(format!("service {} has no Ready pod", service.name)))
}

fn hosts(phase: &Phase<Params>, namespace: &str, pod: &str) -> Result<String, Error> {
    if let Some(hosts) = &phase.params.hosts {
        return Ok(hosts.clone());
    }
    let service = phase.first_service("Cassandra")?;
    Ok(format!(
        "{pod}.{}.{namespace}.svc.cluster.local",
        service.name
    ))
}

/// Runs a tool in the pod; fails on a non-zero exit with what it printed.
fn run(
    phase: &Phase<Params>,
    namespace: &str,
    pod: &str,
    command: &[String],
) -> Result<String, Error> {
    let out = cluster::exec(
        namespace,
        pod,
        phase.params.container.as_deref(),
        command,
        phase.params.timeout_ms,
    )?;
    if out.exit_code != 0 {
        let said = format!("{}\n{}", out.stderr.trim(), out.stdout.trim());
        return Err(Error::failed(format!(
            "{} in {pod} exited with {}: {}",
            command.join(" ").chars().take(200).collect::<String>(),
            out.exit_code,
            said.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
        )));
    }
    Ok(out.stdout)
}

fn words(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// The keyspace a schema's `CREATE KEYSPACE` creates.
fn schema_keyspace(schema: &str) -> Option<String> {
    for statement in schema.split(';') {
        let tokens: Vec<&str> = statement.split_whitespace().collect();
        let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
        if upper.len() >= 3 && upper[0] == "CREATE" && upper[1] == "KEYSPACE" {
            let at = if upper
                .get(2..5)
                .is_some_and(|w| w == ["IF", "NOT", "EXISTS"])
            {
                5
            } else {
                2
            };
            return tokens
                .get(at)
                .map(|t| t.trim_matches('"').to_ascii_lowercase());
        }
    }
    None
}

/// Replaces the keyspace `from` by `to` where it qualifies a name (`from.table`).
fn requalify(statement: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(statement.len());
    let mut rest = statement;
    let patterns = [format!("\"{from}\"."), format!("{from}.")];
    loop {
        let found = patterns
            .iter()
            .filter_map(|p| rest.find(p.as_str()).map(|at| (at, p.len())))
            .filter(|(at, _)| {
                rest[..*at]
                    .chars()
                    .last()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '"'))
            })
            .min();
        let Some((at, len)) = found else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(to);
        out.push('.');
        rest = &rest[at + len..];
    }
}

/// The schema's statements for keyspace `from`, moved to keyspace `to`: its CREATE
/// KEYSPACE renamed, every `from.NAME` requalified; statements about other keyspaces are
/// left out. Also the tables it creates.
fn rewrite_schema(schema: &str, from: &str, to: &str) -> (String, Vec<String>) {
    let mut statements = Vec::new();
    let mut tables = Vec::new();
    for statement in schema.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let tokens: Vec<&str> = statement.split_whitespace().collect();
        let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
        if upper.len() >= 3 && upper[0] == "CREATE" && upper[1] == "KEYSPACE" {
            let at = if upper
                .get(2..5)
                .is_some_and(|w| w == ["IF", "NOT", "EXISTS"])
            {
                5
            } else {
                2
            };
            if tokens
                .get(at)
                .map(|t| t.trim_matches('"').to_ascii_lowercase())
                .as_deref()
                != Some(from)
            {
                continue;
            }
            let mut renamed: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
            renamed[at] = to.to_owned();
            statements.push(renamed.join(" "));
            continue;
        }
        let moved = requalify(statement, from, to);
        if moved == statement {
            continue;
        }
        if upper.len() >= 3 && upper[0] == "CREATE" && upper[1] == "TABLE" {
            let at = if upper
                .get(2..5)
                .is_some_and(|w| w == ["IF", "NOT", "EXISTS"])
            {
                5
            } else {
                2
            };
            if let Some(name) = statement
                .split_whitespace()
                .nth(at)
                .map(|t| t.split('(').next().unwrap_or(t))
                .and_then(|t| t.rsplit('.').next())
            {
                tables.push(name.trim_matches('"').to_ascii_lowercase());
            }
        }
        statements.push(moved);
    }
    let mut text = statements.join(";\n");
    if !text.is_empty() {
        text.push(';');
    }
    (text, tables)
}

/// `YYYY-MM-DDTHH:MM:SS[.sss]Z` as ms since the Unix epoch.
fn parse_utc(text: &str) -> Option<u64> {
    let text = text.trim().strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut clock = clock.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    let millis: i64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + millis;
    u64::try_from(ms).ok()
}

/// The value of `"created_at"` in a snapshot's `manifest.json`.
fn created_at(manifest: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(manifest).ok()?;
    value["created_at"].as_str().map(str::to_owned)
}

/// The row count `SELECT COUNT(*)` printed (the line after the dashes).
fn parse_count(output: &str) -> Option<u64> {
    let mut lines = output.lines().map(str::trim);
    lines.find(|l| !l.is_empty() && l.chars().all(|c| c == '-'))?;
    lines.find(|l| !l.is_empty())?.parse().ok()
}

fn simulated_note(version: &str) -> String {
    if version.contains("simulated") {
        format!(" (on the sandbox's simulated Cassandra tools: {version})")
    } else {
        String::new()
    }
}

impl Scenario for CassandraRestore {
    type Params = Params;

    fn describe() -> Description {
        Description::new(
            "cassandra-restore",
            "0.1.0",
            "Restores a Cassandra backup (snapshot directory) into a scratch keyspace: the schema with cqlsh, the data with sstableloader --target-keyspace, then nodetool repair; checks row counts, reports the restore's duration as the RTO and the backup's age as the RPO exposure. The scratch keyspace is dropped afterwards.",
        )
        .params_schema(serde_json::json!({
            "type": "object",
            "properties": {
                "pod": { "type": "string" },
                "container": { "type": "string" },
                "backup": { "type": "string", "default": "/tmp/cassandra-backup" },
                "keyspace": { "type": "string" },
                "tables": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string" },
                        "min_rows": { "type": "integer", "minimum": 0 }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                } },
                "scratch_keyspace": { "type": "string", "pattern": "^firedrill_[a-z0-9_]{0,38}$" },
                "hosts": { "type": "string" },
                "repair": { "type": "boolean", "default": true },
                "cqlsh_command": { "type": "string", "default": "cqlsh" },
                "loader_command": { "type": "string", "default": "sstableloader" },
                "nodetool_command": { "type": "string", "default": "nodetool" },
                "timeout_ms": { "type": "integer", "minimum": 1000, "default": 600000 }
            },
            "additionalProperties": false
        }))
        .needs(Capability::cluster(&[Verb::List], &["*"]))
        .needs(Capability::Exec(vec!["*".into()]))
    }

    fn plan(phase: &Phase<Params>) -> Result<Vec<Action>, Error> {
        let p = &phase.params;
        let scratch = scratch_name(phase);
        check_scratch(&scratch)?;
        let (namespace, pod) = target(phase)?;
        let at = format!("pod/{pod} in namespace {namespace}");
        let mut actions = vec![
            Action::new(
                ActionKind::Exec,
                at.clone(),
                format!(
                    "{} -e: the schema of {}/schema.cql as keyspace {scratch} (scratch, dropped afterwards; production untouched)",
                    p.cqlsh_command, p.backup
                ),
            ),
            Action::new(
                ActionKind::Exec,
                at.clone(),
                format!(
                    "{} -d {} --target-keyspace {scratch} for each table of {}",
                    p.loader_command,
                    hosts(phase, &namespace, &pod)?,
                    p.backup
                ),
            ),
        ];
        if p.repair {
            actions.push(Action::new(
                ActionKind::Exec,
                at.clone(),
                format!("{} repair {scratch}", p.nodetool_command),
            ));
        }
        actions.push(Action::new(
            ActionKind::Exec,
            at,
            format!(
                "SELECT COUNT(*) of {} table(s) in {scratch}",
                p.tables.len()
            ),
        ));
        Ok(actions)
    }

    fn inject(phase: &Phase<Params>) -> Result<(), Error> {
        let p = &phase.params;
        let scratch = scratch_name(phase);
        check_scratch(&scratch)?;
        if let Some(bad) = p.tables.iter().find(|t| !is_identifier(&t.name)) {
            return Err(Error::InvalidParams(format!(
                "tables: {:?} is not a plain lowercase table name",
                bad.name
            )));
        }
        let (namespace, pod) = target(phase)?;
        let version = cluster::exec(
            &namespace,
            &pod,
            p.container.as_deref(),
            &words(&[&p.cqlsh_command, "--version"]),
            p.timeout_ms,
        )
        .map(|out| out.stdout.trim().to_owned())
        .unwrap_or_default();
        state::set(TOOLS_KEY, &version)?;
        let backup = p.backup.trim_end_matches('/').to_owned();
        let schema = run(
            phase,
            &namespace,
            &pod,
            &words(&["cat", &format!("{backup}/schema.cql")]),
        )?;
        let keyspace = match &p.keyspace {
            Some(keyspace) => keyspace.clone(),
            None => schema_keyspace(&schema)
                .ok_or_else(|| Error::failed(format!("{backup}/schema.cql creates no keyspace")))?,
        };
        if !is_identifier(&keyspace) {
            return Err(Error::InvalidParams(format!(
                "keyspace {keyspace:?} is not a plain lowercase identifier"
            )));
        }
        let (restored_schema, schema_tables) = rewrite_schema(&schema, &keyspace, &scratch);
        if schema_tables.is_empty() {
            return Err(Error::failed(format!(
                "{backup}/schema.cql creates no table of keyspace {keyspace}"
            )));
        }
        let tables: Vec<TableCheck> = if p.tables.is_empty() {
            schema_tables
                .iter()
                .map(|name| TableCheck {
                    name: name.clone(),
                    min_rows: None,
                })
                .collect()
        } else {
            p.tables.clone()
        };
        if let Some(missing) = tables.iter().find(|t| !schema_tables.contains(&t.name)) {
            return Err(Error::failed(format!(
                "table {} is not in {backup}/schema.cql (it has {})",
                missing.name,
                schema_tables.join(", ")
            )));
        }
        // The backup's age: when its snapshot was taken, from the first table's manifest.
        let first = tables
            .first()
            .ok_or_else(|| Error::failed(format!("{backup}: no table to restore")))?;
        let manifest_path = format!("{backup}/{keyspace}/{}/manifest.json", first.name);
        let manifest = run(phase, &namespace, &pod, &words(&["cat", &manifest_path]))?;
        let created = created_at(&manifest)
            .ok_or_else(|| Error::failed(format!("{manifest_path} has no created_at")))?;
        let taken_ms = parse_utc(&created).ok_or_else(|| {
            Error::failed(format!(
                "{manifest_path}: cannot read created_at {created:?}"
            ))
        })?;
        let age = clock::now_ms().saturating_sub(taken_ms) / 1000;
        let note = simulated_note(&version);
        evidence::text(
            "backup.txt",
            &format!(
                "backup: {backup}\nkeyspace: {keyspace} (restored as {scratch})\ntables: {}\nsnapshot created_at: {created}\nage at restore: {age} s\ntools: cqlsh --version: {version}\n",
                tables
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )?;
        evidence::keep_data_loss(&evidence::DataLoss {
            backup_age_seconds: Some(age as f64),
            method: format!(
                "age of the snapshot {backup} (its manifest's created_at, {created}) when the restore started: what a restore from it loses at most{note}"
            ),
            ..evidence::DataLoss::default()
        })?;
        // Recorded before the keyspace exists, so that a rollback after a crash here
        // still drops it.
        state::set_json(
            RESTORE_KEY,
            &Restore {
                namespace: namespace.clone(),
                pod: pod.clone(),
                keyspace: keyspace.clone(),
                scratch: scratch.clone(),
                tables: tables.clone(),
            },
        )?;
        run(
            phase,
            &namespace,
            &pod,
            &words(&[
                &p.cqlsh_command,
                "-e",
                &format!("DROP KEYSPACE IF EXISTS {scratch}"),
            ]),
        )?;
        run(
            phase,
            &namespace,
            &pod,
            &words(&[&p.cqlsh_command, "-e", &restored_schema]),
        )?;
        let hosts = hosts(phase, &namespace, &pod)?;
        let mut loads = String::new();
        for table in &tables {
            let directory = format!("{backup}/{keyspace}/{}", table.name);
            let out = run(
                phase,
                &namespace,
                &pod,
                &words(&[
                    &p.loader_command,
                    "-d",
                    &hosts,
                    "--target-keyspace",
                    &scratch,
                    &directory,
                ]),
            )?;
            loads.push_str(&format!("$ {} ... {directory}\n{out}\n", p.loader_command));
            if let Some(skipped) = out.lines().find(|l| l.starts_with("Skipping file")) {
                evidence::text("sstableloader.txt", &loads)?;
                return Err(Error::failed(format!(
                    "{} streamed nothing of {directory}: {skipped}",
                    p.loader_command
                )));
            }
        }
        evidence::text("sstableloader.txt", &loads)?;
        if p.repair {
            let out = run(
                phase,
                &namespace,
                &pod,
                &words(&[&p.nodetool_command, "repair", &scratch]),
            )?;
            evidence::text("repair.txt", &out)?;
        }
        log::info(&format!(
            "restored {backup} ({keyspace}) into {scratch} in {namespace}/{pod}"
        ));
        Ok(())
    }

    fn verify(phase: &Phase<Params>) -> Result<Verdict, Error> {
        let p = &phase.params;
        let Some(restore) = state::get_json::<Restore>(RESTORE_KEY) else {
            return Err(Error::failed("no restore was started"));
        };
        let version = state::get(TOOLS_KEY).unwrap_or_default();
        let mut report = format!(
            "restored {} into {}{}\n",
            restore.keyspace,
            restore.scratch,
            simulated_note(&version)
        );
        let mut problems = Vec::new();
        for table in &restore.tables {
            let out = run(
                phase,
                &restore.namespace,
                &restore.pod,
                &words(&[
                    &p.cqlsh_command,
                    "-e",
                    &format!("SELECT COUNT(*) FROM {}.{}", restore.scratch, table.name),
                ]),
            );
            let rows = match out.map(|o| parse_count(&o)) {
                Ok(Some(rows)) => rows,
                Ok(None) => {
                    problems.push(format!("{}: no count printed", table.name));
                    continue;
                }
                Err(err) => {
                    problems.push(format!("{}: {err:?}", table.name));
                    continue;
                }
            };
            report.push_str(&format!(
                "{}.{}: {rows} rows\n",
                restore.scratch, table.name
            ));
            if let Some(min) = table.min_rows
                && rows < min
            {
                problems.push(format!("{} has {rows} rows, fewer than {min}", table.name));
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
        let mut findings = evidence::kept_findings();
        let version = state::get(TOOLS_KEY).unwrap_or_default();
        if version.contains("simulated") {
            findings = findings.follow_up(format!(
                "This phase ran on the sandbox's simulated Cassandra tools (cqlsh --version: {version}): its row counts and timings come from a simulation; drill the restore against a real Cassandra cluster before relying on them."
            ));
        }
        Ok(findings)
    }

    fn rollback(phase: &Phase<Params>) -> Result<(), Error> {
        let Some(restore) = state::get_json::<Restore>(RESTORE_KEY) else {
            return Ok(());
        };
        check_scratch(&restore.scratch)?;
        run(
            phase,
            &restore.namespace,
            &restore.pod,
            &words(&[
                &phase.params.cqlsh_command,
                "-e",
                &format!("DROP KEYSPACE IF EXISTS {}", restore.scratch),
            ]),
        )?;
        state::remove(RESTORE_KEY);
        state::remove(TOOLS_KEY);
        Ok(())
    }
}

export_scenario!(CassandraRestore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_moves_to_the_scratch_keyspace() {
        let schema = "CREATE KEYSPACE butterfly WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND durable_writes = true;\n\nCREATE TABLE butterfly.events (id uuid PRIMARY KEY, payload text);\nCREATE TABLE other.x (id int PRIMARY KEY);\n";
        assert_eq!(schema_keyspace(schema).as_deref(), Some("butterfly"));
        let (text, tables) = rewrite_schema(schema, "butterfly", "firedrill_restore_x");
        assert_eq!(
            text,
            "CREATE KEYSPACE firedrill_restore_x WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND durable_writes = true;\nCREATE TABLE firedrill_restore_x.events (id uuid PRIMARY KEY, payload text);"
        );
        assert_eq!(tables, ["events"]);
        assert_eq!(
            requalify("a butterfly2.x butterfly.y", "butterfly", "s"),
            "a butterfly2.x s.y"
        );
    }

    #[test]
    fn manifest_dates_and_counts_are_read() {
        assert_eq!(parse_utc("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_utc("2026-12-01T10:00:00.000Z"),
            Some(1_796_119_200_000)
        );
        assert_eq!(
            created_at("{\"files\" : [ ], \"created_at\" : \"2026-12-01T10:00:00.000Z\"}")
                .as_deref(),
            Some("2026-12-01T10:00:00.000Z")
        );
        assert_eq!(
            parse_count("\n count\n-------\n  5000\n\n(1 rows)\n"),
            Some(5000)
        );
    }
}
