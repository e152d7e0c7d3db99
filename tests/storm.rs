//! An OOM storm on this machine (memory-cgroup OOMs only, never global):
//! `trigger storm` kills at least 1000 of its own children in parallel
//! memory cgroups while `oomtrace record` runs. Every kill the kernel
//! counts in /proc/vmstat must be in the session, and nothing may be lost.

use oomtrace_core::session;
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

/// A ring buffer far too small for a storm: the loss is reported live, the
/// kernel side's own messages say which records the full buffer refused
/// (aya-log, `--verbose`), and no event is wrong for it: what was lost is
/// null, never another OOM's value.
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
    assert!(said.contains("records lost so far"), "{said}");
    assert!(
        said.contains("kernel side: ring buffer full: a record of kind"),
        "{said}"
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
