//! The numbers behind the HTML report's charts, kept apart from drawing
//! them so they can be checked against the events: every aggregate here is
//! bounded (a session of any length is summed in fixed memory).

use crate::schema::event::{Brief, Frame, OomEvent};
use std::collections::HashMap;

/// What kind of OOM an event was, as the kernel's `constraint=` and
/// `is_sysrq_oom()` tell it; the timeline's colours and the legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Constraint {
    Memcg,
    Global,
    Cpuset,
    Mempolicy,
    /// Forced from sysrq-f (`order=-1`); the kernel kills even when nothing is short.
    Sysrq,
    Unknown,
}

impl Constraint {
    pub const ALL: [Constraint; 6] = [
        Constraint::Memcg,
        Constraint::Global,
        Constraint::Cpuset,
        Constraint::Mempolicy,
        Constraint::Sysrq,
        Constraint::Unknown,
    ];

    pub fn of(b: &Brief) -> Self {
        if b.order == Some(-1) {
            return Constraint::Sysrq;
        }
        match b.constraint.as_deref() {
            Some("CONSTRAINT_MEMCG") => Constraint::Memcg,
            Some("CONSTRAINT_NONE") => Constraint::Global,
            Some("CONSTRAINT_CPUSET") => Constraint::Cpuset,
            Some("CONSTRAINT_MEMORY_POLICY") => Constraint::Mempolicy,
            // A kernel log's memcg OOM without the summary line still names its memcg.
            _ if b.memcg.is_some() => Constraint::Memcg,
            _ => Constraint::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Constraint::Memcg => "memcg",
            Constraint::Global => "global",
            Constraint::Cpuset => "cpuset",
            Constraint::Mempolicy => "mempolicy",
            Constraint::Sysrq => "sysrq",
            Constraint::Unknown => "unknown",
        }
    }
}

/// One part of memory at an OOM, in kB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub label: &'static str,
    pub kb: u64,
}

/// Where memory was at the OOM, from the global counters and the zones'
/// managed sizes: the parts `show_free_areas()` prints, each once (shmem
/// is on the anon LRU lists, so `anon` here is without it), and `other`
/// for what the counters do not account (managed minus the parts). Empty
/// when the event has no counters.
pub fn composition(ev: &OomEvent) -> Vec<Part> {
    let Some(c) = &ev.counters else {
        return Vec::new();
    };
    let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
    // A counter the global lines lack (a kernel log prints kernel_stack
    // only per node) is the sum of the nodes'.
    let get = |name: &str| -> Option<u64> {
        let v = match c.node.get(name).or_else(|| c.zone.get(name)) {
            Some(v) => (*v).max(0) as u64,
            None => {
                let per_node: Vec<i64> = ev
                    .nodes
                    .iter()
                    .flatten()
                    .filter_map(|n| n.counters.get(name).copied())
                    .collect();
                if per_node.is_empty() {
                    return None;
                }
                per_node.iter().map(|v| (*v).max(0) as u64).sum()
            }
        };
        Some(if name.ends_with("_KB") {
            v
        } else {
            v * page_kb
        })
    };
    let sum = |names: &[&str]| -> u64 { names.iter().filter_map(|n| get(n)).sum() };
    let shmem = sum(&["NR_SHMEM"]);
    let mut parts = vec![
        Part {
            label: "anon",
            kb: sum(&["NR_ACTIVE_ANON", "NR_INACTIVE_ANON", "NR_ISOLATED_ANON"])
                .saturating_sub(shmem),
        },
        Part {
            label: "shmem",
            kb: shmem,
        },
        Part {
            label: "file",
            kb: sum(&["NR_ACTIVE_FILE", "NR_INACTIVE_FILE", "NR_ISOLATED_FILE"]),
        },
        Part {
            label: "unevictable",
            kb: sum(&["NR_UNEVICTABLE"]),
        },
        Part {
            label: "slab",
            kb: sum(&["NR_SLAB_RECLAIMABLE_B", "NR_SLAB_UNRECLAIMABLE_B"]),
        },
        Part {
            label: "page tables",
            kb: sum(&["NR_PAGETABLE", "NR_SECONDARY_PAGETABLE"]),
        },
        Part {
            label: "kernel stack",
            kb: sum(&["NR_KERNEL_STACK_KB"]),
        },
        Part {
            label: "free",
            kb: sum(&["NR_FREE_PAGES"]),
        },
    ];
    let managed: Option<u64> = ev
        .zones
        .iter()
        .flatten()
        .map(|z| z.managed_kb)
        .sum::<Option<u64>>()
        .filter(|m| *m > 0);
    if let Some(m) = managed {
        let counted: u64 = parts.iter().map(|p| p.kb).sum();
        parts.push(Part {
            label: "other",
            kb: m.saturating_sub(counted),
        });
    }
    parts
}

/// The name of a kernel frame in the flame graph: its function, or its
/// address where it has none.
pub fn frame_name(f: &Frame) -> &str {
    f.symbol.as_deref().unwrap_or(&f.addr)
}

/// Counts by a name (victim comm, cgroup, ...), with at most `cap` names:
/// later new names are counted under `other` (said by `others`).
#[derive(Clone, Debug)]
pub struct TopCounts {
    counts: HashMap<String, u64>,
    cap: usize,
    /// Events whose name came after the cap was reached.
    pub others: u64,
}

impl TopCounts {
    pub fn new(cap: usize) -> Self {
        Self {
            counts: HashMap::new(),
            cap,
            others: 0,
        }
    }

    pub fn add(&mut self, name: &str) {
        if let Some(n) = self.counts.get_mut(name) {
            *n += 1;
        } else if self.counts.len() < self.cap {
            self.counts.insert(name.to_owned(), 1);
        } else {
            self.others += 1;
        }
    }

    /// The `n` largest, largest first (ties by name), and the sum of the rest
    /// (including `others`).
    pub fn top(&self, n: usize) -> (Vec<(&str, u64)>, u64) {
        let mut all: Vec<(&str, u64)> = self.counts.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let rest = all.iter().skip(n).map(|(_, v)| v).sum::<u64>() + self.others;
        all.truncate(n);
        (all, rest)
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.others
    }
}

/// One mark on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    /// Seconds on the timeline's axis (Unix time, or since boot: see [`Axis`]).
    pub t: f64,
    pub class: Constraint,
    pub session: usize,
    pub seq: u64,
    pub label: String,
}

/// What the timeline's seconds count from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Axis {
    /// Unix time (events with a wall-clock time).
    Wall,
    /// Seconds since boot (kernel logs without wall-clock times).
    Uptime,
}

/// The OOM kills (and other marks) over time: each one while they are few,
/// then counts per constraint in `BINS` bins over the span seen, widened by
/// doubling as marks arrive outside it (fixed memory for any session).
#[derive(Clone, Debug)]
pub struct Timeline {
    pub axis: Option<Axis>,
    pub marks: Vec<Mark>,
    pub bins: Option<Bins>,
    /// Events with no time on the timeline's axis.
    pub untimed: u64,
    limit: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    pub start: f64,
    pub width: f64,
    pub counts: Vec<[u64; 6]>,
}

pub const BINS: usize = 120;

impl Bins {
    fn end(&self) -> f64 {
        self.start + self.width * self.counts.len() as f64
    }

    fn index(&self, t: f64) -> usize {
        (((t - self.start) / self.width) as usize).min(self.counts.len() - 1)
    }

    fn add(&mut self, t: f64, class: Constraint) {
        while t < self.start || t >= self.end() {
            self.widen(t < self.start);
        }
        let i = self.index(t);
        self.counts[i][class as usize] += 1;
    }

    /// Twice as wide, keeping the start (or the end, growing leftwards).
    fn widen(&mut self, leftwards: bool) {
        let n = self.counts.len();
        let mut merged = vec![[0u64; 6]; n];
        let offset = if leftwards { n / 2 } else { 0 };
        for (i, c) in self.counts.iter().enumerate() {
            let to = offset + i / 2;
            for k in 0..6 {
                merged[to][k] += c[k];
            }
        }
        if leftwards {
            self.start -= self.width * n as f64;
        }
        self.width *= 2.0;
        self.counts = merged;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }
}

impl Timeline {
    /// Marks kept one by one up to `limit`, then binned.
    pub fn new(limit: usize) -> Self {
        Self {
            axis: None,
            marks: Vec::new(),
            bins: None,
            untimed: 0,
            limit,
        }
    }

    /// The seconds of a record's wall-clock `time` or its `uptime_ns` on
    /// this timeline's axis (chosen by the first record: wall-clock when it
    /// has a readable time).
    pub fn seconds(&mut self, time: &str, uptime_ns: Option<u64>) -> Option<f64> {
        let wall = humantime::parse_rfc3339_weak(time)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        let axis = *self.axis.get_or_insert(if wall.is_some() {
            Axis::Wall
        } else {
            Axis::Uptime
        });
        match axis {
            Axis::Wall => wall,
            Axis::Uptime => uptime_ns.map(|ns| ns as f64 / 1e9),
        }
    }

    pub fn add(&mut self, t: Option<f64>, mark: impl FnOnce(f64) -> Mark) {
        let Some(t) = t.filter(|t| t.is_finite()) else {
            self.untimed += 1;
            return;
        };
        if let Some(bins) = &mut self.bins {
            bins.add(t, mark(t).class);
            return;
        }
        self.marks.push(mark(t));
        if self.marks.len() > self.limit {
            let lo = self.marks.iter().map(|m| m.t).fold(f64::INFINITY, f64::min);
            let hi = self
                .marks
                .iter()
                .map(|m| m.t)
                .fold(f64::NEG_INFINITY, f64::max);
            let mut bins = Bins {
                start: lo,
                width: ((hi - lo) / BINS as f64).max(1e-3) * 1.0001,
                counts: vec![[0; 6]; BINS],
            };
            for m in self.marks.drain(..) {
                bins.add(m.t, m.class);
            }
            self.bins = Some(bins);
        }
    }

    /// Kills on the timeline, one by one or binned.
    pub fn count(&self) -> u64 {
        self.bins
            .as_ref()
            .map_or(self.marks.len() as u64, Bins::total)
    }
}

/// One node of the merged kernel stacks: a function on a path from the
/// outermost caller.
#[derive(Clone, Debug, Default)]
pub struct StackNode {
    pub name: String,
    pub count: u64,
    pub children: Vec<usize>,
    /// (session, seq) of the OOMs through this path, the first `SEQS_PER_NODE`.
    pub seqs: Vec<(usize, u64)>,
}

pub const SEQS_PER_NODE: usize = 50;

/// All OOMs' kernel stacks merged into one tree, root outermost (an icicle:
/// callers above their callees), at most `cap` nodes; stacks that would add
/// nodes beyond it are counted in `cut`.
#[derive(Clone, Debug)]
pub struct StackTree {
    pub nodes: Vec<StackNode>,
    pub stacks: u64,
    pub cut: u64,
    cap: usize,
}

impl StackTree {
    pub fn new(cap: usize) -> Self {
        Self {
            nodes: vec![StackNode {
                name: "all".into(),
                ..StackNode::default()
            }],
            stacks: 0,
            cut: 0,
            cap,
        }
    }

    /// Adds a stack given innermost first, as events hold it.
    pub fn add(&mut self, stack: &[Frame], session: usize, seq: u64) {
        if stack.is_empty() {
            return;
        }
        let mut at = 0;
        let mut path = vec![0];
        for f in stack.iter().rev() {
            let name = frame_name(f);
            let found = self.nodes[at]
                .children
                .iter()
                .copied()
                .find(|&c| self.nodes[c].name == name);
            at = match found {
                Some(c) => c,
                None if self.nodes.len() < self.cap => {
                    self.nodes.push(StackNode {
                        name: name.to_owned(),
                        ..StackNode::default()
                    });
                    let c = self.nodes.len() - 1;
                    self.nodes[at].children.push(c);
                    c
                }
                None => {
                    self.cut += 1;
                    break;
                }
            };
            path.push(at);
        }
        self.stacks += 1;
        for i in path {
            let n = &mut self.nodes[i];
            n.count += 1;
            if n.seqs.len() < SEQS_PER_NODE {
                n.seqs.push((session, seq));
            }
        }
    }

    pub fn depth(&self) -> usize {
        fn d(t: &StackTree, i: usize) -> usize {
            1 + t.nodes[i]
                .children
                .iter()
                .map(|&c| d(t, c))
                .max()
                .unwrap_or(0)
        }
        d(self, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::kernel_log;

    fn fixture_events(name: &str) -> Vec<OomEvent> {
        let path = crate::testdata::kernel_reports_dir().join(name);
        let text = std::fs::read_to_string(path).unwrap();
        kernel_log::parse_log(&text)
            .iter()
            .enumerate()
            .map(|(i, r)| kernel_log::to_event(r, i as u64 + 1))
            .collect()
    }

    fn frame(name: &str) -> Frame {
        Frame {
            addr: "0x1".into(),
            symbol: Some(name.into()),
            offset: Some(0),
            size: Some(1),
        }
    }

    #[test]
    fn composition_is_the_printed_counters_in_kb() {
        let evs = fixture_events("6.18-global-oom.log");
        let ev = evs.iter().find(|e| e.counters.is_some()).unwrap();
        let parts = composition(ev);
        let kb = |l: &str| parts.iter().find(|p| p.label == l).unwrap().kb;
        let c = ev.counters.as_ref().unwrap();
        let page = |n: &str| (c.node.get(n).or(c.zone.get(n)).copied().unwrap_or(0) as u64) * 4;
        assert_eq!(kb("free"), page("NR_FREE_PAGES"));
        assert_eq!(
            kb("anon") + kb("shmem"),
            page("NR_ACTIVE_ANON") + page("NR_INACTIVE_ANON") + page("NR_ISOLATED_ANON")
        );
        assert_eq!(
            kb("file"),
            page("NR_ACTIVE_FILE") + page("NR_INACTIVE_FILE") + page("NR_ISOLATED_FILE")
        );
        // Printed per node only: the nodes' sum.
        assert!(!c.node.contains_key("NR_KERNEL_STACK_KB"));
        let stack: i64 = ev
            .nodes
            .iter()
            .flatten()
            .map(|n| n.counters["NR_KERNEL_STACK_KB"])
            .sum();
        assert!(stack > 0);
        assert_eq!(kb("kernel stack"), stack as u64);
        // The parts fit in the zones' managed memory, and account for all
        // but a sliver of it on this 24 GiB machine (24 MB: vmalloc, ...).
        let managed: u64 = ev
            .zones
            .iter()
            .flatten()
            .map(|z| z.managed_kb.unwrap())
            .sum();
        let counted: u64 = parts
            .iter()
            .filter(|p| p.label != "other")
            .map(|p| p.kb)
            .sum();
        assert!(counted <= managed, "{counted} > {managed}");
        assert_eq!(kb("other"), managed - counted);
        assert!(kb("other") * 200 < managed, "{parts:?}");
    }

    #[test]
    fn constraints_are_the_kernels() {
        let evs = fixture_events("6.12-qemu-sysrq-global-memcg.log");
        let classes: Vec<_> = evs.iter().map(|e| Constraint::of(&e.brief())).collect();
        assert_eq!(
            classes,
            [Constraint::Sysrq, Constraint::Global, Constraint::Memcg]
        );
    }

    /// Every `enum oom_constraint` name the kernel prints
    /// (`oom_constraint_text[]`), and the two cases without one.
    #[test]
    fn each_printed_constraint_has_its_class_and_name() {
        let brief = |constraint: Option<&str>, memcg: Option<&str>| Brief {
            constraint: constraint.map(str::to_owned),
            memcg: memcg.map(str::to_owned),
            order: Some(0),
            ..Brief::default()
        };
        for (printed, class, name) in [
            ("CONSTRAINT_NONE", Constraint::Global, "global"),
            ("CONSTRAINT_CPUSET", Constraint::Cpuset, "cpuset"),
            (
                "CONSTRAINT_MEMORY_POLICY",
                Constraint::Mempolicy,
                "mempolicy",
            ),
            ("CONSTRAINT_MEMCG", Constraint::Memcg, "memcg"),
        ] {
            assert_eq!(
                Constraint::of(&brief(Some(printed), None)),
                class,
                "{printed}"
            );
            assert_eq!(class.name(), name);
        }
        // A kernel log's memcg OOM without its summary line names its memcg.
        assert_eq!(Constraint::of(&brief(None, Some("/a"))), Constraint::Memcg);
        assert_eq!(Constraint::of(&brief(None, None)), Constraint::Unknown);
        // What the summary says wins over a memcg named elsewhere.
        assert_eq!(
            Constraint::of(&brief(Some("CONSTRAINT_NONE"), Some("/a"))),
            Constraint::Global
        );
        assert_eq!(Constraint::Sysrq.name(), "sysrq");
        assert_eq!(Constraint::Unknown.name(), "unknown");
    }

    /// Zones that say nothing of their managed size give no `other` part:
    /// it would be everything the counters do not explain, of nothing.
    #[test]
    fn no_managed_memory_no_other_part() {
        let evs = fixture_events("6.18-global-oom.log");
        let mut ev = evs.into_iter().find(|e| e.counters.is_some()).unwrap();
        assert!(composition(&ev).iter().any(|p| p.label == "other"));
        for z in ev.zones.iter_mut().flatten() {
            z.managed_kb = Some(0);
        }
        assert!(!composition(&ev).iter().any(|p| p.label == "other"));
    }

    #[test]
    fn top_counts_are_bounded_and_sum_to_all() {
        let mut t = TopCounts::new(3);
        for n in ["a", "b", "a", "c", "d", "a", "e", "b"] {
            t.add(n);
        }
        let (top, rest) = t.top(2);
        assert_eq!(top, [("a", 3), ("b", 2)]);
        assert_eq!(rest, 3);
        assert_eq!(t.total(), 8);
        assert_eq!(t.others, 2);
    }

    #[test]
    fn the_timeline_bins_beyond_its_limit_and_loses_no_kill() {
        let mut tl = Timeline::new(10);
        let mark = |c| {
            move |t| Mark {
                t,
                class: c,
                session: 0,
                seq: 0,
                label: String::new(),
            }
        };
        for i in 0..10 {
            tl.add(Some(100.0 + i as f64), mark(Constraint::Memcg));
        }
        assert!(tl.bins.is_none());
        assert_eq!(tl.count(), 10);
        tl.add(Some(105.5), mark(Constraint::Global));
        // Far right and far left of the span: widened, still counted.
        tl.add(Some(10_000.0), mark(Constraint::Global));
        tl.add(Some(-500.0), mark(Constraint::Sysrq));
        let b = tl.bins.as_ref().unwrap();
        assert_eq!(b.counts.len(), BINS);
        assert_eq!(tl.count(), 13);
        let per: Vec<u64> = (0..6)
            .map(|k| b.counts.iter().map(|c| c[k]).sum())
            .collect();
        assert_eq!(per, [10, 2, 0, 0, 1, 0]);
        assert!(b.start <= -500.0 && b.end() > 10_000.0, "{b:?}");
        // The sysrq kill sits in the first bin, the late global one in the last used.
        assert_eq!(b.counts[b.index(-500.0)][Constraint::Sysrq as usize], 1);
        assert_eq!(b.counts[b.index(10_000.0)][Constraint::Global as usize], 1);
    }

    /// Each mark in the bin its time falls in, counted by hand; widening
    /// rightwards halves the bins and keeps the start.
    #[test]
    fn a_mark_lands_in_the_bin_of_its_time() {
        let mut b = Bins {
            start: 100.0,
            width: 2.0,
            counts: vec![[0; 6]; 10],
        };
        b.add(100.0, Constraint::Memcg);
        b.add(105.9, Constraint::Global);
        b.add(119.9, Constraint::Sysrq);
        let at = |b: &Bins| -> Vec<(usize, usize)> {
            let mut v = Vec::new();
            for (i, c) in b.counts.iter().enumerate() {
                for (k, n) in c.iter().enumerate() {
                    for _ in 0..*n {
                        v.push((i, k));
                    }
                }
            }
            v
        };
        assert_eq!(at(&b), [(0, 0), (2, 1), (9, 4)]);
        // 120 is the end: the bins double to 4 s and it lands in bin 5.
        b.add(120.0, Constraint::Cpuset);
        assert_eq!((b.start, b.width), (100.0, 4.0));
        assert_eq!(at(&b), [(0, 0), (1, 1), (4, 4), (5, 2)]);
    }

    /// The first record with a readable time puts the timeline on wall
    /// time; one without, on time since boot. Either way a record without
    /// that time is untimed, and counted.
    #[test]
    fn the_first_record_chooses_the_axis() {
        let mut wall = Timeline::new(10);
        assert_eq!(wall.seconds("1970-01-01T00:01:40.5Z", Some(7)), Some(100.5));
        assert_eq!(wall.axis, Some(Axis::Wall));
        assert_eq!(wall.seconds("", Some(2_500_000_000)), None);
        let mut boot = Timeline::new(10);
        assert_eq!(boot.seconds("", Some(2_500_000_000)), Some(2.5));
        assert_eq!(boot.axis, Some(Axis::Uptime));
        assert_eq!(
            boot.seconds("1970-01-01T00:01:40Z", Some(1_000_000_000)),
            Some(1.0)
        );
        assert_eq!(boot.seconds("1970-01-01T00:01:40Z", None), None);
        let mark = |t| Mark {
            t,
            class: Constraint::Memcg,
            session: 0,
            seq: 0,
            label: String::new(),
        };
        boot.add(None, mark);
        boot.add(Some(f64::NAN), mark);
        boot.add(Some(1.0), mark);
        assert_eq!((boot.untimed, boot.count()), (2, 1));
    }

    /// Past its limit the marks become `BINS` bins over their span, from
    /// the earliest, a hair wider than span / BINS so the latest fits.
    #[test]
    fn bins_span_the_marks() {
        let mut tl = Timeline::new(3);
        for t in [130.0, 100.0, 106.0, 112.0] {
            tl.add(Some(t), |t| Mark {
                t,
                class: Constraint::Global,
                session: 0,
                seq: 0,
                label: String::new(),
            });
        }
        let b = tl.bins.as_ref().unwrap();
        assert_eq!(b.start, 100.0);
        assert_eq!(b.width, 30.0 / BINS as f64 * 1.0001);
        let used: Vec<usize> = (0..BINS).filter(|&i| b.counts[i][1] > 0).collect();
        // 6 s and 12 s into bins of 0.250025 s: just short of bins 24 and 48.
        assert_eq!(used, [0, 23, 47, BINS - 1]);
    }

    /// A node keeps the first `SEQS_PER_NODE` OOMs through it, and counts all.
    #[test]
    fn a_node_keeps_its_first_seqs() {
        let mut t = StackTree::new(100);
        for seq in 0..SEQS_PER_NODE as u64 + 5 {
            t.add(&[frame("out_of_memory")], 0, seq);
        }
        let n = &t.nodes[t.nodes[0].children[0]];
        assert_eq!(n.count, SEQS_PER_NODE as u64 + 5);
        assert_eq!(n.seqs.len(), SEQS_PER_NODE);
        assert_eq!(n.seqs.last(), Some(&(0, SEQS_PER_NODE as u64 - 1)));
    }

    #[test]
    fn stacks_merge_from_the_outermost_caller() {
        let mut t = StackTree::new(100);
        let s1 = [frame("out_of_memory"), frame("alloc"), frame("fault")];
        let s2 = [frame("out_of_memory"), frame("alloc"), frame("read")];
        t.add(&s1, 0, 1);
        t.add(&s2, 0, 2);
        t.add(&s1, 1, 1);
        assert_eq!(t.stacks, 3);
        assert_eq!(t.nodes[0].count, 3);
        let roots: Vec<(&str, u64)> = t.nodes[0]
            .children
            .iter()
            .map(|&c| (t.nodes[c].name.as_str(), t.nodes[c].count))
            .collect();
        assert_eq!(roots, [("fault", 2), ("read", 1)]);
        let fault = t.nodes[0].children[0];
        assert_eq!(t.nodes[fault].seqs, [(0, 1), (1, 1)]);
        assert_eq!(t.depth(), 4);
        // A full tree counts what it cannot hold.
        let mut small = StackTree::new(3);
        small.add(&s1, 0, 1);
        assert_eq!(small.cut, 1);
    }
}
