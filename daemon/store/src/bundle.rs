//! Evidence bundles: a period's segment of the chain with its anchors, its run records,
//! report files and artefacts, the public key and a manifest, in one `.tar.gz` that
//! [`check`] verifies offline, with no store and no configuration.
//!
//! Every path is under `firedrill-evidence/`:
//! - `MANIFEST`: `SHA256  PATH` for every other file, as `sha256sum` writes it, so
//!   `sha256sum -c MANIFEST` checks the files where no firedrill is at hand.
//! - `README.txt`: what the bundle holds and how to check it.
//! - `bundle.json`: [`BundleInfo`]: the period, when the bundle was made, the anchor
//!   before the segment, the segment's head, the chain's head at export, the runs, and the
//!   report files the store no longer had.
//! - `chain.json`: the segment's rows exactly as stored ([`RawRecord`]: entry, field
//!   digests, hash, signature), oldest first.
//! - `public-key.hex`: the public half of the store's signing key, when one is configured.
//! - `runs/SEQ-RUN_ID/record.json`: the stored entry (the record as hashed), byte for byte
//!   the row's; `runs/SEQ-RUN_ID/reports/NAME`: each report file the record names with its
//!   hash; `runs/SEQ-RUN_ID/evidence/NNN-NAME`: each artefact the run attached, in the
//!   record's order.
//!
//! [`check`] recomputes everything it can: each file against the manifest, the segment's
//! digests, hashes and links from its anchor with the store's own rules
//! ([`verify_segment`]), the signatures, and each record, report and artefact file against
//! the chain. Edits that keep every hash consistent (a record rewritten with its digests,
//! hash, every later link and the manifest) are caught only by the signatures, checked
//! against a public key the auditor trusts, or by comparing the head with one published
//! elsewhere: the bundle names both.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path};

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::canonical::sha256_hex;
use crate::chain::{Anchor, RawRecord, verify_segment};
use crate::{BrokenLink, ChainEntry, Verification};

/// The version of the layout above, in `bundle.json`.
pub const FORMAT: u32 = 1;

/// The directory every file of a bundle is in.
pub const ROOT: &str = "firedrill-evidence";

/// The most a bundle may unpack to: the checker holds it in memory.
const MAX_UNPACKED_BYTES: u64 = 1 << 30;

const MANIFEST: &str = "MANIFEST";
const README: &str = "README.txt";
const INFO: &str = "bundle.json";
const CHAIN: &str = "chain.json";
const PUBLIC_KEY: &str = "public-key.hex";

const README_TEXT: &str = "\
firedrill evidence bundle

The runs a firedrill store recorded in a period, with the part of its hash chain that
holds them. Check it with

    firedrill verify --bundle FILE.tar.gz [--public-key KEY]

which needs no store and no configuration: it checks every file against MANIFEST, the
chain segment's per-field digests, record hashes and links (from the anchor in
bundle.json, the record just before the segment), the signatures, and each record,
report and artefact against the chain. `sha256sum -c MANIFEST` in this directory checks
the files alone.

bundle.json   the period, the anchor, the segment's head and the chain's head at export
chain.json    the segment's records exactly as stored: entry, field digests, hash, signature
public-key.hex  the store's ed25519 public key, when the store signs
runs/SEQ-RUN_ID/record.json   the record (the stored entry, canonical JSON)
runs/SEQ-RUN_ID/reports/      the report files, as recorded with the run
runs/SEQ-RUN_ID/evidence/     the artefacts the run attached, in the record's order

A key inside the bundle proves only that the bundle is consistent: pass --public-key
with a key you obtained elsewhere, and compare the chain head with one published
elsewhere, to prove it was not rewritten as a whole.
";

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot encode the bundle's {what}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot read report file `{name}` of run {run_id}")]
    ReadReport {
        run_id: String,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the bundle's archive")]
    Archive(#[source] std::io::Error),
}

/// The period a bundle covers: runs that started at or after `since` and before `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl Period {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }
}

/// The part of a chain a bundle carries, with its anchors.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The record just before the segment ([`Anchor::genesis`] when it starts the chain).
    pub anchor: Anchor,
    /// Consecutive rows, oldest first.
    pub records: Vec<RawRecord>,
    /// The newest record of the whole chain when the segment was taken.
    pub chain_head: Option<Anchor>,
}

impl Segment {
    /// The records of the runs that started in `period` and every record between them (a
    /// segment has no gaps), from `rows`: every row of a chain, oldest first. With none in
    /// the period the segment is empty, anchored at the chain's head.
    pub fn of_period(rows: Vec<RawRecord>, period: Period) -> Segment {
        let in_period = |row: &RawRecord| started_at(row).is_some_and(|at| period.contains(at));
        let chain_head = rows.last().map(Anchor::of);
        let first = rows.iter().position(in_period);
        let last = rows.iter().rposition(in_period);
        let (Some(first), Some(last)) = (first, last) else {
            return Segment {
                anchor: chain_head.clone().unwrap_or_else(Anchor::genesis),
                records: Vec::new(),
                chain_head,
            };
        };
        let anchor = match first.checked_sub(1).and_then(|before| rows.get(before)) {
            Some(before) => Anchor::of(before),
            None => Anchor::genesis(),
        };
        let records = rows
            .into_iter()
            .skip(first)
            .take(last + 1 - first)
            .collect();
        Segment {
            anchor,
            records,
            chain_head,
        }
    }
}

/// When the run of `row` started, if its entry still reads as a run record.
fn started_at(row: &RawRecord) -> Option<DateTime<Utc>> {
    serde_json::from_str::<ChainEntry>(&row.entry)
        .ok()
        .map(|entry| entry.run.started_at)
}

/// `bundle.json`: what the bundle covers and where its chain segment sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleInfo {
    pub format: u32,
    pub created_at: DateTime<Utc>,
    pub period: Period,
    /// The record just before the segment: the first record links to its hash.
    pub anchor: Anchor,
    /// The segment's newest record (none when the period has no run).
    pub head: Option<Anchor>,
    /// The chain's newest record when the bundle was made: compare with a published head.
    pub chain_head: Option<Anchor>,
    /// Whether `public-key.hex` is included (the store had a signing key).
    pub public_key: bool,
    /// Every record of the segment, oldest first.
    pub runs: Vec<BundledRun>,
}

/// One record of the segment and where its files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledRun {
    pub seq: u64,
    pub run_id: String,
    pub drill: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// False for a record between two of the period that started outside it.
    pub in_period: bool,
    /// `runs/SEQ-RUN_ID`.
    pub dir: String,
    /// Report files the record names that the store's report directory no longer had.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_reports: Vec<String>,
}

/// A bundle as made: its bytes and what it holds.
#[derive(Debug, Clone)]
pub struct Written {
    pub bytes: Vec<u8>,
    pub info: BundleInfo,
    /// Files in the archive, the manifest included.
    pub files: usize,
    /// Report files whose content is not what the chain recorded (bundled as found; the
    /// bundle's check names them): `runs/.../reports/NAME`.
    pub differing_reports: Vec<String>,
}

/// Makes the bundle of `segment`. `report_file(run_id, name)` reads a report file of a run
/// (`None` when it is gone); `public_key` is the store's, when it signs.
pub fn build(
    created_at: DateTime<Utc>,
    period: Period,
    segment: &Segment,
    public_key: Option<&VerifyingKey>,
    mut report_file: impl FnMut(&str, &str) -> std::io::Result<Option<Vec<u8>>>,
) -> Result<Written, BundleError> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut runs = Vec::new();
    let mut differing_reports = Vec::new();
    for row in &segment.records {
        let dir = run_dir(row.seq, &row.run_id);
        files.insert(format!("{dir}/record.json"), row.entry.clone().into_bytes());
        let entry = serde_json::from_str::<ChainEntry>(&row.entry).ok();
        let mut missing_reports = Vec::new();
        if let Some(entry) = &entry {
            for (name, recorded) in &entry.report_sha256 {
                let content =
                    report_file(&row.run_id, name).map_err(|source| BundleError::ReadReport {
                        run_id: row.run_id.clone(),
                        name: name.clone(),
                        source,
                    })?;
                let Some(content) = content else {
                    missing_reports.push(name.clone());
                    continue;
                };
                let path = report_path(&dir, name);
                if sha256_hex(&content) != *recorded {
                    differing_reports.push(path.clone());
                }
                files.insert(path, content);
            }
            for (index, evidence) in entry.run.evidence.iter().enumerate() {
                files.insert(
                    evidence_path(&dir, index, &evidence.name),
                    evidence.content.clone().into_bytes(),
                );
            }
        }
        runs.push(BundledRun {
            seq: row.seq,
            run_id: row.run_id.clone(),
            drill: entry.as_ref().map(|entry| entry.run.drill.clone()),
            started_at: entry.as_ref().map(|entry| entry.run.started_at),
            in_period: entry
                .as_ref()
                .is_some_and(|entry| period.contains(entry.run.started_at)),
            dir,
            missing_reports,
        });
    }
    let info = BundleInfo {
        format: FORMAT,
        created_at,
        period,
        anchor: segment.anchor.clone(),
        head: segment.records.last().map(Anchor::of),
        chain_head: segment.chain_head.clone(),
        public_key: public_key.is_some(),
        runs,
    };
    files.insert(INFO.to_string(), json(&info, "description")?);
    files.insert(CHAIN.to_string(), json(&segment.records, "chain segment")?);
    files.insert(README.to_string(), README_TEXT.as_bytes().to_vec());
    if let Some(key) = public_key {
        files.insert(
            PUBLIC_KEY.to_string(),
            format!("{}\n", hex::encode(key.as_bytes())).into_bytes(),
        );
    }
    let manifest: String = files
        .iter()
        .map(|(path, content)| format!("{}  {path}\n", sha256_hex(content)))
        .collect();
    let bytes = archive(&files, manifest.as_bytes(), created_at)?;
    Ok(Written {
        bytes,
        info,
        files: files.len() + 1,
        differing_reports,
    })
}

fn json<T: Serialize + ?Sized>(value: &T, what: &'static str) -> Result<Vec<u8>, BundleError> {
    let mut text =
        serde_json::to_vec_pretty(value).map_err(|source| BundleError::Json { what, source })?;
    text.push(b'\n');
    Ok(text)
}

/// The tar.gz of the manifest and `files`, every path under [`ROOT`], stamped `at`.
fn archive(
    files: &BTreeMap<String, Vec<u8>>,
    manifest: &[u8],
    at: DateTime<Utc>,
) -> Result<Vec<u8>, BundleError> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    let mtime = u64::try_from(at.timestamp()).unwrap_or(0);
    let all = std::iter::once((MANIFEST, manifest)).chain(
        files
            .iter()
            .map(|(path, bytes)| (path.as_str(), bytes.as_slice())),
    );
    for (path, content) in all {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        tar.append_data(&mut header, format!("{ROOT}/{path}"), content)
            .map_err(BundleError::Archive)?;
    }
    tar.into_inner()
        .and_then(GzEncoder::finish)
        .map_err(BundleError::Archive)
}

/// `runs/SEQ-RUN_ID`: numbered so that runs sort in chain order and never collide.
fn run_dir(seq: u64, run_id: &str) -> String {
    format!("runs/{seq:06}-{}", safe_name(run_id))
}

fn report_path(dir: &str, name: &str) -> String {
    format!("{dir}/reports/{}", safe_name(name))
}

fn evidence_path(dir: &str, index: usize, name: &str) -> String {
    format!("{dir}/evidence/{index:03}-{}", safe_name(name))
}

/// `name` as one path component: letters, digits, `.`, `_` and `-` kept, anything else
/// (a `/` from a plugin's artefact name, say) as `_`, and never hidden or `..`.
fn safe_name(name: &str) -> String {
    let mut safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        safe.insert(0, '_');
    }
    safe
}

/// What is wrong with a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleProblem {
    /// The archive cannot be read at all (not gzip, not tar, damaged, too large).
    Archive(String),
    /// A file is missing, extra, changed or not what the chain recorded; `path` is as in
    /// the archive (`firedrill-evidence/runs/.../reports/report.html`).
    File { path: String, problem: String },
    /// The chain segment is broken: the record and field.
    Record(BrokenLink),
}

impl std::fmt::Display for BundleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BundleProblem::Archive(problem) => write!(f, "the archive: {problem}"),
            BundleProblem::File { path, problem } => write!(f, "file `{path}`: {problem}"),
            BundleProblem::Record(broken) => write!(f, "{broken}"),
        }
    }
}

/// Whose key the signatures were checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Not checked: no key was given and the bundle has none.
    NotChecked,
    /// With the key inside the bundle (consistency only: it came with the bundle).
    BundleKey,
    /// With the key the caller trusts.
    TrustedKey,
}

/// The result of [`check`].
#[derive(Debug, Clone)]
pub struct BundleCheck {
    /// `bundle.json`, when it reads.
    pub info: Option<BundleInfo>,
    /// Files in the archive, the manifest included.
    pub files: usize,
    /// The chain segment walked from its anchor, when `chain.json` reads.
    pub segment: Option<Verification>,
    pub signatures: SignatureCheck,
    /// Report files the exporter said its store no longer had: `RUN_ID/NAME`.
    pub missing_reports: Vec<String>,
    /// Every problem found, files in path order; empty when the bundle is intact.
    pub problems: Vec<BundleProblem>,
}

impl BundleCheck {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the bundle in `bytes`, offline: every file against the manifest, the chain
/// segment from its anchor (digests, hashes, links; signatures with `trusted_key`, else
/// with the bundle's own key), `bundle.json` against the segment, and each record, report
/// and artefact file against the chain.
pub fn check(bytes: &[u8], trusted_key: Option<&VerifyingKey>) -> BundleCheck {
    let mut result = BundleCheck {
        info: None,
        files: 0,
        segment: None,
        signatures: SignatureCheck::NotChecked,
        missing_reports: Vec::new(),
        problems: Vec::new(),
    };
    let mut files = match unpack(bytes) {
        Ok(files) => files,
        Err(problem) => {
            result.problems.push(problem);
            return result;
        }
    };
    result.files = files.len();
    let mut problems = Problems::default();
    check_manifest(&mut files, &mut problems);
    let info = parse::<BundleInfo>(&files, INFO, &mut problems);
    let records = parse::<Vec<RawRecord>>(&files, CHAIN, &mut problems);
    let bundle_key = files.get(PUBLIC_KEY).and_then(|text| {
        let key = public_key(text);
        if key.is_none() {
            problems.file(PUBLIC_KEY, "is not a 32-byte ed25519 public key in hex");
        }
        key
    });
    if let (Some(trusted), Some(bundled)) = (trusted_key, &bundle_key)
        && trusted != bundled
    {
        problems.file(
            PUBLIC_KEY,
            "is not the trusted public key: the records were signed by another key",
        );
    }
    let key = trusted_key.or(bundle_key.as_ref());
    result.signatures = match (trusted_key, &bundle_key) {
        (Some(_), _) => SignatureCheck::TrustedKey,
        (None, Some(_)) => SignatureCheck::BundleKey,
        (None, None) => SignatureCheck::NotChecked,
    };
    if let Some(info) = &info {
        if info.format != FORMAT {
            problems.file(
                INFO,
                &format!(
                    "is bundle format {}, and this firedrill knows format {FORMAT}",
                    info.format
                ),
            );
        }
        if info.public_key != files.contains_key(PUBLIC_KEY) {
            problems.file(
                INFO,
                if info.public_key {
                    "says the bundle has a public key, and public-key.hex is missing"
                } else {
                    "says the bundle has no public key, and public-key.hex is there"
                },
            );
        }
    }
    let mut expected: BTreeSet<String> = [MANIFEST, README, INFO, CHAIN, PUBLIC_KEY]
        .iter()
        .map(|name| name.to_string())
        .collect();
    if let (Some(info), Some(records)) = (&info, &records) {
        let segment = verify_segment(records, &info.anchor, key);
        if let Some(broken) = &segment.broken {
            problems.list.push(BundleProblem::Record(broken.clone()));
        }
        check_heads(info, records, &mut problems);
        for (index, row) in records.iter().enumerate() {
            let listed = info.runs.get(index);
            check_run(
                row,
                listed,
                &files,
                &mut expected,
                &mut result.missing_reports,
                &mut problems,
            );
        }
        if info.runs.len() > records.len() {
            problems.file(
                INFO,
                &format!(
                    "lists {} runs, and chain.json holds {} records",
                    info.runs.len(),
                    records.len()
                ),
            );
        }
        result.segment = Some(segment);
    }
    for path in files.keys().filter(|path| !expected.contains(*path)) {
        problems.file(
            path,
            "is not part of the bundle's layout or of any bundled record",
        );
    }
    result.info = info;
    result.problems = problems.list;
    result
}

/// Problems found so far.
#[derive(Default)]
struct Problems {
    list: Vec<BundleProblem>,
}

impl Problems {
    /// A problem with the file at `path` (relative to [`ROOT`]).
    fn file(&mut self, path: &str, problem: &str) {
        self.list.push(BundleProblem::File {
            path: format!("{ROOT}/{path}"),
            problem: problem.to_string(),
        });
    }
}

/// The files of the archive by path relative to [`ROOT`]; only regular files under it
/// (and directories, skipped), each once.
fn unpack(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, BundleProblem> {
    let damaged =
        |err: std::io::Error| BundleProblem::Archive(format!("is not a readable .tar.gz ({err})"));
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry.path().map_err(damaged)?.into_owned();
        let shown = path.display().to_string();
        let file = |problem: &str| BundleProblem::File {
            path: shown.clone(),
            problem: problem.to_string(),
        };
        let Some(relative) = relative_path(&path) else {
            return Err(file(&format!(
                "is outside `{ROOT}/` or not a plain relative path"
            )));
        };
        match entry.header().entry_type() {
            tar::EntryType::Directory => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            _ => return Err(file("is not a regular file")),
        }
        total = total.saturating_add(entry.size());
        if total > MAX_UNPACKED_BYTES {
            return Err(BundleProblem::Archive(format!(
                "unpacks to more than {} MiB",
                MAX_UNPACKED_BYTES >> 20
            )));
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(damaged)?;
        if relative.is_empty() {
            continue;
        }
        if files.insert(relative, content).is_some() {
            return Err(file("appears twice in the archive"));
        }
    }
    Ok(files)
}

/// `path` without the leading [`ROOT`], when it is under it and made of plain names ("" for
/// the root itself).
fn relative_path(path: &Path) -> Option<String> {
    let mut components = path.components();
    match components.next() {
        Some(Component::Normal(root)) if root == ROOT => {}
        _ => return None,
    }
    let mut names = Vec::new();
    for component in components {
        match component {
            Component::Normal(name) => names.push(name.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(names.join("/"))
}

/// Every file against `MANIFEST` (which is taken out of `files`).
fn check_manifest(files: &mut BTreeMap<String, Vec<u8>>, problems: &mut Problems) {
    let Some(manifest) = files.get(MANIFEST).cloned() else {
        problems.file(MANIFEST, "is missing: no file can be checked");
        return;
    };
    let Ok(text) = String::from_utf8(manifest) else {
        problems.file(MANIFEST, "is not UTF-8 text");
        return;
    };
    let mut listed: BTreeMap<&str, &str> = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let parsed = line
            .split_once("  ")
            .or_else(|| line.split_once(" *"))
            .filter(|(hash, path)| {
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !path.is_empty()
            });
        let Some((hash, path)) = parsed else {
            problems.file(
                MANIFEST,
                &format!("line {} is not `SHA256  PATH`", number + 1),
            );
            continue;
        };
        if listed.insert(path, hash).is_some() {
            problems.file(MANIFEST, &format!("lists `{path}` twice"));
        }
    }
    for (path, content) in files.iter().filter(|(path, _)| *path != MANIFEST) {
        match listed.get(path.as_str()) {
            None => problems.file(path, "is not listed in the MANIFEST"),
            Some(hash) if !hash.eq_ignore_ascii_case(&sha256_hex(content)) => {
                problems.file(path, "does not match its SHA-256 in the MANIFEST")
            }
            Some(_) => {}
        }
    }
    for path in listed.keys().filter(|path| !files.contains_key(**path)) {
        problems.file(
            path,
            "is listed in the MANIFEST but missing from the bundle",
        );
    }
}

/// The JSON file `name`, or a problem naming it.
fn parse<T: serde::de::DeserializeOwned>(
    files: &BTreeMap<String, Vec<u8>>,
    name: &str,
    problems: &mut Problems,
) -> Option<T> {
    let Some(content) = files.get(name) else {
        problems.file(name, "is missing");
        return None;
    };
    match serde_json::from_slice(content) {
        Ok(value) => Some(value),
        Err(err) => {
            problems.file(name, &format!("does not read ({err})"));
            None
        }
    }
}

fn public_key(text: &[u8]) -> Option<VerifyingKey> {
    let text = std::str::from_utf8(text).ok()?;
    let bytes: [u8; 32] = hex::decode(text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// `bundle.json`'s heads against the segment: its head is the segment's last record, and
/// the chain's head at export is at or after it.
fn check_heads(info: &BundleInfo, records: &[RawRecord], problems: &mut Problems) {
    let head = records.last().map(Anchor::of);
    if info.head != head {
        problems.file(
            INFO,
            "its head is not the last record of chain.json: records were added or removed",
        );
    }
    let Some(chain_head) = &info.chain_head else {
        if head.is_some() {
            problems.file(INFO, "has no chain head, and the segment holds records");
        }
        return;
    };
    let last = head.as_ref().unwrap_or(&info.anchor);
    if chain_head.seq < last.seq || (chain_head.seq == last.seq && chain_head.sha256 != last.sha256)
    {
        problems.file(
            INFO,
            "its chain head comes before the segment's end or is another record",
        );
    }
}

/// One record's files against the chain: `record.json` is the stored entry, each report
/// file has the hash the record gives it, each artefact is the content the record holds.
fn check_run(
    row: &RawRecord,
    listed: Option<&BundledRun>,
    files: &BTreeMap<String, Vec<u8>>,
    expected: &mut BTreeSet<String>,
    missing_reports: &mut Vec<String>,
    problems: &mut Problems,
) {
    let dir = run_dir(row.seq, &row.run_id);
    let missing_declared: &[String] = match listed {
        Some(run) if run.seq == row.seq && run.run_id == row.run_id && run.dir == dir => {
            &run.missing_reports
        }
        _ => {
            problems.file(
                INFO,
                &format!(
                    "does not list record {} (run {}) in its place",
                    row.seq, row.run_id
                ),
            );
            &[]
        }
    };
    let record_path = format!("{dir}/record.json");
    match files.get(&record_path) {
        None => problems.file(&record_path, "is missing"),
        Some(content) if content.as_slice() != row.entry.as_bytes() => problems.file(
            &record_path,
            &format!("differs from record {} in chain.json", row.seq),
        ),
        Some(_) => {}
    }
    expected.insert(record_path);
    // A record that does not read is already reported by the segment's walk.
    let Ok(entry) = serde_json::from_str::<ChainEntry>(&row.entry) else {
        return;
    };
    for (name, recorded) in &entry.report_sha256 {
        let path = report_path(&dir, name);
        match files.get(&path) {
            Some(content) if sha256_hex(content) != *recorded => problems.file(
                &path,
                &format!(
                    "is not the `{name}` recorded in the chain for run {} (SHA-256 {recorded})",
                    row.run_id
                ),
            ),
            Some(_) => {}
            None if missing_declared.contains(name) => {
                missing_reports.push(format!("{}/{name}", row.run_id));
            }
            None => problems.file(
                &path,
                &format!("is missing: the chain records it for run {}", row.run_id),
            ),
        }
        expected.insert(path);
    }
    for (index, evidence) in entry.run.evidence.iter().enumerate() {
        let path = evidence_path(&dir, index, &evidence.name);
        match files.get(&path) {
            Some(content) if content.as_slice() != evidence.content.as_bytes() => problems.file(
                &path,
                &format!(
                    "is not the artefact `{}` recorded in the chain for run {}",
                    evidence.name, row.run_id
                ),
            ),
            Some(_) => {}
            None => problems.file(
                &path,
                &format!(
                    "is missing: the chain records artefact `{}` for run {}",
                    evidence.name, row.run_id
                ),
            ),
        }
        expected.insert(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_single_plain_path_components() {
        assert_eq!(safe_name("follow-up.txt"), "follow-up.txt");
        assert_eq!(safe_name("../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_name(".hidden"), "_.hidden");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("a b/ü"), "a_b__");
    }

    #[test]
    fn only_plain_paths_under_the_root_are_accepted() {
        assert_eq!(
            relative_path(Path::new("firedrill-evidence/runs/x/record.json")).as_deref(),
            Some("runs/x/record.json")
        );
        assert_eq!(
            relative_path(Path::new("firedrill-evidence/")).as_deref(),
            Some("")
        );
        assert_eq!(relative_path(Path::new("other/MANIFEST")), None);
        assert_eq!(
            relative_path(Path::new("/firedrill-evidence/MANIFEST")),
            None
        );
        assert_eq!(
            relative_path(Path::new("firedrill-evidence/../MANIFEST")),
            None
        );
    }
}
