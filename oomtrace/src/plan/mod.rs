//! The planner: decides once, at start-up, what this kernel lets oomtrace
//! see. It resolves offsets from BTF and tracepoint layouts from tracefs,
//! picks the mode and the hooks, and hands the BPF side its configuration.

pub mod btf;
pub mod hooks;
pub mod host;
pub mod tracefs;

use anyhow::{Result, bail};
use btf::KernelTypes;
pub use hooks::{Attach, HOOKS, Hook, Mode};
use oomtrace_common::{
    ABSENT, Config, KernelOffsets, MAX_CPUS, MAX_NODE_STATS, MAX_NODES, MAX_ZONE_STATS,
    MarkVictimLayout, MemAddrs, MemLayout,
};
use oomtrace_core::kernel::gfp::GfpTable;
use oomtrace_core::kernel::tracepoint_format::Field as TpField;
use oomtrace_core::source::assemble::RawFormats;
use oomtrace_core::source::memstate::{MemNames, pod_bytes};
use oomtrace_core::source::symbols::Symbols;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `oom:mark_victim`'s layout on this kernel: the pid everywhere, the
/// memory figures since 6.8ish, from its tracefs format.
pub fn mark_victim_layout(fields: Option<&HashMap<String, TpField>>) -> MarkVictimLayout {
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
pub fn raw_formats(tracefs: &Path) -> RawFormats {
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

fn cache_key(release: &str, btf: &Path) -> String {
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let btf_size = std::fs::metadata(btf).map_or(0, |m| m.len());
    // The executable's own size and mtime stand for its build.
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| format!("{}-{:?}", m.len(), m.modified().ok()))
        .unwrap_or_default();
    format!(
        "{}|{}|{release}|{}|{btf_size}|{exe}",
        env!("CARGO_PKG_VERSION"),
        boot_id.trim(),
        btf.display()
    )
}

impl Learned {
    fn path() -> std::path::PathBuf {
        Path::new(CACHE_DIR).join("plan.json")
    }

    /// The cached plan, if it is this build's, boot's and kernel's, and
    /// only we could have written it: the directory and the file are ours
    /// and writable by nobody else (the offsets in it steer kernel reads).
    fn load(key: &str) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid never fails.
        let me = unsafe { libc::geteuid() };
        let trusted = |p: &Path| {
            std::fs::symlink_metadata(p)
                .is_ok_and(|m| m.uid() == me && m.mode() & 0o022 == 0 && !m.is_symlink())
        };
        if !trusted(Path::new(CACHE_DIR)) || !trusted(&Self::path()) {
            return None;
        }
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

    /// Kernel-log mode: no layout at all; the GFP names still come from
    /// tracefs.
    fn without_btf(tracefs: &Path, release: &str) -> Self {
        let page_shift = host::page_shift();
        Self {
            key: String::new(),
            off: oomtrace_common::KernelOffsets::unplanned(),
            mem: MemLayout::unplanned(),
            mem_names: MemNames {
                page_shift,
                pmd_shift: host::pmd_shift(page_shift),
                layout: MemLayout::unplanned(),
                ..MemNames::default()
            },
            constraints: Vec::new(),
            gfp: gfp_table(tracefs, release),
        }
    }

    fn from_kernel(key: String, tracefs: &Path, release: &str, btf: &Path) -> Result<Self> {
        let types = KernelTypes::load_from(btf)?;
        let page_shift = host::page_shift();
        let off = types.kernel_offsets(page_shift);
        let mem = types.mem_layout();
        Ok(Self {
            key,
            off,
            mem,
            mem_names: MemNames {
                node: types.counter_names("node_stat_item"),
                zone: types.counter_names("zone_stat_item"),
                migrate: types.migrate_type_names(),
                page_shift,
                pmd_shift: host::pmd_shift(page_shift),
                zones: types.zone_names(),
                layout: mem,
            },
            constraints: types
                .enum_members("oom_constraint")
                .unwrap_or_default()
                .into_iter()
                .map(|(name, v)| (v, name))
                .collect(),
            gfp: gfp_table(tracefs, release),
        })
    }
}

/// The kernel's GFP names: its own table from tracefs, else its era's.
fn gfp_table(tracefs: &Path, release: &str) -> GfpTable {
    GfpTable::for_kernel(
        tracefs::print_fmt(tracefs, "kmem", "mm_page_alloc").as_deref(),
        release,
    )
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

/// Where this boot keeps the nodes: online nodes and, where chosen, data
/// symbols from kallsyms (only `CONFIG_KALLSYMS_ALL` kernels list them).
/// Both paths give the same counters: the kernel adds every delta to the
/// node's array and to the global one. The memcg path costs nothing at
/// start; kallsyms is a 70 ms read here and seconds in an emulator, so it
/// is waited for only when it is the way in.
fn locate_memory(
    mem: &mut MemLayout,
    via: MemoryVia,
    kallsyms: &Symbols,
    notices: &mut Vec<String>,
) -> MemAddrs {
    let mut addrs = MemAddrs::unplanned();
    let by_memcg = mem.memcg_nodeinfo != ABSENT && mem.lruvec_pgdat != ABSENT;
    if via == MemoryVia::Kallsyms || (via == MemoryVia::Auto && !by_memcg) {
        let k = kallsyms.get();
        let addr = |name: &str| k.address_of(name).unwrap_or(0);
        addrs.node_data = addr("node_data");
        addrs.contig_page_data = addr("contig_page_data");
        addrs.vm_node_stat = addr("vm_node_stat");
        addrs.vm_zone_stat = addr("vm_zone_stat");
        if via == MemoryVia::Kallsyms && addrs.node_data == 0 && addrs.contig_page_data == 0 {
            notices.push(
                "--memory-via kallsyms: kallsyms lists no node_data or contig_page_data \
                 (CONFIG_KALLSYMS_ALL is off)"
                    .into(),
            );
        }
    }
    if via == MemoryVia::Proc {
        // No node is read in the kernel.
        addrs.online_nodes = 0;
        return addrs;
    }
    addrs.online_nodes = host::online_nodes(
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
    for (what, items, max) in [
        ("node", mem.node_stat_items, MAX_NODE_STATS),
        ("zone", mem.zone_stat_items, MAX_ZONE_STATS),
    ] {
        if items != ABSENT && items as usize > max {
            notices.push(format!(
                "this kernel has {items} {what} counters, more than the {max} oomtrace reads: \
                 no counters"
            ));
        }
    }
    if essential.contains(&ABSENT) {
        notices.push("this kernel's struct zone is not as expected: no zones or free lists".into());
        mem.nr_zones = 0;
    }
    let by_kallsyms = addrs.node_data != 0 || addrs.contig_page_data != 0;
    if !by_kallsyms && !by_memcg {
        notices.push(
            "neither kallsyms data symbols nor memory cgroups lead to the nodes here: \
             counters, zones and free lists are sampled from /proc after each OOM"
                .into(),
        );
        addrs.online_nodes = 0;
    }
    if addrs.online_nodes >> MAX_NODES != 0 {
        notices.push(format!(
            "more than {MAX_NODES} NUMA nodes: memory state is read for the first {MAX_NODES}"
        ));
    }
    addrs
}

/// Where the kernel prints a victim's rss as the exact sum of each CPU's
/// part (`btf::RSS_SUMMED_SINCE`), the BPF side sums them too: it needs
/// `__per_cpu_offset` from kallsyms and the possible CPUs. Without them the
/// rss stays null (the central count alone would be a wrong number), said
/// once. Elsewhere no CPU's part is read.
fn sum_rss_over_cpus(
    release: &str,
    off: &mut KernelOffsets,
    addrs: &mut MemAddrs,
    kallsyms: &Symbols,
    notices: &mut Vec<String>,
) {
    let summed = oomtrace_core::kernel::gfp::parse_release(release)
        .is_some_and(|v| v >= btf::RSS_SUMMED_SINCE);
    if !summed || off.mm_rss_percpu == ABSENT || off.mm_rss_stat == ABSENT {
        off.mm_rss_percpu = ABSENT;
        return;
    }
    let cpus = host::possible_cpus(
        &std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default(),
    );
    let per_cpu_offset = kallsyms.get().address_of("__per_cpu_offset");
    let why_not = match (cpus, per_cpu_offset) {
        (Some(n), Some(a)) if n <= MAX_CPUS => {
            off.nr_cpus = n;
            addrs.per_cpu_offset = a;
            return;
        }
        (Some(n), Some(_)) => format!("it has {n} CPUs, more than the {MAX_CPUS} oomtrace sums"),
        (None, _) => "/sys/devices/system/cpu/possible is unreadable".to_owned(),
        (_, None) => "kallsyms lists no __per_cpu_offset (CONFIG_KALLSYMS_ALL is off, or its \
                      addresses are hidden)"
            .to_owned(),
    };
    off.mm_rss_percpu = ABSENT;
    off.mm_rss_stat = ABSENT;
    notices.push(format!(
        "this kernel prints a victim's rss summed over its CPUs' parts, but {why_not}: \
         the victim's anon, file and shmem rss are null"
    ));
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
    pub raw_formats: RawFormats,
    /// Kernel-log mode (no BTF, or `--btf none`): why. The kernel's own
    /// report, read from /dev/kmsg, completes each event.
    pub kernel_log: Option<String>,
    /// Things the user should hear once at start (lost fields, fallbacks).
    pub notices: Vec<String>,
}

impl Plan {
    /// `kallsyms` is waited for only to find data symbols: start it early.
    pub fn make(
        requested: Mode,
        memory_via: MemoryVia,
        kallsyms: &Symbols,
        btf_file: Option<&Path>,
    ) -> Result<Self> {
        host::require_own_architecture()?;
        let layouts = btf::layouts(btf_file)?;
        let release = host::kernel_release();
        let tracefs = tracefs::find_or_mount().map_err(anyhow::Error::msg)?;
        let kprobes = host::kprobes_supported(Some(&tracefs));
        let mut notices = Vec::new();
        let kernel_log = match &layouts {
            btf::Layouts::KernelLog(why) => Some(why.clone()),
            btf::Layouts::Btf(_) => None,
        };
        let mode = match requested {
            Mode::Kprobe if !kprobes => bail!(
                "--mode kprobe: this kernel ({release}) has no kprobes (CONFIG_KPROBES is off); \
                 use --mode tracepoint, which sees the victim, the trigger and the stack but not {}",
                hooks::describe_loss(Mode::Tracepoint)
            ),
            Mode::Auto if kprobes => Mode::Kprobe,
            // Kernel-log mode's notice says so, with what it loses.
            Mode::Auto if kernel_log.is_some() => Mode::Tracepoint,
            Mode::Auto => {
                notices.push(format!(
                    "this kernel has no kprobes: tracepoint mode; not available: {}",
                    hooks::describe_loss(Mode::Tracepoint)
                ));
                Mode::Tracepoint
            }
            m => m,
        };
        if !host::kallsyms_addresses_visible() {
            notices.push(host::describe(&["CAP_SYSLOG"]));
        }
        let learned = match &layouts {
            btf::Layouts::KernelLog(_) => Learned::without_btf(&tracefs, &release),
            btf::Layouts::Btf(btf_path) => {
                let key = cache_key(&release, btf_path);
                match Learned::load(&key) {
                    Some(l) => l,
                    None => {
                        let l = Learned::from_kernel(key, &tracefs, &release, btf_path)?;
                        l.store();
                        l
                    }
                }
            }
        };
        let absent = btf::absent(learned.off.absent().chain(learned.mem.absent()));
        if let Some(why) = &kernel_log {
            notices.push(format!(
                "{why}: kernel-log mode{}: BPF copies what needs no struct layout and each \
                 event is completed by the kernel's own report from /dev/kmsg; not available: {}",
                if mode == Mode::Tracepoint && requested == Mode::Auto {
                    " (no kprobes: tracepoints)"
                } else {
                    ""
                },
                hooks::describe_kernel_log_loss(mode)
            ));
        } else if !absent.is_empty() {
            notices.push(format!(
                "this kernel's BTF lacks {}: fields read through them are null",
                absent.join(", ")
            ));
        }
        let mark_victim = tracefs::event_format(&tracefs, "oom", "mark_victim");
        if mark_victim.is_none() {
            notices.push("this kernel has no oom:mark_victim tracepoint: no victim from it".into());
        }
        let mut mem = learned.mem;
        // Cgroup v1's page counters keep their failcnt (and print it).
        if host::memory_on_cgroup_v1(&std::fs::read_to_string("/proc/cgroups").unwrap_or_default())
        {
            mem.memcg_max_events = ABSENT;
        }
        let addrs = if kernel_log.is_some() {
            // No node is read in the kernel: the report's Mem-Info, or /proc.
            MemAddrs {
                online_nodes: 0,
                ..MemAddrs::unplanned()
            }
        } else {
            locate_memory(&mut mem, memory_via, kallsyms, &mut notices)
        };
        let mut mark_victim_layout = mark_victim_layout(mark_victim.as_ref());
        // Every reaper tracepoint's record is `int pid` after the common fields.
        mark_victim_layout.reaper_pid = tracefs::event_format(&tracefs, "oom", "wake_reaper")
            .and_then(|f| f.get("pid").map(|f| f.offset))
            .unwrap_or(ABSENT);
        let mut off = learned.off;
        off.thread_size = oomtrace_core::kernel::arch::Arch::this().thread_size;
        let mut addrs = addrs;
        sum_rss_over_cpus(&release, &mut off, &mut addrs, kallsyms, &mut notices);
        let config = Config {
            planned: 1,
            kprobes: u32::from(mode == Mode::Kprobe),
            mark_victim: mark_victim_layout,
            off,
            mem,
            addrs,
            ..Config::unplanned()
        };
        let mem_names = MemNames {
            layout: config.mem,
            ..learned.mem_names
        };
        // The raw mark_victim tracepoint's first argument is the victim's
        // task only where the tracepoint carries its memory too (the same
        // change): elsewhere it is a pid, and oom_control cannot be found.
        let task_arg = mark_victim_layout.comm != ABSENT && learned.off.task_stack != ABSENT;
        let hooks: Vec<Hook> = HOOKS
            .iter()
            .filter(|h| h.in_mode(mode))
            .filter(|h| task_arg || !matches!(h.attach, Attach::RawTracepoint(_)))
            .filter(|h| kernel_log.is_none() || !h.without_btf.is_empty())
            .copied()
            .collect();
        if mode == Mode::Tracepoint && !task_arg && kernel_log.is_none() {
            notices.push(
                "this kernel's oom:mark_victim passes the victim's pid only: without kprobes \
                 the OOM's oom_control (gfp_mask, order, totalpages, points) cannot be found"
                    .into(),
            );
        }
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
            kernel_log,
            notices,
        })
    }
}
