//! Latency percentiles of a load run, shared by the load tests and `lma-bench load`.

use std::fmt;
use std::time::Duration;

/// Calls completed over a run and how long each took.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn record(&mut self, elapsed: Duration) {
        self.samples.push(elapsed);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    pub fn count(&self) -> usize {
        self.samples.len()
    }

    /// Nearest-rank percentile (`p` in 0..=1); zero when nothing was recorded.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// [`Latencies::percentile`] in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.percentile(p).as_secs_f64() * 1e3
    }

    /// Calls per second over `elapsed`.
    pub fn rate(&self, elapsed: Duration) -> f64 {
        self.samples.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

impl FromIterator<Duration> for Latencies {
    fn from_iter<I: IntoIterator<Item = Duration>>(samples: I) -> Self {
        Self {
            samples: samples.into_iter().collect(),
        }
    }
}

/// "p50 a ms, p95 b ms, p99 c ms".
impl fmt::Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |p| self.percentile_ms(p);
        write!(
            f,
            "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
            ms(0.5),
            ms(0.95),
            ms(0.99)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut latencies = Latencies::default();
        for ms in (1..=100).rev() {
            latencies.record(Duration::from_millis(ms));
        }
        assert_eq!(latencies.percentile(0.5), Duration::from_millis(50));
        assert_eq!(latencies.percentile(0.99), Duration::from_millis(99));
        assert_eq!(latencies.percentile(1.0), Duration::from_millis(100));
        assert_eq!(Latencies::default().percentile(0.5), Duration::ZERO);
    }
}
