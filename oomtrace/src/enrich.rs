//! Enrichers: what is looked up outside an event and added to it before it
//! is filtered and shown, while what it names still exists.

use blazesym::Pid;
use blazesym::normalize::{Normalizer, UserMeta};
use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use oomtrace_core::event::OomEvent;
use oomtrace_core::pipeline::Enricher;

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
        for (f, (offset, meta)) in frames.iter_mut().zip(&out.outputs) {
            if let Some(UserMeta::Elf(elf)) = out.meta.get(*meta) {
                f.mapping = Some(elf.path.display().to_string());
                f.offset = Some(*offset);
                f.build_id = elf.build_id.as_deref().map(hex);
            }
        }
        // Functions from the files themselves: the process (often the
        // victim) may be gone by now.
        let mut reliable = true;
        for f in frames.iter_mut() {
            let (Some(path), Some(offset)) = (f.mapping.as_deref(), f.offset) else {
                reliable = false;
                f.reliable = Some(false);
                continue;
            };
            let src = Source::Elf(Elf::new(path));
            let sym = self
                .symbolizer
                .symbolize_single(&src, Input::FileOffset(offset));
            match sym {
                Ok(Symbolized::Sym(sym)) => {
                    f.symbol = Some(sym.name.to_string());
                    f.symbol_offset = Some(sym.offset as u64);
                    if let Some(ci) = &sym.code_info {
                        let file = std::path::Path::new(&ci.file);
                        f.file = Some(match &ci.dir {
                            Some(dir) => dir.join(file).display().to_string(),
                            None => file.display().to_string(),
                        });
                        f.line = ci.line;
                    }
                }
                _ => reliable = false,
            }
            f.reliable = Some(reliable);
        }
    }
}
