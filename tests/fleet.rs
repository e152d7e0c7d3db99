//! `oomtrace agent` with real parts: Debian's Prometheus server scrapes it
//! on loopback while memory-cgroup OOMs happen in cgroups shaped like
//! Kubernetes pods (systemd and cgroupfs drivers, containerd and CRI-O),
//! a docker container, a rootless podman container and a systemd unit, on
//! this machine's cgroup v1. The oracles: the kernel's `oom_kill` counter,
//! the cgroup paths and the runtimes' files this test made, `promtool check
//! metrics`. Never a global OOM: every hog is in a 16 MiB memory cgroup.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET http://127.0.0.1:PORT/PATH: status and body.
fn http_get(port: u16, path: &str, accept: Option<&str>) -> (u32, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server of its own, scraping `target` every second.
struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path, target: &str) -> Self {
        assert!(
            Path::new("/usr/bin/prometheus").exists(),
            "these tests need Debian's prometheus: `cargo xtask deps` installs it"
        );
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: oomtrace\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("prometheus.log")).unwrap(),
            ))
            .spawn()
            .expect("starting prometheus");
        let p = Prometheus {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http_get(port, "/-/ready", None).0 == 200
            {
                return p;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("prometheus never got ready: {}", p.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query's samples: labels (without `__name__`, job,
    /// instance) and value.
    fn query(&self, q: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let (status, body) = http_get(
            self.port,
            &format!("/api/v1/query?query={}", url_encode(q)),
            None,
        );
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| !["__name__", "job", "instance"].contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                (labels, r["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const UID1: &str = "0b8f2c4e-1d2a-4f6b-9c3d-5e7f8a9b0c1d";
const UID2: &str = "7a1e9f30-5b6c-4d7e-8f90-a1b2c3d4e5f6";
const UID3: &str = "c0ffee00-1111-4222-8333-944455566677";

fn id(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A memcg OOM of oomtrace's own hog in the cgroup at `path`.
fn oom_in(path: &str) {
    let out = Command::new(OOMTRACE)
        .args(["trigger", "memcg", "--limit", "16M", "--cgroup", path])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("was killed by the OOM killer"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = [
        "constraint",
        "namespace",
        "pod",
        "pod_uid",
        "container",
        "unit",
        "cgroup",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), String::new()))
    .collect();
    m.insert("constraint".into(), "memcg".into());
    for (k, v) in pairs {
        m.insert((*k).into(), (*v).into());
    }
    // Prometheus drops empty labels.
    m.retain(|_, v| !v.is_empty());
    m
}

#[test]
fn prometheus_counts_each_workloads_oom_kills_as_the_kernel_does() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let base = Scratch::new("fleet");
    // The node's files as the runtimes write them, under a host root of
    // the test's own.
    let host = base.join("host");
    let (c1, c2, c3, c4, c5) = (id('a'), id('b'), id('c'), id('d'), id('e'));
    write(
        &host.join(format!("run/containerd/io.containerd.runtime.v2.task/k8s.io/{c1}/config.json")),
        &serde_json::json!({"ociVersion": "1.1.0", "process": {"args": ["redis-server"]}, "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.image-name": "docker.io/library/redis:7.2",
            "io.kubernetes.cri.sandbox-id": id('f'),
            "io.kubernetes.cri.sandbox-name": "web-7d9f",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": UID1,
        }})
        .to_string(),
    );
    write(
        &host.join(format!(
            "run/containers/storage/overlay-containers/{c2}/userdata/config.json"
        )),
        &serde_json::json!({"ociVersion": "1.0.2-dev", "annotations": {
            "io.kubernetes.cri-o.ContainerType": "container",
            "io.kubernetes.cri-o.ImageName": "quay.io/acme/etl:3",
            "io.kubernetes.container.name": "worker",
            "io.kubernetes.pod.name": "etl-1",
            "io.kubernetes.pod.namespace": "batch",
            "io.kubernetes.pod.uid": UID2,
        }})
        .to_string(),
    );
    write(
        &host.join(format!("var/lib/docker/containers/{c4}/config.v2.json")),
        &serde_json::json!({"ID": c4, "Name": "/redis-cache", "Config": {"Image": "redis:7", "Labels": {}}})
            .to_string(),
    );
    let under = |u: &str| u.replace('-', "_");
    let cgroups = [
        format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{c1}.scope",
            under(UID1)
        ),
        format!("kubepods/besteffort/pod{UID2}/crio-{c2}"),
        format!("kubepods/pod{UID3}/{c3}"),
        format!("system.slice/docker-{c4}.scope"),
        "system.slice/oomtrace-fleet-test.service".to_owned(),
        format!("user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{c5}.scope"),
    ];

    let port = free_port();
    let dir = base.join("sessions");
    let mut agent = Tracer::start(&[
        "agent",
        "--dir",
        dir.to_str().unwrap(),
        "--metrics-addr",
        &format!("127.0.0.1:{port}"),
        "--host-root",
        host.to_str().unwrap(),
        "--rotate-size",
        "20K",
        "--rotate-keep",
        "3",
    ]);
    let prometheus = Prometheus::start(&base.join("prometheus"), &format!("127.0.0.1:{port}"));
    let before = vmstat_oom_kills();
    for c in &cgroups {
        oom_in(c);
    }
    let kills = vmstat_oom_kills() - before;
    assert_eq!(kills, cgroups.len() as u64, "the kernel's oom_kill delta");

    // Prometheus has them once it scraped after the last one.
    let deadline = Instant::now() + Duration::from_secs(60);
    let total = |p: &Prometheus| {
        p.query("sum(oomtrace_oom_kills_total)")
            .first()
            .map_or(0.0, |s| s.1)
    };
    while total(&prometheus) < kills as f64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(total(&prometheus), kills as f64, "{}", prometheus.log());
    assert_eq!(
        prometheus.query("oomtrace_oom_kills_total"),
        vec![(labels(&[]), kills as f64)],
        "by constraint"
    );
    let mut got: Vec<(BTreeMap<String, String>, f64)> =
        prometheus.query("oomtrace_workload_oom_kills_total");
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let short = |c: &str| c[..12].to_owned();
    let mut want = vec![
        (
            labels(&[
                ("namespace", "shop"),
                ("pod", "web-7d9f"),
                ("pod_uid", UID1),
                ("container", "app"),
            ]),
            1.0,
        ),
        (
            labels(&[
                ("namespace", "batch"),
                ("pod", "etl-1"),
                ("pod_uid", UID2),
                ("container", "worker"),
            ]),
            1.0,
        ),
        // No files for this pod: its UID and container id, no names.
        (
            labels(&[("pod_uid", UID3), ("container", &short(&c3))]),
            1.0,
        ),
        (labels(&[("container", "redis-cache")]), 1.0),
        (labels(&[("unit", "oomtrace-fleet-test.service")]), 1.0),
        (
            labels(&[("container", &short(&c5)), ("unit", "user@1000.service")]),
            1.0,
        ),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    assert_eq!(
        prometheus.query("oomtrace_lost_records_total + oomtrace_incomplete_ooms_total")[0].1,
        0.0
    );
    // Each OOM here killed one task (memcg OOMs, no oom.group): as many
    // OOMs and events as the kernel's kills, by constraint; none dropped.
    assert_eq!(
        prometheus.query("oomtrace_ooms_total"),
        vec![(labels(&[]), kills as f64)],
        "OOMs by constraint"
    );
    assert_eq!(
        prometheus.query("oomtrace_events_total")[0].1,
        kills as f64,
        "events written"
    );
    assert_eq!(
        prometheus.query("oomtrace_dropped_events_total + oomtrace_kernel_errors_total")[0].1,
        0.0
    );
    assert_eq!(
        prometheus.query("oomtrace_workload_series")[0].1,
        want.len() as f64,
        "one series per workload killed"
    );
    let last = prometheus.query("oomtrace_last_oom_timestamp_seconds")[0].1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(now - last < 120.0 && now >= last, "{last}");

    // The exposition in Prometheus's own format passes promtool's lint.
    let (status, text) = http_get(port, "/metrics", None);
    assert_eq!(status, 200);
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // SIGHUP starts a new file; SIGTERM ends the session.
    let files = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    };
    let newest = files(&dir).last().cloned().unwrap();
    unsafe { libc::kill(agent.child_pid as i32, libc::SIGHUP) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while files(&dir).last() == Some(&newest) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(
        files(&dir).last(),
        Some(&newest),
        "SIGHUP opened no new file"
    );
    let _ = agent.stderr_lines();
    unsafe { libc::kill(agent.child_pid as i32, libc::SIGTERM) };
    agent.finish(Duration::from_secs(20));

    // At most 3 files, each whole (its header, its events, its own end
    // naming the next), the newest holding the last OOMs with their full
    // paths and container ids, none cut.
    let kept = files(&dir);
    assert!(kept.len() <= 3 && kept.len() >= 2, "{kept:?}");
    let mut events = Vec::new();
    for (i, f) in kept.iter().enumerate() {
        let lines: Vec<Value> = std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["type"], "session", "{f:?}");
        let end = lines.last().unwrap();
        assert_eq!(end["type"], "end", "{f:?}");
        let oom: Vec<&Value> = lines.iter().filter(|l| l["type"] == "oom").collect();
        assert_eq!(end["events"].as_u64(), Some(oom.len() as u64));
        let next = kept
            .get(i + 1)
            .map(|n| n.file_name().unwrap().to_str().unwrap());
        assert_eq!(end["continued_in"].as_str(), next, "{f:?}");
        events.extend(oom.into_iter().cloned());
    }
    assert!(!events.is_empty());
    let tail = &cgroups[cgroups.len() - events.len()..];
    for (e, c) in events.iter().zip(tail) {
        let path = format!("/{c}");
        assert_eq!(e["victim"]["cgroup"], path.as_str(), "no path is cut");
        assert_eq!(e["memcg"], path.as_str());
    }
    let last = events.last().unwrap();
    assert_eq!(last["victim"]["workload"]["container_id"], c5.as_str());
    assert_eq!(last["victim"]["workload"]["runtime"], "podman");
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Runs an agent command line as a deployment gives it (the binary, the
/// host's root, the session directory and the address swapped for this
/// test's), makes one memcg OOM, and checks it was served and recorded.
fn run_deployed(command: &[String], swaps: &[(&str, String)]) {
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let swapped: Vec<String> = command[1..]
        .iter()
        .map(|a| {
            swaps
                .iter()
                .find(|(from, _)| a == from)
                .map_or_else(|| a.clone(), |(_, to)| to.clone())
        })
        .collect();
    let port: u16 = swapped
        .iter()
        .find_map(|a| a.strip_prefix("127.0.0.1:")?.parse().ok())
        .expect("a metrics address");
    let dir = swapped[swapped.iter().position(|a| a == "--dir").unwrap() + 1].clone();
    let args: Vec<&str> = swapped.iter().map(String::as_str).collect();
    let agent = Tracer::start(&args);
    let before = vmstat_oom_kills();
    trigger_memcg();
    let kills = vmstat_oom_kills() - before;
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = format!("oomtrace_oom_kills_total{{constraint=\"memcg\"}} {kills}");
    let mut text = String::new();
    while Instant::now() < deadline {
        text = http_get(port, "/metrics", None).1;
        if text.lines().any(|l| l == want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(text.lines().any(|l| l == want), "{want} not in\n{text}");
    let out = agent.interrupt(Duration::from_secs(20));
    if args.contains(&"--stdout") {
        let events = out
            .lines()
            .filter(|l| l.starts_with("{\"type\":\"oom\""))
            .count();
        assert_eq!(events as u64, kills, "{out}");
    }
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn the_daemonset_is_valid_kubernetes_and_its_command_runs() {
    require_root();
    let manifest = repo("contrib/kubernetes/daemonset.yaml");
    // Against the API of 1.28 (memory.oom.group kills) and the newest the
    // validator knows, rejecting any field the schema does not have.
    for version in ["1.28.0", "1.37.0"] {
        let out = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "-k", version])
            .arg(&manifest)
            .output()
            .expect("python3");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && text.matches("passed").count() == 3,
            "kubernetes-validate {version} (cargo xtask deps installs it): {text}"
        );
    }
    // The container's command and security context, read by PyYAML.
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
             ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d['kind'] == 'DaemonSet'][0]\n\
             print(json.dumps(ds['spec']['template']))",
        )
        .arg(&manifest)
        .output()
        .unwrap();
    let template: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let spec = &template["spec"];
    assert_eq!(spec["hostPID"], true);
    let c = &spec["containers"][0];
    assert_eq!(
        c["securityContext"]["privileged"], false,
        "no privileged: true"
    );
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    let port = annotations["prometheus.io/port"].as_str().unwrap();
    assert_eq!(c["ports"][0]["containerPort"].to_string(), port);
    let command: Vec<String> = c["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(command[..2], ["/usr/bin/oomtrace", "agent"]);
    // Every host path the agent reads is mounted where --host-root says.
    let root = command[command.iter().position(|a| a == "--host-root").unwrap() + 1].clone();
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    for want in [
        "sys/fs/cgroup",
        "run/containerd",
        "run/containers",
        "var/lib/docker/containers",
    ] {
        assert!(
            mounts.contains(&format!("{root}/{want}").as_str()),
            "{want}: {mounts:?}"
        );
    }
    let dir = Scratch::new("ds");
    run_deployed(
        &command,
        &[
            (&root, "/".into()),
            (
                "/var/lib/oomtrace",
                dir.path().to_string_lossy().into_owned(),
            ),
            (
                &format!("0.0.0.0:{port}"),
                format!("127.0.0.1:{}", free_port()),
            ),
        ],
    );
}

#[test]
fn the_agent_unit_has_the_network_and_its_command_runs() {
    require_root();
    let unit = std::fs::read_to_string(repo("contrib/oomtrace-agent.service")).unwrap();
    let key = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(str::to_owned)
    };
    assert_eq!(
        key("PrivateNetwork"),
        None,
        "the metrics port needs the network"
    );
    let families = key("RestrictAddressFamilies").unwrap();
    assert!(
        families.contains("AF_INET") && families.contains("AF_INET6"),
        "{families}"
    );
    assert_eq!(
        key("ExecReload").as_deref(),
        Some("/bin/kill -HUP $MAINPID")
    );
    let command: Vec<String> = key("ExecStart")
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(command[..2], ["/usr/local/bin/oomtrace", "agent"]);
    let addr = command[command.iter().position(|a| a == "--metrics-addr").unwrap() + 1].clone();
    let dir = Scratch::new("unit");
    run_deployed(
        &command,
        &[
            (
                "/var/log/oomtrace",
                dir.path().to_string_lossy().into_owned(),
            ),
            (&addr, format!("127.0.0.1:{}", free_port())),
        ],
    );
}

/// containerd, run by a test on its own socket and directories (the bundle
/// state under a host root of the test's), stopped with its shims when
/// dropped.
struct Containerd {
    child: Child,
    sock: PathBuf,
}

impl Containerd {
    fn start(dir: &Scratch, host: &Path) -> Containerd {
        let sock = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        write(
            &config,
            &format!(
                "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n",
                dir.join("root").display(),
                host.join("run/containerd").display(),
                sock.display(),
                sock.display()
            ),
        );
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("containerd (Debian's containerd; cargo xtask deps installs it)");
        let c = Containerd { child, sock };
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.ctr(&["version"]).is_none() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                std::fs::read_to_string(dir.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        c
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address")
            .arg(&self.sock)
            .args(["--namespace", "k8s.io"]);
        cmd
    }

    /// `ctr ARGS`' stdout, if it succeeded.
    fn ctr(&self, args: &[&str]) -> Option<String> {
        let out = self.command().args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Its shims outlive it: they are found by its socket's path.
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(self.sock.to_string_lossy().as_ref())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A static hog for a container's empty root: runs for two seconds, as a
/// service would before it grows, then allocates and touches 1 MiB at a
/// time until killed, never more than 256 MiB of address space.
const STATIC_HOG_C: &str = r#"
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
int main(void) {
    struct rlimit r = { 256 << 20, 256 << 20 };
    setrlimit(RLIMIT_AS, &r);
    sleep(2);
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p)
            return 2;
        memset(p, 1, 1 << 20);
    }
}
"#;

/// A real container: Debian's containerd and runc run a static hog with a
/// 32 MiB limit in the cgroup the kubelet's cgroupfs driver gives a
/// burstable pod's container, with the CRI plugin's annotations. containerd
/// writes the OCI bundle, runc makes the cgroup and its limit, the kernel
/// kills the hog. The oracles: the kernel's `oom-kill:` line (pid, both
/// cgroup paths), runc's pid file, the `oom_kill` counter; the names are
/// the bundle's, as containerd wrote it. `ctr run --rm` deletes the bundle
/// the moment the hog is dead, as the CRI plugin does: the names come from
/// the tracer's bundle reader, which saw it while the hog ran.
#[test]
fn a_real_containerd_containers_oom_is_named_from_its_bundle() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = Scratch::new("containerd");
    let host = dir.join("host");
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    write(&dir.join("hog.c"), STATIC_HOG_C);
    let cc = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(rootfs.join("hog"))
        .arg(dir.join("hog.c"))
        .output()
        .expect("cc");
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let containerd = Containerd::start(&dir, &host);
    let uid = "5d0c3b2a-8e7f-4a6b-9c1d-2e3f4a5b6c7d";
    let cid = "f00dcafe".repeat(8);
    let cgroup = format!("/kubepods/burstable/pod{uid}/{cid}");

    await_whole_kernel_report();
    let tracer = Tracer::start(&[
        "trace",
        "--json",
        "--count",
        "1",
        "--host-root",
        host.to_str().unwrap(),
    ]);
    let before = vmstat_oom_kills();
    let pid_file = dir.join("pid");
    let annotations = [
        ("io.kubernetes.cri.container-type", "container"),
        ("io.kubernetes.cri.container-name", "app"),
        ("io.kubernetes.cri.sandbox-name", "web-0"),
        ("io.kubernetes.cri.sandbox-namespace", "shop"),
        ("io.kubernetes.cri.sandbox-uid", uid),
        (
            "io.kubernetes.cri.image-name",
            "registry.example/shop/web:1.0",
        ),
    ];
    // Debian's runc is in /usr/sbin, which a CI's PATH may lack.
    let runc = ["/usr/sbin/runc", "/usr/bin/runc"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("runc (Debian's runc; cargo xtask deps installs it)");
    let mut run = containerd.command();
    run.args(["run", "--rm", "--null-io", "--rootfs"])
        .args(["--runc-binary", runc])
        .args(["--cgroup", &cgroup])
        .args(["--memory-limit", &(32u64 << 20).to_string()])
        .arg("--pid-file")
        .arg(&pid_file);
    for (k, v) in annotations {
        run.arg("--annotation").arg(format!("{k}={v}"));
    }
    let out = run.arg(&rootfs).arg(&cid).arg("/hog").output().unwrap();
    let stdout = tracer.finish(Duration::from_secs(30));
    let kills = vmstat_oom_kills() - before;
    // runc leaves the pod's and the QoS class's directories.
    for controller in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for d in [
            format!("kubepods/burstable/pod{uid}"),
            "kubepods/burstable".into(),
            "kubepods".into(),
        ] {
            let _ = std::fs::remove_dir(controller.path().join(d));
        }
    }
    assert!(
        !out.status.success(),
        "the hog outlived its limit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(kills, 1, "the kernel's oom_kill counter");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let report = kernel_report_for(pid);
    let kernel = &report.summary;
    let ev: Value = serde_json::from_str(stdout.lines().next().expect("an event")).unwrap();
    assert_eq!(ev["victim"]["pid"], pid, "{ev}");
    assert_eq!(ev["victim"]["comm"], "hog");
    assert_eq!(
        kernel["task_memcg"], cgroup,
        "runc made the cgroup asked for"
    );
    assert_eq!(ev["victim"]["cgroup"], kernel["task_memcg"].as_str());
    assert_eq!(ev["memcg"], kernel["oom_memcg"].as_str());
    assert_eq!(kernel["constraint"], "CONSTRAINT_MEMCG");
    let w = &ev["victim"]["workload"];
    for (field, want) in [
        ("pod_uid", uid),
        ("qos", "burstable"),
        ("container_id", cid.as_str()),
        ("runtime", "containerd"),
        ("namespace", "shop"),
        ("pod", "web-0"),
        ("container", "app"),
        ("image", "registry.example/shop/web:1.0"),
    ] {
        assert_eq!(w[field], want, "{field}: {w}");
    }
    assert_eq!(
        ev["memcg_workload"], *w,
        "the OOM's domain is the container"
    );
    println!(
        "containerd {}: {w}",
        containerd
            .ctr(&["version"])
            .unwrap_or_default()
            .lines()
            .nth(1)
            .unwrap_or("")
    );
}
