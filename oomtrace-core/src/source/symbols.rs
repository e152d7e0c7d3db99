//! `/proc/kallsyms`: resolving hook names (with the compiler's `.constprop.N`
//! / `.isra.N` suffixes) and turning stack addresses into `sym+0xoff/0xsize`.

use std::sync::{Arc, OnceLock};
use std::{fs, io, path::Path};

/// A symbolized address, as the kernel's `%pS` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// [`PADDING_PREFIX`] or empty: with `name`, the symbol's name.
    pub prefix: &'static str,
    pub name: &'a str,
    pub offset: u64,
    pub size: u64,
}

impl Resolved<'_> {
    /// The symbol's whole name.
    pub fn symbol(&self) -> String {
        format!("{}{}", self.prefix, self.name)
    }
}

/// What the kernel names the padding before each function (6.2+ x86 with
/// `CONFIG_FUNCTION_PADDING_ALIGNMENT`): `__pfx_foo` before `foo`, nearly half
/// of all symbols. Stored as `foo` with a flag, sharing `foo`'s name.
pub const PADDING_PREFIX: &str = "__pfx_";

/// One symbol: 16 bytes, its name in the table's one string (a kernel
/// has some 120 000 symbols: a `String` each cost 9 MiB of a tracer
/// that should stay small; one string of them all, 3 MiB, and with the
/// padding symbols sharing their function's name, 1.5).
#[derive(Clone, Copy, Debug)]
struct Entry {
    addr: u64,
    /// Where the name starts in `names`.
    name: u32,
    name_len: u16,
    /// `t`/`T` for text; data symbols appear only with `CONFIG_KALLSYMS_ALL`.
    kind: u8,
    /// A [`PADDING_PREFIX`] symbol; `name` is its function's.
    padding: bool,
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
        let (padding, name) = match name.strip_prefix(PADDING_PREFIX) {
            Some(function) => (true, function),
            None => (false, name),
        };
        let (Ok(addr), Some(&kind), Ok(name_len), Ok(start)) = (
            u64::from_str_radix(addr, 16),
            kind.as_bytes().first(),
            u16::try_from(name.len()),
            u32::try_from(self.names.len()),
        ) else {
            return;
        };
        // The padding comes just before its function: one copy of the name.
        let start = match self.symbols.last() {
            Some(last) if last.padding != padding && self.name(last) == name => last.name,
            _ => {
                self.names.push_str(name);
                start
            }
        };
        self.symbols.push(Entry {
            addr,
            name: start,
            name_len,
            kind,
            padding,
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
        let (padding, name) = match name.strip_prefix(PADDING_PREFIX) {
            Some(function) => (true, function),
            None => (false, name),
        };
        self.symbols
            .iter()
            .find(|s| s.padding == padding && self.name(s) == name)
            .map(|s| s.addr)
    }

    /// The text symbol a kprobe for `base` must use: `base` itself, or the
    /// compiler's clone of it (`base.constprop.0`, `base.isra.0`, `base.part.0`);
    /// never the `.cold` split-off, which is not the function's entry.
    pub fn resolve_function(&self, base: &str) -> Option<&str> {
        resolve_function_name(
            self.symbols
                .iter()
                .filter(|s| matches!(s.kind, b't' | b'T') && !s.padding)
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
            prefix: if sym.padding { PADDING_PREFIX } else { "" },
            name: self.name(sym),
            offset: addr - sym.addr,
            size: next - sym.addr,
        })
    }
}

/// The name of the thread that reads kallsyms (in `/proc/PID/task/*/comm`).
pub const LOADER_THREAD: &str = "kallsyms";

/// Returns memory the allocator holds freed to the kernel. glibc keeps
/// freed heap (after a BTF parse, some 12 MiB) resident for reuse; a tracer
/// that idles for days should not. musl returns it by itself.
pub fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Kernel symbols, loaded off the start-up path: the first stack waits for them.
#[derive(Clone, Default)]
pub struct Symbols(Arc<OnceLock<Kallsyms>>);

impl Symbols {
    /// Starts reading `/proc/kallsyms` in the background, in a thread
    /// named [`LOADER_THREAD`] that ends when the table is ready.
    pub fn load_in_background() -> Self {
        let s = Self::default();
        let cell = s.0.clone();
        let spawned = std::thread::Builder::new()
            .name(LOADER_THREAD.into())
            .spawn(move || {
                let k = Kallsyms::load().unwrap_or_default();
                // The table grew by doubling: give back what it left behind
                // before anyone waiting for it can lock memory.
                release_freed_memory();
                let _ = cell.set(k);
            });
        if spawned.is_err() {
            let _ = s.0.set(Kallsyms::load().unwrap_or_default());
        }
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

    pub fn frames(&self, stack: &oomtrace_common::Stack) -> Vec<crate::schema::event::Frame> {
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
                crate::schema::event::Frame {
                    addr: compact_str::format_compact!("{ip:#x}"),
                    symbol: r.as_ref().map(|r| r.symbol().into()),
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

    /// Padding symbols share their function's name and still end the
    /// symbol before them, as in the kernel's own lookup.
    #[test]
    fn padding_symbols_are_named_and_bound_sizes() {
        let k = Kallsyms::parse(
            "ffffffff81000ff0 t __pfx_foo\nffffffff81001000 t foo\n\
             ffffffff81001070 T __pfx_bar\nffffffff81001080 T bar\nffffffff81001100 T end\n",
        );
        let r = k.symbolize(0xffffffff81001010).unwrap();
        assert_eq!((r.symbol(), r.offset, r.size), ("foo".into(), 0x10, 0x70));
        let r = k.symbolize(0xffffffff81001074).unwrap();
        assert_eq!(
            (r.symbol(), r.offset, r.size),
            ("__pfx_bar".into(), 4, 0x10)
        );
        assert_eq!(k.address_of("__pfx_bar"), Some(0xffffffff81001070));
        assert_eq!(k.address_of("bar"), Some(0xffffffff81001080));
        assert_eq!(k.resolve_function("bar"), Some("bar"));
        assert_eq!(k.names, "foobarend");
    }

    /// This kernel's own table: every symbol (but the last, which has no
    /// end) symbolizes back to its name or an alias at its address.
    #[test]
    fn every_symbol_of_this_kernel_symbolizes_to_its_name() {
        let text = fs::read_to_string("/proc/kallsyms").unwrap();
        let k = Kallsyms::parse(&text);
        // SAFETY: geteuid never fails.
        if unsafe { libc::geteuid() } != 0 {
            return; // addresses hidden; cargo xtask test runs as root
        }
        assert!(k.has_addresses());
        let mut by_addr: std::collections::BTreeMap<u64, Vec<&str>> = Default::default();
        for l in text.lines() {
            let mut f = l.split_ascii_whitespace();
            let (Some(a), Some(_), Some(name)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            by_addr
                .entry(u64::from_str_radix(a, 16).unwrap())
                .or_default()
                .push(name);
        }
        let last = *by_addr.keys().next_back().unwrap();
        for (&addr, names) in by_addr.range(1..last) {
            let r = k.symbolize(addr).unwrap();
            assert_eq!(r.offset, 0);
            assert!(
                names.contains(&r.symbol().as_str()),
                "{addr:#x}: {} not in {names:?}",
                r.symbol()
            );
        }
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

    /// Read from /proc/kallsyms, line by line: every symbol the file lists
    /// (the test reads the file itself), addresses shown to root, in
    /// address order (each symbolizes to itself).
    #[test]
    fn this_kernels_table_is_its_proc_kallsyms() {
        let text = fs::read_to_string("/proc/kallsyms").unwrap();
        let listed = text
            .lines()
            .filter(|l| l.split_whitespace().count() >= 3)
            .count();
        let k = Kallsyms::load().unwrap();
        assert_eq!(k.len(), listed);
        assert!(!k.is_empty() && k.has_addresses());
        assert!(k.symbols.windows(2).all(|w| w[0].addr <= w[1].addr));
        let data = text.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 3 && matches!(w[1], "d" | "D" | "b" | "B") && w[2] == "vm_node_stat"
        });
        assert_eq!(k.has_data_symbols(), data);
        let from_text = Kallsyms::parse(&text);
        for name in ["out_of_memory", "oom_kill_process", "show_mem"] {
            assert_eq!(k.address_of(name), from_text.address_of(name), "{name}");
        }
        assert!(k.address_of("out_of_memory").is_some());
        assert!(Kallsyms::load_from(Path::new("/nonexistent")).is_err());
    }

    /// Data symbols are `vm_node_stat` among d, D, b or B; hidden addresses
    /// (kptr_restrict) read as 0.
    #[test]
    fn data_symbols_and_hidden_addresses_are_told() {
        let has_data = |t: &str| Kallsyms::parse(t).has_data_symbols();
        assert!(has_data("ffff0000 D vm_node_stat\n"));
        assert!(has_data("ffff0000 b vm_node_stat\n"));
        assert!(!has_data("ffff0000 T vm_node_stat\n"));
        assert!(!has_data("ffff0000 D vm_zone_stat\n"));
        let hidden = Kallsyms::parse("0000000000000000 T a\n0000000000000000 T b\n");
        assert_eq!(hidden.len(), 2);
        assert!(!hidden.has_addresses());
        let none = Kallsyms::parse("");
        assert!(none.is_empty() && !none.has_addresses());
    }

    /// Only functions are kprobe targets: a data symbol of the same name is
    /// not one. Aliases (two names at one address) end where the next
    /// address begins, not at each other.
    #[test]
    fn functions_only_and_aliases_share_their_size() {
        let k = Kallsyms::parse(
            "ffff1000 D foo\nffff2000 t bar\nffff2000 t bar_alias\nffff2100 t next\n",
        );
        assert_eq!(k.resolve_function("foo"), None);
        assert_eq!(k.resolve_function("bar"), Some("bar"));
        let r = k.symbolize(0xffff2010).unwrap();
        assert_eq!((r.offset, r.size), (0x10, 0x100));
        // Listed out of order (modules come last in /proc/kallsyms): sorted.
        let k = Kallsyms::parse("ffff3000 t c\nffff1000 t a\nffff2000 t b\n");
        let r = k.symbolize(0xffff1010).unwrap();
        assert_eq!((r.name, r.offset, r.size), ("a", 0x10, 0x1000));
        let r = k.symbolize(0xffff2010).unwrap();
        assert_eq!((r.name, r.offset, r.size), ("b", 0x10, 0x1000));
    }

    /// Loaded in the background: the same table, once ready, as a load
    /// in the foreground.
    #[test]
    fn a_background_load_is_the_same_table() {
        let s = Symbols::load_in_background();
        assert_eq!(s.get().len(), Kallsyms::load().unwrap().len());
        assert!(s.get().address_of("out_of_memory").is_some());
    }
}
