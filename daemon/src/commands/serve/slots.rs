//! The scheduler's book of slots: how far each drill's schedule was handled, and which slots
//! are queued but not started, so the store never says a slot was handled before its run began.
//!
//! A slot is queued when it is due and may wait behind a running drill. If the leader dies
//! then, the slot must not be lost: what is saved for a drill is the instant just before its
//! first queued slot, so the next leader sees that slot again and runs it (or catches it up,
//! per the drill's missed-run policy). The runner takes the slot out when its run starts and
//! saves at once, so a slot whose run began is never run a second time by a new leader.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

use crate::app::store::StoreAt;

#[derive(Default)]
struct Book {
    handled: BTreeMap<String, DateTime<Utc>>,
    queued: BTreeMap<String, BTreeSet<DateTime<Utc>>>,
}

/// Shared by the scheduler (which queues slots and marks drills handled up to now) and the
/// runner (which starts them).
#[derive(Default)]
pub struct SlotBook {
    book: Mutex<Book>,
    /// Held while saving (on the blocking pool), so saves land in the order their
    /// contents were taken.
    saving: Mutex<()>,
}

impl SlotBook {
    /// Starts afresh from what the store says (a replica that has just become leader):
    /// nothing queued.
    pub fn reset(&self, handled: BTreeMap<String, DateTime<Utc>>) {
        *self.book.lock() = Book {
            handled,
            queued: BTreeMap::new(),
        };
    }

    /// The instant up to which `drill`'s slots were decided on.
    pub fn handled(&self, drill: &str) -> Option<DateTime<Utc>> {
        self.book.lock().handled.get(drill).copied()
    }

    /// Every slot of `drill` up to `now` was decided on.
    pub fn mark(&self, drill: &str, now: DateTime<Utc>) {
        self.book.lock().handled.insert(drill.to_string(), now);
    }

    /// `slot` of `drill` was queued for the runner.
    pub fn queue(&self, drill: &str, slot: DateTime<Utc>) {
        self.book
            .lock()
            .queued
            .entry(drill.to_string())
            .or_default()
            .insert(slot);
    }

    /// The runner is starting `slot` of `drill`: false when it is no longer queued (this
    /// replica lost the lead since, and the slot is another leader's, or queued anew).
    pub fn start(&self, drill: &str, slot: DateTime<Utc>) -> bool {
        let mut book = self.book.lock();
        let Some(slots) = book.queued.get_mut(drill) else {
            return false;
        };
        let was_queued = slots.remove(&slot);
        if slots.is_empty() {
            book.queued.remove(drill);
        }
        was_queued
    }

    /// What the store should say: each drill handled up to the instant just before its
    /// first slot still waiting to start.
    pub fn durable(&self) -> BTreeMap<String, DateTime<Utc>> {
        let book = self.book.lock();
        let mut durable = book.handled.clone();
        for (drill, slots) in &book.queued {
            if let (Some(first), Some(handled)) = (slots.first(), durable.get_mut(drill)) {
                let before = *first - chrono::Duration::nanoseconds(1);
                if before < *handled {
                    *handled = before;
                }
            }
        }
        durable
    }

    /// Saves [`Self::durable`] to the store. Blocking: call it on the blocking pool.
    pub fn save(&self, store: &StoreAt) {
        let _saving = self.saving.lock();
        let durable = self.durable();
        if let Err(err) = store.with(|opened| opened.save_handled_slots(&durable)) {
            tracing::error!(store = %store.describe(), error = %crate::exit::error_chain(&err), "Could not save the scheduler state; missed slots may be judged wrongly after a restart");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_queued_slot_holds_the_saved_instant_back_until_its_run_starts() {
        let book = SlotBook::default();
        book.reset(BTreeMap::from([(
            "weekly".into(),
            utc("2026-12-01T00:00:00Z"),
        )]));
        let slot = utc("2026-12-01T09:00:00Z");
        book.queue("weekly", slot);
        book.mark("weekly", utc("2026-12-01T09:00:01Z"));
        // Decided on up to now, but the store keeps the slot visible to a new leader.
        assert_eq!(book.handled("weekly"), Some(utc("2026-12-01T09:00:01Z")));
        assert_eq!(
            book.durable()["weekly"],
            slot - chrono::Duration::nanoseconds(1)
        );
        assert!(book.start("weekly", slot));
        assert_eq!(book.durable()["weekly"], utc("2026-12-01T09:00:01Z"));
        // Started once only.
        assert!(!book.start("weekly", slot));
    }

    #[test]
    fn a_reset_forgets_what_was_queued_before() {
        let book = SlotBook::default();
        let slot = utc("2026-12-01T09:00:00Z");
        book.queue("weekly", slot);
        book.reset(BTreeMap::new());
        assert!(!book.start("weekly", slot));
        assert!(book.durable().is_empty());
    }
}
