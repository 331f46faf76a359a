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
    let config =
        firedrill_core::config::load_str("t.yaml", CONFIG, dir.path(), &crate::resolve_context())
            .unwrap();
    let store = crate::app::store::StoreAt::Sqlite(dir.path().join(firedrill_store::DATABASE_FILE));
    if let Some((drill, at)) = handled {
        let mut state = BTreeMap::new();
        state.insert(drill.to_string(), utc(at));
        state.insert(
            if drill == "weekly" {
                "quarterly"
            } else {
                "weekly"
            }
            .to_string(),
            utc(start),
        );
        save_handled(&store, &state);
    }
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
    let daemon = Daemon {
        live,
        metrics: Metrics::new().unwrap(),
        leading,
        shutdown: shutdown.clone(),
        mail_wake: Arc::default(),
    };
    let task = tokio::spawn(schedule_loop(
        daemon,
        store,
        jobs_tx,
        Timing {
            clock,
            max_sleep: Duration::from_secs(6 * 3600),
        },
    ));
    tokio::time::sleep(Duration::from_secs(days * 86_400)).await;
    shutdown.cancel();
    task.await.unwrap();
    let mut queued = Vec::new();
    while let Ok(job) = jobs.try_recv() {
        queued.push(job);
    }
    queued
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
