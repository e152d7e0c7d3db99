//! The lead-up to each OOM: memory pressure sampled every second, with the
//! allocator's retries the live source counted.

use oomtrace_core::pipeline::Enricher;
use oomtrace_core::schema::event::OomEvent;

/// `record --lead-up D` and `agent`: a thread samples memory pressure every
/// second ([`oomtrace_core::enrich::pressure::sample`]) into a ring of the last `D`,
/// with the allocator's retries the live source has counted by then (its
/// progress items); each event gets the samples before it
/// ([`oomtrace_core::enrich::leadup::Ring`]).
pub struct LeadUps {
    ring: std::sync::Arc<std::sync::Mutex<oomtrace_core::enrich::leadup::Ring>>,
    retries: std::sync::Arc<std::sync::Mutex<Option<Retries>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

use oomtrace_core::enrich::leadup::Retries;

/// How often the lead-up is sampled.
pub const LEAD_UP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl LeadUps {
    /// Starts sampling; `None` for a zero duration (no lead-up).
    pub fn start(keep: std::time::Duration) -> Option<Self> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        if keep.is_zero() {
            return None;
        }
        let ring = Arc::new(Mutex::new(oomtrace_core::enrich::leadup::Ring::new(
            keep.as_nanos() as u64,
            LEAD_UP_INTERVAL.as_millis() as u64,
        )));
        let stop = Arc::new(AtomicBool::new(false));
        // Counted from oomtrace's start: none yet (the live source, which
        // starts next, says otherwise if it cannot count them).
        let retries = Arc::new(Mutex::new(Some(Retries::default())));
        let (r, s, counted) = (ring.clone(), stop.clone(), retries.clone());
        let spawned = std::thread::Builder::new()
            .name("lead-up".into())
            .spawn(move || {
                let page_shift = crate::plan::host::page_shift();
                let root = crate::plan::host::memcg_root();
                while !s.load(Ordering::Relaxed) {
                    // The count before the sample: a sample that stalls
                    // (its reads can wait in reclaim on a machine near its
                    // OOM) must not carry retries counted after its time,
                    // or the OOM's rate would miss them.
                    let retries = *counted.lock().unwrap_or_else(|e| e.into_inner());
                    let sample =
                        oomtrace_core::enrich::pressure::sample(page_shift, root.as_deref());
                    // The ring's lock first, then the count's (as
                    // `without_retries` takes them); a count forgotten
                    // meanwhile stays forgotten.
                    let mut ring = r.lock().unwrap_or_else(|e| e.into_inner());
                    let known = counted.lock().unwrap_or_else(|e| e.into_inner()).is_some();
                    ring.push(&sample, retries.filter(|_| known));
                    drop(ring);
                    std::thread::sleep(LEAD_UP_INTERVAL);
                }
            });
        if let Err(e) = spawned {
            eprintln!("oomtrace: no lead-up (cannot start its sampler: {e})");
            return None;
        }
        Some(Self {
            ring,
            retries,
            stop,
        })
    }
}

impl LeadUps {
    /// The source cannot count the allocator's retries: the lead-up says
    /// nothing of them rather than a rate of 0.
    pub fn without_retries(&mut self) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        *self.retries.lock().unwrap_or_else(|e| e.into_inner()) = None;
        ring.forget_retries();
    }
}

impl Drop for LeadUps {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Enricher for LeadUps {
    fn enrich(&mut self, ev: &mut OomEvent) {
        let retries = *self.retries.lock().unwrap_or_else(|e| e.into_inner());
        ev.lead_up = self
            .ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lead_up(ev, retries);
    }

    fn progress(&mut self, p: &oomtrace_core::schema::item::Progress) {
        let mut r = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_some() {
            *r = Some(Retries {
                reclaim: p.reclaim_retries,
                compact: p.compact_retries,
            });
        }
    }
}
