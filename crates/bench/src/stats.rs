//! Latency percentiles and throughput.

use std::time::Duration;

/// The outcome of one measured phase.
#[derive(Debug, Clone, Default)]
pub struct Lat {
    /// Successful requests.
    pub n: usize,
    /// Failed requests (transport error or unexpected status).
    pub errors: usize,
    /// Wall time of the phase.
    pub elapsed: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Size of a response body, bytes.
    pub body: usize,
    /// CPU time the server and this client used during the phase.
    pub server_cpu: Duration,
    pub client_cpu: Duration,
}

/// The quantile `per_mille`/1000 (nearest rank) of sorted samples.
fn rank(sorted: &[u64], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = (sorted.len() * per_mille)
        .div_ceil(1000)
        .clamp(1, sorted.len())
        - 1;
    Duration::from_nanos(sorted[i])
}

impl Lat {
    /// From latencies in nanoseconds.
    pub fn from_samples(mut nanos: Vec<u64>, errors: usize, elapsed: Duration, body: usize) -> Lat {
        nanos.sort_unstable();
        Lat {
            n: nanos.len(),
            errors,
            elapsed,
            p50: rank(&nanos, 500),
            p90: rank(&nanos, 900),
            p99: rank(&nanos, 990),
            max: nanos
                .last()
                .map(|n| Duration::from_nanos(*n))
                .unwrap_or_default(),
            body,
            server_cpu: Duration::ZERO,
            client_cpu: Duration::ZERO,
        }
    }

    /// CPU microseconds per successful request: (server, client).
    pub fn cpu_per_req(&self) -> (f64, f64) {
        let n = self.n.max(1) as f64;
        (
            self.server_cpu.as_secs_f64() * 1e6 / n,
            self.client_cpu.as_secs_f64() * 1e6 / n,
        )
    }

    pub fn per_sec(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.n as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// One line: count, rate and percentiles.
    pub fn line(&self) -> String {
        format!(
            "{:>7} ok {:>3} err in {:>6.2} s  {:>7.0} req/s  p50 {}  p90 {}  p99 {}  max {}  ({} B/resp; CPU/req: server {:.0} us, client {:.0} us)",
            self.n,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.per_sec(),
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            self.body,
            self.cpu_per_req().0,
            self.cpu_per_req().1,
        )
    }
}

/// A duration in milliseconds, 3 decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let l = Lat::from_samples((1..=100).rev().collect(), 0, Duration::from_secs(1), 0);
        assert_eq!(
            (
                l.p50.as_nanos(),
                l.p90.as_nanos(),
                l.p99.as_nanos(),
                l.max.as_nanos()
            ),
            (50, 90, 99, 100)
        );
        assert_eq!(l.per_sec(), 100.0);
        assert_eq!(
            Lat::from_samples(vec![], 0, Duration::ZERO, 0).p50,
            Duration::ZERO
        );
    }
}
