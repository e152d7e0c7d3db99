//! What a cgroup path means: the Kubernetes pod (UID, QoS class) and
//! container, the docker or podman container, the systemd unit and slice.
//! Read from the path alone, for the kubelet's `systemd` and `cgroupfs`
//! drivers, containerd (`cri-containerd-`), CRI-O (`crio-`), docker and
//! podman (rootful and rootless), cgroup v1 and v2. Names (namespace, pod,
//! container, image) come from the runtimes' files on the node, through
//! [`OciNames`]; what is not known is absent, never guessed.

use crate::schema::event::Workload;

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_uid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        })
}

/// A container scope or directory: (runtime, id).
fn container(name: &str) -> Option<(&'static str, String)> {
    let stem = name.strip_suffix(".scope").unwrap_or(name);
    for (prefix, runtime) in [
        ("cri-containerd-", "containerd"),
        ("crio-conmon-", "cri-o"),
        ("crio-", "cri-o"),
        ("docker-", "docker"),
        ("libpod-conmon-", "podman"),
        ("libpod-", "podman"),
    ] {
        if let Some(id) = stem.strip_prefix(prefix)
            && is_id(id)
        {
            return Some((runtime, id.to_owned()));
        }
    }
    None
}

/// `pod<uid>` (cgroupfs driver) or `kubepods[-qos]-pod<uid_with_underscores>.slice`.
fn pod(name: &str) -> Option<(Option<&'static str>, String)> {
    if let Some(uid) = name.strip_prefix("pod")
        && is_uid(uid)
    {
        return Some((None, uid.to_owned()));
    }
    let stem = name.strip_suffix(".slice")?;
    let (qos, rest) = if let Some(r) = stem.strip_prefix("kubepods-burstable-pod") {
        (Some("burstable"), r)
    } else if let Some(r) = stem.strip_prefix("kubepods-besteffort-pod") {
        (Some("besteffort"), r)
    } else {
        (Some("guaranteed"), stem.strip_prefix("kubepods-pod")?)
    };
    let uid = rest.replace('_', "-");
    is_uid(&uid).then_some((qos, uid))
}

const UNIT_SUFFIXES: [&str; 6] = [
    ".service", ".scope", ".socket", ".mount", ".swap", ".target",
];

impl Workload {
    /// What `path` (a cgroup path as events hold it) says; `None` when it
    /// says nothing (the root, a plain directory).
    pub fn from_path(path: &str) -> Option<Workload> {
        let parts: Vec<&str> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != "...")
            .collect();
        let mut w = Workload::default();
        let mut in_kubepods = false;
        for (i, p) in parts.iter().enumerate() {
            if *p == "kubepods" || *p == "kubepods.slice" {
                in_kubepods = true;
                continue;
            }
            if in_kubepods
                && w.pod_uid.is_none()
                && let Some((qos, uid)) = pod(p)
            {
                // cgroupfs: the QoS class is the directory above, or none (guaranteed).
                let qos = qos.unwrap_or(match parts.get(i.wrapping_sub(1)) {
                    Some(&"burstable") => "burstable",
                    Some(&"besteffort") => "besteffort",
                    _ => "guaranteed",
                });
                w.pod_uid = Some(uid);
                w.qos = Some(qos.to_owned());
                continue;
            }
            if let Some((runtime, id)) = container(p) {
                w.runtime = Some(runtime.to_owned());
                w.container_id = Some(id);
                continue;
            }
            // cgroupfs drivers: a bare id under a pod, or under /docker.
            if is_id(p) && w.container_id.is_none() {
                if w.pod_uid.is_some() {
                    w.container_id = Some((*p).to_owned());
                    continue;
                }
                if i > 0 && parts[i - 1] == "docker" {
                    w.runtime = Some("docker".into());
                    w.container_id = Some((*p).to_owned());
                    continue;
                }
            }
            if p.ends_with(".slice") {
                w.slice = Some((*p).to_owned());
            } else if UNIT_SUFFIXES.iter().any(|s| p.ends_with(s)) {
                w.unit = Some((*p).to_owned());
            }
        }
        (w != Workload::default()).then_some(w)
    }

    /// Adds the names the runtime's files give, if they are this
    /// workload's (the same pod UID where both say one).
    pub fn name_from(&mut self, n: &OciNames) {
        if let (Some(mine), Some(theirs)) = (&self.pod_uid, &n.pod_uid)
            && mine != theirs
        {
            return;
        }
        if self.runtime.is_none() && self.container_id.is_some() {
            self.runtime = n.runtime.clone();
        }
        self.namespace = n.namespace.clone();
        self.pod = n.pod.clone();
        self.container = n.container.clone();
        self.image = n.image.clone();
        if self.pod_uid.is_none() {
            self.pod_uid = n.pod_uid.clone();
        }
    }

    /// One short name, as a chart or a summary row shows it.
    pub fn label(&self) -> String {
        let short = |id: &String| id[..12.min(id.len())].to_owned();
        match (&self.namespace, &self.pod, &self.pod_uid) {
            (Some(ns), Some(pod), _) => {
                let c = self
                    .container
                    .clone()
                    .or(self.container_id.as_ref().map(short));
                match c {
                    Some(c) => format!("{ns}/{pod}/{c}"),
                    None => format!("{ns}/{pod}"),
                }
            }
            (_, _, Some(uid)) => match &self.container_id {
                Some(id) => format!("pod {uid}/{}", short(id)),
                None => format!("pod {uid}"),
            },
            _ => match (&self.container_id, &self.container, &self.unit) {
                (_, Some(name), _) => {
                    format!("{} {name}", self.runtime.as_deref().unwrap_or("container"))
                }
                (Some(id), None, _) => format!(
                    "{} {}",
                    self.runtime.as_deref().unwrap_or("container"),
                    short(id)
                ),
                (None, None, Some(unit)) => unit.clone(),
                (None, None, None) => self.slice.clone().unwrap_or_default(),
            },
        }
    }
}

/// What a container's files on the node say about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OciNames {
    /// The runtime whose files these are, where only one keeps them there.
    pub runtime: Option<String>,
    pub pod_uid: Option<String>,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub image: Option<String>,
}

impl OciNames {
    /// From an OCI bundle's `config.json` as containerd's CRI plugin or
    /// CRI-O write it (their `io.kubernetes.*` annotations); `None` when it
    /// has none of them. A sandbox (pause) container names its pod only.
    pub fn from_oci_config(json: &serde_json::Value) -> Option<OciNames> {
        let a = json.get("annotations")?.as_object()?;
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| a.get(*k).and_then(|v| v.as_str()))
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let sandbox = get(&[
            "io.kubernetes.cri.container-type",
            "io.kubernetes.cri-o.ContainerType",
        ])
        .is_some_and(|t| t == "sandbox");
        let n = OciNames {
            runtime: None,
            pod_uid: get(&["io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"]),
            namespace: get(&[
                "io.kubernetes.cri.sandbox-namespace",
                "io.kubernetes.pod.namespace",
            ]),
            pod: get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
            container: if sandbox {
                None
            } else {
                get(&[
                    "io.kubernetes.cri.container-name",
                    "io.kubernetes.container.name",
                ])
            },
            image: if sandbox {
                None
            } else {
                get(&[
                    "io.kubernetes.cri.image-name",
                    "io.kubernetes.cri-o.ImageName",
                ])
            },
        };
        (n != OciNames::default()).then_some(n)
    }

    /// From docker's `config.v2.json`: the container's name and image, and
    /// the pod's where the kubelet's labels are there.
    pub fn from_docker_config(json: &serde_json::Value) -> Option<OciNames> {
        let config = json.get("Config")?;
        let labels = config.get("Labels").and_then(|l| l.as_object());
        let label = |k: &str| {
            labels
                .and_then(|l| l.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let container = label("io.kubernetes.container.name").or_else(|| {
            json.get("Name")
                .and_then(|n| n.as_str())
                .map(|n| n.trim_start_matches('/').to_owned())
        });
        Some(OciNames {
            runtime: Some("docker".into()),
            pod_uid: label("io.kubernetes.pod.uid"),
            namespace: label("io.kubernetes.pod.namespace"),
            pod: label("io.kubernetes.pod.name"),
            container,
            image: config
                .get("Image")
                .and_then(|i| i.as_str())
                .map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "0b8f2c4e-1d2a-4f6b-9c3d-5e7f8a9b0c1d";

    fn w(path: &str) -> Workload {
        Workload::from_path(path).unwrap_or_else(|| panic!("nothing in {path}"))
    }

    #[test]
    fn kubernetes_paths_of_both_drivers_and_every_runtime() {
        let under = UID.replace('-', "_");
        for (path, qos, runtime) in [
            (
                format!(
                    "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{under}.slice/cri-containerd-{ID}.scope"
                ),
                "burstable",
                Some("containerd"),
            ),
            (
                format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{under}.slice/crio-{ID}.scope"
                ),
                "besteffort",
                Some("cri-o"),
            ),
            (
                format!("/kubepods.slice/kubepods-pod{under}.slice/docker-{ID}.scope"),
                "guaranteed",
                Some("docker"),
            ),
            (
                format!("/kubepods/burstable/pod{UID}/{ID}"),
                "burstable",
                None,
            ),
            (format!("/kubepods/pod{UID}/{ID}"), "guaranteed", None),
            (
                format!("/kubepods/besteffort/pod{UID}/crio-{ID}"),
                "besteffort",
                Some("cri-o"),
            ),
        ] {
            let got = w(&path);
            assert_eq!(got.pod_uid.as_deref(), Some(UID), "{path}");
            assert_eq!(got.qos.as_deref(), Some(qos), "{path}");
            assert_eq!(got.container_id.as_deref(), Some(ID), "{path}");
            assert_eq!(got.runtime.as_deref(), runtime, "{path}");
            assert_eq!(got.unit, None, "{path}");
        }
        // The pod's own cgroup (a pod-level OOM domain): no container.
        let pod = w(&format!("/kubepods/burstable/pod{UID}"));
        assert_eq!(
            (pod.pod_uid.as_deref(), pod.container_id),
            (Some(UID), None)
        );
    }

    #[test]
    fn docker_podman_and_systemd_paths() {
        let d = w(&format!("/system.slice/docker-{ID}.scope"));
        assert_eq!(
            (d.runtime.as_deref(), d.container_id.as_deref()),
            (Some("docker"), Some(ID))
        );
        assert_eq!(d.unit, None);
        assert_eq!(d.slice.as_deref(), Some("system.slice"));
        let d = w(&format!("/docker/{ID}"));
        assert_eq!(
            (d.runtime.as_deref(), d.container_id.as_deref()),
            (Some("docker"), Some(ID))
        );
        let p = w(&format!("/machine.slice/libpod-{ID}.scope/container"));
        assert_eq!(
            (p.runtime.as_deref(), p.container_id.as_deref()),
            (Some("podman"), Some(ID))
        );
        let rootless = w(&format!(
            "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
        ));
        assert_eq!(rootless.container_id.as_deref(), Some(ID));
        assert_eq!(rootless.unit.as_deref(), Some("user@1000.service"));
        let unit = w("/system.slice/nginx.service");
        assert_eq!(unit.unit.as_deref(), Some("nginx.service"));
        assert_eq!(unit.label(), "nginx.service");
        assert_eq!(Workload::from_path("/"), None);
        assert_eq!(Workload::from_path("/oomtrace-trigger-12"), None);
        // A path cut at its top still names its leaf.
        assert_eq!(
            w(&format!("/.../crio-{ID}.scope")).container_id.as_deref(),
            Some(ID)
        );
        // Not quite ids are not ids.
        assert_eq!(Workload::from_path(&format!("/docker/{}", &ID[1..])), None);
    }

    #[test]
    fn names_come_from_the_runtimes_files_of_the_same_pod() {
        let containerd: serde_json::Value = serde_json::json!({"ociVersion": "1.1.0", "annotations": {
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.image-name": "docker.io/library/redis:7",
            "io.kubernetes.cri.sandbox-id": ID,
            "io.kubernetes.cri.sandbox-name": "web-7d9f",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": UID,
        }});
        let n = OciNames::from_oci_config(&containerd).unwrap();
        let mut k = w(&format!("/kubepods/burstable/pod{UID}/{ID}"));
        k.name_from(&n);
        assert_eq!(k.label(), "shop/web-7d9f/app");
        assert_eq!(k.image.as_deref(), Some("docker.io/library/redis:7"));
        // Another pod's file names nothing here.
        let mut other = w(&format!(
            "/kubepods/burstable/pod{}/{ID}",
            UID.replace('0', "1")
        ));
        other.name_from(&n);
        assert_eq!(other.pod, None);
        let crio = serde_json::json!({"annotations": {
            "io.kubernetes.cri-o.ContainerType": "sandbox",
            "io.kubernetes.pod.name": "web-7d9f",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": UID,
            "io.kubernetes.container.name": "POD",
        }});
        let n = OciNames::from_oci_config(&crio).unwrap();
        assert_eq!((n.pod.as_deref(), n.container), (Some("web-7d9f"), None));
        let docker = serde_json::json!({"Name": "/redis-cache", "Config": {"Image": "redis:7", "Labels": {}}});
        let n = OciNames::from_docker_config(&docker).unwrap();
        let mut d = w(&format!("/system.slice/docker-{ID}.scope"));
        d.name_from(&n);
        assert_eq!(d.label(), "docker redis-cache");
        assert_eq!(
            OciNames::from_oci_config(&serde_json::json!({"annotations": {}})),
            None
        );
    }

    /// A pod's UID is 36 characters with dashes at 8, 13, 18 and 23; a
    /// bare 64-hex id is a container only under a pod or `/docker`.
    #[test]
    fn only_real_uids_and_ids_in_their_place() {
        assert_eq!(Workload::from_path("/kubepods/podabc"), None);
        let wrong_dashes = UID.replacen('-', "x", 1) + "-";
        assert_eq!(wrong_dashes.len(), 37);
        assert_eq!(
            Workload::from_path(&format!("/kubepods/pod{}", &wrong_dashes[..36])),
            None
        );
        assert_eq!(Workload::from_path(&format!("/{ID}")), None);
        let beside = w(&format!("/system.slice/{ID}"));
        assert_eq!((beside.runtime, beside.container_id), (None, None));
    }

    /// The runtime's files name the runtime of a container only.
    #[test]
    fn a_runtime_is_named_for_a_container_only() {
        let n = OciNames {
            runtime: Some("cri-o".into()),
            pod: Some("web".into()),
            ..OciNames::default()
        };
        let mut unit = w("/system.slice/nginx.service");
        unit.name_from(&n);
        assert_eq!(unit.runtime, None);
        let mut bare = w(&format!("/kubepods/pod{UID}/{ID}"));
        bare.name_from(&n);
        assert_eq!(bare.runtime.as_deref(), Some("cri-o"));
        let mut docker = w(&format!("/system.slice/docker-{ID}.scope"));
        docker.name_from(&n);
        assert_eq!(docker.runtime.as_deref(), Some("docker"));
    }

    /// A pod known by its UID only (no runtime files read): the UID and
    /// the container's short id.
    #[test]
    fn a_pod_without_names_is_its_uid() {
        let k = w(&format!("/kubepods/pod{UID}/{ID}"));
        assert_eq!(k.label(), format!("pod {UID}/{}", &ID[..12]));
        assert_eq!(
            w(&format!("/kubepods/pod{UID}")).label(),
            format!("pod {UID}")
        );
    }
}
