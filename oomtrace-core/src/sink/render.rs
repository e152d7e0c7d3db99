//! Text that reads like the kernel's own OOM report (`dump_header`,
//! `dump_oom_summary`, `__oom_kill_process`), so people who read OOM reports
//! read oomtrace without learning anything new.

use crate::kernel::arch::Arch;
use crate::kernel::show_mem::{
    MEM_INFO, NODE_LINE, NODE_LINE_AFTER, PRINTED_AS_ZERO_WHEN_GONE, SPACED_BEFORE_6_6, ZONE_LINE,
    ZONE_LINE_TAIL, pages_per_unit,
};
use crate::schema::event::{CounterMap, Frame, MemoryAt, OomEvent, ReaperEvent, Source, Zone};
use std::fmt::Write as _;

/// What the text adds beyond the kernel's report, and for which machine.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The full `vm_node_stat` / `vm_zone_stat` table (index, name, value).
    pub counters: bool,
    /// The architecture whose kernel's report the text follows.
    pub arch: Arch,
    /// The kernel release (major, minor) whose report format the text
    /// follows where formats changed; `None`: the newest.
    pub kernel: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            counters: false,
            arch: Arch::this(),
            kernel: None,
        }
    }
}

impl Options {
    /// The report reads like the traced machine's kernel's.
    pub fn for_session(&mut self, h: &crate::schema::event::Header) {
        if let Some(arch) = Arch::from_machine(&h.arch) {
            self.arch = arch;
        }
        self.kernel = crate::kernel::gfp::parse_release(&h.kernel);
    }

    /// `shmem_thp: 0kB` with a space, as kernels before 6.6 print it.
    fn spaced_thp(&self) -> bool {
        self.kernel.is_some_and(|k| k < (6, 6))
    }
}

/// A value, or `?` where it is unknown, written in place.
struct OrQ<'a, T>(&'a Option<T>);

impl<T: std::fmt::Display> std::fmt::Display for OrQ<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("?"),
        }
    }
}

fn or_q<T: std::fmt::Display>(v: &Option<T>) -> OrQ<'_, T> {
    OrQ(v)
}

fn frame(f: &Frame) -> String {
    match (&f.symbol, f.offset, f.size) {
        (Some(s), Some(o), Some(z)) => format!("{s}+{o:#x}/{z:#x}"),
        _ => f.addr.to_string(),
    }
}

fn timestamp(uptime_ns: u64) -> String {
    format!(
        "[{:5}.{:06}]",
        uptime_ns / 1_000_000_000,
        (uptime_ns % 1_000_000_000) / 1000
    )
}

/// One step of the OOM reaper, as a log line of its own.
pub fn reaper_line(r: &ReaperEvent) -> String {
    let what = r.step.describe();
    let after = r
        .since_kill_ns
        .map(|ns| format!(", {:.1} ms after the kill", ns as f64 / 1e6))
        .unwrap_or_default();
    let oom = if r.seq == 0 {
        String::new()
    } else {
        format!(" (OOM #{})", r.seq)
    };
    format!(
        "{} oom_reaper: {what} process {}{oom}{after}",
        timestamp(r.uptime_ns),
        r.pid
    )
}

/// The kernel-style report of one event; every line carries the kernel
/// log's `[seconds.micros]` timestamp so it lines up with `dmesg`.
pub fn text(ev: &OomEvent) -> String {
    text_with(ev, Options::default())
}

pub fn text_with(ev: &OomEvent, opts: Options) -> String {
    let mut out = String::with_capacity(8192);
    text_into(&mut out, ev, opts);
    out
}

/// The same, appended to `out` (a sink keeps one buffer for every event).
pub fn text_into(out: &mut String, ev: &OomEvent, opts: Options) {
    let ts = timestamp(ev.uptime_ns);
    // Each line written in place, its parts straight into the report: a
    // string per line was a fifth of a text report's time.
    // `line!(...)`: a line of the report, after the kernel's timestamp.
    macro_rules! line {
        ($($arg:tt)*) => {{
            out.push_str(&ts);
            out.push(' ');
            let _ = out.write_fmt(format_args!($($arg)*));
            out.push('\n');
        }};
    }
    let duration = ev
        .duration_ns
        .map(|d| format!(", killed {} µs after out_of_memory began", d / 1000))
        .unwrap_or_default();
    let at = if ev.time.is_empty() {
        String::new()
    } else {
        format!(" at {}", ev.time)
    };
    line!(
        "oomtrace: OOM #{}{at} (seen by {}{duration})",
        ev.seq,
        ev.source.name()
    );
    let t = &ev.trigger;
    let gfp = match (ev.gfp_mask, &ev.gfp_flags) {
        (Some(m), Some(f)) => format!("{m:#x}({f})"),
        _ => "?".to_owned(),
    };
    line!(
        "{} invoked oom-killer: gfp_mask={gfp}, order={}, oom_score_adj={}",
        or_q(&t.comm),
        or_q(&ev.order),
        or_q(&t.oom_score_adj)
    );
    line!(
        "CPU: {} UID: {} PID: {} Comm: {}",
        or_q(&t.cpu),
        or_q(&t.uid),
        or_q(&t.tid.or(t.pid)),
        or_q(&t.comm)
    );
    if !ev.unavailable.is_empty() {
        let why = match ev.source {
            Source::Tracepoint => "not available without kprobes",
            Source::KernelLog => "not in the kernel's log",
            Source::Kprobe => "not available (a hook is missing)",
        };
        line!("({why}: {})", ev.unavailable.join(", "));
    }
    for note in &ev.notes {
        line!("(oomtrace: {note})");
    }
    if !ev.stack.is_empty() {
        line!("{}", opts.arch.stack_header);
        for f in &ev.stack {
            line!(" => {}", frame(f));
        }
    }
    if let Some(frames) = ev.user_stack.as_ref().filter(|f| !f.is_empty()) {
        line!("User stack:");
        for f in frames {
            let mut s = match (&f.symbol, f.symbol_offset) {
                (Some(sym), Some(off)) => format!(" => {sym}+{off:#x}"),
                _ => format!(" => {}", f.addr),
            };
            if let (Some(file), Some(l)) = (&f.file, f.line) {
                let name = file.rsplit('/').next().unwrap_or(file);
                let _ = write!(s, " ({name}:{l})");
            }
            if let (Some(m), Some(off)) = (&f.mapping, f.offset) {
                let _ = write!(s, " [{m}+{off:#x}]");
            }
            if f.reliable == Some(false) {
                s.push_str(" (unreliable)");
            }
            line!("{s}");
        }
    }
    if let Some(stack) = &ev.show_free_areas_stack {
        line!(
            "{} at show_free_areas:",
            opts.arch.stack_header.trim_end_matches(':')
        );
        for f in stack {
            line!(" => {}", frame(f));
        }
    }
    // The allocator's last attempts, per tracepoint: how many, over how
    // long, and the last one's fields (all of them are in the JSON).
    for name in ["reclaim_retry_zone", "compact_retry"] {
        let tries: Vec<_> = ev
            .allocator_retries
            .iter()
            .filter(|r| r.event == name)
            .collect();
        let (Some(first), Some(last)) = (tries.first(), tries.last()) else {
            continue;
        };
        let fields: Vec<String> = last
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let before = |ns: u64| ev.uptime_ns.saturating_sub(ns) as f64 / 1e6;
        line!(
            "{name}: {} in the {:.1} ms before; last ({:.1} ms before): {}",
            tries.len(),
            before(first.uptime_ns),
            before(last.uptime_ns),
            fields.join(" ")
        );
    }
    // Lines made whole elsewhere go in as they are, not through formatting.
    memory_lines(ev, &opts, &mut |l| {
        out.push_str(&ts);
        out.push(' ');
        out.push_str(l);
        out.push('\n');
    });
    if let Some(l) = ev.lead_up.as_ref().and_then(|l| l.line()) {
        line!("{l}");
    }
    if opts.counters {
        for l in counter_table(ev) {
            line!("{l}");
        }
    }
    let v = ev.victim.as_ref();
    if let Some(v) = v {
        let mut summary = format!(
            "oom-kill:constraint={},nodemask={},",
            or_q(&ev.constraint),
            or_q(&ev.nodemask)
        );
        if let Some(c) = &ev.cpuset {
            let _ = write!(summary, "cpuset={c},");
        }
        if let Some(m) = &ev.mems_allowed {
            let _ = write!(summary, "mems_allowed={m},");
        }
        match &ev.memcg {
            Some(m) => {
                let _ = write!(summary, "oom_memcg={m},");
            }
            None if ev.constraint.is_some()
                && ev.constraint.as_deref() != Some("CONSTRAINT_MEMCG") =>
            {
                summary.push_str("global_oom,")
            }
            None => {}
        }
        let _ = write!(
            summary,
            "task_memcg={},task={},pid={},uid={}",
            or_q(&v.cgroup),
            or_q(&v.comm),
            or_q(&v.pid),
            or_q(&v.uid)
        );
        line!("{summary}");
        let killed = format!(
            "{}: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, UID:{} pgtables:{}kB oom_score_adj:{}",
            ev.message.as_deref().unwrap_or("Out of memory (?)"),
            or_q(&v.pid),
            or_q(&v.comm),
            or_q(&v.total_vm_kb),
            or_q(&v.anon_rss_kb),
            or_q(&v.file_rss_kb),
            or_q(&v.shmem_rss_kb),
            or_q(&v.uid),
            or_q(&v.pgtables_kb),
            or_q(&v.oom_score_adj)
        );
        line!("{killed}");
        if let Some(p) = v.points {
            line!(
                "oomtrace: victim's badness {p} of {} pages",
                or_q(&ev.totalpages)
            );
        }
        if let Some(w) = &v.workload {
            let image = w
                .image
                .as_ref()
                .map(|i| format!(", image {i}"))
                .unwrap_or_default();
            line!("oomtrace: victim's workload: {}{image}", w.label());
        }
    } else if ev.killed == Some(false) {
        line!("oomtrace: no task was killed (nothing eligible)");
    }
    for other in &ev.also_killed {
        line!(
            "oomtrace: also killed {} ({}) in the same OOM",
            or_q(&other.pid),
            or_q(&other.comm)
        );
    }
}

/// Counter `name` of `m`. A session's events come from one kernel, whose
/// maps share their names ([`CounterMap::names_id`]): where `name` was
/// last found in a map with these names is tried first, and a hit costs
/// one comparison instead of hashing the name (lookups were a fifth of a
/// text report's time). A miss looks it up and remembers where it was.
fn counter(m: &CounterMap, name: &str) -> Option<i64> {
    use std::cell::RefCell;
    const SLOTS: usize = 1024;
    thread_local! {
        /// (name's address, map's names, index), by a hash of the first two.
        static WHERE: RefCell<Vec<(usize, usize, usize)>> =
            RefCell::new(vec![(0, 0, 0); SLOTS]);
    }
    let key = (name.as_ptr() as usize, m.names_id());
    let slot = ((key.0 >> 3) ^ (key.1 >> 4).wrapping_mul(0x9e37_79b9)) % SLOTS;
    WHERE.with_borrow_mut(|w| {
        let (addr, len, index) = w[slot];
        if (addr, len) == key
            && let Some((k, v)) = m.get_index(index)
            && k.as_str() == name
        {
            return Some(*v);
        }
        let (index, _, v) = m.get_full(name)?;
        w[slot] = (key.0, key.1, index);
        Some(*v)
    })
}

/// An integer in decimal, without going through `fmt` (a report writes
/// some 150 an event).
fn push_int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// `label:value` pairs of a report line, for the counters this kernel has
/// (counters come and go between kernels: a missing one is left out); each
/// counter looked up in `maps` in turn.
fn pairs(
    out: &mut String,
    maps: &[&CounterMap],
    items: &[(&str, &str)],
    to_kb: Option<u64>,
    sep: &str,
) -> bool {
    pairs_spaced(out, maps, items, to_kb, sep, &[], None)
}

/// The same, with `label: value` for the labels in `spaced`. Appended to
/// `out`; whether any pair was.
fn pairs_spaced(
    out: &mut String,
    maps: &[&CounterMap],
    items: &[(&str, &str)],
    to_kb: Option<u64>,
    sep: &str,
    spaced: &[&str],
    kernel: Option<(u32, u32)>,
) -> bool {
    let mut any = false;
    for (label, name) in items {
        let Some(v) = maps
            .iter()
            .find_map(|m| counter(m, name))
            .or_else(|| PRINTED_AS_ZERO_WHEN_GONE.contains(name).then_some(0))
        else {
            continue;
        };
        if any {
            out.push_str(sep);
        }
        any = true;
        out.push_str(label);
        out.push_str(if spaced.contains(label) { ": " } else { ":" });
        match to_kb {
            // Counters named *_KB already are.
            Some(_) if name.ends_with("_KB") => {
                push_int(out, v);
                out.push_str("kB");
            }
            Some(k) => {
                push_int(out, v.max(0) as u64 * pages_per_unit(name, kernel, k) * k);
                out.push_str("kB");
            }
            None => push_int(out, v),
        }
    }
    any
}

/// `Mem-Info:` as `show_free_areas()` prints it, and the memory cgroup's
/// `memory: usage` line for memcg OOMs; each line handed to `line`, built
/// in one buffer.
fn memory_lines(ev: &OomEvent, opts: &Options, line: &mut dyn FnMut(&str)) {
    let mut buf = String::with_capacity(512);
    if let Some(m) = &ev.memcg_memory {
        let _ = write!(
            buf,
            "memory: usage {}kB, limit {}kB, failcnt {}",
            m.usage_kb, m.limit_kb, m.failcnt
        );
        line(&buf);
    }
    if ev.counters.is_none() && ev.zones.is_none() {
        return;
    }
    let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
    let empty = crate::schema::event::Counters::default();
    let c = ev.counters.as_ref().unwrap_or(&empty);
    if ev.counters.is_some() {
        buf.clear();
        match &ev.memory_read {
            Some(r) if r.at != MemoryAt::Printed => {
                let _ = write!(
                    buf,
                    "Mem-Info: (read in the kernel at {}, via {})",
                    r.at.name(),
                    r.path.name()
                );
            }
            _ => buf.push_str("Mem-Info:"),
        }
        line(&buf);
    }
    // Zone counters first, as when the two were one map with the zone's added last.
    let all = [&c.zone, &c.node];
    // Before `sec_pagetables` (6.0) `bounce` ended the `mapped` line.
    let bounce_early = !all.iter().any(|m| m.contains_key("NR_SECONDARY_PAGETABLE"));
    let bounce = [("bounce", "NR_BOUNCE")];
    for (i, g) in MEM_INFO.iter().enumerate() {
        buf.clear();
        if i > 0 {
            buf.push(' ');
        }
        let start = buf.len();
        let mut any = if bounce_early && i == 5 {
            let rest: Vec<(&str, &str)> =
                g.iter().filter(|(l, _)| *l != "bounce").copied().collect();
            pairs(&mut buf, &all, &rest, None, " ")
        } else {
            pairs(&mut buf, &all, g, None, " ")
        };
        if bounce_early && i == 4 {
            let mut more = String::new();
            if pairs(&mut more, &all, &bounce, None, " ") {
                if any {
                    buf.push(' ');
                }
                buf.push_str(&more);
                any = true;
            }
        }
        // `free_pcp` is no counter: it sits between `free` and `free_cma`.
        if i == MEM_INFO.len() - 1
            && let Some(pcp) = c.free_pcp
            && let Some(at) = buf[start..].find(" free_cma:")
        {
            buf.insert_str(start + at, &format!(" free_pcp:{pcp}"));
        }
        if any {
            line(&buf);
        }
    }
    let spaced: &[&str] = if opts.spaced_thp() {
        &SPACED_BEFORE_6_6
    } else {
        &[]
    };
    for n in ev.nodes.iter().flatten() {
        buf.clear();
        let _ = write!(buf, "Node {} ", n.node);
        pairs_spaced(
            &mut buf,
            &[&n.counters],
            NODE_LINE,
            Some(page_kb),
            " ",
            spaced,
            opts.kernel,
        );
        buf.push_str(match n.all_unreclaimable {
            Some(true) => " all_unreclaimable? yes",
            Some(false) => " all_unreclaimable? no",
            None => "",
        });
        let before = buf.len();
        buf.push(' ');
        if !pairs(
            &mut buf,
            &[&n.counters],
            NODE_LINE_AFTER,
            Some(page_kb),
            " ",
        ) {
            buf.truncate(before);
        }
        line(&buf);
    }
    let numa = ev.memory_read.as_ref().and_then(|r| r.numa).unwrap_or(true);
    let zones = ev.zones.as_deref().unwrap_or_default();
    // A zone known only by its free lists (a log with lines left out) has no line.
    for z in zones.iter().filter(|z| z.free_kb.is_some()) {
        buf.clear();
        zone_line(&mut buf, z, page_kb, numa);
        line(&buf);
        if !z.lowmem_reserve.is_empty() {
            buf.clear();
            buf.push_str("lowmem_reserve[]:");
            for r in &z.lowmem_reserve {
                let _ = write!(buf, " {r}");
            }
            line(&buf);
        }
    }
    for z in zones {
        buf.clear();
        buddy_line(&mut buf, z, page_kb, numa);
        line(&buf);
    }
    if let Some(p) = all.iter().find_map(|m| m.get("NR_FILE_PAGES")) {
        buf.clear();
        let _ = write!(buf, "{p} total pagecache pages");
        line(&buf);
    }
}

/// `Node N ` before a zone's name, where the kernel prints it.
fn node_prefix(out: &mut String, z: &Zone, numa: bool) {
    if numa {
        let _ = write!(out, "Node {} ", z.node);
    }
}

fn zone_line(s: &mut String, z: &Zone, page_kb: u64, numa: bool) {
    node_prefix(s, z, numa);
    let _ = write!(s, "{} free:{}kB", z.zone, or_q(&z.free_kb));
    if let Some(v) = z.boost_kb {
        let _ = write!(s, " boost:{v}kB");
    }
    let _ = write!(
        s,
        " min:{}kB low:{}kB high:{}kB",
        or_q(&z.min_kb),
        or_q(&z.low_kb),
        or_q(&z.high_kb)
    );
    for (label, v) in [
        ("reserved_highatomic", z.reserved_highatomic_kb),
        ("free_highatomic", z.free_highatomic_kb),
    ] {
        if let Some(v) = v {
            let _ = write!(s, " {label}:{v}KB");
        }
    }
    let before = s.len();
    s.push(' ');
    if !pairs(s, &[&z.counters], ZONE_LINE, Some(page_kb), " ") {
        s.truncate(before);
    }
    let _ = write!(
        s,
        " present:{}kB managed:{}kB",
        or_q(&z.present_kb),
        or_q(&z.managed_kb)
    );
    let before = s.len();
    s.push(' ');
    if !pairs(s, &[&z.counters], ZONE_LINE_TAIL, Some(page_kb), " ") {
        s.truncate(before);
    }
    for (label, v) in [("free_pcp", z.free_pcp_kb), ("local_pcp", z.local_pcp_kb)] {
        if let Some(v) = v {
            let _ = write!(s, " {label}:{v}kB");
        }
    }
    let _ = write!(
        s,
        " free_cma:{}kB",
        or_q(
            &z.counters
                .get("NR_FREE_CMA_PAGES")
                .map(|&v| v.max(0) as u64 * page_kb)
        )
    );
}

/// `Node 0 DMA32: 3*4kB (E) 6*8kB (UME) ... = 437676kB`.
fn buddy_line(s: &mut String, z: &Zone, page_kb: u64, numa: bool) {
    node_prefix(s, z, numa);
    let _ = write!(s, "{}: ", z.zone);
    for (order, n) in z.free_area.iter().enumerate() {
        push_int(s, *n);
        s.push('*');
        push_int(s, page_kb << order);
        s.push_str("kB ");
        if *n > 0
            && let Some(t) = z.free_types.get(order)
            && !t.is_empty()
        {
            s.push('(');
            s.push_str(t);
            s.push_str(") ");
        }
    }
    let _ = write!(s, "= {}kB", z.free_area_kb(page_kb));
}

/// `--counters`: every counter as the seed's `vm_node_stat` dump, by index.
fn counter_table(ev: &OomEvent) -> Vec<String> {
    let Some(c) = &ev.counters else {
        return vec!["(no counters in this event)".into()];
    };
    let mut out = Vec::new();
    for (title, map) in [("vm_node_stat", &c.node), ("vm_zone_stat", &c.zone)] {
        out.push(format!("{title}:"));
        for (i, (name, v)) in map.iter().enumerate() {
            out.push(format!("  [{i:2}] {name:<32} {v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::event::{Task, Victim};

    fn memcg_event() -> OomEvent {
        OomEvent {
            kind: crate::schema::event::OomType::Oom,
            seq: 1,
            time: "2026-11-27T10:59:01.123456Z".into(),
            uptime_ns: 1_114_251_121_000,
            source: crate::schema::event::Source::Kprobe,
            trigger: Task {
                pid: Some(15489),
                tid: Some(15489),
                comm: Some("python3".into()),
                oom_score_adj: Some(0),
                cgroup: Some("/oomtest".into()),
                uid: Some(0),
                cpu: Some(1),
                workload: None,
            },
            gfp_mask: Some(0xcc0),
            gfp_flags: Some("GFP_KERNEL".into()),
            order: Some(0),
            constraint: Some("CONSTRAINT_MEMCG".into()),
            nodemask: Some("(null)".into()),
            memcg: Some("/oomtest".into()),
            totalpages: Some(16384),
            message: Some("Memory cgroup out of memory".into()),
            killed: Some(true),
            duration_ns: Some(412_000),
            victim: Some(Victim {
                pid: Some(15489),
                comm: Some("python3".into()),
                uid: Some(0),
                total_vm_kb: Some(78028),
                anon_rss_kb: Some(65024),
                file_rss_kb: Some(2424),
                shmem_rss_kb: Some(0),
                pgtables_kb: Some(188),
                oom_score_adj: Some(0),
                points: Some(16862),
                cgroup: Some("/oomtest".into()),
                workload: None,
            }),
            stack: vec![Frame {
                addr: "0xffffffff815ae930".into(),
                symbol: Some("out_of_memory".into()),
                offset: Some(0x214),
                size: Some(0x500),
            }],
            ..OomEvent::default()
        }
    }

    /// The lines the kernel printed for the same OOM (fixture 6.18-memcg-oom.log)
    /// appear verbatim in oomtrace's text, but for the cpuset/mems_allowed
    /// fields the kernel's report has and the event does not.
    #[test]
    fn renders_the_kernels_lines() {
        let text = text(&memcg_event());
        let fixture = std::fs::read_to_string(
            crate::testdata::kernel_reports_dir().join("6.18-memcg-oom.log"),
        )
        .unwrap();
        let kernel_line = |needle: &str| {
            let l = fixture.lines().find(|l| l.contains(needle)).unwrap();
            l[l.find("] ").unwrap() + 2..].to_owned()
        };
        let invoked = kernel_line("invoked oom-killer");
        let killed = kernel_line("Killed process");
        assert!(text.contains(&invoked), "{text}\nlacks\n{invoked}");
        assert!(text.contains(&killed), "{text}\nlacks\n{killed}");
        let summary = kernel_line("oom-kill:").replace(",cpuset=/,mems_allowed=0", "");
        assert!(text.contains(&summary), "{text}\nlacks\n{summary}");
        assert!(text.contains("[ 1114.251121] Call Trace:"));
        assert!(text.contains(" => out_of_memory+0x214/0x500"));
    }

    #[test]
    fn unknown_fields_print_as_question_marks_and_are_named_once() {
        let mut ev = memcg_event();
        ev.gfp_mask = None;
        ev.gfp_flags = None;
        ev.source = Source::Tracepoint;
        ev.unavailable = vec!["gfp_mask".into(), "totalpages".into()];
        let text = text(&ev);
        assert!(text.contains("gfp_mask=?, order=0"));
        assert_eq!(text.matches("not available without kprobes").count(), 1);
    }

    /// A reaper step as a log line of its own: the kernel's timestamp and
    /// `oom_reaper:` prefix, its OOM where known, its time since the kill.
    #[test]
    fn reaper_steps_read_like_the_kernels_line() {
        let r = ReaperEvent {
            seq: 3,
            uptime_ns: 1_500_000_000,
            pid: 42,
            step: crate::schema::event::ReaperStep::Finish,
            since_kill_ns: Some(2_500_000),
            ..ReaperEvent::default()
        };
        assert_eq!(
            reaper_line(&r),
            "[    1.500000] oom_reaper: reaped process 42 (OOM #3), 2.5 ms after the kill"
        );
        let unknown = ReaperEvent {
            seq: 0,
            since_kill_ns: None,
            ..r
        };
        assert_eq!(
            reaper_line(&unknown),
            "[    1.500000] oom_reaper: reaped process 42"
        );
    }

    /// `shmem_thp: 0kB` has its space up to 6.5 (the fixtures of 6.1 print
    /// it, those of 6.12 do not).
    #[test]
    fn shmem_thp_is_spaced_before_6_6() {
        let at = |k| Options {
            kernel: k,
            ..Options::default()
        };
        assert!(at(Some((6, 5))).spaced_thp());
        assert!(!at(Some((6, 6))).spaced_thp());
        assert!(!at(None).spaced_thp());
    }

    /// What the kernel's report lacks and oomtrace adds, line by line: the
    /// user stack (function and line where known, else the address; the
    /// mapping; frames past the first unresolved one marked), the
    /// allocator's last retries, a global OOM's summary, a second victim of
    /// a group kill, and an OOM that killed nothing.
    #[test]
    fn the_additions_read_as_written() {
        use crate::schema::event::{RetryStep, UserFrame};
        let mut ev = memcg_event();
        ev.user_stack = Some(vec![
            UserFrame {
                addr: "0x7f0000001010".into(),
                mapping: Some("/usr/lib/libc.so.6".into()),
                offset: Some(0x1010),
                symbol: Some("malloc".into()),
                symbol_offset: Some(0x10),
                file: Some("/src/malloc/malloc.c".into()),
                line: Some(3287),
                reliable: Some(true),
                ..UserFrame::default()
            },
            UserFrame {
                addr: "0x55550000beef".into(),
                reliable: Some(false),
                ..UserFrame::default()
            },
        ]);
        let retry = |ms_before: u64, order: i64| RetryStep {
            event: "reclaim_retry_zone".into(),
            uptime_ns: 10_000_000_000 - ms_before * 1_000_000,
            fields: [("order".into(), order), ("no_progress_loops".into(), 3)]
                .into_iter()
                .collect(),
        };
        ev.uptime_ns = 10_000_000_000;
        ev.allocator_retries = vec![retry(40, 0), retry(12, 1)];
        ev.also_killed = vec![Victim {
            pid: Some(99),
            comm: Some("worker".into()),
            ..Victim::default()
        }];
        let t = text(&ev);
        for want in [
            "] User stack:\n",
            "]  => malloc+0x10 (malloc.c:3287) [/usr/lib/libc.so.6+0x1010]\n",
            "]  => 0x55550000beef (unreliable)\n",
            "] reclaim_retry_zone: 2 in the 40.0 ms before; last (12.0 ms before): order=1 no_progress_loops=3\n",
            "] oomtrace: also killed 99 (worker) in the same OOM\n",
        ] {
            assert!(t.contains(want), "{t}\nlacks\n{want}");
        }
        assert!(!t.contains("compact_retry"));
        ev.user_stack = Some(Vec::new());
        assert!(!text(&ev).contains("User stack:"));
        // A global OOM says so where the memcg would be; one whose kind is
        // unknown says neither.
        ev.constraint = Some("CONSTRAINT_NONE".into());
        ev.memcg = None;
        assert!(text(&ev).contains("nodemask=(null),global_oom,task_memcg=/oomtest,"));
        ev.constraint = None;
        assert!(text(&ev).contains("nodemask=(null),task_memcg=/oomtest,"));
        ev.constraint = Some("CONSTRAINT_MEMCG".into());
        assert!(text(&ev).contains("nodemask=(null),task_memcg=/oomtest,"));
        ev.victim = None;
        ev.killed = Some(false);
        assert!(text(&ev).contains("] oomtrace: no task was killed (nothing eligible)\n"));
        ev.killed = None;
        assert!(!text(&ev).contains("no task was killed"));
    }

    /// Before 5.13 the THP counters count huge pages: 512 base pages each
    /// with 4 KiB pages (a PMD), 2048 with 16 KiB; every other counter,
    /// and every counter from 5.13, one page a unit.
    #[test]
    fn thp_counters_count_huge_pages_before_5_13() {
        assert_eq!(pages_per_unit("NR_ANON_THPS", Some((5, 10)), 4), 512);
        assert_eq!(
            pages_per_unit("NR_SHMEM_PMDMAPPED", Some((5, 12)), 16),
            2048
        );
        assert_eq!(pages_per_unit("NR_ANON_THPS", Some((5, 13)), 4), 1);
        assert_eq!(pages_per_unit("NR_ANON_THPS", None, 4), 1);
        assert_eq!(pages_per_unit("NR_FILE_PAGES", Some((5, 10)), 4), 1);
    }

    /// Mem-Info says where the tracer read it; a kernel log's, as printed,
    /// says nothing more.
    #[test]
    fn mem_info_says_where_it_was_read() {
        use crate::schema::event::{Counters, MemoryPath, MemoryRead};
        let mut ev = memcg_event();
        ev.counters = Some(Counters::default());
        ev.memory_read = Some(MemoryRead {
            at: MemoryAt::ShowFreeAreas,
            path: MemoryPath::Kallsyms,
            page_kb: 4,
            ..MemoryRead::default()
        });
        assert!(
            text(&ev)
                .contains("] Mem-Info: (read in the kernel at show_free_areas, via kallsyms)\n")
        );
        ev.memory_read.as_mut().unwrap().at = MemoryAt::Printed;
        assert!(text(&ev).contains("] Mem-Info:\n"));
    }

    /// A free list's migrate types are printed only where it has blocks,
    /// as `show_free_areas()` does (`if (nr[order])`).
    #[test]
    fn migrate_types_only_for_orders_with_blocks() {
        let z = Zone {
            zone: "Normal".into(),
            free_area: vec![0, 1],
            free_types: vec!["U".into(), "M".into()],
            ..Zone::default()
        };
        let mut line = String::new();
        buddy_line(&mut line, &z, 4, false);
        assert_eq!(line, "Normal: 0*4kB 1*8kB (M) = 8kB");
    }

    /// `--counters` lists every counter by its index, as the seed's dump.
    #[test]
    fn counters_are_listed_by_index() {
        use crate::schema::event::Counters;
        let mut ev = memcg_event();
        let opts = Options {
            counters: true,
            ..Options::default()
        };
        assert!(text_with(&ev, opts).contains("] (no counters in this event)\n"));
        ev.counters = Some(Counters {
            node: [("NR_A".into(), 3), ("NR_B".into(), -1)]
                .into_iter()
                .collect(),
            zone: [("NR_FREE_PAGES".into(), 7)].into_iter().collect(),
            free_pcp: None,
        });
        let t = text_with(&ev, opts);
        for want in [
            "] vm_node_stat:\n",
            &format!("]   [ 0] {:<32} 3\n", "NR_A"),
            &format!("]   [ 1] {:<32} -1\n", "NR_B"),
            "] vm_zone_stat:\n",
            &format!("]   [ 0] {:<32} 7\n", "NR_FREE_PAGES"),
        ] {
            assert!(t.contains(want), "{t}\nlacks {want:?}");
        }
        assert!(!text(&ev).contains("vm_node_stat"));
    }
}
