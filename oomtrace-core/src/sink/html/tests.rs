use super::*;
use crate::schema::event::{Frame, Zone};

/// The page of every kept real report, as `report --format html` makes it.
fn page_of_the_fixtures() -> (String, Vec<OomEvent>) {
    let dir = crate::testdata::kernel_reports_dir();
    let mut events = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let text = std::fs::read_to_string(&path).unwrap();
        for r in crate::source::kernel_log::parse_log(&text) {
            events.push(crate::source::kernel_log::to_event(
                &r,
                events.len() as u64 + 1,
            ));
        }
    }
    let mut page = Vec::new();
    let mut html = Html::new(&mut page, render::Options::default(), 1000);
    for ev in &events {
        html.event(&Event::new(ev.clone())).unwrap();
    }
    html.finish().unwrap();
    (String::from_utf8(page).unwrap(), events)
}

/// The value of `name="..."` in a tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        .parse()
        .unwrap()
}

/// Each tag that starts with `start`, with the text up to `end` after it.
fn blocks<'a>(page: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    page.match_indices(start)
        .map(|(i, _)| &page[i..i + page[i..].find(end).unwrap()])
        .collect()
}

fn tags<'a>(block: &'a str, start: &str) -> Vec<&'a str> {
    block
        .match_indices(start)
        .map(|(i, _)| &block[i..i + block[i..].find('>').unwrap()])
        .collect()
}

/// What the browser test checks in Chromium, checked here in the page's
/// own text, for the parts drawn from numbers: each bar's parts add up
/// to its total and are as wide as their share, one after the other;
/// each zone's free memory and watermarks on its scale (the largest of
/// them and 15 % more); each free-list column's height by log scale;
/// each "who" bar by its count. The oracle is the event's own numbers,
/// written beside each shape as data attributes and compared with them.
#[test]
fn the_page_draws_each_number_to_scale() {
    let (page, events) = page_of_the_fixtures();
    assert!(
        page.starts_with("<!doctype html>\n<html"),
        "{}",
        &page[..100]
    );
    assert!(page.ends_with("</html>\n"));
    assert_eq!(page.matches("<!doctype").count(), 1);
    let close = |a: f64, b: f64, what: &str| assert!((a - b).abs() < 0.06, "{what}: {a} != {b}");
    let bars = blocks(&page, "<svg class=\"bar", "</svg>");
    assert!(bars.len() >= events.iter().filter(|e| e.counters.is_some()).count());
    for bar in &bars {
        let width: f64 = attr(bar, "viewBox")
            .unwrap()
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        let total = num(bar, "data-total-kb");
        let mut x = 0.0;
        let mut sum = 0.0;
        for part in tags(bar, "<rect class=\"p") {
            let k = num(part, "data-kb");
            sum += k;
            close(num(part, "x"), x, "x");
            let w = if total == 0.0 { 0.0 } else { k / total * width };
            close(num(part, "width"), w, "width");
            x += w;
        }
        assert_eq!(sum, total, "{bar}");
    }
    // The machine's memory: the composition of its event.
    let with_counters: Vec<&OomEvent> = events.iter().filter(|e| e.counters.is_some()).collect();
    let compositions: Vec<&&str> = bars.iter().filter(|b| b.contains("composition")).collect();
    assert_eq!(compositions.len(), with_counters.len());
    for (bar, ev) in compositions.iter().zip(&with_counters) {
        let drawn: Vec<(String, u64)> = tags(bar, "<rect class=\"p")
            .iter()
            .map(|t| {
                (
                    attr(t, "data-part").unwrap().to_owned(),
                    num(t, "data-kb") as u64,
                )
            })
            .collect();
        let parts: Vec<(String, u64)> = charts::composition(ev)
            .iter()
            .map(|p| (p.label.to_owned(), p.kb))
            .collect();
        assert_eq!(drawn, parts);
    }
    let zones = blocks(&page, "<g class=\"zone\"", "</g>");
    assert!(zones.len() >= 3);
    // Each section's zones by their names, a row each.
    for (sec, ev) in blocks(&page, "<section class=\"oom\"", "</section>")
        .iter()
        .zip(&events)
    {
        let drawn: Vec<&str> = blocks(sec, "<g class=\"zone\"", "</g>")
            .iter()
            .map(|z| attr(z, "data-zone").unwrap())
            .collect();
        let measured: Vec<String> = ev
            .zones
            .iter()
            .flatten()
            .filter(|z| z.managed_kb != Some(0) && z.free_kb.is_some())
            .map(|z| format!("Node {} {}", z.node, z.zone))
            .collect();
        assert_eq!(drawn, measured);
        for (i, z) in blocks(sec, "<g class=\"zone\"", "</g>").iter().enumerate() {
            assert_eq!(
                num(tags(z, "<rect class=\"track\"")[0], "y"),
                30.0 * i as f64 + 5.0
            );
        }
    }
    for z in &zones {
        let free = num(z, "data-free-kb");
        let marks: Vec<(&str, Option<f64>)> = ["min", "low", "high"]
            .iter()
            .map(|m| {
                (
                    *m,
                    attr(z, &format!("data-{m}-kb"))
                        .filter(|v| !v.is_empty())
                        .map(|v| v.parse().unwrap()),
                )
            })
            .collect();
        let scale = marks
            .iter()
            .filter_map(|m| m.1)
            .fold(free, f64::max)
            .max(1.0)
            * 1.15;
        let free_rect = tags(z, "<rect class=\"free")[0];
        close(num(free_rect, "width"), free / scale * 600.0, "free");
        let below = marks[0].1.is_some_and(|m| free < m);
        assert_eq!(
            free_rect.starts_with("<rect class=\"free below\""),
            below,
            "{z}"
        );
        for (m, v) in &marks {
            let lines = tags(z, &format!("<line class=\"wm {m}\""));
            match v {
                Some(v) => close(num(lines[0], "x1"), 130.0 + v / scale * 600.0, m),
                None => assert!(lines.is_empty()),
            }
        }
    }
    let buddies = blocks(&page, "<figure class=\"buddy\"", "</figure>");
    assert!(!buddies.is_empty());
    for b in &buddies {
        let orders = blocks(b, "<g class=\"order\"", "</g>");
        let counts: Vec<f64> = orders.iter().map(|o| num(o, "data-count")).collect();
        let max = counts.iter().copied().fold(1.0, f64::max);
        for (i, o) in orders.iter().enumerate() {
            assert_eq!(num(o, "data-order"), i as f64);
            let rect = tags(o, "<rect")[0];
            let h = if counts[i] == 0.0 {
                0.0
            } else {
                (1.0 + counts[i]).ln() / (1.0 + max).ln() * 80.0
            };
            close(num(rect, "height"), h, "column");
            close(num(rect, "x"), 44.0 * i as f64 + 4.0, "column x");
            close(num(rect, "y"), 14.0 + 80.0 - h, "column y");
        }
    }
    let whos = blocks(&page, "<figure class=\"chart who\"", "</figure>");
    assert!(whos.len() >= 3);
    for w in &whos {
        let rows = blocks(w, "<g class=\"who-row\"", "</g>");
        let counts: Vec<f64> = rows.iter().map(|r| num(r, "data-count")).collect();
        assert_eq!(counts.iter().sum::<f64>(), num(w, "data-total"), "{w}");
        let max = counts.iter().copied().fold(1.0, f64::max);
        for (r, n) in rows.iter().zip(&counts) {
            close(num(tags(r, "<rect")[0], "width"), n / max * 200.0, "who");
        }
    }
}

/// Each OOM's section says and draws its own event: the request (gfp
/// flags as chips, the order in kB), the memory cgroup's usage against
/// its limit, the victim's rss parts.
#[test]
fn each_section_shows_its_event() {
    let (page, events) = page_of_the_fixtures();
    let sections = blocks(&page, "<section class=\"oom\"", "</section>");
    assert_eq!(sections.len(), events.len());
    let mut sysrq = 0;
    for (sec, ev) in sections.iter().zip(&events) {
        assert_eq!(num(sec, "data-oom-seq"), ev.seq as f64);
        if let Some(flags) = &ev.gfp_flags {
            let chips: Vec<&str> = sec
                .match_indices("<span class=\"chip\">")
                .map(|(i, m)| {
                    let rest = &sec[i + m.len()..];
                    &rest[..rest.find('<').unwrap()]
                })
                .collect();
            assert_eq!(chips, flags.split('|').collect::<Vec<_>>());
        }
        match ev.order {
            Some(-1) => {
                sysrq += 1;
                assert!(sec.contains("order -1: forced (sysrq-f)"), "{sec}");
            }
            Some(n) => {
                assert!(sec.contains(&format!("<p>order {n}: {} kB at once</p>", 4 << n)))
            }
            None => assert!(sec.contains("order unknown")),
        }
        if let Some(m) = &ev.memcg_memory {
            let svg = tags(sec, "<svg class=\"memcg\"")[0];
            assert_eq!(num(svg, "data-usage-kb"), m.usage_kb as f64);
            assert_eq!(num(svg, "data-limit-kb"), m.limit_kb as f64);
            let used = tags(sec, "<rect class=\"used\"")[0];
            let share = (m.usage_kb as f64 / m.limit_kb as f64).min(1.0);
            assert!((num(used, "width") - share * 300.0).abs() < 0.06, "{used}");
            assert!(sec.contains(&format!("failcnt {}", m.failcnt)));
        }
        if let Some(v) = &ev.victim {
            let bar = blocks(sec, "<svg class=\"bar victim\"", "</svg>")[0];
            let drawn: Vec<(&str, f64)> = tags(bar, "<rect class=\"p")
                .iter()
                .map(|t| (attr(t, "data-part").unwrap(), num(t, "data-kb")))
                .collect();
            let known: Vec<(&str, f64)> = [
                ("anon", v.anon_rss_kb),
                ("file", v.file_rss_kb),
                ("shmem", v.shmem_rss_kb),
                ("page tables", v.pgtables_kb),
            ]
            .into_iter()
            .filter_map(|(l, k)| Some((l, k? as f64)))
            .collect();
            assert_eq!(drawn, known);
            let pid = v.pid.unwrap().to_string();
            assert!(sec.contains(&format!("({pid}) uid")), "{sec}");
            if let Some(p) = v.points {
                assert!(sec.contains(&format!("badness <b>{p}</b>")));
            }
        }
    }
    assert!(sysrq > 0, "no sysrq OOM among the fixtures");
}

/// The merged stacks: each frame as wide as its share of all stacks,
/// its callees side by side under it from its left edge, one row down.
#[test]
fn the_flame_graph_draws_each_frame_to_scale() {
    let (page, events) = page_of_the_fixtures();
    let svg = blocks(&page, "<svg id=\"flame\"", "</svg>")[0];
    let frames = blocks(svg, "<g class=\"frame\"", "</g>");
    let stacks = events.iter().filter(|e| !e.stack.is_empty()).count() as f64;
    assert_eq!(num(frames[0], "data-count"), stacks);
    let mut by_node = std::collections::HashMap::new();
    for f in &frames {
        by_node.insert(num(f, "data-node") as usize, *f);
    }
    let mut with_parent = 0;
    for f in &frames {
        let rect = tags(f, "<rect")[0];
        let count = num(f, "data-count");
        assert!(
            (num(rect, "width") - count / stacks * WIDTH).abs() < 0.06,
            "{f}"
        );
        let Some(parent) = attr(f, "data-parent") else {
            assert_eq!((num(rect, "x"), num(rect, "y")), (0.0, 0.0));
            continue;
        };
        let p = by_node[&parent.parse::<usize>().unwrap()];
        let prect = tags(p, "<rect")[0];
        assert_eq!(num(rect, "y"), num(prect, "y") + 18.0);
        assert!(count <= num(p, "data-count"));
        // Children are drawn widest first, but placed in their order:
        // each starts at or right of its parent's left edge and ends
        // inside it.
        let x = num(rect, "x");
        assert!(x >= num(prect, "x") - 0.06, "{f}");
        assert!(
            x + num(rect, "width") <= num(prect, "x") + num(prect, "width") + 0.2,
            "{f}"
        );
        with_parent += 1;
    }
    assert!(with_parent > 10, "{with_parent}");
    // A frame's callees side by side from its left edge, in the order
    // they were first seen (their node numbers).
    let mut children: std::collections::BTreeMap<usize, Vec<(usize, f64, f64)>> =
        Default::default();
    for f in &frames {
        if let Some(parent) = attr(f, "data-parent") {
            let rect = tags(f, "<rect")[0];
            children.entry(parent.parse().unwrap()).or_default().push((
                num(f, "data-node") as usize,
                num(rect, "x"),
                num(rect, "width"),
            ));
        }
    }
    for (parent, mut kids) in children {
        kids.sort_by_key(|k| k.0);
        let mut x = num(tags(by_node[&parent], "<rect")[0], "x");
        for (node, kx, w) in kids {
            assert!((kx - x).abs() < 0.2, "node {node}: x {kx}, expected {x}");
            x += w;
        }
    }
}

/// A zone whose free memory is under its min watermark is drawn so;
/// at the watermark it is not (the kernel's `free < min` test).
#[test]
fn free_below_min_is_marked() {
    let zone = |free| Zone {
        zone: "Normal".into(),
        free_kb: Some(free),
        min_kb: Some(20),
        low_kb: Some(25),
        high_kb: Some(30),
        ..Zone::default()
    };
    let (below, at, above) = (zone(10), zone(20), zone(21));
    let svg = watermarks_block(&[&below, &at, &above]);
    let classes: Vec<&str> = tags(&svg, "<rect class=\"free")
        .iter()
        .map(|t| attr(t, "class").unwrap())
        .collect();
    assert_eq!(classes, ["free below", "free", "free"]);
}

/// The overview counts what came: OOMs and kills, sessions (each
/// listed with its host, kernel and end, past the listed ones counted),
/// records lost (said, and marked where their session ended), reaper
/// steps on the timeline, and the OOMs left without a section.
#[test]
fn the_overview_counts_sessions_kills_losses_and_reaper_steps() {
    let (_, fixtures) = page_of_the_fixtures();
    let mut page = Vec::new();
    let mut html = Html::new(&mut page, render::Options::default(), 2);
    let sessions = SESSIONS_LISTED + 3;
    let mut kills = 0;
    for s in 0..sessions {
        let mut h = Header::new("6.18.0", "tracepoint", Vec::new());
        h.hostname = format!("host{s}");
        h.start = "1970-01-01T00:00:00Z".into();
        html.session(&h).unwrap();
        if s < 2 {
            for (i, ev) in fixtures.iter().enumerate() {
                let mut ev = ev.clone();
                ev.time = format!("1970-01-01T00:00:{:02}Z", 10 + i);
                kills += usize::from(ev.killed == Some(true));
                html.event(&Event::new(ev)).unwrap();
                html.reaper(&ReaperEvent {
                    seq: i as u64 + 1,
                    time: format!("1970-01-01T00:00:{:02}.5Z", 10 + i),
                    pid: 7,
                    ..ReaperEvent::default()
                })
                .unwrap();
            }
        }
        let lost = if s == 1 { 5 } else { 0 };
        html.end(&Trailer {
            end: "1970-01-01T00:00:50Z".into(),
            events: if s < 2 { fixtures.len() as u64 } else { 0 },
            lost,
            incomplete: lost,
            ..Trailer::default()
        })
        .unwrap();
    }
    html.finish().unwrap();
    let page = String::from_utf8(page).unwrap();
    let n = fixtures.len() * 2;
    assert!(
        page.contains(&format!(
            "{n} OOMs ({kills} killed a task) in {sessions} sessions · \
                 <span class=\"warn\">5 lost records, 5 incomplete OOMs</span>"
        )),
        "{}",
        &page[page.find("<p class=\"meta\">").unwrap()..][..300]
    );
    let rows = page.matches("<tr><td>host").count();
    assert_eq!(rows, SESSIONS_LISTED);
    assert!(page.contains("<tr><td>host1</td><td>6.18.0</td>"));
    assert!(page.contains(&format!(
        "<td>1970-01-01T00:00:50Z</td><td>{}</td><td>5</td></tr>",
        fixtures.len()
    )));
    assert!(page.contains("and 3 more sessions"));
    assert!(page.contains(&format!("Only the first 2 OOMs have a section of their own below (<code>--detail-limit</code> raises it); all {n} are counted")));
    let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
    assert_eq!(tags(svg, "<line class=\"reaper\"").len(), n);
    assert_eq!(tags(svg, "<path class=\"lost\"").len(), 1);
    // The loss at its session's end: right of every kill.
    let lost_x: f64 = attr(tags(svg, "<path class=\"lost\"")[0], "d").unwrap()[1..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let marks: Vec<f64> = tags(svg, "<circle").iter().map(|c| num(c, "cx")).collect();
    assert_eq!(marks.len(), n);
    assert!(marks.iter().all(|x| *x < lost_x), "{marks:?} {lost_x}");
    // Who: every OOM counted once in each chart.
    for w in blocks(&page, "<figure class=\"chart who\"", "</figure>") {
        assert_eq!(num(w, "data-total"), n as f64);
    }
}

/// The page of these events, each given its time since boot.
fn page_of(events: &[OomEvent]) -> String {
    let mut page = Vec::new();
    let mut html = Html::new(&mut page, render::Options::default(), 10);
    for ev in events {
        html.event(&Event::new(ev.clone())).unwrap();
    }
    html.finish().unwrap();
    String::from_utf8(page).unwrap()
}

/// The timeline: each OOM a mark at its time, on a scale from the
/// first to the last with 2 % to spare each side (never before boot),
/// in its constraint's lane; five ticks from one end to the other.
#[test]
fn the_timeline_places_each_oom_at_its_time_in_its_lane() {
    let (_, fixtures) = page_of_the_fixtures();
    let mut events: Vec<OomEvent> = Vec::new();
    for (i, t) in [40.0, 10.0, 25.0, 70.0, 55.0].iter().enumerate() {
        let mut ev = fixtures[i % fixtures.len()].clone();
        ev.seq = i as u64 + 1;
        ev.time.clear();
        ev.uptime_ns = (t * 1e9) as u64;
        events.push(ev);
    }
    let page = page_of(&events);
    let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
    let (lo, hi) = (10.0 - 60.0 * 0.02, 70.0 + 60.0 * 0.02);
    let x = |t: f64| 130.0 + (t - lo) / (hi - lo) * 860.0;
    let lanes: Vec<Constraint> = Constraint::ALL
        .into_iter()
        .filter(|c| events.iter().any(|e| Constraint::of(&e.brief()) == *c))
        .collect();
    let lane_y =
        |c: Constraint| 10.0 + 26.0 * lanes.iter().position(|l| *l == c).unwrap() as f64 + 13.0;
    let lines = tags(svg, "<line class=\"lane-line\"");
    assert_eq!(lines.len(), lanes.len());
    for (l, c) in lines.iter().zip(&lanes) {
        assert_eq!(num(l, "y1"), lane_y(*c));
    }
    let marks = blocks(svg, "<a href=\"#oom-", "</a>");
    assert_eq!(marks.len(), events.len());
    for (m, ev) in marks.iter().zip(&events) {
        assert_eq!(num(m, "data-seq"), ev.seq as f64);
        let circle = tags(m, "<circle")[0];
        let t = ev.uptime_ns as f64 / 1e9;
        assert!((num(circle, "cx") - x(t)).abs() < 0.06, "{circle} at {t} s");
        assert_eq!(num(circle, "cy"), lane_y(Constraint::of(&ev.brief())));
    }
    let ticks = tags(svg, "<text class=\"tick\"");
    assert_eq!(ticks.len(), 5);
    for (i, tick) in ticks.iter().enumerate() {
        assert!(
            (num(tick, "x") - (130.0 + 215.0 * i as f64)).abs() < 0.06,
            "{tick}"
        );
    }
}

/// Past the marks it draws one by one, the timeline counts OOMs per
/// bin: every OOM in one bin, the bins side by side across the axis.
#[test]
fn a_binned_timeline_counts_every_oom() {
    let (_, fixtures) = page_of_the_fixtures();
    let n = TIMELINE_MARKS + 500;
    let events: Vec<OomEvent> = (0..n)
        .map(|i| {
            let mut ev = fixtures[0].clone();
            ev.seq = i as u64 + 1;
            ev.time.clear();
            ev.uptime_ns = 1_000_000_000 + i as u64 * 10_000_000;
            ev
        })
        .collect();
    let page = page_of(&events);
    let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
    let bins = tags(svg, "<rect class=\"bin");
    // 20 s in 120 bins, then 5 s more: twice as wide, 75 used.
    assert!(bins.len() > 60, "{}", bins.len());
    let counts: f64 = bins.iter().map(|b| num(b, "data-count")).sum();
    assert_eq!(counts, n as f64);
    let mut last = 0.0;
    for b in &bins {
        let x = num(b, "x");
        assert!(
            x > last && x >= 130.0 && x + num(b, "width") <= 990.2,
            "{b}"
        );
        last = x;
    }
    // Evenly spread OOMs: bins of about equal height.
    let heights: Vec<f64> = bins.iter().map(|b| num(b, "height")).collect();
    let max = heights.iter().copied().fold(0.0, f64::max);
    assert!(
        max <= 24.0 && heights.iter().all(|h| *h > max * 0.6),
        "{heights:?}"
    );
}

/// The warning says what was lost or incomplete when either was; the
/// note on OOMs without a section only when some are; no "more
/// sessions" when all are listed.
#[test]
fn warnings_only_when_something_is_missing() {
    let (page, _) = page_of_the_fixtures();
    assert!(!page.contains("lost record"));
    assert!(!page.contains("id=\"detail-limit\""));
    assert!(!page.contains("more sessions"));
    let (_, fixtures) = page_of_the_fixtures();
    for (lost, incomplete) in [(3, 0), (0, 2)] {
        let mut out = Vec::new();
        let mut html = Html::new(&mut out, render::Options::default(), 100);
        html.session(&Header::default()).unwrap();
        html.event(&Event::new(fixtures[0].clone())).unwrap();
        html.end(&Trailer {
            lost,
            incomplete,
            ..Trailer::default()
        })
        .unwrap();
        html.finish().unwrap();
        let page = String::from_utf8(out).unwrap();
        let want = format!(
            "{lost} lost record{}, {incomplete} incomplete OOM{}",
            plural(lost),
            plural(incomplete)
        );
        assert!(page.contains(&want), "{want}");
    }
}

/// One OOM alone sits in the middle of a two-second axis; the axis of
/// time since boot never starts before boot.
#[test]
fn a_lone_oom_is_centred_and_boot_is_the_earliest() {
    let (_, fixtures) = page_of_the_fixtures();
    let at = |secs: &[f64]| -> Vec<f64> {
        let events: Vec<OomEvent> = secs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut ev = fixtures[0].clone();
                ev.seq = i as u64 + 1;
                ev.time.clear();
                ev.uptime_ns = (t * 1e9) as u64;
                ev
            })
            .collect();
        let page = page_of(&events);
        let svg = blocks(&page, "<svg id=\"timeline\"", "</svg>")[0];
        tags(svg, "<circle").iter().map(|c| num(c, "cx")).collect()
    };
    assert!((at(&[5.0])[0] - 560.0).abs() < 0.06);
    // 0.1 s and 10 s: 2 % of the span before 0.1 s would be before boot.
    let x = at(&[0.1, 10.0]);
    let hi = 10.0 + 9.9 * 0.02;
    assert!((x[0] - (130.0 + 0.1 / hi * 860.0)).abs() < 0.06, "{x:?}");
    assert!((x[1] - (130.0 + 10.0 / hi * 860.0)).abs() < 0.06, "{x:?}");
}

/// The small blocks, by hand: the lead-up's line chart (oldest at the
/// left, the OOM at the right, lowest value at the bottom), the memory
/// cgroup's bar by its share, an order too large to be one, a frame
/// with a name and no offset, and a page without OOMs.
#[test]
fn the_small_blocks_by_hand() {
    use crate::schema::event::{LeadPoint, LeadUp, MemcgMemory};
    let point = |ms_before, kb| LeadPoint {
        ms_before,
        memcg_usage_kb: Some(kb),
        ..LeadPoint::default()
    };
    let l = LeadUp {
        interval_ms: 1000,
        points: vec![point(2000, 1), point(1000, 2), point(0, 3)],
    };
    // One point is no line; two are.
    let short = |n: usize| LeadUp {
        interval_ms: 1000,
        points: l.points[3 - n..].to_vec(),
    };
    assert!(!lead_up_block(&short(1)).contains("<svg"));
    assert!(lead_up_block(&short(2)).contains("<svg class=\"leadup memcg\""));
    let block = lead_up_block(&l);
    let svg = tags(&block, "<svg class=\"leadup memcg\"")[0];
    assert_eq!(attr(svg, "data-values"), Some("1 2 3"));
    assert!(
        block.contains("<polyline points=\"0.0,36.0 150.0,20.0 300.0,4.0\"/>"),
        "{block}"
    );
    let bar = memcg_block(&MemcgMemory {
        usage_kb: 1024,
        limit_kb: 4096,
        failcnt: 2,
    });
    assert_eq!(num(tags(&bar, "<rect class=\"used\"")[0], "width"), 75.0);
    assert!(bar.contains("(25 %), failcnt 2"), "{bar}");
    let ev = OomEvent {
        order: Some(40),
        ..OomEvent::default()
    };
    assert!(gfp_block(&ev).contains("<p>order unknown</p>"));
    let named = Frame {
        addr: "0x1".into(),
        symbol: Some("f".into()),
        ..Frame::default()
    };
    assert_eq!(ftrace_stack(&[named]), " <stack trace>\n => f\n");
    let mut out = Vec::new();
    Html::new(&mut out, render::Options::default(), 10)
        .finish()
        .unwrap();
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("<p>No OOM in these sessions.</p>")
    );
}

/// A "who" chart: the top names, a row each from the top, then all the
/// others in one row; none when there are no others.
#[test]
fn who_charts_end_with_all_the_others() {
    let mut t = TopCounts::new(100);
    for i in 0..TOP + 2 {
        for _ in 0..=i {
            t.add(&format!("n{i:02}"));
        }
    }
    let svg = who_svg("x", &t);
    let rows = blocks(&svg, "<g class=\"who-row\"", "</g>");
    assert_eq!(rows.len(), TOP + 1);
    assert_eq!(attr(rows[TOP], "data-name"), Some("(all others)"));
    assert_eq!(num(rows[TOP], "data-count"), 1.0 + 2.0);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(num(tags(r, "<rect")[0], "y"), 20.0 * i as f64 + 3.0);
    }
    let mut few = TopCounts::new(100);
    few.add("a");
    let long = "/kubepods.slice/a-very-long-cgroup-name-indeed";
    few.add(long);
    let svg = who_svg("x", &few);
    assert!(!svg.contains("(all others)"));
    // A long name shows its end, 30 characters with the ellipsis.
    let tail: String = long.chars().skip(long.chars().count() - 29).collect();
    assert!(
        svg.contains(&format!(">…{tail}<title>{long}</title>")),
        "{svg}"
    );
    assert!(svg.contains(">a<title>a</title>"));
}

/// Frames get warm hues (0 to 54), the same for the same name, and
/// different names mostly different ones.
#[test]
fn frame_hues_are_warm_and_told_apart() {
    let names = [
        "out_of_memory",
        "oom_kill_process",
        "try_charge_memcg",
        "handle_mm_fault",
        "do_anonymous_page",
        "__alloc_pages",
        "exc_page_fault",
        "charge_memcg",
    ];
    let hues: Vec<u32> = names.iter().map(|n| hue(n)).collect();
    assert!(hues.iter().all(|h| *h < 55), "{hues:?}");
    assert_eq!(hue("out_of_memory"), hues[0]);
    let mut distinct = hues.clone();
    distinct.sort();
    distinct.dedup();
    assert!(distinct.len() >= 5, "{hues:?}");
}

/// Sizes as people read them, each unit from ten of it (and the short
/// labels under the free lists from one).
#[test]
fn sizes_change_unit_at_their_bounds() {
    assert_eq!(kb(10239), "10239 kB");
    assert_eq!(kb(10240), "10.0 MiB");
    assert_eq!(kb(10 * 1024 * 1024 - 1), "10240.0 MiB");
    assert_eq!(kb(10 * 1024 * 1024), "10.0 GiB");
    assert_eq!(short_kb(1023), "1023k");
    assert_eq!(short_kb(1024), "1M");
    assert_eq!(short_kb(1024 * 1024 - 1), "1023M");
    assert_eq!(short_kb(4 * 1024 * 1024), "4G");
    assert_eq!((plural(1), plural(0), plural(2)), ("", "s", "s"));
    assert_eq!(opt(None), "");
    assert_eq!(opt(Some(7)), "7");
}

/// The timeline's labels: wall time to the second (or the millisecond
/// when fine), seconds since boot otherwise.
#[test]
fn axis_labels_say_the_time() {
    let wall = Some(charts::Axis::Wall);
    assert_eq!(axis_label(wall, 100.5, false), "1970-01-01 00:01:40");
    assert_eq!(axis_label(wall, 100.5, true), "1970-01-01 00:01:40.500");
    assert_eq!(
        axis_label(Some(charts::Axis::Uptime), 2.5, false),
        "2.500 s"
    );
    assert_eq!(axis_label(wall, -1.0, false), "-1.000 s");
}

#[test]
fn text_and_attributes_are_escaped() {
    assert_eq!(
        esc("<a href=\"x\">&'"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
    );
}

#[test]
fn ftrace_blocks_read_like_ftraces() {
    let f = |s: &str, o, z| Frame {
        addr: "0xffff".into(),
        symbol: Some(s.into()),
        offset: Some(o),
        size: Some(z),
    };
    let text = ftrace_stack(&[f("show_free_areas", 8, 1960), f("show_mem", 60, 212)]);
    assert_eq!(
        text,
        " <stack trace>\n => show_free_areas+0x8/0x7a8\n => show_mem+0x3c/0xd4\n"
    );
}
