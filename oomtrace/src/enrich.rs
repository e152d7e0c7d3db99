//! Enrichers: what is looked up outside an event and added to it before it
//! is filtered and shown, while what it names still exists.

use blazesym::Pid;
use blazesym::helper::read_elf_build_id;
use blazesym::normalize::{Normalizer, UserMeta};
use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use oomtrace_core::event::{OomEvent, UserFrame};
use oomtrace_core::pipeline::Enricher;
use oomtrace_core::workload::{OciNames, Workload};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The trigger's user stack, resolved while the process lives (blazesym):
/// each frame's file, file offset and build id (enough to symbolize it
/// later, elsewhere), its function and, with debug info, file and line.
/// Live events only: a pid in a recorded session may be another process.
pub struct UserStacks {
    symbolizer: Symbolizer,
    normalizer: Normalizer,
}

impl UserStacks {
    pub fn new() -> Self {
        Self {
            symbolizer: Symbolizer::new(),
            normalizer: Normalizer::builder().enable_build_ids(true).build(),
        }
    }
}

impl Default for UserStacks {
    fn default() -> Self {
        Self::new()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Enricher for UserStacks {
    fn enrich(&mut self, ev: &mut OomEvent) {
        let (Some(frames), Some(pid)) = (ev.user_stack.as_mut(), ev.trigger.pid) else {
            return;
        };
        let addrs: Vec<u64> = frames
            .iter()
            .map(|f| {
                f.addr
                    .strip_prefix("0x")
                    .and_then(|h| u64::from_str_radix(h, 16).ok())
                    .unwrap_or(0)
            })
            .collect();
        if addrs.is_empty() || pid <= 0 {
            return;
        }
        // The file and offset of each frame, while the process is there.
        let Ok(out) = self
            .normalizer
            .normalize_user_addrs(Pid::from(pid as u32), &addrs)
        else {
            return;
        };
        let mut segments: HashMap<&Path, Vec<Segment>> = HashMap::new();
        for (f, (offset, meta)) in frames.iter_mut().zip(&out.outputs) {
            if let Some(UserMeta::Elf(elf)) = out.meta.get(*meta) {
                f.mapping = Some(elf.path.display().to_string());
                f.offset = Some(*offset);
                f.build_id = elf.build_id.as_deref().map(hex);
                f.vaddr = segments
                    .entry(&elf.path)
                    .or_insert_with(|| load_segments(&elf.path))
                    .iter()
                    .find_map(|s| s.vaddr(*offset));
            }
        }
        // Functions from the files themselves: the process (often the
        // victim) may be gone by now.
        name_frames(&self.symbolizer, frames, |f| {
            Some((f.mapping.as_deref()?.into(), Input::FileOffset(f.offset?)))
        });
    }
}

/// A `PT_LOAD` segment: file bytes `[offset, offset + size)` at `vaddr`.
struct Segment {
    offset: u64,
    size: u64,
    vaddr: u64,
}

impl Segment {
    fn vaddr(&self, offset: u64) -> Option<u64> {
        (self.offset..self.offset.saturating_add(self.size))
            .contains(&offset)
            .then(|| self.vaddr.wrapping_add(offset - self.offset))
    }
}

/// The loadable segments of the ELF file at `path` (none if it is not one):
/// only its headers are read.
fn load_segments(path: &Path) -> Vec<Segment> {
    use object::elf::{FileHeader32, FileHeader64};
    use object::read::elf::{FileHeader, ProgramHeader};
    type Data = object::ReadCache<std::fs::File>;
    fn of<H: FileHeader<Endian = object::Endianness>>(data: &Data) -> Vec<Segment> {
        let Ok(h) = H::parse(data) else {
            return Vec::new();
        };
        let (Ok(e), Ok(phdrs)) = (
            h.endian(),
            h.endian().and_then(|e| h.program_headers(e, data)),
        ) else {
            return Vec::new();
        };
        phdrs
            .iter()
            .filter(|p| p.p_type(e) == object::elf::PT_LOAD)
            .map(|p| Segment {
                offset: p.p_offset(e).into(),
                size: p.p_filesz(e).into(),
                vaddr: p.p_vaddr(e).into(),
            })
            .collect()
    }
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let data = object::ReadCache::new(file);
    match object::FileKind::parse(&data) {
        Ok(object::FileKind::Elf32) => of::<FileHeader32<object::Endianness>>(&data),
        Ok(object::FileKind::Elf64) => of::<FileHeader64<object::Endianness>>(&data),
        _ => Vec::new(),
    }
}

/// Names each frame not yet named from the file and place `file_of` gives
/// for it (the offset into the mapped file, or the address in a separate
/// debug file). A frame
/// after one that names no function is unreliable: without frame pointers
/// the kernel's walk runs into garbage there.
fn name_frames(
    symbolizer: &Symbolizer,
    frames: &mut [UserFrame],
    mut file_of: impl FnMut(&UserFrame) -> Option<(PathBuf, Input<u64>)>,
) {
    name_frames_with(frames, |f| {
        let (path, at) = file_of(f)?;
        symbolize(symbolizer, path, at)
    });
}

/// What names a frame: its function, the offset into it, file and line.
#[derive(Clone)]
struct Named {
    symbol: String,
    offset: u64,
    file: Option<String>,
    line: Option<u32>,
}

/// The function at `at` in the ELF file `path`, if its symbols name one.
fn symbolize(symbolizer: &Symbolizer, path: PathBuf, at: Input<u64>) -> Option<Named> {
    let Ok(Symbolized::Sym(sym)) = symbolizer.symbolize_single(&Source::Elf(Elf::new(path)), at)
    else {
        return None;
    };
    let (file, line) = match &sym.code_info {
        Some(ci) => {
            let file = Path::new(&ci.file);
            let file = match &ci.dir {
                Some(dir) => dir.join(file).display().to_string(),
                None => file.display().to_string(),
            };
            (Some(file), ci.line)
        }
        None => (None, None),
    };
    Some(Named {
        symbol: sym.name.to_string(),
        offset: sym.offset as u64,
        file,
        line,
    })
}

/// Names each frame not yet named by `name`; a frame after one that names
/// no function is unreliable.
fn name_frames_with(frames: &mut [UserFrame], mut name: impl FnMut(&UserFrame) -> Option<Named>) {
    let mut reliable = true;
    for f in frames.iter_mut() {
        if f.symbol.is_none()
            && let Some(n) = name(f)
        {
            f.symbol = Some(n.symbol);
            f.symbol_offset = Some(n.offset);
            if n.file.is_some() {
                f.file = n.file;
                f.line = n.line;
            }
        }
        reliable &= f.symbol.is_some();
        f.reliable = Some(reliable);
    }
}

/// Recorded user frames that were not named when recorded (a stripped
/// binary; its debug symbols installed since), named by `report` from the
/// build id kept with each frame: the mapped file itself if it is still
/// there with that build id, else `DIR/.build-id/xx/rest.debug` in a debug
/// directory (where Debian's `-dbgsym` packages put them). Never a file
/// whose build id differs: a rebuilt binary would name the wrong function.
pub struct StoredUserFrames {
    symbolizer: Symbolizer,
    debug_dirs: Vec<PathBuf>,
    /// The file found for each (build id, mapping) so far: a session's
    /// frames name the same few files again and again.
    found: HashMap<(String, Option<String>), Option<Found>>,
    /// What each (build id, mapping, offset, address) was named, or that
    /// nothing names it: a session's frames are the same few places again
    /// and again, and asking the symbolizer again (for a stripped library,
    /// its debug link's checksums) cost 350 µs a frame.
    named: HashMap<FrameKey, Option<Named>>,
}

type FrameKey = (String, Option<String>, Option<u64>, Option<u64>);

/// A file with a frame's build id.
#[derive(Clone)]
enum Found {
    /// The file that was mapped, still there: addressed by file offset.
    Mapped(PathBuf),
    /// A separate debug file: addressed by ELF address.
    Debug(PathBuf),
}

/// At most this many files remembered (then forgotten all at once): bounded
/// memory whatever the session holds.
const FOUND_MAX: usize = 4096;

/// Where distributions install separate debug files.
pub const DEFAULT_DEBUG_DIRS: &[&str] = &["/usr/lib/debug", "/lib/debug"];

impl StoredUserFrames {
    /// `extra` debug directories are searched before the default ones.
    pub fn new(extra: &[PathBuf]) -> Self {
        let debug_dirs: Vec<PathBuf> = extra
            .iter()
            .cloned()
            .chain(DEFAULT_DEBUG_DIRS.iter().map(PathBuf::from))
            .collect();
        Self {
            symbolizer: Symbolizer::builder()
                .set_debug_dirs(Some(&debug_dirs))
                .build(),
            debug_dirs,
            found: HashMap::new(),
            named: HashMap::new(),
        }
    }

    /// The file to name `f` from: one with the build id it was recorded with.
    fn file_of(
        debug_dirs: &[PathBuf],
        found: &mut HashMap<(String, Option<String>), Option<Found>>,
        f: &UserFrame,
    ) -> Option<(PathBuf, Input<u64>)> {
        let key = (f.build_id.clone()?, f.mapping.clone());
        let file = match found.get(&key) {
            Some(file) => file.clone(),
            None => {
                if found.len() >= FOUND_MAX {
                    found.clear();
                }
                let file = Self::search(debug_dirs, f);
                found.insert(key, file.clone());
                file
            }
        };
        match file? {
            Found::Mapped(p) => Some((p, Input::FileOffset(f.offset?))),
            Found::Debug(p) => Some((p, Input::VirtOffset(f.vaddr?))),
        }
    }

    fn search(debug_dirs: &[PathBuf], f: &UserFrame) -> Option<Found> {
        let want = f.build_id.as_deref()?;
        let same = |p: &Path| {
            read_elf_build_id(&p)
                .ok()
                .flatten()
                .is_some_and(|id| hex(&id) == want)
        };
        if let Some(m) = f.mapping.as_deref().map(Path::new)
            && same(m)
        {
            return Some(Found::Mapped(m.to_owned()));
        }
        if want.len() < 4 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let (first, rest) = want.split_at(2);
        debug_dirs
            .iter()
            .map(|d| {
                d.join(".build-id")
                    .join(first)
                    .join(format!("{rest}.debug"))
            })
            .find(|p| same(p))
            .map(Found::Debug)
    }
}

impl Enricher for StoredUserFrames {
    fn enrich(&mut self, ev: &mut OomEvent) {
        let Some(frames) = ev.user_stack.as_mut() else {
            return;
        };
        if frames.iter().all(|f| f.symbol.is_some()) {
            return;
        }
        let Self {
            symbolizer,
            debug_dirs,
            found,
            named,
        } = self;
        name_frames_with(frames, |f| {
            let key = (f.build_id.clone()?, f.mapping.clone(), f.offset, f.vaddr);
            if let Some(n) = named.get(&key) {
                return n.clone();
            }
            if named.len() >= FOUND_MAX * 16 {
                named.clear();
            }
            let n = Self::file_of(debug_dirs, found, f)
                .and_then(|(path, at)| symbolize(symbolizer, path, at));
            named.insert(key, n.clone());
            n
        });
    }
}

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
        }
    }

    /// As [`Workloads::new`], and a thread reads each new container's
    /// bundle once a second, so that a container that ran for a second is
    /// named after its bundle is gone.
    pub fn watching(host_root: &Path) -> Self {
        use std::sync::atomic::Ordering;
        let mut w = Self::new(host_root);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(HashMap::new()));
        let (root, map, stop) = (host_root.to_owned(), seen.clone(), w.stop.clone());
        let spawned = std::thread::Builder::new()
            .name("bundles".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    Self::scan(&root, &map);
                    std::thread::sleep(BUNDLE_SCAN_INTERVAL);
                }
            });
        match spawned {
            Ok(_) => w.seen = Some(seen),
            Err(e) => eprintln!(
                "oomtrace: containers that end before their OOM is whole may go unnamed (cannot start the bundle reader: {e})"
            ),
        }
        w
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
        ev.trigger.workload = self.workload(ev.trigger.cgroup.as_deref());
        ev.memcg_workload = self.workload(ev.memcg.as_deref());
        for v in ev.victim.iter_mut().chain(ev.also_killed.iter_mut()) {
            v.workload = self.workload(v.cgroup.as_deref());
        }
    }
}

/// `record --lead-up D` and `agent`: a thread samples memory pressure every
/// second ([`oomtrace_core::pressure::sample`]) into a ring of the last `D`,
/// with the allocator's retries the live source has counted by then (its
/// progress items); each event gets the samples before it
/// ([`oomtrace_core::leadup::Ring`]).
pub struct LeadUps {
    ring: std::sync::Arc<std::sync::Mutex<oomtrace_core::leadup::Ring>>,
    retries: std::sync::Arc<std::sync::Mutex<Option<Retries>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

use oomtrace_core::leadup::Retries;

/// How often the lead-up is sampled.
pub const LEAD_UP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl LeadUps {
    /// Starts sampling; `None` for a zero duration (no lead-up).
    pub fn start(keep: std::time::Duration) -> Option<Self> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        if keep.is_zero() {
            return None;
        }
        let ring = Arc::new(Mutex::new(oomtrace_core::leadup::Ring::new(
            keep.as_nanos() as u64,
            LEAD_UP_INTERVAL.as_millis() as u64,
        )));
        let stop = Arc::new(AtomicBool::new(false));
        // Counted from oomtrace's start: none yet (the live source, which
        // starts next, says otherwise if it cannot count them).
        let retries = Arc::new(Mutex::new(Some(Retries::default())));
        let (r, s, counted) = (ring.clone(), stop.clone(), retries.clone());
        let spawned = std::thread::Builder::new()
            .name("lead-up".into())
            .spawn(move || {
                let page_shift = crate::plan::host::page_shift();
                let root = crate::plan::host::memcg_root();
                while !s.load(Ordering::Relaxed) {
                    // The count before the sample: a sample that stalls
                    // (its reads can wait in reclaim on a machine near its
                    // OOM) must not carry retries counted after its time,
                    // or the OOM's rate would miss them.
                    let retries = *counted.lock().unwrap_or_else(|e| e.into_inner());
                    let sample = oomtrace_core::pressure::sample(page_shift, root.as_deref());
                    // The ring's lock first, then the count's (as
                    // `without_retries` takes them); a count forgotten
                    // meanwhile stays forgotten.
                    let mut ring = r.lock().unwrap_or_else(|e| e.into_inner());
                    let known = counted.lock().unwrap_or_else(|e| e.into_inner()).is_some();
                    ring.push(&sample, retries.filter(|_| known));
                    drop(ring);
                    std::thread::sleep(LEAD_UP_INTERVAL);
                }
            });
        if let Err(e) = spawned {
            eprintln!("oomtrace: no lead-up (cannot start its sampler: {e})");
            return None;
        }
        Some(Self {
            ring,
            retries,
            stop,
        })
    }
}

impl LeadUps {
    /// The source cannot count the allocator's retries: the lead-up says
    /// nothing of them rather than a rate of 0.
    pub fn without_retries(&mut self) {
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        *self.retries.lock().unwrap_or_else(|e| e.into_inner()) = None;
        ring.forget_retries();
    }
}

impl Drop for LeadUps {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Enricher for LeadUps {
    fn enrich(&mut self, ev: &mut OomEvent) {
        let retries = *self.retries.lock().unwrap_or_else(|e| e.into_inner());
        ev.lead_up = self
            .ring
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lead_up(ev, retries);
    }

    fn progress(&mut self, p: &oomtrace_core::item::Progress) {
        let mut r = self.retries.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_some() {
            *r = Some(Retries {
                reclaim: p.reclaim_retries,
                compact: p.compact_retries,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
