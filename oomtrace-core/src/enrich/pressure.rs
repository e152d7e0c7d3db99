//! Memory pressure as it builds, from the kernel's own files: PSI
//! (`/proc/pressure/memory`), each zone's free memory against its
//! watermarks (`/proc/zoneinfo`, read as [`crate::source::memstate::sample_proc`]
//! reads it), reclaim and compaction counters (`/proc/vmstat`) and the
//! memory cgroups (v1 and v2). Two samples make rates: what `watch` shows.

use crate::source::memstate::{self, MemNames};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiLine {
    pub avg10: f64,
    pub avg60: f64,
    pub avg300: f64,
    /// Stalled microseconds since boot.
    pub total_us: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Psi {
    pub some: PsiLine,
    /// `None` where the file has no `full` line.
    pub full: Option<PsiLine>,
}

/// `/proc/pressure/memory`: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0`.
pub fn parse_psi(text: &str) -> Option<Psi> {
    let line = |kind: &str| -> Option<PsiLine> {
        let rest = text.lines().find_map(|l| l.strip_prefix(kind))?;
        let mut p = PsiLine::default();
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            match k {
                "avg10" => p.avg10 = v.parse().ok()?,
                "avg60" => p.avg60 = v.parse().ok()?,
                "avg300" => p.avg300 = v.parse().ok()?,
                "total" => p.total_us = v.parse().ok()?,
                _ => {}
            }
        }
        Some(p)
    };
    Some(Psi {
        some: line("some ")?,
        full: line("full "),
    })
}

/// A zone's free memory and the allocator's thresholds for it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZoneNow {
    pub node: u32,
    pub zone: String,
    pub free_kb: u64,
    pub min_kb: u64,
    pub low_kb: u64,
    pub high_kb: u64,
    pub managed_kb: u64,
}

/// The /proc/vmstat counters whose growth says reclaim and compaction are at
/// work, summed over their variants (`pgscan_kswapd` is one; `allocstall_*`
/// per zone are one).
pub const RECLAIM_COUNTERS: [(&str, &[&str]); 5] = [
    ("kswapd_scan", &["pgscan_kswapd"]),
    ("direct_scan", &["pgscan_direct"]),
    ("direct_reclaim", &["allocstall_"]),
    ("compact_stall", &["compact_stall"]),
    ("oom_kill", &["oom_kill"]),
];

/// One memory cgroup's use against its limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemcgNow {
    /// As the kernel names it (`oom_memcg=`): relative to the hierarchy's root.
    pub path: String,
    pub usage_kb: u64,
    /// `None`: no limit.
    pub limit_kb: Option<u64>,
    /// Times the limit was hit: v1's `memory.failcnt`, v2's `max` event.
    pub failcnt: u64,
}

/// Memory cgroups walked at most, and how deep.
const MEMCGS_WALKED: usize = 4096;
const MEMCG_DEPTH: usize = 16;

/// A limit this large is none (v1 says "no limit" with the largest page-aligned long).
const NO_LIMIT: u64 = 1 << 60;

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// Every memory cgroup below `root` (a v2 mount, or v1's memory
/// hierarchy), bounded; the root itself is left out (its limit is the machine).
pub fn memcgs(root: &Path) -> Vec<MemcgNow> {
    let v2 = root.join("cgroup.controllers").exists();
    let mut out = Vec::new();
    let mut todo: Vec<(PathBuf, usize)> = vec![(root.to_owned(), 0)];
    while let Some((dir, depth)) = todo.pop() {
        if out.len() >= MEMCGS_WALKED {
            break;
        }
        if depth > 0 {
            let rel = dir.strip_prefix(root).unwrap_or(&dir);
            let path = format!("/{}", rel.to_string_lossy());
            let sample = if v2 {
                read_u64(&dir.join("memory.current")).map(|usage| {
                    let limit = std::fs::read_to_string(dir.join("memory.max"))
                        .ok()
                        .and_then(|s| s.trim().parse::<u64>().ok());
                    let failcnt = std::fs::read_to_string(dir.join("memory.events"))
                        .ok()
                        .and_then(|s| {
                            s.lines()
                                .find_map(|l| l.strip_prefix("max "))
                                .and_then(|v| v.trim().parse().ok())
                        })
                        .unwrap_or(0);
                    (usage, limit, failcnt)
                })
            } else {
                read_u64(&dir.join("memory.usage_in_bytes")).map(|usage| {
                    let limit = read_u64(&dir.join("memory.limit_in_bytes"));
                    (
                        usage,
                        limit,
                        read_u64(&dir.join("memory.failcnt")).unwrap_or(0),
                    )
                })
            };
            if let Some((usage, limit, failcnt)) = sample {
                out.push(MemcgNow {
                    path,
                    usage_kb: usage / 1024,
                    limit_kb: limit.filter(|l| *l < NO_LIMIT).map(|l| l / 1024),
                    failcnt,
                });
            }
        }
        if depth < MEMCG_DEPTH
            && let Ok(entries) = std::fs::read_dir(&dir)
        {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push((e.path(), depth + 1));
                }
            }
        }
    }
    out
}

/// Everything at one moment.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    /// CLOCK_MONOTONIC, ns.
    pub at_ns: u64,
    pub psi: Option<Psi>,
    pub zones: Vec<ZoneNow>,
    /// [`RECLAIM_COUNTERS`] by their names here.
    pub reclaim: Vec<(&'static str, u64)>,
    pub memcgs: Vec<MemcgNow>,
}

/// Reads everything now. `memcg_root`: where the memory cgroups are.
pub fn sample(page_shift: u32, memcg_root: Option<&Path>) -> Sample {
    let names = MemNames {
        zone: vec!["NR_FREE_PAGES".into()],
        page_shift,
        ..MemNames::default()
    };
    let state = memstate::sample_proc(&names, 0);
    let zones = state
        .zones
        .unwrap_or_default()
        .into_iter()
        .map(|z| ZoneNow {
            node: z.node,
            zone: z.zone.into(),
            free_kb: z.free_kb.unwrap_or(0),
            min_kb: z.min_kb.unwrap_or(0),
            low_kb: z.low_kb.unwrap_or(0),
            high_kb: z.high_kb.unwrap_or(0),
            managed_kb: z.managed_kb.unwrap_or(0),
        })
        .collect();
    let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap_or_default();
    let reclaim = RECLAIM_COUNTERS
        .iter()
        .map(|(name, prefixes)| {
            let sum = vmstat
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(k, _)| {
                    prefixes.iter().any(|p| {
                        if p.ends_with('_') {
                            k.starts_with(p)
                        } else {
                            k == p
                        }
                    })
                })
                .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
                .sum();
            (*name, sum)
        })
        .collect();
    Sample {
        at_ns: crate::source::assemble::monotonic_ns(),
        psi: std::fs::read_to_string("/proc/pressure/memory")
            .ok()
            .and_then(|t| parse_psi(&t)),
        zones,
        reclaim,
        memcgs: memcg_root.map(memcgs).unwrap_or_default(),
    }
}

/// A memory cgroup as `watch` ranks it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemcgView {
    pub path: String,
    /// What the path is (pod, container, unit), as events name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    pub usage_kb: u64,
    pub limit_kb: u64,
    /// Usage of the limit, percent.
    pub percent: f64,
    /// Growth over the interval, kB/s (negative: shrinking).
    pub growth_kb_per_s: f64,
    /// Times the limit was hit during the interval.
    pub failcnt_delta: u64,
    /// At this growth, seconds until the limit; `None` when not growing.
    pub limit_in_s: Option<f64>,
}

/// Per second over the interval, or the change of stalled time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PsiView {
    pub some_avg10: f64,
    pub some_avg60: f64,
    /// Stalled ms per second of the interval (some), as a percentage.
    pub some_now: f64,
    pub full_avg10: Option<f64>,
    pub full_avg60: Option<f64>,
    pub full_now: Option<f64>,
}

/// What `watch` shows, from two samples.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    pub interval_s: f64,
    /// `None` where the kernel has no PSI (or it is off: `psi=0`).
    pub psi: Option<PsiView>,
    pub zones: Vec<ZoneNow>,
    /// [`RECLAIM_COUNTERS`] per second.
    pub reclaim_per_s: indexmap::IndexMap<String, f64>,
    /// Memory cgroups with a limit, nearest to it first, at most `top`.
    pub memcgs: Vec<MemcgView>,
}

impl View {
    pub fn between(a: &Sample, b: &Sample, top: usize) -> View {
        let secs = (b.at_ns.saturating_sub(a.at_ns) as f64 / 1e9).max(1e-3);
        let psi = b.psi.map(|p| {
            let now = |old: Option<PsiLine>, new: PsiLine| {
                old.map_or(0.0, |o| {
                    new.total_us.saturating_sub(o.total_us) as f64 / (secs * 1e6) * 100.0
                })
            };
            PsiView {
                some_avg10: p.some.avg10,
                some_avg60: p.some.avg60,
                some_now: now(a.psi.map(|o| o.some), p.some),
                full_avg10: p.full.map(|f| f.avg10),
                full_avg60: p.full.map(|f| f.avg60),
                full_now: p.full.map(|f| now(a.psi.and_then(|o| o.full), f)),
            }
        });
        let reclaim_per_s = b
            .reclaim
            .iter()
            .map(|(name, v)| {
                let before = a
                    .reclaim
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(*v, |(_, o)| *o);
                ((*name).to_owned(), v.saturating_sub(before) as f64 / secs)
            })
            .collect();
        let mut memcgs: Vec<MemcgView> = b
            .memcgs
            .iter()
            .filter_map(|m| {
                let limit = m.limit_kb.filter(|l| *l > 0)?;
                let old = a.memcgs.iter().find(|o| o.path == m.path);
                let growth = old.map_or(0.0, |o| (m.usage_kb as f64 - o.usage_kb as f64) / secs);
                Some(MemcgView {
                    path: m.path.clone(),
                    workload: crate::schema::event::Workload::from_path(&m.path)
                        .map(|w| w.label())
                        .filter(|l| !l.is_empty()),
                    usage_kb: m.usage_kb,
                    limit_kb: limit,
                    percent: m.usage_kb as f64 * 100.0 / limit as f64,
                    growth_kb_per_s: growth,
                    failcnt_delta: old.map_or(0, |o| m.failcnt.saturating_sub(o.failcnt)),
                    limit_in_s: (growth > 0.0)
                        .then(|| limit.saturating_sub(m.usage_kb) as f64 / growth),
                })
            })
            .collect();
        memcgs.sort_by(|x, y| {
            y.percent
                .partial_cmp(&x.percent)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| x.path.cmp(&y.path))
        });
        memcgs.truncate(top);
        View {
            interval_s: secs,
            psi,
            zones: b.zones.clone(),
            reclaim_per_s,
            memcgs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_lines_are_the_kernels() {
        let p = parse_psi(
            "some avg10=4.41 avg60=4.66 avg300=1.29 total=75343257\n\
             full avg10=0.09 avg60=0.09 avg300=0.02 total=4850238\n",
        )
        .unwrap();
        assert_eq!(p.some.avg10, 4.41);
        assert_eq!(p.some.total_us, 75343257);
        assert_eq!(p.full.unwrap().avg60, 0.09);
        assert_eq!(parse_psi("garbage"), None);
    }

    fn memcg(path: &str, usage_kb: u64, limit_kb: u64, failcnt: u64) -> MemcgNow {
        MemcgNow {
            path: path.into(),
            usage_kb,
            limit_kb: Some(limit_kb),
            failcnt,
        }
    }

    #[test]
    fn the_nearest_to_its_limit_comes_first_with_its_time_left() {
        let a = Sample {
            at_ns: 0,
            memcgs: vec![memcg("/a", 1000, 10_000, 0), memcg("/b", 30_000, 32_000, 5)],
            ..Sample::default()
        };
        let b = Sample {
            at_ns: 2_000_000_000,
            memcgs: vec![memcg("/a", 5000, 10_000, 0), memcg("/b", 31_000, 32_000, 9)],
            ..Sample::default()
        };
        let v = View::between(&a, &b, 10);
        assert_eq!(v.memcgs[0].path, "/b");
        assert_eq!(v.memcgs[0].growth_kb_per_s, 500.0);
        assert_eq!(v.memcgs[0].limit_in_s, Some(2.0));
        assert_eq!(v.memcgs[0].failcnt_delta, 4);
        assert_eq!(v.memcgs[1].limit_in_s, Some(2.5));
    }

    #[test]
    fn every_psi_field_is_read() {
        let p = parse_psi("some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n").unwrap();
        assert_eq!(
            p.some,
            PsiLine {
                avg10: 1.0,
                avg60: 2.0,
                avg300: 3.0,
                total_us: 4
            }
        );
        assert_eq!(p.full, None);
    }

    /// PSI's stalled time per second, reclaim counters per second, each
    /// memory cgroup with a limit by its share of it (ties by path), at
    /// most `top`; those without a limit are not ranked.
    #[test]
    fn a_view_is_per_second_over_the_interval() {
        let psi = |some: u64, full: u64| {
            Some(Psi {
                some: PsiLine {
                    avg10: 1.5,
                    avg60: 2.5,
                    total_us: some,
                    ..PsiLine::default()
                },
                full: Some(PsiLine {
                    avg10: 0.5,
                    avg60: 0.25,
                    total_us: full,
                    ..PsiLine::default()
                }),
            })
        };
        let a = Sample {
            at_ns: 1_000_000_000,
            psi: psi(1_000_000, 0),
            reclaim: vec![("kswapd_scan", 100), ("oom_kill", 7)],
            memcgs: vec![memcg("/a", 1000, 10_000, 1), memcg("/b", 2000, 10_000, 0)],
            ..Sample::default()
        };
        let mut unlimited = memcg("/free", 5, 0, 0);
        unlimited.limit_kb = None;
        let b = Sample {
            at_ns: 3_000_000_000,
            psi: psi(1_500_000, 100_000),
            reclaim: vec![("kswapd_scan", 300), ("oom_kill", 8), ("compact_stall", 9)],
            memcgs: vec![
                memcg("/a", 3000, 10_000, 4),
                memcg("/b", 3000, 10_000, 0),
                memcg("/c", 100, 10_000, 0),
                memcg("/zero", 100, 0, 0),
                unlimited,
            ],
            ..Sample::default()
        };
        let named = Sample {
            memcgs: vec![
                memcg("/system.slice/nginx.service", 1, 10, 0),
                memcg("/plain", 1, 10, 0),
            ],
            ..Sample::default()
        };
        let v = View::between(&named, &named, 10);
        let workloads: Vec<Option<&str>> = v.memcgs.iter().map(|m| m.workload.as_deref()).collect();
        assert_eq!(workloads, [None, Some("nginx.service")]);
        let v = View::between(&a, &b, 2);
        assert_eq!(v.interval_s, 2.0);
        let p = v.psi.unwrap();
        assert_eq!((p.some_avg10, p.some_avg60, p.some_now), (1.5, 2.5, 25.0));
        assert_eq!(
            (p.full_avg10, p.full_avg60, p.full_now),
            (Some(0.5), Some(0.25), Some(5.0))
        );
        let rates: Vec<(&str, f64)> = v
            .reclaim_per_s
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        // A counter the first sample lacks starts now: no rate yet.
        assert_eq!(
            rates,
            [
                ("kswapd_scan", 100.0),
                ("oom_kill", 0.5),
                ("compact_stall", 0.0)
            ]
        );
        let ranked: Vec<(&str, f64, f64, u64)> = v
            .memcgs
            .iter()
            .map(|m| {
                (
                    m.path.as_str(),
                    m.percent,
                    m.growth_kb_per_s,
                    m.failcnt_delta,
                )
            })
            .collect();
        assert_eq!(ranked, [("/a", 30.0, 1000.0, 3), ("/b", 30.0, 500.0, 0)]);
        assert_eq!(v.memcgs[0].limit_in_s, Some(7.0));
        // Not growing: no time left to say; a new one has no growth yet.
        let v = View::between(&b, &b, 10);
        assert!(
            v.memcgs
                .iter()
                .all(|m| m.limit_in_s.is_none() && m.growth_kb_per_s == 0.0)
        );
        assert_eq!(v.memcgs.len(), 3);
        assert_eq!(v.psi.unwrap().some_now, 0.0);
        let fresh = View::between(&Sample::default(), &b, 10);
        assert_eq!(fresh.psi.unwrap().some_now, 0.0);
        assert!(fresh.memcgs.iter().all(|m| m.growth_kb_per_s == 0.0));
    }

    /// Memory cgroups as their files say: v1's and v2's, usage and limit in
    /// kB, "no limit" as none, fail counts, paths from the root (not
    /// itself), down to [`MEMCG_DEPTH`] levels.
    #[test]
    fn memory_cgroups_are_read_from_their_files() {
        let root = std::env::temp_dir().join(format!("oomtrace-memcgs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let write = |dir: &Path, files: &[(&str, &str)]| {
            std::fs::create_dir_all(dir).unwrap();
            for (f, v) in files {
                std::fs::write(dir.join(f), v).unwrap();
            }
        };
        let v1 = root.join("v1");
        // The root's own files (the machine's): not a memory cgroup of its own.
        write(&v1, &[("memory.usage_in_bytes", "99999999\n")]);
        write(
            &v1.join("a"),
            &[
                ("memory.usage_in_bytes", "2048\n"),
                ("memory.limit_in_bytes", "4096\n"),
                ("memory.failcnt", "3\n"),
            ],
        );
        write(
            &v1.join("a/b"),
            &[
                ("memory.usage_in_bytes", "1048576\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
            ],
        );
        let mut deep = v1.clone();
        for level in 1..=MEMCG_DEPTH + 1 {
            deep = deep.join(format!("d{level}"));
            write(&deep, &[("memory.usage_in_bytes", "1024")]);
        }
        let mut got = memcgs(&v1);
        got.sort_by(|x, y| x.path.cmp(&y.path));
        let paths: Vec<&str> = got.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths.len(), 2 + MEMCG_DEPTH, "{paths:?}");
        assert_eq!(
            got[0],
            MemcgNow {
                path: "/a".into(),
                usage_kb: 2,
                limit_kb: Some(4),
                failcnt: 3
            }
        );
        assert_eq!(
            got[1],
            MemcgNow {
                path: "/a/b".into(),
                usage_kb: 1024,
                limit_kb: None,
                failcnt: 0
            }
        );
        let deepest = got.iter().map(|m| m.path.matches('/').count()).max();
        assert_eq!(deepest, Some(MEMCG_DEPTH));
        let v2 = root.join("v2");
        write(&v2, &[("cgroup.controllers", "memory\n")]);
        write(
            &v2.join("pod"),
            &[
                ("memory.current", "8192\n"),
                ("memory.max", "16384\n"),
                ("memory.events", "low 0\nhigh 0\nmax 5\noom 1\n"),
            ],
        );
        write(
            &v2.join("open"),
            &[("memory.current", "1024\n"), ("memory.max", "max\n")],
        );
        let mut got = memcgs(&v2);
        got.sort_by(|x, y| x.path.cmp(&y.path));
        assert_eq!(
            got,
            [
                MemcgNow {
                    path: "/open".into(),
                    usage_kb: 1,
                    limit_kb: None,
                    failcnt: 0
                },
                MemcgNow {
                    path: "/pod".into(),
                    usage_kb: 8,
                    limit_kb: Some(16),
                    failcnt: 5
                }
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A sample is this machine's /proc, read by the test too: the zones
    /// of /proc/zoneinfo, PSI as /proc/pressure/memory says it, and each
    /// reclaim counter the sum of its /proc/vmstat lines (the OOM kills do
    /// not move while nothing is killed).
    #[test]
    fn a_sample_is_what_proc_says() {
        let s = sample(12, None);
        let buddy = std::fs::read_to_string("/proc/buddyinfo").unwrap();
        assert_eq!(s.zones.len(), buddy.lines().count());
        assert!(s.zones.iter().all(|z| z.managed_kb > 0 && z.free_kb > 0));
        let vmstat = std::fs::read_to_string("/proc/vmstat").unwrap();
        let sum = |prefix: &str, exact: bool| -> u64 {
            vmstat
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(k, _)| {
                    if exact {
                        *k == prefix
                    } else {
                        k.starts_with(prefix)
                    }
                })
                .map(|(_, v)| v.parse::<u64>().unwrap())
                .sum()
        };
        let get = |n: &str| s.reclaim.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("oom_kill"), sum("oom_kill", true));
        assert!(get("direct_reclaim") <= sum("allocstall_", false));
        assert!(get("kswapd_scan") <= sum("pgscan_kswapd", true));
        let psi = parse_psi(&std::fs::read_to_string("/proc/pressure/memory").unwrap()).unwrap();
        let ours = s.psi.unwrap();
        assert!(ours.some.total_us <= psi.some.total_us);
        assert!(s.at_ns > 0 && s.memcgs.is_empty());
        // Free memory in kB of 4 KiB pages: the zones' together about
        // /proc/vmstat's free pages (they move between the two reads).
        let zones: u64 = s.zones.iter().map(|z| z.free_kb).sum();
        let free = sum("nr_free_pages", true) * 4;
        assert!(zones.abs_diff(free) * 10 <= free, "{zones} vs {free}");
    }
}
