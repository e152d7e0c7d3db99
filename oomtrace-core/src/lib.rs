//! oomtrace's core: everything between the kernel and the screen that needs
//! neither aya nor an async runtime. Its folders are the pipeline's stages:
//!
//! ```text
//! source ──> enrich ──> filter ──> sink
//! ```
//!
//! - [`source`]: ring-buffer records assembled into one
//!   [`schema::event::OomEvent`] per OOM ([`source::assemble`], with
//!   [`source::memstate`] and [`source::symbols`]); the kernel's own report
//!   parsed ([`source::kernel_log`]); session files read back.
//! - [`enrich`]: what the machine adds to an event: its workload, the
//!   lead-up, the kernel's report joined to a live event.
//! - [`pipeline`]: the one loop every command runs: a [`pipeline::Source`],
//!   [`pipeline::Enricher`]s, a [`pipeline::Filter`], a [`sink::Sink`].
//! - [`sink`]: where events go: text like the kernel's, JSON, session files,
//!   the HTML page, summaries.
//! - [`schema`]: the event and the items that flow, as DESIGN.md says them.
//! - [`kernel`]: facts about the traced kernel, each in one place.
//!
//! A module uses only its own stage and those before it (kernel, schema,
//! source, enrich, sink, pipeline): `layering` below holds it.

pub mod enrich;
pub mod kernel;
pub mod pipeline;
pub mod schema;
pub mod sink;
pub mod source;
#[cfg(test)]
mod testdata;

#[cfg(test)]
mod layering {
    //! The pipeline's stages, seen in the tree: each module's non-test code
    //! names (`crate::stage::module`) only modules of its own stage or of
    //! the stages before it, and no modules import each other in a circle.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The stages, first to last; `pipeline` joins them all.
    const STAGES: [&str; 6] = ["kernel", "schema", "source", "enrich", "sink", "pipeline"];

    fn rank(module: &str) -> usize {
        let stage = module.split("::").next().unwrap_or(module);
        STAGES
            .iter()
            .position(|s| *s == stage)
            .unwrap_or_else(|| panic!("{module} is in no stage"))
    }

    /// The code before its tests, without comments (a doc link to a later
    /// stage is a pointer for the reader, not an import).
    fn code(path: &Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Module (`stage::name`, `stage` for a folder's `mod.rs`; a module that
    /// is a folder of its own counts its files as one) → the modules its
    /// non-test code refers to as `crate::...`.
    fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
        fn rs_files(dir: &Path) -> Vec<std::path::PathBuf> {
            let mut out = Vec::new();
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    out.extend(rs_files(&p));
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
            out
        }
        // Files of test modules (`#[cfg(test)] mod tests;` beside a
        // `mod.rs`) are tests as a whole.
        let mut tests = BTreeSet::new();
        for p in rs_files(src).iter().filter(|p| p.ends_with("mod.rs")) {
            let text = std::fs::read_to_string(p).unwrap();
            let lines: Vec<&str> = text.lines().map(str::trim).collect();
            for w in lines.windows(2) {
                let declared = w[1].trim_start_matches("pub(crate) ").strip_prefix("mod ");
                if let ("#[cfg(test)]", Some(m)) = (w[0], declared) {
                    let m = m.trim_end_matches(';');
                    tests.insert(p.with_file_name(format!("{m}.rs")));
                }
            }
        }
        let mut files = Vec::new();
        for p in rs_files(src).into_iter().filter(|p| !tests.contains(p)) {
            let rel: Vec<String> = p
                .strip_prefix(src)
                .unwrap()
                .with_extension("")
                .iter()
                .map(|c| c.to_str().unwrap().to_owned())
                .collect();
            let name = match rel.as_slice() {
                [top] if top == "lib" || top == "testdata" => continue,
                [top] => top.clone(),
                [stage, m] if m == "mod" => stage.clone(),
                [stage, m, ..] => format!("{stage}::{m}"),
                [] => continue,
            };
            files.push((name, p));
        }
        let ident = |s: &str| -> String {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, path) in files {
            let code = code(&path);
            assert!(
                !code.contains("super::"),
                "{}: `super::` hides an arrow from this test; name it `crate::`",
                path.display()
            );
            let uses: BTreeSet<String> = code
                .match_indices("crate::")
                .filter_map(|(i, m)| {
                    let rest = &code[i + m.len()..];
                    let first = ident(rest);
                    let second = rest[first.len()..].strip_prefix("::").map(ident);
                    let module = match second {
                        Some(b)
                            if src.join(&first).join(format!("{b}.rs")).is_file()
                                || src.join(&first).join(&b).is_dir() =>
                        {
                            format!("{first}::{b}")
                        }
                        _ => first,
                    };
                    (module != name && !module.is_empty()).then_some(module)
                })
                .collect();
            g.entry(name).or_default().extend(uses);
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

    /// Every arrow from a stage to a later one.
    fn upward(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
        g.iter()
            .flat_map(|(from, to)| to.iter().map(move |t| (from.clone(), t.clone())))
            .filter(|(from, to)| rank(to) > rank(from))
            .collect()
    }

    #[test]
    fn modules_import_down_the_stages_and_never_in_a_circle() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let g = graph(&src);
        assert!(g.len() >= 25, "{g:?}");
        assert!(g["sink::html"].contains("sink::render"), "{g:?}");
        assert!(
            g["source::kernel_log"].contains("kernel::show_mem"),
            "{g:?}"
        );
        assert_eq!(upward(&g), [], "an arrow to a later stage");
        assert_eq!(cycle(&g), None, "import circle in oomtrace-core");
        // The checker finds what is there.
        let mut bad = g.clone();
        bad.get_mut("schema::event").unwrap().insert("sink".into());
        assert_eq!(upward(&bad), [("schema::event".into(), "sink".into())]);
        bad.get_mut("sink").unwrap().insert("schema::event".into());
        assert!(cycle(&bad).is_some());
    }

    /// Each stage's folder opens by saying what enters it and what leaves.
    #[test]
    fn each_stage_says_what_enters_and_what_leaves() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for stage in STAGES.iter().filter(|s| **s != "pipeline") {
            let text = std::fs::read_to_string(src.join(stage).join("mod.rs")).unwrap();
            assert!(text.starts_with("//! "), "{stage}/mod.rs");
        }
    }
}
