//! The outbox on each backend: one email per run, one message per HTTP push beside it (never
//! counted as the email), claims, retries, and a dead sender's claim expiring.

use chrono::Duration;
use firedrill_core::report::fixtures::slot;

use crate::backends::{Backend, Keys, on_both_backends};
use crate::chain::store_with_three_runs;

on_both_backends!(
    the_outbox_keeps_one_message_per_run_and_its_delivery_status,
    a_message_left_sending_by_a_dead_sender_is_retried_once_its_claim_expires,
    pushes_queue_once_per_channel_beside_the_email_and_never_count_as_email,
    a_push_is_claimed_once_retried_after_a_failure_and_delivered,
);

fn the_outbox_keeps_one_message_per_run_and_its_delivery_status(backend: &dyn Backend) {
    let store = store_with_three_runs(backend);
    let now = slot();
    assert!(store.enqueue_mail("run-a", "{}", now).unwrap());
    assert!(
        !store.enqueue_mail("run-a", "{}", now).unwrap(),
        "second enqueue is a no-op"
    );
    let due = store.due_mail(now).unwrap();
    assert_eq!(due.len(), 1);
    assert!(store.claim_mail(due[0].id, now).unwrap());
    assert!(!store.claim_mail(due[0].id, now).unwrap(), "claimed once");
    store
        .mail_failed(due[0].id, "connection refused", now + Duration::seconds(30))
        .unwrap();
    assert!(
        store.due_mail(now).unwrap().is_empty(),
        "not due before its backoff"
    );
    let delivery = store.delivery("run-a").unwrap().unwrap();
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("pending", 1)
    );
    assert_eq!(delivery.last_error.as_deref(), Some("connection refused"));
    let due = store.due_mail(now + Duration::seconds(30)).unwrap();
    assert!(
        store
            .claim_mail(due[0].id, now + Duration::seconds(30))
            .unwrap()
    );
    store
        .mail_delivered(due[0].id, now + Duration::seconds(31))
        .unwrap();
    let delivery = store.delivery("run-a").unwrap().unwrap();
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("delivered", 2)
    );
    assert_eq!(delivery.last_error, None);
    assert_eq!(delivery.enqueued_at, now);
    assert_eq!(delivery.delivered_at, Some(now + Duration::seconds(31)));
    assert!(store.due_mail(now + Duration::days(1)).unwrap().is_empty());
    // The chain is untouched by delivery bookkeeping.
    assert!(store.verify().unwrap().intact());
}

fn a_message_left_sending_by_a_dead_sender_is_retried_once_its_claim_expires(
    backend: &dyn Backend,
) {
    let now = slot();
    {
        let store = backend.open(Keys::None);
        store.enqueue_mail("run-a", "{}", now).unwrap();
        let due = store.due_mail(now).unwrap();
        assert!(store.claim_mail(due[0].id, now).unwrap());
    } // the sender dies mid-send
    // Another process opening the store (e.g. `firedrill runs`) must not steal a live claim.
    let store = backend.open(Keys::None);
    let soon = now + Duration::minutes(1);
    assert!(store.due_mail(soon).unwrap().is_empty());
    assert_eq!(store.delivery("run-a").unwrap().unwrap().status, "sending");
    let later = now + Duration::minutes(11);
    let due = store.due_mail(later).unwrap();
    assert_eq!(due.len(), 1);
    assert!(store.claim_mail(due[0].id, later).unwrap());
    assert_eq!(store.delivery("run-a").unwrap().unwrap().attempts, 2);
}

fn pushes_queue_once_per_channel_beside_the_email_and_never_count_as_email(backend: &dyn Backend) {
    let store = backend.open(Keys::None);
    let now = slot();
    // A run with webhooks and no email: nothing of it is email.
    assert!(
        store
            .enqueue_push("run-a", "webhook:chat:finished", r#"{"n":1}"#, now)
            .unwrap()
    );
    assert!(
        !store
            .enqueue_push("run-a", "webhook:chat:finished", r#"{"n":2}"#, now)
            .unwrap(),
        "one message per run and channel"
    );
    assert!(
        store
            .enqueue_push("run-a", "webhook:chat:started", "{}", now)
            .unwrap()
    );
    assert!(
        store
            .enqueue_push("run-a", "grafana:zone-a", "{}", now)
            .unwrap()
    );
    assert!(store.due_mail(now).unwrap().is_empty(), "no email is due");
    assert_eq!(
        store.delivery("run-a").unwrap(),
        None,
        "the run has no email"
    );
    // Its email queued later is its own message, beside the pushes.
    assert!(store.enqueue_mail("run-a", "mail", now).unwrap());
    let mail = store.due_mail(now).unwrap();
    assert_eq!(mail.len(), 1);
    assert_eq!(
        (mail[0].channel.as_str(), mail[0].payload.as_str()),
        ("email", "mail")
    );
    let pushes = store.due_pushes(now).unwrap();
    let channels: Vec<&str> = pushes.iter().map(|p| p.channel.as_str()).collect();
    assert_eq!(
        channels,
        [
            "webhook:chat:finished",
            "webhook:chat:started",
            "grafana:zone-a"
        ],
        "in the order queued"
    );
    assert!(pushes.iter().all(|p| p.run_id == "run-a"));
    assert_eq!(pushes[0].payload, r#"{"n":1}"#, "the first enqueue kept");
    // Delivering the email leaves every push pending, and the other way round.
    assert!(store.claim_mail(mail[0].id, now).unwrap());
    store.mail_delivered(mail[0].id, now).unwrap();
    assert_eq!(
        store.delivery("run-a").unwrap().unwrap().status,
        "delivered"
    );
    assert_eq!(store.due_pushes(now).unwrap().len(), 3);
    let statuses: Vec<(String, String)> = store
        .push_deliveries("run-a")
        .unwrap()
        .into_iter()
        .map(|p| (p.channel, p.delivery.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("webhook:chat:finished".to_string(), "pending".to_string()),
            ("webhook:chat:started".to_string(), "pending".to_string()),
            ("grafana:zone-a".to_string(), "pending".to_string()),
        ]
    );
    assert!(store.push_deliveries("run-b").unwrap().is_empty());
}

fn a_push_is_claimed_once_retried_after_a_failure_and_delivered(backend: &dyn Backend) {
    let now = slot();
    let first = backend.open(Keys::None);
    first
        .enqueue_push("run-a", "webhook:chat:finished", "{}", now)
        .unwrap();
    // Two replicas see it due; one claim wins.
    let second = backend.open(Keys::None);
    let id = first.due_pushes(now).unwrap()[0].id;
    assert_eq!(second.due_pushes(now).unwrap()[0].id, id);
    assert!(first.claim_mail(id, now).unwrap());
    assert!(!second.claim_mail(id, now).unwrap(), "claimed once");
    first
        .mail_failed(id, "connection refused", now + Duration::seconds(30))
        .unwrap();
    assert!(second.due_pushes(now).unwrap().is_empty(), "backing off");
    let later = now + Duration::seconds(30);
    let due = second.due_pushes(later).unwrap();
    assert_eq!((due[0].id, due[0].attempts), (id, 1));
    assert!(second.claim_mail(id, later).unwrap());
    second.mail_delivered(id, later).unwrap();
    let pushes = first.push_deliveries("run-a").unwrap();
    assert_eq!(pushes.len(), 1);
    let delivery = &pushes[0].delivery;
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("delivered", 2)
    );
    assert_eq!(delivery.last_error, None);
    assert_eq!(delivery.delivered_at, Some(later));
    assert!(
        first
            .due_pushes(later + Duration::days(1))
            .unwrap()
            .is_empty()
    );
    assert_eq!(first.delivery("run-a").unwrap(), None);
}
