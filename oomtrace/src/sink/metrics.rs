//! `agent`'s Prometheus metrics: a sink that counts, and a small HTTP
//! server on its own thread that answers `GET /metrics` in the OpenMetrics
//! text format (prometheus-client).
//!
//! Cardinality: the per-workload series (`oomtrace_workload_oom_kills`) are
//! at most [`MAX_WORKLOAD_SERIES`]; beyond, kills are counted under
//! `cgroup="(other)"`. A workload's series is removed once its cgroup is
//! gone and it has killed nothing for the series TTL. The per-constraint
//! counts never expire: they equal the kernel's `oom_kill` counter.

use anyhow::{Context as _, Result};
use oomtrace_core::schema::event::{Header, ReaperEvent, Trailer, Victim};
use oomtrace_core::schema::item::{Event, Progress};
use oomtrace_core::sink::Sink;
use oomtrace_core::sink::charts::Constraint;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Per-workload series at most.
pub const MAX_WORKLOAD_SERIES: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConstraintLabels {
    constraint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkloadLabels {
    constraint: String,
    namespace: String,
    pod: String,
    pod_uid: String,
    container: String,
    unit: String,
    /// The victim's cgroup path, where nothing above names it.
    cgroup: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    kernel: String,
    mode: String,
}

/// A workload series' last kill and where its cgroup was.
struct Seen {
    last: Instant,
    cgroup: Option<String>,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    kills: Family<ConstraintLabels, Counter>,
    ooms: Family<ConstraintLabels, Counter>,
    workload_kills: Family<WorkloadLabels, Counter>,
    lost: Counter,
    dropped: Counter,
    incomplete: Counter,
    kernel_errors: Counter,
    events: Counter,
    last_oom: Gauge<f64, AtomicU64>,
    resident: Gauge,
    series: Gauge,
    info: Family<BuildLabels, Gauge>,
    seen: Mutex<HashMap<WorkloadLabels, Seen>>,
    said: Mutex<Trailer>,
    ttl: Duration,
    host_root: PathBuf,
}

fn rss_bytes() -> i64 {
    crate::plan::host::own_status("VmRSS")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl Metrics {
    pub fn new(ttl: Duration, host_root: &Path) -> Arc<Self> {
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            kills: Family::default(),
            ooms: Family::default(),
            workload_kills: Family::default(),
            lost: Counter::default(),
            dropped: Counter::default(),
            incomplete: Counter::default(),
            kernel_errors: Counter::default(),
            events: Counter::default(),
            last_oom: Gauge::default(),
            resident: Gauge::default(),
            series: Gauge::default(),
            info: Family::default(),
            seen: Mutex::new(HashMap::new()),
            said: Mutex::new(Trailer::default()),
            ttl,
            host_root: host_root.to_owned(),
        };
        {
            let mut r = m.registry.lock().unwrap_or_else(|e| e.into_inner());
            r.register(
                "oomtrace_oom_kills",
                "Tasks the OOM killer killed (each victim, oom.group members too), by constraint",
                m.kills.clone(),
            );
            r.register(
                "oomtrace_ooms",
                "OOMs seen, killing or not, by constraint",
                m.ooms.clone(),
            );
            r.register(
                "oomtrace_workload_oom_kills",
                "Tasks killed by the OOM killer, by the victim's workload",
                m.workload_kills.clone(),
            );
            r.register("oomtrace_events", "OOM events written", m.events.clone());
            r.register(
                "oomtrace_lost_records",
                "Kernel records lost (the ring buffer was full)",
                m.lost.clone(),
            );
            r.register(
                "oomtrace_dropped_events",
                "OOM events dropped because the reader fell behind by more than --queue",
                m.dropped.clone(),
            );
            r.register(
                "oomtrace_incomplete_ooms",
                "OOMs that arrived with records missing",
                m.incomplete.clone(),
            );
            r.register(
                "oomtrace_kernel_errors",
                "Failures the kernel side reported (a read that faulted, a record refused)",
                m.kernel_errors.clone(),
            );
            r.register(
                "oomtrace_last_oom_timestamp_seconds",
                "When the last OOM happened (Unix time)",
                m.last_oom.clone(),
            );
            r.register(
                "oomtrace_agent_resident_memory_bytes",
                "The agent's own resident memory",
                m.resident.clone(),
            );
            r.register(
                "oomtrace_workload_series",
                "Per-workload kill series kept now (bounded)",
                m.series.clone(),
            );
            // A gauge of 1 rather than OpenMetrics' info type, which
            // Prometheus's own text format (promtool) does not know.
            r.register(
                "oomtrace_agent_info",
                "The agent's version and what it traces",
                m.info.clone(),
            );
        }
        Arc::new(m)
    }

    /// The exposition, as served.
    pub fn encode(&self) -> String {
        self.expire();
        self.resident.set(rss_bytes());
        let mut out = String::new();
        let r = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        out
    }

    /// Whether a cgroup path (of the memory controller) still exists, on
    /// cgroup v2 or v1, under the host's root (a container's own
    /// /sys/fs/cgroup would show only its own cgroup namespace).
    fn cgroup_exists(&self, path: &str) -> bool {
        use crate::plan::host::{CGROUP_MOUNT, MEMCG_V1_MOUNT};
        let rel = path.trim_start_matches('/');
        [CGROUP_MOUNT, MEMCG_V1_MOUNT].iter().any(|base| {
            self.host_root
                .join(base.trim_start_matches('/'))
                .join(rel)
                .is_dir()
        })
    }

    fn expire(&self) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|labels, s| {
            let keep = s.last.elapsed() < self.ttl
                || s.cgroup.as_deref().is_some_and(|c| self.cgroup_exists(c));
            if !keep {
                self.workload_kills.remove(labels);
            }
            keep
        });
        self.series.set(seen.len() as i64);
    }

    fn killed(&self, constraint: Constraint, v: &Victim) {
        self.kills
            .get_or_create(&ConstraintLabels {
                constraint: constraint.name().into(),
            })
            .inc();
        let w = v.workload.clone().unwrap_or_default();
        let s = |o: Option<String>| o.unwrap_or_default();
        let named = w.pod_uid.is_some() || w.unit.is_some() || w.container_id.is_some();
        let mut labels = WorkloadLabels {
            constraint: constraint.name().into(),
            namespace: s(w.namespace),
            pod: s(w.pod),
            pod_uid: s(w.pod_uid),
            container: s(w
                .container
                .or(w.container_id.map(|id| id.chars().take(12).collect()))),
            unit: s(w.unit),
            cgroup: if named {
                String::new()
            } else {
                s(v.cgroup.clone())
            },
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.contains_key(&labels) && seen.len() >= MAX_WORKLOAD_SERIES {
            labels = WorkloadLabels {
                constraint: constraint.name().into(),
                namespace: String::new(),
                pod: String::new(),
                pod_uid: String::new(),
                container: String::new(),
                unit: String::new(),
                cgroup: "(other)".into(),
            };
        }
        self.workload_kills.get_or_create(&labels).inc();
        seen.insert(
            labels,
            Seen {
                last: Instant::now(),
                cgroup: v.cgroup.clone(),
            },
        );
        self.series.set(seen.len() as i64);
    }

    /// The source's counts: counters move by what grew since last said.
    fn counts(&self, t: &Trailer) {
        let mut said = self.said.lock().unwrap_or_else(|e| e.into_inner());
        self.lost.inc_by(t.lost.saturating_sub(said.lost));
        self.dropped.inc_by(t.dropped.saturating_sub(said.dropped));
        self.incomplete
            .inc_by(t.incomplete.saturating_sub(said.incomplete));
        self.kernel_errors
            .inc_by(t.kernel_errors.saturating_sub(said.kernel_errors));
        said.lost = said.lost.max(t.lost);
        said.dropped = said.dropped.max(t.dropped);
        said.incomplete = said.incomplete.max(t.incomplete);
        said.kernel_errors = said.kernel_errors.max(t.kernel_errors);
    }
}

/// Counts what flows through the pipeline into [`Metrics`].
pub struct MetricsSink(pub Arc<Metrics>);

impl Sink for MetricsSink {
    fn session(&mut self, h: &Header) -> io::Result<()> {
        self.0.info.clear();
        self.0
            .info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
                kernel: h.kernel.clone(),
                mode: h.mode.clone(),
            })
            .set(1);
        Ok(())
    }

    fn event(&mut self, ev: &Event) -> io::Result<()> {
        let b = &ev.brief;
        let m = &self.0;
        let constraint = Constraint::of(b);
        m.events.inc();
        m.ooms
            .get_or_create(&ConstraintLabels {
                constraint: constraint.name().into(),
            })
            .inc();
        for v in b.victim.iter().chain(&b.also_killed) {
            m.killed(constraint, v);
        }
        let at = humantime::parse_rfc3339_weak(&b.time).unwrap_or_else(|_| SystemTime::now());
        if let Ok(d) = at.duration_since(SystemTime::UNIX_EPOCH) {
            m.last_oom.set(d.as_secs_f64());
        }
        Ok(())
    }

    fn reaper(&mut self, _r: &ReaperEvent) -> io::Result<()> {
        Ok(())
    }

    fn progress(&mut self, p: &Progress) -> io::Result<()> {
        self.0.counts(&p.counts);
        Ok(())
    }

    fn end(&mut self, t: &Trailer) -> io::Result<()> {
        self.0.counts(t);
        Ok(())
    }
}

/// Binds `addr` now (so a port in use is said at start), then serves on a
/// thread of its own.
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<std::net::SocketAddr> {
    let listener =
        TcpListener::bind(addr).with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = answer(conn, &metrics);
            }
        })?;
    Ok(local)
}

/// One request, one answer, then the connection is closed. Reads at most
/// 8 KiB of request head, for at most 5 s.
fn answer(conn: TcpStream, metrics: &Metrics) -> io::Result<()> {
    use std::io::Read;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new((&conn).take(8192));
    let mut first = String::new();
    reader.read_line(&mut first)?;
    // The rest of the head, up to the blank line: only Accept matters.
    let mut line = String::new();
    let mut accept = String::new();
    while reader.read_line(&mut line)? > 0 && line != "\r\n" && line != "\n" {
        if line.to_ascii_lowercase().starts_with("accept:") {
            accept = line.to_ascii_lowercase();
        }
        line.clear();
    }
    let mut parts = first.split_whitespace();
    let wants_openmetrics = accept.contains("application/openmetrics-text");
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, kind, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") if wants_openmetrics => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            classic(&metrics.encode()),
        ),
        ("GET", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "oomtrace agent: metrics at /metrics\n".to_owned(),
        ),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        ),
    };
    let mut out = &conn;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// The same metrics in Prometheus's classic text format (0.0.4), for a
/// scraper that does not ask for OpenMetrics (curl, `promtool check
/// metrics`): a counter's `HELP` and `TYPE` name its `_total` samples, and
/// there is no `# EOF`. (prometheus-client writes OpenMetrics only.)
fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = line.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oomtrace_core::schema::event::OomEvent;
    use oomtrace_core::schema::event::Workload;
    use std::collections::BTreeMap;

    /// The exposition's samples: `name{labels}` → value.
    fn samples(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect()
    }

    fn victim(cgroup: &str, workload: Option<Workload>) -> Victim {
        Victim {
            pid: Some(7),
            cgroup: Some(cgroup.into()),
            workload,
            ..Victim::default()
        }
    }

    fn event(constraint: &str, order: i32, victims: Vec<Victim>, time: &str) -> Event {
        let mut v = victims.into_iter();
        Event::new(OomEvent {
            constraint: Some(constraint.into()),
            order: Some(order),
            time: time.into(),
            killed: Some(true),
            victim: v.next(),
            also_killed: v.collect(),
            ..OomEvent::default()
        })
    }

    fn temp(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("oomtrace-metrics-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Every family, each with the value the events, counts and header
    /// the test fed it make.
    #[test]
    fn every_family_holds_what_it_was_fed() {
        let root = temp("fed");
        let m = Metrics::new(Duration::from_secs(3600), &root);
        let mut sink = MetricsSink(m.clone());
        let header = |kernel: &str| Header {
            kernel: kernel.into(),
            mode: "tracepoint".into(),
            ..Header::default()
        };
        sink.session(&header("6.1.0-old")).unwrap();
        sink.session(&header("6.12.0-new")).unwrap();
        let pod = Workload {
            pod_uid: Some("0b8f2c4e".into()),
            namespace: Some("shop".into()),
            pod: Some("web-0".into()),
            container_id: Some("ab".repeat(32)),
            ..Workload::default()
        };
        let unit = Workload {
            unit: Some("hog.service".into()),
            ..Workload::default()
        };
        // A memcg OOM that killed a pod's process and an oom.group member
        // in a unit; another in the same pod; a global OOM that killed a
        // process no workload names; a sysrq OOM that killed nothing.
        let events = [
            event(
                "CONSTRAINT_MEMCG",
                0,
                vec![
                    victim("/kubepods/pod", Some(pod.clone())),
                    victim("/system.slice/hog.service", Some(unit)),
                ],
                "2026-12-06T10:00:00.000000Z",
            ),
            event(
                "CONSTRAINT_MEMCG",
                0,
                vec![victim("/kubepods/pod", Some(pod))],
                "2026-12-06T10:00:01.500000Z",
            ),
            event(
                "CONSTRAINT_NONE",
                0,
                vec![victim("/user.slice/x", None)],
                "2026-12-06T10:00:02Z",
            ),
            event("CONSTRAINT_NONE", -1, vec![], "2026-12-06T10:00:03.250000Z"),
        ];
        for e in &events {
            sink.event(e).unwrap();
        }
        let counts = |lost, dropped, incomplete, kernel_errors| Trailer {
            lost,
            dropped,
            incomplete,
            kernel_errors,
            ..Trailer::default()
        };
        // Counts said twice move by what grew; the end's move too, and a
        // repeat adds nothing.
        sink.progress(&Progress {
            counts: counts(3, 1, 0, 2),
            ..Progress::default()
        })
        .unwrap();
        sink.progress(&Progress {
            counts: counts(4, 1, 4, 2),
            ..Progress::default()
        })
        .unwrap();
        let said = samples(&m.encode());
        let total = |s: &BTreeMap<String, f64>| {
            [
                "oomtrace_lost_records_total",
                "oomtrace_dropped_events_total",
                "oomtrace_incomplete_ooms_total",
                "oomtrace_kernel_errors_total",
            ]
            .map(|k| s[k])
        };
        assert_eq!(total(&said), [4.0, 1.0, 4.0, 2.0]);
        sink.end(&counts(5, 1, 4, 2)).unwrap();
        sink.end(&counts(5, 1, 4, 2)).unwrap();
        // This process's VmRSS as /proc says it, around the scrape.
        let vm_rss = || -> f64 {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let kb = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .unwrap();
            kb.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .unwrap()
                * 1024.0
        };
        let before = vm_rss();
        let got = samples(&m.encode());
        let after = vm_rss();
        let version = env!("CARGO_PKG_VERSION");
        let pod_series = "constraint=\"memcg\",namespace=\"shop\",pod=\"web-0\",pod_uid=\"0b8f2c4e\",container=\"abababababab\",unit=\"\",cgroup=\"\"";
        let want: BTreeMap<String, f64> = [
            ("oomtrace_oom_kills_total{constraint=\"memcg\"}".to_owned(), 3.0),
            ("oomtrace_oom_kills_total{constraint=\"global\"}".to_owned(), 1.0),
            ("oomtrace_ooms_total{constraint=\"memcg\"}".to_owned(), 2.0),
            ("oomtrace_ooms_total{constraint=\"global\"}".to_owned(), 1.0),
            ("oomtrace_ooms_total{constraint=\"sysrq\"}".to_owned(), 1.0),
            (format!("oomtrace_workload_oom_kills_total{{{pod_series}}}"), 2.0),
            (
                "oomtrace_workload_oom_kills_total{constraint=\"memcg\",namespace=\"\",pod=\"\",pod_uid=\"\",container=\"\",unit=\"hog.service\",cgroup=\"\"}".to_owned(),
                1.0,
            ),
            (
                "oomtrace_workload_oom_kills_total{constraint=\"global\",namespace=\"\",pod=\"\",pod_uid=\"\",container=\"\",unit=\"\",cgroup=\"/user.slice/x\"}".to_owned(),
                1.0,
            ),
            ("oomtrace_events_total".to_owned(), 4.0),
            ("oomtrace_lost_records_total".to_owned(), 5.0),
            ("oomtrace_dropped_events_total".to_owned(), 1.0),
            ("oomtrace_incomplete_ooms_total".to_owned(), 4.0),
            ("oomtrace_kernel_errors_total".to_owned(), 2.0),
            // 2026-12-06T10:00:03.25Z
            ("oomtrace_last_oom_timestamp_seconds".to_owned(), 1_796_551_203.25),
            ("oomtrace_workload_series".to_owned(), 3.0),
            (
                format!("oomtrace_agent_info{{version=\"{version}\",kernel=\"6.12.0-new\",mode=\"tracepoint\"}}"),
                1.0,
            ),
        ]
        .into_iter()
        .collect();
        let resident = got["oomtrace_agent_resident_memory_bytes"];
        let mut rest = got.clone();
        rest.remove("oomtrace_agent_resident_memory_bytes");
        assert_eq!(rest, want);
        // Other tests run beside this one: within a factor of two.
        let (lo, hi) = (before.min(after), before.max(after));
        assert!(
            (lo / 2.0..=hi * 2.0).contains(&resident),
            "{resident} vs {lo}..{hi}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// A workload's series goes once its cgroup is gone and the TTL has
    /// passed; while its cgroup exists (v2 or v1) it stays. The
    /// per-constraint counts never go.
    #[test]
    fn series_expire_when_their_cgroup_is_gone_and_their_ttl_passed() {
        let root = temp("expire");
        std::fs::create_dir_all(root.join("sys/fs/cgroup/kept.slice")).unwrap();
        std::fs::create_dir_all(root.join("sys/fs/cgroup/memory/v1kept")).unwrap();
        let m = Metrics::new(Duration::ZERO, &root);
        let mut sink = MetricsSink(m.clone());
        for cg in ["/kept.slice", "/v1kept", "/gone"] {
            sink.event(&event(
                "CONSTRAINT_MEMCG",
                0,
                vec![victim(cg, None)],
                "2026-12-06T10:00:00Z",
            ))
            .unwrap();
        }
        let got = samples(&m.encode());
        let series: Vec<&str> = got
            .keys()
            .filter(|k| k.starts_with("oomtrace_workload_oom_kills_total"))
            .map(|k| k.rsplit_once("cgroup=").unwrap().1)
            .collect();
        assert_eq!(series, ["\"/kept.slice\"}", "\"/v1kept\"}"]);
        assert_eq!(got["oomtrace_workload_series"], 2.0);
        assert_eq!(got["oomtrace_oom_kills_total{constraint=\"memcg\"}"], 3.0);
        // With a TTL not yet passed, a gone cgroup's series stays.
        let m = Metrics::new(Duration::from_secs(3600), &root);
        MetricsSink(m.clone())
            .event(&event(
                "CONSTRAINT_MEMCG",
                0,
                vec![victim("/gone", None)],
                "2026-12-06T10:00:00Z",
            ))
            .unwrap();
        assert_eq!(samples(&m.encode())["oomtrace_workload_series"], 1.0);
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Past [`MAX_WORKLOAD_SERIES`] workloads, kills are counted under
    /// `cgroup="(other)"`; known series still count their own.
    #[test]
    fn series_past_the_cap_are_counted_as_other() {
        let root = temp("cap");
        let m = Metrics::new(Duration::from_secs(3600), &root);
        let mut sink = MetricsSink(m.clone());
        let kill = |sink: &mut MetricsSink, i: usize| {
            sink.event(&event(
                "CONSTRAINT_MEMCG",
                0,
                vec![victim(&format!("/w{i}"), None)],
                "2026-12-06T10:00:00Z",
            ))
            .unwrap();
        };
        for i in 0..MAX_WORKLOAD_SERIES + 5 {
            kill(&mut sink, i);
        }
        kill(&mut sink, 0);
        let got = samples(&m.encode());
        let series = |cgroup: &str| {
            got[&format!(
                "oomtrace_workload_oom_kills_total{{constraint=\"memcg\",namespace=\"\",pod=\"\",pod_uid=\"\",container=\"\",unit=\"\",cgroup=\"{cgroup}\"}}"
            )]
        };
        assert_eq!(series("(other)"), 5.0);
        assert_eq!(series("/w0"), 2.0);
        assert_eq!(series(&format!("/w{}", MAX_WORKLOAD_SERIES - 1)), 1.0);
        assert!(
            !got.keys()
                .any(|k| k.contains(&format!("/w{}\"", MAX_WORKLOAD_SERIES)))
        );
        assert_eq!(
            got["oomtrace_workload_series"],
            (MAX_WORKLOAD_SERIES + 1) as f64
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    /// One request over TCP, the whole answer back.
    fn ask(addr: std::net::SocketAddr, request: &str) -> (String, String) {
        use std::io::Read;
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(length, body.len(), "{head}");
        (head.to_owned(), body.to_owned())
    }

    /// The server answers OpenMetrics to whoever asks for it, the classic
    /// format otherwise, and nothing but `GET` of its two paths.
    #[test]
    fn the_server_answers_each_format_and_refuses_the_rest() {
        let root = temp("serve");
        let m = Metrics::new(Duration::from_secs(3600), &root);
        MetricsSink(m.clone())
            .event(&event(
                "CONSTRAINT_NONE",
                0,
                vec![victim("/x", None)],
                "2026-12-06T10:00:00Z",
            ))
            .unwrap();
        let addr = serve("127.0.0.1:0", m).unwrap();
        let (head, body) = ask(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: Application/OpenMetrics-Text; version=1.0.0\r\n\r\n",
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(
            head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
            "{head}"
        );
        assert!(body.ends_with("# EOF\n"));
        assert!(body.contains("# TYPE oomtrace_events counter\n"));
        assert_eq!(samples(&body)["oomtrace_events_total"], 1.0);
        // A header after Accept does not undo it.
        let (head, _) = ask(
            addr,
            "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text\r\nUser-Agent: p\r\n\r\n",
        );
        assert!(head.contains("openmetrics"), "{head}");
        for request in [
            "GET /metrics?x=1 HTTP/1.1\r\nAccept: text/plain\r\n\r\n",
            "GET /metrics HTTP/1.0\n\n",
        ] {
            let (head, body) = ask(addr, request);
            assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
            assert!(
                head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
                "{head}"
            );
            assert!(
                body.contains("# TYPE oomtrace_events_total counter\n"),
                "{body}"
            );
            assert!(!body.contains("# EOF"));
            assert_eq!(samples(&body)["oomtrace_events_total"], 1.0);
        }
        // A client that closes its side before the blank line still gets
        // its answer.
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n")
            .unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut c, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        let (head, body) = ask(addr, "GET / HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\n") && body.contains("/metrics"),
            "{head}"
        );
        let (head, _) = ask(addr, "GET /other HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 404 Not Found\r\n"), "{head}");
        let (head, _) = ask(addr, "POST /metrics HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{head}"
        );
        // A port in use is said at once, with the address.
        let e = serve(&addr.to_string(), Metrics::new(Duration::ZERO, &root)).unwrap_err();
        assert!(
            format!("{e:#}").contains(&format!("cannot listen for metrics on {addr}")),
            "{e:#}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_classic_format_names_counters_by_their_samples() {
        let om = "# HELP x_events Events.\n# TYPE x_events counter\nx_events_total 3\n\
                  # HELP x_rss Memory.\n# TYPE x_rss gauge\nx_rss 5\n# UNIT x_rss bytes\n# EOF\n";
        assert_eq!(
            classic(om),
            "# HELP x_events_total Events.\n# TYPE x_events_total counter\nx_events_total 3\n\
             # HELP x_rss Memory.\n# TYPE x_rss gauge\nx_rss 5\n"
        );
    }
}
