//! Configuration model tests: the seed resolves to the runbooks' figures, and bad files
//! get located, complete diagnostics.

use std::path::Path;
use std::time::Duration;

use firedrill_core::config::{
    self, Config, ConfigError, ResolveContext, SEED_CONFIG, raw::MissedRunPolicy,
};

fn context() -> ResolveContext {
    ResolveContext::builtin()
}

fn load(text: &str) -> Result<Config, ConfigError> {
    config::load_str(
        "firedrill.yaml",
        text,
        Path::new("/etc/firedrill"),
        &context(),
    )
}

/// The one helper every diagnostics snapshot goes through: the text a user sees.
fn diagnostics(text: &str) -> String {
    match load(text) {
        Ok(_) => "(valid)".to_string(),
        Err(err) => err.to_string(),
    }
}

fn minutes(m: u64) -> Option<Duration> {
    Some(Duration::from_secs(m * 60))
}

#[test]
fn seed_configuration_carries_the_runbooks_drills_and_targets() {
    let config = load(SEED_CONFIG).unwrap();
    let names: Vec<&str> = config.drills.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "single-pod",
            "zone-failure",
            "database-failover",
            "full-dr",
            "region-failover",
            "service-recovery",
            "all-services-restart",
            "data-restoration",
            "kafka-cluster-recovery"
        ]
    );
    assert_eq!(config.objectives.rto, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(config.objectives.rpo, Some(Duration::from_secs(3600)));

    // The RTO table: pod 2 min, zone 5, database node 5, Kafka broker 3, full recovery 15.
    let full_dr = config.drill("full-dr").unwrap();
    let rto = |phase: &str| {
        full_dr
            .phases
            .iter()
            .find(|p| p.name == phase)
            .and_then(|p| p.objectives.rto)
    };
    assert_eq!(rto("pod-failure"), minutes(2));
    assert_eq!(rto("zone-failure"), minutes(5));
    assert_eq!(rto("cassandra-node"), minutes(5));
    assert_eq!(rto("kafka-broker"), minutes(3));
    assert_eq!(rto("full-recovery"), minutes(15));
    let db = config.drill("database-failover").unwrap();
    let pg = db
        .phases
        .iter()
        .find(|p| p.name == "postgres-failover")
        .unwrap();
    assert_eq!(pg.objectives.rto, minutes(5));
    assert_eq!(pg.objectives.rpo, minutes(60));

    // The schedule table: weekly, monthly, monthly, quarterly.
    let cron = |drill: &str| {
        config
            .drill(drill)
            .and_then(|d| d.schedule.as_ref())
            .map(|s| s.schedule.cron.to_string())
    };
    assert_eq!(cron("single-pod").as_deref(), Some("0 10 * * TUE"));
    assert_eq!(cron("zone-failure").as_deref(), Some("0 10 8 * *"));
    assert_eq!(cron("database-failover").as_deref(), Some("0 10 22 * *"));
    assert_eq!(cron("full-dr").as_deref(), Some("0 9 15 1,4,7,10 *"));
    let single_pod = config.drill("single-pod").unwrap();
    assert_eq!(
        single_pod.schedule.as_ref().map(|s| s.missed),
        Some(MissedRunPolicy::Skip)
    );

    // The DR runbook's RTO table: complete region failure 4 h (with the RPO of 1 h),
    // single service failure 15 min, database failure 1 h, Kafka cluster failure 30 min,
    // data corruption 2 h; the region failover's activation acts on the DR region.
    let phase = |drill: &str, phase: &str| {
        config
            .drill(drill)
            .and_then(|d| d.phases.iter().find(|p| p.name == phase))
            .unwrap_or_else(|| panic!("{drill}/{phase}"))
            .clone()
    };
    let activate = phase("region-failover", "activate-dr");
    assert_eq!(activate.target.as_deref(), Some("sandbox-dr"));
    assert_eq!(activate.objectives.rto, minutes(240));
    assert_eq!(activate.objectives.rpo, minutes(60));
    assert_eq!(phase("region-failover", "failback").target, None);
    assert_eq!(
        phase("service-recovery", "plato-down").objectives.rto,
        minutes(15)
    );
    assert_eq!(
        phase("data-restoration", "cassandra-restore")
            .objectives
            .rto,
        minutes(60)
    );
    assert_eq!(
        phase("data-restoration", "kafka-replay").objectives.rto,
        minutes(120)
    );
    assert_eq!(
        phase("kafka-cluster-recovery", "recreate-topics")
            .objectives
            .rto,
        minutes(30)
    );
    assert_eq!(cron("region-failover").as_deref(), Some("0 9 1 3,9 *"));
    assert!(matches!(
        config.targets["sandbox-dr"],
        firedrill_core::config::Target::Sandbox {
            region: firedrill_core::config::SandboxRegion::Dr,
            ..
        }
    ));

    // Six probed application services and the stateful services of the diagram.
    let probed: Vec<&str> = config
        .services
        .values()
        .filter(|s| !s.probes.is_empty())
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        probed,
        [
            "capsule",
            "capsule-dr",
            "nexus",
            "nexus-dr",
            "odyssey",
            "odyssey-dr",
            "perception",
            "perception-dr",
            "plato",
            "plato-dr",
            "synapse",
            "synapse-dr"
        ]
    );
    for stateful in [
        "cassandra",
        "postgresql",
        "kafka",
        "redis",
        "janusgraph",
        "ignite",
    ] {
        assert!(config.services.contains_key(stateful), "{stateful}");
    }
    // Relative paths are anchored at the configuration file's directory.
    assert_eq!(
        config.storage_path,
        Path::new("/etc/firedrill/firedrill-data")
    );
    assert_eq!(config.default_target, "sandbox");
}

#[test]
fn a_phase_without_services_acts_on_every_service_and_deadline_defaults_to_twice_the_rto() {
    let config = load(
        "version: 1\nservices:\n  a: { namespace: n, selector: app=a }\n  b: { namespace: n, selector: app=b }\ndrills:\n  d:\n    phases:\n      - { name: p, scenario: pod-failure, objectives: { rto: 2m } }\n",
    )
    .unwrap();
    let phase = &config.drills[0].phases[0];
    assert_eq!(phase.services, ["a", "b"]);
    assert_eq!(phase.deadline, Duration::from_secs(240));
}

#[test]
fn unknown_field_names_its_line_and_path() {
    insta::assert_snapshot!(diagnostics(
        "version: 1\ndrills:\n  zone-failure:\n    schedule:\n      cron: \"0 10 8 * *\"\n      timzone: Europe/Berlin\n    phases: [{ name: z, scenario: zone-failure }]\n"
    ));
}

#[test]
fn out_of_range_cron_names_the_cron_field() {
    insta::assert_snapshot!(diagnostics(
        "version: 1\ndrills:\n  zone-failure:\n    schedule:\n      cron: \"61 * * * *\"\n    phases: [{ name: z, scenario: zone-failure }]\n"
    ));
}

#[test]
fn unknown_time_zone_names_the_timezone_field() {
    insta::assert_snapshot!(diagnostics(
        "version: 1\ndrills:\n  zone-failure:\n    schedule:\n      cron: \"0 10 8 * *\"\n      timezone: Mars/Olympus\n    phases: [{ name: z, scenario: zone-failure }]\n"
    ));
}

#[test]
fn every_problem_of_a_file_is_reported_in_one_run() {
    insta::assert_snapshot!(diagnostics(
        r#"version: 1
targets:
  prod: { kind: kubeconfig, platform: x.yaml }
services:
  web: { namespace: shop, selector: "app in web" }
  api: { namespace: shop, selector: app=api, replicas: 3 }
connections:
  db: { kind: postgres, url: "mysql://db", password: { env: A, file: /b } }
plugins:
  grants:
    pod-failure:
      kubernetes: [{ verbs: [get, nuke], namespaces: [shop] }]
      connections: [nosuch]
    made-up: {}
drills:
  weekly:
    target: staging
    schedule:
      cron: "0 10 * * TUE"
      blackouts:
        - { from: "2026-12-24", reason: holidays }
        - { from: "2026-12-24", until: "2026-12-20", reason: backwards }
    phases:
      - { name: kill, scenario: pod-failure, services: [web, api, cart] }
      - { name: kill, scenario: pod-falure, objectives: { availability_floor: 99 } }
      - { name: Zone_A, scenario: zone-failure, objectives: { rto: 5m }, deadline: 1m }
  never:
    schedule: { cron: "0 0 30 2 *" }
    phases: []
notifications:
  email: { from: nobody, to: [] }
api:
  listen: "everywhere"
"#
    ));
}

#[test]
fn duplicate_names_point_at_the_second_definition() {
    insta::assert_snapshot!(diagnostics(
        "version: 1\ndrills:\n  a:\n    phases: [{ name: p, scenario: pod-failure }]\n  a:\n    phases: [{ name: p, scenario: pod-failure }]\n"
    ));
}

#[test]
fn wrong_types_and_missing_fields_are_explained() {
    insta::assert_snapshot!(diagnostics(
        "version: 1\nservices:\n  web: { selector: app=web }\ndrills:\n  d:\n    phases:\n      - { name: p, scenario: pod-failure, objectives: { rto: soon } }\n"
    ));
}

#[test]
fn missing_version_and_non_mapping_documents_are_rejected() {
    insta::assert_snapshot!(diagnostics("drills: {}\n"));
    insta::assert_snapshot!(diagnostics("- just\n- a list\n"));
    insta::assert_snapshot!(diagnostics("version: 2\n"));
}

#[test]
fn invalid_yaml_reports_where_parsing_stopped() {
    let text = diagnostics("version: 1\ndrills: [\n");
    assert!(text.starts_with("error: firedrill.yaml:"), "{text}");
    assert!(text.contains("invalid YAML"), "{text}");
}

#[test]
fn json_schema_describes_every_top_level_section() {
    let schema = config::json_schema();
    let properties = schema["properties"].as_object().unwrap();
    for section in [
        "version",
        "storage",
        "objectives",
        "targets",
        "default_target",
        "services",
        "probing",
        "connections",
        "plugins",
        "drills",
        "abort",
        "blast_radius",
        "report",
        "notifications",
        "api",
        "leader_election",
    ] {
        assert!(properties.contains_key(section), "{section} missing");
    }
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
}

#[test]
fn canaries_default_their_cadence_and_name_bad_connections() {
    let config = load(SEED_CONFIG).unwrap();
    let phase = config
        .drill("database-failover")
        .unwrap()
        .phases
        .iter()
        .find(|p| p.name == "postgres-failover")
        .unwrap();
    let canary = phase.canary.as_ref().unwrap();
    assert_eq!(canary.connection, "perception-db");
    assert_eq!(canary.read_from, "perception-db-replica");
    assert_eq!(canary.interval, Duration::from_millis(100));
    assert_eq!(canary.lead, Duration::from_secs(1));
    assert_eq!(canary.table, "firedrill_canary");

    let text = r#"
version: 1
connections:
  db: { kind: postgres, url: "postgres://firedrill@db:5432/app" }
  cache: { kind: redis, url: "redis://cache:6379" }
drills:
  failover:
    phases:
      - name: pg
        scenario: postgres-failover
        canary: { connection: db, read_from: cache, interval: 5ms, table: "drop table x" }
      - name: missing
        scenario: postgres-failover
        canary: { connection: nowhere }
"#;
    insta::assert_snapshot!(diagnostics(text));
}

#[test]
fn a_null_grant_says_what_to_write_not_a_rust_type() {
    let text = diagnostics(
        "version: 1\nplugins:\n  grants:\n    redis-sentinel-failover:\n    pod-failure: { hosts: [] }\n",
    );
    assert!(
        text.contains("plugins.grants.redis-sentinel-failover"),
        "{text}"
    );
    assert!(
        text.contains("write `redis-sentinel-failover: {}` to grant only the defaults"),
        "{text}"
    );
    assert!(
        !text.contains("RawGrant") && !text.contains("struct"),
        "{text}"
    );
}

/// Wrong types anywhere in the file: the message names what to write in YAML terms.
#[test]
fn wrong_types_never_name_rust_types() {
    let cases = [
        "version: 1\nplugins:\n  limits: { memory_mib: -3 }\n",
        "version: 1\nplugins:\n  limits: { fuel: 1.5 }\n",
        "version: 1\nplugins:\n  limits:\n",
        "version: 1\nplugins:\n  custom: [a, b]\n",
        "version: 1\nservices:\n  web:\n",
        "version: 1\ndrills:\n  d:\n    on_phase_failure: { a: 1 }\n    phases: []\n",
        "version: 1\ndrills:\n  d:\n    phases: { a: 1 }\n",
        "version: 1\ntargets: 5\n",
        "version: 1\nplugins:\n  grants:\n    x: { kubernetes: [ { verbs: get, namespaces: [a] } ] }\n",
    ];
    let rust_words = [
        "struct", "enum ", "Raw", "u32", "u64", "usize", "i64", "f64", "IndexMap", "Vec<",
        "Option<",
    ];
    for case in cases {
        let text = diagnostics(case);
        assert!(text.starts_with("error: firedrill.yaml:"), "{case}: {text}");
        for word in rust_words {
            assert!(!text.contains(word), "{case}: `{word}` in: {text}");
        }
    }
}

/// Found by the fuzz binary (`fuzz/`): a bare `:` line is a null key, and the YAML
/// parser's advice to programmers (`use Option<String>`) must not reach the user.
#[test]
fn a_null_key_is_explained_without_rust_types() {
    let text = diagnostics("version: 1\n:\n");
    assert!(text.starts_with("error: firedrill.yaml:"), "{text}");
    assert!(
        text.contains("empty (null) where a name or text belongs"),
        "{text}"
    );
    assert!(!text.contains("Option<"), "{text}");
}

/// Found by the fuzz binary: a name written with an escape (`"\u0000"`) is echoed with its
/// control characters escaped, not raw.
#[test]
fn control_characters_in_echoed_names_are_escaped() {
    let text = diagnostics("version: 1\ndefault_target: \"a\\u0000b\\u001b[31m\"\n");
    assert!(
        text.contains("unknown target `a\\u{0}b\\u{1b}[31m`"),
        "{text}"
    );
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

#[test]
fn a_postgres_store_is_configured_without_its_password_in_the_file() {
    let config = load(
        "version: 1\nstorage:\n  postgres:\n    url: postgres://firedrill@db:5432/firedrill\n    password: { env: FIREDRILL_STORE_PASSWORD }\n",
    )
    .unwrap();
    let pg = config.postgres_storage.unwrap();
    assert_eq!(pg.url, "postgres://firedrill@db:5432/firedrill");
    assert_eq!(
        pg.password,
        Some(config::Secret::Env("FIREDRILL_STORE_PASSWORD".into()))
    );
    assert!(load("version: 1\n").unwrap().postgres_storage.is_none());

    let text = diagnostics(
        "version: 1\nstorage:\n  postgres:\n    url: postgres://firedrill:hunter2@db/firedrill\n",
    );
    assert!(
        text.contains("firedrill.yaml:4:10: storage.postgres.url: the URL holds a password"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2"),
        "the password is not echoed: {text}"
    );
    let text = diagnostics("version: 1\nstorage:\n  postgres: { url: mysql://db/x }\n");
    assert!(
        text.contains("storage.postgres.url: `mysql://db/x` is not a postgres:// URL"),
        "{text}"
    );
    let text = diagnostics("version: 1\nstorage:\n  postgres: { url: postgres:///x }\n");
    assert!(text.contains("names no host"), "{text}");
}

const CHECKS: &str = r#"version: 1
prometheus:
  url: http://prometheus.monitoring:9090/
  bearer_token: { env: PROM_TOKEN }
checks:
  no-5xx:
    description: No 5xx errors during failover
    query: sum(rate(http_server_requests_seconds_count{status=~"5.."}[1m])) or vector(0)
    expect: "< 0.5"
    every: 5s
    abort: true
  lag-flat:
    query: max(deriv(kafka_consumergroup_lag[$__range]))
    expect: "<= 0"
    within: 2m
  flowing:
    query: up{job="web"}
    expect: present
drills:
  zone:
    checks: { before: [flowing], during: [no-5xx], after: [lag-flat] }
    phases:
      - name: zone
        scenario: zone-failure
        checks: { after: [lag-flat] }
"#;

#[test]
fn checks_resolve_with_their_defaults_and_attachments() {
    let config = load(CHECKS).unwrap();
    let prometheus = config.prometheus.as_ref().unwrap();
    assert_eq!(prometheus.url, "http://prometheus.monitoring:9090");
    assert_eq!(prometheus.timeout, Duration::from_secs(10));
    let lag = &config.checks["lag-flat"];
    assert_eq!(lag.within, Duration::from_secs(120));
    assert_eq!(lag.every, Duration::from_secs(15));
    assert!(!lag.abort);
    assert!(config.checks["no-5xx"].abort);
    assert_eq!(config.checks["flowing"].expect.to_string(), "present");
    let drill = config.drill("zone").unwrap();
    assert_eq!(drill.checks.before, ["flowing"]);
    assert_eq!(drill.checks.during, ["no-5xx"]);
    assert_eq!(drill.phases[0].checks.after, ["lag-flat"]);
    assert!(drill.phases[0].checks.during.is_empty());
}

#[test]
fn a_query_that_is_not_promql_names_its_line_field_and_character() {
    let text = CHECKS.replace("query: up{job=\"web\"}", "query: sum(rate(up[1m])");
    let err = diagnostics(&text);
    assert!(
        err.contains("firedrill.yaml:17:12: checks.flowing.query: not valid PromQL at the end of the query (something is missing) (character 17 of the query)"),
        "{err}"
    );
    let text = CHECKS.replace("query: up{job=\"web\"}", "query: rtae(up[1m])");
    let err = diagnostics(&text);
    assert!(
        err.contains(
            "checks.flowing.query: `rtae` is not a PromQL function (character 1 of the query)"
        ),
        "{err}"
    );
}

#[test]
fn attached_checks_must_exist_and_have_a_prometheus() {
    let err = diagnostics(&CHECKS.replace("during: [no-5xx]", "during: [no-500s]"));
    assert!(
        err.contains("drills.zone.checks.during[0]: unknown check `no-500s` (defined: flowing, lag-flat, no-5xx)"),
        "{err}"
    );
    let without = CHECKS.replace(
        "prometheus:\n  url: http://prometheus.monitoring:9090/\n  bearer_token: { env: PROM_TOKEN }\n",
        "",
    );
    let err = diagnostics(&without);
    assert!(
        err.contains("drills.zone.checks.before[0]: check `flowing` needs a Prometheus to query: set `prometheus.url`"),
        "{err}"
    );
    // A phase's steady state is its drill's.
    let err = diagnostics(&CHECKS.replace(
        "checks: { after: [lag-flat] }",
        "checks: { before: [flowing] }",
    ));
    assert!(err.contains("drills.zone.phases[0].checks"), "{err}");
    assert!(err.contains("before"), "{err}");
    let err = diagnostics(&CHECKS.replace("expect: \"<= 0\"", "expect: at most zero"));
    assert!(
        err.contains("checks.lag-flat.expect: `at most zero` is not an expectation"),
        "{err}"
    );
}

#[test]
fn seed_carries_the_runbooks_checklists_as_checks_ready_to_attach() {
    let config = load(SEED_CONFIG).unwrap();
    let names: Vec<&str> = config.checks.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "consumer-lag-not-increasing",
            "error-ratio-normal",
            "metrics-flowing",
            "no-5xx",
            "targets-up"
        ]
    );
    assert!(config.drills.iter().all(|d| d.checks.is_empty()));
    // Uncommenting the Prometheus and the drills' `checks:` lines gives a valid file.
    let enabled = SEED_CONFIG
        .replace("# prometheus:\n#   url:", "prometheus:\n  url:")
        .replace("#   bearer_token:", "  bearer_token:")
        .replace("    # checks: {", "    checks: {");
    let config = load(&enabled).unwrap_or_else(|err| panic!("{err}"));
    assert!(config.prometheus.is_some());
    let zone = config.drill("zone-failure").unwrap();
    assert_eq!(zone.checks.before, ["metrics-flowing", "targets-up"]);
    assert_eq!(
        config.drill("single-pod").unwrap().checks.during,
        ["no-5xx"]
    );
    // The DR runbook's verification checklist after each of its drills.
    for drill in [
        "region-failover",
        "service-recovery",
        "all-services-restart",
        "data-restoration",
        "kafka-cluster-recovery",
    ] {
        let checks = &config.drill(drill).unwrap().checks;
        assert!(
            checks.after.contains(&"targets-up".to_string())
                || checks
                    .after
                    .contains(&"consumer-lag-not-increasing".to_string()),
            "{drill}: {checks:?}"
        );
    }
}

#[test]
fn webhooks_grafana_and_the_public_url_resolve_with_their_defaults() {
    use config::{TextOrSecret, WebhookEvent, WebhookFormat};
    let config = load(
        r#"version: 1
api:
  public_url: https://firedrill.example.com/
notifications:
  webhooks:
    - name: ci
      url: https://ci.example.com/hooks/firedrill
    - name: chat
      url: { env: SLACK_WEBHOOK_URL }
      format: slack
      events: [started, finished]
      headers:
        Authorization: { file: secrets/hook-token }
        X-Team: sre
  grafana:
    url: https://grafana.example.com/
    token: { env: GRAFANA_TOKEN }
"#,
    )
    .unwrap();
    assert_eq!(
        config.api.public_url.as_deref(),
        Some("https://firedrill.example.com")
    );
    let [ci, chat] = config.webhooks.as_slice() else {
        panic!("two webhooks: {:?}", config.webhooks);
    };
    assert_eq!(
        ci.url,
        TextOrSecret::Text("https://ci.example.com/hooks/firedrill".into())
    );
    assert_eq!(ci.format, WebhookFormat::Json);
    assert!(ci.hears(WebhookEvent::Finished) && !ci.hears(WebhookEvent::Started));
    assert!(ci.headers.is_empty());
    assert_eq!(
        chat.url,
        TextOrSecret::Secret(config::Secret::Env("SLACK_WEBHOOK_URL".into()))
    );
    assert_eq!(chat.format, WebhookFormat::Slack);
    assert!(chat.hears(WebhookEvent::Started) && chat.hears(WebhookEvent::Finished));
    assert_eq!(
        chat.headers,
        [
            (
                "Authorization".to_string(),
                TextOrSecret::Secret(config::Secret::File(
                    Path::new("/etc/firedrill/secrets/hook-token").into()
                ))
            ),
            ("X-Team".to_string(), TextOrSecret::Text("sre".into())),
        ]
    );
    let grafana = config.grafana.unwrap();
    assert_eq!(grafana.url, "https://grafana.example.com");
    assert_eq!(grafana.token, config::Secret::Env("GRAFANA_TOKEN".into()));
    assert_eq!(grafana.tags, ["firedrill"]);
    assert_eq!(grafana.dashboard_uid, None);
    // Without the section: nothing is pushed.
    let plain = load("version: 1\n").unwrap();
    assert!(plain.webhooks.is_empty() && plain.grafana.is_none() && plain.api.public_url.is_none());
}

#[test]
fn webhook_and_grafana_mistakes_name_their_line_and_field() {
    let text = diagnostics(
        r#"version: 1
api:
  public_url: ftp://firedrill
notifications:
  webhooks:
    - name: chat
      url: hooks.example.com/x
      events: []
    - name: chat
      url: { env: A, file: /b }
    - name: Bad_Name
      url: https://ci.example.com/hook
      events: [finished, finished]
      headers:
        Content-Type: text/plain
        "Bad Header": x
        Authorization: { env: "" }
  grafana:
    url: grafana.example.com
    token: { env: GRAFANA_TOKEN }
    tags: [""]
"#,
    );
    assert_eq!(
        text,
        r#"error: firedrill.yaml:3:15: api.public_url: expected an http:// or https:// URL
error: firedrill.yaml:7:12: notifications.webhooks[0].url: expected an http:// or https:// URL
error: firedrill.yaml:8:15: notifications.webhooks[0].events: name at least one event (`started`, `finished`), or leave `events` out
error: firedrill.yaml:9:13: notifications.webhooks[1].name: another webhook is named `chat` already
error: firedrill.yaml:10:12: notifications.webhooks[1].url: a secret needs exactly one of `env: VARIABLE` or `file: PATH` (never the value itself)
error: firedrill.yaml:11:7: notifications.webhooks[2].name: webhook name `Bad_Name` must be 1-63 lowercase letters, digits or '-', starting and ending with a letter or digit
error: firedrill.yaml:13:26: notifications.webhooks[2].events[1]: this event is listed twice
error: firedrill.yaml:15:9: notifications.webhooks[2].headers.Content-Type: `Content-Type` is set by firedrill itself and cannot be configured
error: firedrill.yaml:16:9: notifications.webhooks[2].headers["Bad Header"]: `Bad Header` is not an HTTP header name (letters, digits, `-`)
error: firedrill.yaml:17:24: notifications.webhooks[2].headers.Authorization: a secret needs exactly one of `env: VARIABLE` or `file: PATH` (never the value itself)
error: firedrill.yaml:19:10: notifications.grafana.url: expected an http:// or https:// URL
error: firedrill.yaml:21:12: notifications.grafana.tags[0]: a tag cannot be empty
firedrill.yaml: 12 errors; the configuration was not loaded"#
    );
}

#[test]
fn an_unknown_webhook_format_or_a_secret_s_typo_is_located() {
    let text = diagnostics(
        "version: 1\nnotifications:\n  webhooks:\n    - name: chat\n      url: https://x.example.com\n      format: teams\n",
    );
    assert_eq!(
        text,
        "error: firedrill.yaml:6:15: notifications.webhooks[0].format: unknown variant `teams`, \
         expected `json` or `slack`\nfiredrill.yaml: 1 error; the configuration was not loaded"
    );
    let text = diagnostics(
        "version: 1\nnotifications:\n  webhooks:\n    - name: chat\n      url: { evn: HOOK_URL }\n",
    );
    assert_eq!(
        text,
        "error: firedrill.yaml:5:14: notifications.webhooks[0].url.evn: unknown field `evn`, \
         expected `env` or `file`\nfiredrill.yaml: 1 error; the configuration was not loaded"
    );
}

#[test]
fn the_viewer_token_is_a_secret_from_env_or_file_never_its_value() {
    let config = load("version: 1\napi: { viewer_token: { env: FIREDRILL_VIEWER } }\n").unwrap();
    assert_eq!(
        config.api.viewer_token,
        Some(config::Secret::Env("FIREDRILL_VIEWER".into()))
    );
    assert_eq!(load("version: 1\n").unwrap().api.viewer_token, None);
    let text = diagnostics("version: 1\napi: { viewer_token: { env: A, file: b } }\n");
    assert!(text.contains("api.viewer_token"), "{text}");
    assert!(
        text.contains("exactly one of `env: VARIABLE` or `file: PATH`"),
        "{text}"
    );
}

const TWO_REGIONS: &str = r#"version: 1
targets:
  primary: { kind: sandbox }
  dr: { kind: sandbox, region: dr }
default_target: primary
services:
  api: { namespace: shop, selector: app=api }
  api-dr: { target: dr, namespace: shop, selector: app=api }
drills:
  failover:
    expect_down: [api]
    phases:
      - { name: outage, scenario: pod-failure }
      - { name: activate, scenario: pod-failure, target: dr }
"#;

#[test]
fn a_phase_may_act_on_another_target_with_that_targets_services_by_default() {
    let config = load(TWO_REGIONS).unwrap();
    let drill = config.drill("failover").unwrap();
    assert_eq!(drill.target, "primary");
    assert_eq!(drill.expect_down, ["api"]);
    assert_eq!(drill.phases[0].target, None);
    assert_eq!(drill.phases[0].services, ["api"]);
    assert_eq!(drill.phases[1].target.as_deref(), Some("dr"));
    assert_eq!(drill.phases[1].services, ["api-dr"]);
    assert_eq!(drill.other_targets("primary"), ["dr"]);
    assert_eq!(config.services["api-dr"].target.as_deref(), Some("dr"));
    assert!(matches!(
        config.targets["dr"],
        config::Target::Sandbox {
            region: config::SandboxRegion::Dr,
            ..
        }
    ));
}

#[test]
fn a_phase_naming_a_service_of_another_target_or_an_unknown_target_is_refused() {
    let text = TWO_REGIONS
        .replace(
            "{ name: activate, scenario: pod-failure, target: dr }",
            "{ name: activate, scenario: pod-failure, target: dr, services: [api] }",
        )
        .replace(
            "{ name: outage, scenario: pod-failure }",
            "{ name: outage, scenario: pod-failure, target: mars }",
        )
        .replace("expect_down: [api]", "expect_down: [ap]");
    let shown = diagnostics(&text);
    assert!(
        shown.contains("drills.failover.phases[0].target")
            && shown.contains("unknown target `mars`"),
        "{shown}"
    );
    assert!(
        shown.contains("drills.failover.phases[1].services[0]")
            && shown.contains("service `api` runs on target `primary`")
            && shown.contains("acts on target `dr`"),
        "{shown}"
    );
    assert!(
        shown.contains("drills.failover.expect_down[0]") && shown.contains("unknown service `ap`"),
        "{shown}"
    );
}
