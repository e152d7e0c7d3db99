//! Kernel-log mode (`--btf none`, what a kernel without BTF gets): a real
//! memcg OOM traced live, each field the kernel printed equal to the
//! event's, read from `dmesg` by this test's own reader of the lines it
//! compares (not the importer's parser, which the mode itself uses); and a
//! storm past the kernel's report rate limit, whose events say which
//! reports the kernel left out. And BTF files bound to their kernel build
//! (`oomtrace btf`), for boards that have a debug vmlinux.

use oomtrace_core::schema::event::OomEvent;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::*;

/// What the kernel printed of the OOM that killed `pid`, by its format
/// strings in mm/oom_kill.c and mm/memcontrol.c.
#[derive(Debug, Default)]
struct Printed {
    trigger_comm: String,
    trigger_pid: Option<i32>,
    gfp_mask: u32,
    gfp_names: String,
    order: i32,
    oom_memcg: Option<String>,
    task_memcg: Option<String>,
    usage_limit_failcnt: Option<(u64, u64, u64)>,
    message: String,
    killed: Vec<(String, u64)>,
    /// Only the `Killed process` line: the rest was rate-limited.
    header: bool,
}

/// `name:123kB` → 123 for each name in `line`.
fn kb_fields(line: &str) -> Vec<(String, u64)> {
    line.split([',', ' '])
        .filter_map(|w| {
            let (k, v) = w.split_once(':')?;
            let v = v.strip_suffix("kB").unwrap_or(v);
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

/// The kernel's text of each dmesg line (the `[ time]` prefix removed).
fn dmesg_lines() -> Vec<String> {
    let out = Command::new("dmesg").output().expect("dmesg");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| match l.find("] ") {
            Some(i) if l.starts_with('[') => l[i + 2..].to_owned(),
            _ => l.to_owned(),
        })
        .collect()
}

/// The kernel's report of `pid`'s kill, read backwards from its `Killed
/// process` line to the nearest `invoked oom-killer` line; waits up to 5 s.
fn printed(pid: i32) -> Printed {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let lines = dmesg_lines();
        let marker = format!(": Killed process {pid} (");
        if let Some(kill) = lines.iter().rposition(|l| l.contains(&marker)) {
            let mut p = Printed {
                message: lines[kill][..lines[kill].find(": Killed process").unwrap()].to_owned(),
                killed: kb_fields(&lines[kill]),
                ..Printed::default()
            };
            // The report of this kill: back to its header, unless another
            // kill comes first (then this one's header was rate-limited).
            for l in lines[..kill].iter().rev() {
                if l.contains(": Killed process ") {
                    break;
                }
                if let Some(rest) = l.strip_prefix("memory: usage ") {
                    let n: Vec<u64> = rest
                        .split([',', ' '])
                        .filter_map(|w| w.trim_end_matches("kB").parse().ok())
                        .collect();
                    p.usage_limit_failcnt = Some((n[0], n[1], n[2]));
                }
                if let Some(rest) = l.strip_prefix("oom-kill:") {
                    for kv in rest.split(',') {
                        match kv.split_once('=') {
                            Some(("oom_memcg", v)) => p.oom_memcg = Some(v.to_owned()),
                            Some(("task_memcg", v)) => p.task_memcg = Some(v.to_owned()),
                            _ => {}
                        }
                    }
                }
                if let Some(rest) = l.strip_prefix("CPU: ") {
                    let w: Vec<&str> = rest.split_whitespace().collect();
                    p.trigger_pid = w
                        .iter()
                        .position(|x| *x == "PID:")
                        .map(|i| w[i + 1].parse().unwrap());
                }
                if let Some((comm, rest)) = l.split_once(" invoked oom-killer: gfp_mask=0x") {
                    p.trigger_comm = comm.to_owned();
                    let (hex, rest) = rest.split_once('(').unwrap();
                    p.gfp_mask = u32::from_str_radix(hex, 16).unwrap();
                    let (names, rest) = rest.split_once(')').unwrap();
                    p.gfp_names = names.to_owned();
                    p.order = rest
                        .split_once("order=")
                        .unwrap()
                        .1
                        .split(',')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    p.header = true;
                    break;
                }
            }
            return p;
        }
        assert!(Instant::now() < deadline, "dmesg has no kill of pid {pid}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn field(p: &Printed, name: &str) -> Option<u64> {
    p.killed.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
}

#[test]
fn a_memcg_oom_without_btf_equals_the_kernels_report() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    await_whole_kernel_report();
    let mut tracer = Tracer::start(&["trace", "--btf", "none", "--json", "--count", "1"]);
    assert!(
        tracer
            .stderr_lines()
            .iter()
            .any(|l| l.contains("kernel-log mode")),
        "the mode is said: {:?}",
        tracer.stderr_lines()
    );
    let pid = trigger_memcg();
    let out = tracer.finish(Duration::from_secs(20));
    let ev: OomEvent = serde_json::from_str(out.lines().next().expect("one event")).unwrap();
    let p = printed(pid);
    assert!(p.header, "the kernel rate-limited this report: no oracle");
    assert_eq!(ev.kernel_report.as_deref(), Some("joined"));
    assert_eq!(ev.trigger.comm.as_deref(), Some(p.trigger_comm.as_str()));
    assert_eq!(ev.trigger.pid, p.trigger_pid);
    assert_eq!(ev.gfp_mask, Some(p.gfp_mask));
    assert_eq!(ev.gfp_flags.as_deref(), Some(p.gfp_names.as_str()));
    assert_eq!(ev.order, Some(p.order));
    assert_eq!(ev.memcg, p.oom_memcg);
    assert_eq!(ev.message.as_deref(), Some(p.message.as_str()));
    let m = ev.memcg_memory.as_ref().expect("memcg_memory");
    assert_eq!(
        Some((m.usage_kb, m.limit_kb, m.failcnt)),
        p.usage_limit_failcnt
    );
    let v = ev.victim.as_ref().expect("victim");
    assert_eq!(v.pid, Some(pid));
    assert_eq!(v.cgroup, p.task_memcg);
    for (name, got) in [
        ("total-vm", v.total_vm_kb),
        ("anon-rss", v.anon_rss_kb),
        ("file-rss", v.file_rss_kb),
        ("shmem-rss", v.shmem_rss_kb),
        ("pgtables", v.pgtables_kb),
    ] {
        assert_eq!(got, field(&p, name), "{name}");
    }
    // A memcg OOM's report has no Mem-Info: its memory is sampled from
    // /proc right after, with the kernel's counters by name.
    let read = ev.memory_read.as_ref().expect("memory_read");
    assert_eq!(read.at.name(), "sampled");
    let c = ev.counters.as_ref().expect("counters");
    assert!(
        c.node.contains_key("NR_FILE_PAGES") && c.zone.contains_key("NR_FREE_PAGES"),
        "{c:?}"
    );
    // BPF's own part: the kill's stack through out_of_memory, the trigger's
    // user stack.
    assert!(
        ev.stack
            .iter()
            .any(|f| f.symbol.as_deref() == Some("out_of_memory")),
        "{:?}",
        ev.stack
    );
    assert!(ev.user_stack.as_ref().is_some_and(|s| !s.is_empty()));
    // What neither has is said, and nothing the kernel printed is.
    for f in ["totalpages", "points"] {
        assert!(
            ev.unavailable.iter().any(|u| u == f),
            "{:?}",
            ev.unavailable
        );
    }
    for f in [
        "gfp_mask",
        "order",
        "victim",
        "memcg",
        "memcg_memory",
        "trigger",
        "stack",
    ] {
        assert!(
            !ev.unavailable.iter().any(|u| u == f),
            "{f}: {:?}",
            ev.unavailable
        );
    }
    for f in ["gfp_mask", "order", "memcg_memory"] {
        assert!(
            ev.from_kernel_log.iter().any(|u| u == f),
            "{f}: {:?}",
            ev.from_kernel_log
        );
    }
}

/// More kills in 5 s than the kernel prints reports for (10): every kill is
/// an event, each joined to its report or said to be rate-limited exactly
/// when the kernel printed only its `Killed process` line.
#[test]
fn a_storm_past_the_rate_limit_says_which_reports_the_kernel_left_out() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    await_whole_kernel_report();
    let before = vmstat_oom_kills();
    let mut tracer = Tracer::start(&["trace", "--btf", "none", "--json"]);
    // Read as it comes: 30 events fill a pipe.
    let mut stdout = tracer.take_stdout();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    oomtrace_ok(&["trigger", "storm", "--kills", "30", "--parallel", "2"]);
    std::thread::sleep(Duration::from_secs(2));
    let kills = vmstat_oom_kills() - before;
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(tracer.child_pid as i32, libc::SIGINT) };
    tracer.finish(Duration::from_secs(20));
    let out = reader.join().unwrap();
    let events: Vec<OomEvent> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len() as u64, kills, "every kill is an event");
    let mut limited = 0;
    for ev in &events {
        let pid = ev.victim.as_ref().and_then(|v| v.pid).expect("victim pid");
        let p = printed(pid);
        let v = ev.victim.as_ref().unwrap();
        assert_eq!(v.anon_rss_kb, field(&p, "anon-rss"), "pid {pid}");
        if p.header {
            assert_eq!(ev.kernel_report.as_deref(), Some("joined"), "pid {pid}");
            assert_eq!(ev.gfp_mask, Some(p.gfp_mask), "pid {pid}");
        } else {
            limited += 1;
            assert_eq!(
                ev.kernel_report.as_deref(),
                Some("rate-limited"),
                "pid {pid}"
            );
            assert!(ev.notes.iter().any(|n| n.contains("rate-limited")));
            assert!(ev.unavailable.iter().any(|u| u == "gfp_mask"), "pid {pid}");
            assert_eq!(ev.gfp_mask, None);
        }
    }
    println!(
        "{} kills, {limited} of their reports rate-limited by the kernel",
        events.len()
    );
    assert!(
        limited > 0,
        "30 kills in a few seconds pass the kernel's 10 per 5 s"
    );
}

/// `check --btf none` says kernel-log mode would be used, that it is ready
/// (root reads /dev/kmsg), and what the mode loses on this kernel: what
/// only the kprobes give where it has none, and what neither BPF without
/// layouts nor the report has.
#[test]
fn check_says_what_kernel_log_mode_loses_here() {
    require_root();
    let (out, _) = oomtrace_ok(&["check", "--btf", "none", "--json"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["kernel_log_mode"], true);
    assert_eq!(r["kmsg_readable"], true);
    assert_eq!(r["ready"], true);
    let kprobes = std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    let mut want = vec!["totalpages", "points"];
    if !kprobes {
        want.extend(["duration_ns", "show_free_areas_stack"]);
    }
    let lost: Vec<&str> = r["unavailable_in_kernel_log_mode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(lost, want);
    // The hooks that read kernel structs are not used without BTF.
    for h in r["hooks"].as_array().unwrap() {
        if ["print_rss", "memcg_print", "mark_victim_stack"]
            .contains(&h["program"].as_str().unwrap())
        {
            assert_eq!(h["used"], false, "{h}");
        }
    }
}

/// `oomtrace btf` binds a BTF file to the build of the vmlinux it came
/// from: its build ID is what `readelf -n` (binutils) reads from that
/// vmlinux, and `--btf` takes it on this kernel, whose own build ID is in
/// /sys/kernel/notes, and refuses one of another build in one sentence.
/// The "vmlinux" here is a small ELF carrying this kernel's own BTF and
/// notes (objcopy), and the same with one byte of the build ID changed.
#[test]
fn a_btf_file_is_bound_to_its_kernel_build() {
    require_root();
    let dir = Scratch::new("btf-bound");
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut other = std::fs::read("/sys/kernel/notes").unwrap();
    std::fs::write(dir.join("notes"), &other).unwrap();
    // The first note's descriptor starts after 12 bytes of header and "GNU\0".
    other[16] ^= 0xff;
    std::fs::write(dir.join("other-notes"), &other).unwrap();
    sh("echo 'int x;' > e.c && gcc -c e.c -o e.o");
    for (elf, notes) in [("vmlinux", "notes"), ("other", "other-notes")] {
        sh(&format!(
            "objcopy --add-section .BTF=/sys/kernel/btf/vmlinux \
             --add-section .note.gnu.build-id={notes} e.o {elf}"
        ));
    }
    let readelf = sh("readelf -n vmlinux");
    let id = readelf
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .expect("readelf names the build ID")
        .to_owned();
    for (elf, out) in [("vmlinux", "k.btf"), ("other", "o.btf")] {
        oomtrace_ok(&[
            "btf",
            "--vmlinux",
            dir.join(elf).to_str().unwrap(),
            "-o",
            dir.join(out).to_str().unwrap(),
        ]);
    }
    let made = std::fs::read(dir.join("k.btf")).unwrap();
    let header = String::from_utf8_lossy(&made[..200]).into_owned();
    assert!(
        header.contains(&format!("\"build_id\":\"{id}\"")),
        "{header}"
    );
    let (_, err) = oomtrace_ok(&[
        "trace",
        "--btf",
        dir.join("k.btf").to_str().unwrap(),
        "--duration",
        "0",
    ]);
    assert!(err.contains("oomtrace: attached"), "{err}");
    for refused in ["o.btf", "other"] {
        let out = Command::new(OOMTRACE)
            .args(["trace", "--duration", "0", "--btf"])
            .arg(dir.join(refused))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{refused}: {err}");
        let said = format!(
            "oomtrace: {} is of another kernel build",
            dir.join(refused).display()
        );
        assert!(err.starts_with(&said), "{err}");
        assert!(
            err.contains(&format!("this kernel's, in /sys/kernel/notes, is {id}")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
