//! The simulated Cassandra restore tools on Cassandra pods: `cqlsh` (`-e`/`-f` with the
//! few statements a restore needs: CREATE/DROP KEYSPACE, CREATE TABLE, USE, DESCRIBE
//! KEYSPACES, SELECT COUNT(*)), `sstableloader` (streams a backup table's rows into the
//! live table), `nodetool repair`, and `ls`/`cat` of the platform's backup sets.
//!
//! The model is the cluster's schema and each table's row count ([`Cluster`]): rows are
//! keyed alike in every backup of a table, so loading the same backup twice upserts the
//! same rows (the count does not double), as it would on a real cluster. Data is not
//! modelled per node: every replica holds every row once loaded, so a repair has nothing
//! to stream; it still needs every node up, as a real repair does.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::DateTime;

use super::{Context, Logs, MemberState, Output, SIMULATED_HINT, SIMULATED_MARK, stable_uuid};
use crate::platform::Backup;

/// The cqlsh version the simulated `cqlsh` says it is (Cassandra 4.1's).
const CQLSH_VERSION: &str = "6.1.0";

/// The keyspaces every Cassandra 4 cluster has; they cannot be dropped.
const SYSTEM_KEYSPACES: [&str; 7] = [
    "system",
    "system_auth",
    "system_distributed",
    "system_schema",
    "system_traces",
    "system_views",
    "system_virtual_schema",
];

/// The SSTable components of one simulated snapshot (Cassandra 4's `nb` format).
const SSTABLE_FILES: [&str; 8] = [
    "nb-1-big-CompressionInfo.db",
    "nb-1-big-Data.db",
    "nb-1-big-Digest.crc32",
    "nb-1-big-Filter.db",
    "nb-1-big-Index.db",
    "nb-1-big-Statistics.db",
    "nb-1-big-Summary.db",
    "nb-1-big-TOC.txt",
];

/// One simulated Cassandra cluster's schema and data, kept between execs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    keyspaces: BTreeMap<String, Keyspace>,
    /// When each backup set was taken (ms since the Unix epoch), by path.
    backups_taken_ms: BTreeMap<String, i64>,
    /// Repair commands run so far (their numbers).
    repairs: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Keyspace {
    replication: String,
    tables: BTreeMap<String, Table>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    columns: String,
    rows: u64,
}

impl Cluster {
    /// The rows a table holds, if it exists.
    pub fn rows(&self, keyspace: &str, table: &str) -> Option<u64> {
        Some(self.keyspaces.get(keyspace)?.tables.get(table)?.rows)
    }

    /// Whether a keyspace exists.
    pub fn has_keyspace(&self, keyspace: &str) -> bool {
        self.keyspaces.contains_key(keyspace)
    }
}

/// Takes the platform's Cassandra state over on first use: the system keyspaces, and
/// each backup's keyspace live with the backup's tables and rows (the production data the
/// backup was taken of); each backup is dated its `age` before now.
pub(super) fn seed(logs: &mut Logs, context: &Context) {
    if logs.cassandra.is_some() {
        return;
    }
    let mut cluster = Cluster::default();
    for name in SYSTEM_KEYSPACES {
        cluster.keyspaces.insert(
            name.to_owned(),
            Keyspace {
                replication: "{'class': 'LocalStrategy'}".to_owned(),
                tables: BTreeMap::new(),
            },
        );
    }
    for backup in &context.backups {
        let age = i64::try_from(backup.age.as_millis()).unwrap_or(i64::MAX);
        cluster
            .backups_taken_ms
            .insert(backup.path.clone(), context.now_ms.saturating_sub(age));
        let keyspace = cluster
            .keyspaces
            .entry(backup.keyspace.clone())
            .or_insert_with(|| Keyspace {
                replication: backup.replication.clone(),
                tables: BTreeMap::new(),
            });
        for table in &backup.tables {
            keyspace.tables.insert(
                table.name.clone(),
                Table {
                    columns: table.columns.clone(),
                    rows: table.rows,
                },
            );
        }
    }
    logs.cassandra = Some(cluster);
}

fn cluster(logs: &mut Logs) -> &mut Cluster {
    logs.cassandra.get_or_insert_with(Cluster::default)
}

/// Whether a `nodetool` command line is `repair` (its first word that is not an option
/// or an option's value).
pub(super) fn is_repair(args: &[String]) -> bool {
    first_command(args) == Some("repair")
}

fn first_command(args: &[String]) -> Option<&str> {
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--host" | "-p" | "--port" | "-u" | "--username" | "-pw" | "--password"
            | "-pwf" | "--password-file" => {
                rest.next();
            }
            flag if flag.starts_with('-') => {}
            command => return Some(command),
        }
    }
    None
}

fn ready(context: &Context) -> bool {
    context
        .ring
        .members
        .iter()
        .any(|m| m.state == MemberState::Ready)
}

fn timestamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S,%3f").to_string())
        .unwrap_or_default()
}

/// `nodetool repair [options] [keyspace [tables...]]`: every non-system keyspace without
/// one; fails when a node is down (`Endpoint not alive`), like a real repair.
pub(super) fn nodetool_repair(args: &[String], context: &Context, logs: &mut Logs) -> Output {
    let mut positional = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-h" | "--host" | "-p" | "--port" | "-u" | "--username" | "-pw" | "--password"
            | "-pwf" | "--password-file" | "-st" | "-et" | "-j" | "-dc" | "-hosts" => {
                rest.next();
            }
            flag if flag.starts_with('-') => {}
            word => positional.push(word),
        }
    }
    let targets: Vec<String> = match positional.get(1) {
        Some(keyspace) => {
            if !logs.has_keyspace(keyspace) {
                return Output::fail(
                    format!(
                        "error: Keyspace [{keyspace}] does not exist.\n-- StackTrace --\njava.lang.IllegalArgumentException: Keyspace [{keyspace}] does not exist.\n"
                    ),
                    1,
                );
            }
            vec![(*keyspace).to_owned()]
        }
        None => cluster(logs)
            .keyspaces
            .keys()
            .filter(|k| !SYSTEM_KEYSPACES.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    let tables: Vec<&str> = positional.iter().skip(2).copied().collect();
    let down = context
        .ring
        .members
        .iter()
        .find(|m| m.state != MemberState::Ready);
    let cluster = cluster(logs);
    let mut out = String::new();
    let at = timestamp(context.now_ms);
    for keyspace in targets {
        cluster.repairs += 1;
        let number = cluster.repairs;
        let id = stable_uuid(&format!(
            "{}/{}/repair/{number}",
            context.ring.namespace, context.ring.workload
        ));
        let _ = writeln!(
            out,
            "[{at}] Starting repair command #{number} ({id}), repairing keyspace {keyspace} with repair options (parallelism: parallel, primary range: false, incremental: true, job threads: 1, ColumnFamilies: [{}], dataCenters: [], hosts: [], previewKind: NONE, # of ranges: {}, pull repair: false, force repair: false, optimise streams: false, ignore unreplicated keyspaces: false, repairPaxos: true, paxosOnly: false)",
            tables.join(", "),
            16 * context.ring.members.len()
        );
        if let Some(member) = down {
            let _ = writeln!(
                out,
                "[{at}] Repair command #{number} failed with error Endpoint not alive: /{}:7000",
                member.address
            );
            let _ = writeln!(out, "[{at}] Repair command #{number} finished with error");
            return Output {
                stdout: out,
                stderr: format!(
                    "error: Repair job has failed with the error message: Repair command #{number} failed with error Endpoint not alive: /{}:7000. Check the logs on the repair participants for further details\n",
                    member.address
                ),
                exit_code: 2,
            };
        }
        let _ = writeln!(out, "[{at}] Repair completed successfully");
        let _ = writeln!(out, "[{at}] Repair command #{number} finished in 0 seconds");
    }
    Output::ok(out)
}

/// A file of a backup set: its text, or `None` for binary SSTable components.
enum File {
    Text(String),
    Binary,
    Directory(Vec<String>),
}

/// The backup file or directory at `path`, if the platform declares it.
fn lookup(path: &str, context: &Context, logs: &Logs) -> Option<File> {
    let path = path.trim_end_matches('/');
    for backup in &context.backups {
        let Some(rest) = path.strip_prefix(&backup.path) else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        if !rest.is_empty() && !rest.starts_with('/') {
            continue;
        }
        let taken = logs
            .cassandra
            .as_ref()
            .and_then(|c| c.backups_taken_ms.get(&backup.path))
            .copied()
            .unwrap_or_default();
        return match parts.as_slice() {
            [] => Some(File::Directory(vec![
                backup.keyspace.clone(),
                "schema.cql".to_owned(),
            ])),
            ["schema.cql"] => Some(File::Text(keyspace_schema(backup))),
            [keyspace] if *keyspace == backup.keyspace => Some(File::Directory(
                backup.tables.iter().map(|t| t.name.clone()).collect(),
            )),
            [keyspace, table, rest @ ..] if *keyspace == backup.keyspace => {
                let table = backup.tables.iter().find(|t| t.name == *table)?;
                match rest {
                    [] => {
                        let mut entries: Vec<String> =
                            SSTABLE_FILES.iter().map(|f| (*f).to_owned()).collect();
                        entries.push("manifest.json".to_owned());
                        entries.push("schema.cql".to_owned());
                        entries.sort();
                        Some(File::Directory(entries))
                    }
                    ["manifest.json"] => Some(File::Text(manifest(taken))),
                    ["schema.cql"] => Some(File::Text(format!(
                        "CREATE TABLE IF NOT EXISTS {}.{} ({});\n",
                        backup.keyspace, table.name, table.columns
                    ))),
                    [file] if SSTABLE_FILES.contains(file) => Some(File::Binary),
                    _ => None,
                }
            }
            _ => None,
        };
    }
    None
}

/// `DESCRIBE KEYSPACE`'s text for a backup's keyspace, as a backup job saves it.
fn keyspace_schema(backup: &Backup) -> String {
    let mut text = format!(
        "CREATE KEYSPACE {} WITH replication = {} AND durable_writes = true;\n",
        backup.keyspace, backup.replication
    );
    for table in &backup.tables {
        let _ = write!(
            text,
            "\nCREATE TABLE {}.{} ({});\n",
            backup.keyspace, table.name, table.columns
        );
    }
    text
}

/// A Cassandra 4.1 snapshot's `manifest.json`.
fn manifest(taken_ms: i64) -> String {
    let created = DateTime::from_timestamp_millis(taken_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default();
    let files = SSTABLE_FILES
        .iter()
        .filter(|f| f.ends_with("-Data.db"))
        .map(|f| format!("\"{f}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{{\n  \"files\" : [ {files} ],\n  \"created_at\" : \"{created}\",\n  \"expires_at\" : null,\n  \"ephemeral\" : false\n}}\n"
    )
}

/// `ls [-1] PATH...` and `cat FILE...` over the backup sets; nothing else of the pod's
/// file system is simulated.
pub(super) fn files(program: &str, args: &[String], context: &Context, logs: &Logs) -> Output {
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if let Some(flag) = args
        .iter()
        .find(|a| a.starts_with('-') && !(program == "ls" && a.as_str() == "-1"))
    {
        return Output::fail(
            format!("sandbox: {program}: {flag} is not simulated ({SIMULATED_HINT})\n"),
            1,
        );
    }
    let mut out = Output::ok(String::new());
    for path in paths {
        match (program, lookup(path, context, logs)) {
            ("ls", Some(File::Directory(entries))) => {
                for entry in entries {
                    out.stdout.push_str(&entry);
                    out.stdout.push('\n');
                }
            }
            ("ls", Some(_)) => {
                out.stdout.push_str(path);
                out.stdout.push('\n');
            }
            ("ls", None) => {
                let _ = writeln!(
                    out.stderr,
                    "ls: cannot access '{path}': No such file or directory"
                );
                out.exit_code = 2;
            }
            (_, Some(File::Text(text))) => out.stdout.push_str(&text),
            (_, Some(File::Directory(_))) => {
                let _ = writeln!(out.stderr, "cat: {path}: Is a directory");
                out.exit_code = 1;
            }
            (_, Some(File::Binary)) => {
                let _ = writeln!(
                    out.stderr,
                    "sandbox: cat: {path} is SSTable data, whose bytes the sandbox does not simulate"
                );
                out.exit_code = 1;
            }
            (_, None) => {
                let _ = writeln!(out.stderr, "cat: {path}: No such file or directory");
                out.exit_code = 1;
            }
        }
    }
    out
}

/// `cqlsh [host [port]] [-k keyspace] (-e STATEMENTS | -f FILE | --version)`: statements
/// run in order; a failing one is reported (`<stdin>:LINE:Error...`) and the others still
/// run; any failure exits 2, as cqlsh does.
pub(super) fn cqlsh(args: &[String], context: &Context, logs: &mut Logs) -> Output {
    let mut script: Option<(String, String)> = None;
    let mut keyspace: Option<String> = None;
    let mut hosts = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--version" => {
                return Output::ok(format!("cqlsh {CQLSH_VERSION} ({SIMULATED_MARK})\n"));
            }
            "-e" | "--execute" => match rest.next() {
                Some(text) => script = Some(("<stdin>".to_owned(), text.clone())),
                None => return usage("-e option requires 1 argument"),
            },
            "-f" | "--file" => match rest.next() {
                Some(path) => match lookup(path, context, logs) {
                    Some(File::Text(text)) => script = Some((path.clone(), text)),
                    _ => {
                        return Output::fail(
                            format!(
                                "Could not open '{path}': [Errno 2] No such file or directory: '{path}'\n"
                            ),
                            2,
                        );
                    }
                },
                None => return usage("-f option requires 1 argument"),
            },
            "-k" | "--keyspace" => keyspace = rest.next().cloned(),
            "-u" | "--username" | "-p" | "--password" | "--request-timeout"
            | "--connect-timeout" | "--cqlversion" | "--protocol-version" | "--encoding" => {
                rest.next();
            }
            flag if flag.starts_with('-') => {
                return Output::fail(
                    format!("sandbox: cqlsh: {flag} is not simulated ({SIMULATED_HINT})\n"),
                    2,
                );
            }
            host => hosts.push(host.to_owned()),
        }
    }
    if !ready(context) {
        return Output::fail(
            "Connection error: ('Unable to connect to any servers', {'127.0.0.1:9042': ConnectionRefusedError(111, \"Tried connecting to [('127.0.0.1', 9042)]. Last error: Connection refused\")})\n".to_owned(),
            1,
        );
    }
    let Some((origin, text)) = script else {
        return Output::fail(
            "sandbox: cqlsh: the sandbox runs statements given with -e or -f only (no interactive shell)\n"
                .to_owned(),
            2,
        );
    };
    let mut out = Output::ok(String::new());
    for (line, statement) in statements(&text) {
        match execute(&statement, &mut keyspace, logs) {
            Ok(printed) => out.stdout.push_str(&printed),
            Err(error) => {
                let _ = writeln!(out.stderr, "{origin}:{line}:{error}");
                out.exit_code = 2;
            }
        }
    }
    out
}

fn usage(message: &str) -> Output {
    Output::fail(
        format!("Usage: cqlsh.py [options] [host [port]]\n\ncqlsh.py: error: {message}\n"),
        2,
    )
}

/// The statements of a script with the line each starts on: split at `;` outside quotes,
/// `--` and `//` comment lines dropped.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    let mut quoted = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if !quoted && (trimmed.starts_with("--") || trimmed.starts_with("//")) {
            continue;
        }
        if current.trim().is_empty() {
            start = index + 1;
        }
        for c in line.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    current.push(c);
                }
                ';' if !quoted => {
                    if !current.trim().is_empty() {
                        found.push((start, current.trim().to_owned()));
                    }
                    current.clear();
                    start = index + 1;
                }
                _ => current.push(c),
            }
        }
        current.push('\n');
    }
    if !current.trim().is_empty() {
        found.push((start, current.trim().to_owned()));
    }
    found
}

fn invalid(message: &str) -> String {
    format!("InvalidRequest: Error from server: code=2200 [Invalid query] message=\"{message}\"")
}

fn syntax(statement: &str) -> String {
    let head: String = statement.chars().take(40).collect();
    format!(
        "SyntaxException: line 1:0 no viable alternative at input '{head}' (the sandbox's cqlsh simulates CREATE KEYSPACE, CREATE TABLE, DROP KEYSPACE, USE, DESCRIBE KEYSPACES and SELECT COUNT(*))"
    )
}

/// `name` or `keyspace.name`, resolved against the current keyspace.
fn qualified(name: &str, current: &Option<String>) -> Result<(String, String), String> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    match name.split_once('.') {
        Some((keyspace, table)) => Ok((keyspace.to_owned(), table.to_owned())),
        None => current
            .clone()
            .map(|keyspace| (keyspace, name.clone()))
            .ok_or_else(|| invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")),
    }
}

/// Runs one statement; the text it prints, or the error cqlsh reports.
fn execute(
    statement: &str,
    current: &mut Option<String>,
    logs: &mut Logs,
) -> Result<String, String> {
    let words: Vec<&str> = statement.split_whitespace().collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    let cluster = cluster(logs);
    match upper.as_slice() {
        ["CREATE", "KEYSPACE", ..] => {
            let if_not_exists = upper.get(2..5) == Some(&["IF", "NOT", "EXISTS"]);
            let name_at = if if_not_exists { 5 } else { 2 };
            let name = words
                .get(name_at)
                .map(|n| n.trim_matches('"').to_ascii_lowercase())
                .ok_or_else(|| syntax(statement))?;
            let lower = statement.to_ascii_lowercase();
            let replication = lower
                .find("replication")
                .and_then(|at| {
                    let open = statement[at..].find('{')? + at;
                    let close = statement[open..].find('}')? + open;
                    Some(statement[open..=close].to_owned())
                })
                .ok_or_else(|| {
                    "SyntaxException: line 1:0 missing 'replication' map (CREATE KEYSPACE needs WITH replication = {...})".to_owned()
                })?;
            if cluster.keyspaces.contains_key(&name) {
                if if_not_exists {
                    return Ok(String::new());
                }
                return Err(format!("AlreadyExists: Keyspace '{name}' already exists"));
            }
            cluster.keyspaces.insert(
                name,
                Keyspace {
                    replication,
                    tables: BTreeMap::new(),
                },
            );
            Ok(String::new())
        }
        ["CREATE", "TABLE", ..] => {
            let if_not_exists = upper.get(2..5) == Some(&["IF", "NOT", "EXISTS"]);
            let after = statement
                .split_whitespace()
                .skip(if if_not_exists { 5 } else { 2 })
                .collect::<Vec<_>>()
                .join(" ");
            let open = after.find('(').ok_or_else(|| syntax(statement))?;
            let close = after.rfind(')').ok_or_else(|| syntax(statement))?;
            let (keyspace, table) = qualified(&after[..open], current)?;
            let columns = after[open + 1..close].trim().to_owned();
            let Some(space) = cluster.keyspaces.get_mut(&keyspace) else {
                return Err(invalid(&format!("Keyspace {keyspace} doesn't exist")));
            };
            if space.tables.contains_key(&table) {
                if if_not_exists {
                    return Ok(String::new());
                }
                return Err(format!(
                    "AlreadyExists: Table '{keyspace}.{table}' already exists"
                ));
            }
            space.tables.insert(table, Table { columns, rows: 0 });
            Ok(String::new())
        }
        ["DROP", "KEYSPACE", ..] => {
            let if_exists = upper.get(2..4) == Some(&["IF", "EXISTS"]);
            let name = words
                .get(if if_exists { 4 } else { 2 })
                .map(|n| n.trim_matches('"').to_ascii_lowercase())
                .ok_or_else(|| syntax(statement))?;
            if SYSTEM_KEYSPACES.contains(&name.as_str()) {
                return Err(format!(
                    "Unauthorized: Error from server: code=2100 [Unauthorized] message=\"Cannot DROP <keyspace {name}>\""
                ));
            }
            if cluster.keyspaces.remove(&name).is_none() && !if_exists {
                return Err(format!(
                    "ConfigurationException: Cannot drop non existing keyspace '{name}'."
                ));
            }
            if current.as_deref() == Some(name.as_str()) {
                *current = None;
            }
            Ok(String::new())
        }
        ["USE", name] => {
            let name = name.trim_matches('"').to_ascii_lowercase();
            if !cluster.keyspaces.contains_key(&name) {
                return Err(invalid(&format!("Keyspace '{name}' does not exist")));
            }
            *current = Some(name);
            Ok(String::new())
        }
        ["DESCRIBE" | "DESC", "KEYSPACES"] => {
            let names: Vec<&String> = cluster.keyspaces.keys().collect();
            let width = names.iter().map(|n| n.len()).max().unwrap_or(0) + 2;
            let mut out = String::from("\n");
            for row in names.chunks(4) {
                let line: String = row.iter().map(|n| format!("{n:<width$}")).collect();
                out.push_str(line.trim_end());
                out.push('\n');
            }
            out.push('\n');
            Ok(out)
        }
        ["SELECT", count, "FROM", name, ..] if matches!(*count, "COUNT(*)" | "COUNT(1)") => {
            let (keyspace, table) = qualified(words[3], current)?;
            let _ = name;
            let Some(space) = cluster.keyspaces.get(&keyspace) else {
                return Err(invalid(&format!("Keyspace {keyspace} does not exist")));
            };
            let Some(table) = space.tables.get(&table) else {
                return Err(invalid(&format!("unconfigured table {table}")));
            };
            let value = table.rows.to_string();
            let width = value.len().max(5);
            Ok(format!(
                "\n {:>width$}\n{}\n {value:>width$}\n\n(1 rows)\n\nWarnings :\nAggregation query used without partition key\n\n",
                "count",
                "-".repeat(width + 2)
            ))
        }
        _ => Err(syntax(statement)),
    }
}

/// `sstableloader -d HOSTS [--target-keyspace KS] DIR`: streams the backup table in
/// `DIR` (`.../KEYSPACE/TABLE`, whose names say where the rows go, unless
/// `--target-keyspace` names another keyspace) to every node; the table must exist. A node
/// down fails the stream, as it fails a real one.
pub(super) fn sstableloader(args: &[String], context: &Context, logs: &mut Logs) -> Output {
    let mut hosts: Option<String> = None;
    let mut target: Option<String> = None;
    let mut directory: Option<String> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-d" | "--nodes" => hosts = rest.next().cloned(),
            "-k" | "--target-keyspace" => target = rest.next().cloned(),
            "-u"
            | "--username"
            | "-pw"
            | "--password"
            | "-p"
            | "--port"
            | "-sp"
            | "--storage-port"
            | "-t"
            | "--throttle"
            | "-cph"
            | "--connections-per-host" => {
                rest.next();
            }
            "--no-progress" | "-v" | "--verbose" => {}
            flag if flag.starts_with('-') => {
                return Output::fail(
                    format!("sandbox: sstableloader: {flag} is not simulated ({SIMULATED_HINT})\n"),
                    1,
                );
            }
            dir => directory = Some(dir.to_owned()),
        }
    }
    let Some(directory) = directory else {
        return Output::fail("Missing sstable directory argument\n".to_owned(), 1);
    };
    let Some(hosts) = hosts else {
        return Output::fail("Initial hosts must be specified (-d)\n".to_owned(), 1);
    };
    let trimmed = directory.trim_end_matches('/');
    let Some(File::Directory(_)) = lookup(trimmed, context, logs) else {
        return Output::fail(format!("Unknown directory: {directory}\n"), 1);
    };
    let mut parts = trimmed.rsplit('/');
    let (Some(table_name), Some(source_keyspace)) = (parts.next(), parts.next()) else {
        return Output::fail(format!("Unknown directory: {directory}\n"), 1);
    };
    let rows = context.backups.iter().find_map(|backup| {
        (trimmed == format!("{}/{}/{}", backup.path, backup.keyspace, table_name))
            .then(|| backup.tables.iter().find(|t| t.name == table_name))
            .flatten()
            .map(|t| t.rows)
    });
    let Some(rows) = rows else {
        return Output::fail(
            format!("Unknown directory: {directory} (not a table directory of a backup)\n"),
            1,
        );
    };
    let known = hosts.split(',').map(str::trim).any(|host| {
        let name = host.split('.').next().unwrap_or(host);
        matches!(host, "localhost" | "127.0.0.1")
            || context
                .ring
                .members
                .iter()
                .any(|m| m.state == MemberState::Ready && (m.pod == name || m.address == host))
    });
    if !known {
        return Output::fail(
            format!(
                "Error: All host(s) tried for query failed (tried: {hosts})\ncom.datastax.driver.core.exceptions.NoHostAvailableException: All host(s) tried for query failed\n"
            ),
            1,
        );
    }
    let keyspace = target.unwrap_or_else(|| source_keyspace.to_owned());
    let mut out = String::from(
        "Established connection to initial hosts\nOpening sstables and calculating sections to stream\n",
    );
    let exists = logs.rows(&keyspace, table_name).is_some();
    if !exists {
        let _ = writeln!(
            out,
            "Skipping file nb-1-big-Data.db: table {keyspace}.{table_name} doesn't exist"
        );
        out.push_str("\nSummary statistics: \n   Connections per host    : 1         \n   Total files transferred : 0         \n");
        return Output::ok(out);
    }
    let peers: Vec<String> = context
        .ring
        .members
        .iter()
        .map(|m| format!("/{}:7000", m.address))
        .collect();
    let _ = writeln!(
        out,
        "Streaming relevant part of {trimmed}/nb-1-big-Data.db to [{}]",
        peers.join(", ")
    );
    if let Some(down) = context
        .ring
        .members
        .iter()
        .find(|m| m.state != MemberState::Ready)
    {
        let _ = writeln!(
            out,
            "ERROR Streaming error occurred on session with peer {}",
            down.address
        );
        return Output {
            stdout: out,
            stderr: "Exception in thread \"main\" org.apache.cassandra.tools.BulkLoadException: java.util.concurrent.ExecutionException: org.apache.cassandra.streaming.StreamException: Stream failed\n".to_owned(),
            exit_code: 1,
        };
    }
    for peer in &peers {
        let _ = writeln!(
            out,
            "progress: [{peer}]0:1/1 100% total: 100% 0.000KiB/s (avg: 0.000KiB/s)"
        );
    }
    if let Some(table) = cluster(logs)
        .keyspaces
        .get_mut(&keyspace)
        .and_then(|k| k.tables.get_mut(table_name))
    {
        // The same keys in every backup of the table: loading again upserts them.
        table.rows = table.rows.max(rows);
    }
    let _ = write!(
        out,
        "\nSummary statistics: \n   Connections per host    : 1         \n   Total files transferred : {}         \n   Total rows loaded       : {rows}         \n",
        peers.len()
    );
    Output::ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{UP, command, ring};
    use super::super::{Context, Logs, MemberState, Output, Software, run};
    use super::*;
    use crate::platform::BackupTable;

    const NOW: i64 = 1_700_000_000_000;

    fn context(states: &[(MemberState, bool)]) -> Context {
        let mut ring = ring(states);
        ring.workload = "cassandra".to_owned();
        for member in &mut ring.members {
            member.pod = member.pod.replace("kafka", "cassandra");
        }
        Context {
            software: Software::Cassandra,
            ring,
            topics: Vec::new(),
            consumer_groups: Vec::new(),
            backups: vec![Backup {
                path: "/tmp/cassandra-backup".to_owned(),
                keyspace: "butterfly".to_owned(),
                replication: "{'class': 'NetworkTopologyStrategy', 'dc1': '3'}".to_owned(),
                age: Duration::from_secs(45 * 60),
                tables: vec![BackupTable {
                    name: "events".to_owned(),
                    rows: 5000,
                    columns: "id uuid PRIMARY KEY, payload text".to_owned(),
                }],
            }],
            now_ms: NOW,
        }
    }

    fn exec(words: &[&str], context: &Context, logs: &mut Logs) -> Output {
        let words: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        run(&words, context, logs)
    }

    #[test]
    fn a_backup_set_lists_its_files_and_dates_its_manifest() {
        let context = context(&[UP, UP, UP]);
        let mut logs = Logs::default();
        let top = run(&command("ls /tmp/cassandra-backup"), &context, &mut logs);
        assert_eq!(top.stdout, "butterfly\nschema.cql\n");
        let table = run(
            &command("ls -1 /tmp/cassandra-backup/butterfly/events/"),
            &context,
            &mut logs,
        );
        assert!(
            table.stdout.contains("nb-1-big-Data.db\n"),
            "{}",
            table.stdout
        );
        assert!(table.stdout.contains("manifest.json\n"));
        let manifest = run(
            &command("cat /tmp/cassandra-backup/butterfly/events/manifest.json"),
            &context,
            &mut logs,
        );
        let json: serde_json::Value = serde_json::from_str(&manifest.stdout).unwrap_or_default();
        let created = json["created_at"].as_str().unwrap_or_default();
        let taken = DateTime::parse_from_rfc3339(created)
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        assert_eq!(NOW - taken, 45 * 60 * 1000, "{created}");
        let schema = run(
            &command("cat /tmp/cassandra-backup/schema.cql"),
            &context,
            &mut logs,
        );
        assert!(schema.stdout.starts_with("CREATE KEYSPACE butterfly WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'}"));
        assert!(
            schema
                .stdout
                .contains("CREATE TABLE butterfly.events (id uuid PRIMARY KEY, payload text);")
        );
        let missing = run(&command("cat /etc/passwd"), &context, &mut logs);
        assert_eq!(missing.exit_code, 1);
        let data = run(
            &command("cat /tmp/cassandra-backup/butterfly/events/nb-1-big-Data.db"),
            &context,
            &mut logs,
        );
        assert_eq!(data.exit_code, 1);
    }

    #[test]
    fn a_restore_into_a_scratch_keyspace_loads_the_backup_rows_once() {
        let context = context(&[UP, UP, UP]);
        let mut logs = Logs::default();
        let version = run(&command("cqlsh --version"), &context, &mut logs);
        assert_eq!(version.stdout, format!("cqlsh 6.1.0 ({SIMULATED_MARK})\n"));
        let schema = exec(
            &[
                "cqlsh",
                "-e",
                "CREATE KEYSPACE scratch WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': '3'} AND durable_writes = true;\nCREATE TABLE scratch.events (id uuid PRIMARY KEY, payload text);",
            ],
            &context,
            &mut logs,
        );
        assert_eq!(schema.exit_code, 0, "{schema:?}");
        assert_eq!(logs.rows("scratch", "events"), Some(0));
        let count = |logs: &mut Logs| {
            exec(
                &[
                    "cqlsh",
                    "cassandra-0",
                    "-e",
                    "SELECT COUNT(*) FROM scratch.events",
                ],
                &context,
                logs,
            )
        };
        assert_eq!(
            count(&mut logs).stdout,
            "\n count\n-------\n     0\n\n(1 rows)\n\nWarnings :\nAggregation query used without partition key\n\n"
        );
        let load = "sstableloader -d cassandra-0.cassandra.butterfly.svc.cluster.local --target-keyspace scratch /tmp/cassandra-backup/butterfly/events";
        let loaded = run(&command(load), &context, &mut logs);
        assert_eq!(loaded.exit_code, 0, "{loaded:?}");
        assert!(
            loaded.stdout.contains("Total rows loaded       : 5000"),
            "{}",
            loaded.stdout
        );
        assert_eq!(logs.rows("scratch", "events"), Some(5000));
        assert!(count(&mut logs).stdout.contains("\n  5000\n"));
        run(&command(load), &context, &mut logs);
        assert_eq!(
            logs.rows("scratch", "events"),
            Some(5000),
            "an upsert, not a copy"
        );
        assert_eq!(
            logs.rows("butterfly", "events"),
            Some(5000),
            "production untouched"
        );
        let repair = run(&command("nodetool repair scratch"), &context, &mut logs);
        assert_eq!(repair.exit_code, 0, "{repair:?}");
        assert!(repair.stdout.contains("repairing keyspace scratch"));
        assert!(repair.stdout.contains("Repair completed successfully"));
        let keyspaces = exec(&["cqlsh", "-e", "DESCRIBE KEYSPACES"], &context, &mut logs);
        assert!(keyspaces.stdout.contains("scratch"), "{}", keyspaces.stdout);
        let dropped = exec(
            &["cqlsh", "-e", "DROP KEYSPACE IF EXISTS scratch"],
            &context,
            &mut logs,
        );
        assert_eq!(dropped.exit_code, 0);
        assert!(!logs.has_keyspace("scratch"));
        assert_eq!(count(&mut logs).exit_code, 2);
    }

    #[test]
    fn errors_follow_cqlsh_and_a_node_down_fails_streaming_and_repair() {
        let mut logs = Logs::default();
        let up = context(&[UP, UP, UP]);
        let twice = exec(
            &[
                "cqlsh",
                "-e",
                "CREATE KEYSPACE butterfly WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}; CREATE TABLE nope.t (id int PRIMARY KEY); DROP KEYSPACE system",
            ],
            &up,
            &mut logs,
        );
        assert_eq!(twice.exit_code, 2);
        let lines: Vec<&str> = twice.stderr.lines().collect();
        assert_eq!(
            lines[0],
            "<stdin>:1:AlreadyExists: Keyspace 'butterfly' already exists"
        );
        assert!(
            lines[1].contains("Keyspace nope doesn't exist"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains("Unauthorized"));
        let no_table = run(
            &command(
                "sstableloader -d cassandra-0 --target-keyspace absent /tmp/cassandra-backup/butterfly/events",
            ),
            &up,
            &mut logs,
        );
        assert!(
            no_table
                .stdout
                .contains("table absent.events doesn't exist")
        );
        let no_hosts = run(
            &command("sstableloader /tmp/cassandra-backup/butterfly/events"),
            &up,
            &mut logs,
        );
        assert_eq!(no_hosts.stderr, "Initial hosts must be specified (-d)\n");
        let down = context(&[UP, (MemberState::Missing, false), UP]);
        let streamed = run(
            &command("sstableloader -d cassandra-0 /tmp/cassandra-backup/butterfly/events"),
            &down,
            &mut logs,
        );
        assert_eq!(streamed.exit_code, 1);
        assert!(streamed.stderr.contains("Stream failed"));
        let repair = run(&command("nodetool repair butterfly"), &down, &mut logs);
        assert_eq!(repair.exit_code, 2);
        assert!(repair.stdout.contains("Endpoint not alive"));
        let unknown = run(&command("nodetool repair nope"), &up, &mut logs);
        assert_eq!(unknown.exit_code, 1);
        // The backup's own schema file names the live keyspace: cqlsh -f reports each
        // failing statement by file and line, and runs the rest.
        let file = run(
            &command("cqlsh -f /tmp/cassandra-backup/schema.cql"),
            &up,
            &mut logs,
        );
        assert_eq!(file.exit_code, 2);
        assert_eq!(
            file.stderr.lines().collect::<Vec<_>>(),
            [
                "/tmp/cassandra-backup/schema.cql:1:AlreadyExists: Keyspace 'butterfly' already exists",
                "/tmp/cassandra-backup/schema.cql:3:AlreadyExists: Table 'butterfly.events' already exists",
            ]
        );
        let missing = run(&command("cqlsh -f /tmp/nope.cql"), &up, &mut logs);
        assert_eq!(missing.exit_code, 2);
        let status = run(&command("nodetool status"), &up, &mut logs);
        assert_eq!(status.exit_code, 0, "status is still nodetool's own");
    }
}
