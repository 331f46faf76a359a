//! One store file: the journal and scheduler state of firedrill 0.1's storage directory
//! (written by that version, in `tests/fixtures/storage-0.1`) moved into `firedrill.db`, and
//! that file's outbox keyed by run and channel from then on.

use std::path::{Path, PathBuf};

use firedrill_store::{
    DATABASE_FILE, LEGACY_JOURNAL_FILE, LEGACY_SCHEDULE_FILE, MailQueue, RunJournal, RunStore,
    ScheduleState, SqliteStore, StoreError,
};
use serde_json::Value;

/// The storage directory 0.1 left after a finished `single-pod` run (its mail undelivered)
/// and a `zone-failure` run killed with `kill -9` after cordoning zone-a.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/storage-0.1/firedrill-data")
}

/// A copy of the fixture's storage directory, for a test to change.
fn copy_fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [DATABASE_FILE, LEGACY_JOURNAL_FILE, LEGACY_SCHEDULE_FILE] {
        std::fs::copy(fixture().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn old_journal(dir: &Path) -> Vec<(String, String, String)> {
    let old = rusqlite::Connection::open(dir.join(LEGACY_JOURNAL_FILE)).unwrap();
    let mut statement = old
        .prepare("SELECT run, kind, entry FROM journal ORDER BY seq")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

const KILLED: &str = "zone-failure-20261203T143243Z-02d1";
const FINISHED: &str = "single-pod-20261203T143230Z-c00c";

#[test]
fn an_old_storage_directory_moves_into_one_file_on_first_open() {
    let dir = copy_fixture();
    let journal_before = old_journal(dir.path());
    assert_eq!(journal_before.len(), 12, "the fixture as 0.1 wrote it");
    let schedule_before: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join(LEGACY_SCHEDULE_FILE)).unwrap(),
    )
    .unwrap();

    let store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();

    // The killed run is still unfinished, with every entry in order: its rollback is owed.
    assert_eq!(
        store.journal_runs_without("run-finished").unwrap(),
        [KILLED]
    );
    let entries: Vec<String> = [FINISHED, KILLED]
        .iter()
        .flat_map(|run| store.journal_entries(run).unwrap())
        .collect();
    let before: Vec<String> = journal_before.iter().map(|(_, _, e)| e.clone()).collect();
    assert_eq!(entries, before);
    let killed: Vec<Value> = store
        .journal_entries(KILLED)
        .unwrap()
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .collect();
    assert_eq!(killed.last().unwrap()["key"], "cordoned");
    assert!(
        store
            .journal_entries_lacking("run-finished", "recorded")
            .unwrap()
            .is_empty(),
        "the finished run was recorded"
    );

    // The scheduler state, drill by drill, to the nanosecond it was written with.
    let handled = store.handled_slots().unwrap();
    assert_eq!(handled.len(), 4);
    for (drill, at) in &handled {
        let written: chrono::DateTime<chrono::Utc> =
            schedule_before[drill].as_str().unwrap().parse().unwrap();
        assert_eq!(*at, written, "{drill}");
    }

    // The records and the outbox were in this file already, and are as they were.
    let verification = store.verify().unwrap();
    assert!(verification.intact(), "{verification:?}");
    assert_eq!(verification.records, 1);
    assert_eq!(store.runs().unwrap()[0].entry.run.id, FINISHED);
    assert_eq!(store.delivery(FINISHED).unwrap().unwrap().status, "pending");

    // The old files are kept beside it, renamed, and never read again.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    for name in [
        "journal.db.migrated",
        "scheduler.json.migrated",
        DATABASE_FILE,
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert!(!dir.path().join(LEGACY_JOURNAL_FILE).exists());
    assert!(!dir.path().join(LEGACY_SCHEDULE_FILE).exists());
}

#[test]
fn the_move_happens_once_even_when_the_old_files_come_back() {
    let dir = copy_fixture();
    let path = dir.path().join(DATABASE_FILE);
    drop(SqliteStore::open(&path).unwrap());
    // An operator restores the old files from a backup (or a rename failed): already moved.
    for name in [LEGACY_JOURNAL_FILE, LEGACY_SCHEDULE_FILE] {
        std::fs::copy(fixture().join(name), dir.path().join(name)).unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.journal_entries(KILLED).unwrap().len(), 4);
    assert_eq!(store.journal_entries(FINISHED).unwrap().len(), 8);
}

#[test]
fn two_processes_opening_an_old_directory_at_once_move_it_once() {
    let dir = copy_fixture();
    let path = dir.path().join(DATABASE_FILE);
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(drop))
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.journal_entries(KILLED).unwrap().len(), 4);
    assert_eq!(store.handled_slots().unwrap().len(), 4);
}

/// The old journal may say which rollbacks a killed run owes: if it cannot be read, the
/// store does not open (naming the file), and the file stays where it was.
#[test]
fn an_old_journal_that_cannot_be_read_stops_the_open_and_stays_in_place() {
    let dir = copy_fixture();
    let journal = dir.path().join(LEGACY_JOURNAL_FILE);
    std::fs::write(&journal, b"this is not an SQLite database, but it is long enough to be read as a header that is wrong").unwrap();
    let err = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap_err();
    assert!(matches!(err, StoreError::Migrate { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("journal.db"), "{text}");
    assert!(journal.exists());
    // Fixed (here: removed), the next open works.
    std::fs::remove_file(&journal).unwrap();
    let store = SqliteStore::open(&dir.path().join(DATABASE_FILE)).unwrap();
    assert!(
        store
            .journal_runs_without("run-finished")
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.handled_slots().unwrap().len(), 4);
}

/// What the store keeps is in the one file (the scheduler state's semantics are tested on
/// both backends in `schedule.rs`).
#[test]
fn a_new_directory_has_one_file_that_keeps_the_scheduler_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("storage").join(DATABASE_FILE);
    let store = SqliteStore::open(&path).unwrap();
    let at = firedrill_core::report::fixtures::slot();
    let handled = std::collections::BTreeMap::from([("weekly".to_string(), at)]);
    store.save_handled_slots(&handled).unwrap();
    drop(store);
    assert_eq!(
        SqliteStore::open(&path).unwrap().handled_slots().unwrap(),
        handled
    );
    let files: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    assert_eq!(files, [DATABASE_FILE]);
}

/// 0.1's outbox held one email per run: after the upgrade its undelivered email is still
/// the run's email, due and delivered as before, and the run can take HTTP pushes beside it.
#[test]
fn an_old_outbox_keeps_its_email_and_takes_pushes_after_the_upgrade() {
    let dir = copy_fixture();
    let path = dir.path().join(DATABASE_FILE);
    let version = |path: &Path| -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap()
    };
    assert_eq!(version(&path), 0, "the fixture as 0.1 wrote it");
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(drop))
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().unwrap();
    }
    assert_eq!(version(&path), 1);
    let store = SqliteStore::open(&path).unwrap();
    let now = chrono::Utc::now();
    let due = store.due_mail(now).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].run_id.as_str(), due[0].channel.as_str()),
        (FINISHED, "email")
    );
    assert!(
        !store.enqueue_mail(FINISHED, "{}", now).unwrap(),
        "still one email"
    );
    assert!(
        store
            .enqueue_push(FINISHED, "webhook:chat:finished", "{}", now)
            .unwrap()
    );
    assert_eq!(store.due_pushes(now).unwrap().len(), 1);
    assert_eq!(store.due_mail(now).unwrap().len(), 1);
    assert_eq!(store.delivery(FINISHED).unwrap().unwrap().status, "pending");
}

#[test]
fn a_store_file_changed_by_a_newer_firedrill_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SqliteSchemaTooNew {
                found: 99,
                known: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade firedrill"), "{err}");
}
