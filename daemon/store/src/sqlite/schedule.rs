//! The scheduler state on SQLite: one row per drill, the instant its slots were handled to.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::SqliteStore;
use crate::times;
use crate::{ScheduleState, StoreError};

impl ScheduleState for SqliteStore {
    fn handled_slots(&self) -> Result<BTreeMap<String, DateTime<Utc>>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT drill, handled_until FROM schedule")?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (drill, at) = row?;
            Ok((drill, times::parse(&at)))
        })
        .collect()
    }

    fn save_handled_slots(
        &self,
        handled: &BTreeMap<String, DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        save(&tx, handled)?;
        tx.commit()?;
        Ok(())
    }
}

/// Upserts each drill's instant inside the caller's transaction.
pub(super) fn save(
    conn: &rusqlite::Connection,
    handled: &BTreeMap<String, DateTime<Utc>>,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO schedule (drill, handled_until) VALUES (?1, ?2)
         ON CONFLICT (drill) DO UPDATE SET handled_until = excluded.handled_until",
    )?;
    for (drill, at) in handled {
        statement.execute(params![drill, times::exact_text(*at)])?;
    }
    Ok(())
}
