//! Facts of this host that are not in BTF: who we are, the kernel release,
//! kprobes, the page and THP sizes, the online NUMA nodes.

use anyhow::{Result, bail};
use std::path::Path;

/// What a capability is needed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// Without it nothing attaches.
    Attach,
    /// Without it kernel stack frames have no names.
    Names,
    /// Without it `record` (and `trace --protect`) cannot protect itself.
    Protect,
}

/// A capability oomtrace uses, and what for.
#[derive(Debug, serde::Serialize)]
pub struct Capability {
    pub name: &'static str,
    #[serde(skip)]
    pub bit: u32,
    #[serde(rename = "for")]
    pub for_what: &'static str,
    pub need: Need,
}

/// The capabilities oomtrace uses as a non-root user, each with what it
/// is for: the one table the error messages, `check`, the book's setcap
/// line and the systemd unit follow (a test holds them to it).
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        name: "CAP_BPF",
        bit: 39,
        for_what: "to load the BPF programs and create their maps",
        need: Need::Attach,
    },
    Capability {
        name: "CAP_PERFMON",
        bit: 38,
        for_what: "to attach them to the OOM killer's tracepoints and kprobes and read kernel memory",
        need: Need::Attach,
    },
    Capability {
        name: "CAP_DAC_READ_SEARCH",
        bit: 2,
        for_what: "to read tracefs, root's alone: the tracepoints' layouts and the kernel's GFP flag names",
        need: Need::Attach,
    },
    Capability {
        name: "CAP_SYSLOG",
        bit: 34,
        for_what: "to read the kernel's addresses in /proc/kallsyms, hidden from other users: without them kernel stack frames have no names",
        need: Need::Names,
    },
    Capability {
        name: "CAP_IPC_LOCK",
        bit: 14,
        for_what: "to lock oomtrace's memory, so that a thrashing machine cannot page it out",
        need: Need::Protect,
    },
    Capability {
        name: "CAP_SYS_RESOURCE",
        bit: 24,
        for_what: "to set oomtrace's oom_score_adj to -1000, so that the OOM killer passes it over",
        need: Need::Protect,
    },
];

/// `CAP_SYS_ADMIN`: BPF and perf events before CAP_BPF and CAP_PERFMON (5.8).
const CAP_SYS_ADMIN: u32 = 21;

/// The capability named `name` in [`CAPABILITIES`].
pub fn capability(name: &str) -> &'static Capability {
    CAPABILITIES
        .iter()
        .find(|c| c.name == name)
        .expect("a capability of the table")
}

/// `cap_bpf,cap_perfmon,...`: the setcap list of the whole table.
pub fn setcap_list() -> String {
    CAPABILITIES
        .iter()
        .map(|c| c.name.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Who we are, in the terms the kernel checks.
pub struct Privileges {
    pub root: bool,
    /// Capabilities needed to attach and not held (empty for root).
    pub missing: Vec<&'static str>,
    /// Every capability of the table this process holds.
    pub held: Vec<&'static str>,
}

/// A field of /proc/self/status (`CapEff`, `VmRSS`, ...), trimmed.
pub fn own_status(field: &str) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

fn effective_capabilities() -> u64 {
    own_status("CapEff")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0)
}

pub fn privileges() -> Privileges {
    // SAFETY: geteuid never fails.
    let root = unsafe { libc::geteuid() } == 0;
    let effective = effective_capabilities();
    let has = |bit: u32| effective & (1 << bit) != 0;
    let held: Vec<&'static str> = CAPABILITIES
        .iter()
        .filter(|c| has(c.bit))
        .map(|c| c.name)
        .collect();
    // BPF and PERFMON, or SYS_ADMIN for both: what loading and attaching
    // need. Reading tracefs is checked where it is read (it may be open to
    // all).
    let missing = if has(CAP_SYS_ADMIN) {
        Vec::new()
    } else {
        ["CAP_BPF", "CAP_PERFMON"]
            .into_iter()
            .filter(|n| !has(capability(n).bit))
            .collect()
    };
    Privileges {
        root,
        missing,
        held,
    }
}

/// "missing CAP_BPF, needed to load ..., and CAP_PERFMON, needed to attach ...".
pub fn describe(names: &[&str]) -> String {
    let each: Vec<String> = names
        .iter()
        .map(|n| format!("{n}, needed {}", capability(n).for_what))
        .collect();
    format!("missing {}", each.join(", and "))
}

/// Whether /proc/kallsyms shows this process the kernel's addresses (it
/// shows zeros to those without CAP_SYSLOG, unless perf is open to all).
pub fn kallsyms_addresses_visible() -> bool {
    use std::io::BufRead;
    // The first text symbol: x86's list begins with per-CPU symbols, which
    // are offsets (0000000000000000 A fixed_percpu_data) whoever reads them.
    std::fs::File::open("/proc/kallsyms").is_ok_and(|f| {
        std::io::BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                let mut w = l.split_whitespace();
                let (addr, kind) = (w.next()?, w.next()?);
                matches!(kind, "t" | "T").then(|| !addr.trim_start_matches('0').is_empty())
            })
            .unwrap_or(false)
    })
}

/// Refuses to go on without the capabilities to load and attach BPF programs.
pub fn require_privileges() -> Result<()> {
    let p = privileges();
    if p.missing.is_empty() {
        return Ok(());
    }
    bail!(
        "{} (run it as root, or grant what it uses once: sudo setcap {}+ep {})",
        describe(&p.missing),
        setcap_list(),
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "oomtrace".into())
    )
}

/// The running kernel's architecture: /proc/sys/kernel/arch (6.0+, which
/// user-mode emulators pass through), else `uname -m` (which qemu-user
/// answers with the emulated machine).
pub fn kernel_machine() -> Option<String> {
    if let Ok(arch) = std::fs::read_to_string("/proc/sys/kernel/arch") {
        return Some(arch.trim().to_owned());
    }
    // SAFETY: uname fills the struct it is given.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: the kernel NUL-terminates each field.
    let m = unsafe { std::ffi::CStr::from_ptr(u.machine.as_ptr()) };
    Some(m.to_string_lossy().into_owned())
}

/// Refuses a kernel of another architecture than this binary's (a binary
/// run under emulation, qemu-user or a translator): its BPF programs read
/// the probed functions' arguments from this architecture's registers.
pub fn require_own_architecture() -> Result<()> {
    let ours = oomtrace_core::kernel::arch::Arch::this();
    let Some(machine) = kernel_machine() else {
        return Ok(());
    };
    match oomtrace_core::kernel::arch::Arch::from_machine(&machine) {
        Some(kernel) if kernel.machine == ours.machine => Ok(()),
        _ => bail!(
            "this oomtrace is built for {}, but the kernel runs on {machine}: its BPF programs \
             read {} registers. Use the build for {machine} (oomtrace-<version>-{machine}-linux)",
            ours.machine,
            ours.machine
        ),
    }
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether this kernel can attach kprobes (the perf kprobe PMU aya uses, or
/// the legacy kprobe_events file).
pub fn kprobes_supported(tracefs: Option<&Path>) -> bool {
    Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
        || tracefs.is_some_and(|t| t.join("kprobe_events").exists())
}

pub fn page_shift() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size.trailing_zeros() } else { 12 }
}

/// log2 of a PMD-sized THP: the kernel's own figure where it has THP, else
/// what the page size implies.
pub fn pmd_shift(page_shift: u32) -> u32 {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|b| b.is_power_of_two())
        .map_or_else(
            || oomtrace_core::kernel::arch::pmd_shift(page_shift),
            |b| b.trailing_zeros(),
        )
}

/// `uname -m` of this machine.
pub fn machine() -> String {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return oomtrace_core::kernel::arch::Arch::this().machine.into();
    }
    // SAFETY: uname NUL-terminates machine.
    unsafe { std::ffi::CStr::from_ptr(u.machine.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Online NUMA nodes as a bit mask (`/sys/devices/system/node/online`, "0-1,3").
pub fn online_nodes(list: &str) -> u64 {
    let mut mask = 0u64;
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
            for n in a..=b.min(63) {
                mask |= 1 << n;
            }
        }
    }
    if mask == 0 { 1 } else { mask }
}

/// Whether the memory controller is bound to a cgroup v1 hierarchy (else
/// it is v2's, the kernel's `cgroup_subsys_on_dfl`): /proc/cgroups gives
/// it a hierarchy id other than 0 there (and newer kernels list only v1
/// controllers at all).
pub fn memory_on_cgroup_v1(proc_cgroups: &str) -> bool {
    proc_cgroups.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&"memory") && f.get(1).is_some_and(|h| *h != "0")
    })
}

/// `nr_cpu_ids`: one past the highest possible CPU
/// (`/sys/devices/system/cpu/possible`, "0-3" or "0,2-5"); None if unreadable.
pub fn possible_cpus(list: &str) -> Option<u32> {
    list.trim()
        .split(',')
        .filter_map(|part| part.rsplit('-').next()?.parse::<u32>().ok())
        .max()
        .map(|m| m + 1)
}

/// Keeps this process out of the OOM killer's choice: `oom_score_adj`
/// -1000. Returns, if that could not be done, one sentence for the user.
pub fn keep_out_of_oom_killer() -> Option<String> {
    let e = std::fs::write("/proc/self/oom_score_adj", "-1000").err()?;
    Some(format!(
        "cannot set oomtrace's oom_score_adj ({e}): {}",
        describe(&["CAP_SYS_RESOURCE"])
    ))
}

/// Keeps this process resident through the OOM it watches: all its memory
/// locked, present and future (a thrashing machine must not page out the
/// tracer; locked as touched, so reserved but unused space costs nothing).
/// Returns, if that could not be done, one sentence for the user.
pub fn lock_memory() -> Option<String> {
    // SAFETY: plain syscall.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) } == 0 {
        return None;
    }
    Some(format!(
        "cannot lock oomtrace's memory ({}): {} (or a RLIMIT_MEMLOCK above its size)",
        std::io::Error::last_os_error(),
        describe(&["CAP_IPC_LOCK"])
    ))
}

/// Where cgroup file systems are mounted by convention: cgroup v2's single
/// hierarchy here, v1's memory hierarchy at [`MEMCG_V1_MOUNT`].
pub const CGROUP_MOUNT: &str = "/sys/fs/cgroup";
pub const MEMCG_V1_MOUNT: &str = "/sys/fs/cgroup/memory";

/// cgroup v1's memory hierarchy, where mounted.
pub fn memcg_v1_root() -> Option<std::path::PathBuf> {
    let p = std::path::PathBuf::from(MEMCG_V1_MOUNT);
    p.join("memory.limit_in_bytes").exists().then_some(p)
}

/// A cgroup2 mount whose controllers include memory.
pub fn memcg_v2_root() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    mounts.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if !post.starts_with("cgroup2 ") {
            return None;
        }
        let mount_point = std::path::PathBuf::from(pre.split_whitespace().nth(4)?);
        let controllers = std::fs::read_to_string(mount_point.join("cgroup.controllers")).ok()?;
        controllers
            .split_whitespace()
            .any(|c| c == "memory")
            .then_some(mount_point)
    })
}

/// Where the memory cgroups are: a cgroup2 mount with the memory controller,
/// else v1's memory hierarchy.
pub fn memcg_root() -> Option<std::path::PathBuf> {
    memcg_v2_root().or_else(memcg_v1_root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_on_cgroup_v1_where_its_hierarchy_is_not_0() {
        let head = "#subsys_name\thierarchy\tnum_cgroups\tenabled\n";
        assert!(!memory_on_cgroup_v1(&format!(
            "{head}cpu\t0\t1\t1\nmemory\t0\t5\t1\n"
        )));
        assert!(memory_on_cgroup_v1(&format!("{head}memory\t9\t5\t1\n")));
        assert!(!memory_on_cgroup_v1(head));
        // This machine mounts memory as v1 (/sys/fs/cgroup/memory).
        let mine = std::fs::read_to_string("/proc/cgroups").unwrap();
        let v1 = std::path::Path::new(MEMCG_V1_MOUNT)
            .join("memory.limit_in_bytes")
            .exists();
        assert_eq!(memory_on_cgroup_v1(&mine), v1, "{mine}");
    }

    #[test]
    fn possible_cpus_is_one_past_the_highest() {
        assert_eq!(possible_cpus("0-1\n"), Some(2));
        assert_eq!(possible_cpus("0"), Some(1));
        assert_eq!(possible_cpus("0,2-5,7"), Some(8));
        assert_eq!(possible_cpus(""), None);
        // And this machine's own, against what the kernel counts online.
        let mine =
            possible_cpus(&std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap());
        let online = std::thread::available_parallelism().unwrap().get() as u32;
        assert!(mine.is_some_and(|n| n >= online), "{mine:?} < {online}");
    }
}
