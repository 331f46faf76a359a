//! The chart's Grafana dashboard against a real daemon: `firedrill serve` runs a pod-failure
//! drill on the sandbox and a restore and failover of a real PostgreSQL pair, a real
//! Prometheus (Debian's package) scrapes it, and every panel's PromQL is run against that
//! Prometheus. Every query must be valid and return data.
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
    assert!(
        problems.is_empty(),
        "{} of {} panel queries failed:\n{}",
        problems.len(),
        substituted.len(),
        problems.join("\n")
    );
    println!(
        "{} panel queries returned data; drills done after {:.1} s, test took {:.1} s",
        substituted.len(),
        drills_done.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
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
