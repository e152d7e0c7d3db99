//! oomtrace's core: everything between the kernel and the screen that needs
//! neither aya nor an async runtime.
//!
//! ```text
//! source ──> assemble ──> enrich ──> filter ──> sink
//! ```
//!
//! - [`event`]: the event model, the JSON Lines schema of DESIGN.md.
//! - [`assemble`]: ring-buffer records → one [`event::OomEvent`] per OOM, with
//!   [`memstate`] (counters, zones, free lists) and [`symbols`] (kallsyms).
//! - [`kernel_log`]: the kernel's own report, parsed, and made into events;
//!   [`report_join`] completes a live event with it (kernel-log mode, no BTF).
//! - [`pipeline`]: the one loop every command runs: a [`pipeline::Source`],
//!   [`pipeline::Enricher`]s, a [`pipeline::Filter`], a [`sink::Sink`].
//! - [`sink`], [`render`], [`session`], [`summary`]: where events go.
//! - [`gfp`], [`arch`], [`tracepoint_format`]: facts, each in one place.
//! - [`latency`]: how far behind the kernel a live session was.

pub mod arch;
pub mod assemble;
pub mod charts;
pub mod event;
pub mod gfp;
pub mod html;
pub mod item;
pub mod kernel_log;
pub mod latency;
pub mod leadup;
pub mod memstate;
pub mod pipeline;
pub mod pressure;
pub mod render;
pub mod report_join;
pub mod rotate;
pub mod session;
pub mod sink;
pub mod summary;
pub mod symbols;
#[cfg(test)]
mod testdata;
pub mod tracepoint_format;
pub mod workload;

#[cfg(test)]
mod layering {
    //! No import circle between the modules of this crate: each module's
    //! non-test code names `crate::other` only down the graph.

    use std::collections::{BTreeMap, BTreeSet};

    /// Module → the modules its non-test code refers to as `crate::name`.
    fn graph(dir: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
        let mut g = BTreeMap::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let Some(name) = p.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            if name == "lib" || name == "testdata" {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let uses: BTreeSet<String> = code
                .match_indices("crate::")
                .map(|(i, m)| {
                    code[i + m.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .filter(|m| *m != name && !m.is_empty())
                .collect();
            g.insert(name, uses);
        }
        g
    }

    /// A cycle in `g`, as the modules on it.
    pub fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
        ) -> Option<Vec<String>> {
            if let Some(i) = path.iter().position(|p| p == n) {
                return Some(path[i..].to_vec());
            }
            if done.contains(n) {
                return None;
            }
            path.push(n.to_owned());
            for m in g.get(n).into_iter().flatten() {
                if let Some(c) = visit(m, g, path, done) {
                    return Some(c);
                }
            }
            path.pop();
            done.insert(n.to_owned());
            None
        }
        let mut done = BTreeSet::new();
        g.keys()
            .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
    }

    #[test]
    fn no_module_imports_in_a_circle() {
        let g = graph(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
        assert!(g.len() >= 14, "{g:?}");
        assert_eq!(cycle(&g), None, "import circle in oomtrace-core");
        // The checker finds one where there is one.
        let mut bad = g.clone();
        bad.get_mut("event").unwrap().insert("sink".into());
        assert!(cycle(&bad).is_some());
    }
}
