//! The lead-up to an OOM: `record` and `agent` sample memory pressure
//! ([`crate::enrich::pressure`]) into a bounded ring, and each OOM event carries the
//! last seconds of it: its memory cgroup's usage and fail count, PSI, the
//! zones' free memory and the allocator's retries per second, ending with
//! the OOM itself. Meta's `below` records
//! the whole system for replay; oomtrace keeps only the minute that mattered.

use crate::enrich::pressure::{Psi, Sample};
use crate::schema::event::{LeadPoint, LeadUp, OomEvent};
use std::collections::VecDeque;

/// One sample as the ring keeps it: only the memory cgroups at half their
/// limit or more (an OOM's domain is at its limit), at most [`MEMCGS_KEPT`].
#[derive(Clone, Debug, Default)]
struct Kept {
    at_ns: u64,
    psi: Option<Psi>,
    free_kb: u64,
    memcgs: Vec<(String, u64, u64)>,
    retries: Option<Retries>,
}

/// The allocator's retries counted so far (`oom:reclaim_retry_zone`,
/// `oom:compact_retry`), as the live source tallies them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retries {
    pub reclaim: u64,
    pub compact: u64,
}

impl Retries {
    /// Per second from `then` (`then_ns`) to `self` (`now_ns`).
    fn rates(self, then: Retries, then_ns: u64, now_ns: u64) -> Option<(f64, f64)> {
        let secs = now_ns.checked_sub(then_ns).filter(|&d| d > 0)? as f64 / 1e9;
        Some((
            self.reclaim.saturating_sub(then.reclaim) as f64 / secs,
            self.compact.saturating_sub(then.compact) as f64 / secs,
        ))
    }
}

pub const MEMCGS_KEPT: usize = 64;

/// The last `keep_ns` of samples.
#[derive(Debug, Default)]
pub struct Ring {
    samples: VecDeque<Kept>,
    keep_ns: u64,
    pub interval_ms: u64,
}

impl Ring {
    pub fn new(keep_ns: u64, interval_ms: u64) -> Self {
        Self {
            samples: VecDeque::new(),
            keep_ns,
            interval_ms,
        }
    }

    /// Keeps a sample and the retries counted by then (`None` without the
    /// live source).
    pub fn push(&mut self, s: &Sample, retries: Option<Retries>) {
        let mut memcgs: Vec<(String, u64, u64)> = s
            .memcgs
            .iter()
            .filter(|m| m.limit_kb.is_some_and(|l| l > 0 && m.usage_kb * 2 >= l))
            .map(|m| (m.path.clone(), m.usage_kb, m.failcnt))
            .collect();
        memcgs.sort_by_key(|m| std::cmp::Reverse(m.1));
        memcgs.truncate(MEMCGS_KEPT);
        self.samples.push_back(Kept {
            at_ns: s.at_ns,
            psi: s.psi,
            free_kb: s.zones.iter().map(|z| z.free_kb).sum(),
            memcgs,
            retries,
        });
        while self
            .samples
            .front()
            .is_some_and(|f| f.at_ns + self.keep_ns < s.at_ns)
        {
            self.samples.pop_front();
        }
    }

    /// No retry count is known after all (the source cannot count them).
    pub fn forget_retries(&mut self) {
        for k in &mut self.samples {
            k.retries = None;
        }
    }

    /// The lead-up to `ev` (by its CLOCK_MONOTONIC time), ending with the
    /// OOM's own values (its retry rate from `retries`, counted by the time
    /// the event is whole, since the newest sample at least half an
    /// interval before it); `None` with nothing sampled before it.
    pub fn lead_up(&self, ev: &OomEvent, retries: Option<Retries>) -> Option<LeadUp> {
        let at = ev.uptime_ns;
        let memcg = ev.memcg.as_deref();
        let kept: Vec<&Kept> = self
            .samples
            .iter()
            .filter(|k| k.at_ns <= at && k.at_ns + self.keep_ns >= at)
            .collect();
        if kept.is_empty() {
            return None;
        }
        // Each point's retry rate since the point before.
        let rate = |prev: Option<&Kept>, now: Option<Retries>, now_ns: u64| {
            let prev = prev?;
            now?.rates(prev.retries?, prev.at_ns, now_ns)
        };
        let mut points: Vec<LeadPoint> = kept
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let m = memcg.and_then(|p| k.memcgs.iter().find(|m| m.0 == p));
                let r = rate(i.checked_sub(1).map(|p| kept[p]), k.retries, k.at_ns);
                LeadPoint {
                    ms_before: (at - k.at_ns) / 1_000_000,
                    memcg_usage_kb: m.map(|m| m.1),
                    memcg_failcnt: m.map(|m| m.2),
                    psi_some_avg10: k.psi.map(|p| p.some.avg10),
                    psi_full_avg10: k.psi.and_then(|p| p.full.map(|f| f.avg10)),
                    free_kb: Some(k.free_kb),
                    reclaim_retries_per_s: r.map(|r| r.0),
                    compact_retries_per_s: r.map(|r| r.1),
                }
            })
            .collect();
        // The OOM's own rate is taken over half an interval at least: a
        // sample taken between the allocator's last retry and its OOM (a
        // reclaim round can lie between them) would otherwise say 0 for a
        // burst of retries just before it.
        let half = self.interval_ms * 500_000;
        let base = kept
            .iter()
            .rev()
            .find(|k| k.at_ns + half <= at)
            .unwrap_or(&kept[0]);
        let r = rate(Some(base), retries, at);
        let free: Option<u64> = ev
            .zones
            .as_ref()
            .map(|z| z.iter().filter_map(|z| z.free_kb).sum());
        points.push(LeadPoint {
            ms_before: 0,
            memcg_usage_kb: ev.memcg_memory.as_ref().map(|m| m.usage_kb),
            memcg_failcnt: ev.memcg_memory.as_ref().map(|m| m.failcnt),
            psi_some_avg10: None,
            psi_full_avg10: None,
            free_kb: free,
            reclaim_retries_per_s: r.map(|r| r.0),
            compact_retries_per_s: r.map(|r| r.1),
        });
        Some(LeadUp {
            interval_ms: self.interval_ms,
            points,
        })
    }
}

impl LeadPoint {
    /// Both kinds of the allocator's retries, per second.
    pub fn retries_per_s(&self) -> Option<f64> {
        match (self.reclaim_retries_per_s, self.compact_retries_per_s) {
            (None, None) => None,
            (r, c) => Some(r.unwrap_or(0.0) + c.unwrap_or(0.0)),
        }
    }
}

impl LeadUp {
    /// The report's line: each series from its first value to its last.
    pub fn line(&self) -> Option<String> {
        let first_ms = self.points.first()?.ms_before;
        let span = |f: fn(&LeadPoint) -> Option<f64>| -> Option<(f64, f64)> {
            let vals: Vec<f64> = self.points.iter().filter_map(f).collect();
            Some((*vals.first()?, *vals.last()?))
        };
        let mib = |k: f64| k / 1024.0;
        let mut parts = Vec::new();
        if let Some((a, b)) = span(|p| p.memcg_usage_kb.map(|k| k as f64)) {
            parts.push(format!("usage {:.1} → {:.1} MiB", mib(a), mib(b)));
        }
        if let Some((a, b)) = span(|p| p.memcg_failcnt.map(|k| k as f64)) {
            parts.push(format!("failcnt {a:.0} → {b:.0}"));
        }
        if let Some((a, b)) = span(|p| p.psi_some_avg10) {
            parts.push(format!("PSI some {a:.0} → {b:.0} %"));
        }
        if let Some((a, b)) = span(|p| p.psi_full_avg10) {
            parts.push(format!("full {a:.0} → {b:.0} %"));
        }
        if let Some((a, b)) = span(|p| p.free_kb.map(|k| k as f64)) {
            parts.push(format!("free {:.0} → {:.0} MiB", mib(a), mib(b)));
        }
        if let Some((a, b)) = span(LeadPoint::retries_per_s) {
            parts.push(format!("allocator retries {a:.0} → {b:.0}/s"));
        }
        Some(format!(
            "oomtrace: lead-up over {:.0} s: {}",
            first_ms as f64 / 1000.0,
            parts.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::pressure::{MemcgNow, ZoneNow};
    use crate::schema::event::MemcgMemory;

    fn sample(at_s: u64, usage_kb: u64) -> Sample {
        Sample {
            at_ns: at_s * 1_000_000_000,
            zones: vec![ZoneNow {
                free_kb: 1000 - at_s,
                ..ZoneNow::default()
            }],
            memcgs: vec![
                MemcgNow {
                    path: "/hog".into(),
                    usage_kb,
                    limit_kb: Some(24_576),
                    failcnt: 0,
                },
                // Far from its limit: not kept.
                MemcgNow {
                    path: "/idle".into(),
                    usage_kb: 10,
                    limit_kb: Some(24_576),
                    failcnt: 0,
                },
            ],
            ..Sample::default()
        }
    }

    #[test]
    fn the_lead_up_is_the_last_seconds_and_ends_at_the_oom() {
        let mut r = Ring::new(5_000_000_000, 1000);
        // The allocator retries 10 times a second, then 110 in the last
        // half second.
        let retries = |reclaim, compact| Some(Retries { reclaim, compact });
        for s in 0..10 {
            r.push(&sample(s, 12_288 + s * 1024), retries(10 * s, 0));
        }
        // Older than 5 s before the newest sample: gone.
        assert_eq!(r.samples.len(), 6);
        assert!(r.samples.iter().all(|k| k.memcgs.len() == 1));
        let ev = OomEvent {
            uptime_ns: 9_500_000_000,
            memcg: Some("/hog".into()),
            memcg_memory: Some(MemcgMemory {
                usage_kb: 24_576,
                limit_kb: 24_576,
                failcnt: 7,
            }),
            ..OomEvent::default()
        };
        let l = r.lead_up(&ev, retries(145, 3)).unwrap();
        let usage: Vec<u64> = l.points.iter().filter_map(|p| p.memcg_usage_kb).collect();
        assert_eq!(usage, [17_408, 18_432, 19_456, 20_480, 21_504, 24_576]);
        let reclaim: Vec<Option<f64>> = l.points.iter().map(|p| p.reclaim_retries_per_s).collect();
        let ten = Some(10.0);
        assert_eq!(reclaim, [None, ten, ten, ten, ten, Some(110.0)]);
        assert_eq!(l.points.last().unwrap().compact_retries_per_s, Some(6.0));
        assert_eq!(l.points.first().unwrap().ms_before, 4500);
        assert_eq!(l.points.last().unwrap().ms_before, 0);
        assert_eq!(
            l.line().unwrap(),
            "oomtrace: lead-up over 4 s: usage 17.0 → 24.0 MiB, failcnt 0 → 7, free 1 → 1 MiB, \
             allocator retries 10 → 116/s"
        );
        // Without the live source's counts: no rate, nothing said of it.
        let mut quiet = Ring::new(5_000_000_000, 1000);
        for s in 0..10 {
            quiet.push(&sample(s, 12_288 + s * 1024), None);
        }
        let l = quiet.lead_up(&ev, None).unwrap();
        assert!(l.points.iter().all(|p| p.reclaim_retries_per_s.is_none()));
        assert!(!l.line().unwrap().contains("retries"));
        // Nothing sampled before an OOM: no lead-up.
        let early = OomEvent {
            uptime_ns: 1,
            ..OomEvent::default()
        };
        assert_eq!(Ring::new(5_000_000_000, 1000).lead_up(&early, None), None);
    }

    /// No rate over no time; a memory cgroup without a limit (0: none
    /// set, as cgroup v1 reads an unlimited one here) is never near it.
    #[test]
    fn no_rate_over_no_time_and_no_limit_is_never_near() {
        let r = Retries {
            reclaim: 5,
            compact: 1,
        };
        assert_eq!(r.rates(Retries::default(), 7, 7), None);
        assert_eq!(r.rates(Retries::default(), 8, 7), None);
        assert_eq!(
            r.rates(Retries::default(), 0, 500_000_000),
            Some((10.0, 2.0))
        );
        let mut ring = Ring::new(5_000_000_000, 1000);
        let mut s = sample(1, 20_000);
        s.memcgs.push(MemcgNow {
            path: "/unlimited".into(),
            usage_kb: 100,
            limit_kb: Some(0),
            failcnt: 0,
        });
        ring.push(&s, None);
        let kept: Vec<&str> = ring.samples[0]
            .memcgs
            .iter()
            .map(|m| m.0.as_str())
            .collect();
        assert_eq!(kept, ["/hog"]);
    }

    /// The allocator's last retries came just before a sample that came
    /// just before its OOM (76 ms, as on a 7.2 VM): the OOM's rate still
    /// counts them, over the half second at least that ends at the OOM.
    #[test]
    fn retries_just_before_a_late_sample_still_count_at_the_oom() {
        let mut r = Ring::new(5_000_000_000, 1000);
        let retries = |reclaim| {
            Some(Retries {
                reclaim,
                compact: 0,
            })
        };
        r.push(&sample(1, 20_000), retries(0));
        r.push(&sample(2, 20_000), retries(0));
        let mut late = sample(3, 20_000);
        late.at_ns -= 76_000_000;
        // 16 retries, all counted by the late sample.
        r.push(&late, retries(16));
        let ev = OomEvent {
            uptime_ns: 3_000_000_000,
            ..OomEvent::default()
        };
        let l = r.lead_up(&ev, retries(16)).unwrap();
        let rates: Vec<Option<f64>> = l.points.iter().map(|p| p.reclaim_retries_per_s).collect();
        // From the sample at 2 s: 16 over 1 s.
        assert_eq!(rates, [None, Some(0.0), Some(16.0 / 0.924), Some(16.0)]);
        // Exactly half an interval before is far enough.
        let ev = OomEvent {
            uptime_ns: 2_500_000_000,
            ..OomEvent::default()
        };
        let l = r.lead_up(&ev, retries(8)).unwrap();
        assert_eq!(l.points.last().unwrap().reclaim_retries_per_s, Some(16.0));
        // Nothing that far before: the oldest sample is the base.
        let ev = OomEvent {
            uptime_ns: 1_100_000_000,
            ..OomEvent::default()
        };
        let l = r.lead_up(&ev, retries(1)).unwrap();
        assert_eq!(l.points.last().unwrap().reclaim_retries_per_s, Some(10.0));
    }

    /// Retries counted, then a source that cannot count them after all:
    /// no rate is said.
    #[test]
    fn forgotten_retries_give_no_rate() {
        let mut r = Ring::new(5_000_000_000, 1000);
        for s in 0..4 {
            r.push(
                &sample(s, 20_000),
                Some(Retries {
                    reclaim: 10 * s,
                    compact: 0,
                }),
            );
        }
        let ev = OomEvent {
            uptime_ns: 3_500_000_000,
            memcg: Some("/hog".into()),
            ..OomEvent::default()
        };
        let rates = |r: &Ring| -> Vec<Option<f64>> {
            let l = r.lead_up(&ev, None).unwrap();
            l.points.iter().map(|p| p.reclaim_retries_per_s).collect()
        };
        assert!(rates(&r).contains(&Some(10.0)));
        r.forget_retries();
        assert!(rates(&r).iter().all(Option::is_none));
    }
}
