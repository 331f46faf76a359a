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
        ["single-pod", "zone-failure", "database-failover", "full-dr"]
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
            "nexus",
            "odyssey",
            "perception",
            "plato",
            "synapse"
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
