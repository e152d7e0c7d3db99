//! `oomtrace trigger`: OOMs on purpose, to check the tool end to end.
//!
//! `trigger memcg` is safe on any machine: its child runs in a fresh memory
//! cgroup under a small limit *and* an address-space limit, so only the
//! child can be killed, and a global OOM cannot happen even if the cgroup
//! limit did not apply.

use anyhow::{Context, Result, bail};
use std::ffi::CString;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The most `trigger memcg --limit` accepts.
pub const MAX_LIMIT: u64 = 1 << 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// A temporary memory cgroup, removed (with anything left in it) on drop.
pub struct MemcgSandbox {
    pub dir: PathBuf,
    pub version: CgroupVersion,
    /// The path the kernel's OOM report names it by (`oom_memcg=/...`).
    pub kernel_path: String,
    /// Parents made for it (a path like a pod's), removed after it, innermost first.
    made_parents: Vec<PathBuf>,
}

impl MemcgSandbox {
    pub fn create(name: &str, limit: u64) -> Result<Self> {
        let (root, version) = if let Some(r) = crate::plan::host::memcg_v2_root() {
            (r, CgroupVersion::V2)
        } else if let Some(r) = crate::plan::host::memcg_v1_root() {
            (r, CgroupVersion::V1)
        } else {
            bail!(
                "no memory cgroup controller is mounted (neither cgroup v2 with memory nor /sys/fs/cgroup/memory)"
            );
        };
        let name = name.trim_matches('/');
        if name.is_empty()
            || name
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            bail!("{name:?} is no cgroup path below the hierarchy's root");
        }
        let dir = root.join(name);
        // A path like a pod's: its parents are made too (and removed after).
        let mut made_parents = Vec::new();
        let mut parent = root.clone();
        let mut parts: Vec<&str> = name.split('/').collect();
        parts.pop();
        for p in parts {
            if version == CgroupVersion::V2 {
                let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory");
            }
            parent = parent.join(p);
            if !parent.exists() {
                fs::create_dir(&parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                made_parents.push(parent.clone());
            }
        }
        made_parents.reverse();
        if version == CgroupVersion::V2 {
            // Children get the memory controller only if the parent delegates it.
            let _ = fs::write(parent.join("cgroup.subtree_control"), "+memory");
        }
        let sandbox = Self {
            dir: dir.clone(),
            version,
            kernel_path: format!("/{name}"),
            made_parents,
        };
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let (file, swap) = match version {
            CgroupVersion::V1 => ("memory.limit_in_bytes", None),
            CgroupVersion::V2 => ("memory.max", Some("memory.swap.max")),
        };
        fs::write(sandbox.dir.join(file), limit.to_string())
            .with_context(|| format!("setting {}/{file}", sandbox.dir.display()))?;
        if let Some(swap) = swap {
            let _ = fs::write(sandbox.dir.join(swap), "0");
        }
        Ok(sandbox)
    }

    /// The kernel's count of OOM kills in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let file = match self.version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        fs::read_to_string(self.dir.join(file))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Starts `cmd` inside the cgroup with an address-space limit: the child
    /// moves itself in before exec, so nothing else ever runs in it.
    pub fn spawn(&self, cmd: &mut Command, address_space: u64) -> Result<Child> {
        let procs = CString::new(
            self.dir
                .join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )?;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if !ok {
                    return Err(std::io::Error::last_os_error());
                }
                // rlim_t is 32 bits on 32-bit ARM: saturate there.
                let limit = libc::rlim_t::try_from(address_space).unwrap_or(libc::RLIM_INFINITY);
                let rl = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn()
            .context("starting the child in the memory cgroup")
    }
}

impl Drop for MemcgSandbox {
    fn drop(&mut self) {
        if remove_cgroup(&self.dir, 50, true) {
            for p in &self.made_parents {
                let _ = fs::remove_dir(p);
            }
        }
    }
}

/// Removes a cgroup directory, trying every 20 ms while what is in it exits
/// (`kill`: SIGKILLs what is still there first); says so when it cannot.
fn remove_cgroup(dir: &std::path::Path, tries: u32, kill: bool) -> bool {
    let procs = dir.join("cgroup.procs");
    for _ in 0..tries {
        if kill && let Ok(s) = fs::read_to_string(&procs) {
            for pid in s.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: plain syscall.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if fs::remove_dir(dir).is_ok() || !dir.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("oomtrace: could not remove {}", dir.display());
    false
}

/// How long `trigger memcg --reaper` keeps its victim from exiting after
/// the kill: the kernel's OOM_REAPER_DELAY (2 s, since 5.18; before, the
/// reaper starts at once), and time for the reaper to run.
const REAPER_HOLD: Duration = Duration::from_secs(4);

/// A cgroup v1 freezer group holding a process that shares the victim's
/// memory, so the memory outlives the victim: SIGKILL does not wake a
/// frozen task, and the OOM killer thaws only the victim's own threads
/// (6.18: `thaw_process`; before, only the task it marks). Thawed and
/// removed on drop.
pub struct FreezerGroup {
    pub dir: PathBuf,
}

/// A cgroup v1 hierarchy with the freezer controller.
fn freezer_root() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split_whitespace();
        let (fstype, options) = (post.next()?, post.nth(1)?);
        (fstype == "cgroup" && options.split(',').any(|o| o == "freezer"))
            .then(|| PathBuf::from(pre.split_whitespace().nth(4).unwrap_or("/")))
    })
}

impl FreezerGroup {
    pub fn create(name: &str) -> Result<Self> {
        let root = freezer_root().context(
            "--reaper holds the victim with the cgroup v1 freezer, and none is mounted \
             (mount -t cgroup -o freezer none DIR)",
        )?;
        let dir = root.join(name);
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn thaw(&self) {
        let _ = fs::write(self.dir.join("freezer.state"), "THAWED");
    }
}

impl Drop for FreezerGroup {
    fn drop(&mut self) {
        self.thaw();
        remove_cgroup(&self.dir, 250, false);
    }
}

/// Starts a process that shares this one's memory and freezes it in the
/// freezer group `dir`. It is a vfork child (CLONE_VM | CLONE_VFORK, of a
/// thread of its own, so this one goes on allocating): the OOM killer never
/// picks one (`in_vfork` in `oom_badness`), so this process is the victim
/// and the frozen child keeps its memory after it died.
fn park_frozen_sharer(dir: &Path) -> Result<()> {
    use std::sync::atomic::{AtomicI32, Ordering};
    static SHARER: AtomicI32 = AtomicI32::new(0);
    extern "C" fn sharer(_: *mut libc::c_void) -> libc::c_int {
        // Runs on this process's memory, on a stack of its own: raw system
        // calls only (its parent thread, whose TLS it has, is blocked).
        // SAFETY: plain system calls; ppoll of no descriptors and no
        // timeout sleeps until a signal.
        unsafe {
            SHARER.store(libc::syscall(libc::SYS_getpid) as i32, Ordering::SeqCst);
            loop {
                libc::syscall(libc::SYS_ppoll, 0usize, 0usize, 0usize, 0usize, 0usize);
            }
        }
    }
    std::thread::spawn(|| {
        // 16-byte aligned, as every ABI wants its stack.
        let mut stack = vec![0u128; 4096];
        let top = stack.as_mut_ptr_range().end;
        // SAFETY: `sharer` only makes system calls on its own stack, which
        // lives until clone returns (when the sharer has exited).
        unsafe {
            libc::clone(
                sharer,
                top.cast(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                std::ptr::null_mut(),
            )
        };
        drop(stack);
    });
    let start = Instant::now();
    let pid = loop {
        match SHARER.load(Ordering::SeqCst) {
            0 if start.elapsed() > Duration::from_secs(10) => {
                bail!("the process to freeze did not start")
            }
            0 => std::thread::sleep(Duration::from_millis(1)),
            pid => break pid,
        }
    };
    let procs = dir.join("cgroup.procs");
    fs::write(&procs, pid.to_string())
        .with_context(|| format!("moving {pid} into {}", procs.display()))?;
    let state = dir.join("freezer.state");
    fs::write(&state, "FROZEN").with_context(|| format!("writing {}", state.display()))?;
    while fs::read_to_string(&state)?.trim() != "FROZEN" {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("{} did not reach FROZEN within 10 s", state.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The child of `trigger memcg`: allocates and touches memory, 1 MiB at a
/// time, until killed; or up to `stop_after_mib`, then sleeps (to be a
/// bystander of someone else's OOM). It sets its own `oom_score_adj`, so it
/// does not inherit a protected parent's. With `frozen_sharer`, a process
/// sharing its memory is frozen there first (`trigger memcg --reaper`).
pub fn hog(
    stop_after_mib: Option<u64>,
    oom_score_adj: i16,
    frozen_sharer: Option<&Path>,
    mib_per_s: Option<u32>,
) -> ! {
    let name = CString::new("oomtrace-hog").unwrap();
    // SAFETY: PR_SET_NAME with a NUL-terminated string of < 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    if let Err(e) = fs::write("/proc/self/oom_score_adj", oom_score_adj.to_string()) {
        eprintln!("oomtrace-hog: cannot set oom_score_adj {oom_score_adj}: {e}");
        std::process::exit(2);
    }
    if let Some(Err(e)) = frozen_sharer.map(park_frozen_sharer) {
        eprintln!("oomtrace-hog: {e:#}");
        std::process::exit(2);
    }
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        if stop_after_mib.is_some_and(|m| held.len() as u64 >= m) {
            std::thread::sleep(Duration::from_secs(3600));
            continue;
        }
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(1 << 20).is_err() {
            eprintln!("oomtrace-hog: the address-space limit stopped me before the OOM killer did");
            std::process::exit(3);
        }
        chunk.resize(1 << 20, 0xa5u8);
        held.push(chunk);
        if let Some(r) = mib_per_s.filter(|r| *r > 0) {
            std::thread::sleep(Duration::from_secs(1) / r);
        }
    }
}

pub struct MemcgOutcome {
    pub pid: u32,
    pub killed_by_oom: bool,
    pub cgroup: String,
    pub version: CgroupVersion,
    pub elapsed: Duration,
}

/// A memory-cgroup OOM of `command` (oomtrace's own hog when empty), in a
/// fresh cgroup of `limit` bytes with an address-space limit. With
/// `reaper`, the victim is held alive for [`REAPER_HOLD`] after the kill.
pub fn memcg(
    limit: u64,
    reaper: bool,
    cgroup: Option<&str>,
    command: &[String],
) -> Result<MemcgOutcome> {
    crate::plan::host::require_privileges()?;
    if !((4 << 20)..=MAX_LIMIT).contains(&limit) {
        bail!("--limit must be between 4 MiB and 1 GiB");
    }
    let name = cgroup.map_or_else(
        || format!("oomtrace-trigger-{}", std::process::id()),
        str::to_owned,
    );
    let sandbox = MemcgSandbox::create(&name, limit)?;
    // Declared after the sandbox: dropped (thawed) before it kills what is left.
    let freezer = reaper
        .then(|| FreezerGroup::create(&format!("oomtrace-trigger-{}", std::process::id())))
        .transpose()?;
    let mut cmd = match command.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
        None => {
            let exe = std::env::current_exe().context("finding oomtrace's own executable")?;
            let mut c = Command::new(exe);
            c.arg("__hog");
            if let Some(f) = &freezer {
                c.arg("--frozen-sharer").arg(&f.dir);
            }
            c
        }
    };
    let start = Instant::now();
    let mut killed_at: Option<Instant> = None;
    let mut child = sandbox.spawn(&mut cmd, limit * 4 + (256 << 20))?;
    let pid = child.id();
    eprintln!(
        "oomtrace: child {pid} ({}) allocating in memory cgroup {} ({:?}, limit {} MiB)",
        command.first().map_or("oomtrace-hog", String::as_str),
        sandbox.kernel_path,
        sandbox.version,
        limit >> 20
    );
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if let Some(f) = &freezer {
            match killed_at {
                None if sandbox.oom_kills() > 0 => killed_at = Some(Instant::now()),
                Some(t) if t.elapsed() >= REAPER_HOLD => f.thaw(),
                _ => {}
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            bail!("the child was not killed within 60 s; is the memory limit in force?");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // The victim is gone, its memory is not: hold it for the reaper.
    if freezer.is_some() && sandbox.oom_kills() > 0 {
        let t = killed_at.unwrap_or_else(Instant::now);
        std::thread::sleep(REAPER_HOLD.saturating_sub(t.elapsed()));
    }
    let killed_by_oom = status.signal() == Some(libc::SIGKILL) && sandbox.oom_kills() > 0;
    Ok(MemcgOutcome {
        pid,
        killed_by_oom,
        cgroup: sandbox.kernel_path.clone(),
        version: sandbox.version,
        elapsed: start.elapsed(),
    })
}

pub struct StormOutcome {
    /// The kernel's count of OOM kills in the storm's cgroups.
    pub kills: u64,
    pub elapsed: Duration,
}

/// Many memory-cgroup OOMs, as fast as this machine allows: `parallel`
/// cgroups, each restarting a hog as soon as the OOM killer took the last,
/// until `kills` children were killed. As safe as `trigger memcg`: every
/// child is limited by its cgroup and by an address-space limit.
pub fn storm(kills: u64, parallel: u32, limit: u64) -> Result<StormOutcome> {
    crate::plan::host::require_privileges()?;
    if !((4 << 20)..=(64 << 20)).contains(&limit) {
        bail!("--limit must be between 4 MiB and 64 MiB for a storm");
    }
    let exe = std::env::current_exe().context("finding oomtrace's own executable")?;
    let done = std::sync::atomic::AtomicU64::new(0);
    let start = Instant::now();
    let counts = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parallel.max(1))
            .map(|i| {
                let (exe, done) = (&exe, &done);
                scope.spawn(move || -> Result<u64> {
                    let name = format!("oomtrace-storm-{}-{i}", std::process::id());
                    let sandbox = MemcgSandbox::create(&name, limit)?;
                    while done.load(std::sync::atomic::Ordering::Relaxed) < kills {
                        let mut cmd = Command::new(exe);
                        cmd.arg("__hog");
                        let status = sandbox.spawn(&mut cmd, limit * 4 + (256 << 20))?.wait()?;
                        if status.signal() != Some(libc::SIGKILL) {
                            bail!("a storm child ended without the OOM killer: {status}");
                        }
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(sandbox.oom_kills())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a storm worker panicked")))
            })
            .collect::<Result<Vec<u64>>>()
    })?;
    Ok(StormOutcome {
        kills: counts.iter().sum(),
        elapsed: start.elapsed(),
    })
}

/// `echo f > /proc/sysrq-trigger`: the kernel's manual OOM kill.
pub fn sysrq(yes: bool) -> Result<()> {
    let trigger = Path::new("/proc/sysrq-trigger");
    if !yes {
        bail!(
            "`trigger sysrq` runs the kernel's manual OOM killer (sysrq-f), which kills a \
             real task: the one with the highest OOM score on this machine. Add --yes to do it."
        );
    }
    crate::plan::host::require_privileges()?;
    if !trigger.exists() {
        bail!("this kernel has no /proc/sysrq-trigger (CONFIG_MAGIC_SYSRQ is off)");
    }
    fs::write(trigger, "f").with_context(|| format!("writing 'f' to {}", trigger.display()))?;
    eprintln!("oomtrace: sysrq-f sent; the kernel's OOM killer now picks a victim");
    Ok(())
}
