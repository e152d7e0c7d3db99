//! How far behind the kernel a live session was: from each kill (the
//! kernel's own timestamp, CLOCK_MONOTONIC) to its event leaving the
//! source. Kept in a fixed histogram, so a session of any length costs the
//! same few hundred bytes.

/// Sub-buckets per power of two: quantiles are exact to 1/8 (12.5 %).
const SUB: u32 = 8;
/// Octaves above the first 8 µs: to 2^36 µs (19 hours); longer waits
/// count in the last bucket.
const OCTAVES: u32 = 34;
const BUCKETS: usize = (OCTAVES * SUB) as usize;

/// The latencies seen so far.
#[derive(Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    n: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            n: 0,
            max_us: 0,
        }
    }
}

/// The latency summary a session's end record carries.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Events measured (those that killed, with the kernel's timestamp).
    pub events: u64,
    /// Upper bounds, to 12.5 %, of the median and the 99th percentile.
    pub median_ms: f64,
    pub p99_ms: f64,
    /// Exact.
    pub max_ms: f64,
}

fn bucket(us: u64) -> usize {
    if us < u64::from(SUB) {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // ≥ 3
    let sub = (us >> (octave - 3)) & u64::from(SUB - 1);
    (((octave - 2) * SUB) as usize + sub as usize).min(BUCKETS - 1)
}

/// The largest latency in µs that falls in bucket `b`.
fn upper_us(b: usize) -> u64 {
    let b = b as u32;
    if b < SUB {
        return u64::from(b);
    }
    let octave = b / SUB + 2;
    let sub = u64::from(b % SUB);
    ((u64::from(SUB) + sub + 1) << (octave - 3)) - 1
}

impl Histogram {
    pub fn add(&mut self, ns: u64) {
        let us = ns / 1000;
        self.counts[bucket(us)] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    fn quantile_us(&self, q: f64) -> u64 {
        let want = ((self.n as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return upper_us(b).min(self.max_us);
            }
        }
        self.max_us
    }

    /// `None` when nothing was measured.
    pub fn summary(&self) -> Option<Latency> {
        let ms = |us: u64| us as f64 / 1000.0;
        (self.n > 0).then(|| Latency {
            events: self.n,
            median_ms: ms(self.quantile_us(0.5)),
            p99_ms: ms(self.quantile_us(0.99)),
            max_ms: ms(self.max_us),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency_in_order() {
        let mut last = 0;
        for us in (0..100_000).chain([1 << 20, (1 << 34) - 1]) {
            let b = bucket(us);
            assert!(b >= last, "{us}");
            assert!(
                upper_us(b) >= us,
                "{us} in bucket {b} up to {}",
                upper_us(b)
            );
            // Within 12.5 %: the bucket's lower end is above us / 1.125.
            assert!(
                upper_us(b) as f64 <= us as f64 * 1.125 + 1.0,
                "{us}: {}",
                upper_us(b)
            );
            last = b;
        }
        assert_eq!(bucket(u64::MAX / 1000), BUCKETS - 1);
    }

    /// Each bucket's upper bound is its largest latency: one µs more is
    /// the next bucket's smallest.
    #[test]
    fn each_bucket_ends_where_the_next_begins() {
        for b in 0..BUCKETS - 1 {
            let top = upper_us(b);
            assert_eq!(bucket(top), b, "{top} µs");
            assert_eq!(bucket(top + 1), b + 1, "{} µs", top + 1);
        }
    }

    #[test]
    fn quantiles_against_the_sorted_values() {
        let values: Vec<u64> = (1..=1000u64).map(|i| (i * i * 37) % 50_000 + 100).collect();
        let mut h = Histogram::default();
        for &v in &values {
            h.add(v * 1000);
        }
        let mut sorted = values.clone();
        sorted.sort();
        let s = h.summary().unwrap();
        let exact =
            |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).max(1) - 1] as f64 / 1000.0;
        for (got, q) in [(s.median_ms, 0.5), (s.p99_ms, 0.99)] {
            assert!(
                got >= exact(q) && got <= exact(q) * 1.125 + 0.001,
                "q{q}: {got} vs {}",
                exact(q)
            );
        }
        assert_eq!(s.max_ms, *sorted.last().unwrap() as f64 / 1000.0);
        assert_eq!(s.events, 1000);
        assert_eq!(Histogram::default().summary(), None);
    }
}
