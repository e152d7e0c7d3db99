//! `oomtrace import` on every real kernel report the project keeps (and on
//! the seed's log, copied from a web page): each event's trigger, gfp_mask,
//! order, victim and zones must equal what the report says. The oracle is
//! this file's own reading of the log text with plain string matching,
//! not oomtrace's parser.

use oomtrace_core::schema::event::{OomEvent, Source};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("kernel-reports"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(dir.join("seed/000_6eb4e3bd62e25454.txt"));
    files.sort();
    files
}

fn import_json(args: &[&str]) -> (Vec<OomEvent>, String) {
    let all: Vec<&str> = ["import", "--json"].iter().chain(args).copied().collect();
    let (stdout, stderr) = oomtrace_ok(&all);
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (events, stderr)
}

/// The report's own words, read simply: web copies get their no-break
/// spaces and folded runs of spaces undone first.
fn plain(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let l = l.replace("\u{a0} ", " ").replace('\u{a0}', " ");
            let mut out = String::new();
            for (i, part) in l.split("                ").enumerate() {
                let part = if i == 0 { part } else { part.trim_start() };
                out.push_str(part);
            }
            // Drop the timestamp.
            match out.find("] ") {
                Some(i) if out.starts_with('[') => out[i + 2..].to_owned(),
                _ => out,
            }
        })
        .collect()
}

/// (comm, gfp_mask, order) of each `invoked oom-killer` line.
fn invoked(lines: &[String]) -> Vec<(String, u32, i32)> {
    lines
        .iter()
        .filter_map(|l| {
            let (comm, rest) = l.split_once(" invoked oom-killer: gfp_mask=0x")?;
            let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
            let order = rest.split("order=").nth(1)?;
            let order: String = order
                .chars()
                .take_while(|c| *c == '-' || c.is_ascii_digit())
                .collect();
            Some((
                comm.trim().to_owned(),
                u32::from_str_radix(&hex, 16).ok()?,
                order.parse().ok()?,
            ))
        })
        .collect()
}

/// (pid, comm, anon-rss kB) of each `Killed process` line.
fn killed(lines: &[String]) -> Vec<(i32, String, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.split("Killed process ").nth(1)?;
            let (pid, rest) = rest.split_once(" (")?;
            let (comm, rest) = rest.rsplit_once(") total-vm:")?;
            let anon = rest.split("anon-rss:").nth(1)?.split("kB").next()?;
            Some((pid.parse().ok()?, comm.to_owned(), anon.parse().ok()?))
        })
        .collect()
}

/// The timestamp (seconds since boot) of each `invoked oom-killer` line
/// that has one (`[   12.383637] ...`), read from the raw text.
fn invoked_times(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.contains(" invoked oom-killer: "))
        .filter_map(|l| {
            let stamp = l.split_once('[')?.1.split_once(']')?.0;
            stamp.trim().parse().ok()
        })
        .collect()
}

/// The zone names of the report's zone lines (`... DMA32 free:NkB min:...`).
fn zone_lines(lines: &[String]) -> Vec<(String, u64)> {
    lines
        .iter()
        .filter_map(|l| {
            let (head, rest) = l.split_once(" free:")?;
            if !rest.contains(" min:") {
                return None;
            }
            let zone = head.split_whitespace().last()?.to_owned();
            let free = rest.split("kB").next()?.parse().ok()?;
            Some((zone, free))
        })
        .collect()
}

#[test]
fn imported_events_say_what_the_reports_say() {
    let mut checked = 0;
    for file in fixtures() {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = plain(&text);
        let (events, _) = import_json(&[&name]);
        let kernel_invoked = invoked(&lines);
        let kernel_killed = killed(&lines);
        let with_header: Vec<&OomEvent> = events.iter().filter(|e| e.gfp_mask.is_some()).collect();
        assert_eq!(with_header.len(), kernel_invoked.len(), "{name}: reports");
        // Each event's time is its report's, to the microsecond the log has.
        let times = invoked_times(&text);
        if !times.is_empty() {
            assert_eq!(times.len(), with_header.len(), "{name}: timestamps");
            for (ev, t) in with_header.iter().zip(&times) {
                let ours = ev.uptime_ns as f64 / 1e9;
                assert!(
                    (ours - t).abs() < 1e-6,
                    "{name}: uptime_ns {} for the report at [{t}]",
                    ev.uptime_ns
                );
            }
        }
        for (ev, (comm, gfp, order)) in with_header.iter().zip(&kernel_invoked) {
            assert_eq!(ev.source, Source::KernelLog);
            assert_eq!(ev.trigger.comm.as_deref(), Some(comm.as_str()), "{name}");
            assert_eq!(ev.gfp_mask, Some(*gfp), "{name}");
            assert_eq!(ev.order, Some(*order), "{name}");
            checked += 1;
        }
        let victims: Vec<(i32, String, u64)> = events
            .iter()
            .filter_map(|e| {
                let v = e.victim.as_ref()?;
                Some((v.pid?, v.comm.clone()?, v.anon_rss_kb?))
            })
            .collect();
        assert_eq!(victims, kernel_killed, "{name}: victims");
        let ours: Vec<(String, u64)> = events
            .iter()
            .flat_map(|e| e.zones.iter().flatten())
            .filter_map(|z| Some((z.zone.to_string(), z.free_kb?)))
            .collect();
        assert_eq!(ours, zone_lines(&lines), "{name}: zones");
    }
    assert!(checked >= 12, "{checked} reports checked");
}

#[test]
fn the_seeds_report_imports_with_its_highmem_and_cma_free_lists() {
    let seed = fixture("seed/000_6eb4e3bd62e25454.txt");
    let (events, _) = import_json(&[seed.to_str().unwrap()]);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert_eq!((ev.gfp_mask, ev.order), (Some(0x6000c0), Some(-1)));
    let zones = ev.zones.as_ref().unwrap();
    let dma = zones.iter().find(|z| z.zone == "DMA").unwrap();
    // "DMA: 2*4kB (EC) 5*8kB (UEC) ... 160*4096kB (MC) = 665056kB"
    assert_eq!(dma.free_area, vec![2, 5, 5, 5, 3, 4, 0, 3, 1, 3, 160]);
    assert_eq!(dma.free_types[0], "EC");
    assert_eq!(dma.free_area_kb(4), 665056);
    let high = zones.iter().find(|z| z.zone == "HighMem").unwrap();
    assert_eq!((high.free_kb, high.min_kb), (Some(1054428), Some(512)));
    // The ftrace capture of the sysrq-f stack at show_free_areas.
    let sfa = ev.show_free_areas_stack.as_ref().unwrap();
    assert_eq!(sfa[0].symbol.as_deref(), Some("show_free_areas"));
    assert_eq!((sfa[0].offset, sfa[0].size), (Some(8), Some(0x7a8)));
    assert!(
        sfa.iter()
            .any(|f| f.symbol.as_deref() == Some("moom_callback"))
    );
}

/// `import -o` writes a session `report` reads; `report` then prints the
/// kernel's own lines back (the unit test checks every line; here the
/// command line end to end).
#[test]
fn an_imported_session_reports_the_kernels_lines() {
    let dir = Scratch::new("import");
    let session = dir.join("imported.json");
    let fixture = fixture("kernel-reports/6.12-qemu-sysrq-global-memcg.log");
    let session = session.to_str().unwrap();
    oomtrace_ok(&["import", fixture.to_str().unwrap(), "-o", session]);
    let (text, _) = oomtrace_ok(&["report", session]);
    let kernel = plain(&std::fs::read_to_string(&fixture).unwrap());
    for needle in [
        "Killed process",
        "oom-kill:",
        " total pagecache pages",
        "lowmem_reserve[]:",
    ] {
        for l in kernel.iter().filter(|l| l.contains(needle)) {
            assert!(
                text.contains(l.trim_start()),
                "report lacks the kernel's line {l:?}"
            );
        }
    }
    let (summary, _) = oomtrace_ok(&["report", "--summary", session]);
    assert!(
        summary.contains("sessions: 1 (0 not stopped cleanly)"),
        "{summary}"
    );
    assert!(summary.contains("OOMs: 3 (3 killed a task"), "{summary}");
    // Two global OOMs (sysrq-f and the hog) and one in /hogs.
    assert!(summary.contains("       2  (global)"), "{summary}");
    assert!(summary.contains("       1  /hogs"), "{summary}");
}

/// Any input, however hostile, gives an answer in bounded memory: a line
/// without end is cut, not held.
#[test]
fn an_endless_line_is_cut_not_held() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 262144; head -c 300000000 /dev/zero | {OOMTRACE} import -"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no OOM report"));
}

/// `--btf` may name anything: /dev/zero is refused in bounded memory, in
/// one sentence naming the file.
#[test]
fn a_btf_file_without_end_is_refused() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 524288; {OOMTRACE} check --btf /dev/zero"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/dev/zero: more than 64 MiB, which no kernel's BTF is"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
