//! Turns the kernel side's per-node `MemStateRecord`s into the event's
//! counters, nodes and zones, named by the running kernel's enums.

use crate::schema::event::{
    CounterMap, Counters, MemcgMemory, MemoryAt, MemoryPath, MemoryRead, Node, Zone,
};
use compact_str::{CompactString, format_compact};
use oomtrace_common::*;

/// The names userspace puts on the kernel's counters and free lists, and the
/// layout it takes zones apart with: learned by the planner from BTF.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MemNames {
    /// `enum node_stat_item` by value.
    pub node: Vec<String>,
    /// `enum zone_stat_item` by value.
    pub zone: Vec<String>,
    /// `enum migratetype` by value.
    pub migrate: Vec<String>,
    pub page_shift: u32,
    /// log2 of the largest single charge (a PMD-sized THP).
    #[serde(default)]
    pub pmd_shift: u32,
    /// `enum zone_type` as the kernel names zones ("DMA32", "Normal").
    pub zones: Vec<String>,
    /// Where each field of a zone is in the raw copy of `node_zones[]`.
    #[serde(with = "pod_bytes")]
    pub layout: MemLayout,
}

/// `#[repr(C)]` integer structs of oomtrace-common as their bytes, for the
/// plan cache (same binary, same boot: the same layout).
pub mod pod_bytes {
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

/// `MAX_RECLAIM_RETRIES`: kswapd gives a node up after this many failures.
const MAX_RECLAIM_RETRIES: u32 = 16;

/// What the event carries about memory.
#[derive(Default)]
pub struct MemoryState {
    pub counters: Option<Counters>,
    pub nodes: Option<Vec<Node>>,
    pub zones: Option<Vec<Zone>>,
    pub read: Option<MemoryRead>,
}

/// The counters by name, as the kernel reads them: `global_node_page_state`,
/// `node_page_state` and `zone_page_state` say 0 for an atomic that per-CPU
/// deltas not yet folded in left below zero (SMP kernels; seen:
/// NR_WRITEBACK at -20), and so does its report.
fn named(names: &[String], values: &[i64]) -> CounterMap {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.as_str().into(), (*v).max(0)))
        .collect()
}

/// The kernel's migrate-type letters (`show_migration_types`).
fn migrate_letter(name: &str) -> char {
    match name {
        "MIGRATE_UNMOVABLE" => 'U',
        "MIGRATE_MOVABLE" => 'M',
        "MIGRATE_RECLAIMABLE" => 'E',
        "MIGRATE_HIGHATOMIC" => 'H',
        "MIGRATE_CMA" => 'C',
        "MIGRATE_ISOLATE" => 'I',
        _ => '?',
    }
}

/// Bytes of the kernel's `long` and pointers (the BPF object copies them
/// at this width: the kernel is this build's architecture).
const LONG: usize = (crate::kernel::arch::Arch::this().pointer_bits / 8) as usize;

/// Reads integers out of a raw copy at BTF offsets; `None` past its end or
/// for a field this kernel lacks.
struct Raw<'a> {
    bytes: &'a [u8],
    /// Bytes of a `long`.
    long: usize,
}

impl Raw<'_> {
    /// An `unsigned long` or pointer.
    fn ulong_at(&self, base: usize, off: u32) -> Option<u64> {
        if off == ABSENT {
            return None;
        }
        let at = base + off as usize;
        let b = self.bytes.get(at..at + self.long)?;
        Some(match self.long {
            4 => u64::from(u32::from_le_bytes(b.try_into().ok()?)),
            _ => u64::from_le_bytes(b.try_into().ok()?),
        })
    }

    /// `n` `long`s (`atomic_long_t`), sign-extended.
    fn longs(&self, base: usize, off: u32, n: usize) -> Vec<i64> {
        (0..n)
            .map_while(|i| {
                let v = self.ulong_at(base + i * self.long, off)?;
                Some(match self.long {
                    4 => v as u32 as i32 as i64,
                    _ => v as i64,
                })
            })
            .collect()
    }
}

/// The `atomic_long_t` counters the kernel side copied as they are into
/// an array of 8-byte slots (on a 32-bit kernel, two to a slot).
fn counters(slots: &[i64], n: usize, long: usize) -> Vec<i64> {
    let bytes: Vec<u8> = slots.iter().flat_map(|v| v.to_le_bytes()).collect();
    Raw {
        bytes: &bytes,
        long,
    }
    .longs(0, 0, n)
}

/// Zone `index` of a node's raw `node_zones[]`, or `None` when it is not
/// populated (no present pages: the kernel does not print it either).
fn zone(
    node: u32,
    index: usize,
    r: &MemStateRecord,
    names: &MemNames,
    long: usize,
) -> Option<Zone> {
    let l = &names.layout;
    let raw = Raw {
        bytes: &r.zones_raw[..(r.zones_len as usize).min(ZONES_RAW_MAX)],
        long,
    };
    let base = index * l.zone_size as usize;
    let present = raw.ulong_at(base, l.zone_present)?;
    if present == 0 {
        return None;
    }
    let kb = |pages: u64| pages << names.page_shift.saturating_sub(10);
    let stats = named(
        &names.zone,
        &raw.longs(base, l.zone_vm_stat, names.zone.len()),
    );
    let zone_addr = r.zones_addr + base as u64;
    let mut free_area = Vec::new();
    let mut free_types = Vec::new();
    let orders = if l.zone_free_area == ABSENT || l.free_area_size == ABSENT {
        0
    } else {
        l.nr_orders.min(32) as usize
    };
    for order in 0..orders {
        let area_off = l.zone_free_area + (order as u32) * l.free_area_size;
        let Some(nr_free) = raw.ulong_at(base, area_off.saturating_add(l.free_area_nr_free)) else {
            break;
        };
        // A `free_list[t]` head (two pointers) that does not point at itself
        // has blocks.
        let area_addr = zone_addr + area_off as u64;
        let list_head = 2 * long as u32;
        let letters: String = names
            .migrate
            .iter()
            .enumerate()
            .filter(|(t, _)| {
                nr_free > 0
                    && raw
                        .ulong_at(base, area_off + list_head * *t as u32)
                        .is_some_and(|next| next != area_addr + u64::from(list_head * *t as u32))
            })
            .map(|(_, n)| migrate_letter(n))
            .collect();
        free_area.push(nr_free);
        free_types.push(CompactString::from(letters));
    }
    // The watermarks as the kernel uses and prints them:
    // `min_wmark_pages(z)` is `_watermark[WMARK_MIN] + watermark_boost`.
    let boost = raw.ulong_at(base, l.zone_watermark_boost).unwrap_or(0);
    let w = |i: u32| {
        (l.zone_watermark != ABSENT)
            .then(|| {
                raw.ulong_at(base, l.zone_watermark + long as u32 * i)
                    .map(|pages| kb(pages + boost))
            })
            .flatten()
    };
    Some(Zone {
        node,
        zone: names
            .zones
            .get(index)
            .map_or_else(|| format_compact!("zone{index}"), |n| n.as_str().into()),
        free_kb: stats.get("NR_FREE_PAGES").map(|&p| kb(p.max(0) as u64)),
        min_kb: w(0),
        low_kb: w(1),
        high_kb: w(2),
        free_area,
        boost_kb: raw.ulong_at(base, l.zone_watermark_boost).map(kb),
        reserved_highatomic_kb: raw.ulong_at(base, l.zone_reserved_highatomic).map(kb),
        free_highatomic_kb: raw.ulong_at(base, l.zone_free_highatomic).map(kb),
        present_kb: Some(kb(present)),
        managed_kb: raw.ulong_at(base, l.zone_managed).map(kb),
        lowmem_reserve: raw.longs(base, l.zone_lowmem_reserve, l.nr_zones as usize),
        free_types,
        counters: stats,
        ..Zone::default()
    })
}

/// Assembles the records of one reading (one per node). Records read at
/// `show_free_areas` win over those read at `mark_victim`.
pub fn assemble(records: &[MemStateRecord], names: &MemNames) -> MemoryState {
    assemble_at(records, names, LONG)
}

/// [`assemble`] for a kernel whose `long` is `long` bytes.
fn assemble_at(records: &[MemStateRecord], names: &MemNames, long: usize) -> MemoryState {
    let at_sfa = RecordKind::ShowFreeAreas as u32;
    let chosen_at = if records.iter().any(|r| r.at == at_sfa) {
        at_sfa
    } else {
        RecordKind::MarkVictim as u32
    };
    let mut records: Vec<&MemStateRecord> = records.iter().filter(|r| r.at == chosen_at).collect();
    records.sort_by_key(|r| r.node);
    records.dedup_by_key(|r| r.node);
    let Some(first) = records.first() else {
        return MemoryState::default();
    };
    let node_items = names.node.len().min(MAX_NODE_STATS);
    let zone_items = names.zone.len().min(MAX_ZONE_STATS);
    let mut nodes = Vec::new();
    let mut zones = Vec::new();
    let mut node_sum = vec![0i64; node_items];
    let mut zone_sum = vec![0i64; zone_items];
    for r in &records {
        if r.valid & MEM_NODE != 0 {
            let node_stat = counters(&r.node_stat, node_items, long);
            for (s, v) in node_sum.iter_mut().zip(&node_stat) {
                *s += v;
            }
            nodes.push(Node {
                node: r.node,
                counters: named(&names.node[..node_items], &node_stat),
                all_unreclaimable: Some(r.kswapd_failures >= MAX_RECLAIM_RETRIES),
            });
        }
        let nr_zones = if names.layout.zone_size == ABSENT {
            0
        } else {
            names.layout.nr_zones as usize
        };
        for z in (0..nr_zones).filter_map(|i| zone(r.node, i, r, names, long)) {
            for (s, v) in zone_sum.iter_mut().zip(z.counters.values()) {
                *s += v;
            }
            zones.push(z);
        }
    }
    // The global arrays are the sums of the per-node and per-zone ones (the
    // kernel adds every delta to both); read directly where kallsyms allows.
    let counters = if first.valid & MEM_GLOBAL != 0 {
        Counters {
            node: named(
                &names.node[..node_items],
                &counters(&first.global_node_stat, node_items, long),
            ),
            zone: named(
                &names.zone[..zone_items],
                &counters(&first.global_zone_stat, zone_items, long),
            ),
            free_pcp: None,
        }
    } else {
        Counters {
            node: named(&names.node[..node_items], &node_sum),
            zone: named(&names.zone[..zone_items], &zone_sum),
            free_pcp: None,
        }
    };
    let at = if chosen_at == at_sfa {
        MemoryAt::ShowFreeAreas
    } else {
        MemoryAt::MarkVictim
    };
    MemoryState {
        counters: (!nodes.is_empty() || first.valid & MEM_GLOBAL != 0).then_some(counters),
        nodes: (!nodes.is_empty()).then_some(nodes),
        zones: (!zones.is_empty()).then_some(zones),
        read: Some(MemoryRead {
            at,
            path: match first.path {
                MEM_PATH_KALLSYMS => MemoryPath::Kallsyms,
                MEM_PATH_MEMCG => MemoryPath::Memcg,
                _ => MemoryPath::Unknown,
            },
            page_kb: 1 << names.page_shift.saturating_sub(10),
            sampled_after_ns: None,
            numa: None,
        }),
    }
}

/// A page counter in kB, as `mem_cgroup_print_oom_meminfo` prints it.
pub fn memcg_memory(c: &MemcgCounters, page_shift: u32) -> MemcgMemory {
    let kb = |pages: u64| pages.saturating_mul(1 << page_shift.saturating_sub(10));
    MemcgMemory {
        usage_kb: kb(c.usage),
        limit_kb: kb(c.max),
        failcnt: c.failcnt,
    }
}

/// Tracepoint mode: which level of the trigger's memory cgroup chain (leaf
/// first) ran out. The charge that failed was at most a PMD-sized THP
/// (`1 << pmd_shift` bytes), so the domain is the nearest level within that
/// of its limit.
pub fn oom_domain_level(chain: &[MemcgCounters], page_shift: u32, pmd_shift: u32) -> Option<usize> {
    let largest_charge = 1u64 << pmd_shift.saturating_sub(page_shift).min(32);
    chain
        .iter()
        .position(|c| c.usage.saturating_add(largest_charge) > c.max)
}

/// `/proc/vmstat`'s name for a counter: the enum name in lower case, without
/// the unit suffix the kernel's `vmstat_text[]` drops (`NR_SLAB_RECLAIMABLE_B`
/// is `nr_slab_reclaimable`, `NR_KERNEL_STACK_KB` is `nr_kernel_stack`).
fn proc_names(enum_name: &str) -> [String; 2] {
    let lower = enum_name.to_ascii_lowercase();
    let bare = lower
        .strip_suffix("_kb")
        .or_else(|| lower.strip_suffix("_b"))
        .unwrap_or(&lower)
        .to_owned();
    [lower, bare]
}

fn by_proc_name(names: &[String], values: &std::collections::HashMap<String, i64>) -> CounterMap {
    names
        .iter()
        .filter_map(|n| {
            let v = proc_names(n).iter().find_map(|p| values.get(p).copied())?;
            Some((n.as_str().into(), v))
        })
        .collect()
}

/// Where the kernel side has no way to the nodes: the same state sampled
/// from /proc/vmstat, /proc/zoneinfo and /proc/buddyinfo when the event is
/// assembled, `delay_ns` after the OOM. Marked `at: "sampled"`, `path: "proc"`.
pub fn sample_proc(names: &MemNames, delay_ns: u64) -> MemoryState {
    use std::collections::HashMap;
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let pairs = |text: &str| -> HashMap<String, i64> {
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_owned(), w.next()?.parse().ok()?))
            })
            .collect()
    };
    let vmstat = pairs(&read("/proc/vmstat"));
    let page_kb = 1u64 << names.page_shift.saturating_sub(10);
    let kb = |pages: i64| pages.max(0) as u64 * page_kb;
    let buddy = read("/proc/buddyinfo");
    let mut zones = Vec::new();
    let mut nodes = Vec::new();
    // zoneinfo: "Node N, zone NAME" blocks; the first of each node also has
    // the node's "per-node stats".
    let zoneinfo = read("/proc/zoneinfo");
    let mut blocks: Vec<(u32, String, String)> = Vec::new();
    for line in zoneinfo.lines() {
        if let Some(rest) = line.strip_prefix("Node ")
            && let Some((node, zone)) = rest.split_once(", zone")
        {
            blocks.push((
                node.trim().parse().unwrap_or(0),
                zone.trim().to_owned(),
                String::new(),
            ));
        } else if let Some((_, _, body)) = blocks.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    // Without BTF (kernel-log mode) the counters' enum names are unknown:
    // zoneinfo's own names, upper-cased, stand for them (`nr_free_pages`
    // is `NR_FREE_PAGES`; the few the kernel renamed for /proc keep their
    // /proc name).
    let (node_names, zone_names) = if names.node.is_empty() {
        let upper = |part: &str| -> Vec<String> {
            pairs(part)
                .into_keys()
                .filter(|k| k.starts_with("nr_"))
                .map(|k| k.to_ascii_uppercase())
                .collect()
        };
        let first = blocks.iter().find(|b| b.2.contains("per-node stats"));
        let (n, z) = first
            .and_then(|b| b.2.split_once("  pages free"))
            .unwrap_or(("", ""));
        (upper(n), upper(z))
    } else {
        (names.node.clone(), names.zone.clone())
    };
    let names = &MemNames {
        node: node_names,
        zone: zone_names,
        ..names.clone()
    };
    for (node, zone, body) in &blocks {
        let (node_part, zone_part) = match body.split_once("  pages free") {
            Some((n, z)) => (n, format!("pages_free {z}")),
            None => ("", body.clone()),
        };
        if node_part.contains("per-node stats") {
            nodes.push(Node {
                node: *node,
                counters: by_proc_name(&names.node, &pairs(node_part)),
                all_unreclaimable: None,
            });
        }
        let v = pairs(&zone_part);
        if v.get("present").copied().unwrap_or(0) == 0 {
            continue;
        }
        let free_area = buddy
            .lines()
            .find(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.get(1).map(|n| n.trim_end_matches(',')) == Some(node.to_string().as_str())
                    && w.get(3) == Some(&zone.as_str())
            })
            .map(|l| {
                l.split_whitespace()
                    .skip(4)
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let lowmem_reserve = zone_part
            .lines()
            .find_map(|l| l.trim().strip_prefix("protection:"))
            .map(|p| {
                p.trim_matches([' ', '(', ')'])
                    .split(", ")
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let counters = by_proc_name(&names.zone, &v);
        zones.push(Zone {
            node: *node,
            zone: zone.as_str().into(),
            free_kb: counters.get("NR_FREE_PAGES").map(|&p| kb(p)),
            min_kb: v.get("min").map(|&p| kb(p)),
            low_kb: v.get("low").map(|&p| kb(p)),
            high_kb: v.get("high").map(|&p| kb(p)),
            free_area,
            boost_kb: v.get("boost").map(|&p| kb(p)),
            reserved_highatomic_kb: None,
            present_kb: v.get("present").map(|&p| kb(p)),
            managed_kb: v.get("managed").map(|&p| kb(p)),
            lowmem_reserve,
            free_types: Vec::new(),
            counters,
            ..Zone::default()
        });
    }
    MemoryState {
        counters: Some(Counters {
            node: by_proc_name(&names.node, &vmstat),
            zone: by_proc_name(&names.zone, &vmstat),
            free_pcp: None,
        }),
        nodes: (!nodes.is_empty()).then_some(nodes),
        zones: (!zones.is_empty()).then_some(zones),
        read: Some(MemoryRead {
            at: MemoryAt::Sampled,
            path: MemoryPath::Proc,
            page_kb,
            sampled_after_ns: Some(delay_ns),
            numa: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_is_the_nearest_level_at_its_limit() {
        let c = |usage, max| MemcgCounters {
            usage,
            max,
            failcnt: 0,
        };
        let unlimited = u64::MAX / 4096;
        // A leaf far from its limit under a parent at its limit.
        assert_eq!(
            oom_domain_level(&[c(100, 10_000), c(8191, 8192), c(9000, unlimited)], 12, 21),
            Some(1)
        );
        assert_eq!(
            oom_domain_level(&[c(8192, 8192), c(9000, unlimited)], 12, 21),
            Some(0)
        );
        assert_eq!(oom_domain_level(&[c(100, unlimited)], 12, 21), None);
        // A THP (512 pages) that fits exactly is charged: not at the limit.
        assert_eq!(oom_domain_level(&[c(8192 - 512, 8192)], 12, 21), None);
        assert_eq!(oom_domain_level(&[c(8192 - 511, 8192)], 12, 21), Some(0));
    }

    #[test]
    fn counters_go_by_their_proc_vmstat_names() {
        assert!(proc_names("NR_SLAB_RECLAIMABLE_B").contains(&"nr_slab_reclaimable".to_owned()));
        assert!(proc_names("NR_KERNEL_STACK_KB").contains(&"nr_kernel_stack".to_owned()));
        assert_eq!(proc_names("NR_FREE_PAGES")[0], "nr_free_pages");
    }

    #[test]
    fn migrate_letters_are_the_kernels() {
        let names = [
            "MIGRATE_UNMOVABLE",
            "MIGRATE_MOVABLE",
            "MIGRATE_RECLAIMABLE",
            "MIGRATE_HIGHATOMIC",
        ];
        let s: String = names.iter().map(|n| migrate_letter(n)).collect();
        assert_eq!(s, "UMEH");
        // CMA and isolated blocks (`show_migration_types`), and a type the
        // kernel's table does not know.
        let s: String = ["MIGRATE_CMA", "MIGRATE_ISOLATE", "MIGRATE_PCPTYPES"]
            .iter()
            .map(|n| migrate_letter(n))
            .collect();
        assert_eq!(s, "CI?");
    }

    /// The number of buddy orders is the kernel's (`NR_PAGE_ORDERS`, the
    /// length of `zone.free_area[]` in BTF): 11 with 4K pages, 12 or 14 on
    /// arm64 kernels with 16K or 64K pages. A zone copied raw decodes into
    /// exactly that many orders, each with its own count and migrate types,
    /// and its watermarks; on 64-bit kernels and on 32-bit ARM's, whose
    /// `long`s and pointers are 4 bytes.
    #[test]
    fn buddy_orders_are_as_many_as_btf_says() {
        for (long, page_shift, orders) in
            [(8u32, 12u32, 11u32), (8, 14, 12), (8, 16, 14), (4, 12, 11)]
        {
            let mut layout = MemLayout::unplanned();
            let free_area_size = 2 * long * 4 + long; // four list heads, nr_free
            layout.zone_present = 0;
            layout.zone_watermark = long;
            layout.zone_vm_stat = 4 * long;
            layout.zone_watermark_boost = 5 * long;
            layout.zone_managed = 6 * long;
            layout.zone_reserved_highatomic = 7 * long;
            layout.zone_free_highatomic = 8 * long;
            layout.zone_free_area = 96;
            layout.free_area_size = free_area_size;
            layout.free_area_nr_free = 8 * long;
            layout.nr_orders = orders;
            layout.zone_size = 96 + orders * free_area_size;
            layout.nr_zones = 1;
            let names = MemNames {
                node: Vec::new(),
                zone: vec!["NR_FREE_PAGES".into()],
                migrate: [
                    "MIGRATE_UNMOVABLE",
                    "MIGRATE_MOVABLE",
                    "MIGRATE_RECLAIMABLE",
                    "MIGRATE_HIGHATOMIC",
                ]
                .map(String::from)
                .to_vec(),
                page_shift,
                pmd_shift: page_shift + 9,
                zones: vec!["HighMem".into()],
                layout,
            };
            // SAFETY: a record is plain data; all zeroes is a valid one.
            let mut r: Box<MemStateRecord> = Box::new(unsafe { std::mem::zeroed() });
            r.zones_addr = if long == 4 {
                0xc100_0000
            } else {
                0xffff_0000_1000_0000
            };
            r.zones_len = layout.zone_size;
            let put = |r: &mut MemStateRecord, at: u32, v: u64| {
                let at = at as usize;
                r.zones_raw[at..at + long as usize]
                    .copy_from_slice(&v.to_le_bytes()[..long as usize]);
            };
            put(&mut r, 0, 1 << 18); // present pages
            for (i, pages) in [100u64, 125, 150].into_iter().enumerate() {
                put(&mut r, long * (1 + i as u32), pages); // min, low, high
            }
            put(&mut r, 4 * long, 4242); // NR_FREE_PAGES
            put(&mut r, 5 * long, 512); // watermark_boost
            put(&mut r, 6 * long, 1 << 17); // managed pages
            put(&mut r, 7 * long, 16); // reserved_highatomic
            put(&mut r, 8 * long, 3); // nr_free_highatomic
            for order in 0..orders {
                let area = 96 + order * free_area_size;
                for t in 0..4u32 {
                    // An empty list points at itself; order N has blocks of
                    // type N % 4 only.
                    let head = r.zones_addr + u64::from(area + 2 * long * t);
                    let next = if t == order % 4 { head + 0x1000 } else { head };
                    put(&mut r, area + 2 * long * t, next);
                }
                put(&mut r, area + 8 * long, u64::from(order) + 1);
            }
            let ctx = format!("long {long}, page shift {page_shift}");
            let z = zone(1, 0, &r, &names, long as usize).expect("a populated zone");
            assert_eq!(z.node, 1);
            assert_eq!(z.free_area.len(), orders as usize, "{ctx}");
            assert_eq!(
                z.free_area,
                (1..=u64::from(orders)).collect::<Vec<_>>(),
                "{ctx}"
            );
            let letters = ["U", "M", "E", "H"];
            for (order, types) in z.free_types.iter().enumerate() {
                assert_eq!(types, letters[order % 4], "{ctx}: order {order}");
            }
            let kb = |pages: u64| Some(pages << (page_shift - 10));
            assert_eq!(z.present_kb, kb(1 << 18), "{ctx}");
            // Printed (and used) with the boost: `min_wmark_pages()`.
            assert_eq!(
                (z.min_kb, z.low_kb, z.high_kb, z.boost_kb),
                (kb(612), kb(637), kb(662), kb(512)),
                "{ctx}"
            );
            assert_eq!(z.free_kb, kb(4242), "{ctx}");
            assert_eq!(
                (z.managed_kb, z.reserved_highatomic_kb, z.free_highatomic_kb),
                (kb(1 << 17), kb(16), kb(3)),
                "{ctx}"
            );
            // Without the size of a free area, no free lists are read.
            let mut no_size = names.clone();
            no_size.layout.free_area_size = ABSENT;
            let z = zone(1, 0, &r, &no_size, long as usize).unwrap();
            assert!(z.free_area.is_empty() && z.free_types.is_empty(), "{ctx}");
        }
    }

    /// `atomic_long_t` counters as the kernel side copies them: 8 bytes
    /// each on 64-bit kernels, 4 (two to a slot, negative ones too) on 32-bit.
    #[test]
    fn counters_are_read_at_the_kernels_width() {
        let mut slots = [0i64; 4];
        slots[0] = 7;
        slots[1] = -3;
        assert_eq!(counters(&slots, 2, 8), [7, -3]);
        let packed = |lo: i32, hi: i32| i64::from(lo as u32) | (i64::from(hi) << 32);
        let slots = [packed(7, -3), packed(1 << 30, 0)];
        assert_eq!(counters(&slots, 3, 4), [7, -3, 1 << 30]);
    }

    /// The global counters: read directly where the record says they were
    /// (kallsyms), else the sum of the nodes that were read; a node whose
    /// counters were not read is not one of them.
    #[test]
    fn global_counters_are_read_or_summed_from_the_nodes_read() {
        let names = MemNames {
            node: vec!["NR_A".into(), "NR_B".into()],
            zone: Vec::new(),
            migrate: Vec::new(),
            page_shift: 12,
            pmd_shift: 21,
            zones: Vec::new(),
            layout: MemLayout::unplanned(),
        };
        let record = |node: u32, valid: u32, stat: [i64; 2]| {
            // SAFETY: a record is plain data; all zeroes is a valid one.
            let mut r: Box<MemStateRecord> = Box::new(unsafe { std::mem::zeroed() });
            r.at = RecordKind::MarkVictim as u32;
            r.node = node;
            r.valid = valid;
            r.node_stat[..2].copy_from_slice(&stat);
            r.global_node_stat[..2].copy_from_slice(&[100, 200]);
            r
        };
        let get = |m: &MemoryState, name: &str| m.counters.as_ref().unwrap().node[name];
        let summed = assemble_at(
            &[*record(0, MEM_NODE, [3, 4]), *record(1, MEM_NODE, [5, 6])],
            &names,
            8,
        );
        assert_eq!((get(&summed, "NR_A"), get(&summed, "NR_B")), (8, 10));
        assert_eq!(summed.nodes.as_ref().unwrap().len(), 2);
        let mut kallsyms = record(0, MEM_NODE | MEM_GLOBAL, [3, 4]);
        kallsyms.path = MEM_PATH_KALLSYMS;
        let read = assemble_at(&[*kallsyms], &names, 8);
        assert_eq!((get(&read, "NR_A"), get(&read, "NR_B")), (100, 200));
        let how = read.read.unwrap();
        assert_eq!(
            (how.path, how.page_kb, how.at),
            (MemoryPath::Kallsyms, 4, MemoryAt::MarkVictim)
        );
        let mut memcg = record(0, MEM_NODE, [3, 4]);
        memcg.path = MEM_PATH_MEMCG;
        assert_eq!(
            assemble_at(&[*memcg], &names, 8).read.unwrap().path,
            MemoryPath::Memcg
        );
        // Node 1's counters were not read: not a node of the event, not summed.
        let half = assemble_at(
            &[*record(0, MEM_NODE, [3, 4]), *record(1, 0, [5, 6])],
            &names,
            8,
        );
        assert_eq!(half.nodes.as_ref().unwrap().len(), 1);
        assert_eq!(get(&half, "NR_A"), 3);
        let none = assemble_at(&[*record(0, 0, [3, 4])], &names, 8);
        assert!(none.counters.is_none() && none.nodes.is_none());
    }

    /// The plan cache's raw structs come back only into a struct of their
    /// own size: another build's layout is refused.
    #[test]
    fn raw_structs_come_back_only_into_their_size() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Two(#[serde(with = "pod_bytes")] [u32; 2]);
        #[derive(serde::Deserialize, Debug)]
        struct Three(
            #[serde(with = "pod_bytes")]
            #[allow(dead_code)]
            [u32; 3],
        );
        let json = serde_json::to_string(&Two([7, 9])).unwrap();
        assert_eq!(serde_json::from_str::<Two>(&json).unwrap(), Two([7, 9]));
        let e = serde_json::from_str::<Three>(&json).unwrap_err();
        assert!(
            e.to_string().contains("layout of another oomtrace build"),
            "{e}"
        );
    }

    /// Where the kernel side cannot reach the nodes, /proc stands in: each
    /// populated zone of /proc/zoneinfo (read here by the test's own loop),
    /// with its watermarks, sizes and protection as zoneinfo says (they do
    /// not move), its free lists as long as /proc/buddyinfo's, and the
    /// counters of /proc/vmstat by their enum names, in kB of 4 KiB pages.
    #[test]
    fn a_proc_sample_is_what_proc_says() {
        let names = MemNames {
            node: vec!["NR_FILE_PAGES".into(), "NR_SLAB_RECLAIMABLE_B".into()],
            zone: vec!["NR_FREE_PAGES".into(), "NR_MLOCK".into()],
            page_shift: 12,
            pmd_shift: 21,
            ..MemNames::default()
        };
        let m = sample_proc(&names, 5);
        let read = m.read.unwrap();
        assert_eq!(
            (read.at, read.path, read.page_kb),
            (MemoryAt::Sampled, MemoryPath::Proc, 4)
        );
        assert_eq!(read.sampled_after_ns, Some(5));
        let zoneinfo = std::fs::read_to_string("/proc/zoneinfo").unwrap();
        let mut expected = Vec::new();
        // (node, zone, its "name value" fields)
        type Block = (u32, String, Vec<(String, u64)>);
        let mut current: Option<Block> = None;
        for line in zoneinfo.lines().chain(["Node end, zone end"]) {
            if let Some(rest) = line.strip_prefix("Node ") {
                if let Some(done) = current.take() {
                    expected.push(done);
                }
                let (n, z) = rest.split_once(", zone").unwrap();
                current = Some((
                    n.trim().parse().unwrap_or(u32::MAX),
                    z.trim().to_owned(),
                    Vec::new(),
                ));
                continue;
            }
            let w: Vec<&str> = line.split_whitespace().collect();
            if let (Some(c), [k, v]) = (current.as_mut(), &w[..])
                && let Ok(v) = v.parse()
            {
                c.2.push((k.to_string(), v));
            }
        }
        let field =
            |f: &[(String, u64)], k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v * 4);
        let populated: Vec<_> = expected
            .iter()
            .filter(|(_, _, f)| field(f, "present").unwrap_or(0) > 0)
            .collect();
        let zones = m.zones.unwrap();
        assert_eq!(zones.len(), populated.len());
        let buddy = std::fs::read_to_string("/proc/buddyinfo").unwrap();
        for (z, (node, name, f)) in zones.iter().zip(&populated) {
            assert_eq!((z.node, z.zone.as_str()), (*node, name.as_str()));
            assert_eq!(z.min_kb, field(f, "min"), "{name}");
            assert_eq!(z.low_kb, field(f, "low"), "{name}");
            assert_eq!(z.high_kb, field(f, "high"), "{name}");
            assert_eq!(z.present_kb, field(f, "present"), "{name}");
            assert_eq!(z.managed_kb, field(f, "managed"), "{name}");
            assert_eq!(z.boost_kb, field(f, "boost"), "{name}");
            let orders = buddy
                .lines()
                .find(|l| {
                    l.contains(&format!("Node {node}, zone"))
                        && l.split_whitespace().nth(3) == Some(name)
                })
                .map(|l| l.split_whitespace().count() - 4)
                .unwrap();
            assert_eq!(z.free_area.len(), orders, "{name}");
            // Its own free lists (not another zone's): they hold about its
            // free memory (read a moment apart; the rest sits on per-CPU lists).
            let listed = z.free_area_kb(4) as f64;
            let free = z.free_kb.unwrap() as f64;
            assert!(
                (listed - free).abs() <= free * 0.1 + 4096.0,
                "{name}: {listed} vs {free}"
            );
            assert!(!z.lowmem_reserve.is_empty(), "{name}");
            assert!(z.free_kb.is_some_and(|f| f > 0), "{name}");
        }
        let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap();
        let now = |k: &str| -> i64 {
            vmstat
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let c = m.counters.unwrap();
        for (ours, proc) in [
            (c.node["NR_FILE_PAGES"], now("nr_file_pages")),
            (c.node["NR_SLAB_RECLAIMABLE_B"], now("nr_slab_reclaimable")),
            (c.zone["NR_FREE_PAGES"], now("nr_free_pages")),
        ] {
            // Read a moment apart on a live machine: within a tenth.
            assert!(
                (ours - proc).abs() * 10 <= proc.max(100),
                "{ours} vs {proc}"
            );
        }
        assert!(
            m.nodes
                .unwrap()
                .iter()
                .all(|n| n.counters.contains_key("NR_FILE_PAGES"))
        );
        // Without BTF (kernel-log mode) no enum names are known: zoneinfo's
        // own names, upper-cased, stand for them.
        let m = sample_proc(
            &MemNames {
                page_shift: 12,
                ..MemNames::default()
            },
            0,
        );
        let c = m.counters.unwrap();
        assert!(c.zone.contains_key("NR_FREE_PAGES"), "{:?}", c.zone.keys());
        assert!(c.node.contains_key("NR_FILE_PAGES"), "{:?}", c.node.keys());
        assert!(
            m.zones
                .unwrap()
                .iter()
                .all(|z| z.counters.contains_key("NR_FREE_PAGES"))
        );
    }
}
