//! `report`'s filters, its summary, and `record`'s output choices, on
//! sessions this test writes itself: which events each filter returns is
//! known here from the data, not from oomtrace.

use std::path::PathBuf;
use std::process::Command;

mod common;
use common::*;

/// (seq, time, trigger pid, trigger comm, victim pid, victim comm, cgroup, constraint)
type Row = (
    u64,
    &'static str,
    i32,
    &'static str,
    i32,
    &'static str,
    Option<&'static str>,
    &'static str,
);

const EVENTS: [Row; 5] = [
    (
        1,
        "2026-11-27T10:00:00.000000Z",
        100,
        "python3",
        100,
        "python3",
        Some("/pods/a"),
        "CONSTRAINT_MEMCG",
    ),
    (
        2,
        "2026-11-27T11:00:00.000000Z",
        200,
        "java",
        300,
        "postgres",
        None,
        "CONSTRAINT_NONE",
    ),
    (
        3,
        "2026-11-27T12:00:00.000000Z",
        400,
        "kworker/0:1",
        500,
        "sleep",
        None,
        "CONSTRAINT_NONE",
    ),
    (
        4,
        "2026-11-27T13:00:00.000000Z",
        600,
        "python3",
        600,
        "python3",
        Some("/pods/b/c"),
        "CONSTRAINT_MEMCG",
    ),
    (
        5,
        "2026-11-27T14:00:00.000000Z",
        700,
        "make",
        700,
        "cc1",
        Some("/pods/b"),
        "CONSTRAINT_MEMCG",
    ),
];

/// A session file of its own for each caller: the tests run in parallel,
/// and one writing a shared file while another reads it gave the reader an
/// empty session (seen once on a clean clone).
fn session_file() -> (Scratch, PathBuf) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Scratch::new(&format!("filters-{n}"));
    let path = dir.join("session.json");
    let mut s = String::from(
        r#"{"type":"session","format":1,"oomtrace":"0","kernel":"6.18","hostname":"h","boot_id":"b","start":"2026-11-27T09:00:00Z","mode":"tracepoint","hooks":[]}"#,
    );
    s.push('\n');
    for (seq, time, tpid, tcomm, vpid, vcomm, cg, constraint) in EVENTS {
        let cg = cg.map_or("null".to_owned(), |c| format!("\"{c}\""));
        s.push_str(&format!(
            r#"{{"type":"oom","seq":{seq},"time":"{time}","uptime_ns":{seq}000000000,"source":"kprobe","trigger":{{"pid":{tpid},"tid":{tpid},"comm":"{tcomm}","oom_score_adj":0,"cgroup":{cg}}},"gfp_mask":3264,"gfp_flags":"GFP_KERNEL","order":0,"constraint":"{constraint}","nodemask":"(null)","memcg":{cg},"totalpages":8192,"message":"Out of memory","killed":true,"duration_ns":1000,"victim":{{"pid":{vpid},"comm":"{vcomm}","uid":0,"total_vm_kb":1,"anon_rss_kb":1,"file_rss_kb":0,"shmem_rss_kb":0,"pgtables_kb":4,"oom_score_adj":0,"points":1,"cgroup":{cg}}},"stack":[],"counters":null,"zones":null}}"#
        ));
        s.push('\n');
        s.push_str(&format!(
            r#"{{"type":"reaper","seq":{seq},"time":"{time}","uptime_ns":1,"pid":{vpid},"step":"finish","since_kill_ns":5}}"#
        ));
        s.push('\n');
    }
    s.push_str(r#"{"type":"end","end":"2026-11-27T15:00:00Z","events":5,"lost":0,"incomplete":0,"deferred":0}"#);
    s.push('\n');
    std::fs::write(&path, s).unwrap();
    (dir, path)
}

/// The seqs `report --format json` returns with `args`, and its reaper lines' seqs.
fn seqs(args: &[&str]) -> (Vec<u64>, Vec<u64>) {
    let (_dir, file) = session_file();
    let file = file.to_str().unwrap();
    let all: Vec<&str> = ["report", file, "--format", "json"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    let (stdout, _) = oomtrace_ok(&all);
    let (mut events, mut reapers) = (Vec::new(), Vec::new());
    for l in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        match v["type"].as_str() {
            Some("oom") => events.push(seq),
            Some("reaper") => reapers.push(seq),
            other => panic!("{other:?}"),
        }
    }
    (events, reapers)
}

/// What the data says each filter selects.
fn expected(
    keep: impl Fn(&(u64, &str, i32, &str, i32, &str, Option<&str>, &str)) -> bool,
) -> Vec<u64> {
    EVENTS.iter().filter(|e| keep(e)).map(|e| e.0).collect()
}

#[test]
fn each_filter_returns_the_right_events_and_their_reaper_steps() {
    let cases: Vec<(Vec<&str>, Vec<u64>)> = vec![
        (vec![], expected(|_| true)),
        (vec!["--pid", "300"], expected(|e| e.2 == 300 || e.4 == 300)),
        (vec!["--pid", "200"], expected(|e| e.2 == 200 || e.4 == 200)),
        (
            vec!["--comm", "python3"],
            expected(|e| e.3 == "python3" || e.5 == "python3"),
        ),
        (
            vec!["--comm", "cc1"],
            expected(|e| e.3 == "cc1" || e.5 == "cc1"),
        ),
        (
            vec!["--cgroup", "/pods/b"],
            expected(|e| {
                e.6.is_some_and(|c| c == "/pods/b" || c.starts_with("/pods/b/"))
            }),
        ),
        (vec!["--cgroup", "/pods"], expected(|e| e.6.is_some())),
        (
            vec!["--since", "2026-11-27T11:00:00Z"],
            expected(|e| e.1 >= "2026-11-27T11:00:00"),
        ),
        (
            vec!["--until", "2026-11-27T12:00:00Z"],
            expected(|e| e.1 < "2026-11-27T12:00:00"),
        ),
        (
            vec![
                "--since",
                "2026-11-27T11:00:00Z",
                "--until",
                "2026-11-27T14:00:00Z",
                "--comm",
                "python3",
            ],
            expected(|e| {
                e.1 >= "2026-11-27T11"
                    && e.1 < "2026-11-27T14"
                    && (e.3 == "python3" || e.5 == "python3")
            }),
        ),
    ];
    for (args, want) in cases {
        let (events, reapers) = seqs(&args);
        assert_eq!(events, want, "report {args:?}");
        assert_eq!(
            reapers, want,
            "report {args:?}: a reaper step follows its shown event only"
        );
        assert!(
            !want.is_empty() || args.is_empty(),
            "a case that selects nothing tests nothing"
        );
    }
}

#[test]
fn the_summary_counts_global_ooms_as_global() {
    let (_dir, file) = session_file();
    let out = Command::new(OOMTRACE)
        .args(["report", "--summary"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let globals = EVENTS.iter().filter(|e| e.7 == "CONSTRAINT_NONE").count();
    assert!(
        text.contains(&format!("{globals:>8}  (global)")),
        "{globals} global OOMs:\n{text}"
    );
    assert!(!text.contains("       2  ?\n"), "{text}");
    assert!(
        text.contains("OOMs: 5 (5 killed a task, 0 did not)"),
        "{text}"
    );
}
