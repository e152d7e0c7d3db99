//! One OOM's section of the page: its charts (GFP flags, the memory
//! cgroup, the lead-up, the victim, memory's composition, each zone's
//! watermarks and free lists) and its kernel-style text.

use crate::schema::event::{Frame, OomEvent, Zone};
use crate::sink::charts::{self, Constraint};
use crate::sink::html::draw::{esc, kb, opt, plural, short_kb};
use crate::sink::render;
use std::fmt::Write as _;

/// One OOM's section: its charts and its kernel-style text.
pub(super) fn detail(ev: &OomEvent, session: usize, opts: render::Options) -> String {
    let b = ev.brief();
    let class = Constraint::of(&b);
    let mut o = String::new();
    let who = |comm: &Option<String>, pid: Option<i32>| {
        format!(
            "{} ({})",
            esc(comm.as_deref().unwrap_or("?")),
            pid.map_or("?".into(), |p| p.to_string())
        )
    };
    let _ = write!(
        o,
        "<section class=\"oom\" id=\"oom-{session}-{seq}\" data-oom-seq=\"{seq}\" \
         data-session=\"{session}\"><h3><span class=\"tag c-{}\">{}</span> OOM #{seq} \
         <small>{}</small></h3><p>{} asked for order {} ",
        class.name(),
        class.name(),
        esc(&ev.time),
        who(&ev.trigger.comm, ev.trigger.pid),
        ev.order.map_or("?".into(), |o| o.to_string()),
        seq = ev.seq,
    );
    match &ev.victim {
        Some(v) => {
            let _ = write!(o, "→ killed <b>{}</b>", who(&v.comm, v.pid));
        }
        None => o.push_str("→ no kill seen"),
    }
    for other in &ev.also_killed {
        let _ = write!(o, ", also <b>{}</b>", who(&other.comm, other.pid));
    }
    if let Some(m) = &ev.memcg {
        let _ = write!(o, " · memory cgroup <code>{}</code>", esc(m));
    }
    o.push_str("</p><div class=\"grid\">");
    o.push_str(&gfp_block(ev));
    if let Some(m) = &ev.memcg_memory {
        o.push_str(&memcg_block(m));
    }
    if let Some(l) = &ev.lead_up {
        o.push_str(&lead_up_block(l));
    }
    if let Some(v) = &ev.victim {
        o.push_str(&victim_block(v, ev.totalpages));
    }
    let parts = charts::composition(ev);
    if !parts.is_empty() {
        o.push_str(&composition_block(&parts));
    }
    let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
    let zones: Vec<&Zone> = ev
        .zones
        .iter()
        .flatten()
        .filter(|z| z.managed_kb != Some(0))
        .collect();
    // A zone known only by its free lists (a log with lines cut) has no
    // free memory or watermarks to draw.
    let measured: Vec<&Zone> = zones
        .iter()
        .copied()
        .filter(|z| z.free_kb.is_some())
        .collect();
    if !measured.is_empty() {
        o.push_str(&watermarks_block(&measured));
    }
    if zones.iter().any(|z| !z.free_area.is_empty()) {
        o.push_str(&buddy_block(&zones, page_kb));
    }
    o.push_str("</div>");
    if let Some(stack) = &ev.show_free_areas_stack {
        let _ = write!(
            o,
            "<details class=\"sfa\" open><summary>Stack at <code>show_free_areas</code></summary>\
             <pre class=\"ftrace\">{}</pre></details>",
            esc(&ftrace_stack(stack))
        );
    }
    let _ = writeln!(
        o,
        "<details class=\"report\"><summary>Kernel-style report</summary><pre>{}</pre></details>\
         </section>",
        esc(&render::text_with(ev, opts))
    );
    o
}

/// As ftrace's `stacktrace` trigger prints one.
pub fn ftrace_stack(frames: &[Frame]) -> String {
    let mut s = String::from(" <stack trace>\n");
    for f in frames {
        match (&f.symbol, f.offset, f.size) {
            (Some(sym), Some(off), Some(size)) => {
                let _ = writeln!(s, " => {sym}+{off:#x}/{size:#x}");
            }
            (Some(sym), _, _) => {
                let _ = writeln!(s, " => {sym}");
            }
            _ => {
                let _ = writeln!(s, " => {}", f.addr);
            }
        }
    }
    s
}

pub(super) fn gfp_block(ev: &OomEvent) -> String {
    let mut o = String::from("<div class=\"card\"><h4>Request</h4>");
    match (&ev.gfp_flags, ev.gfp_mask) {
        (Some(f), m) => {
            let _ = write!(
                o,
                "<p>gfp_mask {}</p><p class=\"chips\">",
                m.map_or("?".into(), |m| format!("<code>{m:#x}</code>"))
            );
            for flag in f.split('|') {
                let _ = write!(o, "<span class=\"chip\">{}</span>", esc(flag));
            }
            o.push_str("</p>");
        }
        (None, _) => o.push_str("<p>gfp_mask unknown</p>"),
    }
    let page_kb = ev.memory_read.as_ref().map_or(4, |r| r.page_kb);
    match ev.order {
        Some(-1) => o.push_str("<p>order -1: forced (sysrq-f), no allocation</p>"),
        Some(n) if (0..32).contains(&n) => {
            let _ = write!(o, "<p>order {n}: {} kB at once</p>", page_kb << n);
        }
        _ => o.push_str("<p>order unknown</p>"),
    }
    o.push_str("</div>");
    o
}

pub(super) fn memcg_block(m: &crate::schema::event::MemcgMemory) -> String {
    let frac = if m.limit_kb == 0 {
        0.0
    } else {
        (m.usage_kb as f64 / m.limit_kb as f64).min(1.0)
    };
    format!(
        "<div class=\"card\"><h4>Memory cgroup</h4><svg class=\"memcg\" viewBox=\"0 0 300 24\" \
         data-usage-kb=\"{}\" data-limit-kb=\"{}\"><rect class=\"track\" width=\"300\" height=\"24\"/>\
         <rect class=\"used\" width=\"{:.1}\" height=\"24\"><title>usage {} kB</title></rect></svg>\
         <p>usage {} of limit {} ({:.0} %), failcnt {}</p></div>",
        m.usage_kb,
        m.limit_kb,
        frac * 300.0,
        m.usage_kb,
        kb(m.usage_kb),
        kb(m.limit_kb),
        frac * 100.0,
        m.failcnt
    )
}

/// The lead-up as small line charts: the memcg's usage, PSI some, free
/// memory, the allocator's retries, each over the seconds before the OOM
/// (the OOM at the right).
pub(super) fn lead_up_block(l: &crate::schema::event::LeadUp) -> String {
    let mut o = String::from("<div class=\"card\"><h4>Lead-up</h4>");
    if let Some(line) = l.line() {
        let _ = write!(
            o,
            "<p class=\"legend\">{}</p>",
            esc(line.trim_start_matches("oomtrace: "))
        );
    }
    type Series = fn(&crate::schema::event::LeadPoint) -> Option<f64>;
    let series: [(&str, &str, Series); 4] = [
        ("memcg", "memcg usage", |p| {
            p.memcg_usage_kb.map(|k| k as f64)
        }),
        ("psi", "PSI some avg10 %", |p| p.psi_some_avg10),
        ("free", "free memory", |p| p.free_kb.map(|k| k as f64)),
        (
            "retries",
            "allocator retries per second",
            crate::schema::event::LeadPoint::retries_per_s,
        ),
    ];
    let first = l.points.first().map_or(1, |p| p.ms_before.max(1)) as f64;
    for (class, title, f) in series {
        let pts: Vec<(f64, f64)> = l
            .points
            .iter()
            .filter_map(|p| Some((p.ms_before as f64, f(p)?)))
            .collect();
        if pts.len() < 2 {
            continue;
        }
        let (lo, hi) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        let span = (hi - lo).max(1e-9);
        let coords: Vec<String> = pts
            .iter()
            .map(|(ms, v)| {
                format!(
                    "{:.1},{:.1}",
                    300.0 * (1.0 - ms / first),
                    36.0 - 32.0 * (v - lo) / span
                )
            })
            .collect();
        let values: Vec<String> = pts.iter().map(|p| format!("{}", p.1)).collect();
        let _ = write!(
            o,
            "<svg class=\"leadup {class}\" viewBox=\"0 0 300 40\" data-values=\"{}\">\
             <rect class=\"track\" width=\"300\" height=\"40\"/><polyline points=\"{}\"/>\
             <title>{title}: {} → {}</title></svg>",
            values.join(" "),
            coords.join(" "),
            pts[0].1,
            pts[pts.len() - 1].1
        );
    }
    o.push_str("</div>");
    o
}

pub(super) fn victim_block(v: &crate::schema::event::Victim, totalpages: Option<u64>) -> String {
    let parts = [
        ("anon", v.anon_rss_kb),
        ("file", v.file_rss_kb),
        ("shmem", v.shmem_rss_kb),
        ("page tables", v.pgtables_kb),
    ];
    let known: Vec<(&str, u64)> = parts
        .iter()
        .filter_map(|(l, k)| k.map(|k| (*l, k)))
        .collect();
    let mut o = String::from("<div class=\"card\"><h4>Victim</h4>");
    o.push_str(&stacked_bar("victim", &known, 300.0));
    let _ = write!(
        o,
        "<p>{} ({}) uid {}, total-vm {}, oom_score_adj {}",
        esc(v.comm.as_deref().unwrap_or("?")),
        v.pid.map_or("?".into(), |p| p.to_string()),
        v.uid.map_or("?".into(), |u| u.to_string()),
        v.total_vm_kb.map_or("?".into(), kb),
        v.oom_score_adj.map_or("?".into(), |a| a.to_string()),
    );
    if let Some(p) = v.points {
        let _ = write!(
            o,
            ", badness <b>{p}</b>{}",
            totalpages.map_or(String::new(), |t| format!(" of {t} pages"))
        );
    }
    if let Some(c) = &v.cgroup {
        let _ = write!(o, "<br>cgroup <code>{}</code>", esc(c));
    }
    o.push_str("</p></div>");
    o
}

pub(super) fn composition_block(parts: &[charts::Part]) -> String {
    let known: Vec<(&str, u64)> = parts.iter().map(|p| (p.label, p.kb)).collect();
    let mut o = String::from("<div class=\"card wide\"><h4>The machine's memory at the OOM</h4>");
    o.push_str(&stacked_bar("composition", &known, 600.0));
    o.push_str("</div>");
    o
}

/// A bar of parts, each `data-part` with its kB.
pub(super) fn stacked_bar(class: &str, parts: &[(&str, u64)], width: f64) -> String {
    let total: u64 = parts.iter().map(|p| p.1).sum();
    let mut o = format!(
        "<svg class=\"bar {class}\" viewBox=\"0 0 {width} 24\" data-total-kb=\"{total}\">\
         <rect class=\"track\" width=\"{width}\" height=\"24\"/>"
    );
    let mut x = 0.0;
    for (i, (label, k)) in parts.iter().enumerate() {
        let w = if total == 0 {
            0.0
        } else {
            *k as f64 / total as f64 * width
        };
        let _ = write!(
            o,
            "<rect class=\"p{}\" data-part=\"{label}\" data-kb=\"{k}\" x=\"{x:.2}\" width=\"{w:.2}\" \
             height=\"24\"><title>{label}: {} ({:.1} %)</title></rect>",
            i % 10,
            kb(*k),
            if total == 0 {
                0.0
            } else {
                *k as f64 * 100.0 / total as f64
            }
        );
        x += w;
    }
    o.push_str("</svg><p class=\"legend\">");
    for (i, (l, k)) in parts.iter().enumerate() {
        let _ = write!(
            o,
            "<span><i class=\"p{}\"></i>{l} {}</span> ",
            i % 10,
            kb(*k)
        );
    }
    o.push_str("</p>");
    o
}

pub(super) fn zone_name(z: &Zone) -> String {
    format!("Node {} {}", z.node, z.zone)
}

pub(super) fn watermarks_block(zones: &[&Zone]) -> String {
    let mut o = String::from(
        "<div class=\"card wide\"><h4>Free memory against the watermarks (min / low / high)</h4>",
    );
    let row = 30.0;
    let (left, width) = (130.0, 600.0);
    let _ = write!(
        o,
        "<svg class=\"watermarks\" viewBox=\"0 0 {} {}\">",
        left + width + 10.0,
        row * zones.len() as f64
    );
    for (i, z) in zones.iter().enumerate() {
        let y = row * i as f64;
        let free = z.free_kb.unwrap_or(0);
        let marks = [("min", z.min_kb), ("low", z.low_kb), ("high", z.high_kb)];
        let scale_max = marks
            .iter()
            .filter_map(|m| m.1)
            .chain([free])
            .max()
            .unwrap_or(1)
            .max(1) as f64
            * 1.15;
        let sx = |k: u64| left + k as f64 / scale_max * width;
        let below = z.min_kb.is_some_and(|m| free < m);
        let _ = write!(
            o,
            "<g class=\"zone\" data-zone=\"{}\" data-free-kb=\"{free}\" data-min-kb=\"{}\" \
             data-low-kb=\"{}\" data-high-kb=\"{}\"><text x=\"0\" y=\"{:.1}\">{}</text>\
             <rect class=\"track\" x=\"{left}\" y=\"{:.1}\" width=\"{width}\" height=\"16\"/>\
             <rect class=\"{}\" x=\"{left}\" y=\"{:.1}\" width=\"{:.1}\" height=\"16\">\
             <title>free {}</title></rect>",
            esc(&zone_name(z)),
            opt(z.min_kb),
            opt(z.low_kb),
            opt(z.high_kb),
            y + 17.0,
            esc(&zone_name(z)),
            y + 5.0,
            if below { "free below" } else { "free" },
            y + 5.0,
            sx(free) - left,
            kb(free)
        );
        for (label, v) in marks {
            if let Some(v) = v {
                let _ = write!(
                    o,
                    "<line class=\"wm {label}\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1:.1}\" \
                     y2=\"{2:.1}\"><title>{label} {3}</title></line>",
                    sx(v),
                    y + 2.0,
                    y + 24.0,
                    kb(v)
                );
            }
        }
        o.push_str("</g>");
    }
    o.push_str("</svg><p class=\"legend\"><span><i class=\"wm-min\"></i>min</span> \
                <span><i class=\"wm-low\"></i>low</span> <span><i class=\"wm-high\"></i>high</span> \
                (each zone on its own scale)</p></div>");
    o
}

pub(super) fn buddy_block(zones: &[&Zone], page_kb: u64) -> String {
    let mut o = String::from(
        "<div class=\"card wide\"><h4>Buddy free lists: blocks free per order \
         (height by log scale), migrate types below</h4><div class=\"buddies\">",
    );
    for z in zones.iter().filter(|z| !z.free_area.is_empty()) {
        let n = z.free_area.len();
        let col = 44.0;
        let (h, top) = (80.0, 14.0);
        let max = z.free_area.iter().copied().max().unwrap_or(0).max(1) as f64;
        let _ = write!(
            o,
            "<figure class=\"buddy\" data-zone=\"{}\"><figcaption>{} = {}</figcaption>\
             <svg viewBox=\"0 0 {} {}\">",
            esc(&zone_name(z)),
            esc(&zone_name(z)),
            kb(z.free_area_kb(page_kb)),
            col * n as f64,
            top + h + 30.0
        );
        for (order, count) in z.free_area.iter().enumerate() {
            let bh = if *count == 0 {
                0.0
            } else {
                (1.0 + *count as f64).ln() / (1.0 + max).ln() * h
            };
            let x = col * order as f64;
            let types = z.free_types.get(order).map_or("", |t| t.as_str());
            let _ = write!(
                o,
                "<g class=\"order\" data-order=\"{order}\" data-count=\"{count}\" data-types=\"{}\">\
                 <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"><title>order \
                 {order} ({}): {count} free block{} = {}{}</title></rect>\
                 <text class=\"n\" x=\"{:.1}\" y=\"{:.1}\">{count}</text>\
                 <text class=\"sz\" x=\"{:.1}\" y=\"{:.1}\">{}</text>\
                 <text class=\"mt\" x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                esc(types),
                x + 4.0,
                top + h - bh,
                col - 8.0,
                kb(page_kb << order),
                plural(*count),
                kb((count << order) * page_kb),
                if types.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", esc(types))
                },
                x + col / 2.0,
                top + h - bh - 3.0,
                x + col / 2.0,
                top + h + 13.0,
                short_kb(page_kb << order),
                x + col / 2.0,
                top + h + 26.0,
                esc(types)
            );
        }
        o.push_str("</svg></figure>");
    }
    o.push_str("</div></div>");
    o
}
