//! The outbox on each backend: one message per run, claims, retries, and a dead sender's claim expiring.

use chrono::Duration;
use firedrill_core::report::fixtures::slot;

use crate::backends::{Backend, Keys, on_both_backends};
use crate::chain::store_with_three_runs;

on_both_backends!(
    the_outbox_keeps_one_message_per_run_and_its_delivery_status,
    a_message_left_sending_by_a_dead_sender_is_retried_once_its_claim_expires,
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
