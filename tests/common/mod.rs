//! What the integration tests share: the binary, a tracer started and
//! waited on until attached, and the safe memcg OOM.
#![allow(dead_code)]

pub mod kreport;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const OOMTRACE: &str = env!("CARGO_BIN_EXE_oomtrace");

/// A directory of a test's own under the temp dir, `oomtrace-TAG-PID`,
/// empty when made and removed when dropped — by a failing test too, as its
/// panic unwinds (tests that left theirs behind once filled a CI machine's
/// disk). `OOMTRACE_KEEP_SCRATCH=1` keeps them to look at.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("oomtrace-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    pub fn join(&self, name: impl AsRef<std::path::Path>) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("OOMTRACE_KEEP_SCRATCH").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A hog growing 3 MiB a second in a 24 MiB memory cgroup, whose OOM
/// comes after seconds of rising usage: `oomtrace trigger memcg --limit 24M
/// -- oomtrace __hog --mib-per-s 3`.
pub fn slow_hog_command() -> Command {
    let mut cmd = Command::new(OOMTRACE);
    cmd.args([
        "trigger",
        "memcg",
        "--limit",
        "24M",
        "--",
        OOMTRACE,
        "__hog",
        "--mib-per-s",
        "3",
    ]);
    cmd
}

/// A tracefs instance of the test's own with some `oom:*` events enabled:
/// the kernel's own count of them, an oracle oomtrace's BPF side did not
/// produce. Removed when dropped.
pub struct TraceInstance(std::path::PathBuf, Vec<String>);

impl TraceInstance {
    pub fn new(tag: &str, events: &[&str]) -> TraceInstance {
        let root = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
            .iter()
            .map(std::path::Path::new)
            .find(|p| p.join("instances").is_dir())
            .expect("tracefs with instances");
        let dir = root
            .join("instances")
            .join(format!("oomtrace-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).unwrap();
        let mut instance = TraceInstance(dir, Vec::new());
        for e in events {
            let enable = instance.0.join(format!("events/oom/{e}/enable"));
            std::fs::write(&enable, "1").unwrap();
            instance.1.push(enable.to_string_lossy().into_owned());
        }
        instance
    }

    /// The events the kernel wrote into the instance so far.
    pub fn count(&self) -> usize {
        std::fs::read_to_string(self.0.join("trace"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count()
    }
}

impl Drop for TraceInstance {
    fn drop(&mut self) {
        for enable in &self.1 {
            let _ = std::fs::write(enable, "0");
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The kernel's own report of the OOM that killed `pid` (waited for up to
/// 5 s), read from its log by the tests' own reader (`kreport`); a report
/// the kernel rate-limited is no oracle.
pub fn kernel_report_for(pid: i32) -> kreport::Report {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = Command::new("dmesg").output().unwrap();
        let log = String::from_utf8_lossy(&log.stdout);
        if let Some(r) = kreport::read(&log)
            .into_iter()
            .rev()
            .find(|r| r.killed.as_ref().is_some_and(|k| k.pid == pid))
        {
            assert!(
                !r.header_suppressed,
                "the kernel rate-limited its report of pid {pid}'s OOM: no oracle"
            );
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the kernel log has no OOM report for pid {pid}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// OOM tests run one at a time: a tracer must see its own test's OOM only.
pub static ONE_OOM_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn require_root() {
    // SAFETY: plain syscall.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests load BPF programs: run them as root (cargo xtask test does)"
    );
}

/// A running `oomtrace trace`, started and waited on until it says `attached`.
pub struct Tracer {
    pub child_pid: u32,
    child: Child,
    stderr: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
}

impl Tracer {
    pub fn start(args: &[&str]) -> Self {
        let mut cmd = Command::new(OOMTRACE);
        cmd.args(args);
        Self::start_command(cmd)
    }

    /// Starts `cmd` (oomtrace, perhaps under another user) as [`Tracer::start`] does.
    pub fn start_command(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting oomtrace");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut t = Self {
            child_pid: child.id(),
            child,
            stderr: rx,
            stderr_seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match t.stderr.recv_timeout(left) {
                Ok(line) => {
                    let attached = line.starts_with("oomtrace: attached");
                    t.stderr_seen.push(line);
                    if attached {
                        return t;
                    }
                }
                Err(_) => panic!("oomtrace never attached; stderr: {:?}", t.stderr_seen),
            }
        }
    }

    /// Stops the tracer as Ctrl-C would, then waits for it; returns stdout.
    pub fn interrupt(self, timeout: Duration) -> String {
        // SAFETY: plain syscall on our own child.
        unsafe { libc::kill(self.child_pid as i32, libc::SIGINT) };
        self.finish(timeout)
    }

    /// Sends SIGTERM (as systemd and kill do), then waits as
    /// [`Tracer::finish`] does.
    pub fn terminate(self, timeout: Duration) -> String {
        // SAFETY: plain syscall on our own child.
        unsafe { libc::kill(self.child_pid as i32, libc::SIGTERM) };
        self.finish(timeout)
    }

    /// What the tracer said on stderr so far.
    pub fn stderr_lines(&mut self) -> &[String] {
        self.stderr_seen.extend(self.stderr.try_iter());
        &self.stderr_seen
    }

    /// Waits for the tracer to exit by itself; returns stdout.
    pub fn finish(self, timeout: Duration) -> String {
        self.finish_all(timeout).0
    }

    /// As [`Tracer::interrupt`], returning its stderr too (its end line).
    pub fn interrupt_all(self, timeout: Duration) -> (String, Vec<String>) {
        // SAFETY: plain syscall on our own child.
        unsafe { libc::kill(self.child_pid as i32, libc::SIGINT) };
        self.finish_all(timeout)
    }

    /// As [`Tracer::finish`], returning its stdout and all its stderr.
    pub fn finish_all(mut self, timeout: Duration) -> (String, Vec<String>) {
        let deadline = Instant::now() + timeout;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "oomtrace did not exit within {timeout:?}; stderr: {:?}",
                    self.stderr_seen
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = self.child.wait().unwrap();
        self.stderr_seen.extend(self.stderr.try_iter());
        assert!(
            status.success(),
            "oomtrace failed: {status}; stderr: {:?}",
            self.stderr_seen
        );
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).unwrap();
        }
        self.stderr_seen.extend(self.stderr.try_iter());
        (out, self.stderr_seen)
    }

    /// Its stdout, to read live (then [`Tracer::finish`] returns nothing).
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("stdout already taken")
    }
}

/// `oomtrace trigger memcg`: one OOM kill of its own child; returns the child's pid.
pub fn trigger_memcg() -> i32 {
    trigger_memcg_limit("32M")
}

/// As [`trigger_memcg`], in a memory cgroup of `limit` (`4M` kills in
/// about 10 ms).
pub fn trigger_memcg_limit(limit: &str) -> i32 {
    let out = Command::new(OOMTRACE)
        .args(["trigger", "memcg", "--limit", limit])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "trigger failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split_whitespace()
        .skip_while(|w| *w != "child")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no child pid in {stdout:?}"))
}

/// Runs oomtrace with `args`; it must succeed (its stderr says why not).
/// Returns (stdout, stderr).
pub fn oomtrace_ok<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (String, String) {
    let out = Command::new(OOMTRACE).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let names: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(out.status.success(), "oomtrace {names:?}: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// A fixture of tests/fixtures (`kernel-reports/NAME` or `seed/NAME`).
pub fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path)
}

/// The kernel prints at most 10 OOM reports per 5 s (`oom_rs` in
/// mm/oom_kill.c; each kill takes one, whether its report is printed or
/// not). A test whose oracle is the kernel's report waits until the last
/// kill in the log is older than that window: the next report is then
/// printed whole, whatever OOMs the tests before it caused.
pub fn await_whole_kernel_report() {
    const WINDOW: f64 = 6.0; // the kernel's 5 s interval, and a margin
    // "Now" on the log's own clock: a line of our own, read back.
    let marker = format!("oomtrace-tests: clock {}", std::process::id());
    let stamped = std::fs::write("/dev/kmsg", format!("{marker}\n")).is_ok();
    let log = Command::new("dmesg").output().expect("dmesg");
    let log = String::from_utf8_lossy(&log.stdout);
    let stamp = |line: &str| -> Option<f64> {
        let rest = line.trim_start().strip_prefix('[')?;
        rest[..rest.find(']')?].trim().parse().ok()
    };
    let now = log
        .lines()
        .rev()
        .find(|l| l.contains(&marker))
        .and_then(stamp);
    let last_kill = log
        .lines()
        .rev()
        .find(|l| l.contains("Killed process") || l.contains("invoked oom-killer"))
        .and_then(stamp);
    let wait = match (stamped, now, last_kill) {
        (true, Some(now), Some(last)) => WINDOW - (now - last),
        (true, Some(_), None) => 0.0,
        _ => WINDOW, // no clock to read: wait the whole window
    };
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
}

/// `oomtrace ARGS` under GNU time: exit status, stdout, stderr and peak
/// resident memory in KiB. Not this process's own wait4: a child spawned
/// from here (posix_spawn shares our memory until its exec) has our high
/// water mark recorded as its own at the exec, so a test that had grown
/// (a sibling's panic loading debug info) inflated the figure. time forks
/// its child from its own small process.
pub fn oomtrace_rusage(args: &[&std::ffi::OsStr]) -> (i32, String, String, i64) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Scratch::new(&format!("rusage-{n}"));
    let peak = dir.join("peak-kib");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&peak)
        .arg(OOMTRACE)
        .args(args)
        .output()
        .expect("GNU time (Debian's time; cargo xtask deps installs it)");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or_else(|| panic!("killed: {err}"));
    let text = std::fs::read_to_string(&peak).unwrap();
    // time says so first when the command exited non-zero.
    let kib = text
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("time wrote {text:?}"));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
        kib,
    )
}

/// The kernel's count of OOM kills since boot (`oom_kill` in /proc/vmstat).
pub fn vmstat_oom_kills() -> u64 {
    std::fs::read_to_string("/proc/vmstat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .expect("/proc/vmstat has no oom_kill")
        .parse()
        .unwrap()
}
