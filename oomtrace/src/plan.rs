//! The planner: decides once, at start-up, what this kernel lets oomtrace
//! see. It resolves offsets from BTF and tracepoint layouts from tracefs,
//! picks the mode and the hooks, and hands the BPF side its configuration.

use crate::btf::KernelTypes;
use crate::gfp::GfpTable;
use crate::tracefs;
use anyhow::{Result, bail};
use oomtrace_common::{ABSENT, Config, MAX_NODES, MarkVictimLayout, MemLayout};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// kprobes where the kernel has them, else tracepoints.
    Auto,
    /// kprobes on out_of_memory and oom_kill_process, plus the oom tracepoints.
    Kprobe,
    /// The oom tracepoints only (kernels built without kprobes).
    Tracepoint,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Kprobe => "kprobe",
            Mode::Tracepoint => "tracepoint",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// Entry of the first of these functions the kernel has.
    Kprobe(&'static [&'static str]),
    Kretprobe(&'static [&'static str]),
    Tracepoint(&'static str, &'static str),
}

/// One BPF program and where it goes. The one table of hooks.
#[derive(Clone, Copy, Debug)]
pub struct Hook {
    /// The program's name in the BPF object.
    pub program: &'static str,
    pub attach: Attach,
    /// What is lost when this hook cannot be attached.
    pub provides: &'static str,
}

pub const HOOKS: &[Hook] = &[
    Hook {
        program: "oom_enter",
        attach: Attach::Kprobe(&["out_of_memory"]),
        provides: "gfp_mask, order, nodemask, memcg, the trigger of OOMs that kill nothing",
    },
    Hook {
        program: "oom_kill",
        attach: Attach::Kprobe(&["oom_kill_process"]),
        provides: "constraint, totalpages, points, message, victim cgroup",
    },
    Hook {
        program: "oom_exit",
        attach: Attach::Kretprobe(&["out_of_memory"]),
        provides: "duration_ns, OOMs that kill nothing",
    },
    Hook {
        program: "show_free_areas",
        // A global until 6.0, `__show_free_areas` in 6.1–6.4, static again from 6.5.
        attach: Attach::Kprobe(&["__show_free_areas", "show_free_areas"]),
        provides: "the stack at show_free_areas",
    },
    Hook {
        program: "mark_victim",
        attach: Attach::Tracepoint("oom", "mark_victim"),
        provides: "victim, trigger, kernel stack",
    },
    Hook {
        program: "wake_reaper",
        attach: Attach::Tracepoint("oom", "wake_reaper"),
        provides: "the reaper timeline (queued)",
    },
    Hook {
        program: "start_task_reaping",
        attach: Attach::Tracepoint("oom", "start_task_reaping"),
        provides: "the reaper timeline (started)",
    },
    Hook {
        program: "finish_task_reaping",
        attach: Attach::Tracepoint("oom", "finish_task_reaping"),
        provides: "the reaper timeline (reaped)",
    },
    Hook {
        program: "skip_task_reaping",
        attach: Attach::Tracepoint("oom", "skip_task_reaping"),
        provides: "the reaper timeline (skipped)",
    },
    Hook {
        program: "reclaim_retry_zone",
        attach: Attach::Tracepoint("oom", "reclaim_retry_zone"),
        provides: "the reclaim retries before a global OOM",
    },
    Hook {
        program: "compact_retry",
        attach: Attach::Tracepoint("oom", "compact_retry"),
        provides: "the compaction retries before a global OOM",
    },
];

impl Hook {
    pub fn is_kprobe(&self) -> bool {
        !matches!(self.attach, Attach::Tracepoint(..))
    }

    pub fn describe(&self) -> String {
        match self.attach {
            Attach::Kprobe(f) => format!("kprobe:{}", f.join("|")),
            Attach::Kretprobe(f) => format!("kretprobe:{}", f.join("|")),
            Attach::Tracepoint(c, n) => format!("tracepoint:{c}:{n}"),
        }
    }
}

/// Who we are, in the terms the kernel checks.
pub struct Privileges {
    pub root: bool,
    /// Capabilities needed and not held (empty for root).
    pub missing: Vec<&'static str>,
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

pub fn privileges() -> Privileges {
    // SAFETY: geteuid never fails.
    let root = unsafe { libc::geteuid() } == 0;
    let effective = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0);
    let held = |cap: u32| effective & (1 << cap) != 0;
    let missing = if held(CAP_SYS_ADMIN) || (held(CAP_BPF) && held(CAP_PERFMON)) {
        Vec::new()
    } else {
        [("CAP_BPF", CAP_BPF), ("CAP_PERFMON", CAP_PERFMON)]
            .into_iter()
            .filter(|(_, c)| !held(*c))
            .map(|(n, _)| n)
            .collect()
    };
    Privileges { root, missing }
}

/// Refuses to go on without the capabilities to load and attach BPF programs.
pub fn require_privileges() -> Result<()> {
    let p = privileges();
    if p.missing.is_empty() {
        return Ok(());
    }
    bail!(
        "oomtrace needs root, or the capabilities CAP_BPF and CAP_PERFMON to load \
         BPF programs and attach them to the OOM killer (missing: {}). Run it with \
         sudo, or grant them once: sudo setcap cap_bpf,cap_perfmon,cap_sys_resource+ep {}",
        p.missing.join(", "),
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "oomtrace".into())
    )
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

/// `oom:mark_victim`'s layout on this kernel: the pid everywhere, the
/// memory figures since 6.8ish, from its tracefs format.
pub fn mark_victim_layout(fields: Option<&HashMap<String, tracefs::Field>>) -> MarkVictimLayout {
    let at = |name: &str| {
        fields
            .and_then(|f| f.get(name))
            .map_or(ABSENT, |f| f.offset)
    };
    MarkVictimLayout {
        pid: at("pid"),
        comm: at("comm"),
        total_vm: at("total_vm"),
        anon_rss: at("anon_rss"),
        file_rss: at("file_rss"),
        shmem_rss: at("shmem_rss"),
        uid: at("uid"),
        pgtables: at("pgtables"),
        oom_score_adj: at("oom_score_adj"),
        reaper_pid: ABSENT,
    }
}

/// The formats of the tracepoints copied raw, by `RAW_*`.
pub fn raw_formats(
    tracefs: &Path,
) -> HashMap<u32, (&'static str, HashMap<String, tracefs::Field>)> {
    [
        (
            oomtrace_common::RAW_RECLAIM_RETRY_ZONE,
            "reclaim_retry_zone",
        ),
        (oomtrace_common::RAW_COMPACT_RETRY, "compact_retry"),
    ]
    .into_iter()
    .filter_map(|(id, name)| Some((id, (name, tracefs::event_format(tracefs, "oom", name)?))))
    .collect()
}

/// The names userspace puts on the kernel's counters and free lists.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MemNames {
    /// `enum node_stat_item` by value.
    pub node: Vec<String>,
    /// `enum zone_stat_item` by value.
    pub zone: Vec<String>,
    /// `enum migratetype` by value.
    pub migrate: Vec<String>,
    pub page_shift: u32,
    /// `enum zone_type` as the kernel names zones ("DMA32", "Normal").
    pub zones: Vec<String>,
    /// Where each field of a zone is in the raw copy of `node_zones[]`.
    #[serde(with = "pod_bytes")]
    pub layout: MemLayout,
}

/// `#[repr(C)]` integer structs of oomtrace-common as their bytes, for the
/// plan cache (same binary, same boot: the same layout).
mod pod_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Copy, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        // SAFETY: T is one of oomtrace-common's #[repr(C)] records of integers.
        let bytes =
            unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) };
        bytes.serialize(s)
    }

    pub fn deserialize<'de, T: Copy, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        if bytes.len() != size_of::<T>() {
            return Err(serde::de::Error::custom("layout of another oomtrace build"));
        }
        // SAFETY: length checked; any bit pattern is a valid integer struct.
        Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
    }
}

/// What the planner learns from BTF and tracefs, which only a new boot can
/// change: kept in /run (cleared at boot) so a second start skips parsing
/// the kernel's 5 MB of BTF.
#[derive(serde::Serialize, serde::Deserialize)]
struct Learned {
    /// Which oomtrace build, boot and kernel this is for.
    key: String,
    #[serde(with = "pod_bytes")]
    off: oomtrace_common::KernelOffsets,
    #[serde(with = "pod_bytes")]
    mem: MemLayout,
    mem_names: MemNames,
    constraints: Vec<(u64, String)>,
    gfp: GfpTable,
}

const CACHE_DIR: &str = "/run/oomtrace";

fn cache_key(release: &str) -> String {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let btf_size = std::fs::metadata(crate::btf::VMLINUX).map_or(0, |m| m.len());
    // The executable's own size and mtime stand for its build.
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{}-{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default();
    format!(
        "{}|{}|{release}|{btf_size}|{exe}",
        env!("CARGO_PKG_VERSION"),
        boot_id.trim()
    )
}

impl Learned {
    fn path() -> std::path::PathBuf {
        Path::new(CACHE_DIR).join("plan.json")
    }

    fn load(key: &str) -> Option<Self> {
        let l: Self = serde_json::from_slice(&std::fs::read(Self::path()).ok()?).ok()?;
        (l.key == key).then_some(l)
    }

    /// Best effort: a read-only /run only costs the next start its parse.
    fn store(&self) {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let _ = std::fs::DirBuilder::new().mode(0o700).create(CACHE_DIR);
        let tmp = Path::new(CACHE_DIR).join(format!("plan.json.{}", std::process::id()));
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(&serde_json::to_vec(self).unwrap_or_default())
            });
        if written.is_ok() {
            let _ = std::fs::rename(&tmp, Self::path());
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    fn from_kernel(key: String, tracefs: &Path, release: &str) -> Result<Self> {
        let types = KernelTypes::load().map_err(|e| {
            anyhow::anyhow!(
                "{e}; oomtrace reads struct layouts from the kernel's BTF \
                 (CONFIG_DEBUG_INFO_BTF=y, in every major distribution kernel since 2021)"
            )
        })?;
        let off = types.kernel_offsets(page_shift());
        let mem = types.mem_layout();
        Ok(Self {
            key,
            off,
            mem,
            mem_names: MemNames {
                node: types.counter_names("node_stat_item"),
                zone: types.counter_names("zone_stat_item"),
                migrate: types.migrate_type_names(),
                page_shift: off.page_shift,
                zones: types.zone_names(),
                layout: mem,
            },
            constraints: types
                .enum_members("oom_constraint")
                .unwrap_or_default()
                .into_iter()
                .map(|(name, v)| (v, name))
                .collect(),
            gfp: GfpTable::for_running_kernel(Some(tracefs), release),
        })
    }
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

/// How the BPF side reaches the nodes' memory state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MemoryVia {
    /// The memory cgroup path where the kernel has memory cgroups, else kallsyms.
    Auto,
    /// The current task's memory cgroup → its per-node lruvec → the node.
    Memcg,
    /// `node_data` / `contig_page_data` and the global `vm_node_stat`,
    /// `vm_zone_stat` at their kallsyms addresses (`CONFIG_KALLSYMS_ALL`).
    Kallsyms,
    /// Not in the kernel: /proc/vmstat, zoneinfo and buddyinfo sampled when
    /// the event is assembled, marked as sampled, with the delay. What `auto`
    /// falls back to where neither path exists.
    Proc,
}

/// Completes the BTF layout with what this boot says: online nodes and,
/// where chosen, data symbols from kallsyms (only `CONFIG_KALLSYMS_ALL`
/// kernels list them). Both paths give the same counters: the kernel adds
/// every delta to the node's array and to the global one. The memcg path
/// costs nothing at start; kallsyms is a 70 ms read here and seconds in an
/// emulator, so it is waited for only when it is the way in.
fn locate_memory(
    mut mem: MemLayout,
    via: MemoryVia,
    kallsyms: &crate::decode::Symbols,
    notices: &mut Vec<String>,
) -> MemLayout {
    let by_memcg = mem.memcg_nodeinfo != ABSENT && mem.lruvec_pgdat != ABSENT;
    if via == MemoryVia::Kallsyms || (via == MemoryVia::Auto && !by_memcg) {
        let k = kallsyms.get();
        let addr = |name: &str| k.address_of(name).unwrap_or(0);
        mem.node_data = addr("node_data");
        mem.contig_page_data = addr("contig_page_data");
        mem.vm_node_stat = addr("vm_node_stat");
        mem.vm_zone_stat = addr("vm_zone_stat");
        if via == MemoryVia::Kallsyms && mem.node_data == 0 && mem.contig_page_data == 0 {
            notices.push(
                "--memory-via kallsyms: kallsyms lists no node_data or contig_page_data \
                 (CONFIG_KALLSYMS_ALL is off)"
                    .into(),
            );
        }
    }
    if via == MemoryVia::Memcg {
        mem.node_data = 0;
        mem.contig_page_data = 0;
    }
    if via == MemoryVia::Proc {
        // No node is read in the kernel.
        mem.node_data = 0;
        mem.contig_page_data = 0;
        mem.online_nodes = 0;
        return mem;
    }
    mem.online_nodes = online_nodes(
        &std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default(),
    );
    // Zones are taken apart in userspace: without these, no zone is read.
    let essential = [
        mem.pgdat_node_zones,
        mem.zone_size,
        mem.zone_present,
        mem.zone_managed,
        mem.zone_watermark,
        mem.zone_lowmem_reserve,
        mem.zone_vm_stat,
        mem.zone_free_area,
        mem.free_area_size,
    ];
    if essential.contains(&ABSENT) {
        notices.push("this kernel's struct zone is not as expected: no zones or free lists".into());
        mem.nr_zones = 0;
    }
    let by_kallsyms = mem.node_data != 0 || mem.contig_page_data != 0;
    if !by_kallsyms && !by_memcg {
        notices.push(
            "neither kallsyms data symbols nor memory cgroups lead to the nodes here: \
             counters, zones and free lists are sampled from /proc after each OOM"
                .into(),
        );
        mem.online_nodes = 0;
    }
    if mem.online_nodes >> MAX_NODES != 0 {
        notices.push(format!(
            "more than {MAX_NODES} NUMA nodes: memory state is read for the first {MAX_NODES}"
        ));
    }
    mem
}

/// Everything decided at start-up.
pub struct Plan {
    pub release: String,
    pub tracefs: PathBuf,
    /// `Kprobe` or `Tracepoint`, never `Auto`.
    pub mode: Mode,
    pub hooks: Vec<Hook>,
    pub config: Config,
    pub gfp: GfpTable,
    pub constraints: Vec<(u64, String)>,
    pub mem_names: MemNames,
    pub raw_formats: HashMap<u32, (&'static str, HashMap<String, tracefs::Field>)>,
    /// Things the user should hear once at start (lost fields, fallbacks).
    pub notices: Vec<String>,
}

impl Plan {
    /// `kallsyms` is waited for only to find data symbols: start it early.
    pub fn make(
        requested: Mode,
        memory_via: MemoryVia,
        kallsyms: &crate::decode::Symbols,
    ) -> Result<Self> {
        let release = kernel_release();
        let tracefs = tracefs::find_or_mount().map_err(anyhow::Error::msg)?;
        let kprobes = kprobes_supported(Some(&tracefs));
        let mut notices = Vec::new();
        let mode = match requested {
            Mode::Kprobe if !kprobes => bail!(
                "--mode kprobe: this kernel ({release}) has no kprobes (CONFIG_KPROBES is off); \
                 use --mode tracepoint, which sees the victim, the trigger and the stack but not {}",
                crate::decode::UNAVAILABLE_WITHOUT_KPROBES.join(", ")
            ),
            Mode::Auto if kprobes => Mode::Kprobe,
            Mode::Auto => {
                notices.push(format!(
                    "this kernel has no kprobes: tracepoint mode; not available: {}",
                    crate::decode::UNAVAILABLE_WITHOUT_KPROBES.join(", ")
                ));
                Mode::Tracepoint
            }
            m => m,
        };
        let key = cache_key(&release);
        let learned = match Learned::load(&key) {
            Some(l) => l,
            None => {
                let l = Learned::from_kernel(key, &tracefs, &release)?;
                l.store();
                l
            }
        };
        let off = learned.off;
        let absent = crate::btf::absent_offsets(&off);
        if !absent.is_empty() {
            notices.push(format!(
                "this kernel's BTF lacks {}: fields read through them are null",
                absent.join(", ")
            ));
        }
        let mark_victim = tracefs::event_format(&tracefs, "oom", "mark_victim");
        if mark_victim.is_none() {
            notices.push("this kernel has no oom:mark_victim tracepoint: no victim from it".into());
        }
        let mem = locate_memory(learned.mem, memory_via, kallsyms, &mut notices);
        let mut mark_victim_layout = mark_victim_layout(mark_victim.as_ref());
        // Every reaper tracepoint's record is `int pid` after the common fields.
        mark_victim_layout.reaper_pid = tracefs::event_format(&tracefs, "oom", "wake_reaper")
            .and_then(|f| f.get("pid").map(|f| f.offset))
            .unwrap_or(ABSENT);
        let config = Config {
            planned: 1,
            mark_victim: mark_victim_layout,
            off,
            mem,
        };
        let mem_names = MemNames {
            layout: config.mem,
            ..learned.mem_names
        };
        let hooks = HOOKS
            .iter()
            .filter(|h| mode == Mode::Kprobe || !h.is_kprobe())
            .copied()
            .collect();
        Ok(Self {
            gfp: learned.gfp,
            constraints: learned.constraints,
            mem_names,
            raw_formats: raw_formats(&tracefs),
            release,
            tracefs,
            mode,
            hooks,
            config,
            notices,
        })
    }
}
