//! `record` and `report` on this machine's kernel: a real memcg OOM recorded
//! while `trace --json` watches the same OOM; a recorder killed with SIGKILL;
//! and every kind of bad file.

use oomtrace_core::schema::event::OomEvent;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::*;

fn report(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(OOMTRACE)
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What depends on when each tracer's program ran (the two run one after
/// the other, microseconds apart, on a live machine): the clock fields, the
/// memory counters and free lists, and what a user stack resolved to
/// (read from /proc while the process still lived). Zones keep their names.
fn without_time(mut ev: OomEvent) -> OomEvent {
    ev.time.clear();
    ev.uptime_ns = 0;
    // Each tracer resolves the user stack itself, racing the victim's exit:
    // one may find its mappings and the other not. The addresses are the
    // kernel side's copy and must be equal.
    for f in ev.user_stack.iter_mut().flatten() {
        *f = oomtrace_core::schema::event::UserFrame {
            addr: std::mem::take(&mut f.addr),
            ..Default::default()
        };
    }
    // Only the recorder keeps a lead-up (`record --lead-up`, sampled by
    // its own thread).
    ev.lead_up = None;
    assert!(
        ev.counters.is_some() && ev.nodes.is_some(),
        "no memory state"
    );
    ev.counters = None;
    ev.nodes = None;
    ev.zones = ev.zones.map(|zones| {
        zones
            .into_iter()
            .map(|z| oomtrace_core::schema::event::Zone {
                node: z.node,
                zone: z.zone,
                ..Default::default()
            })
            .collect()
    });
    ev
}

#[test]
fn a_recorded_oom_reports_as_it_was_traced_live() {
    let dir = Scratch::new("live");
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let file = dir.join("live.oomtrace");
    let f = file.to_str().unwrap();
    let live = Tracer::start(&["trace", "--json", "--count", "1"]);
    let recorder = Tracer::start(&["record", "-o", f, "--count", "1", "--quiet"]);
    let pid = trigger_memcg();
    let live_out = live.finish(Duration::from_secs(30));
    recorder.finish(Duration::from_secs(30));

    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (code, json, err) = report(&["--format", "json", f]);
    assert_eq!(code, 0, "{err}");
    let recorded: OomEvent = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let traced: OomEvent = serde_json::from_str(live_out.lines().next().unwrap()).unwrap();
    assert_eq!(recorded.victim.as_ref().unwrap().pid, Some(pid));
    // Each tracer has its own BPF program, which reads the clock itself: the
    // timestamps differ by microseconds, everything else is equal.
    assert!(recorded.uptime_ns.abs_diff(traced.uptime_ns) < 10_000_000);
    assert_eq!(without_time(recorded), without_time(traced));

    let (code, text, _) = report(&[f]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&format!("Killed process {pid} (oomtrace-hog)")),
        "{text}"
    );
    let (code, summary, _) = report(&["--summary", f]);
    assert_eq!(code, 0);
    assert!(summary.contains("OOMs: 1 (1 killed a task"), "{summary}");
    assert!(summary.contains("oomtrace-hog"), "{summary}");
    let (_, filtered, _) = report(&["--format", "json", "--pid", "1", f]);
    assert!(filtered.is_empty(), "{filtered}");

    // Never silently overwritten.
    let out = Command::new(OOMTRACE)
        .args(["record", "-o", f, "--duration", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
}

#[test]
fn a_recorder_killed_with_sigkill_leaves_every_event_readable() {
    let dir = Scratch::new("killed");
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let file = dir.join("killed.oomtrace");
    let f = file.to_str().unwrap();
    let recorder = Tracer::start(&["record", "-o", f, "--quiet"]);
    let pid = trigger_memcg();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Whole lines only: the event's line may be in the middle of its write.
    while std::fs::read_to_string(&file)
        .unwrap()
        .matches('\n')
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the event never reached the file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain syscall on our child.
    unsafe { libc::kill(recorder.child_pid as i32, libc::SIGKILL) };
    drop(recorder);
    let (code, json, err) = report(&["--format", "json", f]);
    assert_eq!(code, 0, "{err}");
    let ev: OomEvent = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(ev.victim.unwrap().pid, Some(pid));
    assert!(err.contains("no end record"), "{err}");
}

#[test]
fn bad_files_get_one_clear_sentence_and_a_failing_exit() {
    let dir = Scratch::new("bad-files");
    let empty = dir.join("empty");
    std::fs::write(&empty, "").unwrap();
    let other = dir.join("other");
    std::fs::write(&other, "Nov 27 kernel: hello\n").unwrap();
    let corrupt = dir.join("corrupt");
    std::fs::write(
        &corrupt,
        "{\"type\":\"session\",\"format\":1,\"oomtrace\":\"0\",\"kernel\":\"k\",\"hostname\":\"h\",\"boot_id\":\"b\",\"start\":\"s\",\"mode\":\"tracepoint\",\"hooks\":[]}\n{oops\n",
    )
    .unwrap();
    let newer = dir.join("newer");
    std::fs::write(&newer, "{\"type\":\"session\",\"format\":7}\n").unwrap();
    let cases = [
        (empty.to_str().unwrap().to_owned(), "is empty"),
        (
            other.to_str().unwrap().to_owned(),
            ":1: not an oomtrace session",
        ),
        (
            corrupt.to_str().unwrap().to_owned(),
            ":2: not a JSON object",
        ),
        (newer.to_str().unwrap().to_owned(), "session format 7"),
        (dir.path().to_str().unwrap().to_owned(), "is a directory"),
        ("/nonexistent/session".to_owned(), "No such file"),
    ];
    for (path, says) in cases {
        let (code, _, err) = report(&[&path]);
        assert_eq!(code, 1, "{path}: {err}");
        assert!(
            err.contains(says) && err.contains(&path),
            "{path}: {err:?} should say {says:?}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(err.matches(says).count(), 1, "{err:?} says it twice");
    }
    let (code, _, err) = report(&["--skip-bad", corrupt.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(":2: skipped"), "{err}");
}

/// Events are parsed on several threads and rendered in the file's order:
/// two files of a thousand events each come out as written (the test wrote
/// them, so it knows the order), and an event line that does not parse, far
/// into the second file, stops the report there naming that file and line,
/// after every event before it.
#[test]
fn events_parsed_on_several_threads_come_out_in_order() {
    let dir = Scratch::new("order");
    let event = |seq: usize| {
        let ev = OomEvent {
            seq: seq as u64,
            uptime_ns: seq as u64 * 1000,
            killed: Some(true),
            victim: Some(oomtrace_core::schema::event::Victim {
                pid: Some(seq as i32),
                comm: Some(format!("hog{seq}")),
                ..Default::default()
            }),
            ..Default::default()
        };
        serde_json::to_string(&ev).unwrap() + "\n"
    };
    let write = |name: &str, seqs: std::ops::Range<usize>, bad_at: Option<usize>| {
        let mut text = HEADER.to_owned();
        for seq in seqs {
            if Some(seq) == bad_at {
                text.push_str("{\"type\":\"oom\",\"seq\":\"not a number\"}\n");
            } else {
                text.push_str(&event(seq));
            }
        }
        text.push_str(
            r#"{"type":"end","end":"e","events":1000,"lost":0,"incomplete":0,"deferred":0}"#,
        );
        text.push('\n');
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let first = write("first.jsonl", 1..1001, None);
    let second = write("second.jsonl", 1001..2001, None);
    let pids = |out: &str| -> Vec<usize> {
        out.lines()
            .filter_map(|l| l.split("Killed process ").nth(1))
            .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
            .collect()
    };
    let (code, out, err) = report(&[&first, &second]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(pids(&out), (1..2001).collect::<Vec<_>>());
    // Line 1 is the header: event 1700 of the second file is on line 701.
    let bad = write("bad.jsonl", 1001..2001, Some(1700));
    let (code, out, err) = report(&[&first, &bad]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(pids(&out), (1..1700).collect::<Vec<_>>());
    assert!(
        err.contains(&format!("{bad}:701: bad event: invalid type")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // The HTML page, whose events two threads parse: its sections in order.
    let seqs = |page: &str| -> Vec<usize> {
        page.split("data-oom-seq=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
            .collect()
    };
    let html = ["--format", "html", "--detail-limit", "5000"];
    let (code, page, err) = report(&[&html[..], &[&first, &second]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(seqs(&page), (1..2001).collect::<Vec<_>>());
    let (code, _, err) = report(&[&html[..], &[&first, &bad]].concat());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{bad}:701: bad event: invalid type")),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `record -o -` writes the session to stdout; `--force` replaces a file
/// (0600 afterwards, whatever it was); `--append` adds a second session.
#[test]
fn record_to_stdout_force_and_append() {
    let dir = Scratch::new("forced");
    require_root();
    let quick = ["--duration", "1s", "--quiet"];
    // To stdout.
    let (stdout, _) = oomtrace_ok(&[&["record", "-o", "-"][..], &quick].concat());
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.first().unwrap()["type"], "session");
    assert_eq!(lines.last().unwrap()["type"], "end");

    // --force over a file that is not a session, world-readable.
    let file = dir.join("forced.oomtrace");
    std::fs::write(&file, "not a session\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = file.to_str().unwrap();
    let refused = Command::new(OOMTRACE)
        .args(["record", "-o", f])
        .args(quick)
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "an existing file is never overwritten silently"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    oomtrace_ok(&[&["record", "-o", f, "--force"][..], &quick].concat());
    let (code, out, err) = report(&["--summary", f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions: 1 (0 not stopped cleanly)"), "{out}");

    // --append: a second session in the same file.
    oomtrace_ok(&[&["record", "-o", f, "--append"][..], &quick].concat());
    let (code, out, err) = report(&["--summary", f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions: 2 (0 not stopped cleanly)"), "{out}");
}

/// A `kB` line of /proc/PID/status ("VmRSS", "VmLck").
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A recorder survives the OOM it watches: its memory is locked (a
/// thrashing machine cannot page it out) and its oom_score_adj is -1000 —
/// or it says in one sentence which capability that needs.
#[test]
fn a_recorder_locks_its_memory_and_keeps_out_of_the_oom_killers_way() {
    let dir = Scratch::new("protected");
    require_root();
    let file = dir.join("protected.oomtrace");
    let mut rec = Tracer::start(&["record", "-o", file.to_str().unwrap()]);
    let locked_kb = status_kb(rec.child_pid, "VmLck");
    assert!(locked_kb > 1024, "VmLck {locked_kb} kB");
    let adj = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", rec.child_pid)).unwrap();
    let said = rec.stderr_lines().join("\n");
    assert!(
        adj.trim() == "-1000"
            || said.contains("missing CAP_SYS_RESOURCE, needed to set oomtrace's oom_score_adj"),
        "oom_score_adj {adj}; stderr: {said}"
    );
    rec.interrupt(Duration::from_secs(30));
}

/// The end record says how far behind the kernel the recorder was, from
/// each kill (the kernel's timestamp) to its event: never more than a
/// reader of the session, which this test is, sees itself.
#[test]
fn the_end_record_says_how_far_behind_the_kernel_it_was() {
    use std::io::BufRead;
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let monotonic_ns = || {
        // SAFETY: timespec is plain data; CLOCK_MONOTONIC always exists.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let mut cmd = Command::new(OOMTRACE);
    cmd.args(["record", "-o", "-", "--count", "1"]);
    let mut rec = Tracer::start_command(cmd);
    let lines = std::thread::spawn({
        let stdout = rec.take_stdout();
        move || {
            std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .map(|l| (monotonic_ns(), l))
                .collect::<Vec<_>>()
        }
    });
    let victim = trigger_memcg();
    rec.finish(Duration::from_secs(30));
    let lines = lines.join().unwrap();
    let (seen_at, ev): (u64, OomEvent) = lines
        .iter()
        .find(|(_, l)| l.starts_with(r#"{"type":"oom""#))
        .map(|(t, l)| (*t, serde_json::from_str(l).unwrap()))
        .expect("no event");
    assert_eq!(ev.victim.as_ref().and_then(|v| v.pid), Some(victim));
    let end: oomtrace_core::schema::event::Trailer = lines
        .iter()
        .find(|(_, l)| l.starts_with(r#"{"type":"end""#))
        .map(|(_, l)| serde_json::from_str(l).unwrap())
        .expect("no end record");
    let l = end.latency.expect("no latency in the end record");
    let ours_ms = (seen_at - ev.uptime_ns) as f64 / 1e6;
    assert_eq!(l.events, 1);
    assert!(
        l.max_ms > 0.0 && l.max_ms <= ours_ms,
        "{l:?}; this reader saw it {ours_ms} ms after the kill"
    );
    assert!(l.median_ms <= l.max_ms && l.p99_ms <= l.max_ms, "{l:?}");
}

/// The resident set of an idle tracer, once its kallsyms table is loaded
/// (the loader thread has ended): `trace`, `trace` planning from BTF as on
/// the first start after boot (no plan cache: megabytes parsed and freed),
/// and `record` with its memory locked. Issue #13 asks for 15 MiB at most;
/// the ring buffer's mapping counts in it.
#[test]
fn an_idle_tracer_with_kallsyms_stays_within_15_mib() {
    let dir = Scratch::new("idle");
    require_root();
    const LIMIT_KB: u64 = 15 * 1024;
    let btf = dir.join("vmlinux.btf");
    std::fs::copy("/sys/kernel/btf/vmlinux", &btf).unwrap();
    let session = dir.join("idle.oomtrace");
    let runs: [&[&str]; 3] = [
        &["trace"],
        &["trace", "--btf", btf.to_str().unwrap()],
        &["record", "-o", session.to_str().unwrap(), "--force"],
    ];
    for args in runs {
        let t = Tracer::start(args);
        let task = format!("/proc/{}/task", t.child_pid);
        let deadline = Instant::now() + Duration::from_secs(30);
        let loading = || {
            std::fs::read_dir(&task).unwrap().flatten().any(|e| {
                std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| c.trim() == oomtrace_core::source::symbols::LOADER_THREAD)
            })
        };
        while loading() {
            assert!(Instant::now() < deadline, "{args:?}: kallsyms never loaded");
            std::thread::sleep(Duration::from_millis(50));
        }
        let rss_kb = status_kb(t.child_pid, "VmRSS");
        t.interrupt(Duration::from_secs(30));
        assert!(rss_kb <= LIMIT_KB, "{args:?}: VmRSS {rss_kb} kB");
        eprintln!("{args:?}: VmRSS {rss_kb} kB");
    }
}

/// A session header of no recorder in particular.
const HEADER: &str = "{\"type\":\"session\",\"format\":1,\"oomtrace\":\"0\",\"kernel\":\"k\",\"hostname\":\"h\",\"boot_id\":\"b\",\"start\":\"s\",\"mode\":\"tracepoint\",\"hooks\":[]}\n";

/// An event line the size of a real one (6.5 kB): its stack padded with frames.
fn big_event() -> String {
    let frames = vec![
        r#"{"addr":"0xffffffff81597ef4","symbol":"out_of_memory","offset":532,"size":1280}"#;
        80
    ]
    .join(",");
    format!(
        "{{\"type\":\"oom\",\"seq\":1,\"time\":\"2026-11-29T00:00:00Z\",\"uptime_ns\":1,\"source\":\"tracepoint\",\"trigger\":{{\"pid\":2,\"tid\":2,\"comm\":\"hog\"}},\"killed\":true,\"victim\":{{\"pid\":3,\"comm\":\"hog\"}},\"stack\":[{frames}]}}\n"
    )
}

/// Ten gigabytes of session through a FIFO (a stream with no size and no
/// end until the writer closes it): `report` streams it in flat memory and
/// counts every event. The writer is this test, so the oracle is what it
/// wrote.
#[test]
fn ten_gigabytes_through_a_fifo_in_flat_memory() {
    let dir = Scratch::new("fifo");
    const TOTAL: u64 = 10 << 30;
    let fifo = dir.join("ten-gigabytes.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let event = big_event();
    let events = (TOTAL - HEADER.len() as u64) / event.len() as u64;
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::io::BufWriter::with_capacity(
                1 << 20,
                std::fs::OpenOptions::new().write(true).open(&fifo).unwrap(),
            );
            f.write_all(HEADER.as_bytes()).unwrap();
            for _ in 0..events {
                f.write_all(event.as_bytes()).unwrap();
            }
        })
    };
    let (code, out, err, peak_kib) =
        oomtrace_rusage(&["report".as_ref(), "--summary".as_ref(), fifo.as_ref()]);
    writer.join().unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("OOMs: {events} ({events} killed a task")),
        "{events} events written: {out}"
    );
    // The 10 GiB went through in a few MiB.
    assert!(peak_kib < 16 << 10, "peak RSS {peak_kib} KiB");
    println!(
        "{events} events ({} GiB) through a FIFO, peak RSS {peak_kib} KiB",
        TOTAL >> 30
    );
}

/// A session file that grows while `report` reads it, as a recorder's
/// does: `report` reads to the end it finds (every event written before it
/// started, none after it ended) in flat memory. And a file growing by a
/// line without end, as an attacker's would: one sentence naming the file
/// and the line, in flat memory, while the writer goes on.
#[test]
fn a_file_growing_while_read_is_read_in_flat_memory() {
    let dir = Scratch::new("growing");
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let event = big_event();
    for endless in [false, true] {
        let path = dir.join(if endless {
            "endless.oomtrace"
        } else {
            "growing.oomtrace"
        });
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(HEADER.as_bytes()).unwrap();
        // 130 MB before the reader starts, so that it reads while the file grows.
        const BEFORE: u64 = 20_000;
        for _ in 0..BEFORE {
            f.write_all(event.as_bytes()).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(BEFORE));
        let writer = {
            let (stop, written, event) = (stop.clone(), written.clone(), event.clone());
            std::thread::spawn(move || {
                let junk = vec![b'x'; 1 << 20];
                // At most 256 MiB more, at most 100 MiB/s: the reader
                // catches up and finds the end. (Unpaced, it chased the
                // writer through 4 GiB of a CI machine's disk.)
                for _ in 0..256 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    if endless {
                        f.write_all(&junk).unwrap();
                    } else {
                        // One write per event (O_APPEND), 1 MiB's worth at a time.
                        // Counted before it is written: the reader, which
                        // may read it at once, never sees more than counted.
                        for _ in 0..160 {
                            written.fetch_add(1, Ordering::Relaxed);
                            f.write_all(event.as_bytes()).unwrap();
                        }
                    }
                }
            })
        };
        let (code, out, err, peak_kib) =
            oomtrace_rusage(&["report".as_ref(), "--summary".as_ref(), path.as_ref()]);
        let after = written.load(Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        std::fs::remove_file(&path).unwrap();
        assert!(
            peak_kib < 16 << 10,
            "endless {endless}: peak RSS {peak_kib} KiB"
        );
        if endless {
            assert_eq!(code, 1, "{out}{err}");
            let said = format!(
                "oomtrace: {}:{}: a line longer than",
                path.display(),
                BEFORE + 2
            );
            assert!(err.starts_with(&said), "{err}");
            continue;
        }
        assert_eq!(code, 0, "{out}{err}");
        let seen: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("OOMs: "))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no OOM count: {out}"));
        assert!(
            (BEFORE..=after).contains(&seen),
            "read {seen}, written {BEFORE} before and {after} after: {out}"
        );
        println!(
            "growing file: read {seen} events, {BEFORE} written before and {after} after ({} MiB), peak RSS {peak_kib} KiB",
            size >> 20
        );
    }
}

/// A first line without end (`/dev/zero`, a FIFO fed without newlines) is
/// refused as soon as it passes the line bound, in one sentence naming the
/// file, the line and the bound; nothing waits for an end that never comes.
#[test]
fn an_endless_first_line_is_refused_at_the_bound() {
    let dir = Scratch::new("endless-first");
    let fifo = dir.join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    // The FIFO's writer goes on until the reader leaves (EPIPE).
    let mut feeder = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec tr '\\000' x < /dev/zero > '{}'",
            fifo.display()
        ))
        .spawn()
        .unwrap();
    for path in [std::path::Path::new("/dev/zero"), fifo.as_path()] {
        let t = Instant::now();
        let mut child = Command::new(OOMTRACE)
            .arg("report")
            .arg(path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(1) {
                child.kill().unwrap();
                let _ = child.wait();
                panic!("report {} still reading after 1 s", path.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(status.code(), Some(1), "{err}");
        let said = format!(
            "oomtrace: {}:1: more than 4 MiB without a newline: not an oomtrace session",
            path.display()
        );
        assert!(err.starts_with(&said), "{err}");
        assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    }
    let _ = feeder.kill();
    let _ = feeder.wait();
}

/// Every long-running command ends within a second of SIGTERM (what
/// systemd, Kubernetes and `kill` send), exiting 0.
#[test]
fn sigterm_ends_every_long_running_command_within_a_second() {
    require_root();
    let dir = Scratch::new("sigterm");
    let session = dir.join("s.oomtrace");
    let sessions = dir.join("agent");
    let commands: [Vec<&str>; 3] = [
        vec!["trace"],
        vec!["record", "-o", session.to_str().unwrap()],
        vec![
            "agent",
            "--dir",
            sessions.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
    ];
    for args in commands {
        let t = Tracer::start(&args);
        // Running a while first: the lead-up sampler and the metrics
        // server are up, not only the attach.
        std::thread::sleep(Duration::from_millis(1500));
        let since = Instant::now();
        let pid = t.child_pid;
        t.terminate(Duration::from_secs(1));
        println!(
            "{}: pid {pid} ended {:?} after SIGTERM",
            args[0],
            since.elapsed()
        );
    }
}
