//! The chart's Grafana dashboard against a real daemon: `firedrill serve` runs a pod-failure
//! drill on the sandbox and a restore and failover of a real PostgreSQL pair, a real
//! Prometheus (Debian's package) scrapes it, and every panel's PromQL is run against that
//! Prometheus. Every query must be valid and return data. The dashboard's annotation query
//! (drill phases as regions on every panel) is run over the test's time range as Grafana
//! runs it: it must show each phase of the recorded runs while it ran, and nothing after.
//!
//! The drills are chosen so that every panel has something to show: `single-pod` (weekly,
//! run twice: probes for availability and p95 latency, RTO against a target, an
//! `increase()` over the dashboard's range), `database` (a `postgres-restore` phase for the
//! backup age, a `postgres-failover` phase with canaries for the loss window and the
//! acknowledged writes lost) and `paused` (every minute but inside a change freeze: it
//! never passes, so it is overdue once its one-minute period has lapsed).
//!
//! The database pods are sandbox pods with `exec: local`, as in `stateful.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use firedrill_tests::prometheus::{self, instant_query, scalar, url_encode};
use firedrill_tests::servers::{PostgresPair, Replication};
use firedrill_tests::{
    SandboxProcess, api_runs, firedrill_serve, free_port, http_get, http_request, require_plugins,
    wait_for, write_config,
};
use serde_json::Value;

const TOKEN: &str = "dashboard-t0ken";

/// What Grafana sends for its variables. `$drill` is the "All" value (`allValue: .*`,
/// used with `=~`); the range covers the whole test.
const GRAFANA_VARIABLES: &[(&str, &str)] = &[
    ("drill", ".*"),
    ("__range", "10m"),
    ("__range_s", "600"),
    ("__range_ms", "600000"),
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__interval_ms", "15000"),
];

fn dashboard_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../helm/firedrill/files/dashboard.json")
}

/// Every panel query of the dashboard, rows' nested panels included: (panel title, expr).
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            walk(&panel["panels"], out);
            let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("panel `{title}`: a target without expr"));
                out.push((title.clone(), expr.to_string()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `expr` with Grafana's variables (`$name`, `${name}`, `${name:format}`) replaced;
/// an unknown variable is an error naming it.
fn substitute(expr: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in {expr}"))?;
            let name = braced[..end].split(':').next().unwrap_or_default();
            (name, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        let value = GRAFANA_VARIABLES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("unknown Grafana variable `${name}` in {expr}"))?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `{drill="x",phase="y"}` without `__name__`, for printing.
fn labels(metric: &Value) -> String {
    let pairs: Vec<String> = metric
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| *name != "__name__")
        .map(|(name, value)| format!("{name}={}", value.as_str().unwrap_or("?")))
        .collect();
    pairs.join(",")
}

/// A table on the primary and a `pg_dump` of it, 30 minutes old, for the restore phase.
fn write_backup(pg: &PostgresPair, backups: &Path) {
    pg.psql_ok(
        pg.primary_port,
        "CREATE TABLE orders (id int PRIMARY KEY, item text); \
         INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 50) g",
    );
    std::fs::create_dir_all(backups).unwrap();
    pg.dump_primary(&backups.join("orders.dump"), "30 minutes ago");
}

fn platform(pg: &PostgresPair) -> String {
    format!(
        r#"
namespace: shop
zones: [zone-a, zone-b]
nodesPerZone: 1
deployments:
  - name: web
    replicas: 2
    pdb: {{ maxUnavailable: 1 }}
    startDelay: 1s
statefulsets:
{statefulset}"#,
        statefulset = pg.local_exec_statefulset(),
    )
}

fn config(
    dir: &Path,
    sandbox: &SandboxProcess,
    pg: &PostgresPair,
    backups: &Path,
    api_port: u16,
) -> PathBuf {
    let now = chrono::Utc::now();
    let freeze_from = (now - chrono::Duration::hours(1)).to_rfc3339();
    let freeze_until = (now + chrono::Duration::minutes(10)).to_rfc3339();
    let body = format!(
        r#"services:
  web:
    namespace: shop
    selector: app.kubernetes.io/name=web
    probes: [{{ service_proxy: {{ service: web, port: http }} }}]
  postgresql: {{ namespace: data, selector: app=postgresql }}
probing: {{ interval: 250ms }}
connections:
  primary: {{ kind: postgres, url: "{primary}" }}
  replica: {{ kind: postgres, url: "{replica}" }}
plugins:
  grants:
    pod-failure:
      kubernetes: [{{ verbs: [list, delete], namespaces: [shop] }}]
    postgres-restore:
      kubernetes: [{{ verbs: [list], namespaces: [data] }}]
      exec: [data]
      connections: [primary]
    postgres-failover:
      kubernetes: [{{ verbs: [list], namespaces: [data] }}]
      exec: [data]
      connections: [primary, replica]
drills:
  single-pod:
    schedule: {{ cron: "0 10 * * TUE", timezone: Europe/Berlin }}
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web], objectives: {{ rto: 2m, availability_floor: 0.5 }} }}
  database:
    phases:
      - name: restore
        scenario: postgres-restore
        services: [postgresql]
        params:
          connection: primary
          pod: postgresql-0
          backups: {backups}
          work_dir: {work}
          tables: [{{ name: orders, min_rows: 50 }}]
        objectives: {{ rto: 2m, rpo: 1h }}
      - name: failover
        scenario: postgres-failover
        services: [postgresql]
        params:
          primary: primary
          replica: replica
          primary_pod: postgresql-0
          stop_command: {stop}
        canary: {{ connection: primary, read_from: replica }}
        objectives: {{ rto: 1m, rpo: 200ms }}
  paused:
    schedule:
      cron: "* * * * *"
      grace: 1s
      blackouts: [{{ from: "{freeze_from}", until: "{freeze_until}", reason: change freeze }}]
    phases:
      - {{ name: kill, scenario: pod-failure, services: [web] }}
api:
  listen: 127.0.0.1:{api_port}
  token: {{ env: FIREDRILL_TEST_TOKEN }}
"#,
        primary = pg.primary_url(),
        replica = pg.replica_url(),
        backups = backups.display(),
        work = dir.display(),
        stop = pg.stop_primary_command_json(),
    );
    write_config(dir, sandbox, &body)
}

#[test]
fn every_dashboard_panel_returns_data_from_prometheus_scraping_a_daemon_after_drills() {
    require_plugins(&["pod-failure", "postgres-restore", "postgres-failover"]);
    let started = Instant::now();
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard_path()).unwrap()).unwrap();
    let queries = panel_queries(&dashboard);
    assert!(!queries.is_empty(), "the dashboard has no panel queries");
    // Every variable is known before anything starts: an unknown one fails at once.
    let substituted: Vec<(String, String, String)> = queries
        .into_iter()
        .map(|(title, expr)| {
            let promql = substitute(&expr).unwrap_or_else(|e| panic!("panel `{title}`: {e}"));
            (title, expr, promql)
        })
        .collect();

    // A directory the `postgres` user can traverse (PostgreSQL runs as that user when the
    // tests run as root).
    let dir = tempfile::Builder::new()
        .prefix("firedrill-dashboard-")
        .tempdir()
        .unwrap();
    let pg = PostgresPair::start(dir.path(), Replication::Sync);
    let backups = dir.path().join("backups");
    write_backup(&pg, &backups);
    let sandbox = SandboxProcess::start(dir.path(), Some(&platform(&pg)));
    sandbox.wait_ready("data", "app=postgresql", 2);
    sandbox.wait_ready("shop", "app.kubernetes.io/name=web", 2);

    let api_port = free_port();
    let config = config(dir.path(), &sandbox, &pg, &backups, api_port);
    let range_start = chrono::Utc::now();
    let _serve = firedrill_serve(&config, &[("FIREDRILL_TEST_TOKEN", TOKEN)]);
    let serve_started = Instant::now();
    let api = format!("http://127.0.0.1:{api_port}");
    wait_for(
        Duration::from_secs(60),
        "firedrill serve to be ready",
        || http_get(&api, "/readyz").is_ok(),
    );

    // Prometheus scrapes from before the first run, so counters and histograms are seen
    // increasing, as on a cluster.
    let (prometheus, _prometheus) = prometheus::start(dir.path(), &format!("127.0.0.1:{api_port}"));
    wait_for(
        Duration::from_secs(30),
        "Prometheus to have scraped the daemon",
        || scalar(&prometheus, r#"up{job="firedrill"}"#) == Some(1.0),
    );

    // Queued one after the other: the database drill last, as its failover stops the
    // primary the restore reads from.
    let bearer = format!("Bearer {TOKEN}");
    for drill in ["single-pod", "single-pod", "database"] {
        http_request(
            &api,
            "POST",
            &format!("/api/v1/drills/{drill}/run"),
            &[("Authorization", &bearer)],
        )
        .unwrap();
    }
    wait_for(
        Duration::from_secs(90),
        "the three triggered runs to be recorded",
        || api_runs(&api).len() == 3,
    );
    let recorded = api_runs(&api);
    for run in &recorded {
        assert_eq!(run["outcome"], "passed", "{run:#}");
    }
    let drills_done = started.elapsed();

    // Scraped after the last run; `paused` is overdue once its period (a minute) and
    // grace (1 s) have lapsed since the daemon started.
    wait_for(
        Duration::from_secs(30),
        "Prometheus to have scraped the last run",
        || {
            scalar(
                &prometheus,
                r#"firedrill_drill_runs_total{drill="database",result="passed"}"#,
            ) == Some(1.0)
                && scalar(
                    &prometheus,
                    r#"sum(firedrill_drill_runs_total{drill="single-pod",result="passed"})"#,
                ) == Some(2.0)
        },
    );
    let overdue_after = Duration::from_secs(62).saturating_sub(serve_started.elapsed());
    wait_for(
        overdue_after + Duration::from_secs(15),
        "the paused drill to be overdue in Prometheus",
        || scalar(&prometheus, r#"firedrill_drill_overdue{drill="paused"}"#) == Some(1.0),
    );

    // A drill that never passed has no last success (not one in 1970).
    let never = instant_query(
        &prometheus,
        r#"firedrill_drill_last_success_timestamp_seconds{drill="paused"}"#,
    )
    .unwrap();
    assert_eq!(never["data"]["result"], serde_json::json!([]), "{never}");

    // The drill variable: Grafana asks for label values of the series it names.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        let Some(definition) = variable["definition"].as_str() else {
            continue;
        };
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable query `{definition}` is not label_values(...)"));
        let (series, label) = inner.rsplit_once(',').unwrap();
        let body = http_get(
            &prometheus,
            &format!(
                "/api/v1/label/{}/values?match[]={}",
                label.trim(),
                url_encode(series.trim())
            ),
        )
        .unwrap();
        let values: Value = serde_json::from_str(&body).unwrap();
        let values: Vec<&str> = values["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        // Every configured drill, the never-run overdue one too.
        assert_eq!(
            values,
            ["database", "paused", "single-pod"],
            "variable `{}` ({definition})",
            variable["name"]
        );
        println!("variable {}: {values:?}", variable["name"]);
    }

    let mut problems = Vec::new();
    let mut figures: BTreeMap<usize, String> = BTreeMap::new();
    for (index, (title, expr, promql)) in substituted.iter().enumerate() {
        let answer = match instant_query(&prometheus, promql) {
            Ok(answer) => answer,
            Err(err) => {
                problems.push(format!("panel `{title}`: {expr}\n    query failed: {err}"));
                continue;
            }
        };
        if answer["status"] != "success" {
            problems.push(format!("panel `{title}`: {expr}\n    {answer}"));
            continue;
        }
        let result = answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let samples: Vec<(String, f64)> = result
            .iter()
            .map(|series| {
                let value = series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN);
                (labels(&series["metric"]), value)
            })
            .collect();
        if samples.iter().all(|(_, value)| !value.is_finite()) {
            problems.push(format!(
                "panel `{title}`: {expr}\n    no data (as sent: {promql}): {result:?}"
            ));
            continue;
        }
        let shown: Vec<String> = samples
            .iter()
            .map(|(labels, value)| format!("{{{labels}}} {value:.3}"))
            .collect();
        figures.insert(
            index,
            format!("{title} [{expr}]\n    {}", shown.join("\n    ")),
        );
    }
    for figure in figures.values() {
        println!("{figure}");
    }
    problems.extend(phase_annotation_problems(
        &dashboard,
        &prometheus,
        &api,
        range_start,
    ));
    assert!(
        problems.is_empty(),
        "{} problems with {} panel queries and the annotations:\n{}",
        problems.len(),
        substituted.len(),
        problems.join("\n")
    );
    println!(
        "{} panel queries returned data, the annotations showed the phases; drills done after {:.1} s, test took {:.1} s",
        substituted.len(),
        drills_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

/// The dashboard's annotation queries: (name, expr, step).
fn annotation_queries(dashboard: &Value) -> Vec<(String, String, String)> {
    dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|annotation| {
            let expr = annotation["expr"].as_str()?;
            let name = annotation["name"].as_str().unwrap_or("(unnamed)");
            // Grafana's default minimum step for Prometheus annotations.
            let step = annotation["step"].as_str().unwrap_or("60s");
            Some((name.to_string(), expr.to_string(), step.to_string()))
        })
        .collect()
}

/// `1s`, `30s`, `2m` or bare seconds, in seconds.
fn step_seconds(step: &str) -> f64 {
    let (number, unit) = match step.strip_suffix('m') {
        Some(minutes) => (minutes, 60.0),
        None => (step.strip_suffix('s').unwrap_or(step), 1.0),
    };
    number
        .parse::<f64>()
        .unwrap_or_else(|e| panic!("step `{step}`: {e}"))
        * unit
}

fn unix(at: &Value) -> f64 {
    let at: chrono::DateTime<chrono::Utc> = at.as_str().unwrap().parse().unwrap();
    at.timestamp_millis() as f64 / 1000.0
}

/// (drill, phase, start, end), Unix seconds.
type Span = (String, String, f64, f64);

/// When each phase of every recorded run ran, from the API's run records.
fn phase_spans(api: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    for summary in api_runs(api) {
        let id = summary["id"].as_str().unwrap();
        let run: Value =
            serde_json::from_str(&http_get(api, &format!("/api/v1/runs/{id}")).unwrap()).unwrap();
        for phase in run["phases"].as_array().unwrap() {
            spans.push((
                run["drill"].as_str().unwrap().to_string(),
                phase["name"].as_str().unwrap().to_string(),
                unix(&phase["started_at"]),
                unix(&phase["finished_at"]),
            ));
        }
    }
    spans
}

/// The regions Grafana draws from a Prometheus annotation query's range answer: per
/// series, its samples of 1 or more, consecutive ones (no more than `step` apart) merged.
fn grafana_regions(answer: &Value, step: f64) -> Vec<Span> {
    let mut regions = Vec::new();
    for series in answer["data"]["result"].as_array().into_iter().flatten() {
        let label = |name: &str| series["metric"][name].as_str().unwrap_or("?").to_string();
        let mut open: Option<(f64, f64)> = None;
        for point in series["values"].as_array().into_iter().flatten() {
            let at = point[0].as_f64().unwrap();
            let value: f64 = point[1].as_str().unwrap().parse().unwrap();
            if value < 1.0 {
                continue;
            }
            open = match open {
                Some((start, end)) if end + step >= at => Some((start, at)),
                Some((start, end)) => {
                    regions.push((label("drill"), label("phase"), start, end));
                    Some((at, at))
                }
                None => Some((at, at)),
            };
        }
        if let Some((start, end)) = open {
            regions.push((label("drill"), label("phase"), start, end));
        }
    }
    regions
}

/// Runs each annotation query of the dashboard over the test's range, at its step, and
/// checks the regions against the recorded phases: every phase shown while it ran, no
/// region where no phase ran (a scrape interval of slack), tags from labels the series
/// carry, and nothing shown now that no drill runs.
fn phase_annotation_problems(
    dashboard: &Value,
    prometheus: &str,
    api: &str,
    range_start: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    // Prometheus scrapes every second (SCRAPE); a query sees at each step the last sample
    // before it. So a region starts at the first scrape inside a phase and may end up to a
    // scrape and a step after it, and a scrape's timestamp is when it began, just before
    // the daemon answered. A phase shorter than a scrape interval or a step can fall
    // between two samples (in Grafana too): the longer ones, with some slack, must show.
    const SCRAPE: f64 = 1.0;
    const BEFORE: f64 = 0.5;
    const AFTER: f64 = 2.0;
    let annotations = annotation_queries(dashboard);
    let mut problems = Vec::new();
    if annotations.is_empty() {
        problems.push("the dashboard has no annotation query (drill phases)".to_string());
    }
    let spans = phase_spans(api);
    assert!(!spans.is_empty(), "no recorded phases");
    let start = range_start.timestamp_millis() as f64 / 1000.0;
    let end = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
    for (name, expr, step) in annotations {
        let promql = substitute(&expr).unwrap_or_else(|e| panic!("annotation `{name}`: {e}"));
        let answer = match prometheus::range_query(prometheus, &promql, start, end, &step) {
            Ok(answer) if answer["status"] == "success" => answer,
            Ok(answer) => {
                problems.push(format!(
                    "annotation `{name}`: {expr}
    {answer}"
                ));
                continue;
            }
            Err(err) => {
                problems.push(format!(
                    "annotation `{name}`: {expr}
    query failed: {err}"
                ));
                continue;
            }
        };
        let tag_keys = dashboard["annotations"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name.as_str())
            .and_then(|a| a["tagKeys"].as_str())
            .unwrap_or_default();
        for series in answer["data"]["result"].as_array().into_iter().flatten() {
            for key in tag_keys.split(',').filter(|k| !k.is_empty()) {
                if series["metric"][key.trim()].as_str().is_none() {
                    problems.push(format!(
                        "annotation `{name}`: tag key `{key}` is not a label of {}",
                        series["metric"]
                    ));
                }
            }
        }
        let step = step_seconds(&step);
        let visible = step.max(SCRAPE) + 0.25;
        let regions = grafana_regions(&answer, step);
        for (drill, phase, from, to) in &regions {
            println!(
                "annotation {name}: {drill}/{phase} from {from:.1} to {to:.1} ({:.1} s)",
                to - from
            );
        }
        let long_enough = spans.iter().filter(|s| s.3 - s.2 >= visible).count();
        if long_enough == 0 {
            problems.push(format!(
                "annotation `{name}`: no phase ran {visible:.2} s or more, so none must show: {spans:?}"
            ));
        }
        for (drill, phase, started, finished) in &spans {
            println!(
                "phase {drill}/{phase} ran from {started:.3} to {finished:.3} ({:.3} s{})",
                finished - started,
                if finished - started >= visible {
                    ""
                } else {
                    ", shorter than a step and a scrape: may fall between two samples"
                }
            );
            let shown = regions.iter().any(|(d, p, from, to)| {
                d == drill && p == phase && *from <= finished + AFTER && *to >= started - BEFORE
            });
            if !shown && finished - started >= visible {
                problems.push(format!(
                    "annotation `{name}`: phase {drill}/{phase} ran {started:.3}..{finished:.3} but no region shows it"
                ));
            }
        }
        // Every instant a region covers is while a phase of its labels ran.
        for series in answer["data"]["result"].as_array().into_iter().flatten() {
            let (drill, phase) = (
                series["metric"]["drill"].as_str().unwrap_or("?"),
                series["metric"]["phase"].as_str().unwrap_or("?"),
            );
            let outside: Vec<f64> = series["values"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|point| point[0].as_f64().unwrap())
                .filter(|at| {
                    !spans.iter().any(|(d, p, started, finished)| {
                        d == drill
                            && p == phase
                            && *at >= started - BEFORE
                            && *at <= finished + AFTER
                    })
                })
                .collect();
            if let Some(first) = outside.first() {
                problems.push(format!(
                    "annotation `{name}`: {drill}/{phase} shown at {} instants when it was not running, the first {first:.3}",
                    outside.len()
                ));
            }
        }
        // Nothing runs now: no phase is shown.
        match prometheus::instant_query(prometheus, &promql) {
            Ok(now) if now["data"]["result"] == serde_json::json!([]) => {}
            other => problems.push(format!(
                "annotation `{name}`: shows a phase now that no drill runs: {other:?}"
            )),
        }
    }
    problems
}

#[test]
fn grafana_variables_are_substituted_and_an_unknown_one_is_refused() {
    assert_eq!(
        substitute(r#"increase(x{drill=~"$drill"}[$__range]) / ${__rate_interval}"#).unwrap(),
        r#"increase(x{drill=~".*"}[10m]) / 1m"#
    );
    assert_eq!(
        substitute("y{drill=~\"${drill:regex}\"}").unwrap(),
        "y{drill=~\".*\"}"
    );
    let err = substitute("z[$__unknown]").unwrap_err();
    assert!(err.contains("$__unknown"), "{err}");
}

#[test]
fn grafana_regions_merge_samples_no_more_than_a_step_apart() {
    let answer = serde_json::json!({"data": {"result": [{
        "metric": {"drill": "d", "phase": "p"},
        "values": [[10.0, "1"], [11.0, "1"], [12.0, "0"], [13.0, "1"], [20.0, "1"]]
    }]}});
    let span = |from: f64, to: f64| ("d".to_string(), "p".to_string(), from, to);
    assert_eq!(
        grafana_regions(&answer, 2.0),
        [span(10.0, 13.0), span(20.0, 20.0)]
    );
    assert_eq!(
        grafana_regions(&answer, 1.0),
        [span(10.0, 11.0), span(13.0, 13.0), span(20.0, 20.0)]
    );
    assert_eq!(step_seconds("1s"), 1.0);
    assert_eq!(step_seconds("2m"), 120.0);
    assert_eq!(step_seconds("15"), 15.0);
}
