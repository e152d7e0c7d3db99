//! oomtrace: the Linux OOM killer, traced with eBPF.
//!
//! The command-line side of oomtrace; everything that needs neither aya nor
//! an async runtime is in `oomtrace_core`.
//!
//! - [`plan`]: decides once at start-up what this kernel offers (BTF,
//!   tracefs, kallsyms, the hook table, host facts, the plan cache).
//! - [`source`]: the live BPF source, session files, kernel logs.
//! - [`enrich`]: user stacks named, workloads, the lead-up.
//! - [`sink`]: `agent`'s Prometheus metrics (the other sinks are core's).
//! - [`cmd`]: one module per command; each runs `oomtrace_core::pipeline`.

pub mod cmd;
pub mod enrich;
#[cfg(test)]
mod loop_shape;
#[cfg(test)]
mod object_names;
pub mod plan;
pub mod sink;
pub mod source;

/// A size as people write it: `64M`, `1g`, `512k`, bytes without a unit.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let m = match s[i..].to_ascii_lowercase().as_str() {
                "k" | "kb" | "kib" => 1 << 10,
                "m" | "mb" | "mib" => 1 << 20,
                "g" | "gb" | "gib" => 1 << 30,
                u => return Err(format!("unknown unit {u:?}; use K, M or G")),
            };
            (&s[..i], m)
        }
        None => (s, 1),
    };
    num.trim()
        .parse::<u64>()
        .map(|n| n * mult)
        .map_err(|e| format!("{s:?}: {e}"))
}

/// A duration as people write it: `90s`, `5m`, `1h 30m` (humantime), or a
/// bare number of seconds (`5`, `0.5`), as `timeout` and `sleep` take it.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return t
            .parse::<f64>()
            .ok()
            .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
            .ok_or_else(|| format!("{s:?}: not a number of seconds"));
    }
    humantime::parse_duration(t).map_err(|e| format!("{s:?}: {e} (a bare number is seconds)"))
}

#[cfg(test)]
mod durations {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert!(parse_duration("1.2.3").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}

#[cfg(test)]
mod layering {
    //! Nothing imports upward: the folders are stages, `plan` first, then
    //! `source`, `enrich`, `sink`, and `cmd`, which joins them.

    const STAGES: [&str; 5] = ["plan", "source", "enrich", "sink", "cmd"];

    /// The files of folder `dir` whose non-test code names `crate::{to}`.
    fn refers(dir: &str, to: &str) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
        let mut hits = Vec::new();
        for e in std::fs::read_dir(root).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let code: Vec<&str> = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            if code.iter().any(|l| l.contains(&format!("crate::{to}::"))) {
                hits.push(p.display().to_string());
            }
        }
        hits
    }

    #[test]
    fn nothing_imports_upward() {
        for (i, lower) in STAGES.iter().enumerate() {
            for higher in &STAGES[i + 1..] {
                assert_eq!(
                    refers(lower, higher),
                    Vec::<String>::new(),
                    "{lower} → {higher}"
                );
            }
        }
        assert!(
            !refers("cmd", "source").is_empty() && !refers("cmd", "enrich").is_empty(),
            "the check looks where it should"
        );
    }
}
