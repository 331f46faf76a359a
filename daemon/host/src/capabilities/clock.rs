//! The `clock` capability: wall and monotonic time, and sleeping without blocking the host.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::bindings::clock::Host;

/// Origin of `monotonic-ms`, shared by all calls so durations span calls.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The clock's data: none, it only reads the time.
pub struct Clock;

impl wasmtime::component::HasData for Clock {
    type Data<'a> = Clock;
}

impl Host for Clock {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Ok(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }

    async fn monotonic_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(u64::try_from(origin().elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    async fn sleep_ms(&mut self, ms: u32) -> wasmtime::Result<()> {
        // The call's own deadline (a timeout around the whole call) cuts this short.
        tokio::time::sleep(Duration::from_millis(u64::from(ms))).await;
        Ok(())
    }
}
