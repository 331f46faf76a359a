//! Human formatting of the figures reports show: durations, percentages, latencies.

/// `42s`, `1m 42s`, `5m`, `1h 2m 3s`; sub-second values keep one decimal (`0.4s`).
pub fn format_seconds(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return format!("{seconds}s");
    }
    if seconds < 10.0 && seconds.fract() != 0.0 {
        return format!("{seconds:.1}s");
    }
    let total = seconds.round() as u64;
    let (hours, minutes, secs) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut parts = Vec::new();
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if secs > 0 || parts.is_empty() {
        parts.push(format!("{secs}s"));
    }
    parts.join(" ")
}

/// A ratio in 0..=1 as a percentage with two decimals: `99.50%`.
pub fn format_percent(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

/// Seconds as milliseconds: `420 ms`; `n/a` when nothing was measured.
pub fn format_latency(seconds: Option<f64>) -> String {
    match seconds {
        Some(seconds) => format!("{:.0} ms", seconds * 1000.0),
        None => "n/a".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_stopwatch() {
        assert_eq!(format_seconds(42.0), "42s");
        assert_eq!(format_seconds(102.0), "1m 42s");
        assert_eq!(format_seconds(300.0), "5m");
        assert_eq!(format_seconds(3723.0), "1h 2m 3s");
        assert_eq!(format_seconds(0.4), "0.4s");
        assert_eq!(format_seconds(0.0), "0s");
    }

    #[test]
    fn percentages_and_latencies_keep_their_units() {
        assert_eq!(format_percent(0.995), "99.50%");
        assert_eq!(format_latency(Some(0.42)), "420 ms");
        assert_eq!(format_latency(None), "n/a");
    }
}
