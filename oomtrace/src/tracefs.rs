//! tracefs: where it is, mounting it when it is not, and reading the layout
//! of a tracepoint from its `format` file.

use std::{
    collections::HashMap,
    ffi::CString,
    fs,
    path::{Path, PathBuf},
};

const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs root holding `events/`, if mounted.
pub fn find() -> Option<PathBuf> {
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// Finds tracefs, mounting it at `/sys/kernel/tracing` when it is not mounted
/// (as `perf` and `bpftrace` do). The error says how to mount it by hand.
pub fn find_or_mount() -> Result<PathBuf, String> {
    if let Some(p) = find() {
        return Ok(p);
    }
    let target = Path::new(CANDIDATES[0]);
    let how = format!(
        "mount it with `mount -t tracefs nodev {}`",
        target.display()
    );
    if !target.is_dir() {
        return Err(format!(
            "tracefs is not mounted and {} does not exist; {how}",
            target.display()
        ));
    }
    let (src, dst, fstype) = (
        CString::new("nodev").unwrap(),
        CString::new(CANDIDATES[0]).unwrap(),
        CString::new("tracefs").unwrap(),
    );
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!(
            "tracefs is not mounted and mounting it failed ({err}); {how}"
        ));
    }
    find().ok_or_else(|| format!("mounted tracefs but found no events/ in it; {how}"))
}

/// One field of a tracepoint's raw record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
}

impl Field {
    /// The field's value in a raw record (integers of 1, 2, 4 or 8 bytes).
    pub fn value(&self, record: &[u8]) -> Option<i64> {
        let bytes = record.get(self.offset as usize..(self.offset + self.size) as usize)?;
        let mut buf = [0u8; 8];
        buf[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
        let raw = u64::from_le_bytes(buf);
        Some(match (self.size, self.signed) {
            (1, true) => raw as i8 as i64,
            (2, true) => raw as i16 as i64,
            (4, true) => raw as i32 as i64,
            _ => raw as i64,
        })
    }
}

/// The `field:` lines of a tracepoint's `format` file, by field name.
pub fn parse_format(text: &str) -> HashMap<String, Field> {
    let mut fields = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';').map(str::trim);
        let Some(decl) = parts.next() else { continue };
        // "unsigned long total_vm", "__data_loc char[] comm", "char comm[16]"
        let Some(name) = decl.split_whitespace().last() else {
            continue;
        };
        let name = name.split('[').next().unwrap_or(name).to_owned();
        let mut offset = None;
        let mut size = None;
        let mut signed = false;
        for p in parts {
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("signed:") {
                signed = v == "1";
            }
        }
        if let (Some(offset), Some(size)) = (offset, size) {
            fields.insert(
                name,
                Field {
                    offset,
                    size,
                    signed,
                },
            );
        }
    }
    fields
}

/// The raw layout of `events/<category>/<name>`, or `None` when the kernel
/// lacks the tracepoint.
pub fn event_format(root: &Path, category: &str, name: &str) -> Option<HashMap<String, Field>> {
    let text =
        fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()?;
    Some(parse_format(&text))
}

/// The `print fmt:` line of a tracepoint's format (where the kernel spells out
/// flag tables such as the GFP names).
pub fn print_fmt(root: &Path, category: &str, name: &str) -> Option<String> {
    let text =
        fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("print fmt: "))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "name: mark_victim
ID: 609
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int pid;\toffset:8;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] comm;\toffset:12;\tsize:4;\tsigned:0;
\tfield:unsigned long total_vm;\toffset:16;\tsize:8;\tsigned:0;
\tfield:short oom_score_adj;\toffset:64;\tsize:2;\tsigned:1;
";

    #[test]
    fn reads_offsets_of_plain_and_data_loc_fields() {
        let f = parse_format(NEW);
        let field = |offset, size, signed| Field {
            offset,
            size,
            signed,
        };
        assert_eq!(f["pid"], field(8, 4, true));
        assert_eq!(f["comm"], field(12, 4, false));
        assert_eq!(f["total_vm"], field(16, 8, false));
        assert_eq!(f["oom_score_adj"], field(64, 2, true));
        // Values out of a raw record, sign-extended as declared.
        let mut record = [0u8; 72];
        record[8..12].copy_from_slice(&(-5i32).to_le_bytes());
        record[16..24].copy_from_slice(&38712u64.to_le_bytes());
        record[64..66].copy_from_slice(&(-1000i16).to_le_bytes());
        assert_eq!(f["pid"].value(&record), Some(-5));
        assert_eq!(f["total_vm"].value(&record), Some(38712));
        assert_eq!(f["oom_score_adj"].value(&record), Some(-1000));
        assert_eq!(f["oom_score_adj"].value(&record[..60]), None);
    }

    #[test]
    fn reads_fixed_arrays() {
        let f = parse_format("\tfield:char comm[16];\toffset:12;\tsize:16;\tsigned:0;\n");
        assert_eq!(
            f["comm"],
            Field {
                offset: 12,
                size: 16,
                signed: false
            }
        );
    }
}
