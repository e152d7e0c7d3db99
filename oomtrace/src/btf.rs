//! The kernel's own type information (`/sys/kernel/btf/vmlinux`): struct
//! field offsets and enum values, so no offset is compiled into oomtrace.

use anyhow::{Context, Result};
use btf_rs::{Btf, Type};
use oomtrace_common::{ABSENT, KernelOffsets};
use std::path::Path;

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

pub struct KernelTypes {
    btf: Btf,
}

impl KernelTypes {
    pub fn load() -> Result<Self> {
        Self::load_from(Path::new(VMLINUX))
    }

    pub fn load_from(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let btf = Btf::from_bytes(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: not valid BTF: {e}", path.display()))?;
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
                    Type::Struct(pc) => {
                        let (count, _) = self.find_member(&pc, "count")?;
                        Some((base, pc.size() as u32, count))
                    }
                    // A plain array of atomic_long_t.
                    _ => Some((base, 8, 0)),
                }
            }
            Type::Struct(s) => {
                let (count, _) = self.find_member(&s, "count")?;
                Some((base + count, 8, 0))
            }
            _ => None,
        }
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
        let o = |s: &str, f: &[&str]| self.offset(s, f).unwrap_or(ABSENT);
        let (rss, stride, count) = self.rss_stat_layout().unwrap_or((ABSENT, ABSENT, ABSENT));
        let memory_cgrp_id = self
            .enum_value("cgroup_subsys_id", "memory_cgrp_id")
            .map_or(ABSENT, |v| v as u32);
        KernelOffsets {
            oc_zonelist: o("oom_control", &["zonelist"]),
            oc_nodemask: o("oom_control", &["nodemask"]),
            oc_memcg: o("oom_control", &["memcg"]),
            oc_gfp_mask: o("oom_control", &["gfp_mask"]),
            oc_order: o("oom_control", &["order"]),
            oc_totalpages: o("oom_control", &["totalpages"]),
            oc_chosen: o("oom_control", &["chosen"]),
            oc_chosen_points: o("oom_control", &["chosen_points"]),
            oc_constraint: o("oom_control", &["constraint"]),
            task_pid: o("task_struct", &["pid"]),
            task_tgid: o("task_struct", &["tgid"]),
            task_comm: o("task_struct", &["comm"]),
            task_signal: o("task_struct", &["signal"]),
            task_cgroups: o("task_struct", &["cgroups"]),
            task_mm: o("task_struct", &["mm"]),
            // task_uid() reads the objective credentials.
            task_cred: o("task_struct", &["real_cred"]),
            signal_oom_score_adj: o("signal_struct", &["oom_score_adj"]),
            cred_uid: o("cred", &["uid"]),
            css_set_subsys: o("css_set", &["subsys"]),
            memory_cgrp_id,
            css_cgroup: o("cgroup_subsys_state", &["cgroup"]),
            cgroup_kn: o("cgroup", &["kn"]),
            kn_name: o("kernfs_node", &["name"]),
            kn_parent: o("kernfs_node", &["__parent", "parent"]),
            mm_total_vm: o("mm_struct", &["total_vm"]),
            mm_rss_stat: rss,
            mm_rss_stride: stride,
            mm_rss_count: count,
            mm_pgtables_bytes: o("mm_struct", &["pgtables_bytes"]),
            task_rss_cache: self.task_rss_cache().unwrap_or(ABSENT),
            // `enum mm_counter` is anonymous in BTF (no name to look up); its
            // values have been these since 2.6.34.
            mm_filepages: 0,
            mm_anonpages: 1,
            mm_shmempages: 3,
            memcg_css: o("mem_cgroup", &["css"]),
            page_shift,
        }
    }
}

/// Names of the offsets a kernel lacks, for `check` and the start-up notice.
pub fn absent_offsets(off: &KernelOffsets) -> Vec<&'static str> {
    let all: [(&'static str, u32); 26] = [
        ("oom_control.nodemask", off.oc_nodemask),
        ("oom_control.memcg", off.oc_memcg),
        ("oom_control.gfp_mask", off.oc_gfp_mask),
        ("oom_control.order", off.oc_order),
        ("oom_control.totalpages", off.oc_totalpages),
        ("oom_control.chosen", off.oc_chosen),
        ("oom_control.chosen_points", off.oc_chosen_points),
        ("oom_control.constraint", off.oc_constraint),
        ("task_struct.pid", off.task_pid),
        ("task_struct.tgid", off.task_tgid),
        ("task_struct.comm", off.task_comm),
        ("task_struct.signal", off.task_signal),
        ("task_struct.cgroups", off.task_cgroups),
        ("task_struct.mm", off.task_mm),
        ("task_struct.real_cred", off.task_cred),
        ("signal_struct.oom_score_adj", off.signal_oom_score_adj),
        ("cred.uid", off.cred_uid),
        ("css_set.subsys", off.css_set_subsys),
        ("memory_cgrp_id", off.memory_cgrp_id),
        ("cgroup_subsys_state.cgroup", off.css_cgroup),
        ("cgroup.kn", off.cgroup_kn),
        ("kernfs_node.name", off.kn_name),
        ("kernfs_node.parent", off.kn_parent),
        ("mm_struct.total_vm", off.mm_total_vm),
        ("mm_struct.rss_stat", off.mm_rss_stat),
        ("mm_struct.pgtables_bytes", off.mm_pgtables_bytes),
    ];
    all.iter()
        .filter(|(_, v)| *v == ABSENT)
        .map(|(n, _)| *n)
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
        assert_eq!(absent_offsets(&off), Vec::<&str>::new());
        // Facts that hold on every kernel since oom_control exists.
        assert_eq!(off.oc_zonelist, 0, "zonelist is oom_control's first field");
        assert_eq!(off.memcg_css, 0, "css is mem_cgroup's first field");
        assert!(off.task_comm > off.task_pid);
        assert!(off.mm_rss_stride == 8 || off.mm_rss_stride >= 16);
        let constraints = types.enum_members("oom_constraint").unwrap();
        assert_eq!(constraints[0], ("CONSTRAINT_NONE".to_owned(), 0));
        assert!(constraints.iter().any(|(n, _)| n == "CONSTRAINT_MEMCG"));
    }
}
