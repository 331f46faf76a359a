//! The scheduler loop on tokio's paused clock: weeks of slots pass in milliseconds.

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const CONFIG: &str = r#"version: 1
drills:
  weekly:
    schedule:
      cron: "0 10 * * TUE"
      timezone: Europe/Berlin
      blackouts: [{ from: "2026-04-13", until: "2026-04-18", reason: launch freeze }]
    phases: [{ name: kill, scenario: pod-failure }]
  quarterly:
    schedule: { cron: "0 9 15 1,4,7,10 *", timezone: Europe/Berlin }
    phases: [{ name: kill, scenario: pod-failure }]
"#;

/// Runs the real scheduler loop from `start` (wall clock) for `days` of paused tokio time,
/// with `handled` as the scheduler state it finds on disk, and returns the queued jobs.
async fn run_loop(start: &str, days: u64, handled: Option<(&str, &str)>) -> Vec<RunJob> {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreAt::Sqlite(dir.path().join(firedrill_store::DATABASE_FILE));
    if let Some((drill, at)) = handled {
        let other = if drill == "weekly" {
            "quarterly"
        } else {
            "weekly"
        };
        save(&store, &[(drill, at), (other, start)]);
    }
    leader(&store, start, Duration::from_secs(days * 86_400))
        .await
        .0
}

fn save(store: &StoreAt, handled: &[(&str, &str)]) {
    let state: BTreeMap<String, DateTime<Utc>> = handled
        .iter()
        .map(|(drill, at)| (drill.to_string(), utc(at)))
        .collect();
    store
        .with(|opened| opened.save_handled_slots(&state))
        .unwrap();
}

/// One leader's scheduler loop over `store`, from `start` for `lasting` of paused time;
/// nothing runs the jobs it queues. Returns them and its slot book.
async fn leader(store: &StoreAt, start: &str, lasting: Duration) -> (Vec<RunJob>, Arc<SlotBook>) {
    let dir = tempfile::tempdir().unwrap();
    let config =
        firedrill_core::config::load_str("t.yaml", CONFIG, dir.path(), &crate::resolve_context())
            .unwrap();
    let (_live_tx, live) = watch::channel(LiveConfig {
        config: Arc::new(config),
        sha256: String::new(),
    });
    let (jobs_tx, mut jobs) = tokio::sync::mpsc::unbounded_channel();
    let (_leading_tx, leading) = watch::channel(true);
    let shutdown = CancellationToken::new();
    // "Now" follows tokio's paused clock from `start`.
    let wall = utc(start);
    let origin = tokio::time::Instant::now();
    let clock: Clock =
        Arc::new(move || wall + chrono::Duration::from_std(origin.elapsed()).unwrap_or_default());
    let slots = Arc::new(SlotBook::default());
    let daemon = Daemon {
        live,
        metrics: Metrics::new().unwrap(),
        leading,
        shutdown: shutdown.clone(),
        mail_wake: Arc::default(),
        slots: slots.clone(),
    };
    let task = tokio::spawn(schedule_loop(
        daemon,
        store.clone(),
        jobs_tx,
        Timing {
            clock,
            max_sleep: Duration::from_secs(6 * 3600),
        },
    ));
    tokio::time::sleep(lasting).await;
    shutdown.cancel();
    task.await.unwrap();
    let mut queued = Vec::new();
    while let Ok(job) = jobs.try_recv() {
        queued.push(job);
    }
    (queued, slots)
}

fn slots(jobs: &[RunJob], drill: &str) -> Vec<DateTime<Utc>> {
    jobs.iter()
        .filter(|j| j.drill == drill)
        .filter_map(|j| match j.trigger {
            Trigger::Schedule { slot } => Some(slot),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn weekly_drill_fires_at_local_ten_across_dst_and_skips_its_blackout() {
    let jobs = run_loop("2026-03-20T00:00:00Z", 35, None).await;
    assert_eq!(
        slots(&jobs, "weekly"),
        [
            utc("2026-03-24T09:00:00Z"), // 10:00 CET
            utc("2026-03-31T08:00:00Z"), // 10:00 CEST after 29 March
            utc("2026-04-07T08:00:00Z"),
            // 14 April is in the launch freeze
            utc("2026-04-21T08:00:00Z"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn quarterly_drill_fires_once_a_quarter_across_the_autumn_change() {
    let jobs = run_loop("2026-06-01T00:00:00Z", 240, None).await;
    assert_eq!(
        slots(&jobs, "quarterly"),
        [
            utc("2026-07-15T07:00:00Z"),
            utc("2026-10-15T07:00:00Z"),
            utc("2027-01-15T08:00:00Z"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn slots_missed_while_down_run_once_under_the_default_policy() {
    // The state on disk says weekly was last handled three weeks before the daemon starts.
    let jobs = run_loop(
        "2026-11-20T12:00:00Z",
        1,
        Some(("weekly", "2026-10-30T00:00:00Z")),
    )
    .await;
    let catch_up: Vec<&RunJob> = jobs
        .iter()
        .filter(|j| matches!(j.trigger, Trigger::CatchUp { .. }))
        .collect();
    assert_eq!(catch_up.len(), 1, "{jobs:?}");
    let Trigger::CatchUp { missed_slots } = &catch_up[0].trigger else {
        unreachable!()
    };
    assert_eq!(missed_slots.len(), 3);
    assert!(slots(&jobs, "weekly").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_slot_queued_but_not_started_when_the_leader_dies_is_run_by_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreAt::Sqlite(dir.path().join(firedrill_store::DATABASE_FILE));
    save(
        &store,
        &[
            ("weekly", "2026-12-01T08:00:00Z"),
            ("quarterly", "2026-12-01T08:00:00Z"),
        ],
    );
    // The 10:00 Berlin slot (09:00 UTC) is queued behind a drill that never ends; the
    // leader dies two minutes later.
    let slot = utc("2026-12-01T09:00:00Z");
    let (first, _) = leader(&store, "2026-12-01T08:00:00Z", Duration::from_secs(62 * 60)).await;
    assert_eq!(slots(&first, "weekly"), [slot]);
    // The next leader, within the 15-minute grace, runs that slot.
    let (second, book) = leader(&store, "2026-12-01T09:05:00Z", Duration::from_secs(60)).await;
    assert_eq!(slots(&second, "weekly"), [slot], "{second:?}");

    // Once its run has started, a third leader does not run it again.
    assert!(book.start("weekly", slot));
    book.save(&store);
    let (third, _) = leader(&store, "2026-12-01T09:06:00Z", Duration::from_secs(60)).await;
    assert!(third.is_empty(), "{third:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slot_left_queued_past_its_grace_is_caught_up_by_the_next_leader() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreAt::Sqlite(dir.path().join(firedrill_store::DATABASE_FILE));
    save(
        &store,
        &[
            ("weekly", "2026-12-01T08:00:00Z"),
            ("quarterly", "2026-12-01T08:00:00Z"),
        ],
    );
    leader(&store, "2026-12-01T08:00:00Z", Duration::from_secs(62 * 60)).await;
    // The next leader comes up an hour later: the slot is missed, and run once under the
    // default policy.
    let (jobs, _) = leader(&store, "2026-12-01T10:00:00Z", Duration::from_secs(60)).await;
    let caught_up: Vec<&Vec<DateTime<Utc>>> = jobs
        .iter()
        .filter_map(|j| match &j.trigger {
            Trigger::CatchUp { missed_slots } => Some(missed_slots),
            _ => None,
        })
        .collect();
    assert_eq!(caught_up, [&vec![utc("2026-12-01T09:00:00Z")]], "{jobs:?}");
}
