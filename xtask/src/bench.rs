//! `cargo xtask bench`: numbers, not checks (the tests assert correctness
//! and loss; nothing here passes or fails on a figure). Writes
//! bench/RESULTS.md: each figure as median (min–max) of repeated runs, with
//! the command that gives it.

use super::*;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const BENCH_PACKAGES: &[&str] = &["bpftrace", "jq"];
const STARTUP_RUNS: usize = 10;
const IDLE_SECS: u64 = 30;
const REPORT_EVENTS: usize = 100_000;
const STORM_KILLS: u64 = 300;

/// "median (min–max)" of some samples.
fn spread(samples: &[f64], unit: &str, digits: usize) -> String {
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return "-".into();
    }
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    format!(
        "{median:.digits$} {unit} ({:.digits$}–{:.digits$})",
        v[0],
        v[v.len() - 1]
    )
}

/// The commit measured, as the tables name it (`git rev-parse --short HEAD`).
fn head_commit() -> String {
    output(Command::new("git").args(["rev-parse", "--short", "HEAD"]))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn median(samples: &[f64]) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One timed run: wall, CPU and peak RSS (the child's own rusage, from
/// `wait4`: no wrapper whose exec would count), and how long until the
/// program printed `ready` (its probes attached).
struct Timed {
    ready_ms: Option<f64>,
    /// `oomtrace: start-up: step N ms, ...` (`--verbose`): (step, ms).
    steps: Vec<(String, f64)>,
    wall_s: f64,
    cpu_s: f64,
    rss_mib: f64,
}

enum Stream {
    Stdout,
    Stderr,
    /// Stdout straight to /dev/null, nothing watched: a report's hundreds
    /// of megabytes read through this process cost it a core of the two
    /// (5.3 s for the text report instead of 3.4).
    Discard,
}

fn timed(cmd: &[&str], ready: &str, stream: Stream) -> Result<Timed> {
    let mut command = Command::new(cmd[0]);
    // The peak resident set (ru_maxrss) survives exec: posix_spawn's vfork
    // child shares this process's memory until it execs, so it would start
    // from xtask's own high-water mark (673 MiB after building the report
    // session in memory). A real fork starts the child's mark at xtask's
    // resident set of now, which is small while anything is timed.
    // SAFETY: the hook does nothing, so it is async-signal-safe.
    unsafe { command.pre_exec(|| Ok(())) };
    let start = Instant::now();
    let mut child = command
        .args(&cmd[1..])
        .stdout(if matches!(stream, Stream::Discard) {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", cmd.join(" ")))?;
    let (watched, other): (Box<dyn std::io::Read + Send>, Box<dyn std::io::Read + Send>) =
        match stream {
            Stream::Stdout => (
                Box::new(child.stdout.take().unwrap()),
                Box::new(child.stderr.take().unwrap()),
            ),
            Stream::Stderr => (
                Box::new(child.stderr.take().unwrap()),
                Box::new(child.stdout.take().unwrap()),
            ),
            Stream::Discard => (
                Box::new(child.stderr.take().unwrap()),
                Box::new(std::io::empty()),
            ),
        };
    let drain = std::thread::spawn(move || std::io::copy(&mut { other }, &mut std::io::sink()));
    let mut ready_ms = None;
    let mut steps = Vec::new();
    for line in BufReader::new(watched).lines().map_while(Result::ok) {
        if ready_ms.is_none() && line.starts_with(ready) {
            ready_ms = Some(start.elapsed().as_secs_f64() * 1e3);
        }
        if let Some(said) = line.strip_prefix("oomtrace: start-up: ") {
            steps = said
                .split(", ")
                .filter_map(|step| {
                    let (name, ms) = step.strip_suffix(" ms")?.rsplit_once(' ')?;
                    Some((name.to_owned(), ms.parse().ok()?))
                })
                .collect();
        }
    }
    let _ = drain.join();
    let (status, usage) = wait4(child.id())?;
    let wall_s = start.elapsed().as_secs_f64();
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!("{} failed: wait status {status:#x}", cmd.join(" "));
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Ok(Timed {
        ready_ms,
        steps,
        wall_s,
        cpu_s: secs(usage.ru_utime) + secs(usage.ru_stime),
        rss_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}

/// Reaps the child `pid`: its wait status and its own resource usage
/// (CPU of all its threads, peak resident set in KiB).
fn wait4(pid: u32) -> Result<(i32, libc::rusage)> {
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value; both pointers are valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above; `pid` is our unreaped child.
        let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
        if r == pid as i32 {
            return Ok((status, usage));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("waiting for the benchmarked program");
        }
    }
}

fn oomtrace() -> Result<PathBuf> {
    build()
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn startup(exe: &str, md: &mut String) -> Result<()> {
    // `--verbose` says where the time went (its one line costs nothing).
    let ours = [exe, "trace", "--duration", "0", "--verbose"];
    let script = r#"tracepoint:oom:mark_victim { } BEGIN { printf("attached\n"); exit(); }"#;
    let theirs = ["bpftrace", "-e", script];
    // A cold start parses BTF and fills the per-boot plan cache in /run.
    let _ = fs::remove_dir_all("/run/oomtrace");
    let cold = timed(&ours, "oomtrace: attached", Stream::Stderr)?;
    let (mut o, mut b) = (Vec::new(), Vec::new());
    for _ in 0..STARTUP_RUNS {
        o.push(timed(&ours, "oomtrace: attached", Stream::Stderr)?);
        b.push(timed(&theirs, "attached", Stream::Stdout)?);
    }
    let col = |v: &[Timed], f: fn(&Timed) -> f64| v.iter().map(f).collect::<Vec<_>>();
    let ready = |t: &Timed| t.ready_ms.unwrap_or(f64::NAN);
    let _ = writeln!(
        md,
        "{STARTUP_HEADING}\n\n{STARTUP_RUNS} runs each, alternating. Ours: `oomtrace trace --duration 0 --verbose` \
         (attach every hook, exit). bpftrace: `bpftrace -e '{script}'`. \"To attached\" is the \
         time from exec until `oomtrace: attached` / bpftrace's BEGIN printed; \"wall\" \
         includes detaching, which the kernel serializes (an RCU grace period per tracepoint: \
         oomtrace attaches 7, bpftrace 1).\n\n\
         | | oomtrace | bpftrace | ratio |\n|---|---|---|---|"
    );
    let row =
        |md: &mut String, what: &str, ours: Vec<f64>, theirs: Vec<f64>, unit: &str, d: usize| {
            let _ = writeln!(
                md,
                "| {what} | {} | {} | {:.1}× |",
                spread(&ours, unit, d),
                spread(&theirs, unit, d),
                median(&theirs) / median(&ours)
            );
        };
    row(md, "to attached", col(&o, ready), col(&b, ready), "ms", 0);
    row(
        md,
        "wall",
        col(&o, |t| t.wall_s),
        col(&b, |t| t.wall_s),
        "s",
        3,
    );
    row(
        md,
        "CPU (user+sys)",
        col(&o, |t| t.cpu_s),
        col(&b, |t| t.cpu_s),
        "s",
        3,
    );
    row(
        md,
        "peak RSS",
        col(&o, |t| t.rss_mib),
        col(&b, |t| t.rss_mib),
        "MiB",
        1,
    );
    // Where oomtrace's time to attached goes: each step's median, and
    // the rest (exec, the runtime's start, parsing arguments) from the
    // median time to attached.
    let names: Vec<String> = o
        .first()
        .map(|t| t.steps.iter().map(|s| s.0.clone()).collect())
        .unwrap_or_default();
    let mut split = Vec::new();
    let mut counted = 0.0;
    for name in &names {
        let ms: Vec<f64> = o
            .iter()
            .filter_map(|t| t.steps.iter().find(|s| &s.0 == name).map(|s| s.1))
            .collect();
        counted += median(&ms);
        split.push(format!("{name} {:.1} ms", median(&ms)));
    }
    if !split.is_empty() {
        let _ = writeln!(
            md,
            "\nWhere oomtrace's time to attached goes (`--verbose`'s start-up line, medians): \
             exec to `main` and the arguments {:.1} ms, {}.",
            median(&col(&o, ready)) - counted,
            split.join(", ")
        );
    }
    let _ = writeln!(
        md,
        "\nFirst start after boot (no plan cache yet: BTF parsed): to attached {:.0} ms, wall {:.3} s, \
         CPU {:.3} s, peak RSS {:.1} MiB.\n",
        cold.ready_ms.unwrap_or(f64::NAN),
        cold.wall_s,
        cold.cpu_s,
        cold.rss_mib
    );
    Ok(())
}

/// `oomtrace: bpf-stats program=NAME runs=N run_time_ns=T ...` lines.
fn bpf_stats(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.split_once("bpf-stats ")?.1;
            let field = |k: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{k}=")))
                    .map(str::to_owned)
            };
            Some((
                field("program")?,
                field("runs")?.parse().ok()?,
                field("run_time_ns")?.parse().ok()?,
            ))
        })
        .collect()
}

fn cost_table(md: &mut String, stats: &[(String, u64, u64)], ooms: u64) {
    let _ = writeln!(
        md,
        "| program | runs | mean per run | per OOM |\n|---|---|---|---|"
    );
    let mut total = 0;
    for (name, runs, ns) in stats.iter().filter(|s| s.1 > 0) {
        total += ns;
        let _ = writeln!(
            md,
            "| {name} | {runs} | {:.1} µs | {:.1} µs |",
            *ns as f64 / *runs as f64 / 1e3,
            *ns as f64 / ooms as f64 / 1e3
        );
    }
    let _ = writeln!(
        md,
        "| **all** | | | **{:.1} µs** |\n",
        total as f64 / ooms.max(1) as f64 / 1e3
    );
}

/// The storm on this machine, traced with `--bpf-stats`; also the latency
/// from the kernel's timestamp of each kill to its line reaching us.
fn storm_cost(exe: &str, md: &mut String, latency_md: &mut String) -> Result<()> {
    let mut tracer = Command::new(exe)
        .args(["trace", "--json", "--bpf-stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (tx, rx) = mpsc::channel();
    let stdout = tracer.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut latencies = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let now = monotonic_ns();
            if !line.starts_with(r#"{"type":"oom""#) {
                continue;
            }
            if let Some(up) = line
                .split_once(r#""uptime_ns":"#)
                .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                latencies.push(now.saturating_sub(up) as f64 / 1e6);
                let _ = tx.send(());
            }
        }
        latencies
    });
    let stderr = tracer.stderr.take().unwrap();
    let (etx, erx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("oomtrace: attached") {
                let _ = etx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    erx.recv_timeout(Duration::from_secs(30))
        .context("the tracer did not attach")?;
    // A tracer is running long before an OOM: let it finish reading kallsyms
    // (the first stack waits for it) before the storm.
    std::thread::sleep(Duration::from_secs(2));
    let before = vmstat_oom_kills();
    let t = Instant::now();
    super::run(Command::new(exe).args([
        "trigger",
        "storm",
        "--kills",
        &STORM_KILLS.to_string(),
        "--parallel",
        "4",
        "--limit",
        "8M",
    ]))?;
    let secs = t.elapsed().as_secs_f64();
    let kills = vmstat_oom_kills() - before;
    let mut seen = 0;
    while seen < kills && rx.recv_timeout(Duration::from_secs(20)).is_ok() {
        seen += 1;
    }
    // SAFETY: plain syscall on our child.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    tracer.wait()?;
    let latencies = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let _ = writeln!(
        md,
        "## In-kernel cost per OOM\n\n`kernel.bpf_stats_enabled` counts (oomtrace turns them on \
         with BPF_ENABLE_STATS for `--bpf-stats`): each program's `run_cnt` and `run_time_ns` over \
         a storm, divided by the OOM kills.\n\n### This machine, tracepoint mode\n\n`oomtrace trace \
         --json --bpf-stats` while `oomtrace trigger storm --kills {STORM_KILLS} --parallel 4 --limit 8M` \
         ran: {kills} kills in {secs:.1} s ({:.0} kills/s).\n",
        kills as f64 / secs
    );
    cost_table(md, &bpf_stats(&stderr), kills);
    let _ = writeln!(
        latency_md,
        "## Latency from the kill to the event\n\nFrom the kernel's timestamp of each kill \
         (`uptime_ns`, CLOCK_MONOTONIC, taken in `mark_victim`) to its JSON line read from \
         `oomtrace trace --json`'s stdout by this benchmark, over the same storm ({} events): \
         median {:.2} ms, 99th percentile {:.2} ms, worst {:.2} ms.\n",
        latencies.len(),
        median(&latencies),
        percentile(&latencies, 0.99),
        latencies.iter().copied().fold(0.0, f64::max)
    );
    Ok(())
}

/// Peers that do part of a kill's work in the kernel, by their bpftrace
/// program: what a tracer of one OOM line costs, and with the kernel stack.
const PEERS: [(&str, &str); 2] = [
    (
        "bpftrace: the victim's pid (libbpf-tools `oomkill`'s work)",
        r#"tracepoint:oom:mark_victim { printf("%d\n", args->pid); }"#,
    ),
    (
        "bpftrace: the pid and the kernel stack",
        r#"tracepoint:oom:mark_victim { printf("%d %s\n", args->pid, kstack); }"#,
    ),
];
/// Kills per storm of the side-by-side rounds, and the rounds.
const SIDE_KILLS: &str = "100";
const SIDE_ROUNDS: usize = 3;

/// One storm of `SIDE_KILLS` kills: the kernel's count of kills.
fn side_storm(exe: &str) -> Result<u64> {
    let before = vmstat_oom_kills();
    super::run(
        Command::new(exe)
            .args([
                "trigger",
                "storm",
                "--kills",
                SIDE_KILLS,
                "--parallel",
                "4",
                "--limit",
                "8M",
            ])
            .stdout(Stdio::null()),
    )?;
    Ok(vmstat_oom_kills() - before)
}

/// oomtrace's in-kernel time per OOM over one storm (all its programs).
fn ours_per_oom(exe: &str) -> Result<f64> {
    let mut tracer = Command::new(exe)
        .args(["trace", "--json", "--bpf-stats"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(tracer.stderr.take().unwrap()).lines();
    if !lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("oomtrace: attached"))
    {
        bail!("the tracer did not attach");
    }
    let kills = side_storm(exe)?;
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: plain syscall on our child.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let said: String = lines.map_while(Result::ok).collect::<Vec<_>>().join("\n");
    tracer.wait()?;
    let ns: u64 = bpf_stats(&said).iter().map(|s| s.2).sum();
    Ok(ns as f64 / kills.max(1) as f64 / 1e3)
}

/// A bpftrace program's in-kernel time per OOM over one storm, from its
/// programs' `run_time_ns` in /proc/PID/fdinfo (kernel.bpf_stats_enabled on).
fn bpftrace_per_oom(exe: &str, program: &str) -> Result<f64> {
    let mut peer = Command::new("bpftrace")
        .args(["-e", program])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let fdinfo = |pid: u32| -> Vec<String> {
        fs::read_dir(format!("/proc/{pid}/fdinfo"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| fs::read_to_string(e.path()).ok())
            .filter(|t| t.contains("prog_type:"))
            .collect()
    };
    let t = Instant::now();
    while fdinfo(peer.id()).is_empty() && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its program is loaded; attached right after.
    std::thread::sleep(Duration::from_secs(1));
    let kills = side_storm(exe)?;
    let ns: u64 = fdinfo(peer.id())
        .iter()
        .flat_map(|t| t.lines())
        .filter_map(|l| l.strip_prefix("run_time_ns:")?.trim().parse::<u64>().ok())
        .sum();
    let _ = peer.kill();
    peer.wait()?;
    Ok(ns as f64 / kills.max(1) as f64 / 1e3)
}

/// oomtrace and its peers on the same storms, in turn, `SIDE_ROUNDS` times:
/// this machine's cost drifts by a third over minutes (other guests), so
/// only figures taken side by side compare.
fn side_by_side(exe: &str, md: &mut String) -> Result<()> {
    let stats = "/proc/sys/kernel/bpf_stats_enabled";
    let was = fs::read_to_string(stats).unwrap_or_else(|_| "0".into());
    fs::write(stats, "1")?;
    let mut ours = Vec::new();
    let mut peers = vec![Vec::new(); PEERS.len()];
    let run = (|| -> Result<()> {
        for _ in 0..SIDE_ROUNDS {
            ours.push(ours_per_oom(exe)?);
            for (samples, (_, program)) in peers.iter_mut().zip(PEERS) {
                samples.push(bpftrace_per_oom(exe, program)?);
            }
        }
        Ok(())
    })();
    let _ = fs::write(stats, was.trim());
    run?;
    let _ = writeln!(
        md,
        "{SIDE_HEADING}\n\n{SIDE_ROUNDS} rounds, each tracer in turn over \
         a storm of {SIDE_KILLS} kills (`kernel.bpf_stats_enabled`; bpftrace's programs read from \
         /proc/PID/fdinfo). The peers copy far less, but they too wake their reader at each kill \
         (an interrupt, which a guest's hypervisor traps) and the second walks the kernel stack: \
         the floor of any tracer that shows a kill's stack live.\n\n\
         | tracer, per OOM in the kernel | median (range) |\n|---|---|"
    );
    let _ = writeln!(
        md,
        "| oomtrace (all its programs) | {} |",
        spread(&ours, "µs", 1)
    );
    for (samples, (name, _)) in peers.iter().zip(PEERS) {
        let _ = writeln!(md, "| {name} | {} |", spread(samples, "µs", 1));
    }
    md.push('\n');
    Ok(())
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn vmstat_oom_kills() -> u64 {
    fs::read_to_string("/proc/vmstat")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn vm_cost(md: &mut String) -> Result<()> {
    let logs = vm::boot_all(&vm::KERNELS.iter().collect::<Vec<_>>())?;
    let _ = writeln!(
        md,
        "### Debian's kernels in QEMU, kprobe mode\n\nInside each VM: `oomtrace trace --mode kprobe \
         --bpf-stats` while `oomtrace trigger storm --kills 20 --parallel 2 --limit 8M` ran \
         (tests/vm/init.sh). QEMU runs with `-accel tcg`: the CPU is emulated, so these times are \
         many times those of real hardware; they compare programs, not machines. `print_rss` is \
         the kprobe on `printk` that reads a victim's rss as its `Killed process` line prints it: \
         it runs at every printk of the machine while tracing, and outside an OOM it looks up its \
         thread and returns; its cost then is measured apart, with printks and no OOM \
         (init.sh's `printk-cost`).\n"
    );
    let mut thrash = Vec::new();
    for log in logs {
        let text = fs::read_to_string(&log)?.replace('\r', "");
        let kernel = text
            .lines()
            .find_map(|l| l.split_once("VMTEST kernel ").map(|(_, k)| k.to_owned()))
            .unwrap_or_default();
        let stats = bpf_stats(section_of(&text, "cost.err"));
        let ooms = stats
            .iter()
            .find(|s| s.0 == "mark_victim")
            .map_or(0, |s| s.1);
        let _ = writeln!(md, "{kernel}: {ooms} OOM kills.\n");
        cost_table(md, &stats, ooms.max(1));
        // The printk probe outside any OOM: all it costs a machine that
        // is not out of memory.
        if let Some((_, runs, ns)) = bpf_stats(section_of(&text, "printk-cost.err"))
            .into_iter()
            .find(|s| s.0 == "print_rss" && s.1 > 0)
        {
            let _ = writeln!(
                md,
                "`print_rss` outside an OOM ({runs} printks, no OOM): {:.2} µs per call.\n",
                ns as f64 / runs as f64 / 1e3
            );
        }
        let skipped = text.lines().any(|l| l.contains("VMTEST thrash-skipped"));
        thrash.push((
            kernel,
            if skipped {
                "skipped: no disk (NVMe and ext4 are modules on this kernel)".to_owned()
            } else {
                section_of(&text, "thrash.err").to_owned()
            },
        ));
    }
    let _ = writeln!(
        md,
        "### Under page-cache thrash, in QEMU\n\nThe `thrash` scenario of tests/vm/init.sh: three \
         global OOMs while a reader pulls a 256 MiB file from disk through the page cache, \
         `oomtrace record` running (memory locked, `oom_score_adj` -1000; never killed, checked by \
         the VM oracle). Kill-to-event latency as its end record gives it (from the kernel's \
         timestamp of each kill to the event leaving oomtrace's source; under TCG emulation).\n"
    );
    for (kernel, err) in thrash {
        let said = if err.starts_with("skipped") {
            err.clone()
        } else {
            err.lines()
                .find_map(|l| l.split_once("kill to event: ").map(|(_, v)| v.to_owned()))
                .unwrap_or_else(|| "not measured (no end line)".into())
        };
        let _ = writeln!(md, "- {kernel}: {said}");
    }
    md.push('\n');
    Ok(())
}

/// The body of a `=== BEGIN name` section of a VM log.
fn section_of<'a>(log: &'a str, name: &str) -> &'a str {
    log.split(&format!("=== BEGIN {name}\n"))
        .nth(1)
        .and_then(|s| s.split("=== END").next())
        .unwrap_or_default()
}

/// CPU time and wake-ups of idle tracers: /proc's counters before and after.
fn idle(exe: &str, md: &mut String) -> Result<()> {
    fn sample(pid: u32) -> (u64, u64) {
        let (ticks, _) = cpu_and_rss(pid);
        let mut switches = 0;
        for task in fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
            switches += status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        }
        (ticks, switches)
    }
    let mut tracers = Vec::new();
    for _ in 0..3 {
        let mut c = Command::new(exe)
            .arg("trace")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let err = c.stderr.take().unwrap();
        let mut lines = BufReader::new(err).lines();
        while let Some(Ok(l)) = lines.next() {
            if l.starts_with("oomtrace: attached") {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        tracers.push(c);
    }
    // Let the background kallsyms read finish before counting.
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<_> = tracers.iter().map(|c| sample(c.id())).collect();
    std::thread::sleep(Duration::from_secs(IDLE_SECS));
    let after: Vec<_> = tracers.iter().map(|c| sample(c.id())).collect();
    // Resident memory, and how much of it is the ring buffer's mapping
    // (kernel memory, there whether mapped or not; sized by --buffer).
    let resident: Vec<(f64, f64)> = tracers
        .iter()
        .map(|c| {
            let smaps = fs::read_to_string(format!("/proc/{}/smaps", c.id())).unwrap_or_default();
            let (mut all, mut ring, mut in_ring) = (0u64, 0u64, false);
            for l in smaps.lines() {
                if l.split_whitespace().next().is_some_and(|f| f.contains('-')) {
                    in_ring = l.ends_with("anon_inode:bpf-map");
                } else if let Some(kb) = l.strip_prefix("Rss:") {
                    let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    all += kb;
                    if in_ring {
                        ring += kb;
                    }
                }
            }
            (all as f64 / 1024.0, ring as f64 / 1024.0)
        })
        .collect();
    for c in &mut tracers {
        // SAFETY: plain syscall on our child.
        unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
        let _ = c.wait();
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_ms: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a.0 - b.0) as f64 / hz * 1e3)
        .collect();
    let wakeups: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| (a.1 - b.1) as f64)
        .collect();
    let _ = writeln!(
        md,
        "{IDLE_HEADING}\n\nThree `oomtrace trace` left idle for {IDLE_SECS} s (after attaching and reading \
         kallsyms), counted from /proc/PID/stat (utime+stime) and the context switches of all \
         their threads (/proc/PID/task/*/status): CPU {}, wake-ups {}.\n",
        spread(&cpu_ms, "ms", 0),
        spread(&wakeups, "", 0)
    );
    let all: Vec<f64> = resident.iter().map(|r| r.0).collect();
    let ring: Vec<f64> = resident.iter().map(|r| r.1).collect();
    let own: Vec<f64> = resident.iter().map(|r| r.0 - r.1).collect();
    let _ = writeln!(
        md,
        "Resident memory then, with kallsyms loaded (/proc/PID/smaps): {} in all, of which the \
         ring buffer's mapping (kernel memory, sized by `--buffer`) {}: oomtrace's own {}.\n",
        spread(&all, "MiB", 1),
        spread(&ring, "MiB", 1),
        spread(&own, "MiB", 1)
    );
    Ok(())
}

/// A 100k-event session made of one real event, read by `report` and by `jq`.
fn report_throughput(exe: &str, md: &mut String) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("oomtrace-bench-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let one = dir.join("one.jsonl");
    let _ = fs::remove_file(&one);
    let mut rec = Command::new(exe)
        .args(["record", "--quiet", "--count", "1", "-o"])
        .arg(&one)
        .stderr(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(rec.stderr.take().unwrap()).lines();
    while let Some(Ok(l)) = lines.next() {
        if l.starts_with("oomtrace: attached") {
            break;
        }
    }
    super::run(
        Command::new(exe)
            .args(["trigger", "memcg"])
            .stdout(Stdio::null()),
    )?;
    rec.wait()?;
    let text = fs::read_to_string(&one)?;
    let mut parts = text.lines();
    let (header, event) = (
        parts.next().context("empty recording")?,
        parts.next().context("no event recorded")?,
    );
    let big = dir.join("100k.jsonl");
    // Written as it is made: held whole, its 700 MB would be xtask's
    // resident set while the reports are timed (see `timed`).
    let mut out = std::io::BufWriter::new(fs::File::create(&big)?);
    let mut bytes = 0;
    let mut put = |line: &str| -> std::io::Result<()> {
        bytes += line.len() + 1;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")
    };
    put(header)?;
    for i in 1..=REPORT_EVENTS {
        put(&event.replacen(r#""seq":1,"#, &format!(r#""seq":{i},"#), 1))?;
    }
    put(&format!(
        r#"{{"type":"end","end":"2026-11-27T00:00:00Z","events":{REPORT_EVENTS},"lost":0,"incomplete":0,"deferred":0}}"#
    ))?;
    out.flush()?;
    drop(out);
    let size_mb = bytes as f64 / 1e6;
    let f = big.to_str().unwrap();
    let _ = writeln!(
        md,
        "{REPORT_HEADING}\n\nA session of {REPORT_EVENTS} copies of one real event (with \
         its counters, zones and stacks: {:.0} bytes a line, {size_mb:.0} MB), 3 runs each, output \
         to /dev/null; oomtrace at {}, {} CPUs.\n\n| command | events/s | wall | peak RSS |\n|---|---|---|---|",
        bytes as f64 / REPORT_EVENTS as f64,
        head_commit(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    for (what, cmd) in [
        (
            "`oomtrace report --format json`",
            vec![exe, "report", "--format", "json", f],
        ),
        ("`oomtrace report` (text)", vec![exe, "report", f]),
        (
            "`oomtrace report --format html`",
            vec![exe, "report", "--format", "html", f],
        ),
        (
            "`oomtrace report --summary`",
            vec![exe, "report", "--summary", f],
        ),
        ("`jq -c . ` (baseline)", vec!["jq", "-c", ".", f]),
    ] {
        let mut walls = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..3 {
            let t = timed(&cmd, "\u{0}", Stream::Discard)?;
            walls.push(t.wall_s);
            rss.push(t.rss_mib);
        }
        let rates: Vec<f64> = walls
            .iter()
            .map(|w| REPORT_EVENTS as f64 / w.max(1e-3))
            .collect();
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} |",
            spread(&rates, "", 0),
            spread(&walls, "s", 2),
            spread(&rss, "MiB", 0)
        );
    }
    let _ = fs::remove_dir_all(&dir);
    md.push('\n');
    Ok(())
}

/// The heading that starts `watch`'s section of bench/RESULTS.md, which
/// `cargo xtask bench watch` replaces and a whole run keeps.
const WATCH_HEADING: &str = "## `oomtrace watch` over time";

/// CPU time (ticks) and VmRSS (kB) of `pid` now.
fn cpu_and_rss(pid: u32) -> (u64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let rss = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (field(11) + field(12), rss)
}

/// `oomtrace watch` at its default refresh (1 s) in a 100×30 tmux window
/// for `secs`: its CPU time and resident set at the start and the end, and
/// the OOM kills that reached its screen meanwhile (whatever else runs on
/// the machine makes them; this makes none).
fn watch_cost(exe: &str, secs: u64) -> Result<String> {
    install_debian_packages(&["tmux"])?;
    // The build measured: what HEAD is now, not when the hour is over.
    let rev = head_commit();
    let session = format!("oomtrace-bench-watch-{}", std::process::id());
    super::run(Command::new("tmux").args([
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "100",
        "-y",
        "30",
        &format!("exec {exe} watch"),
    ]))?;
    let pid: u32 =
        output(Command::new("tmux").args(["list-panes", "-t", &session, "-F", "#{pane_pid}"]))
            .and_then(|p| p.trim().parse().ok())
            .context("the tmux pane's pid")?;
    // Started, attached and drawn.
    std::thread::sleep(Duration::from_secs(5));
    let (ticks0, rss0) = cpu_and_rss(pid);
    let kills0 = vmstat_oom_kills();
    let t0 = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let (ticks1, rss1) = cpu_and_rss(pid);
    let span = t0.elapsed().as_secs_f64();
    let kills = vmstat_oom_kills() - kills0;
    let _ = Command::new("tmux")
        .args(["send-keys", "-t", &session, "q"])
        .status();
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("tmux")
        .args(["kill-session", "-t", &session])
        .stderr(Stdio::null())
        .status();
    // SAFETY: sysconf with a valid name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let ticks = ticks1.saturating_sub(ticks0);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{WATCH_HEADING}\n\n`cargo xtask bench watch {secs}` ({}): `oomtrace watch` at its default \
         refresh (1 s) in a 100×30 tmux window, its CPU time (`/proc/PID/stat` utime+stime) and \
         resident set read 5 s after its start and at the end; the OOM kills are the machine's \
         (`/proc/vmstat` oom_kill) meanwhile, each a line on its screen.\n\n\
         | span | CPU | VmRSS start → end | OOM kills meanwhile |\n|---|---|---|---|\n\
         | {:.1} min | {ticks} ticks of {:.0}: {:.2} % of one CPU | {:.1} → {:.1} MiB | {kills} |\n",
        rev,
        span / 60.0,
        span * hz,
        100.0 * ticks as f64 / (span * hz),
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
    );
    Ok(md)
}

/// The section of a RESULTS.md text under `heading`, to the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> Option<&'a str> {
    let start = text.find(heading)?;
    let rest = &text[start..];
    // Up to the next heading of its level or above.
    let level = heading.len() - heading.trim_start_matches('#').len();
    let ends_it = |line: &str| {
        let hashes = line.len() - line.trim_start_matches('#').len();
        (1..=level).contains(&hashes) && line[hashes..].starts_with(' ')
    };
    let mut at = heading.len();
    let end = loop {
        match rest[at..].find('\n') {
            Some(nl) => {
                at += nl + 1;
                if ends_it(&rest[at..]) {
                    break at;
                }
            }
            None => break rest.len(),
        }
    };
    Some(&rest[..end])
}

/// Puts `new` in bench/RESULTS.md in place of the section under `heading`
/// (or at its end).
fn replace_section(heading: &str, new: &str) -> Result<()> {
    let path = workspace_root().join("bench/RESULTS.md");
    let text = fs::read_to_string(&path).unwrap_or_default();
    let text = match section(&text, heading) {
        // A blank line before the next heading, one newline at the end.
        Some(old) => {
            let last = text.ends_with(old.trim_end()) || text.trim_end().ends_with(old.trim_end());
            let ending = if last { "\n" } else { "\n\n" };
            text.replacen(old, &format!("{new}{ending}"), 1)
        }
        None => format!("{}\n\n{new}", text.trim_end()),
    };
    fs::write(&path, text)?;
    println!("{new}");
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

const STARTUP_HEADING: &str = "## Start-up";
const REPORT_HEADING: &str = "## `report` throughput";

/// One section of bench/RESULTS.md measured alone (root: `why`) and put in
/// place of its old text.
fn section_alone(
    heading: &str,
    why: &str,
    measure: fn(&str, &mut String) -> Result<()>,
) -> Result<()> {
    if !is_root() {
        bail!("{why}: run it as root");
    }
    // The peers and tools a section compares with (bpftrace, jq): a
    // section alone needs them as much as a whole run.
    install_debian_packages(BENCH_PACKAGES)?;
    let exe = oomtrace()?;
    let exe = exe.to_str().context("non-UTF-8 path")?.to_owned();
    let mut md = String::new();
    measure(&exe, &mut md)?;
    // The file's header names the whole run's commit: this section says its own.
    let md = format!(
        "{}\n\n(This section measured alone at {}, {}.)",
        md.trim_end(),
        head_commit(),
        output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
            .unwrap_or_default()
            .trim()
    );
    replace_section(heading, &md)
}

const IDLE_HEADING: &str = "## Idle";

/// `cargo xtask bench idle`: the idle section alone (half a minute).
pub fn idle_only() -> Result<()> {
    section_alone(
        IDLE_HEADING,
        "cargo xtask bench idle loads BPF programs",
        idle,
    )
}

/// `cargo xtask bench startup`: the start-up section alone (a few seconds).
pub fn startup_only() -> Result<()> {
    section_alone(
        STARTUP_HEADING,
        "cargo xtask bench startup loads BPF programs",
        startup,
    )
}

const SIDE_HEADING: &str = "### Beside bpftrace, on the same storms";

/// `cargo xtask bench kernel`: oomtrace's in-kernel time per OOM beside
/// bpftrace's, alone (a minute).
pub fn kernel_side_by_side() -> Result<()> {
    section_alone(
        SIDE_HEADING,
        "cargo xtask bench kernel loads BPF programs",
        side_by_side,
    )
}

/// `cargo xtask bench report`: `report`'s throughput alone (a minute).
pub fn report() -> Result<()> {
    section_alone(
        REPORT_HEADING,
        "cargo xtask bench report records a real OOM first",
        report_throughput,
    )
}

/// The sections measured by commands of their own, kept by `run`.
const OWN_SECTIONS: [&str; 2] = [WATCH_HEADING, STALL_HEADING];

/// `cargo xtask bench watch [SECONDS]` (an hour unless told): replaces
/// bench/RESULTS.md's watch section with a new measurement.
pub fn watch(secs: u64) -> Result<()> {
    if !is_root() {
        bail!("oomtrace watch loads BPF programs for its kill lines: run it as root");
    }
    let exe = oomtrace()?;
    let exe = exe.to_str().context("non-UTF-8 path")?.to_owned();
    eprintln!("xtask: bench: oomtrace watch for {secs} s");
    let new = watch_cost(&exe, secs)?;
    replace_section(WATCH_HEADING, &new)
}

const STALL_HEADING: &str = "## A reader that stalls";
/// The storm: as fast as this machine's kernel OOM-kills (4 cgroups side by side).
const STALL_KILLS: &str = "5000";
/// From the storm's start until the reader reads.
const STALL_SECS: u64 = 40;

/// `cargo xtask bench stall`: `trace --json` into a pipe nobody reads for
/// 40 s while a storm of 5000 memcg OOM kills runs, with the default queue
/// (`--queue`): how many events the queue held before it dropped, so how
/// long a reader may stall at the fastest rate, and the resident set at the
/// deepest. Replaces bench/RESULTS.md's section of it.
pub fn stall() -> Result<()> {
    if !is_root() {
        bail!("cargo xtask bench stall loads BPF programs: run it as root");
    }
    let exe = oomtrace()?;
    let exe = exe.to_str().context("non-UTF-8 path")?.to_owned();
    let rev = head_commit();
    let mut c = Command::new(&exe)
        .args(["trace", "--json", "--bpf-stats"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = c.id();
    let mut lines = BufReader::new(c.stderr.take().unwrap()).lines();
    for l in lines.by_ref() {
        if l?.starts_with("oomtrace: attached") {
            break;
        }
    }
    let said = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let kills0 = vmstat_oom_kills();
    let t0 = std::time::Instant::now();
    eprintln!("xtask: bench: a storm of {STALL_KILLS} kills, the reader stalled {STALL_SECS} s");
    super::run(
        Command::new(&exe)
            .args([
                "trigger",
                "storm",
                "--kills",
                STALL_KILLS,
                "--parallel",
                "4",
                "--limit",
                "4M",
            ])
            .stdout(Stdio::null()),
    )?;
    let storm = t0.elapsed().as_secs_f64();
    let kills = vmstat_oom_kills() - kills0;
    std::thread::sleep(Duration::from_secs(STALL_SECS).saturating_sub(t0.elapsed()));
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let mut out = c.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut text);
        text.lines()
            .filter(|l| l.starts_with(r#"{"type":"oom""#))
            .count()
    });
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    c.wait()?;
    let events = reader.join().unwrap_or(0) as u64;
    let said = said.join().unwrap_or_default();
    let end = said
        .iter()
        .rev()
        .find(|l| l.contains(" events, "))
        .cloned()
        .unwrap_or_default();
    let count_before = |word: &str| -> u64 {
        end.split(word)
            .next()
            .and_then(|b| b.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0)
    };
    let (lost, dropped) = (count_before(" lost records"), count_before(" dropped"));
    let peak_kib: u64 = end
        .split("queue peak ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let rate = kills as f64 / storm.max(0.001);
    let held = if dropped > 0 {
        format!(
            "{:.1} s (the {events} events it held)",
            events as f64 / rate
        )
    } else {
        format!("at least {STALL_SECS} s (nothing dropped)")
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{STALL_HEADING}\n\n`cargo xtask bench stall` ({}): `oomtrace trace --json` with the \
         default `--queue` (64M) into a pipe nobody reads for {STALL_SECS} s from the start of \
         a storm of memcg OOM kills (`trigger storm --kills {STALL_KILLS} --parallel 4 --limit \
         4M`); the kills are the kernel's count (`/proc/vmstat` oom_kill), the rest the end line \
         and `/proc/PID/status`.\n\n\
         | kills | storm | rate | events read | dropped | lost records | queue peak | VmHWM | longest stall at this rate |\n\
         |---|---|---|---|---|---|---|---|---|\n\
         | {kills} | {storm:.1} s | {rate:.0}/s | {events} | {dropped} | {lost} | {:.1} MiB | {:.1} MiB | {held} |\n",
        rev,
        peak_kib as f64 / 1024.0,
        hwm_kb as f64 / 1024.0,
    );
    replace_section(STALL_HEADING, &md)
}

pub fn run() -> Result<()> {
    if !is_root() {
        bail!("cargo xtask bench loads BPF programs: run it as root");
    }
    let before = fs::read_to_string(workspace_root().join("bench/RESULTS.md")).unwrap_or_default();
    let kept: Vec<String> = OWN_SECTIONS
        .iter()
        .filter_map(|h| section(&before, h).map(str::to_owned))
        .collect();
    install_debian_packages(BENCH_PACKAGES)?;
    let exe = oomtrace()?;
    let exe = exe.to_str().context("non-UTF-8 path")?.to_owned();
    let mut md = String::new();
    let mem_kb = fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let _ = writeln!(
        md,
        "# oomtrace benchmarks\n\nWritten by `cargo xtask bench` (root). Machine: {} CPUs ({cpu}), \
         {:.0} GiB, kernel {}, {}. oomtrace {} at {}. bpftrace {}.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        mem_kb as f64 / 1048576.0,
        output(Command::new("uname").arg("-r"))
            .unwrap_or_default()
            .trim(),
        output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
            .unwrap_or_default()
            .trim(),
        env!("CARGO_PKG_VERSION"),
        head_commit(),
        output(Command::new("bpftrace").arg("--version"))
            .unwrap_or_default()
            .trim(),
    );
    eprintln!("xtask: bench: start-up");
    startup(&exe, &mut md)?;
    eprintln!("xtask: bench: storm on this machine");
    let mut latency = String::new();
    storm_cost(&exe, &mut md, &mut latency)?;
    eprintln!("xtask: bench: beside bpftrace");
    side_by_side(&exe, &mut md)?;
    eprintln!("xtask: bench: the VMs");
    vm_cost(&mut md)?;
    md.push_str(&latency);
    eprintln!("xtask: bench: idle ({IDLE_SECS} s)");
    idle(&exe, &mut md)?;
    eprintln!("xtask: bench: report throughput");
    report_throughput(&exe, &mut md)?;
    // An hour of watch and the stalled reader are measured on their own
    // (`cargo xtask bench watch`, `cargo xtask bench stall`).
    for k in kept {
        let _ = write!(md, "\n{}\n", k.trim_end());
    }
    let path = workspace_root().join("bench/RESULTS.md");
    fs::create_dir_all(path.parent().unwrap())?;
    fs::write(&path, &md)?;
    println!("{md}");
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}
