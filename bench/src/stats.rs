//! Order statistics of evaluation times.

use std::time::Duration;

/// Median and 99th percentile (nearest rank) of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub samples: usize,
    pub median: Duration,
    pub p99: Duration,
}

/// The sample at nearest rank `ceil(q * n)` (1-based) of sorted samples.
fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    let n = sorted.len();
    // Exact for the sample counts used here; clamp for safety.
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// `None` for no samples.
pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    // The median of an even count is the mean of the two middle samples.
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    };
    Some(Summary {
        samples: n,
        median,
        p99: nearest_rank(&sorted, 0.99),
    })
}

/// Microseconds with one decimal, for tables.
pub fn micros(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99() {
        let samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_micros).collect();
        let summary = summarize(&samples).unwrap();
        assert_eq!(summary.samples, 1000);
        assert_eq!(summary.median, Duration::from_nanos(500_500));
        assert_eq!(summary.p99, Duration::from_micros(990));
        let odd = summarize(&[3, 1, 2].map(Duration::from_micros)).unwrap();
        assert_eq!(odd.median, Duration::from_micros(2));
        assert_eq!(odd.p99, Duration::from_micros(3));
        assert!(summarize(&[]).is_none());
    }
}
