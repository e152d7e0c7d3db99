//! Log lines framed: what surrounds the kernel's text on each kind of log
//! line stripped (kmsg records, levels, syslog and journald prefixes,
//! timestamps, caller ids), a re-wrapped copy's folds undone.

/// One log line with what its prefix said.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine<'a> {
    /// Seconds since boot (`[ 1114.251121]`, or a `/dev/kmsg` record's µs).
    pub timestamp: Option<f64>,
    /// RFC 3339 wall-clock time from a journald or syslog prefix.
    pub wallclock: Option<String>,
    /// The kernel's text.
    pub text: &'a str,
}

/// Strips what surrounds the kernel's text on each kind of log line:
/// `/dev/kmsg` records (`6,1234,1114251121,-;text`), `<4>` levels,
/// syslog and journald prefixes (`Nov 27 10:59:01 host kernel: `,
/// `2026-11-27T10:59:01+0000 host kernel: `), the `[ 1114.251121]`
/// timestamp and a caller id (`[ T123]`, `[  C1]`).
pub fn split_line(raw: &str) -> LogLine<'_> {
    let mut text = raw.trim_end_matches(['\r', '\n']);
    let mut timestamp = None;
    let mut wallclock = None;
    // /dev/kmsg: "prio,seq,usec,flags[,...];text"
    if let Some((head, rest)) = text.split_once(';') {
        let f: Vec<&str> = head.split(',').collect();
        if f.len() >= 4
            && f[..3]
                .iter()
                .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
        {
            timestamp = f[2].parse::<f64>().ok().map(|us| us / 1e6);
            text = rest;
        }
    }
    // syslog / journald: "<date> <host> kernel: text"
    if let Some(i) = text.find(" kernel: ") {
        let prefix = &text[..i];
        if prefix.len() < 64 && prefix.split_whitespace().count() >= 2 {
            wallclock = syslog_time(prefix);
            text = &text[i + " kernel: ".len()..];
        }
    }
    // "<4>" console level
    if let Some(rest) = text.strip_prefix('<')
        && let Some((lvl, rest)) = rest.split_once('>')
        && !lvl.is_empty()
        && lvl.len() <= 3
        && lvl.bytes().all(|b| b.is_ascii_digit())
    {
        text = rest;
    }
    if let Some(rest) = text.trim_start().strip_prefix('[')
        && let Some(end) = rest.find(']')
        && let Ok(t) = rest[..end].trim().parse::<f64>()
    {
        timestamp = Some(t);
        text = &rest[end + 1..];
    }
    // CONFIG_PRINTK_CALLER: "[ T123]" or "[  C1]".
    if let Some(rest) = text.trim_start().strip_prefix('[')
        && let Some(end) = rest.find(']')
        && let id = rest[..end].trim()
        && (id.starts_with('T') || id.starts_with('C'))
        && id.len() > 1
        && id[1..].bytes().all(|b| b.is_ascii_digit())
    {
        text = &rest[end + 1..];
    }
    // The kernel indents continuation lines and stack frames by one space.
    let text = text.strip_prefix(' ').unwrap_or(text);
    LogLine {
        timestamp,
        wallclock,
        text,
    }
}

/// The wall-clock time of a syslog or journald prefix, as RFC 3339 in UTC:
/// ISO dates with their offset applied (`journalctl -o short-iso`'s
/// `+0100`, rsyslog's `+01:00`), classic `Nov 27 10:59:01` as UTC in the
/// current year (the format has neither zone nor year).
pub(super) fn syslog_time(prefix: &str) -> Option<String> {
    let first = prefix.split_whitespace().next()?;
    if first.len() >= 19 && first.as_bytes()[4] == b'-' && first.as_bytes()[10] == b'T' {
        // The local time, then `Z`, `+hhmm`, `+hh:mm` or nothing (UTC).
        let zone_at = first
            .get(19..)?
            .find(['Z', '+', '-'])
            .map_or(first.len(), |i| i + 19);
        let (local, zone) = first.split_at(zone_at);
        let t = humantime::parse_rfc3339_weak(local).ok()?;
        let east_s = match zone {
            "" | "Z" => 0,
            z => {
                let hhmm = z[1..].replace(':', "");
                if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let s = hhmm[..2].parse::<u64>().ok()? * 3600 + hhmm[2..].parse::<u64>().ok()? * 60;
                if z.starts_with('-') {
                    -(s as i64)
                } else {
                    s as i64
                }
            }
        };
        let utc = if east_s >= 0 {
            t.checked_sub(std::time::Duration::from_secs(east_s as u64))?
        } else {
            t.checked_add(std::time::Duration::from_secs(east_s.unsigned_abs()))?
        };
        return Some(humantime::format_rfc3339_micros(utc).to_string());
    }
    let mut w = prefix.split_whitespace();
    let (mon, day, hms) = (w.next()?, w.next()?, w.next()?);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| *x == mon)? + 1;
    let day: u32 = day.parse().ok()?;
    if hms.len() != 8 {
        return None;
    }
    let year = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let t = humantime::parse_rfc3339_weak(&format!("{}-{m:02}-{day:02}T{hms}", &year[..4])).ok()?;
    Some(humantime::format_rfc3339_micros(t).to_string())
}

pub(super) fn kb(s: &str) -> Option<u64> {
    s.trim()
        .trim_end_matches("kB")
        .trim_end_matches("KB")
        .parse()
        .ok()
}

/// Removes the runs of spaces a re-wrapped copy left inside a line: one
/// that splits a word (`ac   tive_file`) goes, one between words or
/// values (`512kB   (UEC)`) becomes one space.
pub(super) fn unwrap_folds(line: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(line.len());
    let mut spaces = 0;
    for c in line.chars() {
        if c == ' ' {
            spaces += 1;
            continue;
        }
        if spaces >= 16 {
            if !(out.is_empty() || out.ends_with(word) && word(c)) {
                out.push(' ');
            }
        } else {
            out.extend(std::iter::repeat_n(' ', spaces));
        }
        spaces = 0;
        out.push(c);
    }
    out
}

/// The lines of one `/dev/kmsg` record (`prio,seq,usec,flags;text`, then
/// dictionary lines): a printk of several lines is one record whose
/// newlines the kernel escaped as `\x0a` (Mem-Info's counters are printed
/// so), and other unprintable bytes as `\xNN`. The first line keeps the
/// record's prefix (its time); the rest are the text's further lines.
pub fn kmsg_record_lines(record: &str) -> Vec<String> {
    let first = record.lines().next().unwrap_or("");
    let (head, text) = match first.split_once(';') {
        Some((h, t)) => (Some(h), t),
        None => (None, first),
    };
    let mut out = Vec::new();
    let mut line = head.map(|h| format!("{h};")).unwrap_or_default();
    let mut rest = text;
    while let Some(i) = rest.find("\\x") {
        line.push_str(&rest[..i]);
        // Two hex digits are two ASCII bytes: i + 4 is then a char boundary.
        let hex = rest
            .get(i + 2..i + 4)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b'\n') => out.push(std::mem::take(&mut line)),
            Some(b) if b.is_ascii() => line.push(b as char),
            Some(_) => line.push_str(&rest[i..i + 4]),
            None => {
                // Not an escape: the backslash and the x as they are.
                line.push_str("\\x");
                rest = &rest[i + 2..];
                continue;
            }
        }
        rest = &rest[i + 4..];
    }
    line.push_str(rest);
    out.push(line);
    out
}
