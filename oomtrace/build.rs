use anyhow::{Context as _, anyhow};
use aya_build::{Package, Toolchain};

/// Builds the eBPF crate for the bpf target and leaves the object in OUT_DIR,
/// where `include_bytes_aligned!` embeds it into the CLI. Its toolchain is
/// the one `oomtrace-ebpf/rust-toolchain.toml` names (xtask reads the same).
fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or_else(|| anyhow!("no workspace root"))?
        .join("oomtrace-ebpf");
    let pin = root.join("rust-toolchain.toml");
    println!("cargo::rerun-if-changed={}", pin.display());
    let text = std::fs::read_to_string(&pin).with_context(|| pin.display().to_string())?;
    let channel = text
        .lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("channel")?.trim().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .with_context(|| format!("{}: no `channel = \"...\"` line", pin.display()))?;
    let root = root.to_str().context("non-UTF-8 path")?;
    aya_build::build_ebpf(
        [Package {
            name: "oomtrace-ebpf",
            root_dir: root,
            ..Default::default()
        }],
        Toolchain::Custom(&channel),
    )
}
