//! `firedrill runs`, `report`, `verify` and `audit` driven as a user would, over a store
//! filled with hand-made runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use chrono::{DateTime, TimeZone, Utc};
use firedrill_core::report::fixtures::{failing_run_at, passing_run_at};
use firedrill_core::run::{RunRecord, Trigger};
use firedrill_store::{DATABASE_FILE, RunStore, SqliteStore, report_hashes};
use tempfile::TempDir;

fn firedrill() -> Command {
    let mut cmd = Command::cargo_bin("firedrill").unwrap();
    cmd.env_remove("FIREDRILL_CONFIG").env_remove("RUST_LOG");
    cmd
}

/// The seed configuration in `dir`; its storage path is `dir/firedrill-data`.
fn seed_in(dir: &TempDir) -> PathBuf {
    let path = dir.path().join("firedrill.yaml");
    firedrill()
        .args(["init", "--out"])
        .arg(&path)
        .assert()
        .success();
    path
}

/// A run of the seed's `zone-failure` drill serving `slot`.
fn zone_run(run: RunRecord, slot: DateTime<Utc>) -> RunRecord {
    RunRecord {
        id: RunRecord::make_id("zone-failure", slot, 0xbeef),
        drill: "zone-failure".to_string(),
        trigger: Trigger::Schedule { slot },
        scheduled_for: Some(slot),
        ..run
    }
}

fn store_runs(dir: &Path, runs: &[RunRecord]) {
    let data = dir.join("firedrill-data");
    std::fs::create_dir_all(&data).unwrap();
    let mut store = SqliteStore::open(&data.join(DATABASE_FILE)).unwrap();
    for run in runs {
        let hashes = report_hashes([("report.md", format!("# {}", run.id).as_str())]);
        store.append(run, hashes, run.started_at).unwrap();
    }
}

/// 2026-09-08 and 2026-10-08, 10:00 Europe/Berlin: the seed's monthly zone-failure slots.
fn september_slot() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, 8, 8, 0, 0).unwrap()
}

fn stdout(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

#[test]
fn runs_lists_report_re_renders_and_verify_passes_on_an_untouched_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let passing = zone_run(passing_run_at(september_slot()), september_slot());
    let october = Utc.with_ymd_and_hms(2026, 10, 8, 8, 0, 0).unwrap();
    let failing = zone_run(failing_run_at(october), october);
    store_runs(dir.path(), &[passing.clone(), failing.clone()]);

    let listed = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("runs")
        .assert()
        .success();
    let text = stdout(&listed);
    assert!(
        text.contains(&passing.id) && text.contains(&failing.id),
        "{text}"
    );
    assert!(text.contains("failed"), "{text}");

    let report = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["report", &failing.id])
        .assert()
        .success();
    let text = stdout(&report);
    assert!(
        text.starts_with(&format!("# DR Drill Report: {}", failing.id)),
        "{text}"
    );
    assert!(
        text.contains("| zone-failure | 5m | 7m 12s | Fail |"),
        "{text}"
    );
    // The configured participants join the run's.
    assert!(text.contains("Incident commander"), "{text}");

    let json = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["report", &failing.id, "--format", "json"])
        .assert()
        .success();
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(value["verdict"], "FAILED");

    firedrill()
        .arg("-c")
        .arg(&config)
        .args(["report", "no-such-run"])
        .assert()
        .code(2);

    let verified = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("verify")
        .assert()
        .code(0);
    assert!(stdout(&verified).starts_with("Chain intact: 2 records"));
}

#[test]
fn verify_exits_1_and_names_the_record_and_field_of_a_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let run = zone_run(passing_run_at(september_slot()), september_slot());
    store_runs(dir.path(), std::slice::from_ref(&run));
    let conn =
        rusqlite::Connection::open(dir.path().join("firedrill-data").join(DATABASE_FILE)).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update;")
        .unwrap();
    // 187 s of recovery becomes 107 s: one byte.
    let entry: String = conn
        .query_row("SELECT entry FROM records WHERE seq = 1", [], |row| {
            row.get(0)
        })
        .unwrap();
    assert_eq!(entry.matches("\"recovery_seconds\":187.0").count(), 1);
    let tampered = entry.replace("\"recovery_seconds\":187.0", "\"recovery_seconds\":107.0");
    conn.execute("UPDATE records SET entry = ?1 WHERE seq = 1", [tampered])
        .unwrap();

    let broken = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("verify")
        .assert()
        .code(1);
    let text = stdout(&broken);
    assert!(text.contains("record 1"), "{text}");
    assert!(text.contains(&run.id), "{text}");
    assert!(text.contains("run.phases[1].recovery_seconds"), "{text}");
}

#[test]
fn audit_over_a_period_with_one_missed_and_one_failed_slot_shows_both() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let failed = zone_run(failing_run_at(september_slot()), september_slot());
    store_runs(dir.path(), std::slice::from_ref(&failed));
    let audit = |format: &str| {
        firedrill()
            .arg("-c")
            .arg(&config)
            .args([
                "audit",
                "--since",
                "2026-09-01",
                "--until",
                "2026-10-31",
                "--drill",
                "zone-failure",
                "--format",
                format,
            ])
            .assert()
            .code(1)
    };

    let markdown = stdout(&audit("md"));
    let rows: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("| 2026-"))
        .collect();
    assert_eq!(rows.len(), 2, "{markdown}");
    assert!(
        rows[0].starts_with("| 2026-09-08T08:00:00Z | 2026-09-08 10:00 CEST | on time | FAILED |"),
        "{markdown}"
    );
    assert!(rows[0].contains(&failed.id), "{markdown}");
    assert!(rows[1].starts_with("| 2026-10-08T08:00:00Z | 2026-10-08 10:00 CEST | missed: no run recorded (daemon down) | n/a | - |"), "{markdown}");
    assert!(
        markdown.contains("**Evidence chain**: intact (1 records"),
        "{markdown}"
    );

    let json: serde_json::Value = serde_json::from_str(&stdout(&audit("json"))).unwrap();
    assert_eq!(json["totals"]["missed"], 1);
    assert_eq!(json["totals"]["objectives_failed"], 1);
    assert_eq!(
        json["drills"][0]["slots"][0]["report_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );

    let html = stdout(&audit("html"));
    assert!(
        html.contains("missed: no run recorded (daemon down)"),
        "{html}"
    );
}

#[test]
fn report_uses_the_template_directory_named_in_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string(seed_in(&dir)).unwrap();
    let commented = "  # templates: ./my-templates";
    assert!(
        seed.contains(commented),
        "the seed no longer suggests a template directory"
    );
    let config = dir.path().join("custom.yaml");
    std::fs::write(
        &config,
        seed.replacen(commented, "  templates: ./my-templates", 1),
    )
    .unwrap();
    let templates = dir.path().join("my-templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("report.md.tera"),
        "Custom report for {{ report.drill }}: {{ report.verdict }}",
    )
    .unwrap();
    let run = zone_run(passing_run_at(september_slot()), september_slot());
    store_runs(dir.path(), std::slice::from_ref(&run));

    let custom = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["report", &run.id])
        .assert()
        .success();
    assert_eq!(stdout(&custom), "Custom report for zone-failure: PASSED\n");
    // Templates the directory does not override keep their defaults.
    let agenda = firedrill()
        .arg("-c")
        .arg(&config)
        .args(["report", &run.id, "--format", "agenda"])
        .assert()
        .success();
    assert!(stdout(&agenda).contains("**Drill Overview** (5 min)"));
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn verify_checks_signatures_against_the_public_key_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let data = dir.path().join("firedrill-data");
    std::fs::create_dir_all(&data).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let mut store = SqliteStore::open(&data.join(DATABASE_FILE))
        .unwrap()
        .with_signing_key(key.clone());
    let run = zone_run(passing_run_at(september_slot()), september_slot());
    store
        .append(&run, Default::default(), run.started_at)
        .unwrap();
    let public = dir.path().join("firedrill.pub");
    std::fs::write(&public, to_hex(&key.verifying_key().to_bytes())).unwrap();
    let other = dir.path().join("other.pub");
    let other_key = ed25519_dalek::SigningKey::from_bytes(&[4u8; 32]);
    std::fs::write(&other, to_hex(&other_key.verifying_key().to_bytes())).unwrap();

    let good = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("verify")
        .arg("--public-key")
        .arg(&public)
        .assert()
        .code(0);
    assert!(
        stdout(&good).contains("1 signed, signatures checked"),
        "{}",
        stdout(&good)
    );
    let bad = firedrill()
        .arg("-c")
        .arg(&config)
        .arg("verify")
        .arg("--public-key")
        .arg(&other)
        .assert()
        .code(1);
    assert!(
        stdout(&bad).contains("field `signature`"),
        "{}",
        stdout(&bad)
    );
}

/// `firedrill runs | head -1`, `firedrill report ID | head`: the reader closes the pipe
/// early; the command ends quietly (exit 0, nothing on stderr), it does not panic.
#[test]
fn listing_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let runs: Vec<RunRecord> = (0..40)
        .map(|day| {
            let slot = september_slot() + chrono::Duration::days(day);
            zone_run(passing_run_at(slot), slot)
        })
        .collect();
    store_runs(dir.path(), &runs);
    for args in [
        vec!["runs"],
        vec!["report", runs[0].id.as_str()],
        vec!["verify"],
        vec!["schedule"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("firedrill"))
            .env_remove("FIREDRILL_CONFIG")
            .env_remove("RUST_LOG")
            .arg("-c")
            .arg(&config)
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.trim().is_empty(), "{args:?}: {stderr}");
    }
}

/// [`store_runs`] with the report file the chain records written where `publish` puts it.
fn store_runs_with_reports(
    dir: &Path,
    runs: &[RunRecord],
    key: Option<&ed25519_dalek::SigningKey>,
) {
    let data = dir.join("firedrill-data");
    std::fs::create_dir_all(&data).unwrap();
    let mut store = SqliteStore::open(&data.join(DATABASE_FILE)).unwrap();
    if let Some(key) = key {
        store = store.with_signing_key(key.clone());
    }
    for run in runs {
        let report = format!("# {}\n", run.id);
        let hashes = report_hashes([("report.md", report.as_str())]);
        store.append(run, hashes, run.started_at).unwrap();
        let reports = data.join("reports").join(&run.id);
        std::fs::create_dir_all(&reports).unwrap();
        std::fs::write(reports.join("report.md"), report).unwrap();
    }
}

/// `tar xzf` and `tar czf` of a bundle, in memory.
fn unpack_bundle(path: &Path) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let bytes = std::fs::read(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.push((name, content));
    }
    files
}

fn pack_bundle(path: &Path, files: &[(String, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, content.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// `firedrill verify --bundle FILE` where no configuration exists: the auditor's machine.
fn verify_bundle_offline(bundle: &Path, public_key: Option<&Path>) -> assert_cmd::assert::Assert {
    let elsewhere = tempfile::tempdir().unwrap();
    let mut cmd = firedrill();
    cmd.current_dir(elsewhere.path())
        .arg("verify")
        .arg("--bundle")
        .arg(bundle);
    if let Some(key) = public_key {
        cmd.arg("--public-key").arg(key);
    }
    cmd.assert()
}

#[test]
fn an_audit_bundle_verifies_offline_and_a_changed_byte_in_a_report_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let august = Utc.with_ymd_and_hms(2026, 8, 8, 8, 0, 0).unwrap();
    let october = Utc.with_ymd_and_hms(2026, 10, 8, 8, 0, 0).unwrap();
    let runs = [
        zone_run(passing_run_at(august), august),
        zone_run(passing_run_at(september_slot()), september_slot()),
        zone_run(failing_run_at(october), october),
    ];
    store_runs_with_reports(dir.path(), &runs, None);
    let bundle = dir.path().join("q3.tar.gz");

    let audit = firedrill()
        .arg("-c")
        .arg(&config)
        .args([
            "audit",
            "--since",
            "2026-09-01",
            "--until",
            "2026-10-31",
            "--bundle",
        ])
        .arg(&bundle)
        .assert()
        .code(1);
    // The audit is printed as without --bundle; the bundle is said on stderr.
    assert!(stdout(&audit).starts_with("# Drill Audit"));
    let said = String::from_utf8(audit.get_output().stderr.clone()).unwrap();
    assert!(
        said.contains("2 records (2 to 3) after record 1") && said.contains("not signed"),
        "{said}"
    );

    let intact = verify_bundle_offline(&bundle, None).code(0);
    let text = stdout(&intact);
    assert!(
        text.starts_with("Bundle intact: 2 records (not signed)"),
        "{text}"
    );
    assert!(text.contains("Anchor: record 1 "), "{text}");

    // One byte of September's report.
    let mut files = unpack_bundle(&bundle);
    let report = format!(
        "firedrill-evidence/runs/000002-{}/reports/report.md",
        runs[1].id
    );
    let (_, content) = files.iter_mut().find(|(name, _)| *name == report).unwrap();
    content[2] ^= 0x20;
    let edited = dir.path().join("edited.tar.gz");
    pack_bundle(&edited, &files);
    let broken = verify_bundle_offline(&edited, None).code(1);
    let text = stdout(&broken);
    assert!(text.starts_with("Bundle BROKEN"), "{text}");
    assert!(
        text.contains(&format!(
            "file `{report}`: does not match its SHA-256 in the MANIFEST"
        )),
        "{text}"
    );

    // A record edited in chain.json (MANIFEST or not) names the record and field.
    let mut files = unpack_bundle(&bundle);
    let (_, chain) = files
        .iter_mut()
        .find(|(name, _)| name == "firedrill-evidence/chain.json")
        .unwrap();
    let text = String::from_utf8(chain.clone()).unwrap();
    assert_eq!(
        text.matches(r#"\"recovery_seconds\":432.0"#).count(),
        1,
        "{text}"
    );
    *chain = text
        .replace(
            r#"\"recovery_seconds\":432.0"#,
            r#"\"recovery_seconds\":232.0"#,
        )
        .into_bytes();
    pack_bundle(&edited, &files);
    let broken = verify_bundle_offline(&edited, None).code(1);
    let text = stdout(&broken);
    assert!(
        text.contains(&format!(
            "record 3 (run {}): field `run.phases[1].recovery_seconds`",
            runs[2].id
        )),
        "{text}"
    );
}

#[test]
fn a_bundle_from_a_signed_store_carries_its_public_key_and_its_signatures_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config = seed_in(&dir);
    let key = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let key_file = dir.path().join("firedrill.key");
    std::fs::write(&key_file, to_hex(&key.to_bytes())).unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "  # signing_key: /run/secrets/firedrill-ed25519",
        &format!("  signing_key: {}\n  #", key_file.display()),
    );
    std::fs::write(&config, text).unwrap();
    let run = zone_run(passing_run_at(september_slot()), september_slot());
    store_runs_with_reports(dir.path(), std::slice::from_ref(&run), Some(&key));
    let bundle = dir.path().join("signed.tar.gz");
    let audit = firedrill()
        .arg("-c")
        .arg(&config)
        .args([
            "audit",
            "--since",
            "2026-09-01",
            "--until",
            "2026-09-30",
            "--bundle",
        ])
        .arg(&bundle)
        .assert();
    let said = String::from_utf8(audit.get_output().stderr.clone()).unwrap();
    assert!(said.contains("1 records (1 to 1) after record 0"), "{said}");
    assert!(said.contains("signed (public key included)"), "{said}");

    let own = stdout(&verify_bundle_offline(&bundle, None).code(0));
    assert!(
        own.contains("1 signed, signatures checked with the bundle's own key"),
        "{own}"
    );
    let public = dir.path().join("firedrill.pub");
    std::fs::write(&public, to_hex(&key.verifying_key().to_bytes())).unwrap();
    let trusted = stdout(&verify_bundle_offline(&bundle, Some(&public)).code(0));
    assert!(
        trusted.contains("1 signed, signatures checked with --public-key"),
        "{trusted}"
    );
    let other = dir.path().join("other.pub");
    let other_key = ed25519_dalek::SigningKey::from_bytes(&[6u8; 32]);
    std::fs::write(&other, to_hex(&other_key.verifying_key().to_bytes())).unwrap();
    let wrong = stdout(&verify_bundle_offline(&bundle, Some(&other)).code(1));
    assert!(wrong.contains("field `signature`"), "{wrong}");
    assert!(wrong.contains("public-key.hex"), "{wrong}");
}
