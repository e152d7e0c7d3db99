//! The release artifacts of `cargo xtask dist` (target/dist/), checked as a
//! user gets them: checksums, each binary's architecture and static
//! linking, the binary running here, the other architecture's refusing in
//! one sentence, and the Debian package installed with apt and removed.
//!
//! Ignored by a plain `cargo test`: `cargo xtask test` runs it after
//! `cargo xtask dist`, with `OOMTRACE_DIST` naming the directory.

use object::{Object, ObjectSegment};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::Scratch;

fn dist() -> PathBuf {
    PathBuf::from(std::env::var("OOMTRACE_DIST").expect("OOMTRACE_DIST: run `cargo xtask dist`"))
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The ELF machine and whether the file asks for a program interpreter
/// (dynamic linking).
fn elf(path: &Path) -> (object::Architecture, bool) {
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let dynamic = file.section_by_name(".interp").is_some()
        || file
            .segments()
            .any(|s| s.name().ok().flatten() == Some("PT_INTERP"));
    (file.architecture(), dynamic)
}

#[test]
#[ignore = "needs the artifacts of `cargo xtask dist`"]
fn checksums_match() {
    let (ok, out, err) = run(Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(dist()));
    assert!(ok, "{out}{err}");
    // A binary and a package for each of x86_64, aarch64 and armv7l.
    assert_eq!(
        out.lines().filter(|l| l.ends_with(": OK")).count(),
        6,
        "{out}"
    );
}

#[test]
#[ignore = "needs the artifacts of `cargo xtask dist`"]
fn each_binary_is_static_for_its_architecture() {
    for (arch, want) in [
        ("x86_64", object::Architecture::X86_64),
        ("aarch64", object::Architecture::Aarch64),
        ("armv7l", object::Architecture::Arm),
    ] {
        let bin = dist().join(format!("oomtrace-{}-{arch}-linux", version()));
        let (machine, dynamic) = elf(&bin);
        assert_eq!(machine, want, "{}", bin.display());
        assert!(
            !dynamic,
            "{}: asks for a program interpreter",
            bin.display()
        );
    }
}

#[test]
#[ignore = "needs the artifacts of `cargo xtask dist`"]
fn the_native_binary_runs_and_the_other_says_why_not() {
    let native = dist().join(format!("oomtrace-{}-x86_64-linux", version()));
    let (ok, out, err) = run(Command::new(&native).args(["check", "--json"]));
    assert!(ok, "{out}{err}");
    serde_json::from_str::<serde_json::Value>(&out).expect("check --json is JSON");
    // The ARM builds, run through qemu-user on this x86_64 kernel: their BPF
    // programs would read the wrong registers, and each says so.
    for (arch, qemu) in [
        ("aarch64", "qemu-aarch64-static"),
        ("armv7l", "qemu-arm-static"),
    ] {
        let other = dist().join(format!("oomtrace-{}-{arch}-linux", version()));
        let (ok, out, err) = run(Command::new(qemu).arg(&other).arg("check"));
        assert!(!ok, "{out}");
        assert!(
            err.contains(&format!("built for {arch}, but the kernel runs on x86_64")),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    }
}

/// Removes the package even when an assertion failed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "oomtrace"]).output();
    }
}

#[test]
#[ignore = "needs the artifacts of `cargo xtask dist`"]
fn the_debian_package_installs_with_apt() {
    let deb = dist().join(format!("oomtrace_{}_amd64.deb", version()));
    let (ok, out, err) = run(Command::new("dpkg-deb").arg("--field").arg(&deb));
    assert!(ok, "{err}");
    for field in [
        format!("Version: {}", version()),
        "Architecture: amd64".into(),
        "Package: oomtrace".into(),
    ] {
        assert!(out.contains(&field), "{out}");
    }
    let _guard = Installed;
    let (ok, out, err) = run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(Command::new("/usr/bin/oomtrace").arg("--version"));
    assert!(ok && out.contains(&version()), "{out}{err}");
    let (_, files, _) = run(Command::new("dpkg").args(["--listfiles", "oomtrace"]));
    for want in [
        "/usr/bin/oomtrace",
        "/lib/systemd/system/oomtrace.service",
        "/lib/systemd/system/oomtrace-agent.service",
        "/usr/share/man/man1/oomtrace.1.gz",
        "/usr/share/man/man1/oomtrace-record.1.gz",
        "/usr/share/bash-completion/completions/oomtrace",
        "/usr/share/zsh/vendor-completions/_oomtrace",
        "/usr/share/fish/vendor_completions.d/oomtrace.fish",
    ] {
        assert!(files.lines().any(|l| l == want), "{want} not in {files}");
    }
    let unit = std::fs::read_to_string("/lib/systemd/system/oomtrace.service").unwrap();
    assert!(unit.contains("exec /usr/bin/oomtrace record"), "{unit}");
    let agent = std::fs::read_to_string("/lib/systemd/system/oomtrace-agent.service").unwrap();
    assert!(
        agent.contains("ExecStart=/usr/bin/oomtrace agent "),
        "{agent}"
    );
    // The man page is the clap definitions': its subcommands are there.
    let (ok, page, err) = run(Command::new("sh")
        .arg("-c")
        .arg("gzip -dc /usr/share/man/man1/oomtrace.1.gz"));
    assert!(
        ok && page.contains(".TH oomtrace") && page.contains("record"),
        "{err}"
    );
    let bash = std::fs::read_to_string("/usr/share/bash-completion/completions/oomtrace").unwrap();
    assert!(bash.contains("trace") && bash.contains("--json"), "{bash}");
    // Each completion file is its shell's: bash parses it, zsh's declares
    // itself for oomtrace, fish's completes oomtrace.
    let (ok, _, err) = run(Command::new("bash")
        .arg("-n")
        .arg("/usr/share/bash-completion/completions/oomtrace"));
    assert!(ok, "bash -n: {err}");
    let zsh = std::fs::read_to_string("/usr/share/zsh/vendor-completions/_oomtrace").unwrap();
    assert!(
        zsh.starts_with("#compdef oomtrace"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    let fish =
        std::fs::read_to_string("/usr/share/fish/vendor_completions.d/oomtrace.fish").unwrap();
    assert!(
        fish.lines().any(|l| l.starts_with("complete -c oomtrace")),
        "{fish}"
    );
    // Every package's control file names its own architecture, and each
    // holds that architecture's binary.
    for (deb_arch, want) in [
        ("amd64", object::Architecture::X86_64),
        ("arm64", object::Architecture::Aarch64),
        ("armhf", object::Architecture::Arm),
    ] {
        let deb = dist().join(format!("oomtrace_{}_{deb_arch}.deb", version()));
        let (ok, control, err) = run(Command::new("dpkg-deb").arg("--field").arg(&deb));
        assert!(ok, "{deb_arch}: {err}");
        let field = |name: &str| {
            control
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::to_owned)
        };
        assert_eq!(field("Package").as_deref(), Some("oomtrace"), "{control}");
        assert_eq!(field("Version"), Some(version()), "{control}");
        assert_eq!(
            field("Architecture").as_deref(),
            Some(deb_arch),
            "{control}"
        );
        for required in ["Maintainer", "Description", "Installed-Size"] {
            assert!(
                field(required).is_some_and(|v| !v.is_empty()),
                "{deb_arch}: no {required}: {control}"
            );
        }
        let dir = Scratch::new(&format!("deb-{deb_arch}"));
        let (ok, _, err) = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.path()));
        assert!(ok, "{err}");
        assert_eq!(elf(&dir.join("usr/bin/oomtrace")).0, want, "{deb_arch}");
    }
}
