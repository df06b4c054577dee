//! The one summary statistic the benchmarks share besides latency percentiles
//! ([`lma_tests::latency::Latencies`]).

/// The median of a benchmark's rounds (the upper one of an even count); NaN when there are
/// none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
