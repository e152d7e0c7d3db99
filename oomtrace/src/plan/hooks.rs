//! The one table of hooks: each BPF program, where it attaches, and which
//! event fields it provides. What a mode loses (for `check`, the start-up
//! notice and each event's `unavailable`) is derived from this table.

use oomtrace_common::names;
use oomtrace_core::schema::event::Field;

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

/// Where a program attaches. There is no return probe: a kretprobe's
/// trampoline takes the place of the caller's frame, and the kernel's own
/// OOM report would name the trampoline (`trace_clock_x86_tsc+0x20/0x20`,
/// `elfcorehdr_read+0x40/0x40` on 5.10) instead of `out_of_memory`'s caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// Entry of the first of these functions the kernel has (a probe at the
    /// entry changes no frame the kernel prints).
    Kprobe(&'static [&'static str]),
    Tracepoint(&'static str, &'static str),
    /// A raw tracepoint: the tracepoint's own arguments (`TP_PROTO`).
    RawTracepoint(&'static str),
}

/// How oomtrace knows an OOM has ended, for `check` and the book (Modes).
pub const END_OF_OOM: &str = "no return probe on out_of_memory (it would change the kernel's own report): an OOM ends at its kill, after 10 ms without more victims, or when the next OOM begins (OOMs run one at a time)";

/// One BPF program and where it goes.
#[derive(Clone, Copy, Debug)]
pub struct Hook {
    /// The program's name in the BPF object.
    pub program: &'static str,
    pub attach: Attach,
    /// Only without kprobes (what it finds, kprobe mode reads directly).
    pub tracepoint_mode_only: bool,
    /// The event fields it fills whenever it runs.
    pub provides: &'static [Field],
    /// Fields it fills only when the stack proves them (tracepoint mode's
    /// inferences: a memcg OOM's domain, sysrq-f's order).
    pub infers: &'static [Field],
    /// What it still fills without the kernel's struct layouts (kernel-log
    /// mode: no BTF); a hook with none is not attached there.
    pub without_btf: &'static [Field],
}

/// Whether the kernel stack comes from `mark_victim`'s tracepoint (from
/// `oom_kill_process`'s kprobe where the architecture cannot walk it).
const STACK_AT_TRACEPOINT: bool = oomtrace_core::kernel::arch::Arch::this().tracepoint_stack_walk;

const fn tracepoint(program: &'static str, provides: &'static [Field]) -> Hook {
    Hook {
        program,
        attach: Attach::Tracepoint("oom", program),
        tracepoint_mode_only: false,
        provides,
        infers: &[],
        // Their records are the tracepoints' own fields (tracefs formats).
        without_btf: provides,
    }
}

pub const HOOKS: &[Hook] = &[
    Hook {
        program: names::PROG_OOM_ENTER,
        attach: Attach::Kprobe(&["out_of_memory"]),
        tracepoint_mode_only: false,
        provides: &[
            Field::GfpMask,
            Field::Order,
            Field::Nodemask,
            Field::Memcg,
            Field::MemcgMemory,
            Field::Trigger,
            // From out_of_memory's entry to its kill (`mark_victim`).
            Field::DurationNs,
        ],
        infers: &[],
        without_btf: &[Field::DurationNs],
    },
    Hook {
        program: names::PROG_OOM_KILL,
        attach: Attach::Kprobe(&["oom_kill_process"]),
        tracepoint_mode_only: false,
        // And the kernel stack where a tracepoint's cannot be walked.
        provides: if STACK_AT_TRACEPOINT {
            &[
                Field::Constraint,
                Field::Totalpages,
                Field::Points,
                Field::Message,
                Field::VictimCgroup,
            ]
        } else {
            &[
                Field::Constraint,
                Field::Totalpages,
                Field::Points,
                Field::Message,
                Field::VictimCgroup,
                Field::Stack,
            ]
        },
        infers: &[],
        without_btf: if STACK_AT_TRACEPOINT {
            &[]
        } else {
            &[Field::Stack]
        },
    },
    Hook {
        program: names::PROG_PRINT_RSS,
        // The victim's rss as its `Killed process` line prints it (armed
        // only between a kill and its thread's next printk).
        attach: Attach::Kprobe(&["_printk", "printk"]),
        tracepoint_mode_only: false,
        provides: &[],
        infers: &[],
        without_btf: &[],
    },
    Hook {
        program: names::PROG_MEMCG_PRINT,
        // Its `memory: usage` line, read as the kernel prints it.
        attach: Attach::Kprobe(&["mem_cgroup_print_oom_meminfo"]),
        tracepoint_mode_only: false,
        provides: &[Field::MemcgMemory],
        infers: &[],
        without_btf: &[],
    },
    Hook {
        program: names::PROG_SHOW_FREE_AREAS,
        // A global until 6.0, `__show_free_areas` in 6.1–6.4, static again
        // from 6.5. Where no kprobe can go there (trixie's 32-bit `armmp`
        // 6.12 refuses it: perf_event_open fails), at its one caller's
        // entry, `__show_mem` (`show_mem` before 6.1): the same moment and
        // the same path, less the innermost frame.
        attach: Attach::Kprobe(&[
            "__show_free_areas",
            "show_free_areas",
            "__show_mem",
            "show_mem",
        ]),
        tracepoint_mode_only: false,
        provides: &[Field::ShowFreeAreasStack],
        infers: &[],
        without_btf: &[Field::ShowFreeAreasStack],
    },
    Hook {
        program: names::PROG_MARK_VICTIM,
        attach: Attach::Tracepoint("oom", "mark_victim"),
        tracepoint_mode_only: false,
        provides: if STACK_AT_TRACEPOINT {
            &[
                Field::Victim,
                Field::Trigger,
                Field::Stack,
                Field::Memory,
                Field::UserStack,
            ]
        } else {
            &[
                Field::Victim,
                Field::Trigger,
                Field::Memory,
                Field::UserStack,
            ]
        },
        infers: &[
            Field::Constraint,
            Field::Message,
            Field::Memcg,
            Field::MemcgMemory,
            Field::Order,
            Field::VictimCgroup,
        ],
        without_btf: if STACK_AT_TRACEPOINT {
            &[
                Field::Victim,
                Field::Trigger,
                Field::Stack,
                Field::UserStack,
            ]
        } else {
            &[Field::Victim, Field::Trigger, Field::UserStack]
        },
    },
    Hook {
        program: names::PROG_MARK_VICTIM_STACK,
        // Its first argument is the victim's task on kernels whose
        // tracepoint carries the victim's memory (6.8, and backports).
        attach: Attach::RawTracepoint("mark_victim"),
        tracepoint_mode_only: true,
        // And the victim's own memory cgroup, from its task.
        provides: &[Field::VictimCgroup],
        // The OOM's `struct oom_control`, found on the OOM task's stack by
        // its `chosen` (not when the OOM task was itself exiting).
        infers: &[
            Field::GfpMask,
            Field::Order,
            Field::Nodemask,
            Field::Totalpages,
            Field::Points,
            Field::Constraint,
            // A global OOM's (a memcg OOM's comes from the stack's path).
            Field::Message,
        ],
        without_btf: &[],
    },
    tracepoint(names::PROG_WAKE_REAPER, &[Field::Reaper]),
    tracepoint(names::PROG_START_TASK_REAPING, &[Field::Reaper]),
    tracepoint(names::PROG_FINISH_TASK_REAPING, &[Field::Reaper]),
    tracepoint(names::PROG_SKIP_TASK_REAPING, &[Field::Reaper]),
    tracepoint(names::PROG_RECLAIM_RETRY_ZONE, &[Field::AllocatorRetries]),
    tracepoint(names::PROG_COMPACT_RETRY, &[Field::AllocatorRetries]),
];

impl Hook {
    pub fn is_kprobe(&self) -> bool {
        matches!(self.attach, Attach::Kprobe(..))
    }

    pub fn describe(&self) -> String {
        match self.attach {
            Attach::Kprobe(f) => format!("kprobe:{}", f.join("|")),
            Attach::Tracepoint(c, n) => format!("tracepoint:{c}:{n}"),
            Attach::RawTracepoint(n) => format!("raw_tracepoint:{n}"),
        }
    }

    /// Whether `mode` (never `Auto`) uses this hook.
    pub fn in_mode(&self, mode: Mode) -> bool {
        match mode {
            Mode::Kprobe => !self.tracepoint_mode_only,
            _ => !self.is_kprobe(),
        }
    }
}

/// Fields no hook of `hooks` provides outright: lost, or inferred at best.
/// Sorted, each once.
pub fn lacking<'a>(hooks: impl IntoIterator<Item = &'a Hook> + Clone) -> Vec<Field> {
    let provided: Vec<Field> = hooks
        .clone()
        .into_iter()
        .flat_map(|h| h.provides)
        .copied()
        .collect();
    let mut lost: Vec<Field> = HOOKS
        .iter()
        .flat_map(|h| h.provides)
        .copied()
        .filter(|f| !provided.contains(f))
        .collect();
    lost.sort();
    lost.dedup();
    lost
}

/// What `mode` loses against every hook attached: (lost, inferred only).
pub fn mode_loses(mode: Mode) -> (Vec<Field>, Vec<Field>) {
    let used = HOOKS.iter().filter(|h| h.in_mode(mode));
    let lacking = lacking(used.clone());
    let inferred: Vec<Field> = used.flat_map(|h| h.infers).copied().collect();
    lacking.into_iter().partition(|f| !inferred.contains(f))
}

/// What kernel-log mode (no BTF) cannot have with `mode`'s hooks: what
/// neither they, without layouts, nor the kernel's printed report give.
pub fn kernel_log_lacks(mode: Mode) -> Vec<Field> {
    let mut lacking: Vec<Field> = Field::per_event()
        .filter(|f| !oomtrace_core::enrich::report_join::KERNEL_REPORT_PROVIDES.contains(f))
        .filter(|f| {
            !HOOKS
                .iter()
                .filter(|h| h.in_mode(mode))
                .any(|h| h.without_btf.contains(f))
        })
        .collect();
    lacking.sort();
    lacking
}

/// "totalpages, points, ..." (kernel-log mode's notice and `check`).
pub fn describe_kernel_log_loss(mode: Mode) -> String {
    let lacking = kernel_log_lacks(mode);
    if lacking.is_empty() {
        "nothing".into()
    } else {
        format!(
            "{}; and what the kernel rate-limits away (10 reports per 5 s)",
            oomtrace_core::schema::event::field_names(&lacking)
        )
    }
}

/// "not available: ...; inferred from the stack where it can: ..."
pub fn describe_loss(mode: Mode) -> String {
    let (lost, inferred) = mode_loses(mode);
    let names = oomtrace_core::schema::event::field_names;
    match (lost.is_empty(), inferred.is_empty()) {
        (true, true) => "nothing".into(),
        (false, true) => names(&lost),
        (true, false) => format!("inferred from the stack where it can: {}", names(&inferred)),
        (false, false) => format!(
            "{}; inferred from the stack where it can: {}",
            names(&lost),
            names(&inferred)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoint_mode_loses_what_only_kprobes_provide() {
        let (lost, inferred) = mode_loses(Mode::Tracepoint);
        assert!(lost.contains(&Field::DurationNs));
        assert!(lost.contains(&Field::ShowFreeAreasStack));
        assert!(!lost.contains(&Field::Stack));
        // Found where the stack allows: the oom_control, the memcg domain.
        for f in [
            Field::GfpMask,
            Field::Order,
            Field::Totalpages,
            Field::Memcg,
        ] {
            assert!(inferred.contains(&f) && !lost.contains(&f), "{f:?}");
        }
        assert_eq!(mode_loses(Mode::Kprobe), (vec![], vec![]));
    }

    /// Do no harm: no hook may rewrite return addresses the kernel prints.
    #[test]
    fn no_hook_is_a_return_probe() {
        for h in HOOKS {
            if let Attach::Kprobe(names) = h.attach {
                assert!(
                    names.iter().all(|n| !n.is_empty()),
                    "{}: a kprobe names its function",
                    h.program
                );
            }
        }
        // The BPF object has no kretprobe section either.
        let file = crate::source::bpf::BPF_OBJECT;
        let text = String::from_utf8_lossy(file);
        assert!(
            !text.contains("kretprobe"),
            "a kretprobe program is in the BPF object"
        );
    }
}
