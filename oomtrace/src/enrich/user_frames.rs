//! The trigger's user stack named: live, while the process lives
//! ([`UserStacks`], blazesym), or later from what a session stored and the
//! files and debug info still on this machine ([`StoredUserFrames`]).

use blazesym::Pid;
use blazesym::helper::read_elf_build_id;
use blazesym::normalize::{Normalizer, UserMeta};
use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use oomtrace_core::pipeline::Enricher;
use oomtrace_core::schema::event::{OomEvent, UserFrame};
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
