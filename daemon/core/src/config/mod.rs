//! The configuration model: parse the YAML file into raw types, then resolve it into a checked [`Config`].
//!
//! Two steps, as in ripgrep's `LowArgs` -> `HiArgs`: [`raw`] is exactly the file's shape
//! (serde, `deny_unknown_fields`), [`resolve`] validates it, applies defaults and checks
//! references. Every problem becomes a [`Diagnostic`] naming the file, line, column and
//! field path; all problems of a file are reported together.

mod checks;
mod notifications;
pub mod raw;
pub mod resolve;
pub mod source_map;

use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

pub use self::checks::{Check, CheckSet, Prometheus, PrometheusAuth};
pub use self::notifications::{Grafana, TextOrSecret, Webhook, WebhookEvent, WebhookFormat};
pub use self::raw::RawConfig;
pub use self::resolve::*;
pub use self::source_map::{FieldPath, Position, Segment, SourceMap};

/// The seed configuration written by `firedrill init`: the runbooks' platform and drills.
pub const SEED_CONFIG: &str = include_str!("seed.yaml");

/// The default configuration file name.
pub const DEFAULT_CONFIG_FILE: &str = "firedrill.yaml";

/// One problem in a configuration file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub position: Option<Position>,
    pub path: FieldPath,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(at) => write!(f, "{}:{}:{}: ", self.file, at.line, at.column)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if !self.path.is_root() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", render_diagnostics(.file, .diagnostics))]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
}

fn render_diagnostics(file: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str("error: ");
        out.push_str(&diagnostic.to_string());
        out.push('\n');
    }
    let count = diagnostics.len();
    let noun = if count == 1 { "error" } else { "errors" };
    out.push_str(&format!(
        "{file}: {count} {noun}; the configuration was not loaded"
    ));
    out
}

/// Collects diagnostics for one file, locating each field path through the source map.
pub(crate) struct Reporter<'a> {
    file: &'a str,
    map: &'a SourceMap,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &'a str, map: &'a SourceMap) -> Self {
        Self {
            file,
            map,
            diagnostics: Vec::new(),
        }
    }

    /// A problem with the value at `path` (points at the value).
    pub(crate) fn error(&mut self, path: &FieldPath, message: impl Into<String>) {
        let position = self.map.value_position(path);
        self.push(path, position, message.into());
    }

    /// A problem with the key at `path` itself (points at the key).
    pub(crate) fn key_error(&mut self, path: &FieldPath, message: impl Into<String>) {
        let position = self.map.key_position(path);
        self.push(path, position, message.into());
    }

    pub(crate) fn push(
        &mut self,
        path: &FieldPath,
        position: Option<Position>,
        message: impl Into<String>,
    ) {
        let message = printable(&message.into());
        self.diagnostics.push(Diagnostic {
            file: self.file.to_string(),
            position,
            path: path.clone(),
            message,
        });
    }
}

/// A message with its control characters escaped (`\u{0}`): a name or value echoed from
/// the file may hold them (`"\u0000"` in YAML), and raw they are invisible or garble the
/// terminal. Newlines and tabs stay.
fn printable(message: &str) -> String {
    if !message
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return message.to_string();
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Sections whose entries are checked one by one, so that one bad drill does not hide the
/// problems of the next.
const NAMED_SECTIONS: &[&str] = &["targets", "services", "connections", "checks", "drills"];

/// Parses and resolves a configuration held in memory. `file` names it in diagnostics;
/// `base_dir` anchors its relative paths.
pub fn load_str(
    file: &str,
    text: &str,
    base_dir: &Path,
    context: &ResolveContext,
) -> Result<Config, ConfigError> {
    let invalid = |diagnostics| ConfigError::Invalid {
        file: file.to_string(),
        diagnostics,
    };
    let map = match SourceMap::build(text) {
        Ok(map) => map,
        Err(err) => {
            return Err(invalid(vec![Diagnostic {
                file: file.to_string(),
                position: Some(err.at),
                path: FieldPath::root(),
                message: format!("invalid YAML: {}", err.message),
            }]));
        }
    };
    let mut reporter = Reporter::new(file, &map);
    for duplicate in &map.duplicates {
        reporter.push(
            &duplicate.path,
            Some(duplicate.at),
            format!(
                "duplicate key (first defined at line {})",
                duplicate.first.line
            ),
        );
    }
    if !reporter.diagnostics.is_empty() {
        return Err(invalid(reporter.diagnostics));
    }
    let Some((raw, broken)) = parse_raw(text, &mut reporter) else {
        return Err(invalid(reporter.diagnostics));
    };
    let config = resolve::resolve(&raw, &broken, base_dir, file, context, &mut reporter);
    // Report in file order, as a compiler would; the sort is stable, so problems at one
    // position keep the order they were found in.
    reporter
        .diagnostics
        .sort_by_key(|d| d.position.map(|p| (p.line, p.column)));
    match config {
        Some(config) if reporter.diagnostics.is_empty() => Ok(config),
        _ => Err(invalid(reporter.diagnostics)),
    }
}

/// Reads, parses and resolves the configuration file at `path`.
pub fn load_file(path: &Path, context: &ResolveContext) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let base_dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    load_str(&path.display().to_string(), &text, base_dir, context)
}

/// The entries and sections that failed to deserialise. They are left out of resolution,
/// and references to them are not reported again as "unknown".
#[derive(Debug, Default)]
pub(crate) struct Broken {
    entries: std::collections::BTreeSet<(String, String)>,
    sections: std::collections::BTreeSet<String>,
}

impl Broken {
    pub(crate) fn has(&self, section: &str, name: &str) -> bool {
        self.sections.contains(section)
            || self
                .entries
                .contains(&(section.to_string(), name.to_string()))
    }

    pub(crate) fn section(&self, section: &str) -> bool {
        self.sections.contains(section)
    }
}

/// Deserialises the raw configuration, reporting the problems of every section and every
/// named entry rather than stopping at the first. What fails is left out, so that the rest
/// can still be resolved and checked in the same run.
fn parse_raw(text: &str, reporter: &mut Reporter<'_>) -> Option<(RawConfig, Broken)> {
    // YAML 1.1 would read `n`, `no` or `off` as false (the "Norway problem"): only `true`
    // and `false` are booleans in a firedrill file.
    let options = serde_saphyr::options! { strict_booleans: true };
    let value: Value = match serde_saphyr::from_str_with_options(text, options) {
        Ok(value) => value,
        Err(err) => {
            let position = err.location().map(|at| Position {
                line: usize::try_from(at.line()).unwrap_or(usize::MAX),
                column: usize::try_from(at.column()).unwrap_or(usize::MAX),
            });
            let message = without_developer_hints(&err.to_string());
            reporter.push(
                &FieldPath::root(),
                position,
                format!("invalid YAML: {message}"),
            );
            return None;
        }
    };
    let Value::Object(top) = &value else {
        reporter.error(
            &FieldPath::root(),
            "expected a mapping of settings at the top level (start with `version: 1`)",
        );
        return None;
    };
    let mut broken = Broken::default();
    let mut cleaned = top.clone();
    match top.get("version") {
        None => reporter.error(
            &FieldPath::root(),
            "missing field `version` (add `version: 1` at the top)",
        ),
        Some(version) => {
            if probe::<RawConfig>(json!({ "version": version }), reporter).is_none() {
                cleaned.insert("version".into(), json!(1));
            }
        }
    }
    cleaned.entry("version").or_insert(json!(1));
    // Check each top-level section on its own, beside a valid `version`, and the entries of
    // named sections one by one: serde stops at the first error of a value, so this is how
    // one run reports them all.
    for (key, section) in top {
        if key == "version" {
            continue;
        }
        match section {
            Value::Object(entries) if NAMED_SECTIONS.contains(&key.as_str()) => {
                for (name, entry) in entries {
                    let mut one = Map::new();
                    one.insert(name.clone(), entry.clone());
                    let probed =
                        probe::<RawConfig>(json!({ "version": 1, key.clone(): one }), reporter);
                    if probed.is_none() {
                        if let Some(Value::Object(kept)) = cleaned.get_mut(key) {
                            kept.shift_remove(name);
                        }
                        broken.entries.insert((key.clone(), name.clone()));
                    }
                }
            }
            _ => {
                let probed =
                    probe::<RawConfig>(json!({ "version": 1, key.clone(): section }), reporter);
                if probed.is_none() {
                    cleaned.shift_remove(key);
                    broken.sections.insert(key.clone());
                }
            }
        }
    }
    probe::<RawConfig>(Value::Object(cleaned), reporter).map(|raw| (raw, broken))
}

/// Deserialises `value` as `T`, turning a failure into a located diagnostic.
fn probe<T: DeserializeOwned>(value: Value, reporter: &mut Reporter<'_>) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(err) => {
            let path = field_path(err.path());
            let message = plain_message(&err.into_inner().to_string(), &path);
            if message.starts_with("unknown field") {
                let path = path.clone();
                reporter.key_error(&path, message);
            } else {
                reporter.error(&path, message);
            }
            None
        }
    }
}

/// Rewrites serde's message in the file's terms: no Rust type names (`struct RawGrant`,
/// `u32`, `enum PhaseFailurePolicy`) reach the user, and an empty (null) entry where
/// settings belong says what to write instead.
fn plain_message(message: &str, path: &FieldPath) -> String {
    let message = without_developer_hints(message);
    let words: Vec<String> = message
        .split(' ')
        .map(|word| {
            let (core, tail) = split_trailing_punctuation(word);
            let plain = match core {
                "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number (0 or more)",
                "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
                "f32" | "f64" => "a number",
                "char" => "a single character",
                _ => return word.to_string(),
            };
            format!("{plain}{tail}")
        })
        .collect();
    let mut text = words.join(" ");
    if let Some(start) = text.find("expected a map")
        && !text[start + "expected a map".len()..].starts_with(|c: char| c.is_alphanumeric())
    {
        text.replace_range(start..start + "expected a map".len(), "expected a mapping");
    }
    // `expected struct RawGrant`, `expected enum PhaseFailurePolicy`, `expected a map`.
    for (kind, plain) in [
        ("struct ", "a mapping of settings"),
        ("tuple struct ", "a list"),
        ("enum ", "one of the accepted values"),
    ] {
        let needle = format!("expected {kind}");
        while let Some(start) = text.find(&needle) {
            let name_start = start + needle.len();
            let name_end = text[name_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(text.len(), |end| name_start + end);
            text.replace_range(start..name_end, &format!("expected {plain}"));
        }
    }
    if text.starts_with("invalid type: null") && text.contains("expected a mapping") {
        let name = match path.0.last() {
            Some(Segment::Key(key)) => key.as_str(),
            _ => "the entry",
        };
        let in_grants = matches!(
            path.0.as_slice(),
            [Segment::Key(plugins), Segment::Key(grants), _]
                if plugins == "plugins" && grants == "grants"
        );
        text = if in_grants {
            format!(
                "`{name}:` has nothing after it (null): write `{name}: {{}}` to grant only the \
                 defaults (clock, log, state, evidence), or indent its `kubernetes`, `hosts`, \
                 `exec` or `connections` under it"
            )
        } else {
            format!(
                "`{name}:` has nothing after it (null): write `{name}: {{}}` for no settings, \
                 or indent its settings under it"
            )
        };
    }
    text
}

/// The YAML parser's advice to the programmer (`use Option<String>`), in the file's terms.
/// A bare `:` line or `? ` key is a null key, which is what the first one is about.
const DEVELOPER_HINTS: &[(&str, &str)] = &[
    (
        "cannot deserialize null into string; use Option<String>",
        "empty (null) where a name or text belongs: write one, or quote it",
    ),
    (
        "invalid char: cannot deserialize null; use Option<char>",
        "empty (null) where a single character belongs",
    ),
];

/// Rewrites [`DEVELOPER_HINTS`] wherever they occur (the parser repeats its message under
/// the snippet it quotes).
fn without_developer_hints(message: &str) -> String {
    let mut text = message.to_string();
    for (hint, plain) in DEVELOPER_HINTS {
        text = text.replace(hint, plain);
    }
    text
}

fn split_trailing_punctuation(word: &str) -> (&str, &str) {
    let end = word.trim_end_matches([',', '.', ';', ':']).len();
    word.split_at(end)
}

fn field_path(path: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment as S;
    FieldPath(
        path.iter()
            .filter_map(|segment| match segment {
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Enum { variant } => Some(Segment::Key(variant.clone())),
                S::Unknown => None,
            })
            .collect(),
    )
}

/// The JSON Schema of the configuration file, for editors.
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(RawConfig);
    let mut value = schema.to_value();
    if let Value::Object(map) = &mut value {
        map.insert(
            "title".into(),
            Value::String("firedrill configuration".into()),
        );
    }
    value
}
