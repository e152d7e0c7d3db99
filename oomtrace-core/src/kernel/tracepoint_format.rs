//! A tracepoint's layout as its tracefs `format` file spells it: field
//! offsets, sizes and signedness, and the `print fmt:` line. Text in, facts
//! out; where the file is read lives with the planner.

use std::collections::HashMap;

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
        // A format file may say anything: an end past u32 is no field.
        let end = self.offset.checked_add(self.size)?;
        let bytes = record.get(self.offset as usize..end as usize)?;
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

/// The `print fmt:` line of a format file (where the kernel spells out
/// flag tables such as the GFP names).
pub fn print_fmt(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("print fmt: "))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzzer's find: an offset and size whose sum overflows.
    #[test]
    fn a_field_past_the_end_of_u32_is_none() {
        let f = Field {
            offset: u32::MAX - 1,
            size: 4,
            signed: false,
        };
        assert_eq!(f.value(&[0; 16]), None);
    }

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
