//! An OOM storm on this machine (memory-cgroup OOMs only, never global):
//! `trigger storm` kills at least 1000 of its own children in parallel
//! memory cgroups while `oomtrace record` runs. Every kill the kernel
//! counts in /proc/vmstat must be in the session, and nothing may be lost.

use oomtrace_core::source::session;
use std::time::{Duration, Instant};

mod common;
use common::*;

#[test]
fn a_storm_of_1000_memcg_oom_kills_is_recorded_without_loss() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("storm");
    let file = dir.join("storm.jsonl");
    let recorder = Tracer::start(&["record", "-o", file.to_str().unwrap(), "--quiet"]);
    let before = vmstat_oom_kills();
    let start = Instant::now();
    let out = std::process::Command::new(OOMTRACE)
        .args([
            "trigger",
            "storm",
            "--kills",
            "1000",
            "--parallel",
            "4",
            "--limit",
            "8M",
        ])
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "trigger storm failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let kills = vmstat_oom_kills() - before;
    assert!(kills >= 1000, "only {kills} OOM kills");
    // The recorder writes each event when its records arrive: wait until the
    // file holds as many as the kernel counted, or give up after 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    let count_in_file = || {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(r#"{"type":"oom""#))
            .count() as u64
    };
    while count_in_file() < kills && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    recorder.interrupt(Duration::from_secs(30));

    let (sessions, notes) = session::read(&file, false).unwrap();
    assert_eq!(notes, session::ReadNotes::default());
    let s = &sessions[0];
    let captured: u64 = s
        .events
        .iter()
        .map(|e| u64::from(e.killed == Some(true)) + e.also_killed.len() as u64)
        .sum();
    let trailer = s.trailer.as_ref().expect("the recorder wrote no trailer");
    assert_eq!(trailer.lost, 0, "ring-buffer records lost");
    assert_eq!(trailer.incomplete, 0, "OOMs with records missing");
    assert_eq!(
        captured, kills,
        "kills in the session vs the kernel's oom_kill count in /proc/vmstat"
    );
    println!(
        "storm: {kills} OOM kills in {:.2} s ({:.0} kills/s), {captured} captured, 0 lost",
        elapsed.as_secs_f64(),
        kills as f64 / elapsed.as_secs_f64()
    );
}

/// A ring buffer far too small for a storm: the loss is reported live,
/// with the kinds of record the full buffer refused (the kernel side's
/// per-kind counts), and no event is wrong for it: what was lost is null,
/// never another OOM's value.
#[test]
fn a_ring_buffer_loss_is_reported_and_no_event_is_wrong() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut tracer = Tracer::start(&["trace", "--json", "--buffer", "4", "--verbose"]);
    oomtrace_ok(&[
        "trigger",
        "storm",
        "--kills",
        "30",
        "--parallel",
        "2",
        "--limit",
        "8M",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    let said = tracer.stderr_lines().join("\n");
    // The kinds a storm's kill writes, the memory state and the kill
    // itself; the kernel counted each refused record under its own kind.
    let lost_line = said
        .lines()
        .find(|l| l.contains("records lost so far (the ring buffer was full: "))
        .unwrap_or_else(|| panic!("no loss said: {said}"));
    assert!(
        lost_line.contains(" memory state") || lost_line.contains(" mark_victim"),
        "{lost_line}"
    );
    let stdout = tracer.interrupt(Duration::from_secs(30));
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["type"] == "oom")
        .collect();
    assert!(!events.is_empty(), "the small records still fit");
    for ev in &events {
        let (trigger, victim) = (&ev["trigger"], &ev["victim"]);
        assert_eq!(victim["comm"], "oomtrace-hog", "{ev}");
        assert_eq!(
            victim["pid"], trigger["pid"],
            "a storm child kills itself: {ev}"
        );
        if !ev["memcg"].is_null() {
            assert!(
                ev["memcg"]
                    .as_str()
                    .unwrap()
                    .starts_with("/oomtrace-storm-"),
                "{ev}"
            );
        }
        if !ev["gfp_mask"].is_null() {
            assert_eq!(ev["gfp_mask"], 0xcc0, "{ev}");
        }
    }
}

/// The stderr end line's count before `word` ("... 0 lost records, 3
/// dropped ...").
fn end_count(said: &str, word: &str) -> u64 {
    let line = said
        .lines()
        .rev()
        .find(|l| l.contains(" events, "))
        .unwrap_or_else(|| panic!("no end line: {said}"));
    let before = line
        .split(&format!(" {word}"))
        .next()
        .unwrap_or_else(|| panic!("no {word:?} in {line}"));
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count before {word:?} in {line}"))
}

/// A storm of 600 memcg OOM kills in four cgroups side by side, as fast as
/// this machine's kernel kills: the kernel's count of them (/proc/vmstat)
/// and when it began.
fn storm_of_600() -> (u64, Instant) {
    let before = vmstat_oom_kills();
    let start = Instant::now();
    oomtrace_ok(&[
        "trigger",
        "storm",
        "--kills",
        "600",
        "--parallel",
        "4",
        "--limit",
        "4M",
    ]);
    (vmstat_oom_kills() - before, start)
}

/// `trace --json` into a pipe nobody reads for 5 s while a storm of 600
/// memcg OOM kills runs at this machine's fastest rate (the issue's `(sleep
/// 4; cat)`): the pipe fills after a few events, and the drain thread keeps
/// the ring buffer empty anyway. Returns (kills the kernel counted, the
/// events in the order they came, stderr).
fn storm_behind_a_stalled_reader(extra: &[&str]) -> (u64, Vec<serde_json::Value>, String) {
    let mut args = vec!["trace", "--json"];
    args.extend_from_slice(extra);
    let mut tracer = Tracer::start(&args);
    let mut pipe = tracer.take_stdout();
    let (kills, start) = storm_of_600();
    // The reader stalls 5 s from the storm's start, then reads it all.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(start.elapsed()));
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut out).unwrap();
        out
    });
    std::thread::sleep(Duration::from_secs(1));
    let (_, said) = tracer.interrupt_all(Duration::from_secs(60));
    let said = said.join("\n");
    let stdout = reader.join().unwrap();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &serde_json::Value| v["type"] == "oom")
        .collect();
    (kills, events, said)
}

fn kills_in(events: &[serde_json::Value]) -> u64 {
    events
        .iter()
        .map(|e| {
            u64::from(e["killed"] == true)
                + e["also_killed"].as_array().map_or(0, |a| a.len() as u64)
        })
        .sum()
}

/// A reader stalled 5 s during the storm loses nothing: every kill the
/// kernel counted (/proc/vmstat) is an event, in order, nothing lost or
/// dropped.
#[test]
fn a_reader_stalled_for_5_s_during_a_storm_loses_nothing() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (kills, events, said) = storm_behind_a_stalled_reader(&["--bpf-stats"]);
    assert!(kills >= 600, "only {kills} OOM kills");
    assert_eq!(end_count(&said, "lost records"), 0, "{said}");
    assert_eq!(end_count(&said, "dropped"), 0, "{said}");
    assert!(said.contains("; queue peak "), "{said}");
    println!(
        "stalled reader: {kills} kills, {} events; {}",
        events.len(),
        said.lines().last().unwrap_or("")
    );
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "events out of order or missing: {seqs:?}"
    );
    assert_eq!(
        kills_in(&events),
        kills,
        "kills in the events vs /proc/vmstat"
    );
}

/// The same with the queue set far too small: whole events are dropped,
/// said while it happens, and the end line's count of them is exactly the
/// kills the kernel made (/proc/vmstat) that are not among the events.
#[test]
fn a_tiny_queue_drops_whole_events_and_counts_them() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (kills, events, said) = storm_behind_a_stalled_reader(&["--queue", "64K"]);
    // Each event's seq is the assembler's: the dropped ones are the gaps.
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "out of order: {seqs:?}"
    );
    assert!(kills >= 600, "only {kills} OOM kills");
    let dropped = end_count(&said, "dropped");
    assert!(dropped > 0, "nothing was dropped: {said}");
    assert!(
        said.contains("dropping events until it catches up"),
        "not said while it happened: {said}"
    );
    assert_eq!(end_count(&said, "lost records"), 0, "{said}");
    // Every event of this storm killed one task: the dropped are the rest.
    assert_eq!(dropped, kills - kills_in(&events), "{said}");
    println!(
        "tiny queue: {kills} kills, {} events, {dropped} dropped",
        events.len()
    );
}

/// `record` to a slow disk, as a FIFO read late stands for one: the
/// session that finally comes out holds every kill of a 600-kill storm
/// (/proc/vmstat), its end record with nothing lost or dropped and the
/// queue's depth.
#[test]
fn record_to_a_fifo_read_5_s_late_loses_nothing() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("slow-disk");
    let fifo = dir.join("slow.jsonl");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: plain syscall on a path of our own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // The reader opens at once (the recorder's open waits for it) and reads
    // only when told.
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let mut f = std::fs::File::open(&path).unwrap();
        wait.recv().unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut out).unwrap();
        out
    });
    let recorder = Tracer::start(&["record", "-o", fifo.to_str().unwrap(), "--quiet"]);
    let (kills, start) = storm_of_600();
    std::thread::sleep(Duration::from_secs(5).saturating_sub(start.elapsed()));
    go.send(()).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    recorder.interrupt(Duration::from_secs(60));
    let bytes = reader.join().unwrap();
    let (sessions, _) = session::read_from(&bytes[..], "slow.jsonl", false).unwrap();
    let s = &sessions[0];
    let t = s.trailer.as_ref().expect("an end record");
    assert_eq!((t.lost, t.dropped), (0, 0), "{t:?}");
    assert!(t.queue_peak_bytes.is_some_and(|b| b > 0), "{t:?}");
    let captured: u64 = s
        .events
        .iter()
        .map(|e| u64::from(e.killed == Some(true)) + e.also_killed.len() as u64)
        .sum();
    assert!(kills >= 600, "only {kills} OOM kills");
    assert_eq!(captured, kills, "kills in the session vs /proc/vmstat");
}

/// A kill that comes within `WAKE_WINDOW_NS` of the reader's last wake-up
/// does not wake it again (a wake-up is an interrupt): its record rides in
/// the ring. It must still be read while tracing, by the reader's polls
/// after records (`READER_POLLS_NS`), not wait for the next OOM or the end.
/// Two kills farther apart than the 10 ms an OOM takes to settle (so the
/// reader has gone back to waiting) and nearer than the window.
#[test]
fn a_kill_that_did_not_wake_the_reader_is_read_while_tracing() {
    use std::io::BufRead;
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let window_ms = oomtrace_common::WAKE_WINDOW_NS as f64 / 1e6;
    let mut tracer = Tracer::start(&["trace", "--json"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = std::io::BufReader::new(tracer.take_stdout());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["type"] == "oom" {
                let _ = tx.send(v);
            }
        }
    });
    let uptime = |v: &serde_json::Value| v["uptime_ns"].as_u64().unwrap() as f64 / 1e6;
    let mut gaps = Vec::new();
    // The gap between the two kills is this machine's to choose; a pair
    // outside (settle, window) says nothing, and is tried again.
    for _ in 0..5 {
        // Quiet for longer than the window: the first kill wakes the reader.
        std::thread::sleep(Duration::from_millis(3 * window_ms as u64));
        let first = trigger_memcg_limit("4M");
        std::thread::sleep(Duration::from_millis(5));
        let second = trigger_memcg_limit("4M");
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(v) => seen.push(v),
                Err(_) => break,
            }
        }
        let pids: Vec<i64> = seen
            .iter()
            .map(|v| v["victim"]["pid"].as_i64().unwrap())
            .collect();
        assert!(
            pids.contains(&i64::from(first)),
            "the first kill was not read within 2 s: {pids:?}"
        );
        let pair = seen.iter().map(uptime).collect::<Vec<_>>();
        let gap = pair.get(1).map(|b| b - pair[0]);
        if let Some(gap) = gap
            && !(15.0..window_ms - 5.0).contains(&gap)
        {
            gaps.push(gap);
            continue;
        }
        assert!(
            pids.contains(&i64::from(second)),
            "the second kill (pid {second}), just after one that woke the reader, \
             was not read within 2 s while tracing; read: {pids:?}"
        );
        println!(
            "two kills {:.1} ms apart, the second read while tracing",
            gap.unwrap_or(f64::NAN)
        );
        tracer.interrupt(Duration::from_secs(30));
        return;
    }
    panic!("no two kills between 15 ms and {window_ms} ms apart in five tries: {gaps:?} ms");
}
