//! `cargo xtask book`: the book in `docs/` (mdBook, from crates.io, pinned)
//! built into `target/book/`, after every relative link of the book and of
//! README.md is checked: its file exists in the repository and, for
//! `chapter.md#anchor`, a heading of that chapter makes that anchor; and
//! every chapter is in `SUMMARY.md`. mdBook fetches nothing: the book
//! builds offline.

use crate::{cargo, output, run, workspace_root};
use anyhow::{Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The mdBook release `cargo xtask book` installs (without its `serve` and
/// `watch` features: a build needs neither).
const MDBOOK_VERSION: &str = "0.5.4";

pub fn build() -> Result<()> {
    let root = workspace_root();
    let broken = check_links(&root)?;
    if !broken.is_empty() {
        bail!("broken links in the book:\n  {}", broken.join("\n  "));
    }
    if output(Command::new("mdbook").arg("--version"))
        .is_none_or(|v| !v.contains(&format!("v{MDBOOK_VERSION}")))
    {
        run(cargo().args([
            "install",
            "--locked",
            "mdbook",
            "--version",
            MDBOOK_VERSION,
            "--no-default-features",
            "--features",
            "search",
        ]))?;
    }
    run(Command::new("mdbook").arg("build").arg(root.join("docs")))?;
    eprintln!(
        "xtask: the book is in {}",
        root.join("target/book/index.html").display()
    );
    Ok(())
}

/// Each broken link as `file:line: target (why)`.
fn check_links(root: &Path) -> Result<Vec<String>> {
    let src = root.join("docs/src");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    let summary = std::fs::read_to_string(src.join("SUMMARY.md"))?;
    let listed: BTreeSet<String> = links(&summary).into_iter().map(|(_, t)| t).collect();
    let mut broken = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        if name != "SUMMARY.md" && !listed.contains(name.as_ref()) {
            broken.push(format!("{}: not in SUMMARY.md", f.display()));
        }
    }
    files.push(root.join("README.md"));
    for f in &files {
        let text = std::fs::read_to_string(f)?;
        for (line, target) in links(&text) {
            if let Some(why) = check(root, f, &text, &target) {
                broken.push(format!("{}:{line}: {target} ({why})", f.display()));
            }
        }
    }
    Ok(broken)
}

/// Why `target`, linked from `from`, is broken; `None` when it is not.
fn check(root: &Path, from: &Path, text: &str, target: &str) -> Option<String> {
    if target.starts_with("http://") || target.starts_with("https://") {
        return Some("the book links nothing outside the repository".into());
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let file = if path.is_empty() {
        from.to_path_buf()
    } else {
        from.parent()?.join(path)
    };
    let Ok(file) = file.canonicalize() else {
        return Some("no such file".into());
    };
    if !file.starts_with(root.canonicalize().ok()?) {
        return Some("outside the repository".into());
    }
    if anchor.is_empty() {
        return None;
    }
    let body = if path.is_empty() {
        text.to_owned()
    } else {
        std::fs::read_to_string(&file).ok()?
    };
    let anchors: BTreeSet<String> = headings(&body).iter().map(|h| slug(h)).collect();
    (!anchors.contains(anchor)).then(|| "no heading makes this anchor".into())
}

/// Lines outside fenced code blocks, with their numbers.
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push((i + 1, l));
        }
    }
    out
}

/// `[text](target)` and `![alt](target)` outside code: line and target.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose(text) {
        // Inline code spans hold no links.
        let plain: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n, after[..end].to_owned()));
            rest = &after[end..];
        }
    }
    out
}

fn headings(text: &str) -> Vec<String> {
    prose(text)
        .into_iter()
        .filter_map(|(_, l)| {
            let t = l.trim_start_matches('#');
            (t.len() < l.len() && t.starts_with(' ')).then(|| t.trim().to_owned())
        })
        .collect()
}

/// mdBook's anchor of a heading: lower case, spaces as `-`, only letters,
/// digits, `-` and `_` kept.
fn slug(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_outside_code_and_their_anchors() {
        let text =
            "# Before the OOM: `watch`\n[a](b.md) `[c](d.md)`\n```\n[e](f.md)\n```\n![g](h.png)\n";
        assert_eq!(
            links(text),
            [(2, "b.md".to_owned()), (6, "h.png".to_owned())]
        );
        assert_eq!(slug(&headings(text)[0]), "before-the-oom-watch");
    }

    #[test]
    fn the_book_and_the_readme_link_only_what_exists() {
        let root = workspace_root();
        let broken = check_links(&root).unwrap();
        assert!(broken.is_empty(), "{broken:#?}");
        let readme = root.join("README.md");
        let text = "# Modes\n";
        assert_eq!(check(&root, &readme, text, "docs/src/modes.md#modes"), None);
        assert_eq!(check(&root, &readme, text, "#modes"), None);
        for bad in [
            "docs/src/nope.md",
            "docs/src/modes.md#nope",
            "#nope",
            "../shared/DESIGN.md",
            "https://x",
        ] {
            assert!(check(&root, &readme, text, bad).is_some(), "{bad}");
        }
    }
}
