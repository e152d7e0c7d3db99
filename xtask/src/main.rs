//! `cargo xtask deps|build|run|test|lint` — everything oomtrace needs, set up
//! by the project itself so a fresh machine gets there with two commands.

use anyhow::{Context, Result, bail};
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Debian packages bpf-linker builds against (its LLVM must be rustc's, 22).
const LINKER_PACKAGES: &[&str] = &["llvm-22-dev", "libpolly-22-dev", "libzstd-dev"];
/// Used by the tests: `dmesg` and `setpriv` from util-linux.
const TEST_PACKAGES: &[&str] = &["util-linux"];
const BPF_LINKER_VERSION: &str = "0.13";
/// The toolchain that builds the eBPF crate (aya-build runs `rustup run nightly`).
const EBPF_TOOLCHAIN: &str = "nightly";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(workspace_root());
    c
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().with_context(|| format!("running {shown}"))?;
    if !status.success() {
        bail!("{shown} failed: {status}");
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_root() -> bool {
    output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

fn missing_debian_packages(wanted: &[&str]) -> Vec<String> {
    wanted
        .iter()
        .filter(|p| {
            output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_none_or(|s| !s.contains("install ok installed"))
        })
        .map(|p| (*p).to_owned())
        .collect()
}

fn install_debian_packages(wanted: &[&str]) -> Result<()> {
    let missing = missing_debian_packages(wanted);
    if missing.is_empty() {
        return Ok(());
    }
    if !Path::new("/etc/debian_version").exists() || !is_root() {
        bail!(
            "missing packages: {}. This is not a Debian machine or we are not root: install \
             them (or your distribution's equivalents) by hand, then run this again",
            missing.join(" ")
        );
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn ensure_rust_src() -> Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        EBPF_TOOLCHAIN,
    ]));
    if installed.as_deref().is_some_and(|s| s.contains("rust-src")) {
        return Ok(());
    }
    eprintln!("xtask: adding rust-src to the {EBPF_TOOLCHAIN} toolchain");
    run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        EBPF_TOOLCHAIN,
    ]))
}

fn ensure_bpf_linker() -> Result<()> {
    let have = output(Command::new("bpf-linker").arg("--version"));
    if have
        .as_deref()
        .is_some_and(|v| v.contains(&format!(" {BPF_LINKER_VERSION}.")))
    {
        return Ok(());
    }
    install_debian_packages(LINKER_PACKAGES)?;
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (about 5 minutes, once)"
    );
    let t = Instant::now();
    run(cargo()
        .args([
            "install",
            "bpf-linker",
            "--version",
            &format!("^{BPF_LINKER_VERSION}"),
            "--no-default-features",
            "--features",
            "llvm-22",
            "--force",
        ])
        .env("LLVM_PREFIX", "/usr/lib/llvm-22"))?;
    eprintln!(
        "xtask: bpf-linker built in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Installs only what is missing; cheap when everything is there.
pub fn deps() -> Result<()> {
    install_debian_packages(TEST_PACKAGES)?;
    ensure_rust_src()?;
    ensure_bpf_linker()
}

fn build() -> Result<PathBuf> {
    deps()?;
    run(cargo().args(["build", "--release", "--package", "oomtrace"]))?;
    Ok(workspace_root().join("target/release/oomtrace"))
}

fn lint() -> Result<()> {
    deps()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--release",
        "--workspace",
        "--exclude",
        "oomtrace-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The kernel side is linted for its own target.
    run(Command::new("rustup")
        .args(["run", EBPF_TOOLCHAIN, "cargo", "clippy"])
        .args(["--release", "--package", "oomtrace-ebpf", "--bins"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .args(["--", "-D", "warnings"])
        .current_dir(workspace_root())
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/ebpf-clippy"),
        ))
}

fn test() -> Result<()> {
    deps()?;
    if !is_root() {
        bail!(
            "the tests load BPF programs and create memory cgroups: run `cargo xtask test` as root"
        );
    }
    lint()?;
    run(cargo().args([
        "test",
        "--release",
        "--workspace",
        "--exclude",
        "oomtrace-ebpf",
    ]))?;
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "deps" => deps(),
        "build" => build().map(|p| eprintln!("xtask: built {}", p.display())),
        "lint" => lint(),
        "test" => test(),
        "run" => build().and_then(|exe| {
            let rest = rest.strip_prefix(&["--".to_owned()]).unwrap_or(rest);
            run(Command::new(exe).args(rest))
        }),
        _ => {
            eprintln!(
                "usage: cargo xtask <deps|build|run|lint|test>\n\
                 \x20 deps   install what is missing (Debian packages, rust-src, bpf-linker)\n\
                 \x20 build  build oomtrace (the BPF object is embedded)\n\
                 \x20 run    build, then run: cargo xtask run -- trace --json\n\
                 \x20 lint   rustfmt and clippy, the eBPF crate with its own target\n\
                 \x20 test   lint, unit tests and the integration tests on this kernel (root)"
            );
            return if cmd == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
