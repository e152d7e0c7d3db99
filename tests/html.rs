//! `report --format html` opened in a real browser (Debian's Chromium,
//! driven by playwright-core: tests/browser/page.mjs). The oracles: the
//! session files' own JSON (read here with serde_json, not by the sink),
//! the kernel logs' text, the kernel's `oom_kill` counter and the limits
//! this test set. Screenshots land in target/html-test/<test>/.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

fn out_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/html-test")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What Chromium saw of the page (see page.mjs for the fields).
fn browse(page: &Path, shots: &Path) -> Value {
    browse_with(page, shots, &[])
}

/// The same, with page.mjs's extra arguments (`text`: the page's text too).
fn browse_with(page: &Path, shots: &Path, extra: &[&str]) -> Value {
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium and playwright-core in tests/browser: \
         `cargo xtask deps` installs both"
    );
    let out = Command::new("node")
        .arg(browser.join("page.mjs"))
        .arg(page)
        .arg(shots)
        .args(extra)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "page.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "{}: loaded in {} ms; screenshots in {}",
        page.display(),
        seen["load_ms"],
        shots.display()
    );
    seen
}

/// Every session file's lines of one type.
fn lines_of(files: &[PathBuf], kind: &str) -> Vec<Vec<Value>> {
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .split_inclusive('\n')
                // Read while the recorder writes: a line not yet whole is
                // not counted (once it stops, every line is).
                .filter(|l| l.ends_with('\n'))
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .filter(|v| v["type"] == kind)
                .collect()
        })
        .collect()
}

fn report_html(files: &[PathBuf], page: &Path, extra: &[&str]) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["report".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    args.extend(["--format", "html", "-o"].map(std::ffi::OsStr::new));
    args.push(page.as_os_str());
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    oomtrace_ok(&args);
}

/// What every page must be: it loads with no error and fetches nothing, the
/// overview comes first, and every chart drew something.
fn assert_sound(seen: &Value) {
    for k in ["console_errors", "page_errors", "requests"] {
        assert_eq!(seen[k], Value::Array(vec![]), "{k}");
    }
    assert_eq!(seen["overview_first"], true);
    let svgs = seen["svgs"].as_array().unwrap();
    assert!(svgs.len() > 3);
    for s in svgs {
        assert!(
            s["w"].as_f64().unwrap() > 50.0 && s["h"].as_f64().unwrap() > 10.0,
            "a chart drew nothing: {s}"
        );
        assert!(s["shapes"].as_u64().unwrap() > 0, "an empty chart: {s}");
    }
    for id in ["timeline", "flame"] {
        assert!(svgs.iter().any(|s| s["id"] == id), "no {id}");
    }
}

/// Each stacked bar as Chromium drew it: its parts' kB add up to its total,
/// each part is as wide as its share of the bar, to a pixel, and starts
/// where the one before it ended.
fn assert_bars_drawn_to_scale(seen: &Value) {
    let mut bars = 0;
    for d in seen["details"].as_array().unwrap() {
        for bar in d["bars"].as_array().unwrap() {
            let total = bar["total"].as_f64().unwrap();
            let width = bar["width"].as_f64().unwrap();
            let parts = bar["parts"].as_array().unwrap();
            let kb: f64 = parts.iter().map(|p| p[0].as_f64().unwrap()).sum();
            assert_eq!(kb, total, "{bar}");
            let mut x = 0.0;
            for p in parts {
                let (k, left, w) = (
                    p[0].as_f64().unwrap(),
                    p[1].as_f64().unwrap(),
                    p[2].as_f64().unwrap(),
                );
                let want = if total > 0.0 { k / total * width } else { 0.0 };
                assert!(
                    (w - want).abs() <= 1.0,
                    "{k} kB of {total}: {w} px, want {want}: {bar}"
                );
                assert!(
                    (left - x).abs() <= 1.0,
                    "starts at {left} px, the last ended at {x}: {bar}"
                );
                x += w;
            }
            bars += 1;
        }
    }
    assert!(bars > 0, "no bar drawn");
}

/// Counts of a who chart, by its caption's first words.
fn who(seen: &Value, title: &str) -> BTreeMap<String, u64> {
    let fig = seen["who"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["title"].as_str().unwrap().split(" (").next() == Some(title))
        .unwrap_or_else(|| panic!("no who chart {title}"));
    fig["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[1].as_u64().unwrap()))
        .collect()
}

/// Checks each OOM's section against its event, and the charts against the
/// events together.
fn assert_matches_events(seen: &Value, events: &[Vec<Value>]) {
    let want: Vec<(u64, u64)> = events
        .iter()
        .enumerate()
        .flat_map(|(s, evs)| {
            evs.iter()
                .map(move |e| (s as u64, e["seq"].as_u64().unwrap()))
        })
        .collect();
    let ooms: Vec<(u64, u64)> = seen["ooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["session"].as_u64().unwrap(), o["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(ooms, want, "one section per OOM, with its seq");
    let marks: Vec<(u64, u64)> = seen["timeline_marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["session"].as_u64().unwrap(), o["seq"].as_u64().unwrap()))
        .collect();
    let mut sorted = marks.clone();
    sorted.sort();
    assert_eq!(sorted, want, "one timeline mark per OOM");
    let all: Vec<&Value> = events.iter().flatten().collect();
    let mut victims = BTreeMap::new();
    for e in &all {
        let name = match e["victim"].as_object() {
            Some(v) => v["comm"].as_str().unwrap_or("(unknown)").to_owned(),
            None => "(none killed)".into(),
        };
        *victims.entry(name).or_insert(0u64) += 1;
    }
    assert_eq!(who(seen, "Victim"), victims);
    let details = seen["details"].as_array().unwrap();
    for (d, e) in details.iter().zip(&all) {
        assert_eq!(d["seq"], e["seq"]);
        match e["memcg_memory"].as_object() {
            Some(m) => assert_eq!(
                d["memcg"],
                serde_json::json!([m["usage_kb"], m["limit_kb"]]),
                "memcg bar of OOM {}",
                e["seq"]
            ),
            None => assert_eq!(d["memcg"], Value::Null),
        }
        if let Some(v) = e["victim"].as_object() {
            let bar: BTreeMap<String, u64> = d["victim"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().into(), p[1].as_u64().unwrap()))
                .collect();
            for (part, field) in [
                ("anon", "anon_rss_kb"),
                ("file", "file_rss_kb"),
                ("shmem", "shmem_rss_kb"),
            ] {
                assert_eq!(
                    bar.get(part).copied(),
                    v[field].as_u64(),
                    "{part} of OOM {}",
                    e["seq"]
                );
            }
        }
        let zones: Vec<&Value> = e["zones"]
            .as_array()
            .map(|z| z.iter().filter(|z| z["managed_kb"] != 0).collect())
            .unwrap_or_default();
        // Watermarks only where the free memory is known.
        let measured: Vec<&&Value> = zones.iter().filter(|z| !z["free_kb"].is_null()).collect();
        let drawn = d["zones"].as_array().unwrap();
        assert_eq!(drawn.len(), measured.len(), "zones of OOM {}", e["seq"]);
        for (dz, z) in drawn.iter().zip(&measured) {
            assert_eq!(
                dz[0],
                format!("Node {} {}", z["node"], z["zone"].as_str().unwrap())
            );
            for (i, k) in ["free_kb", "min_kb", "low_kb", "high_kb"]
                .iter()
                .enumerate()
            {
                assert_eq!(dz[i + 1].as_u64(), z[k].as_u64(), "{k} of {dz}");
            }
        }
        let buddies = d["buddies"].as_array().unwrap();
        for (b, z) in buddies.iter().zip(
            zones
                .iter()
                .filter(|z| z["free_area"].as_array().is_some_and(|a| !a.is_empty())),
        ) {
            let counts: Vec<u64> = b[1]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o[0].as_u64().unwrap())
                .collect();
            let want: Vec<u64> = z["free_area"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .collect();
            assert_eq!(counts, want, "free lists of {}", b[0]);
        }
        // The lead-up's memcg usage, drawn as recorded.
        let usage: Vec<u64> = e["lead_up"]["points"]
            .as_array()
            .map(|p| {
                p.iter()
                    .filter_map(|p| p["memcg_usage_kb"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        if usage.len() >= 2 {
            let drawn: Vec<u64> = d["leadup_memcg"]
                .as_array()
                .unwrap_or_else(|| panic!("no lead-up drawn for OOM {}", e["seq"]))
                .iter()
                .map(|v| v.as_f64().unwrap() as u64)
                .collect();
            assert_eq!(drawn, usage, "lead-up of OOM {}", e["seq"]);
        } else {
            assert_eq!(d["leadup_memcg"], Value::Null);
        }
        let chips: Vec<&str> = d["chips"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let flags: Vec<&str> = e["gfp_flags"]
            .as_str()
            .map(|f| f.split('|').collect())
            .unwrap_or_default();
        assert_eq!(chips, flags);
    }
    // A click opens the first OOM's kernel-style text.
    let first = all[0];
    let text = seen["click_report"]["text"].as_str().unwrap();
    assert_eq!(seen["click_report"]["visible"], true);
    assert!(text.contains(&format!("OOM #{}", first["seq"])), "{text}");
    assert!(text.contains("invoked oom-killer"), "{text}");
    assert_eq!(seen["click_mark"]["target"], true, "{}", seen["click_mark"]);
    assert_eq!(seen["click_mark"]["open"], true);
}

#[test]
fn the_page_of_imported_kernel_logs_shows_each_oom_as_the_log_says() {
    let dir = out_dir("imported");
    let logs = [
        fixture("seed/000_6eb4e3bd62e25454.txt"),
        fixture("kernel-reports/6.12-qemu-sysrq-global-memcg.log"),
        fixture("kernel-reports/6.1-armmp-lpae-qemu-sysrq-cut.log"),
        fixture("kernel-reports/6.18-memcg-oom.log"),
    ];
    let mut sessions = Vec::new();
    for (i, log) in logs.iter().enumerate() {
        let s = dir.join(format!("{i}.jsonl"));
        oomtrace_ok(&[
            "import".as_ref(),
            log.as_os_str(),
            "-o".as_ref(),
            s.as_os_str(),
        ]);
        sessions.push(s);
    }
    let page = dir.join("report.html");
    report_html(&sessions, &page, &[]);
    let seen = browse(&page, &dir);
    assert_sound(&seen);
    let events = lines_of(&sessions, "oom");
    assert_matches_events(&seen, &events);
    assert_bars_drawn_to_scale(&seen);
    // The board's buddy lists, against the log's own line, read here:
    // `Normal: 2*4kB (EC) 5*8kB (UEC) ... = NkB`.
    let seed = std::fs::read_to_string(&logs[0]).unwrap();
    let details = seen["details"].as_array().unwrap();
    let mut checked = 0;
    for line in seed.lines() {
        // A web copy: no-break spaces, the line folded by runs of them.
        let line = line.replace('\u{a0}', " ");
        let Some((head, rest)) = line.split_once("kB (").and_then(|_| line.split_once(": ")) else {
            continue;
        };
        let zone = head.trim().rsplit(' ').next().unwrap();
        if !rest.contains("*4kB") {
            continue;
        }
        let mut counts = Vec::new();
        let mut types = Vec::new();
        let words: Vec<&str> = rest.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if let Some((n, _)) = w.split_once('*') {
                counts.push(n.parse::<u64>().unwrap());
                let t = words.get(i + 1).filter(|t| t.starts_with('('));
                types.push(
                    t.map_or("", |t| t.trim_matches(|c| c == '(' || c == ')'))
                        .to_owned(),
                );
            }
        }
        let drawn = details[0]["buddies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b[0].as_str().unwrap().ends_with(&format!(" {zone}")))
            .unwrap_or_else(|| panic!("no free lists drawn for {zone}"));
        let got_counts: Vec<u64> = drawn[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o[0].as_u64().unwrap())
            .collect();
        let got_types: Vec<String> = drawn[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o[1].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got_counts, counts, "{line}");
        assert_eq!(got_types, types, "{line}");
        checked += 1;
    }
    assert!(checked >= 2, "the seed's buddy lines: {checked}");
    // The seed's show_free_areas stack as ftrace prints a stack trace.
    let sfa = details[0]["ftrace"]
        .as_str()
        .expect("the seed's sysrq-f stack");
    assert!(
        sfa.starts_with(" <stack trace>\n => show_free_areas+0x"),
        "{sfa}"
    );
    // The merged stacks: a click lists the OOMs through the frame.
    let flame = &seen["click_flame"];
    let n = flame["count"].as_u64().unwrap();
    assert!(n >= 1);
    assert_eq!(flame["links"].as_array().unwrap().len() as u64, n.min(50));
}

#[test]
fn the_page_of_a_recorded_memcg_storm_counts_what_the_kernel_killed() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("storm");
    let session = dir.join("storm.jsonl");
    let before = vmstat_oom_kills();
    let recorder = Tracer::start(&["record", "-o", session.to_str().unwrap(), "--quiet"]);
    let out = Command::new(OOMTRACE)
        .args([
            "trigger",
            "storm",
            "--kills",
            "40",
            "--parallel",
            "2",
            "--limit",
            "8M",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Last, a hog growing 3 MiB/s in 24 MiB: its OOM has a lead-up to draw.
    let slow = slow_hog_command().output().unwrap();
    assert!(
        slow.status.success(),
        "{}",
        String::from_utf8_lossy(&slow.stderr)
    );
    let kills = vmstat_oom_kills() - before;
    // Every kill is in the file before the recorder stops.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while lines_of(std::slice::from_ref(&session), "oom")[0].len() < kills as usize
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    recorder.interrupt(std::time::Duration::from_secs(20));
    let events = lines_of(std::slice::from_ref(&session), "oom");
    assert_eq!(events[0].len() as u64, kills, "the kernel's oom_kill delta");
    let page = dir.join("report.html");
    report_html(std::slice::from_ref(&session), &page, &[]);
    let seen = browse(&page, &dir);
    assert_sound(&seen);
    assert_matches_events(&seen, &events);
    // The storm's OOMs are its 8 MiB memcgs', the last the slow hog's 24 MiB:
    // limits this test set, drawn as the events say.
    let limits: Vec<u64> = seen["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["memcg"][1]
                .as_u64()
                .expect("a memcg bar on every memcg OOM")
        })
        .collect();
    assert_eq!(limits.len() as u64, kills);
    assert_eq!(limits.last(), Some(&24576));
    let last = seen["details"].as_array().unwrap().last().unwrap();
    assert!(
        last["leadup_memcg"]
            .as_array()
            .is_some_and(|v| v.len() >= 3),
        "the slow hog's lead-up drawn: {last}"
    );
    assert!(
        limits[..limits.len() - 1].iter().all(|l| *l == 8192),
        "{limits:?}"
    );
}

/// 100 000 OOMs (real events of the 6.18 logs, their victim, cgroup and
/// time varied; the first 300 the global OOM with all its zones and
/// counters, the largest detail there is, the rest the memcg OOM): the page
/// stays under 5 MB, `report` in flat memory, the charts count every OOM and
/// the page says what it left out.
#[test]
fn a_100k_event_session_makes_a_small_page_in_flat_memory() {
    const N: u64 = 100_000;
    let dir = out_dir("big");
    let (json, _) = oomtrace_ok(&[
        "import".as_ref(),
        "--json".as_ref(),
        fixture("kernel-reports/6.18-memcg-oom.log").as_os_str(),
    ]);
    let base: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let (json, _) = oomtrace_ok(&[
        "import".as_ref(),
        "--json".as_ref(),
        fixture("kernel-reports/6.18-global-oom.log").as_os_str(),
    ]);
    let global: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(global["constraint"], "CONSTRAINT_NONE");
    let session = dir.join("big.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&session).unwrap());
    use std::io::Write;
    writeln!(w, r#"{{"type":"session","format":1,"oomtrace":"0.1.0","kernel":"6.18.0","hostname":"big","boot_id":"b","start":"2026-11-29T00:00:00Z","mode":"kprobe","hooks":[],"arch":"x86_64"}}"#).unwrap();
    let mut victims: BTreeMap<String, u64> = BTreeMap::new();
    let mut globals = 0;
    for i in 0..N {
        let mut e = if i < 300 {
            global.clone()
        } else {
            base.clone()
        };
        e["seq"] = (i + 1).into();
        // One every 36 ms, an hour in all.
        let ms = i * 36;
        e["time"] = format!(
            "2026-11-29T{:02}:{:02}:{:02}.{:03}Z",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
        .into();
        let comm = format!("worker-{}", i % 37);
        e["victim"]["comm"] = comm.clone().into();
        e["victim"]["cgroup"] = format!("/pods/pod-{}", i % 500).into();
        // What import read from the log's path would name another workload.
        e["victim"].as_object_mut().unwrap().remove("workload");
        if i < 300 || i % 100 == 0 {
            e["constraint"] = "CONSTRAINT_NONE".into();
            e["memcg"] = Value::Null;
            globals += 1;
        }
        *victims.entry(comm).or_default() += 1;
        serde_json::to_writer(&mut w, &e).unwrap();
        w.write_all(b"\n").unwrap();
    }
    writeln!(w, r#"{{"type":"end","end":"2026-11-29T01:00:01Z","events":{N},"lost":0,"incomplete":0,"deferred":0}}"#).unwrap();
    drop(w);
    let page = dir.join("report.html");
    let (status, _, err, peak_kb) = oomtrace_rusage(&[
        "report".as_ref(),
        session.as_os_str(),
        "--format".as_ref(),
        "html".as_ref(),
        "-o".as_ref(),
        page.as_os_str(),
    ]);
    assert_eq!(status, 0, "{err}");
    let session_size = std::fs::metadata(&session).unwrap().len();
    std::fs::remove_file(&session).unwrap();
    let size = std::fs::metadata(&page).unwrap().len();
    eprintln!(
        "100k OOMs: session {:.0} MB → page {:.2} MB, report's peak RSS {:.1} MiB",
        session_size as f64 / 1e6,
        size as f64 / 1e6,
        peak_kb as f64 / 1024.0
    );
    assert!(size < 5_000_000, "page of {size} bytes");
    assert!(peak_kb < 40 * 1024, "report held {peak_kb} KiB");
    let seen = browse(&page, &dir);
    assert_sound(&seen);
    // The first OOMs in order, as many as the note says, at most 200.
    let shown: Vec<u64> = seen["ooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["seq"].as_u64().unwrap())
        .collect();
    assert!(
        shown.len() >= 100 && shown.len() <= 200,
        "{} sections",
        shown.len()
    );
    assert_eq!(shown, (1..=shown.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        seen["timeline_bins"].as_u64(),
        Some(N),
        "every OOM on the timeline"
    );
    // The twelve largest (ties by name), the rest together.
    let mut ranked: Vec<(String, u64)> = victims.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut top: BTreeMap<String, u64> = ranked[..12].iter().cloned().collect();
    top.insert(
        "(all others)".into(),
        ranked[12..].iter().map(|r| r.1).sum(),
    );
    assert_eq!(who(&seen, "Victim"), top);
    let workloads = who(&seen, "Victim's workload");
    assert_eq!(workloads.values().sum::<u64>(), N);
    assert_eq!(workloads.len(), 13, "twelve and the others");
    assert_eq!(workloads["(all others)"], N - 12 * 200);
    let lanes: Vec<&str> = seen["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        lanes,
        [
            format!("memcg ({})", N - globals),
            format!("global ({globals})"),
            "reaper".into()
        ]
    );
    let note = seen["detail_note"].as_str().unwrap();
    assert!(
        note.contains(&format!("first {} OOMs", shown.len())) && note.contains(&format!("all {N}")),
        "{note:?}"
    );
}

/// Names are anyone's to choose: a process sets its own comm (15 bytes), a
/// delegated cgroup's owner its name. Markup in them must reach the page as
/// text: in Chromium nothing runs and no element appears, and each name is
/// there, character for character, in the page's text.
#[test]
fn markup_in_a_comm_or_a_cgroup_name_is_shown_as_text() {
    let dir = out_dir("markup");
    let session = dir.join("imported.jsonl");
    oomtrace_ok(&[
        "import".as_ref(),
        fixture("kernel-reports/6.18-memcg-oom.log").as_os_str(),
        "-o".as_ref(),
        session.as_os_str(),
    ]);
    let comm = "<svg onload=x>";
    let cgroup = r#"/x"><img src=x onerror="window.__pwned=1">'<script>window.__pwned=1</script>"#;
    let text = std::fs::read_to_string(&session).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        if v["type"] == "oom" {
            for who in ["trigger", "victim"] {
                v[who]["comm"] = comm.into();
                v[who]["cgroup"] = cgroup.into();
            }
            v["memcg"] = cgroup.into();
        }
        out.push_str(&serde_json::to_string(&v).unwrap());
        out.push('\n');
    }
    std::fs::write(&session, out).unwrap();
    let page = dir.join("report.html");
    report_html(std::slice::from_ref(&session), &page, &[]);
    let seen = browse_with(&page, &dir, &["text"]);
    assert_sound(&seen);
    assert_eq!(seen["pwned"], false, "markup in a name ran");
    assert_eq!(seen["images"], 0, "an <img> from a name");
    let page_text = seen["text"].as_str().unwrap();
    for name in [comm, cgroup] {
        assert!(page_text.contains(name), "{name:?} is not shown as text");
    }
}
