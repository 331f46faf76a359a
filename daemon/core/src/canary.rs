//! Canary arithmetic: from the writes a phase made and the ones read back after recovery,
//! the data it lost ([`DataLoss`]).
//!
//! The engine writes sequence-numbered canaries at a fixed cadence from before the fault
//! until recovery and remembers, for each, when it was sent and whether the database
//! acknowledged it. After recovery it reads back which sequence numbers survived. A write
//! that was acknowledged and is gone is data the application was told was safe: the
//! headline figure. The loss window runs from the newest surviving acknowledged write
//! before the loss to the fault (or to the newest lost write, if the loss continued after
//! the fault, as when a demoted master keeps accepting writes).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::run::DataLoss;

/// One canary write as the writer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanaryWrite {
    pub seq: u64,
    /// When it was sent, from the start of the phase's canaries.
    pub at: Duration,
    /// The database answered success.
    pub acknowledged: bool,
}

/// What a phase's canaries show, given the sequence numbers read back after recovery.
///
/// `fault_at` is when `inject` was called (the fault cannot be earlier), on the same clock
/// as the writes. `method` describes the canaries for the report.
pub fn data_loss(
    writes: &[CanaryWrite],
    surviving: &BTreeSet<u64>,
    fault_at: Duration,
    method: String,
) -> DataLoss {
    let acknowledged: Vec<&CanaryWrite> = writes.iter().filter(|w| w.acknowledged).collect();
    let lost: Vec<&CanaryWrite> = acknowledged
        .iter()
        .copied()
        .filter(|w| !surviving.contains(&w.seq))
        .collect();
    let survived_before = |limit: &dyn Fn(&CanaryWrite) -> bool| {
        acknowledged
            .iter()
            .filter(|w| surviving.contains(&w.seq) && limit(w))
            .map(|w| w.at)
            .max()
    };
    let window = match (lost.first(), lost.last()) {
        (Some(first), Some(last)) => {
            let first_seq = first.seq;
            // Before the first loss, the newest write that made it; without one, the
            // loss started with the canaries themselves.
            let anchor = survived_before(&|w| w.seq < first_seq).unwrap_or(first.at);
            fault_at.max(last.at).saturating_sub(anchor)
        }
        _ => survived_before(&|w| w.at <= fault_at)
            .map(|at| fault_at.saturating_sub(at))
            .unwrap_or_default(),
    };
    DataLoss {
        canaries_written: writes.len() as u64,
        canaries_acknowledged: acknowledged.len() as u64,
        acknowledged_lost: lost.len() as u64,
        loss_window_seconds: window.as_secs_f64(),
        backup_age_seconds: None,
        method,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Writes every 100 ms from 0; `acked(seq)` says which the database acknowledged.
    fn writes(count: u64, acked: impl Fn(u64) -> bool) -> Vec<CanaryWrite> {
        (1..=count)
            .map(|seq| CanaryWrite {
                seq,
                at: ms((seq - 1) * 100),
                acknowledged: acked(seq),
            })
            .collect()
    }

    #[test]
    fn nothing_lost_reports_the_gap_before_the_fault() {
        // Fault at 1.05 s; writes 1..=11 acknowledged before it, 12..=20 refused during
        // the outage; every acknowledged write survives.
        let writes = writes(20, |seq| seq <= 11);
        let surviving: BTreeSet<u64> = (1..=11).collect();
        let loss = data_loss(&writes, &surviving, ms(1050), "rows".into());
        assert_eq!(loss.canaries_written, 20);
        assert_eq!(loss.canaries_acknowledged, 11);
        assert_eq!(loss.acknowledged_lost, 0);
        assert!((loss.loss_window_seconds - 0.05).abs() < 1e-9, "{loss:?}");
    }

    #[test]
    fn acknowledged_writes_missing_after_failover_are_lost() {
        // Replication stopped after write 6: 7..=11 were acknowledged by the old primary
        // and never reached the replica; the fault came at 1.05 s.
        let writes = writes(20, |seq| seq <= 11);
        let surviving: BTreeSet<u64> = (1..=6).collect();
        let loss = data_loss(&writes, &surviving, ms(1050), "rows".into());
        assert_eq!(loss.acknowledged_lost, 5);
        // From write 6 (0.5 s) to the fault.
        assert!((loss.loss_window_seconds - 0.55).abs() < 1e-9, "{loss:?}");
    }

    #[test]
    fn loss_after_the_fault_extends_the_window() {
        // A demoted master kept acknowledging writes 12..=14 after the fault at 1.05 s;
        // the new master has 1..=11 and 15..=20.
        let writes = writes(20, |_| true);
        let surviving: BTreeSet<u64> = (1..=11).chain(15..=20).collect();
        let loss = data_loss(&writes, &surviving, ms(1050), "keys".into());
        assert_eq!(loss.acknowledged_lost, 3);
        // From write 11 (1.0 s) to write 14 (1.3 s).
        assert!((loss.loss_window_seconds - 0.3).abs() < 1e-9, "{loss:?}");
    }

    #[test]
    fn unacknowledged_writes_that_survived_are_not_loss() {
        // Write 12's acknowledgement was lost in the failover but the row is there.
        let writes = writes(12, |seq| seq <= 11);
        let surviving: BTreeSet<u64> = (1..=12).collect();
        let loss = data_loss(&writes, &surviving, ms(1150), "rows".into());
        assert_eq!(loss.acknowledged_lost, 0);
        assert_eq!(loss.canaries_acknowledged, 11);
    }

    #[test]
    fn everything_lost_counts_from_the_first_write() {
        let writes = writes(5, |_| true);
        let loss = data_loss(&writes, &BTreeSet::new(), ms(450), "rows".into());
        assert_eq!(loss.acknowledged_lost, 5);
        assert!((loss.loss_window_seconds - 0.45).abs() < 1e-9, "{loss:?}");
    }
}
