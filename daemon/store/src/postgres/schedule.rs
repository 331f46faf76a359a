//! The scheduler state on PostgreSQL: one row per drill, saved in one transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::PostgresStore;
use crate::times;
use crate::{ScheduleState, StoreError};

impl ScheduleState for PostgresStore {
    fn handled_slots(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        self.call(|client| {
            let mut handled = BTreeMap::new();
            for row in client.query("SELECT drill, handled_until FROM schedule", &[])? {
                let at: String = row.try_get(1)?;
                handled.insert(row.try_get(0)?, times::parse(&at));
            }
            Ok(handled)
        })
    }

    fn save_handled_slots(
        &self,
        handled: &BTreeMap<String, DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        self.call(|client| {
            let mut tx = client.transaction()?;
            let upsert = tx.prepare(
                "INSERT INTO schedule (drill, handled_until) VALUES ($1, $2)
                 ON CONFLICT (drill) DO UPDATE SET handled_until = excluded.handled_until",
            )?;
            for (drill, at) in handled {
                tx.execute(&upsert, &[drill, &times::exact_text(*at)])?;
            }
            tx.commit()?;
            Ok(())
        })
    }
}
