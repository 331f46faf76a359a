//! The config loader target: mutations of the seed configuration and random documents
//! through `firedrill_core::config::load_str`.

use std::path::Path;

use firedrill_core::config::{self, ConfigError, ResolveContext, SEED_CONFIG};
use proptest::prelude::*;
use proptest::sample::{Index, select};

use crate::harness::{Outcome, unclear};

/// The name every diagnostic must start with.
const FILE: &str = "firedrill.yaml";

/// Keys the configuration knows, so random documents reach past `unknown field`.
const KEYS: &[&str] = &[
    "version",
    "targets",
    "services",
    "drills",
    "plugins",
    "connections",
    "notifications",
    "storage",
    "api",
    "probing",
    "kind",
    "sandbox",
    "kubeconfig",
    "context",
    "namespace",
    "selector",
    "probes",
    "url",
    "interval",
    "timeout",
    "schedule",
    "cron",
    "timezone",
    "blackouts",
    "from",
    "to",
    "reason",
    "every",
    "for",
    "missed",
    "phases",
    "scenario",
    "params",
    "objectives",
    "rto",
    "rpo",
    "availability_floor",
    "deadline",
    "abort",
    "canary",
    "connection",
    "grants",
    "kubernetes",
    "verbs",
    "namespaces",
    "hosts",
    "exec",
    "limits",
    "fuel",
    "memory_mib",
    "call_timeout",
    "blast_radius",
    "max_pods",
    "max_nodes",
    "max_service_fraction",
    "default_target",
    "on_phase_failure",
    "services",
    "email",
    "maildir",
    "password",
    "env",
    "file",
    "path",
    "token",
    "listen",
    "min_ready",
    "report",
    "postgresql",
    "redis",
    "master",
    "sentinel",
    "workload",
    "description",
    "participants",
];

/// YAML scalars of every type and shape a user might write by mistake.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&[
            "null", "~", "", "true", "false", "yes", "no", "0", "-1", "1.5", "1e400", ".inf",
            "-.nan", "0x1F", "0o17", "18446744073709551616", "-9223372036854775809", "[]",
            "{}", "[a, 1, null]", "{a: 1}", "\"\"", "''", "5m", "90s", "1h30m", "-5m",
            "*/5 * * * *", "@weekly", "0 0 30 2 *", "Europe/Berlin", "Mars/Olympus",
            "app=web", "app in (a,b)", "2026-03-29 02:30", "2026-13-40", "&anchor x", "*anchor",
            "!!binary aGk=", "!custom x", "|\n  block", ">-\n  folded", "? complex", "- item",
            "\"\\u0000\"", "\"\\t\\x01\"", "ü😀\u{202e}", ":", "#", "%YAML 1.2", "---", "...",
        ][..]).prop_map(str::to_string),
        2 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| n.to_string()),
        1 => (1usize..20_000).prop_map(|n| "x".repeat(n)),
        2 => "[a-z0-9 ./:*=,-]{0,24}",
        2 => any::<String>().prop_map(|s| format!("{s:?}")),
        1 => any::<String>(),
    ]
}

/// One edit of the seed configuration.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Duplicate(Index),
    /// The value after the line's `key:` (or `- `) replaced by another scalar.
    Retype(Index, String),
    /// The line moved left or right by some spaces.
    Indent(Index, i8),
    Insert(Index, String),
    /// The file cut at a byte.
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::Delete),
        2 => any::<Index>().prop_map(Mutation::Duplicate),
        6 => (any::<Index>(), scalar()).prop_map(|(i, s)| Mutation::Retype(i, s)),
        2 => (any::<Index>(), -6i8..=6).prop_map(|(i, d)| Mutation::Indent(i, d)),
        1 => (any::<Index>(), prop_oneof![scalar(), select(KEYS).prop_map(|k| format!("{k}: x"))])
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(seed: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = seed.lines().map(str::to_string).collect();
    for mutation in mutations {
        if lines.is_empty() {
            lines.push(String::new());
        }
        match mutation {
            Mutation::Delete(i) => {
                lines.remove(i.index(lines.len()));
            }
            Mutation::Duplicate(i) => {
                let at = i.index(lines.len());
                lines.insert(at, lines[at].clone());
            }
            Mutation::Retype(i, value) => {
                let at = i.index(lines.len());
                lines[at] = retype(&lines[at], value);
            }
            Mutation::Indent(i, delta) => {
                let at = i.index(lines.len());
                let line = &lines[at];
                lines[at] = if *delta >= 0 {
                    format!("{}{line}", " ".repeat(usize::from(delta.unsigned_abs())))
                } else {
                    let strip = usize::from(delta.unsigned_abs());
                    let spaces = line.len() - line.trim_start_matches(' ').len();
                    line[strip.min(spaces)..].to_string()
                };
            }
            Mutation::Insert(i, text) => {
                let at = i.index(lines.len() + 1);
                let indent = lines
                    .get(at)
                    .map_or(0, |l| l.len() - l.trim_start_matches(' ').len());
                lines.insert(at, format!("{}{text}", " ".repeat(indent)));
            }
            Mutation::Truncate(i) => {
                let text = lines.join("\n");
                let mut cut = i.index(text.len() + 1);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = text[..cut].lines().map(str::to_string).collect();
            }
        }
    }
    lines.join("\n")
}

/// `key: old` → `key: value`; `- old` → `- value`; any other line → its indentation + value.
fn retype(line: &str, value: &str) -> String {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let body = &line[indent..];
    let (head, _) = if let Some(rest) = body.strip_prefix("- ") {
        match rest.find(": ") {
            Some(colon) => body.split_at(2 + colon + 2),
            None => body.split_at(2),
        }
    } else if let Some(colon) = body.find(": ") {
        body.split_at(colon + 2)
    } else if let Some(key) = body.strip_suffix(':') {
        (key, "")
    } else {
        ("", body)
    };
    let head = if body.ends_with(':') && !head.ends_with(": ") {
        format!("{head}: ")
    } else {
        head.to_string()
    };
    format!("{}{head}{value}", &line[..indent])
}

/// A random YAML document: a tree of mappings and lists over known keys and scalars.
#[derive(Debug, Clone)]
enum Node {
    Scalar(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(KEYS).prop_map(str::to_string),
        2 => "[a-z][a-z0-9_-]{0,12}",
        1 => any::<String>(),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    scalar()
        .prop_map(Node::Scalar)
        .prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Node::List),
                prop::collection::vec((key(), inner), 0..6).prop_map(Node::Map),
            ]
        })
}

fn quoted_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Block style, as people write configuration files.
fn block(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match node {
        Node::Scalar(s) => {
            out.push(' ');
            out.push_str(s);
            out.push('\n');
        }
        Node::List(items) if items.is_empty() => out.push_str(" []\n"),
        Node::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Node::List(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&pad);
                out.push('-');
                block(item, indent + 2, out);
            }
        }
        Node::Map(entries) => {
            out.push('\n');
            for (key, value) in entries {
                out.push_str(&pad);
                out.push_str(&quoted_key(key));
                out.push(':');
                block(value, indent + 2, out);
            }
        }
    }
}

/// Flow style (`{a: [1, 2]}`), which is also how JSON reads.
fn flow(node: &Node, out: &mut String) {
    match node {
        Node::Scalar(s) => out.push_str(&format!("{s:?}")),
        Node::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow(item, out);
            }
            out.push(']');
        }
        Node::Map(entries) => {
            out.push('{');
            for (i, (key, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&format!("{key:?}: "));
                flow(value, out);
            }
            out.push('}');
        }
    }
}

fn document() -> impl Strategy<Value = String> {
    let sections = prop::collection::vec((key(), node()), 0..6);
    (any::<bool>(), any::<bool>(), sections, scalar()).prop_map(
        |(with_version, as_flow, sections, version)| {
            let mut entries = Vec::new();
            if with_version {
                entries.push(("version".to_string(), Node::Scalar("1".into())));
            } else {
                entries.push(("version".to_string(), Node::Scalar(version)));
            }
            entries.extend(sections);
            let root = Node::Map(entries);
            let mut out = String::new();
            if as_flow {
                flow(&root, &mut out);
            } else {
                block(&root, 0, &mut out);
            }
            out
        },
    )
}

/// Deeply nested documents: the parser's recursion must end in an error, not a crash.
fn nested() -> impl Strategy<Value = String> {
    (1usize..3000, select(&["[", "{a: ", "- ", "a:\n "][..]))
        .prop_map(|(depth, open)| format!("version: 1\nservices: {}", open.repeat(depth)))
}

/// Every input of the target: seed mutations, random documents, deep nesting.
pub fn strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(mutation(), 1..=4).prop_map(|m| apply(SEED_CONFIG, &m)),
        3 => document(),
        1 => nested(),
    ]
}

/// Loads one file; an error must name the file and speak YAML, not Rust.
pub fn check(text: &str) -> Result<Outcome, String> {
    let loaded = config::load_str(
        FILE,
        text,
        Path::new("/etc/firedrill"),
        &ResolveContext::builtin(),
    );
    let error = match loaded {
        Ok(_) => return Ok(Outcome::Accepted),
        Err(error) => error,
    };
    let ConfigError::Invalid { diagnostics, .. } = &error else {
        return Err(format!("load_str reported a read error: {error}"));
    };
    if diagnostics.is_empty() {
        return Err("an invalid file with no diagnostics".into());
    }
    if let Some(d) = diagnostics.iter().find(|d| d.message.trim().is_empty()) {
        return Err(format!("a diagnostic with no message: {d}"));
    }
    let shown = error.to_string();
    if !shown.starts_with(&format!("error: {FILE}:")) {
        return Err(format!(
            "the error does not start with the file name: {shown}"
        ));
    }
    match unclear(&shown, text) {
        Some(reason) => Err(reason),
        None => Ok(Outcome::Rejected),
    }
}

/// The minimal failing file, as it would be on disk.
pub fn show(text: &str) -> String {
    format!("----- {FILE} -----\n{text}\n-----")
}
