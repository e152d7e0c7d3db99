//! The lines of the kernel's memory report (`mm/show_mem.c`,
//! `show_free_areas()`): each label and the counter behind it, which
//! counters print in which unit on which release. The text renderer writes
//! these lines and the kernel-log parser reads them: one table for both.

/// The report's labels and the kernel counters behind them (`mm/show_mem.c`):
/// the `Mem-Info:` lines (pages), ...
pub const MEM_INFO: [&[(&str, &str)]; 8] = [
    &[
        ("active_anon", "NR_ACTIVE_ANON"),
        ("inactive_anon", "NR_INACTIVE_ANON"),
        ("isolated_anon", "NR_ISOLATED_ANON"),
    ],
    &[
        ("active_file", "NR_ACTIVE_FILE"),
        ("inactive_file", "NR_INACTIVE_FILE"),
        ("isolated_file", "NR_ISOLATED_FILE"),
    ],
    &[
        ("unevictable", "NR_UNEVICTABLE"),
        ("dirty", "NR_FILE_DIRTY"),
        ("writeback", "NR_WRITEBACK"),
    ],
    &[
        ("slab_reclaimable", "NR_SLAB_RECLAIMABLE_B"),
        ("slab_unreclaimable", "NR_SLAB_UNRECLAIMABLE_B"),
    ],
    &[
        ("mapped", "NR_FILE_MAPPED"),
        ("shmem", "NR_SHMEM"),
        ("pagetables", "NR_PAGETABLE"),
    ],
    &[
        ("sec_pagetables", "NR_SECONDARY_PAGETABLE"),
        ("bounce", "NR_BOUNCE"),
    ],
    &[("kernel_misc_reclaimable", "NR_KERNEL_MISC_RECLAIMABLE")],
    &[("free", "NR_FREE_PAGES"), ("free_cma", "NR_FREE_CMA_PAGES")],
];
/// ... the `Node N` line (kB) ...
pub const NODE_LINE: &[(&str, &str)] = &[
    ("active_anon", "NR_ACTIVE_ANON"),
    ("inactive_anon", "NR_INACTIVE_ANON"),
    ("active_file", "NR_ACTIVE_FILE"),
    ("inactive_file", "NR_INACTIVE_FILE"),
    ("unevictable", "NR_UNEVICTABLE"),
    ("isolated(anon)", "NR_ISOLATED_ANON"),
    ("isolated(file)", "NR_ISOLATED_FILE"),
    ("mapped", "NR_FILE_MAPPED"),
    ("dirty", "NR_FILE_DIRTY"),
    ("writeback", "NR_WRITEBACK"),
    ("shmem", "NR_SHMEM"),
    ("shmem_thp", "NR_SHMEM_THPS"),
    ("shmem_pmdmapped", "NR_SHMEM_PMDMAPPED"),
    ("anon_thp", "NR_ANON_THPS"),
    ("writeback_tmp", "NR_WRITEBACK_TEMP"),
    ("kernel_stack", "NR_KERNEL_STACK_KB"),
    ("shadow_call_stack", "NR_KERNEL_SCS_KB"),
    ("pagetables", "NR_PAGETABLE"),
    ("sec_pagetables", "NR_SECONDARY_PAGETABLE"),
];
/// ... the fields the `Node N` line has after `all_unreclaimable?` (6.16+;
/// the GPU's pages since 7.x) ...
pub const NODE_LINE_AFTER: &[(&str, &str)] = &[
    ("Balloon", "NR_BALLOON_PAGES"),
    ("gpu_active", "NR_GPU_ACTIVE"),
    ("gpu_reclaim", "NR_GPU_RECLAIM"),
];
/// ... the THP fields, printed `label: NkB` before 6.6 ...
pub const SPACED_BEFORE_6_6: [&str; 3] = ["shmem_thp", "shmem_pmdmapped", "anon_thp"];
/// ... and each zone's line (kB), whose last fields come after `managed:`.
pub const ZONE_LINE: &[(&str, &str)] = &[
    ("active_anon", "NR_ZONE_ACTIVE_ANON"),
    ("inactive_anon", "NR_ZONE_INACTIVE_ANON"),
    ("active_file", "NR_ZONE_ACTIVE_FILE"),
    ("inactive_file", "NR_ZONE_INACTIVE_FILE"),
    ("unevictable", "NR_ZONE_UNEVICTABLE"),
    ("writepending", "NR_ZONE_WRITE_PENDING"),
    ("zspages", "NR_ZSPAGES"),
];
/// (`pagetables` is a zone counter before 5.11.)
pub const ZONE_LINE_TAIL: &[(&str, &str)] = &[
    ("mlocked", "NR_MLOCK"),
    ("kernel_stack", "NR_KERNEL_STACK_KB"),
    ("pagetables", "NR_PAGETABLE"),
    ("bounce", "NR_BOUNCE"),
];

/// Counters the kernel removed but whose labels it still prints, as a
/// constant 0 (`bounce:0` in Mem-Info and each zone's line since NR_BOUNCE
/// went, after 6.12).
pub const PRINTED_AS_ZERO_WHEN_GONE: [&str; 1] = ["NR_BOUNCE"];

/// The counters kernels before 5.13 kept in huge pages, not pages, and
/// printed multiplied by `HPAGE_PMD_NR`.
pub const THP_COUNTERS: [&str; 5] = [
    "NR_ANON_THPS",
    "NR_SHMEM_THPS",
    "NR_SHMEM_PMDMAPPED",
    "NR_FILE_THPS",
    "NR_FILE_PMDMAPPED",
];

/// How many pages one unit of counter `name` is on `kernel` (release; the
/// newest when unknown) with pages of `page_kb`: a huge page's worth for
/// the THP counters before 5.13, else one.
pub fn pages_per_unit(name: &str, kernel: Option<(u32, u32)>, page_kb: u64) -> u64 {
    if THP_COUNTERS.contains(&name) && kernel.is_some_and(|k| k < (5, 13)) {
        let page_shift = (page_kb.max(1) * 1024).trailing_zeros();
        1 << (crate::kernel::arch::pmd_shift(page_shift) - page_shift)
    } else {
        1
    }
}
