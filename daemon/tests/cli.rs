//! The `firedrill` binary's configuration commands, driven as a user would: init, check,
//! schedule, and the help of every subcommand.

// Test helpers panic on failure by design; that is how a test reports it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn firedrill() -> Command {
    let mut cmd = Command::cargo_bin("firedrill").unwrap();
    cmd.env_remove("FIREDRILL_CONFIG").env_remove("RUST_LOG");
    cmd
}

fn seed_in(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("f.yaml");
    firedrill()
        .args(["init", "--out"])
        .arg(&path)
        .assert()
        .success();
    path
}

fn edited_seed(dir: &TempDir, from: &str, to: &str) -> PathBuf {
    let seed = std::fs::read_to_string(seed_in(dir)).unwrap();
    assert!(seed.contains(from), "the seed no longer contains {from:?}");
    let path = dir.path().join("edited.yaml");
    std::fs::write(&path, seed.replacen(from, to, 1)).unwrap();
    path
}

fn line_of(path: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|line| line.contains(needle)).unwrap() + 1
}

#[test]
fn init_then_check_shows_the_four_drills_with_their_next_runs() {
    let dir = TempDir::new().unwrap();
    let config = seed_in(&dir);
    let output = firedrill()
        .arg("check")
        .arg("-c")
        .arg(&config)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    for drill in ["single-pod", "zone-failure", "database-failover", "full-dr"] {
        let line = text
            .lines()
            .position(|l| l.starts_with(drill))
            .unwrap_or_else(|| panic!("{drill} missing from:\n{text}"));
        let next = text.lines().nth(line + 1).unwrap_or_default();
        assert!(next.trim_start().starts_with("next "), "{drill}: {next}");
    }
    assert!(text.contains("weekly \"0 10 * * TUE\""), "{text}");
    assert!(text.contains("quarterly"), "{text}");
    assert!(text.contains("pod-failure (RTO 2m"), "{text}");
    assert!(text.contains("Objectives  RTO 4h, RPO 1h"), "{text}");
}

#[test]
fn init_never_overwrites_an_existing_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("f.yaml");
    std::fs::write(&path, "mine\n").unwrap();
    firedrill()
        .args(["init", "--out"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "already exists; nothing was written",
        ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine\n");
    firedrill()
        .args(["init", "--force", "--out"])
        .arg(&path)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&path).unwrap().contains("drills:"));
}

#[test]
fn unknown_field_exits_2_naming_line_and_field() {
    let dir = TempDir::new().unwrap();
    let path = edited_seed(
        &dir,
        "      missed: skip",
        "      colour: red\n      missed: skip",
    );
    let line = line_of(&path, "colour: red");
    firedrill()
        .arg("check")
        .arg("-c")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "edited.yaml:{line}:7: drills.single-pod.schedule.colour: unknown field `colour`"
        )));
}

#[test]
fn out_of_range_cron_exits_2_naming_line_and_field() {
    let dir = TempDir::new().unwrap();
    let path = edited_seed(&dir, "cron: \"0 10 8 * *\"", "cron: \"61 * * * *\"");
    let line = line_of(&path, "61 * * * *");
    firedrill()
        .arg("check")
        .arg("-c")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "edited.yaml:{line}:13: drills.zone-failure.schedule.cron: invalid cron expression `61 * * * *`: minute value 61 is out of range 0-59"
        )));
}

#[test]
fn unknown_time_zone_exits_2_naming_line_and_field() {
    let dir = TempDir::new().unwrap();
    let path = edited_seed(&dir, "timezone: Europe/Berlin", "timezone: Mars/Olympus");
    let line = line_of(&path, "Mars/Olympus");
    firedrill()
        .arg("check")
        .arg("-c")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "edited.yaml:{line}:17: drills.single-pod.schedule.timezone: unknown time zone `Mars/Olympus`"
        )));
}

#[test]
fn missing_configuration_file_is_an_error_that_names_it() {
    let dir = TempDir::new().unwrap();
    firedrill()
        .current_dir(dir.path())
        .arg("check")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read configuration file firedrill.yaml",
        ));
}

#[test]
fn serve_without_its_api_token_names_the_token_not_another_secret() {
    let dir = TempDir::new().unwrap();
    let config = seed_in(&dir);
    let output = firedrill()
        .env_remove("FIREDRILL_API_TOKEN")
        .arg("-c")
        .arg(&config)
        .arg("serve")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8_lossy(&output);
    assert!(
        stderr.contains("api.token: environment variable FIREDRILL_API_TOKEN is not set"),
        "{stderr}"
    );
    assert!(!stderr.contains("smtp"), "{stderr}");
}

#[test]
fn schedule_crosses_the_european_dst_change() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("eu.yaml");
    std::fs::write(
        &path,
        "version: 1\ndrills:\n  nightly:\n    schedule: { cron: \"30 2 * * *\", timezone: Europe/Berlin }\n    phases: [{ name: kill, scenario: pod-failure }]\n  morning:\n    schedule: { cron: \"0 10 * * *\", timezone: Europe/Paris }\n    phases: [{ name: kill, scenario: pod-failure }]\n",
    )
    .unwrap();
    let output = firedrill()
        .arg("schedule")
        .arg("-c")
        .arg(&path)
        .args([
            "--from",
            "2026-03-28T00:00:00Z",
            "--count",
            "3",
            "--output",
            "json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let listing: serde_json::Value = serde_json::from_slice(&output).unwrap();
    let utc = |drill: usize| -> Vec<String> {
        listing[drill]["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|slot| slot["utc"].as_str().unwrap().to_string())
            .collect()
    };
    // 02:30 does not exist on 29 March (clocks jump from 02:00 CET to 03:00 CEST): the run
    // happens when the gap ends, and the next day 02:30 is CEST.
    assert_eq!(
        utc(0),
        [
            "2026-03-28T01:30:00Z",
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z"
        ]
    );
    // 10:00 local stays 10:00 local: 09:00 UTC before the change, 08:00 UTC after.
    assert_eq!(
        utc(1),
        [
            "2026-03-28T09:00:00Z",
            "2026-03-29T08:00:00Z",
            "2026-03-30T08:00:00Z"
        ]
    );
    // The text form shows both zones.
    firedrill()
        .arg("schedule")
        .arg("-c")
        .arg(&path)
        .args([
            "--from",
            "2026-03-28T00:00:00Z",
            "--count",
            "3",
            "--drill",
            "morning",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Sun 2026-03-29 10:00 CEST (+02:00)   2026-03-29 08:00 UTC",
        ))
        .stdout(predicate::str::contains("nightly").not());
}

#[test]
fn schedule_shows_blacked_out_slots_as_skipped() {
    let dir = TempDir::new().unwrap();
    let config = seed_in(&dir);
    firedrill()
        .arg("schedule")
        .arg("-c")
        .arg(&config)
        .args([
            "--from",
            "2026-12-01T00:00:00Z",
            "--count",
            "2",
            "--drill",
            "database-failover",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "skipped Tue 2026-12-22 10:00 CET (+01:00) (blackout: year-end change freeze)",
        ))
        .stdout(predicate::str::contains("2027-01-22 09:00 UTC"));
}

#[test]
fn schedule_rejects_a_bad_start_and_an_unknown_drill() {
    let dir = TempDir::new().unwrap();
    let config = seed_in(&dir);
    firedrill()
        .arg("schedule")
        .arg("-c")
        .arg(&config)
        .args(["--from", "tomorrow"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--from `tomorrow` is not an RFC 3339 instant",
        ));
    firedrill()
        .arg("schedule")
        .arg("-c")
        .arg(&config)
        .args(["--drill", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown drill `nope`"));
}

#[test]
fn check_schema_prints_the_json_schema() {
    let output = firedrill()
        .args(["check", "--schema"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let schema: serde_json::Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(schema["title"], "firedrill configuration");
    assert!(schema["properties"]["drills"].is_object());
    assert!(schema["$defs"]["RawSchedule"]["properties"]["cron"].is_object());
}

#[test]
fn every_subcommand_explains_itself_in_help() {
    for command in [
        "init", "check", "plan", "run", "serve", "recover", "schedule", "sandbox", "demo", "runs",
        "report", "verify", "audit", "plugin",
    ] {
        let output = firedrill()
            .args([command, "--help"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(output).unwrap();
        let about = text.lines().next().unwrap_or_default();
        assert!(about.split_whitespace().count() >= 3, "{command}: {text}");
    }
    firedrill()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
}

#[test]
fn plugin_list_says_where_each_scenario_comes_from() {
    let dir = TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    // Without a configuration: the built-ins, from the binary, none on disk.
    let text = String::from_utf8(
        firedrill()
            .current_dir(dir.path())
            .env("FIREDRILL_PLUGIN_DIR", &plugins)
            .args(["-c", "absent.yaml", "plugin", "list"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    for name in [
        "pre-drill",
        "pod-failure",
        "zone-failure",
        "full-recovery",
        "kafka-broker",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(name) && l.ends_with(&format!("built-in:{name}"))),
            "{name}: {text}"
        );
    }
    // A file in the plugin directory overrides the built-in; plugins.custom adds one.
    std::fs::write(plugins.join("pod-failure.wasm"), b"not the built-in").unwrap();
    std::fs::write(dir.path().join("mine.wasm"), b"mine").unwrap();
    let config = dir.path().join("f.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 1\nplugins:\n  dir: {}\n  custom:\n    mine: {{ path: mine.wasm }}\n",
            plugins.display()
        ),
    )
    .unwrap();
    let text = String::from_utf8(
        firedrill()
            .arg("-c")
            .arg(&config)
            .args(["plugin", "list"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {text}"))
            .to_string()
    };
    assert!(
        line("pod-failure").ends_with("pod-failure.wasm  (overrides the built-in)"),
        "{text}"
    );
    assert!(
        line("zone-failure").ends_with("built-in:zone-failure"),
        "{text}"
    );
    assert!(line("mine").contains("mine.wasm"), "{text}");
}

#[test]
fn plugin_inspect_takes_a_built_in_scenarios_name() {
    let dir = TempDir::new().unwrap();
    firedrill()
        .current_dir(dir.path())
        .env("XDG_CACHE_HOME", dir.path())
        .args(["plugin", "inspect", "zone-failure"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "file:         built-in:zone-failure",
        ))
        .stdout(predicate::str::contains("firedrill:scenario@0.2.0"));
}
