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

    /// Bytes of a type, through typedefs and qualifiers.
    fn type_size(&self, t: Type) -> Option<u32> {
        Some(match self.strip(t) {
            Type::Int(i) => i.size() as u32,
            Type::Ptr(_) => 8,
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

    /// Where nodes, zones, buddy lists and memory cgroup counters are. The
    /// kallsyms addresses and online nodes are the planner's to add.
    pub fn mem_layout(&self) -> MemLayout {
        let o = |s: &str, f: &[&str]| self.offset(s, f).unwrap_or(ABSENT);
        let count = |e: &str, last: &str| self.enum_value(e, last).map_or(ABSENT, |v| v as u32);
        let (node_zones, zone_size, nr_zones) = self
            .array("pglist_data", &["node_zones"])
            .unwrap_or((ABSENT, ABSENT, ABSENT));
        let (free_area, area_size, nr_orders) = self
            .array("zone", &["free_area"])
            .unwrap_or((ABSENT, ABSENT, ABSENT));
        let migrate_types = self
            .array("free_area", &["free_list"])
            .map_or(ABSENT, |(_, _, n)| n);
        MemLayout {
            pgdat_node_zones: node_zones,
            nr_zones,
            pgdat_vm_stat: o("pglist_data", &["vm_stat"]),
            pgdat_kswapd_failures: o("pglist_data", &["kswapd_failures"]),
            zone_size,
            // `watermark[]` became `_watermark[]` when boosting came (5.0).
            zone_watermark: o("zone", &["_watermark", "watermark"]),
            zone_watermark_boost: o("zone", &["watermark_boost"]),
            zone_reserved_highatomic: o("zone", &["nr_reserved_highatomic"]),
            zone_lowmem_reserve: o("zone", &["lowmem_reserve"]),
            zone_managed: o("zone", &["managed_pages"]),
            zone_present: o("zone", &["present_pages"]),
            zone_free_area: free_area,
            zone_vm_stat: o("zone", &["vm_stat"]),
            free_area_size: area_size,
            free_area_nr_free: o("free_area", &["nr_free"]),
            nr_orders,
            migrate_types,
            node_stat_items: count("node_stat_item", "NR_VM_NODE_STAT_ITEMS"),
            zone_stat_items: count("zone_stat_item", "NR_VM_ZONE_STAT_ITEMS"),
            memcg_memory: o("mem_cgroup", &["memory"]),
            counter_usage: o("page_counter", &["usage"]),
            counter_max: o("page_counter", &["max", "limit"]),
            counter_failcnt: o("page_counter", &["failcnt"]),
            counter_parent: o("page_counter", &["parent"]),
            memcg_nodeinfo: o("mem_cgroup", &["nodeinfo"]),
            memcg_node_lruvec: o("mem_cgroup_per_node", &["lruvec"]),
            lruvec_pgdat: o("lruvec", &["pgdat"]),
            ..MemLayout::unplanned()
        }
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
