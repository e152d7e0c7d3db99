//! The release targets' toolchains: for each, the Rust target, the C linker
//! that links it statically and every Debian package that linker needs —
//! named here once, installed by `deps`, and proven by linking a small
//! static program before any test runs (`cargo xtask toolchains`), here
//! and in a clean Debian root made by mmdebstrap (`--clean-root`), so that
//! a package only a Recommends brought (as `libc6-dev-armhf-cross` was)
//! cannot hide behind a machine that had it from earlier work.

use super::*;
use std::fs;

/// One release target.
pub struct Target {
    /// The Rust target triple.
    pub rust: &'static str,
    /// `CARGO_TARGET_<T>_LINKER` and the linker a cross build names there
    /// (`None`: the host's `cc`).
    pub linker: Option<(&'static str, &'static str)>,
    /// The Debian packages that make up its toolchain, the C library
    /// included (installed without Recommends).
    pub packages: &'static [&'static str],
    /// Its standard library is built from source by the kernel side's
    /// nightly (`-Z build-std`): rustup serves none for the workspace's
    /// toolchain.
    pub build_std: bool,
}

/// glibc, static with `+crt-static`: gcc and glibc's static libraries.
pub const X86_64_GNU: Target = Target {
    rust: "x86_64-unknown-linux-gnu",
    linker: None,
    packages: &["gcc", "libc6-dev"],
    build_std: false,
};

/// musl, whose C library and start files come with Rust's target: only
/// the cross gcc as the linker driver.
pub const AARCH64_MUSL: Target = Target {
    rust: "aarch64-unknown-linux-musl",
    linker: Some((
        "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER",
        "aarch64-linux-gnu-gcc",
    )),
    packages: &["gcc-aarch64-linux-gnu"],
    build_std: false,
};

/// glibc for 32-bit ARM (Rust serves no armv7 musl target here): the cross
/// gcc, and the C library it only recommends (crt1.o, crti.o, libc.a).
/// rustup serves its standard library for Rust 1.95 but for no toolchain
/// new enough for aya 0.16 (1.98): the kernel side's nightly builds it.
pub const ARMV7_GNUEABIHF: Target = Target {
    rust: "armv7-unknown-linux-gnueabihf",
    linker: Some((
        "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER",
        "arm-linux-gnueabihf-gcc",
    )),
    packages: &["gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross"],
    build_std: true,
};

/// Every target `dist` releases and the VM tests boot.
pub const RELEASE_TARGETS: &[&Target] = &[&X86_64_GNU, &AARCH64_MUSL, &ARMV7_GNUEABIHF];

impl Target {
    /// Installs the target's Debian packages and its Rust standard library
    /// (where rustup manages the toolchain).
    pub fn ensure(&self) -> Result<()> {
        install_debian_packages(self.packages)?;
        let Some(installed) =
            output(Command::new("rustup").args(["target", "list", "--installed"]))
        else {
            // No rustup (the clean root borrows the host's toolchains, their
            // targets already added): `link_proof` says what is missing.
            return Ok(());
        };
        if self.build_std {
            return ensure_ebpf_toolchain();
        }
        if !installed.lines().any(|l| l.trim() == self.rust) {
            run(Command::new("rustup").args(["target", "add", self.rust]))?;
        }
        Ok(())
    }

    /// `cargo build` for this target, static, with its linker (and its
    /// standard library built from source where it must be).
    pub fn cargo_build(&self) -> Command {
        let mut build = if self.build_std {
            let mut c = Command::new("rustup");
            c.args(["run", &ebpf_toolchain(), "cargo", "build"])
                .args(BUILD_STD)
                .current_dir(workspace_root());
            c
        } else {
            let mut c = cargo();
            c.arg("build");
            c
        };
        build
            .args(["--release", "--target", self.rust])
            .env("RUSTFLAGS", "-C target-feature=+crt-static");
        if let Some((var, linker)) = self.linker {
            build.env(var, linker);
        }
        build
    }

    /// Links a small static program for the target in `dir` with rustc
    /// (or, where the standard library is built from source, cargo) and the
    /// target's linker; a failure names the packages to install.
    fn link_proof(&self, dir: &Path) -> Result<()> {
        let (out, exe) = if self.build_std {
            self.build_std_proof(dir)?
        } else {
            let src = dir.join("hello.rs");
            fs::write(&src, "fn main() { println!(\"hello\"); }\n")?;
            let exe = dir.join(format!("hello-{}", self.rust));
            let mut rustc = Command::new("rustc");
            rustc
                .args(["--edition", "2021", "--target", self.rust])
                .args(["-C", "target-feature=+crt-static", "-C", "opt-level=0"])
                .arg("-o")
                .arg(&exe)
                .arg(&src);
            if let Some((_, linker)) = self.linker {
                rustc.arg("-C").arg(format!("linker={linker}"));
            }
            let out = rustc
                .output()
                .context("running rustc (the Rust toolchain)")?;
            (out, exe)
        };
        let made = out.status.success() && is_static_executable(&exe);
        if made {
            return Ok(());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = said
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(6)
            .collect();
        let missing = missing_debian_packages(self.packages);
        bail!(
            "a static program for {} does not link ({}): its toolchain is the Debian packages \
             {}{}; rustc said:\n{}",
            self.rust,
            self.linker.map_or("cc", |(_, l)| l),
            self.packages.join(" "),
            if missing.is_empty() && said.contains("can't find crate for `std`") {
                format!(
                    " (all installed; its Rust library is not: rustup target add {})",
                    self.rust
                )
            } else if missing.is_empty() {
                " (all installed, so the list lacks one: a linker that cannot find crt1.o, crtn.o \
                 or -lc lacks the target's C library, for Debian's cross gcc libc6-dev-<arch>-cross, \
                 which it only recommends)"
                    .to_owned()
            } else {
                format!(
                    ", of which {} missing: apt-get install {}",
                    missing.len(),
                    missing.join(" ")
                )
            },
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    }
}

/// How a target without a served standard library builds one.
const BUILD_STD: [&str; 2] = ["-Z", "build-std=std,panic_abort"];

impl Target {
    /// A one-file crate built for the target with its standard library
    /// from source: the nightly's cargo through rustup, or, in the clean
    /// root (no rustup), the nightly mounted at /opt/rust-nightly.
    fn build_std_proof(&self, dir: &Path) -> Result<(std::process::Output, PathBuf)> {
        let krate = dir.join(format!("hello-{}", self.rust));
        fs::create_dir_all(krate.join("src"))?;
        fs::write(
            krate.join("Cargo.toml"),
            "[package]\nname = \"hello\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )?;
        fs::write(
            krate.join("src/main.rs"),
            "fn main() { println!(\"hello\"); }\n",
        )?;
        let mut cargo = if output(Command::new("rustup").arg("--version")).is_some() {
            let mut c = Command::new("rustup");
            c.args(["run", &ebpf_toolchain(), "cargo"]);
            c
        } else {
            let mut c = Command::new("/opt/rust-nightly/bin/cargo");
            c.env("RUSTC", "/opt/rust-nightly/bin/rustc");
            c
        };
        cargo
            .args(["build", "--quiet", "--target", self.rust])
            .args(BUILD_STD)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .current_dir(&krate);
        if let Some((var, linker)) = self.linker {
            cargo.env(var, linker);
        }
        let out = cargo
            .output()
            .context("running cargo (the kernel side's nightly, for -Z build-std)")?;
        Ok((out, krate.join(format!("target/{}/debug/hello", self.rust))))
    }
}

/// Whether `path` is an ELF executable with no interpreter (static).
fn is_static_executable(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else {
        return false;
    };
    if bytes.get(..4) != Some(b"\x7fELF") {
        return false;
    }
    // No PT_INTERP: the program headers' types, 32- or 64-bit, either
    // endianness as the ELF says (ARM and x86 are little-endian).
    let is64 = bytes[4] == 2;
    let u16le = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32le = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64le = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let (phoff, phentsize, phnum) = if is64 {
        (u64le(0x20).map(|v| v as usize), u16le(0x36), u16le(0x38))
    } else {
        (u32le(0x1c).map(|v| v as usize), u16le(0x2a), u16le(0x2c))
    };
    let (Some(phoff), Some(size), Some(n)) = (phoff, phentsize, phnum) else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..n as usize).all(|i| u32le(phoff + i * size as usize).is_some_and(|t| t != PT_INTERP))
}

/// Installs every release target's toolchain.
pub fn ensure_all() -> Result<()> {
    RELEASE_TARGETS.iter().try_for_each(|t| t.ensure())
}

/// Links a static program for each release target here (after installing
/// their toolchains) and, with `bpf`, builds the BPF object: seconds, where
/// a missing piece found by `dist` took 14 minutes to show.
pub fn prove(dir: &Path, bpf: bool) -> Result<()> {
    let t = Instant::now();
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir)?;
    for target in RELEASE_TARGETS {
        target.ensure()?;
        target.link_proof(dir)?;
    }
    if bpf {
        build_bpf_object(&dir.join("ebpf"))?;
    }
    let _ = fs::remove_dir_all(dir);
    eprintln!(
        "xtask: toolchains proven ({}{}) in {:.1} s",
        RELEASE_TARGETS
            .iter()
            .map(|t| t.rust)
            .collect::<Vec<_>>()
            .join(", "),
        if bpf { ", the BPF object" } else { "" },
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The BPF object for this machine's architecture, built as aya-build
/// builds it for the CLI (nightly, build-std, bpf-linker with BTF).
fn build_bpf_object(target_dir: &Path) -> Result<()> {
    let out = Command::new("rustup")
        .args(["run", &ebpf_toolchain(), "cargo", "build", "--quiet"])
        .args(["--package", "oomtrace-ebpf", "--bins", "--release"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(target_dir)
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            format!(
                "--cfg=bpf_target_arch=\"{}\"\x1f-Cdebuginfo=2\x1f-Clink-arg=--btf",
                std::env::consts::ARCH
            ),
        )
        .current_dir(workspace_root())
        .output()
        .context("rustup (the eBPF toolchain)")?;
    if !out.status.success() {
        bail!(
            "the BPF object does not build: it needs the {} toolchain with rust-src \
             and bpf-linker {BPF_LINKER_VERSION} (built against that toolchain's LLVM; `cargo xtask deps` \
             makes them); cargo said:\n{}",
            ebpf_toolchain(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(())
}

/// Where the clean root is made (removed before and after).
fn clean_root_dir() -> PathBuf {
    workspace_root().join("target/clean-root")
}

/// `--clean-root`: a Debian bookworm root made from nothing by mmdebstrap
/// (apt and what it needs, no compiler), in which this very xtask installs
/// the toolchains and links the three programs, with the host's Rust
/// toolchain bound in read-only (no network for rustup here). Run in a
/// private mount namespace (`unshare`), so that its mounts end with it and
/// removing the root can never reach the host's files.
pub fn prove_in_clean_root() -> Result<()> {
    let t = Instant::now();
    install_debian_packages(&["mmdebstrap", "util-linux"])?;
    if !is_root() {
        bail!("mmdebstrap and chroot need root: run this as root");
    }
    let root = clean_root_dir();
    remove_root(&root)?;
    let made = Command::new("mmdebstrap")
        .args(["--quiet", "--variant=apt"])
        // This machine's own apt setting: its mirror's Release files are
        // served as they were on their day.
        .arg("--aptopt=Acquire::Check-Valid-Until \"false\"")
        .arg("bookworm")
        .arg(&root)
        .arg("http://deb.debian.org/debian")
        .status()
        .context("mmdebstrap")?;
    if !made.success() {
        bail!(
            "mmdebstrap could not make a bookworm root in {}",
            root.display()
        );
    }
    let toolchain = rustc_sysroot()?;
    // The kernel side's nightly too: it builds 32-bit ARM's standard library.
    ensure_ebpf_toolchain()?;
    let nightly = output(Command::new("rustc").args([
        &format!("+{}", ebpf_toolchain()),
        "--print",
        "sysroot",
    ]))
    .context("rustc --print sysroot (the kernel side's nightly)")?;
    fs::create_dir_all(root.join("opt/rust"))?;
    fs::create_dir_all(root.join("opt/rust-nightly"))?;
    let xtask = std::env::current_exe().context("this xtask's path")?;
    fs::copy(&xtask, root.join("usr/local/bin/xtask")).context("copying xtask into the root")?;
    let _ = fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"));
    // The host's certificate authorities too: building 32-bit ARM's standard
    // library fetches its crates from crates.io, through this network.
    fs::create_dir_all(root.join("etc/ssl/certs"))?;
    let _ = fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        root.join("etc/ssl/certs/ca-certificates.crt"),
    );
    let script = format!(
        "set -e\n\
         mount --bind '{toolchain}' '{root}/opt/rust'\n\
         mount -o remount,bind,ro '{root}/opt/rust'\n\
         mount --bind '{nightly}' '{root}/opt/rust-nightly'\n\
         mount -o remount,bind,ro '{root}/opt/rust-nightly'\n\
         mount -t proc proc '{root}/proc'\n\
         mount -t devpts -o newinstance,ptmxmode=0666 devpts '{root}/dev/pts'\n\
         exec chroot '{root}' /usr/bin/env -i HOME=/root TMPDIR=/tmp \
         CARGO_HTTP_CAINFO=/etc/ssl/certs/ca-certificates.crt \
         PATH=/opt/rust/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
         xtask toolchains --here\n",
        toolchain = toolchain.display(),
        nightly = nightly.trim(),
        root = root.display()
    );
    let status = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .status()
        .context("unshare (util-linux)")?;
    remove_root(&root)?;
    if !status.success() {
        bail!(
            "in a clean bookworm root, xtask's toolchain set-up did not link all three targets \
             (its own words above): a package it needs is not among those it installs"
        );
    }
    eprintln!(
        "xtask: a clean bookworm root got every toolchain from xtask alone ({:.0} s)",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The host's Rust toolchain (its `bin/rustc` and every target added).
fn rustc_sysroot() -> Result<PathBuf> {
    let sysroot = output(Command::new("rustc").args(["--print", "sysroot"]))
        .context("rustc --print sysroot")?;
    Ok(PathBuf::from(sysroot.trim()))
}

/// Removes the clean root, refusing while anything is mounted below it.
fn remove_root(root: &Path) -> Result<()> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = root.display().to_string();
    if let Some(m) = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .find(|p| p.starts_with(&prefix))
    {
        bail!("{m} is still mounted: not removing {prefix}");
    }
    match fs::remove_dir_all(root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", root.display()))
        }
        _ => Ok(()),
    }
}

/// `cargo xtask toolchains [--here|--clean-root]`.
pub fn command(rest: &[String]) -> Result<()> {
    match rest {
        // Inside the clean root: only the cross toolchains (no workspace).
        [flag] if flag == "--here" => prove(&std::env::temp_dir().join("toolchain-proof"), false),
        [flag] if flag == "--clean-root" => prove_in_clean_root(),
        [] => {
            deps()?;
            prove(&workspace_root().join("target/toolchain-proof"), true)
        }
        _ => bail!("usage: cargo xtask toolchains [--clean-root]"),
    }
}
