//! `oomtrace check`: what this kernel offers and what oomtrace would do with
//! it. The first thing to run when something does not work.

use crate::plan::btf::{self, KernelTypes, VMLINUX};
use crate::plan::hooks::{self, Attach, HOOKS, Mode};
use crate::plan::host::{kernel_release, kprobes_supported, privileges};
use crate::plan::tracefs;
use anyhow::Result;
use oomtrace_core::kernel::gfp::GfpTable;
use oomtrace_core::source::symbols::Kallsyms;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
pub struct HookReport {
    pub program: &'static str,
    pub hook: String,
    /// The symbol or tracepoint it resolved to on this kernel.
    pub resolved: Option<String>,
    /// Whether `trace` in auto mode would attach it.
    pub used: bool,
    pub provides: String,
    /// It reads kernel structs only: unused without BTF.
    pub needs_btf: bool,
}

#[derive(Serialize)]
pub struct CapabilityReport {
    #[serde(flatten)]
    pub capability: &'static crate::plan::host::Capability,
    pub held: bool,
}

#[derive(Serialize)]
pub struct Report {
    pub kernel: String,
    pub btf: bool,
    /// The BTF read: the kernel's own, or the `--btf` file.
    pub btf_file: Option<String>,
    /// Why there is none.
    pub btf_error: Option<String>,
    pub btf_missing_fields: Vec<String>,
    pub tracefs: Option<String>,
    pub kprobes: bool,
    pub root: bool,
    pub missing_capabilities: Vec<&'static str>,
    /// Every capability oomtrace uses, what for, and whether it is held.
    pub capabilities: Vec<CapabilityReport>,
    pub kallsyms_symbols: usize,
    pub kallsyms_addresses_visible: bool,
    pub kallsyms_data_symbols: bool,
    pub mark_victim_fields: Vec<String>,
    pub gfp_names: String,
    /// How `--memory-via auto` reaches counters, zones and free lists.
    pub memory: String,
    pub hooks: Vec<HookReport>,
    pub mode: Mode,
    /// What this mode cannot see at all, and what it infers from the stack
    /// where it can (derived from the hook table).
    pub unavailable_in_this_mode: Vec<&'static str>,
    pub inferred_in_this_mode: Vec<&'static str>,
    /// Whether `trace` would run in kernel-log mode (no BTF): BPF without
    /// struct layouts, each event completed by the kernel's own report.
    pub kernel_log_mode: bool,
    /// What kernel-log mode (no BTF, or `--btf none`) cannot have here.
    pub unavailable_in_kernel_log_mode: Vec<&'static str>,
    /// Whether /dev/kmsg, which kernel-log mode reads, can be read.
    pub kmsg_readable: bool,
    /// How the end of an OOM is known (no return probe).
    pub end_of_oom: &'static str,
    pub ready: bool,
}

pub fn gather(btf_file: Option<&Path>) -> Report {
    let release = kernel_release();
    let tracefs_root = if privileges().root {
        tracefs::find_or_mount().ok()
    } else {
        tracefs::find()
    };
    let kprobes = kprobes_supported(tracefs_root.as_deref());
    let kallsyms = Kallsyms::load().unwrap_or_default();
    let btf_path = btf::source(btf_file);
    let (types, btf_error) = match &btf_path {
        Ok(p) => match KernelTypes::load_from(p) {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        },
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    let missing = types
        .as_ref()
        .map(|t| {
            let off = t.kernel_offsets(crate::plan::host::page_shift());
            let mem = t.mem_layout();
            btf::absent(off.absent().chain(mem.absent()))
        })
        .unwrap_or_default();
    let mut mv_fields: Vec<String> = tracefs_root
        .as_deref()
        .and_then(|r| tracefs::event_format(r, "oom", "mark_victim"))
        .map(|f| {
            f.into_keys()
                .filter(|k| !k.starts_with("common_"))
                .collect()
        })
        .unwrap_or_default();
    mv_fields.sort();
    let mode = if kprobes {
        Mode::Kprobe
    } else {
        Mode::Tracepoint
    };
    let kernel_log_mode = matches!(btf::layouts(btf_file), Ok(btf::Layouts::KernelLog(_)));
    let hooks: Vec<HookReport> = HOOKS
        .iter()
        .map(|h| {
            let resolved = match h.attach {
                Attach::Kprobe(names) => names
                    .iter()
                    .find_map(|n| kallsyms.resolve_function(n))
                    .map(str::to_owned),
                Attach::RawTracepoint(n) => tracefs_root
                    .as_deref()
                    .filter(|r| r.join("events/oom").join(n).is_dir())
                    .map(|_| format!("raw:{n}")),
                Attach::Tracepoint(c, n) => tracefs_root
                    .as_deref()
                    .filter(|r| r.join("events").join(c).join(n).is_dir())
                    .map(|_| format!("{c}:{n}")),
            };
            HookReport {
                program: h.program,
                hook: h.describe(),
                used: resolved.is_some()
                    && h.in_mode(mode)
                    && (!kernel_log_mode || !h.without_btf.is_empty()),
                resolved,
                provides: oomtrace_core::schema::event::field_names(h.provides),
                needs_btf: h.without_btf.is_empty(),
            }
        })
        .collect();
    let layout = types.as_ref().map(KernelTypes::mem_layout);
    let memory = match layout {
        Some(l)
            if l.memcg_nodeinfo != oomtrace_common::ABSENT
                && l.lruvec_pgdat != oomtrace_common::ABSENT =>
        {
            "read in the kernel: current task's memory cgroup -> lruvec.pgdat -> node_zones[]"
        }
        _ if kallsyms.address_of("node_data").is_some()
            || kallsyms.address_of("contig_page_data").is_some() =>
        {
            "read in the kernel: node_data / contig_page_data from kallsyms"
        }
        _ => "no kernel path: sampled from /proc after each OOM",
    }
    .to_owned();
    let p = privileges();
    let kmsg_readable = std::fs::File::open("/dev/kmsg").is_ok();
    let ready = p.missing.is_empty()
        && (types.is_some() || (kernel_log_mode && kmsg_readable))
        && tracefs_root.is_some()
        && hooks.iter().any(|h| h.used);
    Report {
        kernel: release.clone(),
        btf: types.is_some(),
        btf_file: btf_path.ok().map(|p| p.display().to_string()),
        btf_error,
        btf_missing_fields: missing,
        tracefs: tracefs_root.as_ref().map(|p| p.display().to_string()),
        kprobes,
        root: p.root,
        missing_capabilities: p.missing,
        capabilities: crate::plan::host::CAPABILITIES
            .iter()
            .map(|c| CapabilityReport {
                capability: c,
                held: p.root || p.held.contains(&c.name),
            })
            .collect(),
        kallsyms_symbols: kallsyms.len(),
        kallsyms_addresses_visible: kallsyms.has_addresses(),
        kallsyms_data_symbols: kallsyms.has_data_symbols(),
        mark_victim_fields: mv_fields,
        gfp_names: GfpTable::for_kernel(
            tracefs_root
                .as_deref()
                .and_then(|r| tracefs::print_fmt(r, "kmem", "mm_page_alloc"))
                .as_deref(),
            &release,
        )
        .source,
        memory,
        hooks,
        mode,
        unavailable_in_this_mode: hooks::mode_loses(mode).0.iter().map(|f| f.name()).collect(),
        inferred_in_this_mode: hooks::mode_loses(mode).1.iter().map(|f| f.name()).collect(),
        kernel_log_mode,
        unavailable_in_kernel_log_mode: hooks::kernel_log_lacks(mode)
            .iter()
            .map(|f| f.name())
            .collect(),
        kmsg_readable,
        end_of_oom: hooks::END_OF_OOM,
        ready,
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let mut row = |k: &str, v: String| s.push_str(&format!("{k:<14}{v}\n"));
    row("kernel", r.kernel.clone());
    row(
        "btf",
        match (&r.btf_file, &r.btf_error) {
            (Some(file), None) => {
                let from = if file == VMLINUX {
                    file.clone()
                } else {
                    format!("{file} (--btf)")
                };
                if r.btf_missing_fields.is_empty() {
                    format!("{from}, every field oomtrace reads is there")
                } else {
                    format!("{from}, lacks {}", r.btf_missing_fields.join(", "))
                }
            }
            (_, Some(e)) => e.clone(),
            (None, None) => "none".to_owned(),
        },
    );
    row(
        "tracefs",
        r.tracefs.clone().unwrap_or_else(|| {
            tracefs::unreadable()
                .unwrap_or_else(|| "not mounted: mount -t tracefs nodev /sys/kernel/tracing".into())
        }),
    );
    row(
        "kprobes",
        if r.kprobes {
            "yes".into()
        } else {
            "no (CONFIG_KPROBES off): tracepoint mode".into()
        },
    );
    row(
        "privileges",
        if r.root {
            "root".into()
        } else {
            let held: Vec<&str> = r
                .capabilities
                .iter()
                .filter(|c| c.held)
                .map(|c| c.capability.name)
                .collect();
            format!("not root; holds {}", held.join(", "))
        },
    );
    for c in r.capabilities.iter().filter(|c| !c.held) {
        row(
            "  missing",
            format!("{}, needed {}", c.capability.name, c.capability.for_what),
        );
    }
    row(
        "kallsyms",
        format!(
            "{} symbols, addresses {}, data symbols {}",
            r.kallsyms_symbols,
            if r.kallsyms_addresses_visible {
                "visible"
            } else {
                "hidden (need root)"
            },
            if r.kallsyms_data_symbols {
                "listed"
            } else {
                "not listed (CONFIG_KALLSYMS_ALL off)"
            }
        ),
    );
    row(
        "mark_victim",
        if r.mark_victim_fields.is_empty() {
            "tracepoint missing".into()
        } else {
            format!("fields {}", r.mark_victim_fields.join(" "))
        },
    );
    row("gfp names", r.gfp_names.clone());
    row("memory", r.memory.clone());
    row("hooks", String::new());
    let width = |f: fn(&HookReport) -> usize| r.hooks.iter().map(f).max().unwrap_or(0) + 2;
    let (pw, hw) = (width(|h| h.program.len()), width(|h| h.hook.len()));
    for h in &r.hooks {
        s.push_str(&format!(
            "  {:<pw$}{:<hw$}{}\n",
            h.program,
            h.hook,
            match (&h.resolved, h.used) {
                (Some(t), true) => format!("found: {t}"),
                (Some(t), false) if h.needs_btf && r.kernel_log_mode => {
                    format!("found: {t} (unused: reads kernel structs, and there is no BTF)")
                }
                (Some(t), false) => format!("found: {t} (unused: no kprobes)"),
                (None, _) => format!("missing; lost: {}", h.provides),
            }
        ));
    }
    let mut row = |k: &str, v: String| s.push_str(&format!("{k:<14}{v}\n"));
    row("end of OOM", r.end_of_oom.into());
    row(
        "mode",
        if r.kernel_log_mode {
            format!(
                "{} + kernel-log: no BTF, so BPF copies what needs no struct layout and the \
                 kernel's own report from /dev/kmsg completes each event",
                r.mode.name()
            )
        } else {
            format!("{} (what `trace --mode auto` uses)", r.mode.name())
        },
    );
    row(
        "without BTF",
        format!(
            "kernel-log mode (no BTF, or --btf none) loses {}; and a report the kernel \
             rate-limits (10 per 5 s) gives only its victim{}",
            r.unavailable_in_kernel_log_mode.join(", "),
            if r.kmsg_readable {
                ""
            } else {
                "; /dev/kmsg cannot be read here (root or CAP_SYSLOG)"
            }
        ),
    );
    if r.kernel_log_mode {
        // The rows below are for BTF modes.
    } else if !r.unavailable_in_this_mode.is_empty() {
        row(
            "unavailable",
            format!("{} (need kprobes)", r.unavailable_in_this_mode.join(", ")),
        );
    }
    if !r.inferred_in_this_mode.is_empty() && !r.kernel_log_mode {
        row(
            "inferred",
            format!(
                "{} (from the stack, where it proves them)",
                r.inferred_in_this_mode.join(", ")
            ),
        );
    }
    row("ready", yes(r.ready).into());
    s
}

pub fn run(json: bool, btf_file: Option<&Path>) -> Result<bool> {
    crate::plan::host::require_own_architecture()?;
    let r = gather(btf_file);
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", text(&r));
    }
    Ok(r.ready)
}
