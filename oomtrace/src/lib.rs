//! oomtrace: the Linux OOM killer, traced with eBPF.
//!
//! The command-line side of oomtrace; everything that needs neither aya nor
//! an async runtime is in `oomtrace_core`.
//!
//! - [`plan`]: decides once at start-up what this kernel offers (BTF,
//!   tracefs, kallsyms, the hook table, host facts, the plan cache).
//! - [`source`]: the live BPF source, session files, kernel logs.
//! - [`cmd`]: one module per command; each runs `oomtrace_core::pipeline`.

pub mod cmd;
pub mod enrich;
#[cfg(test)]
mod loop_shape;
#[cfg(test)]
mod object_names;
pub mod plan;
pub mod source;

#[cfg(test)]
mod layering {
    //! Nothing imports upward: `cmd` may use `source` and `plan`, `source`
    //! may use `plan`, `plan` uses neither.

    fn refers(dir: &str, to: &str) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
        let mut hits = Vec::new();
        for e in std::fs::read_dir(root).unwrap() {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            if code.contains(&format!("crate::{to}")) {
                hits.push(p.display().to_string());
            }
        }
        hits
    }

    #[test]
    fn nothing_imports_upward() {
        assert_eq!(refers("plan", "source"), Vec::<String>::new());
        assert_eq!(refers("plan", "cmd"), Vec::<String>::new());
        assert_eq!(refers("source", "cmd"), Vec::<String>::new());
        assert!(
            !refers("cmd", "source").is_empty(),
            "the check looks where it should"
        );
    }
}
