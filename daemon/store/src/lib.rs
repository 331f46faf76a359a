//! firedrill's one store: the run journal, run records in an append-only hash chain, the
//! mail outbox and the scheduler state, behind traits, on one embedded SQLite file or in one
//! PostgreSQL database that several daemon replicas share.
//!
//! Every finished, aborted or interrupted run is appended as a [`ChainEntry`]: the
//! [`RunRecord`], the hashes of its rendered report files, the previous entry's hash and its
//! own sequence number. The entry's hash is computed over per-field digests (see
//! [`canonical`]) so that [`RunStore::verify`] can say which record and which field changed,
//! and it is optionally signed with an ed25519 key.
//!
//! Delivery status of the report email, and of each HTTP push of a run (webhooks, Grafana
//! annotations), lives in the `outbox` table, outside the chain: it changes with every
//! retry, and the chain only ever grows. The run record proves what happened in the drill;
//! the outbox says whether people were told. Each row is keyed by run and channel
//! ([`EMAIL_CHANNEL`] or a push's), so a run has one email and one message per push.
//!
//! The engine's journal ([`RunJournal`]) is written ahead of every step a drill takes, so
//! a killed process leaves what to undo; the scheduler state ([`ScheduleState`]) says up to
//! when each drill's slots were handled. [`Store`] is all four: what the daemon opens, and
//! what each backend implements ([`SqliteStore`], [`PostgresStore`]).
//!
//! # Layout
//! - [`canonical`]: canonical JSON, per-field digests and record hashes; locating a field
//!   in JSON that no longer parses.
//! - `chain`: the chain's rules shared by the backends: sealing the next record (hash,
//!   signature) and walking stored rows to the first broken link; [`verify_segment`] walks
//!   part of the chain from an [`Anchor`] without a store.
//! - [`bundle`]: evidence bundles: a period's chain segment with its anchors, the run
//!   records, report files and artefacts, the public key and a manifest, in one `.tar.gz`
//!   that [`bundle::check`] verifies offline.
//! - [`sqlite`]: [`SqliteStore`], every trait on one SQLite file, and the migration of the
//!   older two-file layout.
//! - [`postgres`](mod@postgres): [`PostgresStore`], every trait in one PostgreSQL database,
//!   its versioned schema migrations, safe for several writers at once.
//! - [`signing`]: loading ed25519 keys from files.
//! - `times`: instants in text columns.

pub mod bundle;
pub mod canonical;
mod chain;
pub mod postgres;
pub mod signing;
pub mod sqlite;
mod times;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use firedrill_core::run::RunRecord;
use serde::{Deserialize, Serialize};

pub use self::postgres::PostgresStore;
pub use chain::{Anchor, RawRecord, verify_segment};
pub use sqlite::{LEGACY_JOURNAL_FILE, LEGACY_SCHEDULE_FILE, SqliteStore};

/// The `prev_sha256` of the first record.
pub const GENESIS_SHA256: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The name of the database file under the configuration's `storage_path`.
pub const DATABASE_FILE: &str = "firedrill.db";

/// Why the store could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the storage directory {path}")]
    Directory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot move {path} into the store: {problem}")]
    Migrate { path: String, problem: String },
    #[error("store query failed")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot encode or decode a stored record")]
    Json(#[from] serde_json::Error),
    #[error("run `{0}` is already recorded")]
    Duplicate(String),
    #[error("cannot read the signing key {path}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("signing key {path} is not 32 bytes (raw, or 64 hex digits)")]
    BadKey { path: String },
    /// The causes say what is wrong; they never quote the URL's password.
    #[error("the PostgreSQL store URL is not valid")]
    PostgresUrl {
        #[source]
        source: ::postgres::Error,
    },
    /// `server` is `host:port/database`, as every PostgreSQL error names it.
    #[error("cannot connect to the PostgreSQL store at {server}")]
    PostgresConnect {
        server: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error("cannot set up TLS to the PostgreSQL store at {server}: {problem}")]
    PostgresTls { server: String, problem: String },
    #[error("query on the PostgreSQL store at {server} failed")]
    Postgres {
        server: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error(
        "the PostgreSQL store at {server} has schema version {found}, and this firedrill \
         knows versions up to {known}: upgrade firedrill"
    )]
    SchemaTooNew {
        server: String,
        found: i32,
        known: i32,
    },
    #[error(
        "the store {path} has schema version {found}, and this firedrill knows versions up \
         to {known}: upgrade firedrill"
    )]
    SqliteSchemaTooNew {
        path: String,
        found: i64,
        known: i64,
    },
}

/// One link of the chain, exactly as hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub seq: u64,
    pub prev_sha256: String,
    pub appended_at: DateTime<Utc>,
    pub run: RunRecord,
    /// SHA-256 of each rendered report file (`report.md`, `report.html`, ...).
    pub report_sha256: BTreeMap<String, String>,
}

/// A stored run with its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub entry: ChainEntry,
    pub sha256: String,
    pub signed: bool,
}

/// Where the email of a run stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `pending` (waiting or retrying), `sending`, `delivered`.
    pub status: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: DateTime<Utc>,
    pub enqueued_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokenLink {
    pub seq: u64,
    pub run_id: String,
    /// The field, e.g. `run.phases[1].recovery_seconds`, `sha256`, `signature`.
    pub field: String,
    pub problem: String,
}

impl std::fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} (run {}): field `{}`: {}",
            self.seq, self.run_id, self.field, self.problem
        )
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Records checked (up to and including the broken one).
    pub records: u64,
    /// The hash of the newest record: publish it elsewhere to detect a truncated chain.
    pub head_sha256: Option<String>,
    pub signed_records: u64,
    pub broken: Option<BrokenLink>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The evidence store: append runs, read them back, prove nothing was edited.
pub trait RunStore {
    /// Appends `run` with the hashes of its report files; fails if the run id is recorded.
    fn append(
        &mut self,
        run: &RunRecord,
        report_sha256: BTreeMap<String, String>,
        appended_at: DateTime<Utc>,
    ) -> Result<StoredRun, StoreError>;
    /// Every stored run, oldest first.
    fn runs(&self) -> Result<Vec<StoredRun>, StoreError>;
    fn run(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError>;
    /// Every row of the chain exactly as stored, oldest first: what an evidence bundle
    /// carries, so that its segment verifies without the store ([`verify_segment`]).
    fn raw_records(&self) -> Result<Vec<RawRecord>, StoreError>;
    /// Walks the chain from the first record and stops at the first broken link.
    fn verify(&self) -> Result<Verification, StoreError>;
}

/// The outbox channel of a run's report email. Every other channel is an HTTP push of
/// the run (`webhook:NAME:EVENT`, `grafana:PHASE`): [`MailQueue::due_mail`] and
/// [`MailQueue::delivery`] (what `firedrill runs`, the API and the outbox depth metric
/// read) never see those.
pub const EMAIL_CHANNEL: &str = "email";

/// A message waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub run_id: String,
    /// [`EMAIL_CHANNEL`], or the HTTP push it is (`webhook:slack:finished`).
    pub channel: String,
    /// The serialised message, as the notifier enqueued it.
    pub payload: String,
    pub attempts: u32,
}

/// Where one HTTP push of a run stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushDelivery {
    pub channel: String,
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// How long a claimed message may stay `sending` before another pass may take it: far
/// longer than an SMTP exchange (30 s timeout), so only a sender that died mid-send loses
/// its claim. Its message is then sent again (at least once, never lost), with the same
/// Message-ID so mail systems can drop the duplicate.
pub(crate) const CLAIM_LEASE: chrono::Duration = chrono::Duration::minutes(10);

/// The persistent outbox: per run, one report email and one message per HTTP push
/// (webhook event, Grafana annotation), each retried until delivered. Claims, deliveries
/// and failures take any message's id; the queries name the email or the pushes.
pub trait MailQueue {
    /// Queues the email of `run_id`; returns false (and changes nothing) when that run's
    /// email is already queued or delivered, so enqueuing twice never sends twice.
    fn enqueue_mail(
        &self,
        run_id: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Queues the HTTP push `channel` of `run_id` (never [`EMAIL_CHANNEL`]); false (and
    /// nothing changed) when that run already has a message on that channel.
    fn enqueue_push(
        &self,
        run_id: &str,
        channel: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Emails pending whose next attempt is due, and emails whose sender died while
    /// sending them (claimed longer ago than the claim lease).
    fn due_mail(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError>;
    /// The same for HTTP pushes: every channel but the email's.
    fn due_pushes(&self, now: DateTime<Utc>) -> Result<Vec<QueuedMail>, StoreError>;
    /// Marks a due message as being sent at `now`; false if another sender holds it.
    fn claim_mail(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;
    fn mail_delivered(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Puts the message back with the error and when to try again.
    fn mail_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Where the email of `run_id` stands.
    fn delivery(&self, run_id: &str) -> Result<Option<Delivery>, StoreError>;
    /// Where each HTTP push of `run_id` stands, in the order they were queued.
    fn push_deliveries(&self, run_id: &str) -> Result<Vec<PushDelivery>, StoreError>;
}

/// The engine's write-ahead journal as stored: entries are opaque JSON tagged with a kind
/// (the engine owns their meaning); the store keeps them in order per run.
pub trait RunJournal {
    /// Appends one entry of `run_id`; committed and synced to disk before it returns.
    fn journal_append(&self, run_id: &str, kind: &str, entry: &str) -> Result<(), StoreError>;
    /// The entries of `run_id`, oldest first.
    fn journal_entries(&self, run_id: &str) -> Result<Vec<String>, StoreError>;
    /// The runs that have no entry of kind `kind`, in the order they were first journaled
    /// (`run-finished`: the runs a killed process left unfinished).
    fn journal_runs_without(&self, kind: &str) -> Result<Vec<String>, StoreError>;
    /// Entries of kind `kind` of the runs that have no entry of kind `missing`, oldest
    /// first (`run-finished` without `recorded`: finished runs whose record was not stored).
    fn journal_entries_lacking(&self, kind: &str, missing: &str)
    -> Result<Vec<String>, StoreError>;
}

/// How far each drill's schedule was handled, kept across restarts and leaders.
pub trait ScheduleState {
    /// Per drill, the instant up to which its slots were handled.
    fn handled_slots(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError>;
    /// Saves these drills' instants (other drills' are kept), in one transaction.
    fn save_handled_slots(
        &self,
        handled: &BTreeMap<String, DateTime<Utc>>,
    ) -> Result<(), StoreError>;
}

/// Everything the daemon keeps: what a storage backend implements.
pub trait Store: RunStore + MailQueue + RunJournal + ScheduleState + Send {}

impl<T: RunStore + MailQueue + RunJournal + ScheduleState + Send> Store for T {}

/// SHA-256 of each report file, as recorded with the run.
pub fn report_hashes<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeMap<String, String> {
    files
        .into_iter()
        .map(|(name, content)| (name.to_string(), canonical::sha256_hex(content.as_bytes())))
        .collect()
}
