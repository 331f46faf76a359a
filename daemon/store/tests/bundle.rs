//! Evidence bundles on each backend: a period's segment exported with its reports and artefacts, checked offline, and every kind of edit named by file or by record and field.

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::SigningKey;
use firedrill_core::report::fixtures::{failing_run_at, passing_run_at, slot};
use firedrill_core::run::{Evidence, RunRecord};
use firedrill_store::bundle::{self, BundleProblem, Period, Segment, SignatureCheck, Written};
use firedrill_store::canonical::{canonical_json, sha256_hex};
use firedrill_store::{Anchor, RawRecord, Store, report_hashes};
use serde_json::Value;

use crate::backends::{Backend, Keys, on_both_backends};

on_both_backends!(
    a_bundle_of_a_period_round_trips_through_its_check_with_its_signatures,
    a_changed_byte_in_a_bundled_report_file_fails_the_check_naming_that_file,
    an_edited_record_fails_the_check_naming_the_record_and_field,
);

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9u8; 32])
}

/// Week `i` of the fixtures' schedule.
fn week(i: i64) -> DateTime<Utc> {
    slot() + Duration::days(7 * i)
}

/// Four runs a week apart (the second with two artefacts, one with a name that is no
/// file name), each with two report files.
fn runs() -> Vec<RunRecord> {
    (0..4)
        .map(|i| {
            let mut run = if i % 2 == 0 {
                passing_run_at(week(i))
            } else {
                failing_run_at(week(i))
            };
            run.id = format!("full-dr-week-{i}");
            if i == 1 {
                run.evidence.push(Evidence {
                    phase: None,
                    name: "../follow-up.txt".to_string(),
                    captured_at: week(i),
                    sha256: sha256_hex(b"promote the replica by hand\n"),
                    content: "promote the replica by hand\n".to_string(),
                });
            }
            run
        })
        .collect()
}

fn report_files(run: &RunRecord) -> [(&'static str, String); 2] {
    [
        ("report.md", format!("# {}\n", run.id)),
        ("report.html", format!("<h1>{}</h1>\n", run.id)),
    ]
}

fn store_with_runs(backend: &dyn Backend, keys: Keys) -> Box<dyn Store> {
    let mut store = backend.open(keys);
    for run in runs() {
        let files = report_files(&run);
        let hashes = report_hashes(files.iter().map(|(name, text)| (*name, text.as_str())));
        store
            .append(&run, hashes, run.started_at + Duration::hours(1))
            .unwrap();
    }
    store
}

/// Weeks 1 and 2: the second and third records.
fn period() -> Period {
    Period {
        since: week(1) - Duration::hours(1),
        until: week(2) + Duration::hours(1),
    }
}

/// The bundle of [`period`] from `store`, its report files as appended.
fn export(store: &dyn Store, public_key: Option<&ed25519_dalek::VerifyingKey>) -> Written {
    let segment = Segment::of_period(store.raw_records().unwrap(), period());
    let runs = runs();
    bundle::build(week(5), period(), &segment, public_key, |run_id, name| {
        let run = runs.iter().find(|run| run.id == run_id).unwrap();
        Ok(report_files(run)
            .into_iter()
            .find(|(file, _)| *file == name)
            .map(|(_, text)| text.into_bytes()))
    })
    .unwrap()
}

/// The files of a bundle by path (under `firedrill-evidence/`).
fn unpack(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        files.insert(path, content);
    }
    files
}

/// A bundle of `files`, as someone who edited them would pack it again.
fn pack(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(encoder);
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, path, content.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// The MANIFEST of `files` written again, as a careful forger would.
fn reseal(files: &mut BTreeMap<String, Vec<u8>>) {
    let manifest: String = files
        .iter()
        .filter(|(path, _)| *path != "firedrill-evidence/MANIFEST")
        .map(|(path, content)| {
            let relative = path.strip_prefix("firedrill-evidence/").unwrap();
            format!("{}  {relative}\n", sha256_hex(content))
        })
        .collect();
    files.insert(
        "firedrill-evidence/MANIFEST".to_string(),
        manifest.into_bytes(),
    );
}

fn a_bundle_of_a_period_round_trips_through_its_check_with_its_signatures(backend: &dyn Backend) {
    let store = store_with_runs(backend, Keys::Signing(key()));
    let rows: Vec<RawRecord> = store.raw_records().unwrap();
    let public = key().verifying_key();
    let written = export(&*store, Some(&public));
    assert!(written.differing_reports.is_empty());
    // The segment is the period's two records, anchored at the first, with the chain's
    // head (the fourth) named.
    assert_eq!(written.info.anchor, Anchor::of(&rows[0]));
    assert_eq!(written.info.head, Some(Anchor::of(&rows[2])));
    assert_eq!(written.info.chain_head, Some(Anchor::of(&rows[3])));
    let ids: Vec<&str> = written
        .info
        .runs
        .iter()
        .map(|r| r.run_id.as_str())
        .collect();
    assert_eq!(ids, ["full-dr-week-1", "full-dr-week-2"]);

    let files = unpack(&written.bytes);
    let dir = "firedrill-evidence/runs/000002-full-dr-week-1";
    assert_eq!(
        files[&format!("{dir}/reports/report.html")],
        b"<h1>full-dr-week-1</h1>\n"
    );
    assert_eq!(
        files[&format!("{dir}/record.json")],
        rows[1].entry.as_bytes()
    );
    assert_eq!(
        files[&format!("{dir}/evidence/000-nodetool_status__before_")],
        b"UN  10.0.0.1  1.2 GiB  256  33.3%  rack1\n"
    );
    assert_eq!(
        files[&format!("{dir}/evidence/001-_.._follow-up.txt")],
        b"promote the replica by hand\n"
    );
    assert_eq!(
        String::from_utf8(files["firedrill-evidence/public-key.hex"].clone()).unwrap(),
        format!("{}\n", hex::encode(public.as_bytes()))
    );
    assert_eq!(written.files, files.len());
    // Every file is in the MANIFEST, as sha256sum writes it.
    let manifest = String::from_utf8(files["firedrill-evidence/MANIFEST"].clone()).unwrap();
    assert_eq!(manifest.lines().count(), files.len() - 1);
    assert!(manifest.contains(&format!(
        "{}  runs/000002-full-dr-week-1/reports/report.html\n",
        sha256_hex(b"<h1>full-dr-week-1</h1>\n")
    )));

    let checked = bundle::check(&written.bytes, None);
    assert!(checked.intact(), "{:?}", checked.problems);
    assert_eq!(checked.signatures, SignatureCheck::BundleKey);
    let segment = checked.segment.unwrap();
    assert_eq!((segment.records, segment.signed_records), (2, 2));
    assert_eq!(
        segment.head_sha256.as_deref(),
        Some(rows[2].sha256.as_str())
    );

    let trusted = bundle::check(&written.bytes, Some(&public));
    assert!(trusted.intact(), "{:?}", trusted.problems);
    assert_eq!(trusted.signatures, SignatureCheck::TrustedKey);

    // Checked against another key, the key file and the first signature are named.
    let other = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
    let problems = bundle::check(&written.bytes, Some(&other)).problems;
    assert!(
        problems.iter().any(|p| matches!(p, BundleProblem::File { path, .. } if path == "firedrill-evidence/public-key.hex")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| matches!(p, BundleProblem::Record(broken) if broken.seq == 2 && broken.field == "signature")),
        "{problems:?}"
    );
}

fn a_changed_byte_in_a_bundled_report_file_fails_the_check_naming_that_file(backend: &dyn Backend) {
    let store = store_with_runs(backend, Keys::None);
    let written = export(&*store, None);
    assert!(bundle::check(&written.bytes, None).intact());
    let path = "firedrill-evidence/runs/000003-full-dr-week-2/reports/report.html".to_string();
    let mut files = unpack(&written.bytes);
    let content = files.get_mut(&path).unwrap();
    content[5] ^= 0x01;

    let problems = bundle::check(&pack(&files), None).problems;
    assert_eq!(
        problems,
        [
            BundleProblem::File {
                path: path.clone(),
                problem: "does not match its SHA-256 in the MANIFEST".to_string(),
            },
            BundleProblem::File {
                path: path.clone(),
                problem: format!(
                    "is not the `report.html` recorded in the chain for run full-dr-week-2 \
                     (SHA-256 {})",
                    sha256_hex(b"<h1>full-dr-week-2</h1>\n")
                ),
            },
        ]
    );
    assert_eq!(
        problems[0].to_string(),
        format!("file `{path}`: does not match its SHA-256 in the MANIFEST")
    );
    // With the MANIFEST written again, the chain still knows the file.
    reseal(&mut files);
    let problems = bundle::check(&pack(&files), None).problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(matches!(&problems[0], BundleProblem::File { path: named, .. } if *named == path));

    // A file taken out (manifest resealed) is named as missing.
    let mut files = unpack(&written.bytes);
    files.remove(&path);
    reseal(&mut files);
    let problems = bundle::check(&pack(&files), None).problems;
    assert_eq!(
        problems,
        [BundleProblem::File {
            path: path.clone(),
            problem: "is missing: the chain records it for run full-dr-week-2".to_string(),
        }]
    );
    // A damaged archive says so.
    let mut damaged = written.bytes.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0xff;
    let problems = bundle::check(&damaged, None).problems;
    assert!(
        matches!(problems.as_slice(), [BundleProblem::Archive(_)]),
        "{problems:?}"
    );
}

fn an_edited_record_fails_the_check_naming_the_record_and_field(backend: &dyn Backend) {
    let store = store_with_runs(backend, Keys::None);
    let written = export(&*store, None);
    let mut files = unpack(&written.bytes);
    // The record's recovery time improved, in chain.json and record.json alike, and the
    // MANIFEST written again: only the chain's digests can tell.
    let chain_path = "firedrill-evidence/chain.json";
    let mut rows: Vec<RawRecord> = serde_json::from_slice(&files[chain_path]).unwrap();
    let mut entry: Value = serde_json::from_str(&rows[1].entry).unwrap();
    entry["run"]["phases"][1]["recovery_seconds"] = Value::from(120.0);
    rows[1].entry = canonical_json(&entry);
    files.insert(
        chain_path.to_string(),
        serde_json::to_vec_pretty(&rows).unwrap(),
    );
    files.insert(
        "firedrill-evidence/runs/000003-full-dr-week-2/record.json".to_string(),
        rows[1].entry.clone().into_bytes(),
    );
    reseal(&mut files);

    let checked = bundle::check(&pack(&files), None);
    let [BundleProblem::Record(broken)] = checked.problems.as_slice() else {
        panic!("{:?}", checked.problems);
    };
    assert_eq!(
        (broken.seq, broken.run_id.as_str(), broken.field.as_str()),
        (3, "full-dr-week-2", "run.phases[1].recovery_seconds")
    );
    assert!(
        checked.problems[0]
            .to_string()
            .starts_with("record 3 (run full-dr-week-2): field `run.phases[1].recovery_seconds`"),
        "{}",
        checked.problems[0]
    );
}

#[test]
fn a_period_without_runs_is_an_empty_segment_anchored_at_the_chain_head() {
    let backend = crate::backends::Sqlite::new();
    let store = store_with_runs(&backend, Keys::None);
    let rows = store.raw_records().unwrap();
    let later = Period {
        since: week(10),
        until: week(11),
    };
    let segment = Segment::of_period(rows.clone(), later);
    assert!(segment.records.is_empty());
    assert_eq!(segment.anchor, Anchor::of(&rows[3]));
    let written = bundle::build(week(12), later, &segment, None, |_, _| Ok(None)).unwrap();
    let checked = bundle::check(&written.bytes, None);
    assert!(checked.intact(), "{:?}", checked.problems);
    assert_eq!(checked.segment.unwrap().records, 0);
    // The whole chain from its genesis, when the period covers it all.
    let all = Segment::of_period(
        rows,
        Period {
            since: week(-1),
            until: week(10),
        },
    );
    assert_eq!((all.anchor, all.records.len()), (Anchor::genesis(), 4));
}

#[test]
fn report_files_the_store_no_longer_has_are_declared_and_not_a_break() {
    let backend = crate::backends::Sqlite::new();
    let store = store_with_runs(&backend, Keys::None);
    let segment = Segment::of_period(store.raw_records().unwrap(), period());
    let written = bundle::build(week(5), period(), &segment, None, |_, name| {
        Ok((name == "report.md").then(|| b"# edited after the run\n".to_vec()))
    })
    .unwrap();
    assert_eq!(
        written.differing_reports,
        [
            "runs/000002-full-dr-week-1/reports/report.md",
            "runs/000003-full-dr-week-2/reports/report.md"
        ]
    );
    assert_eq!(written.info.runs[0].missing_reports, ["report.html"]);
    let checked = bundle::check(&written.bytes, None);
    assert_eq!(
        checked.missing_reports,
        ["full-dr-week-1/report.html", "full-dr-week-2/report.html"]
    );
    // The report files that differ from the chain's hashes are what fails.
    let paths: Vec<String> = checked
        .problems
        .iter()
        .map(|problem| match problem {
            BundleProblem::File { path, .. } => path.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        paths,
        [
            "firedrill-evidence/runs/000002-full-dr-week-1/reports/report.md",
            "firedrill-evidence/runs/000003-full-dr-week-2/reports/report.md"
        ]
    );
}

#[test]
fn a_moved_anchor_or_a_dropped_record_breaks_the_segment_at_its_first_record() {
    let backend = crate::backends::Sqlite::new();
    let store = store_with_runs(&backend, Keys::None);
    let written = export(&*store, None);
    let info_path = "firedrill-evidence/bundle.json";

    // The segment said to follow another record than the one it links to.
    let mut files = unpack(&written.bytes);
    let mut info: Value = serde_json::from_slice(&files[info_path]).unwrap();
    info["anchor"]["sha256"] = Value::from("ab".repeat(32));
    files.insert(info_path.to_string(), serde_json::to_vec(&info).unwrap());
    reseal(&mut files);
    let problems = bundle::check(&pack(&files), None).problems;
    assert!(
        matches!(problems.as_slice(), [BundleProblem::Record(broken)] if broken.seq == 2 && broken.field == "prev_sha256"),
        "{problems:?}"
    );

    // The first record left out, with its files and its line in bundle.json.
    let mut files = unpack(&written.bytes);
    let chain_path = "firedrill-evidence/chain.json";
    let mut rows: Vec<RawRecord> = serde_json::from_slice(&files[chain_path]).unwrap();
    rows.remove(0);
    files.insert(chain_path.to_string(), serde_json::to_vec(&rows).unwrap());
    files.retain(|path, _| !path.contains("/runs/000002-"));
    let mut info: Value = serde_json::from_slice(&files[info_path]).unwrap();
    info["runs"].as_array_mut().unwrap().remove(0);
    files.insert(info_path.to_string(), serde_json::to_vec(&info).unwrap());
    reseal(&mut files);
    let problems = bundle::check(&pack(&files), None).problems;
    assert!(
        matches!(problems.as_slice(), [BundleProblem::Record(broken)] if broken.seq == 3 && broken.field == "seq"),
        "{problems:?}"
    );
}
