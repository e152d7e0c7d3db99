//! The kernel's own type information (`/sys/kernel/btf/vmlinux`): struct
//! field offsets and enum values, so no offset is compiled into oomtrace.

use anyhow::{Context, Result};
use btf_rs::{Btf, Type};
use oomtrace_common::{ABSENT, KernelOffsets, MemLayout};
use std::path::Path;

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

pub struct KernelTypes {
    btf: Btf,
}

/// Where the kernel's struct layouts come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layouts {
    /// The kernel's own BTF, or a detached BTF file given with `--btf`
    /// (made once with pahole from the kernel's debug vmlinux).
    Btf(std::path::PathBuf),
    /// None (no BTF, or `--btf none`): kernel-log mode, where BPF copies
    /// only what needs no layout and the kernel's own report, read from
    /// /dev/kmsg, gives the rest. Why, for the notice.
    KernelLog(String),
}

/// `--btf none`: kernel-log mode on any kernel.
pub const NONE: &str = "none";

/// The layouts `--btf` (or its absence) names on this kernel.
pub fn layouts(explicit: Option<&Path>) -> Result<Layouts> {
    match explicit {
        Some(p) if p == Path::new(NONE) => Ok(Layouts::KernelLog("--btf none".into())),
        Some(p) if p.exists() => Ok(Layouts::Btf(p.to_owned())),
        Some(p) => anyhow::bail!("--btf {}: no such file", p.display()),
        None if Path::new(VMLINUX).exists() => Ok(Layouts::Btf(VMLINUX.into())),
        None => Ok(Layouts::KernelLog(format!(
            "this kernel has no BTF ({VMLINUX}; CONFIG_DEBUG_INFO_BTF is off)"
        ))),
    }
}

/// The BTF file of `layouts`, or why there is none (for `check`).
pub fn source(explicit: Option<&Path>) -> Result<std::path::PathBuf> {
    match layouts(explicit)? {
        Layouts::Btf(p) => Ok(p),
        Layouts::KernelLog(why) => anyhow::bail!(
            "{why}: kernel-log mode; for every field read in the kernel, make a BTF file once \
             from its debug vmlinux (`pahole --btf_encode_detached=FILE vmlinux`) and pass it \
             with --btf FILE"
        ),
    }
}

impl KernelTypes {
    pub fn load() -> Result<Self> {
        Self::load_from(Path::new(VMLINUX))
    }

    pub fn load_from(path: &Path) -> Result<Self> {
        // A kernel's BTF is some 5 MB; `--btf` may name anything (a FIFO,
        // /dev/zero): read at most this much.
        const MAX_BTF: u64 = 64 << 20;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_BTF + 1), &mut bytes)
            })
            .with_context(|| format!("reading {}", path.display()))?;
        if bytes.len() as u64 > MAX_BTF {
            anyhow::bail!(
                "{}: more than {} MiB, which no kernel's BTF is",
                path.display(),
                MAX_BTF >> 20
            );
        }
        let bytes = if path == Path::new(VMLINUX) {
            bytes
        } else {
            bound::unwrap(path, bytes, running_build_id().as_deref())?
        };
        let btf = Btf::from_bytes(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}: not valid BTF: {e}; oomtrace reads struct layouts from the kernel's BTF \
                     (CONFIG_DEBUG_INFO_BTF=y), a file `oomtrace btf` made, or none (--btf none)",
                path.display()
            )
        })?;
        Ok(Self { btf })
    }

    fn named_struct(&self, name: &str) -> Option<btf_rs::Struct> {
        let types = self.btf.resolve_types_by_name(name).ok()?;
        types.into_iter().find_map(|t| match t {
            // Skip forward declarations' empty twins.
            Type::Struct(s) | Type::Union(s) if !s.members.is_empty() => Some(s),
            _ => None,
        })
    }

    /// Follows typedefs, qualifiers and type tags to the underlying type.
    fn strip(&self, mut t: Type) -> Type {
        for _ in 0..16 {
            match &t {
                Type::Typedef(_)
                | Type::Volatile(_)
                | Type::Const(_)
                | Type::Restrict(_)
                | Type::TypeTag(_) => {
                    let Some(next) = t
                        .as_btf_type()
                        .and_then(|b| self.btf.resolve_chained_type(b).ok())
                    else {
                        return t;
                    };
                    t = next;
                }
                _ => return t,
            }
        }
        t
    }

    /// Byte offset of `field` in `s` and the field's type, looking through
    /// anonymous structs and unions as C does.
    fn find_member(&self, s: &btf_rs::Struct, field: &str) -> Option<(u32, Type)> {
        for m in &s.members {
            let name = self.btf.resolve_name(m).unwrap_or_default();
            let ty = self.btf.resolve_chained_type(m).ok()?;
            if name == field {
                return Some((m.bit_offset() / 8, ty));
            }
            if name.is_empty()
                && let Type::Struct(inner) | Type::Union(inner) = self.strip(ty)
                && let Some((off, t)) = self.find_member(&inner, field)
            {
                return Some((m.bit_offset() / 8 + off, t));
            }
        }
        None
    }

    /// Offset of `struct_name.field`; the first of `fields` this kernel has
    /// (fields get renamed: `kernfs_node.parent` became `__parent` in 6.15).
    pub fn offset(&self, struct_name: &str, fields: &[&str]) -> Option<u32> {
        let s = self.named_struct(struct_name)?;
        fields
            .iter()
            .find_map(|f| self.find_member(&s, f))
            .map(|(off, _)| off)
    }

    pub fn struct_size(&self, name: &str) -> Option<u32> {
        self.named_struct(name).map(|s| s.size() as u32)
    }

    /// The value of `enumerator` in the named `enum enum_name`.
    pub fn enum_value(&self, enum_name: &str, enumerator: &str) -> Option<u64> {
        self.enum_members(enum_name)?
            .into_iter()
            .find(|(n, _)| n == enumerator)
            .map(|(_, v)| v)
    }

    /// Every enumerator of the named enum, in declaration order.
    pub fn enum_members(&self, enum_name: &str) -> Option<Vec<(String, u64)>> {
        let types = self.btf.resolve_types_by_name(enum_name).ok()?;
        types.into_iter().find_map(|t| match t {
            Type::Enum(e) => Some(
                e.members
                    .iter()
                    .map(|m| (self.btf.resolve_name(m).unwrap_or_default(), m.val() as u64))
                    .collect(),
            ),
            Type::Enum64(e) => Some(
                e.members
                    .iter()
                    .map(|m| (self.btf.resolve_name(m).unwrap_or_default(), m.val()))
                    .collect(),
            ),
            _ => None,
        })
    }

    /// Bytes of a type, through typedefs and qualifiers.
    fn type_size(&self, t: Type) -> Option<u32> {
        Some(match self.strip(t) {
            Type::Int(i) => i.size() as u32,
            // BTF has no pointer size: the kernel's is this build's.
            Type::Ptr(_) => oomtrace_core::kernel::arch::Arch::this().pointer_bits / 8,
            Type::Struct(s) | Type::Union(s) => s.size() as u32,
            Type::Enum(e) => e.size() as u32,
            Type::Array(a) => {
                a.len() as u32 * self.type_size(self.btf.resolve_chained_type(&a).ok()?)?
            }
            _ => return None,
        })
    }

    /// `struct_name.field` as an array: (offset, element size, length).
    pub fn array(&self, struct_name: &str, fields: &[&str]) -> Option<(u32, u32, u32)> {
        let s = self.named_struct(struct_name)?;
        let (off, ty) = fields.iter().find_map(|f| self.find_member(&s, f))?;
        let Type::Array(a) = self.strip(ty) else {
            return None;
        };
        let elem = self.type_size(self.btf.resolve_chained_type(&a).ok()?)?;
        Some((off, elem, a.len() as u32))
    }

    /// Every BTF field of a table of `oomtrace_common` (`BTF_FIELDS`),
    /// resolved; the ones this kernel lacks stay `ABSENT`.
    fn resolve_table(&self, table: &[(&str, &str, &[&str])], mut set: impl FnMut(&str, u32)) {
        for (field, strukt, members) in table {
            if let Some(off) = self.offset(strukt, members) {
                set(field, off);
            }
        }
    }

    /// Where nodes, zones, buddy lists and memory cgroup counters are. The
    /// kallsyms addresses and online nodes are the planner's to add.
    pub fn mem_layout(&self) -> MemLayout {
        let mut l = MemLayout::unplanned();
        self.resolve_table(MemLayout::BTF_FIELDS, |f, v| {
            if let Some(slot) = l.btf_field_mut(f) {
                *slot = v;
            }
        });
        let count = |e: &str, last: &str| self.enum_value(e, last).map_or(ABSENT, |v| v as u32);
        (l.pgdat_node_zones, l.zone_size, l.nr_zones) = self
            .array("pglist_data", &["node_zones"])
            .unwrap_or((ABSENT, ABSENT, ABSENT));
        (l.zone_free_area, l.free_area_size, l.nr_orders) = self
            .array("zone", &["free_area"])
            .unwrap_or((ABSENT, ABSENT, ABSENT));
        l.migrate_types = self
            .array("free_area", &["free_list"])
            .map_or(ABSENT, |(_, _, n)| n);
        l.node_stat_items = count("node_stat_item", "NR_VM_NODE_STAT_ITEMS");
        l.zone_stat_items = count("zone_stat_item", "NR_VM_ZONE_STAT_ITEMS");
        l.memcg_max_events = self.memcg_max_events().unwrap_or(ABSENT);
        l
    }

    /// Where a kernel that keeps no failcnt in cgroup v2's page counters
    /// (`page_counter.track_failcnt`, not in 6.12, in 6.18) finds the one it prints in a
    /// memcg OOM's `memory:` line: `mem_cgroup.memory_events[MEMCG_MAX]`
    /// (mm/memcontrol.c, `mem_cgroup_print_oom_meminfo`). Whether memory is
    /// on cgroup v2 is the planner's to say.
    fn memcg_max_events(&self) -> Option<u32> {
        let counter = self.named_struct("page_counter")?;
        self.find_member(&counter, "track_failcnt")?;
        let (base, stride, _) = self.array("mem_cgroup", &["memory_events"])?;
        let max = self.enum_value("memcg_memory_event", "MEMCG_MAX")?;
        Some(base + stride * max as u32)
    }

    /// Names of an enum's counters, by value, up to its `NR_VM_*` end marker.
    pub fn counter_names(&self, enum_name: &str) -> Vec<String> {
        let mut members = self.enum_members(enum_name).unwrap_or_default();
        members.retain(|(n, _)| !n.starts_with("NR_VM_"));
        members.sort_by_key(|(_, v)| *v);
        // Aliases (`NR_LRU_BASE = NR_INACTIVE_ANON`) name the same slot: keep the last.
        let mut names: Vec<String> = Vec::new();
        for (n, v) in members {
            let v = v as usize;
            if v < names.len() {
                names[v] = n;
            } else if v == names.len() {
                names.push(n);
            }
        }
        names
    }

    /// Zone names by `enum zone_type` value, as `zone_names[]` in
    /// mm/page_alloc.c spells them.
    pub fn zone_names(&self) -> Vec<String> {
        let mut members = self.enum_members("zone_type").unwrap_or_default();
        members.retain(|(n, _)| n.starts_with("ZONE_"));
        members.sort_by_key(|(_, v)| *v);
        members
            .into_iter()
            .map(|(n, _)| match n.as_str() {
                "ZONE_DMA" => "DMA".to_owned(),
                "ZONE_DMA32" => "DMA32".to_owned(),
                "ZONE_NORMAL" => "Normal".to_owned(),
                "ZONE_HIGHMEM" => "HighMem".to_owned(),
                "ZONE_MOVABLE" => "Movable".to_owned(),
                "ZONE_DEVICE" => "Device".to_owned(),
                other => other.trim_start_matches("ZONE_").to_owned(),
            })
            .collect()
    }

    /// `enum migratetype` names by value (`MIGRATE_PCPTYPES` is an alias).
    pub fn migrate_type_names(&self) -> Vec<String> {
        let mut members = self.enum_members("migratetype").unwrap_or_default();
        members.retain(|(n, _)| {
            n != "MIGRATE_PCPTYPES" && n != "MIGRATE_TYPES" && !n.starts_with("__")
        });
        members.sort_by_key(|(_, v)| *v);
        members.dedup_by_key(|(_, v)| *v);
        members.into_iter().map(|(n, _)| n).collect()
    }

    /// How `mm->rss_stat` is laid out: (offset, stride between counters,
    /// offset of the count in one entry). Before 6.2 it is
    /// `struct mm_rss_stat { atomic_long_t count[NR_MM_COUNTERS]; }`; since,
    /// `struct percpu_counter rss_stat[NR_MM_COUNTERS]`, whose `count` is the
    /// value `get_mm_counter()` reports.
    fn rss_stat_layout(&self) -> Option<(u32, u32, u32)> {
        let mm = self.named_struct("mm_struct")?;
        let (base, ty) = self.find_member(&mm, "rss_stat")?;
        match self.strip(ty) {
            Type::Array(a) => {
                let elem = self.strip(self.btf.resolve_chained_type(&a).ok()?);
                match elem {
                    Type::Struct(pc) if self.find_member(&pc, "count").is_some() => {
                        let (count, _) = self.find_member(&pc, "count")?;
                        Some((base, pc.size() as u32, count))
                    }
                    // A plain array of atomic_long_t (a struct of one long).
                    other => Some((base, self.type_size(other)?, 0)),
                }
            }
            Type::Struct(s) => {
                let (count, ty) = self.find_member(&s, "count")?;
                let Type::Array(a) = self.strip(ty) else {
                    return None;
                };
                let long = self.type_size(self.btf.resolve_chained_type(&a).ok()?)?;
                Some((base + count, long, 0))
            }
            _ => None,
        }
    }

    /// `percpu_counter.counters` in an entry of `mm->rss_stat` (6.2+, SMP
    /// kernels): where each CPU's part of a counter is.
    fn rss_stat_percpu(&self) -> Option<u32> {
        let mm = self.named_struct("mm_struct")?;
        let (_, ty) = self.find_member(&mm, "rss_stat")?;
        let Type::Array(a) = self.strip(ty) else {
            return None;
        };
        let Type::Struct(pc) = self.strip(self.btf.resolve_chained_type(&a).ok()?) else {
            return None;
        };
        self.find_member(&pc, "counters").map(|(off, _)| off)
    }

    /// `task_struct.rss_stat.count` (only kernels before 6.2 have it).
    fn task_rss_cache(&self) -> Option<u32> {
        let task = self.named_struct("task_struct")?;
        let (base, ty) = self.find_member(&task, "rss_stat")?;
        let Type::Struct(s) = self.strip(ty) else {
            return None;
        };
        let (count, _) = self.find_member(&s, "count")?;
        Some(base + count)
    }

    /// Every offset the BPF programs use. Missing ones stay `ABSENT`.
    pub fn kernel_offsets(&self, page_shift: u32) -> KernelOffsets {
        let mut off = KernelOffsets::unplanned();
        self.resolve_table(KernelOffsets::BTF_FIELDS, |f, v| {
            if let Some(slot) = off.btf_field_mut(f) {
                *slot = v;
            }
        });
        (off.mm_rss_stat, off.mm_rss_stride, off.mm_rss_count) =
            self.rss_stat_layout().unwrap_or((ABSENT, ABSENT, ABSENT));
        off.mm_rss_percpu = self.rss_stat_percpu().unwrap_or(ABSENT);
        off.task_rss_cache = self.task_rss_cache().unwrap_or(ABSENT);
        off.memory_cgrp_id = self
            .enum_value("cgroup_subsys_id", "memory_cgrp_id")
            .map_or(ABSENT, |v| v as u32);
        off.page_shift = page_shift;
        off
    }
}

/// Facts only some kernels have, by design: the per-thread rss cache went
/// in 6.2, `nr_free_highatomic` came in 6.14; the per-CPU parts of rss are
/// read only where the kernel prints their sum (and `nr_cpus` with them),
/// the memcg's `MEMCG_MAX` events only where it prints them as failcnt.
const ERA_ONLY: [&str; 5] = [
    "task_rss_cache",
    "nr_free_highatomic",
    "mm_rss_percpu",
    "nr_cpus",
    "memcg_max_events",
];

/// From 7.0 (Linux commit "mm: Fix OOM killer inaccuracy on large many-core
/// systems") the OOM killer reads a task's rss as the exact sum of each
/// CPU's part (`get_mm_counter_sum`): in the `Killed process` line, the task
/// dump, the reaper's line and the badness score. Before, the central count
/// alone (`get_mm_counter`), from which each CPU's part may be up to
/// `percpu_counter_batch` (the larger of 32 and twice the CPUs) pages apart;
/// that is still what 7.2's `oom:mark_victim` tracepoint carries.
pub const RSS_SUMMED_SINCE: (u32, u32) = (7, 0);

/// `struct.member` of what a table of facts lacks on this kernel, for `check`
/// and the start-up notice.
pub fn absent<'a>(facts: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    facts
        .filter(|(_, m)| !ERA_ONLY.contains(m))
        .map(|(s, m)| {
            if s.is_empty() {
                m.to_owned()
            } else {
                format!("{s}.{m}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolution against the running kernel's BTF: every offset the OOM
    /// path needs exists on the kernels oomtrace supports (5.8+).
    #[test]
    fn resolves_this_kernels_offsets() {
        if !Path::new(VMLINUX).exists() {
            panic!("{VMLINUX} is missing: oomtrace needs a kernel with CONFIG_DEBUG_INFO_BTF");
        }
        let types = KernelTypes::load().unwrap();
        let off = types.kernel_offsets(12);
        assert_eq!(absent(off.absent()), Vec::<String>::new());
        assert_eq!(absent(types.mem_layout().absent()), Vec::<String>::new());
        // Facts that hold on every kernel since oom_control exists.
        assert_eq!(off.oc_zonelist, 0, "zonelist is oom_control's first field");
        assert_eq!(off.memcg_css, 0, "css is mem_cgroup's first field");
        assert!(off.task_comm > off.task_pid);
        let long = oomtrace_core::kernel::arch::Arch::this().pointer_bits / 8;
        assert!(off.mm_rss_stride == long || off.mm_rss_stride >= 16);
        let constraints = types.enum_members("oom_constraint").unwrap();
        assert_eq!(constraints[0], ("CONSTRAINT_NONE".to_owned(), 0));
        assert!(constraints.iter().any(|(n, _)| n == "CONSTRAINT_MEMCG"));
    }
}

/// The running kernel's build ID: the GNU build-id note of
/// `/sys/kernel/notes`, as `readelf -n vmlinux` shows it (hex).
pub fn running_build_id() -> Option<String> {
    bound::build_id_of_notes(&std::fs::read("/sys/kernel/notes").ok()?)
}

/// A BTF file bound to the kernel build it describes: `oomtrace btf` writes
/// [`bound::MAGIC`], a JSON line with the build ID, then the raw BTF; a
/// vmlinux with a `.BTF` section carries its own build-id note. `--btf`
/// refuses either of another build. A raw BTF file (pahole's) names no
/// build: it is taken with a warning.
pub mod bound {
    use anyhow::{Result, bail};
    use std::path::Path;

    pub const MAGIC: &[u8] = b"OOMTRACE-BTF 1\n";

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Eq)]
    pub struct Header {
        /// The GNU build ID of the vmlinux it was made from, hex.
        pub build_id: String,
        /// That vmlinux's `Linux version ...` banner, where it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub release: Option<String>,
    }

    /// A GNU build-id note (type 3, name "GNU") among ELF notes, as hex.
    pub fn build_id_of_notes(notes: &[u8]) -> Option<String> {
        let mut at = 0;
        let word = |o: usize| -> Option<usize> {
            Some(u32::from_ne_bytes(notes.get(o..o + 4)?.try_into().ok()?) as usize)
        };
        let pad = |n: usize| n.div_ceil(4) * 4;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) = (word(at)?, word(at + 4)?, word(at + 8)?);
            let name = notes.get(at + 12..at + 12 + namesz)?;
            let desc_at = at + 12 + pad(namesz);
            let desc = notes.get(desc_at..desc_at + descsz)?;
            if kind == 3 && name == b"GNU\0" {
                return Some(hex(desc));
            }
            at = desc_at + pad(descsz);
        }
        None
    }

    pub fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// A file as `oomtrace btf` writes it.
    pub fn write(header: &Header, btf: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(serde_json::to_vec(header).unwrap_or_default());
        out.push(b'\n');
        out.extend_from_slice(btf);
        out
    }

    /// The raw BTF of a `--btf` file, once its build is this kernel's.
    /// `running`: this kernel's build ID, where /sys/kernel/notes has one.
    pub fn unwrap(path: &Path, bytes: Vec<u8>, running: Option<&str>) -> Result<Vec<u8>> {
        let shown = path.display();
        let (id, btf) = if let Some(rest) = bytes.strip_prefix(MAGIC) {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                bail!("{shown}: an oomtrace BTF file without its header line");
            };
            let h: Header = serde_json::from_slice(&rest[..nl])
                .map_err(|e| anyhow::anyhow!("{shown}: its header line: {e}"))?;
            (h.build_id, rest[nl + 1..].to_vec())
        } else if bytes.starts_with(b"\x7fELF") {
            use object::{Object, ObjectSection};
            let file = object::File::parse(&*bytes)
                .map_err(|e| anyhow::anyhow!("{shown}: not an ELF file oomtrace can read: {e}"))?;
            let Some(section) = file.section_by_name(".BTF") else {
                bail!(
                    "{shown}: a vmlinux without a .BTF section: make a BTF file from it with \
                     `oomtrace btf --vmlinux {shown} -o FILE` (pahole reads its DWARF)"
                );
            };
            let btf = section
                .data()
                .map_err(|e| anyhow::anyhow!("{shown}: its .BTF section: {e}"))?
                .to_vec();
            let id = file.build_id().ok().flatten().map(hex).unwrap_or_default();
            (id, btf)
        } else {
            eprintln!(
                "oomtrace: {shown} names no kernel build (pahole's raw BTF): it cannot be checked \
                 against this kernel, and a BTF of another build gives wrong numbers; \
                 `oomtrace btf --vmlinux VMLINUX -o FILE` makes one that can"
            );
            return Ok(bytes);
        };
        match running {
            Some(r) if !id.is_empty() && r != id => bail!(
                "{shown} is of another kernel build (build ID {id}; this kernel's, in \
                 /sys/kernel/notes, is {r}): its offsets would give wrong numbers; make one \
                 from this kernel's own debug vmlinux"
            ),
            None => eprintln!(
                "oomtrace: this kernel has no build ID in /sys/kernel/notes: {shown} cannot be \
                 checked against it"
            ),
            _ => {}
        }
        Ok(btf)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// One note as the kernel lays it out.
        fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
            let mut v = Vec::new();
            v.extend((name.len() as u32).to_ne_bytes());
            v.extend((desc.len() as u32).to_ne_bytes());
            v.extend(kind.to_ne_bytes());
            v.extend(name);
            v.resize(v.len().div_ceil(4) * 4, 0);
            v.extend(desc);
            v.resize(v.len().div_ceil(4) * 4, 0);
            v
        }

        #[test]
        fn the_build_id_is_found_among_other_notes() {
            let mut notes = note(b"Xen\0", 6, b"abcd");
            notes.extend(note(b"GNU\0", 3, &[0x24, 0x01, 0x38, 0xff]));
            notes.extend(note(b"Linux\0", 0x100, &[1, 1, 0, 0]));
            assert_eq!(build_id_of_notes(&notes).as_deref(), Some("240138ff"));
            assert_eq!(build_id_of_notes(&note(b"Linux\0", 3, b"xx")), None);
            assert_eq!(build_id_of_notes(&notes[..5]), None);
        }

        #[test]
        fn a_file_of_another_build_is_refused_in_one_sentence() {
            let path = Path::new("k.btf");
            let h = Header {
                build_id: "aa".into(),
                release: None,
            };
            let file = write(&h, b"BTFBYTES");
            assert_eq!(unwrap(path, file.clone(), Some("aa")).unwrap(), b"BTFBYTES");
            let e = unwrap(path, file, Some("bb")).unwrap_err().to_string();
            assert!(
                e.starts_with("k.btf is of another kernel build (build ID aa; this kernel's"),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1);
            // pahole's raw BTF: taken, with a warning.
            assert_eq!(
                unwrap(path, b"\x9f\xeb".to_vec(), Some("bb")).unwrap(),
                b"\x9f\xeb"
            );
        }
    }
}
