//! `/proc/kallsyms`: resolving hook names (with the compiler's `.constprop.N`
//! / `.isra.N` suffixes) and turning stack addresses into `sym+0xoff/0xsize`.

use std::sync::{Arc, OnceLock};
use std::{fs, io, path::Path};

/// A symbolized address, as the kernel's `%pS` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved<'a> {
    pub name: &'a str,
    pub offset: u64,
    pub size: u64,
}

/// One symbol: 16 bytes, its name in the table's one string (a kernel
/// has some 120 000 symbols: a `String` each cost 9 MiB of a tracer
/// that should stay small).
#[derive(Clone, Copy, Debug)]
struct Entry {
    addr: u64,
    /// Where the name starts in `names`.
    name: u32,
    name_len: u16,
    /// `t`/`T` for text; data symbols appear only with `CONFIG_KALLSYMS_ALL`.
    kind: u8,
}

#[derive(Default)]
pub struct Kallsyms {
    /// Sorted by address.
    symbols: Vec<Entry>,
    names: String,
}

impl Kallsyms {
    pub fn load() -> io::Result<Self> {
        Self::load_from(Path::new("/proc/kallsyms"))
    }

    /// Read line by line: the file's 5 MB of text are never held at once.
    pub fn load_from(path: &Path) -> io::Result<Self> {
        use io::BufRead;
        let mut k = Self::default();
        let mut line = String::new();
        let mut reader = io::BufReader::new(fs::File::open(path)?);
        while reader.read_line(&mut line)? > 0 {
            k.push(&line);
            line.clear();
        }
        k.finish();
        Ok(k)
    }

    pub fn parse(text: &str) -> Self {
        let mut k = Self::default();
        for line in text.lines() {
            k.push(line);
        }
        k.finish();
        k
    }

    fn push(&mut self, line: &str) {
        let mut it = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (it.next(), it.next(), it.next()) else {
            return;
        };
        let (Ok(addr), Some(&kind), Ok(name_len), Ok(start)) = (
            u64::from_str_radix(addr, 16),
            kind.as_bytes().first(),
            u16::try_from(name.len()),
            u32::try_from(self.names.len()),
        ) else {
            return;
        };
        self.names.push_str(name);
        self.symbols.push(Entry {
            addr,
            name: start,
            name_len,
            kind,
        });
    }

    fn finish(&mut self) {
        self.symbols.sort_by_key(|s| s.addr);
        self.symbols.shrink_to_fit();
        self.names.shrink_to_fit();
    }

    fn name(&self, e: &Entry) -> &str {
        let start = e.name as usize;
        &self.names[start..start + e.name_len as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// False when kptr_restrict hides addresses (every address reads as 0).
    pub fn has_addresses(&self) -> bool {
        self.symbols.last().is_some_and(|s| s.addr != 0)
    }

    /// Whether data symbols are listed (`CONFIG_KALLSYMS_ALL`).
    pub fn has_data_symbols(&self) -> bool {
        self.symbols
            .iter()
            .any(|s| matches!(s.kind, b'd' | b'D' | b'b' | b'B') && self.name(s) == "vm_node_stat")
    }

    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|s| self.name(s) == name)
            .map(|s| s.addr)
    }

    /// The text symbol a kprobe for `base` must use: `base` itself, or the
    /// compiler's clone of it (`base.constprop.0`, `base.isra.0`, `base.part.0`);
    /// never the `.cold` split-off, which is not the function's entry.
    pub fn resolve_function(&self, base: &str) -> Option<&str> {
        resolve_function_name(
            self.symbols
                .iter()
                .filter(|s| matches!(s.kind, b't' | b'T'))
                .map(|s| self.name(s)),
            base,
        )
    }

    /// `sym+0xoff/0xsize` for an address, the size being the distance to the
    /// next symbol, as `kallsyms_lookup_size_offset` computes it.
    pub fn symbolize(&self, addr: u64) -> Option<Resolved<'_>> {
        let idx = self.symbols.partition_point(|s| s.addr <= addr);
        if idx == 0 {
            return None;
        }
        let sym = &self.symbols[idx - 1];
        if sym.addr == 0 {
            return None;
        }
        // Aliases share an address; the next *different* address ends the symbol.
        let next = self.symbols[idx..]
            .iter()
            .find(|s| s.addr > sym.addr)
            .map(|s| s.addr)?;
        Some(Resolved {
            name: self.name(sym),
            offset: addr - sym.addr,
            size: next - sym.addr,
        })
    }
}

/// Kernel symbols, loaded off the start-up path: the first stack waits for them.
#[derive(Clone, Default)]
pub struct Symbols(Arc<OnceLock<Kallsyms>>);

impl Symbols {
    /// Starts reading `/proc/kallsyms` in the background.
    pub fn load_in_background() -> Self {
        let s = Self::default();
        let cell = s.0.clone();
        std::thread::spawn(move || {
            let _ = cell.set(Kallsyms::load().unwrap_or_default());
        });
        s
    }

    pub fn from(k: Kallsyms) -> Self {
        let s = Self::default();
        let _ = s.0.set(k);
        s
    }

    pub fn get(&self) -> &Kallsyms {
        self.0.wait()
    }

    pub fn frames(&self, stack: &oomtrace_common::Stack) -> Vec<crate::event::Frame> {
        let n = if stack.len_bytes > 0 {
            (stack.len_bytes as usize / 8).min(oomtrace_common::MAX_STACK_DEPTH)
        } else {
            0
        };
        let k = self.get();
        stack.ips[..n]
            .iter()
            .map(|&ip| {
                let r = k.symbolize(ip);
                crate::event::Frame {
                    addr: format!("{ip:#x}"),
                    symbol: r.as_ref().map(|r| r.name.to_owned()),
                    offset: r.as_ref().map(|r| r.offset),
                    size: r.as_ref().map(|r| r.size),
                }
            })
            .collect()
    }
}

/// The exact name if present, else the first compiler clone of it.
pub fn resolve_function_name<'a>(
    names: impl Iterator<Item = &'a str>,
    base: &str,
) -> Option<&'a str> {
    let mut clone = None;
    for name in names {
        if name == base {
            return Some(name);
        }
        if clone.is_none()
            && let Some(rest) = name.strip_prefix(base).and_then(|r| r.strip_prefix('.'))
            && !rest.starts_with("cold")
            && ["constprop", "isra", "part", "llvm"]
                .iter()
                .any(|s| rest.starts_with(s))
        {
            clone = Some(name);
        }
    }
    clone
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81212636 t oom_kill_process.cold
ffffffff812126fa t out_of_memory.cold
ffffffff812131b0 t show_free_areas
ffffffff815adf30 t oom_kill_process
ffffffff815ae930 T out_of_memory
ffffffff815aee30 T pagefault_out_of_memory
ffffffff815b0000 t __alloc_pages_slowpath.constprop.0
ffffffff815b0e30 t next_fn
";

    #[test]
    fn symbolizes_like_the_kernel() {
        let k = Kallsyms::parse(SAMPLE);
        let r = k.symbolize(0xffffffff815ae930 + 0x214).unwrap();
        assert_eq!((r.name, r.offset, r.size), ("out_of_memory", 0x214, 0x500));
        assert!(k.symbolize(0x1000).is_none());
        // The last symbol has no end, so no size: not symbolized.
        assert!(k.symbolize(0xffffffff815b0e40).is_none());
    }

    #[test]
    fn resolves_clones_but_not_cold_parts() {
        let k = Kallsyms::parse(SAMPLE);
        assert_eq!(
            k.resolve_function("oom_kill_process"),
            Some("oom_kill_process")
        );
        assert_eq!(
            k.resolve_function("__alloc_pages_slowpath"),
            Some("__alloc_pages_slowpath.constprop.0")
        );
        assert_eq!(k.resolve_function("__show_free_areas"), None);
        let only_cold = Kallsyms::parse("ffffffff81212636 t foo.cold\nffffffff81212700 t bar\n");
        assert_eq!(only_cold.resolve_function("foo"), None);
        assert!(!k.has_data_symbols());
    }
}
