//! Turns the kernel side's per-node `MemStateRecord`s into the event's
//! counters, nodes and zones, named by the running kernel's enums.

use crate::event::{CounterMap, Counters, MemcgMemory, MemoryRead, Node, Zone};
use crate::plan::MemNames;
use oomtrace_common::*;

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

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn named(names: &[String], values: &[i64]) -> CounterMap {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| (n.clone(), *v))
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

/// Blocks and migrate types of each order, from the raw `free_area` copies:
/// a `free_list[t]` head that does not point at itself has blocks.
fn free_lists(z: &ZoneState, names: &MemNames, orders: usize) -> (Vec<u64>, Vec<String>) {
    if names.nr_free_off == ABSENT {
        return (Vec::new(), Vec::new());
    }
    let mut counts = Vec::new();
    let mut types = Vec::new();
    for (order, raw) in z.free_area.iter().take(orders).enumerate() {
        let nr_free = raw[names.nr_free_off as usize / 8];
        let area = z.addr + names.free_area_off as u64 + order as u64 * names.free_area_size as u64;
        // As the kernel prints them: only for orders that have blocks.
        let letters = names
            .migrate
            .iter()
            .enumerate()
            .filter(|(t, _)| {
                nr_free > 0 && 2 * t < FREE_AREA_WORDS && raw[2 * t] != area + 16 * *t as u64
            })
            .map(|(_, n)| migrate_letter(n))
            .collect();
        counts.push(nr_free);
        types.push(letters);
    }
    (counts, types)
}

fn zone(node: u32, z: &ZoneState, names: &MemNames, orders: usize) -> Zone {
    let kb = |pages: u64| pages << names.page_shift.saturating_sub(10);
    let stats = named(&names.zone, &z.vm_stat);
    let free = stats.get("NR_FREE_PAGES").map(|&p| kb(p.max(0) as u64));
    let orders = orders.min(MAX_ORDERS);
    let (free_area, free_types) = free_lists(z, names, orders);
    Zone {
        node,
        zone: cstr(&z.name),
        free_kb: free,
        min_kb: Some(kb(z.watermark[0])),
        low_kb: Some(kb(z.watermark[1])),
        high_kb: Some(kb(z.watermark[2])),
        free_area,
        boost_kb: names.has_boost.then(|| kb(z.boost)),
        reserved_highatomic_kb: names.has_highatomic.then(|| kb(z.reserved_highatomic)),
        present_kb: Some(kb(z.present)),
        managed_kb: Some(kb(z.managed)),
        lowmem_reserve: Vec::new(),
        free_types,
        counters: stats,
    }
}

/// Assembles the records of one reading (one per node). Records read at
/// `show_free_areas` win over those read at `mark_victim`.
pub fn assemble(records: &[MemStateRecord], names: &MemNames) -> MemoryState {
    let (nr_zones, orders) = (names.nr_zones as usize, names.orders as usize);
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
            for (s, v) in node_sum.iter_mut().zip(&r.node_stat) {
                *s += v;
            }
            nodes.push(Node {
                node: r.node,
                counters: named(&names.node[..node_items], &r.node_stat),
                all_unreclaimable: Some(r.kswapd_failures >= MAX_RECLAIM_RETRIES),
            });
        }
        for z in r
            .zones
            .iter()
            .take(nr_zones.min(MAX_ZONES))
            .filter(|z| z.ok != 0)
        {
            for (s, v) in zone_sum.iter_mut().zip(&z.vm_stat) {
                *s += v;
            }
            let mut zone = zone(r.node, z, names, orders);
            zone.lowmem_reserve = z.lowmem_reserve[..nr_zones.min(MAX_ZONES)].to_vec();
            zones.push(zone);
        }
    }
    // The global arrays are the sums of the per-node and per-zone ones (the
    // kernel adds every delta to both); read directly where kallsyms allows.
    let counters = if first.valid & MEM_GLOBAL != 0 {
        Counters {
            node: named(&names.node[..node_items], &first.global_node_stat),
            zone: named(&names.zone[..zone_items], &first.global_zone_stat),
        }
    } else {
        Counters {
            node: named(&names.node[..node_items], &node_sum),
            zone: named(&names.zone[..zone_items], &zone_sum),
        }
    };
    let at = if chosen_at == at_sfa {
        "show_free_areas"
    } else {
        "mark_victim"
    };
    MemoryState {
        counters: (!nodes.is_empty() || first.valid & MEM_GLOBAL != 0).then_some(counters),
        nodes: (!nodes.is_empty()).then_some(nodes),
        zones: (!zones.is_empty()).then_some(zones),
        read: Some(MemoryRead {
            at: at.into(),
            path: match first.path {
                MEM_PATH_KALLSYMS => "kallsyms",
                MEM_PATH_MEMCG => "memcg",
                _ => "unknown",
            }
            .into(),
            page_kb: 1 << names.page_shift.saturating_sub(10),
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
/// first) ran out. The charge that failed was at most a PMD-sized THP, so
/// the domain is the nearest level within that of its limit.
pub fn oom_domain_level(chain: &[MemcgCounters], page_shift: u32) -> Option<usize> {
    let largest_charge = 1u64 << (21 - page_shift.min(21));
    chain
        .iter()
        .position(|c| c.usage.saturating_add(largest_charge) > c.max)
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
            oom_domain_level(&[c(100, 10_000), c(8191, 8192), c(9000, unlimited)], 12),
            Some(1)
        );
        assert_eq!(
            oom_domain_level(&[c(8192, 8192), c(9000, unlimited)], 12),
            Some(0)
        );
        assert_eq!(oom_domain_level(&[c(100, unlimited)], 12), None);
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
    }
}
