//! Resolving the `prometheus` connection, the named PromQL `checks` and the lists of checks
//! drills and phases attach, with located diagnostics (a query's syntax error names the
//! character of the query it is at).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;

use super::raw;
use super::resolve::{Secret, join, resolve_secret};
use super::{Broken, FieldPath, Reporter};
use crate::check::{Expectation, validate_query};

/// The Prometheus HTTP API checks query (and abort alerts are read from).
#[derive(Debug, Clone, PartialEq)]
pub struct Prometheus {
    /// Base URL without a trailing `/`.
    pub url: String,
    pub auth: PrometheusAuth,
    /// Extra CA certificates (PEM) for `https://`.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl Prometheus {
    /// A connection to `url` with no authentication (abort alerts' own `prometheus`).
    pub fn plain(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_string(),
            auth: PrometheusAuth::None,
            ca_file: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum PrometheusAuth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A named PromQL check, defaults applied (see `raw::RawCheck`).
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub description: Option<String>,
    /// As written (`$__range` not yet replaced).
    pub query: String,
    pub expect: Expectation,
    /// During a phase: time between evaluations.
    pub every: Duration,
    /// After recovery: how long to keep evaluating until it passes (zero: once).
    pub within: Duration,
    /// During a phase: a violation aborts the drill.
    pub abort: bool,
}

/// The checks a drill or phase attaches, by name, per stage (a phase has no `before`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckSet {
    pub before: Vec<String>,
    pub during: Vec<String>,
    pub after: Vec<String>,
}

impl CheckSet {
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.during.is_empty() && self.after.is_empty()
    }
}

/// What the lists of attached checks are checked against.
pub(super) struct KnownChecks<'a> {
    pub names: &'a BTreeSet<String>,
    pub broken: &'a Broken,
    /// Whether a `prometheus` connection is configured (attached checks need one).
    pub prometheus: bool,
}

pub(super) fn resolve_prometheus(
    prometheus: &raw::RawPrometheus,
    path: &FieldPath,
    rel: &dyn Fn(&str) -> PathBuf,
    reporter: &mut Reporter<'_>,
) -> Option<Prometheus> {
    let mut ok = true;
    if !prometheus.url.starts_with("http://") && !prometheus.url.starts_with("https://") {
        reporter.error(
            &path.key("url"),
            format!(
                "`{}` is not an http:// or https:// URL (e.g. http://prometheus.monitoring:9090)",
                prometheus.url
            ),
        );
        ok = false;
    }
    let auth = match (&prometheus.bearer_token, &prometheus.basic_auth) {
        (Some(_), Some(_)) => {
            reporter.key_error(
                &path.key("basic_auth"),
                "give `bearer_token` or `basic_auth`, not both",
            );
            return None;
        }
        (Some(token), None) => PrometheusAuth::Bearer(resolve_secret(
            token,
            &path.key("bearer_token"),
            rel,
            reporter,
        )?),
        (None, Some(basic)) => PrometheusAuth::Basic {
            username: basic.username.clone(),
            password: resolve_secret(
                &basic.password,
                &path.key("basic_auth").key("password"),
                rel,
                reporter,
            )?,
        },
        (None, None) => PrometheusAuth::None,
    };
    let timeout = prometheus.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    if timeout.is_zero() {
        reporter.error(&path.key("timeout"), "must be longer than zero");
        ok = false;
    }
    ok.then(|| Prometheus {
        url: prometheus.url.trim_end_matches('/').to_string(),
        auth,
        ca_file: prometheus.ca_file.as_deref().map(rel),
        timeout,
    })
}

pub(super) fn resolve_checks(
    checks: &IndexMap<String, raw::RawCheck>,
    root: &FieldPath,
    reporter: &mut Reporter<'_>,
) -> BTreeMap<String, Check> {
    let mut resolved = BTreeMap::new();
    for (name, check) in checks {
        let path = root.key("checks").key(name);
        super::resolve::check_name(reporter, &path, "check", name);
        let mut ok = true;
        if let Err(err) = validate_query(&check.query) {
            let at = if check.query.trim().is_empty() {
                String::new()
            } else {
                format!(" (character {} of the query)", err.offset + 1)
            };
            reporter.error(&path.key("query"), format!("{}{at}", err.message));
            ok = false;
        }
        let expect = match check.expect.parse::<Expectation>() {
            Ok(expect) => expect,
            Err(message) => {
                reporter.error(&path.key("expect"), message);
                ok = false;
                Expectation::Present
            }
        };
        let every = check.every.map_or(Duration::from_secs(15), |d| d.0);
        if every < Duration::from_secs(1) {
            reporter.error(
                &path.key("every"),
                "must be at least 1s (Prometheus answers no faster than it scrapes)",
            );
            ok = false;
        }
        if ok {
            resolved.insert(
                name.clone(),
                Check {
                    name: name.clone(),
                    description: check.description.clone(),
                    query: check.query.clone(),
                    expect,
                    every,
                    within: check.within.map_or(Duration::ZERO, |d| d.0),
                    abort: check.abort.unwrap_or(false),
                },
            );
        }
    }
    resolved
}

/// The names listed under `path` (e.g. `drills.zone.checks.before`), each checked to be a
/// known check, once per list.
pub(super) fn resolve_attached(
    names: &[String],
    path: &FieldPath,
    known: &KnownChecks<'_>,
    reporter: &mut Reporter<'_>,
) -> Vec<String> {
    let mut seen = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        let at = path.index(i);
        if !seen.insert(name) {
            reporter.error(&at, format!("check `{name}` is listed twice here"));
        } else if !known.names.contains(name) && !known.broken.has("checks", name) {
            let listed = if known.names.is_empty() {
                "none is defined under `checks`".to_string()
            } else {
                format!("defined: {}", join(known.names))
            };
            reporter.error(&at, format!("unknown check `{name}` ({listed})"));
        } else if !known.prometheus {
            reporter.error(
                &at,
                format!(
                    "check `{name}` needs a Prometheus to query: set `prometheus.url` (the Prometheus HTTP API)"
                ),
            );
        }
    }
    names.to_vec()
}
