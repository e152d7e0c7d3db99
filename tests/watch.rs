//! `oomtrace watch`: its snapshot against the kernel's own files read in the
//! same second, a slow hog's memory cgroup nearing its limit, and the
//! screen itself under tmux (send-keys, capture-pane).

use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn snapshot(interval: &str) -> Value {
    let (out, err) = oomtrace_ok(&["watch", "--once", "--json", "--interval", interval]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"))
}

/// /proc/zoneinfo's watermarks and sizes by zone, in kB.
fn zoneinfo() -> Vec<(u32, String, [u64; 4])> {
    let text = std::fs::read_to_string("/proc/zoneinfo").unwrap();
    let page_kb = 4;
    let mut out = Vec::new();
    let mut cur: Option<(u32, String, [u64; 4])> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Node ") {
            out.extend(cur.take());
            let (n, z) = rest.split_once(", zone").unwrap();
            cur = Some((n.trim().parse().unwrap(), z.trim().to_owned(), [0; 4]));
            continue;
        }
        let mut w = line.split_whitespace();
        let (Some(k), Some(v)) = (w.next(), w.next()) else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else { continue };
        if let Some((_, _, vals)) = cur.as_mut() {
            match k {
                "min" => vals[0] = v * page_kb,
                "low" => vals[1] = v * page_kb,
                "high" => vals[2] = v * page_kb,
                "managed" => vals[3] = v * page_kb,
                _ => {}
            }
        }
    }
    out.extend(cur);
    out.retain(|(_, _, v)| v[3] > 0);
    out
}

#[test]
fn the_snapshot_is_what_the_kernels_files_say() {
    let snap = snapshot("500ms");
    let zones: Vec<(u32, String, [u64; 4])> = snap["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| {
            (
                z["node"].as_u64().unwrap() as u32,
                z["zone"].as_str().unwrap().to_owned(),
                ["min_kb", "low_kb", "high_kb", "managed_kb"].map(|k| z[k].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(zones, zoneinfo(), "zones, watermarks and sizes");
    // PSI's averages move every 2 s: the file read now is within a step.
    let psi = std::fs::read_to_string("/proc/pressure/memory").expect("this kernel has PSI");
    let avg10 = |kind: &str| -> f64 { psi_value(&psi, kind, "avg10").parse().unwrap() };
    let p = &snap["psi"];
    assert!(
        (p["some_avg10"].as_f64().unwrap() - avg10("some ")).abs() < 5.0,
        "{p} vs {psi}"
    );
    assert!(
        (p["full_avg10"].as_f64().unwrap() - avg10("full ")).abs() < 5.0,
        "{p} vs {psi}"
    );
    let rates = snap["reclaim_per_s"].as_object().unwrap();
    for k in [
        "kswapd_scan",
        "direct_scan",
        "direct_reclaim",
        "compact_stall",
        "oom_kill",
    ] {
        assert!(rates[k].as_f64().unwrap() >= 0.0, "{k}");
    }
    assert_eq!(snap["notes"], Value::Array(vec![]));
}

/// The slow hog (see [`slow_hog_command`]), started.
fn slow_hog() -> Child {
    slow_hog_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The memory cgroup's own usage file, kB.
fn usage_kb(path: &str) -> Option<u64> {
    let root = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"];
    root.iter().find_map(|r| {
        ["memory.usage_in_bytes", "memory.current"]
            .iter()
            .find_map(|f| {
                std::fs::read_to_string(format!("{r}{path}/{f}"))
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .map(|b| b / 1024)
            })
    })
}

#[test]
fn a_memcg_nearing_its_limit_shows_with_a_falling_time_left() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let hog = slow_hog();
    let path = format!("/oomtrace-trigger-{}", hog.id());
    // Until the cgroup exists and has begun to grow.
    let deadline = Instant::now() + Duration::from_secs(10);
    while usage_kb(&path).is_none_or(|u| u < 2048) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let find = |snap: &Value| -> (usize, Value) {
        let list = snap["memcgs"].as_array().unwrap();
        let i = list
            .iter()
            .position(|m| m["path"] == path.as_str())
            .unwrap_or_else(|| panic!("{path} not among {list:?}"));
        (i, list[i].clone())
    };
    let first = snapshot("1s");
    let after_first = usage_kb(&path).unwrap();
    let (i, m1) = find(&first);
    // Those before it are at least as near their limits.
    for other in &first["memcgs"].as_array().unwrap()[..i] {
        assert!(
            other["percent"].as_f64() >= m1["percent"].as_f64(),
            "{other} before {m1}"
        );
    }
    assert_eq!(m1["limit_kb"].as_u64(), Some(24 * 1024));
    // Read within the second before the file: no more than 2 s of growth apart.
    let u1 = m1["usage_kb"].as_u64().unwrap();
    assert!(
        u1 <= after_first && after_first - u1 <= 2 * 3 * 1024 + 1024,
        "{u1} vs {after_first}"
    );
    let growth = m1["growth_kb_per_s"].as_f64().unwrap();
    assert!(
        (1024.0..=6144.0).contains(&growth),
        "3 MiB/s, measured {growth}"
    );
    let left1 = m1["limit_in_s"].as_f64().expect("growing: a time left");
    let second = snapshot("1s");
    let (_, m2) = find(&second);
    let left2 = m2["limit_in_s"].as_f64().expect("still growing");
    assert!(left2 < left1, "time left {left1} then {left2}");
    assert!(m2["usage_kb"].as_u64() > m1["usage_kb"].as_u64());
    let out = hog.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("killed by the OOM killer"));
}

/// tmux with one window of `w`×`h` running `oomtrace watch`; its exit code
/// lands in a file.
struct Tmux {
    name: String,
    exit: std::path::PathBuf,
}

impl Tmux {
    fn start(w: u16, h: u16) -> Tmux {
        let name = format!("oomtrace-watch-{}-{w}x{h}", std::process::id());
        let exit = std::env::temp_dir().join(format!("{name}.exit"));
        let _ = std::fs::remove_file(&exit);
        let ok = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &w.to_string(),
                "-y",
                &h.to_string(),
            ])
            .arg(format!(
                "{OOMTRACE} watch; echo $? > {}; sleep 60",
                exit.display()
            ))
            .status()
            .expect("tmux");
        assert!(ok.success());
        Tmux { name, exit }
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        Command::new("tmux")
            .args(["send-keys", "-t", &self.name, keys])
            .status()
            .unwrap();
    }

    /// Until the screen holds `what` (or 20 s).
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(what) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
        let _ = std::fs::remove_file(&self.exit);
    }
}

#[test]
fn the_screen_shows_the_memcg_and_its_kill_and_quits_clean() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let t = Tmux::start(100, 30);
    let s = t.wait_for("tracing OOMs");
    assert!(s.contains("memory cgroups by use of limit"), "{s}");
    let hog = slow_hog();
    let path = format!("/oomtrace-trigger-{}", hog.id());
    let s = t.wait_for(&path);
    assert!(s.contains(&path), "the memcg on screen:\n{s}");
    let out = hog.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let victim = text
        .split_whitespace()
        .skip_while(|w| *w != "child")
        .nth(1)
        .unwrap()
        .to_owned();
    let s = t.wait_for(&format!("killed oomtrace-hog({victim})"));
    assert!(
        s.contains(&format!("killed oomtrace-hog({victim})")),
        "the kill on screen:\n{s}"
    );
    // Enter opens the last OOM's report, Esc closes it, q quits with 0.
    t.keys("Enter");
    let s = t.wait_for("invoked oom-killer");
    assert!(s.contains("invoked oom-killer"), "{s}");
    t.keys("Escape");
    t.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.exit.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(std::fs::read_to_string(&t.exit).unwrap().trim(), "0");
    let after = t.screen();
    assert!(
        !after.contains("OOM kills") && !after.contains("zones:"),
        "the terminal is left clean:\n{after}"
    );
}

#[test]
fn a_small_terminal_is_told_so() {
    let t = Tmux::start(60, 15);
    let s = t.wait_for("too small");
    assert!(
        s.contains("terminal too small (60x15): oomtrace watch needs 80x24"),
        "{s}"
    );
    t.keys("q");
}

fn monotonic_ns() -> u64 {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall into a local.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `record` keeps the lead-up: a slow hog's memcg OOM carries its memcg's
/// usage rising second by second to the limit, each sampled value what
/// the memcg's own usage file said at that moment (this test reads it too,
/// every 100 ms).
#[test]
fn a_recorded_memcg_oom_carries_its_lead_up() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("leadup");
    let file = dir.join("leadup.jsonl");
    let recorder = Tracer::start(&[
        "record",
        "-o",
        file.to_str().unwrap(),
        "--quiet",
        "--lead-up",
        "30s",
    ]);
    // The kernel's own count of the allocator's retries meanwhile.
    let retries = TraceInstance::new("leadup", &["reclaim_retry_zone", "compact_retry"]);
    let mut hog = slow_hog();
    let path = format!("/oomtrace-trigger-{}", hog.id());
    let mut seen: Vec<(u64, u64)> = Vec::new();
    while hog.try_wait().unwrap().is_none() {
        if let Some(u) = usage_kb(&path) {
            seen.push((monotonic_ns(), u));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&file)
        .unwrap_or_default()
        .contains("\"type\":\"oom\"")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    recorder.interrupt(Duration::from_secs(20));
    let text = std::fs::read_to_string(&file).unwrap();
    let ev: Value = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["type"] == "oom")
        .expect("the OOM recorded");
    assert_eq!(ev["memcg"], path.as_str());
    let at = ev["uptime_ns"].as_u64().unwrap();
    let points = ev["lead_up"]["points"].as_array().expect("a lead-up");
    let usage: Vec<(u64, u64)> = points
        .iter()
        .filter_map(|p| Some((p["ms_before"].as_u64()?, p["memcg_usage_kb"].as_u64()?)))
        .collect();
    assert!(
        usage.len() >= 3,
        "a point a second while it grew past half its limit: {points:?}"
    );
    // Rising sample by sample. The last is the OOM, as the kernel's memcg
    // line says: at the limit, less what the charge path's drain of the
    // per-CPU caches gave back before the OOM killer (64 pages a CPU),
    // which may put it below the last sample (a VM saw 24536 kB sampled,
    // 24340 printed).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let (sampled, _) = usage.split_at(usage.len() - 1);
    assert!(
        sampled.windows(2).all(|w| w[0].1 <= w[1].1),
        "rising: {usage:?}"
    );
    let last = usage.last().unwrap();
    assert!(
        last.1 + cpus * 64 * 4 >= sampled.last().unwrap().1,
        "{usage:?}"
    );
    assert_eq!(last.0, 0);
    assert_eq!(Some(last.1), ev["memcg_memory"]["usage_kb"].as_u64());
    assert_eq!(ev["memcg_memory"]["limit_kb"].as_u64(), Some(24 * 1024));
    assert!(
        (24 * 1024u64).saturating_sub(last.1) <= cpus * 64 * 4,
        "{usage:?}"
    );
    // Each sampled value is what the usage file said within 300 ms of it.
    for (ms_before, kb) in &usage[..usage.len() - 1] {
        let t = at - ms_before * 1_000_000;
        let near: Vec<u64> = seen
            .iter()
            .filter(|(ts, _)| ts.abs_diff(t) <= 300_000_000)
            .map(|(_, u)| *u)
            .collect();
        let (lo, hi) = (near.iter().min(), near.iter().max());
        assert!(
            lo.is_some_and(|lo| lo <= kb) && hi.is_some_and(|hi| kb <= hi),
            "{kb} kB {ms_before} ms before the OOM; the file said {near:?}"
        );
    }
    // The allocator's retries: a rate on every point after the first (the
    // live source counts them from its start), which over the lead-up adds
    // up to no more than the kernel traced meanwhile — none, for a memcg's
    // limit on a machine with memory to spare.
    let kernel = retries.count();
    let mut counted = 0.0;
    let mut before = None;
    for p in &points[1..] {
        let (r, c) = (
            p["reclaim_retries_per_s"].as_f64(),
            p["compact_retries_per_s"].as_f64(),
        );
        assert!(r.is_some() && c.is_some(), "{p}");
        let ms = p["ms_before"].as_u64().unwrap();
        let prev: u64 = before.unwrap_or(points[0]["ms_before"].as_u64().unwrap());
        counted += (r.unwrap() + c.unwrap()) * (prev - ms) as f64 / 1000.0;
        before = Some(ms);
    }
    assert!(
        counted <= kernel as f64 + 0.5,
        "{counted} retries in the lead-up, the kernel traced {kernel}"
    );
    if kernel == 0 {
        assert_eq!(counted, 0.0);
    }
    println!("lead-up: {counted} allocator retries counted, {kernel} traced by the kernel");
}

/// `oomtrace watch` on a pseudo-terminal of the test's own, 100×30; a
/// thread drains the screen it draws (a terminal that stops reading would
/// block its writes) until [`Pty::hang_up`] closes the terminal's side.
struct Pty {
    child: Child,
    drained: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    hang_up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl Pty {
    /// `controlling`: the pty is watch's controlling terminal (it leads a
    /// session of its own, as under ssh or tmux), so its hang-up sends
    /// SIGHUP; otherwise watch only sees the terminal hang up (EOF, EIO).
    fn start(controlling: bool) -> Pty {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        let size = libc::winsize {
            ws_row: 30,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty fills two descriptors.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        // Not inherited: a master left open in watch would keep its
        // terminal alive.
        for fd in [master, slave] {
            // SAFETY: fcntl on descriptors just made.
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
        // SAFETY: fresh descriptors that nothing else owns.
        let (master, slave) = unsafe {
            (
                std::fs::File::from_raw_fd(master),
                std::fs::File::from_raw_fd(slave),
            )
        };
        let mut cmd = Command::new(OOMTRACE);
        cmd.arg("watch")
            .stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        if controlling {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().unwrap();
        drop(cmd); // the slave's last copy here: the pty hangs up with the master alone
        let drained = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let hang_up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let drain = {
            let (drained, hang_up) = (drained.clone(), hang_up.clone());
            std::thread::spawn(move || {
                use std::io::Read;
                use std::os::fd::AsRawFd;
                let mut master = master;
                let mut buf = [0u8; 4096];
                while !hang_up.load(std::sync::atomic::Ordering::SeqCst) {
                    let mut p = libc::pollfd {
                        fd: master.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one pollfd.
                    if unsafe { libc::poll(&mut p, 1, 20) } <= 0 {
                        continue;
                    }
                    match master.read(&mut buf) {
                        Ok(n) if n > 0 => drained.lock().unwrap().extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                // The master is closed here: the terminal is gone.
            })
        };
        Pty {
            child,
            drained,
            hang_up,
            drain: Some(drain),
        }
    }

    /// Until watch has drawn its screen (or 30 s).
    fn wait_drawn(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = String::from_utf8_lossy(&self.drained.lock().unwrap()).into_owned();
            if text.contains("zones") {
                return;
            }
            assert!(Instant::now() < deadline, "no screen within 30 s:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the terminal's side, as a dropped ssh session or a killed
    /// tmux does.
    fn hang_up(&mut self) {
        self.hang_up
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.drain.take().unwrap().join().unwrap();
    }

    /// Waits for watch to end within `within`; returns its exit status and
    /// the CPU time it used from `from` (clock ticks of its
    /// /proc/PID/stat, read before its end and as a zombie).
    fn ended_within(&mut self, within: Duration, ticks_before: u64) -> (i32, u64) {
        let pid = self.child.id();
        let deadline = Instant::now() + within;
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
            if fields[0] == "Z" {
                let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
                let status = self.child.wait().unwrap();
                use std::os::unix::process::ExitStatusExt;
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                return (code, ticks - ticks_before);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("watch still running {within:?} later (state {})", fields[0]);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.hang_up
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(d) = self.drain.take() {
            let _ = d.join();
        }
    }
}

/// A watch whose terminal went away (a dropped ssh session, a killed tmux)
/// ends within a second and spends no CPU meanwhile: with the pty as its
/// controlling terminal (SIGHUP) and as a plain descriptor (the hang-up
/// seen on the terminal alone). SIGTERM and SIGINT end it as fast, exiting
/// 0. 0.2 s of CPU (20 ticks) is ample for detaching the BPF programs and
/// exiting; a watch spinning on a dead terminal takes the whole second.
#[test]
fn watch_ends_within_a_second_when_its_terminal_goes_or_a_signal_comes() {
    require_root();
    for controlling in [true, false] {
        let mut pty = Pty::start(controlling);
        pty.wait_drawn();
        let before = pty.cpu_ticks();
        pty.hang_up();
        let (code, ticks) = pty.ended_within(Duration::from_secs(1), before);
        println!("terminal gone (controlling {controlling}): exit {code}, {ticks} ticks of CPU");
        assert!(ticks <= 20, "{ticks} clock ticks of CPU after the hang-up");
        assert_ne!(
            code, 0,
            "a watch that lost its terminal did not finish its work"
        );
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut pty = Pty::start(true);
        pty.wait_drawn();
        let before = pty.cpu_ticks();
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(pty.child.id() as i32, sig) };
        let (code, ticks) = pty.ended_within(Duration::from_secs(1), before);
        println!("signal {sig}: exit {code}, {ticks} ticks of CPU");
        assert_eq!(code, 0, "signal {sig}");
        assert!(ticks <= 20, "{ticks} clock ticks of CPU after signal {sig}");
    }
}

/// `key=`'s value on the `kind` line ("some ", "full ") of a
/// /proc/pressure/memory text.
fn psi_value<'a>(psi: &'a str, kind: &str, key: &str) -> &'a str {
    psi.lines()
        .find_map(|l| l.strip_prefix(kind))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        })
        .unwrap_or_else(|| panic!("no {kind}{key}= in {psi}"))
}

/// `total=` of a line of /proc/pressure/memory (µs stalled since boot).
fn psi_total_us(kind: &str) -> u64 {
    let psi = std::fs::read_to_string("/proc/pressure/memory").unwrap();
    psi_value(&psi, kind, "total").parse().unwrap()
}

/// The snapshot's rates are differences of the kernel's own counters over
/// its interval: during a storm of memcg OOM kills, its `oom_kill` rate
/// times the interval it reports is a whole number of kills, more than
/// none, and no more than /proc/vmstat counted from before the snapshot
/// began to after it ended; its PSI `some` share now, turned back into
/// stalled µs, no more than /proc/pressure/memory's `total` grew meanwhile.
#[test]
fn the_snapshots_rates_are_the_kernels_counters_over_its_interval() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut storm = Command::new(OOMTRACE)
        .args([
            "trigger",
            "storm",
            "--kills",
            "600",
            "--parallel",
            "2",
            "--limit",
            "8M",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (kills0, stall0) = (vmstat_oom_kills(), psi_total_us("some "));
    let snap = snapshot("1s");
    let (kills1, stall1) = (vmstat_oom_kills(), psi_total_us("some "));
    storm.wait().unwrap();
    let secs = snap["interval_s"].as_f64().unwrap();
    assert!((0.9..2.0).contains(&secs), "{secs}");
    let kills = snap["reclaim_per_s"]["oom_kill"].as_f64().unwrap() * secs;
    assert!(
        (kills - kills.round()).abs() < 1e-6 && kills.round() >= 1.0,
        "{kills} kills in the interval"
    );
    assert!(
        kills.round() as u64 <= kills1 - kills0,
        "{kills} in the interval, {} around it",
        kills1 - kills0
    );
    eprintln!("{kills} kills in {secs} s; {} around it", kills1 - kills0);
    let stalled_us = snap["psi"]["some_now"].as_f64().unwrap() / 100.0 * secs * 1e6;
    assert!(
        stalled_us <= (stall1 - stall0) as f64 + 1.0,
        "{stalled_us} µs stalled in the interval, {} around it",
        stall1 - stall0
    );
}
