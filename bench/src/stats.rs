//! Quantiles (nearest rank, exact over every sample) and number formatting.

use std::time::Duration;

/// Median, p95 and max of a sample, plus its mean.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
    pub min: f64,
    pub mean: f64,
}

/// The `q` quantile (0..=1) of sorted `values` by nearest rank.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(values: &[f64]) -> Summary {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Summary {
        n: sorted.len(),
        median: quantile(&sorted, 0.5),
        p95: quantile(&sorted, 0.95),
        max: sorted.last().copied().unwrap_or(f64::NAN),
        min: sorted.first().copied().unwrap_or(f64::NAN),
        mean: sorted.iter().sum::<f64>() / sorted.len().max(1) as f64,
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `x3.4` when both are positive, else `n/a`.
pub fn ratio(ours: f64, theirs: f64) -> String {
    if ours > 0.0 && theirs > 0.0 {
        format!("x{:.1}", theirs / ours)
    } else {
        "n/a".into()
    }
}

/// Prints a section heading.
pub fn heading(title: &str) {
    println!("\n== {title} ==");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles_pick_a_sample() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.5), 50.0);
        assert_eq!(quantile(&values, 0.95), 95.0);
        assert_eq!(quantile(&values, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
    }
}
