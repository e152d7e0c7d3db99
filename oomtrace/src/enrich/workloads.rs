//! Each victim's and memory cgroup's workload: what its cgroup path means,
//! with the names the container runtimes' files on this node give it.

use oomtrace_core::enrich::workload::OciNames;
use oomtrace_core::pipeline::Enricher;
use oomtrace_core::schema::event::{OomEvent, Workload};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Each cgroup path of an event read as a workload (pod, container, unit:
/// [`Workload::from_path`]), named from the container runtimes' files on the
/// node (under `host_root`, `/` unless the agent runs in a container with
/// the host mounted elsewhere): containerd's and CRI-O's OCI bundles
/// (`config.json`, the `io.kubernetes.*` annotations) and docker's
/// `config.v2.json`. Looked up while the container exists; remembered by
/// container id and pod UID (bounded). The live commands also read every
/// new bundle once a second ([`Workloads::watching`]): containerd's CRI
/// plugin deletes a task's bundle as soon as its process has exited, which
/// can be before an OOM's event is whole.
pub struct Workloads {
    host_root: PathBuf,
    by_container: HashMap<String, OciNames>,
    by_pod: HashMap<String, OciNames>,
    /// What the watcher read of each container's bundle, by id: its names,
    /// or `None` for a whole config that names nothing (not read again).
    seen: Option<std::sync::Arc<std::sync::Mutex<Seen>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// A live command's: the bundle reader runs once a runtime's directory
    /// is there ([`Workloads::watch_if_runtimes`]).
    watch: bool,
}

type Seen = HashMap<String, Option<OciNames>>;

/// How often [`Workloads::watching`] reads the runtimes' bundles.
const BUNDLE_SCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Names remembered at most (then forgotten all at once).
const NAMES_REMEMBERED: usize = 4096;
/// A runtime's file larger than this is not one it wrote.
const CONFIG_MAX_BYTES: u64 = 4 << 20;
/// Bundles looked at when only a pod UID is known.
const BUNDLES_SCANNED: usize = 4096;

impl Workloads {
    pub fn new(host_root: &Path) -> Self {
        Self {
            host_root: host_root.to_owned(),
            by_container: HashMap::new(),
            by_pod: HashMap::new(),
            seen: None,
            stop: Default::default(),
            watch: false,
        }
    }

    /// As [`Workloads::new`], and a thread reads each new container's
    /// bundle once a second, so that a container that ran for a second is
    /// named after its bundle is gone. On a node without a container
    /// runtime's directory the thread waits unborn (an idle tracer wakes
    /// nothing), and each event looks again.
    pub fn watching(host_root: &Path) -> Self {
        let mut w = Self::new(host_root);
        w.watch = true;
        w.watch_if_runtimes();
        w
    }

    /// Starts the bundle reader of [`Workloads::watching`] once a runtime's
    /// bundle directory exists.
    fn watch_if_runtimes(&mut self) {
        use std::sync::atomic::Ordering;
        if !self.watch || self.seen.is_some() {
            return;
        }
        if !Self::bundle_dirs(&self.host_root)
            .iter()
            .any(|(d, _)| d.is_dir())
        {
            return;
        }
        let seen = std::sync::Arc::new(std::sync::Mutex::new(HashMap::new()));
        let (root, map, stop) = (self.host_root.clone(), seen.clone(), self.stop.clone());
        let spawned = std::thread::Builder::new()
            .name("bundles".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    Self::scan(&root, &map);
                    std::thread::sleep(BUNDLE_SCAN_INTERVAL);
                }
            });
        match spawned {
            Ok(_) => self.seen = Some(seen),
            Err(e) => {
                // Said once: not tried again.
                self.watch = false;
                eprintln!(
                    "oomtrace: containers that end before their OOM is whole may go unnamed (cannot start the bundle reader: {e})"
                )
            }
        }
    }

    /// Reads the bundles not read before (at most [`BUNDLES_SCANNED`]); one
    /// whose config is missing or partly written is read again next time.
    fn scan(root: &Path, seen: &std::sync::Mutex<Seen>) {
        let mut fresh = Vec::new();
        let mut looked = 0;
        for (dir, runtime) in Self::bundle_dirs(root) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                looked += 1;
                if looked > BUNDLES_SCANNED {
                    break;
                }
                let id = e.file_name().to_string_lossy().into_owned();
                let known = seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(&id);
                if !known && let Some(json) = Self::config_json(&e.path()) {
                    let names = OciNames::from_oci_config(&json).map(|n| OciNames {
                        runtime: runtime.map(str::to_owned),
                        ..n
                    });
                    fresh.push((id, names));
                }
            }
        }
        let mut map = seen.lock().unwrap_or_else(|e| e.into_inner());
        for (id, n) in fresh {
            if map.len() >= NAMES_REMEMBERED {
                map.clear();
            }
            map.insert(id, n);
        }
    }

    fn read_json(path: &Path) -> Option<serde_json::Value> {
        use std::io::Read;
        let f = std::fs::File::open(path).ok()?;
        let mut text = Vec::new();
        f.take(CONFIG_MAX_BYTES).read_to_end(&mut text).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The directories holding one OCI bundle (or storage entry) per
    /// container, with the runtime that keeps them (containers/storage's
    /// are CRI-O's or podman's alike).
    fn bundle_dirs(r: &Path) -> Vec<(PathBuf, Option<&'static str>)> {
        let mut dirs = vec![
            (r.join("run/containers/storage/overlay-containers"), None),
            (
                r.join("var/lib/containers/storage/overlay-containers"),
                None,
            ),
        ];
        // containerd: one directory per namespace (k8s.io, moby, default, ...).
        if let Ok(nss) = std::fs::read_dir(r.join("run/containerd/io.containerd.runtime.v2.task")) {
            dirs.extend(
                nss.flatten()
                    .take(64)
                    .map(|e| (e.path(), Some("containerd"))),
            );
        }
        dirs
    }

    /// A bundle's OCI config, whole.
    fn config_json(dir: &Path) -> Option<serde_json::Value> {
        [dir.join("config.json"), dir.join("userdata/config.json")]
            .iter()
            .find_map(|p| Self::read_json(p))
    }

    fn config_of(dir: &Path) -> Option<OciNames> {
        OciNames::from_oci_config(&Self::config_json(dir)?)
    }

    fn names_of_container(&mut self, id: &str) -> Option<OciNames> {
        if let Some(n) = self.by_container.get(id) {
            return Some(n.clone());
        }
        let found = Self::bundle_dirs(&self.host_root)
            .iter()
            .find_map(|(d, runtime)| {
                Some(OciNames {
                    runtime: runtime.map(str::to_owned),
                    ..Self::config_of(&d.join(id))?
                })
            })
            .or_else(|| {
                Self::read_json(
                    &self
                        .host_root
                        .join("var/lib/docker/containers")
                        .join(id)
                        .join("config.v2.json"),
                )
                .and_then(|j| OciNames::from_docker_config(&j))
            })
            .or_else(|| self.seen_names(|map| map.get(id).cloned().flatten()))?;
        self.remember(true, id, &found);
        Some(found)
    }

    /// A pod's names from any of its containers' bundles (a pod-level OOM
    /// domain names no container).
    fn names_of_pod(&mut self, uid: &str) -> Option<OciNames> {
        if let Some(n) = self.by_pod.get(uid) {
            return Some(n.clone());
        }
        let of_pod = |n: OciNames| {
            (n.pod_uid.as_deref() == Some(uid)).then_some(OciNames {
                runtime: None,
                container: None,
                image: None,
                ..n
            })
        };
        let found = Self::bundle_dirs(&self.host_root)
            .iter()
            .filter_map(|(dir, _)| std::fs::read_dir(dir).ok())
            .flat_map(|entries| entries.flatten())
            .take(BUNDLES_SCANNED)
            .find_map(|e| of_pod(Self::config_of(&e.path())?))
            .or_else(|| {
                self.seen_names(|map| map.values().flatten().find_map(|n| of_pod(n.clone())))
            })?;
        self.remember(false, uid, &found);
        Some(found)
    }

    /// What the bundle watcher saw, if it runs.
    fn seen_names(&self, f: impl FnOnce(&Seen) -> Option<OciNames>) -> Option<OciNames> {
        f(&self
            .seen
            .as_ref()?
            .lock()
            .unwrap_or_else(|e| e.into_inner()))
    }

    fn remember(&mut self, container: bool, key: &str, n: &OciNames) {
        let map = if container {
            &mut self.by_container
        } else {
            &mut self.by_pod
        };
        if map.len() >= NAMES_REMEMBERED {
            map.clear();
        }
        map.insert(key.to_owned(), n.clone());
    }

    fn workload(&mut self, path: Option<&str>) -> Option<Workload> {
        let mut w = Workload::from_path(path?)?;
        let names = match (&w.container_id, &w.pod_uid) {
            (Some(id), _) => self.names_of_container(&id.clone()),
            (None, Some(uid)) => self.names_of_pod(&uid.clone()),
            _ => None,
        };
        if let Some(n) = names {
            w.name_from(&n);
        }
        Some(w)
    }
}

impl Drop for Workloads {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Enricher for Workloads {
    fn enrich(&mut self, ev: &mut OomEvent) {
        self.watch_if_runtimes();
        ev.trigger.workload = self.workload(ev.trigger.cgroup.as_deref());
        ev.memcg_workload = self.workload(ev.memcg.as_deref());
        for v in ev.victim.iter_mut().chain(ev.also_killed.iter_mut()) {
            v.workload = self.workload(v.cgroup.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No runtime's directory on the node: no reader thread, which would
    /// wake an idle tracer every second; one appears, and the next event
    /// starts it.
    #[test]
    fn the_bundle_reader_waits_for_a_runtime() {
        let root = std::env::temp_dir().join(format!("oomtrace-noruntime-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut w = Workloads::watching(&root);
        assert!(w.seen.is_none(), "a reader started with no runtime");
        w.enrich(&mut OomEvent::default());
        assert!(w.seen.is_none(), "a reader started with no runtime");
        std::fs::create_dir_all(root.join("run/containerd/io.containerd.runtime.v2.task/k8s.io"))
            .unwrap();
        w.enrich(&mut OomEvent::default());
        assert!(
            w.seen.is_some(),
            "no reader once containerd's bundles are there"
        );
        assert!(
            Workloads::new(&root).seen.is_none(),
            "new() never reads bundles"
        );
        drop(w);
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A container whose bundle is deleted before its OOM's event is whole
    /// (containerd's CRI plugin deletes it as the process exits) is named
    /// from what the bundle reader saw while it ran; a plain reader, which
    /// looks only when the event comes, names nothing then.
    #[test]
    fn a_bundle_gone_before_the_event_still_names_its_container() {
        let root = std::env::temp_dir().join(format!("oomtrace-bundles-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let id = "c".repeat(64);
        let uid = "0b8f2c4e-1d2a-4f6b-9c3d-5e7f8a9b0c1d";
        let bundle = root
            .join("run/containerd/io.containerd.runtime.v2.task/k8s.io")
            .join(&id);
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            serde_json::json!({"annotations": {
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.container-name": "app",
                "io.kubernetes.cri.sandbox-name": "web-0",
                "io.kubernetes.cri.sandbox-namespace": "shop",
                "io.kubernetes.cri.sandbox-uid": uid,
            }})
            .to_string(),
        )
        .unwrap();
        // A second bundle whose directory is there before its config (as
        // a runtime makes it): read again until the config is whole.
        let late_id = "d".repeat(64);
        let late = bundle.with_file_name(&late_id);
        std::fs::create_dir_all(&late).unwrap();
        std::fs::write(late.join("config.json"), "{\"annotations\": {").unwrap();
        let mut watching = Workloads::watching(&root);
        let mut plain = Workloads::new(&root);
        std::thread::sleep(BUNDLE_SCAN_INTERVAL * 2);
        std::fs::write(
            late.join("config.json"),
            std::fs::read_to_string(bundle.join("config.json"))
                .unwrap()
                .replace("\"app\"", "\"sidecar\""),
        )
        .unwrap();
        std::thread::sleep(BUNDLE_SCAN_INTERVAL * 2);
        std::fs::remove_dir_all(&bundle).unwrap();
        std::fs::remove_dir_all(&late).unwrap();
        let l = watching
            .workload(Some(&format!("/kubepods/burstable/pod{uid}/{late_id}")))
            .unwrap();
        assert_eq!(l.container.as_deref(), Some("sidecar"));
        let path = format!("/kubepods/burstable/pod{uid}/{id}");
        let w = watching.workload(Some(&path)).unwrap();
        assert_eq!(
            (
                w.namespace.as_deref(),
                w.pod.as_deref(),
                w.container.as_deref()
            ),
            (Some("shop"), Some("web-0"), Some("app"))
        );
        assert_eq!(w.runtime.as_deref(), Some("containerd"));
        let p = plain.workload(Some(&path)).unwrap();
        assert_eq!(
            (p.pod_uid.as_deref(), p.container.as_deref()),
            (Some(uid), None)
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
