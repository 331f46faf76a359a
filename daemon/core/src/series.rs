//! Measurements over time, bucketed for charts: each service's probe results and each phase's canary writes.
//!
//! The engine hands every probe result to a [`ProbeRecorder`] with its offset from the
//! start of the run (this crate has no clock); at the end [`ProbeRecorder::series`] cuts
//! them into buckets of one width for every service, wide enough that a run never has
//! more than [`MAX_PROBE_BUCKETS`] (a four-hour drill: 1-minute buckets). A phase's canary
//! writes, once read back, become a [`CanarySeries`] the same way ([`canary_series`]).
//!
//! Both are kept in the run record, so their serde form is compact: the buckets of a series
//! are one string (`"2,0,1532 2,0,1498 1,1,1000000"`), one field for the store's per-field
//! digests instead of three per bucket.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::canary::CanaryWrite;

/// The most buckets a probe series has, whatever the length of the run.
pub const MAX_PROBE_BUCKETS: u64 = 240;

/// The most buckets a canary series has.
pub const MAX_CANARY_BUCKETS: u64 = 120;

/// Bucket widths, in milliseconds, that read well on an axis; past the last, whole hours.
const NICE_WIDTHS_MS: [u64; 16] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    900_000, 1_800_000, 3_600_000,
];

/// The narrowest readable width of at least `floor_ms` that cuts `span_ms` into at most
/// `max_buckets`.
fn bucket_width_ms(span_ms: u64, floor_ms: u64, max_buckets: u64) -> u64 {
    let needed = floor_ms.max(span_ms.div_ceil(max_buckets.max(1))).max(1);
    NICE_WIDTHS_MS
        .iter()
        .copied()
        .find(|width| *width >= needed)
        .unwrap_or_else(|| needed.div_ceil(3_600_000) * 3_600_000)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Probes of one service in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeBucket {
    pub successes: u32,
    pub failures: u32,
    /// Latency percentile 95 of the bucket's probes (failed ones at the time they took to
    /// fail), in microseconds; `None` when no probe fell in the bucket.
    pub p95_micros: Option<u32>,
}

impl ProbeBucket {
    pub fn probes(&self) -> u32 {
        self.successes.saturating_add(self.failures)
    }

    /// Share of the bucket's probes that succeeded, in 0..=1; `None` without probes.
    pub fn ratio(&self) -> Option<f64> {
        let probes = self.probes();
        (probes > 0).then(|| f64::from(self.successes) / f64::from(probes))
    }

    pub fn p95_seconds(&self) -> Option<f64> {
        self.p95_micros.map(|micros| f64::from(micros) / 1e6)
    }
}

/// One service's probe results over a run: bucket `i` covers
/// `[from + i × bucket_ms, from + (i + 1) × bucket_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSeries {
    pub service: String,
    /// The start of the first bucket: the start of the run.
    pub from: DateTime<Utc>,
    /// The width of every bucket, in milliseconds.
    pub bucket_ms: u64,
    /// One `successes,failures,p95` triple per bucket (p95 in microseconds, empty without
    /// probes), separated by spaces.
    #[serde(with = "probe_buckets")]
    pub buckets: Vec<ProbeBucket>,
}

/// One bucket of a phase's canary writes, by what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CanaryBucket {
    /// Acknowledged and read back after recovery.
    pub kept: u32,
    /// Acknowledged and missing after recovery: data loss.
    pub lost: u32,
    /// Not acknowledged (refused, failed or unanswered): the application saw the error.
    pub unacknowledged: u32,
}

/// A phase's canary writes over time, by when each was sent: bucket `i` covers
/// `[from + i × bucket_ms, from + (i + 1) × bucket_ms)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanarySeries {
    /// When the phase's canaries started (their lead time before the fault).
    pub from: DateTime<Utc>,
    pub bucket_ms: u64,
    /// One `kept,lost,unacknowledged` triple per bucket, separated by spaces.
    #[serde(with = "canary_buckets")]
    pub buckets: Vec<CanaryBucket>,
}

#[derive(Debug, Clone, Copy)]
struct ProbeSample {
    /// Milliseconds from the start of the run.
    at_ms: u64,
    latency_micros: u32,
    ok: bool,
}

/// Every probe result of a run with its time, until they are cut into buckets.
///
/// Memory grows with the probes sent (16 bytes each: a four-hour drill probing ten
/// services every second keeps about 2.3 MB); what the record keeps is bounded.
#[derive(Debug, Clone, Default)]
pub struct ProbeRecorder {
    samples: BTreeMap<String, Vec<ProbeSample>>,
}

impl ProbeRecorder {
    /// Records one probe of `service` sent `at` after the start of the run.
    pub fn record(&mut self, service: &str, at: Duration, ok: bool, latency: Duration) {
        let sample = ProbeSample {
            at_ms: millis(at),
            latency_micros: u32::try_from(latency.as_micros()).unwrap_or(u32::MAX),
            ok,
        };
        match self.samples.get_mut(service) {
            Some(samples) => samples.push(sample),
            None => {
                self.samples.insert(service.to_string(), vec![sample]);
            }
        }
    }

    /// Each service's series, by name, from `from` (the start of the run). Every series has
    /// the same bucket width: at least twice `interval` (so a bucket normally holds two
    /// probes or more) and wide enough for at most [`MAX_PROBE_BUCKETS`] over the longest.
    pub fn series(&self, from: DateTime<Utc>, interval: Duration) -> Vec<ProbeSeries> {
        let span_ms = self
            .samples
            .values()
            .flatten()
            .map(|s| s.at_ms + 1)
            .max()
            .unwrap_or(0);
        let width = bucket_width_ms(
            span_ms,
            millis(interval).saturating_mul(2),
            MAX_PROBE_BUCKETS,
        );
        let count = usize::try_from(span_ms.div_ceil(width)).unwrap_or(0);
        self.samples
            .iter()
            .map(|(service, samples)| {
                let mut latencies: Vec<Vec<u32>> = vec![Vec::new(); count];
                let mut buckets = vec![ProbeBucket::default(); count];
                for sample in samples {
                    let index = usize::try_from(sample.at_ms / width).unwrap_or(usize::MAX);
                    let (Some(bucket), Some(latency)) =
                        (buckets.get_mut(index), latencies.get_mut(index))
                    else {
                        continue;
                    };
                    if sample.ok {
                        bucket.successes = bucket.successes.saturating_add(1);
                    } else {
                        bucket.failures = bucket.failures.saturating_add(1);
                    }
                    latency.push(sample.latency_micros);
                }
                for (bucket, latency) in buckets.iter_mut().zip(&mut latencies) {
                    bucket.p95_micros = p95(latency);
                }
                ProbeSeries {
                    service: service.clone(),
                    from,
                    bucket_ms: width,
                    buckets,
                }
            })
            .collect()
    }
}

/// Percentile 95 by nearest rank: the smallest value at least 95% of the values are not
/// above.
fn p95(values: &mut [u32]) -> Option<u32> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (values.len() * 95).div_ceil(100).max(1);
    values.get(rank - 1).copied()
}

/// A phase's canary writes in buckets from `from` (when the canaries started), given the
/// sequence numbers read back after recovery. The width is at least twice `interval` and
/// wide enough for at most [`MAX_CANARY_BUCKETS`].
pub fn canary_series(
    writes: &[CanaryWrite],
    surviving: &BTreeSet<u64>,
    from: DateTime<Utc>,
    interval: Duration,
) -> CanarySeries {
    let span_ms = writes.iter().map(|w| millis(w.at) + 1).max().unwrap_or(0);
    let width = bucket_width_ms(
        span_ms,
        millis(interval).saturating_mul(2),
        MAX_CANARY_BUCKETS,
    );
    let count = usize::try_from(span_ms.div_ceil(width)).unwrap_or(0);
    let mut buckets = vec![CanaryBucket::default(); count];
    for write in writes {
        let index = usize::try_from(millis(write.at) / width).unwrap_or(usize::MAX);
        let Some(bucket) = buckets.get_mut(index) else {
            continue;
        };
        let count = match (write.acknowledged, surviving.contains(&write.seq)) {
            (true, true) => &mut bucket.kept,
            (true, false) => &mut bucket.lost,
            (false, _) => &mut bucket.unacknowledged,
        };
        *count = count.saturating_add(1);
    }
    CanarySeries {
        from,
        bucket_ms: width,
        buckets,
    }
}

/// A bucket's three numbers in the serde form, the last optional.
type Triple = (u32, u32, Option<u32>);

/// Triples of numbers separated by spaces, the last of each optional (`2,0,1532 0,0,`).
fn write_triples<S: Serializer>(
    triples: impl Iterator<Item = Triple>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut text = String::new();
    for (i, (a, b, c)) in triples.enumerate() {
        if i > 0 {
            text.push(' ');
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{a},{b},");
        if let Some(c) = c {
            let _ = write!(text, "{c}");
        }
    }
    serializer.serialize_str(&text)
}

fn read_triples<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Triple>, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(deserializer)?;
    text.split_whitespace()
        .map(|triple| {
            let mut fields = triple.split(',');
            let mut number = |optional: bool| -> Result<Option<u32>, D::Error> {
                match fields.next() {
                    Some("") if optional => Ok(None),
                    Some(field) => field.parse().map(Some).map_err(|_| {
                        D::Error::custom(format!("`{triple}` is not a bucket (`a,b,c`)"))
                    }),
                    None => Err(D::Error::custom(format!(
                        "`{triple}` is not a bucket (`a,b,c`)"
                    ))),
                }
            };
            let a = number(false)?.unwrap_or(0);
            let b = number(false)?.unwrap_or(0);
            let c = number(true)?;
            if fields.next().is_some() {
                return Err(D::Error::custom(format!(
                    "`{triple}` is not a bucket (`a,b,c`)"
                )));
            }
            Ok((a, b, c))
        })
        .collect()
}

mod probe_buckets {
    use super::*;

    pub fn serialize<S: Serializer>(buckets: &[ProbeBucket], s: S) -> Result<S::Ok, S::Error> {
        write_triples(
            buckets
                .iter()
                .map(|b| (b.successes, b.failures, b.p95_micros)),
            s,
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ProbeBucket>, D::Error> {
        Ok(read_triples(d)?
            .into_iter()
            .map(|(successes, failures, p95_micros)| ProbeBucket {
                successes,
                failures,
                p95_micros,
            })
            .collect())
    }
}

mod canary_buckets {
    use super::*;

    pub fn serialize<S: Serializer>(buckets: &[CanaryBucket], s: S) -> Result<S::Ok, S::Error> {
        write_triples(
            buckets
                .iter()
                .map(|b| (b.kept, b.lost, Some(b.unacknowledged))),
            s,
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CanaryBucket>, D::Error> {
        Ok(read_triples(d)?
            .into_iter()
            .map(|(kept, lost, unacknowledged)| CanaryBucket {
                kept,
                lost,
                unacknowledged: unacknowledged.unwrap_or(0),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn probes_fall_into_buckets_of_twice_the_interval_with_their_own_p95() {
        let mut recorder = ProbeRecorder::default();
        // Every second for 10 s; the probes at 4 s and 5 s fail slowly.
        for second in 0..10u64 {
            let failed = second == 4 || second == 5;
            let latency = if failed { ms(1_000) } else { ms(10 + second) };
            recorder.record("web", ms(second * 1_000 + 3), !failed, latency);
        }
        let series = recorder.series(start(), Duration::from_secs(1));
        assert_eq!(series.len(), 1);
        let web = &series[0];
        assert_eq!(
            (web.service.as_str(), web.from, web.bucket_ms),
            ("web", start(), 2_000)
        );
        let counts: Vec<(u32, u32)> = web
            .buckets
            .iter()
            .map(|b| (b.successes, b.failures))
            .collect();
        assert_eq!(counts, [(2, 0), (2, 0), (0, 2), (2, 0), (2, 0)]);
        assert_eq!(web.buckets[0].p95_micros, Some(11_000));
        assert_eq!(web.buckets[2].p95_seconds(), Some(1.0));
        assert_eq!(web.buckets[2].ratio(), Some(0.0));
    }

    #[test]
    fn a_four_hour_drill_keeps_at_most_240_buckets_of_a_readable_width() {
        let mut recorder = ProbeRecorder::default();
        for second in 0..4 * 3600u64 {
            for service in ["web", "api", "db"] {
                recorder.record(service, ms(second * 1_000), true, ms(12));
            }
        }
        let series = recorder.series(start(), Duration::from_secs(1));
        for one in &series {
            assert_eq!(one.bucket_ms, 60_000);
            assert_eq!(one.buckets.len(), 240);
            assert!(one.buckets.iter().all(|b| b.successes == 60));
        }
        // Small in the stored form: a few kilobytes per service.
        let json = serde_json::to_string(&series).unwrap_or_default();
        assert!(json.len() < 3 * 4_000, "{} bytes", json.len());
    }

    #[test]
    fn every_service_shares_one_width_and_quiet_buckets_stay_empty() {
        let mut recorder = ProbeRecorder::default();
        recorder.record("web", ms(100), true, ms(5));
        recorder.record("web", ms(9_500), false, ms(2_000));
        recorder.record("api", ms(100), true, ms(7));
        let series = recorder.series(start(), Duration::from_millis(500));
        assert_eq!(series.len(), 2);
        for one in &series {
            assert_eq!(one.bucket_ms, 1_000);
            assert_eq!(one.buckets.len(), 10);
        }
        let web = series.iter().find(|s| s.service == "web").unwrap();
        assert_eq!(web.buckets[5], ProbeBucket::default());
        assert_eq!(web.buckets[5].ratio(), None);
        assert_eq!(web.buckets[9].failures, 1);
    }

    #[test]
    fn series_serialise_as_one_compact_string_and_read_back_alike() {
        let series = ProbeSeries {
            service: "web".into(),
            from: start(),
            bucket_ms: 2_000,
            buckets: vec![
                ProbeBucket {
                    successes: 2,
                    failures: 0,
                    p95_micros: Some(1_532),
                },
                ProbeBucket::default(),
                ProbeBucket {
                    successes: 1,
                    failures: 1,
                    p95_micros: Some(1_000_000),
                },
            ],
        };
        let json = serde_json::to_value(&series).unwrap();
        assert_eq!(json["buckets"], "2,0,1532 0,0, 1,1,1000000");
        let back: ProbeSeries = serde_json::from_value(json).unwrap();
        assert_eq!(back, series);
        let broken = serde_json::json!({
            "service": "web", "from": start(), "bucket_ms": 1000, "buckets": "2,0,1 x,1,"
        });
        let err = serde_json::from_value::<ProbeSeries>(broken).unwrap_err();
        assert!(err.to_string().contains("`x,1,` is not a bucket"), "{err}");
    }

    #[test]
    fn a_record_without_series_serialises_as_before_so_its_stored_hash_holds() {
        let run = crate::report::fixtures::passing_run();
        let json = serde_json::to_string(&run).unwrap();
        assert!(!json.contains("probe_series"), "{json}");
        assert!(!json.contains("canary_series"), "{json}");
        let back: crate::run::RunRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }

    #[test]
    fn canary_writes_are_counted_by_what_became_of_them() {
        // Every 100 ms for 2 s; 6..=10 acknowledged and lost, 11..=14 refused.
        let writes: Vec<CanaryWrite> = (1..=20u64)
            .map(|seq| CanaryWrite {
                seq,
                at: ms((seq - 1) * 100),
                acknowledged: !(11..=14).contains(&seq),
            })
            .collect();
        let surviving: BTreeSet<u64> = (1..=5).chain(15..=20).collect();
        let series = canary_series(&writes, &surviving, start(), ms(100));
        assert_eq!(series.bucket_ms, 200);
        assert_eq!(series.buckets.len(), 10);
        let totals = series.buckets.iter().fold((0, 0, 0), |(k, l, u), b| {
            (k + b.kept, l + b.lost, u + b.unacknowledged)
        });
        assert_eq!(totals, (11, 5, 4));
        assert_eq!(
            series.buckets[2],
            CanaryBucket {
                kept: 1,
                lost: 1,
                unacknowledged: 0
            }
        );
        let json = serde_json::to_value(&series).unwrap();
        let back: CanarySeries = serde_json::from_value(json).unwrap();
        assert_eq!(back, series);
    }
}
