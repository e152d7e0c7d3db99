//! `cargo xtask vm-test`: Debian's cloud kernels in QEMU, oomtrace in kprobe
//! mode inside, the kernel's own report as the oracle.

use super::*;
use std::fs;

const VM_PACKAGES: &[&str] = &["qemu-system-x86", "busybox-static", "cpio", "e2fsprogs"];

/// A machine the VM tests emulate: Debian's architecture name, the
/// release target oomtrace is built for (static), and how QEMU boots it.
pub struct Machine {
    pub debian_arch: &'static str,
    /// `uname -m`, and the architecture in release file names.
    pub uname_machine: &'static str,
    pub target: &'static toolchains::Target,
    /// The Debian packages of its QEMU (`VM_PACKAGES` has x86's).
    qemu_packages: &'static [&'static str],
    qemu: &'static str,
    qemu_args: &'static [&'static str],
    console: &'static str,
    /// The VM's memory in MiB.
    memory_mib: u32,
}

pub const X86_64: Machine = Machine {
    debian_arch: "amd64",
    uname_machine: "x86_64",
    target: &toolchains::X86_64_GNU,
    qemu_packages: &[],
    qemu: "qemu-system-x86_64",
    qemu_args: &[],
    console: "ttyS0",
    memory_mib: 768,
};

pub const ARM64: Machine = Machine {
    debian_arch: "arm64",
    uname_machine: "aarch64",
    target: &toolchains::AARCH64_MUSL,
    qemu_packages: &["qemu-system-arm"],
    qemu: "qemu-system-aarch64",
    // pauth-impdef: QEMU's own pointer-authentication algorithm, many
    // times faster to emulate than the architected one.
    qemu_args: &["-M", "virt", "-cpu", "max,pauth-impdef=on"],
    console: "ttyAMA0",
    memory_mib: 768,
};

/// 32-bit ARM, the seed's board: a Cortex-A15 with LPAE, and 1 GiB, so
/// that with the 3G/1G split some of it is `HighMem`, as on the board.
pub const ARMHF: Machine = Machine {
    debian_arch: "armhf",
    uname_machine: "armv7l",
    target: &toolchains::ARMV7_GNUEABIHF,
    qemu_packages: &["qemu-system-arm"],
    qemu: "qemu-system-arm",
    qemu_args: &["-M", "virt", "-cpu", "cortex-a15"],
    console: "ttyAMA0",
    memory_mib: 1024,
};

/// 32-bit ARM without LPAE (Debian's `armmp` flavour, as Raspberry Pi
/// OS and most boards run): the first 4 GiB only (`highmem=off`), 1 GiB
/// of it, some `HighMem` again.
pub const ARMHF_NOLPAE: Machine = Machine {
    qemu_args: &["-M", "virt,highmem=off", "-cpu", "cortex-a15"],
    ..ARMHF
};

/// One kernel the VM tests boot, pinned: the same build on every run until
/// the table is changed (`cargo xtask vm-test --newest` says when Debian
/// has a newer one).
pub struct Kernel {
    pub machine: &'static Machine,
    /// The series the oracle must see run, by name.
    pub series: &'static str,
    /// The package that holds the image (`linux-image-*`; from 7.x Debian
    /// ships it in `linux-binary-*`, at /usr/lib/modules/RELEASE/vmlinuz)
    /// and its version.
    package: &'static str,
    version: &'static str,
    /// The meta-package whose dependency is the series' newest kernel: what
    /// `--newest` compares with, and what is tested when Debian no longer
    /// serves the pinned version (said, with the table to change).
    meta: &'static str,
    /// The Debian release that has it when it is not this machine's
    /// (read through a private apt configuration under .cache/, never
    /// the machine's own).
    release: Option<&'static str>,
    /// Also traced with a detached BTF made by pahole from its `-dbg`
    /// package (`--btf`), as a kernel without its own BTF is.
    pub detached_btf: bool,
    /// Both vCPUs on one TCG thread (`-accel tcg,thread=single`). 7.2 on
    /// x86 patches its own code at run time (static keys flipped with int3
    /// and a sync IPI) in a way that, with a host thread per vCPU, left the
    /// other vCPU running a translation of the int3 after the patch was
    /// done: it died so twice in fresh-clone CIs (`Oops: int3` in
    /// `sched_clock_tick` at 1.06 s and in `ktime_get` at 2.15 s, while the
    /// clock was being switched). The others keep a thread per vCPU, as
    /// they have always run: on one thread, 6.12 died once in its thrash
    /// scenario ("System is deadlocked on memory", no killable task left
    /// at a global OOM), not seen before.
    pub one_tcg_thread: bool,
}

pub const KERNELS: &[Kernel] = &[
    // Debian 11's kernel; also the base of Android 12 GKI and Amazon Linux 2's.
    Kernel {
        machine: &X86_64,
        series: "5.10",
        package: "linux-image-5.10.0-46-cloud-amd64",
        version: "5.10.262-1",
        meta: "linux-image-cloud-amd64",
        release: Some("bullseye"),
        detached_btf: false,
        one_tcg_thread: false,
    },
    Kernel {
        machine: &X86_64,
        series: "6.1",
        package: "linux-image-6.1.0-57-cloud-amd64",
        version: "6.1.192-3",
        meta: "linux-image-cloud-amd64",
        release: None,
        detached_btf: true,
        one_tcg_thread: false,
    },
    Kernel {
        machine: &X86_64,
        series: "6.12",
        package: "linux-image-6.12.118+deb12-cloud-amd64",
        version: "6.12.118-1~deb12u1",
        meta: "linux-image-6.12-cloud-amd64",
        release: None,
        detached_btf: false,
        one_tcg_thread: false,
    },
    // Debian unstable's: the image in linux-binary-*, the rss the kernel
    // prints summed over each CPU's part.
    Kernel {
        machine: &X86_64,
        series: "7.2",
        package: "linux-binary-7.2.13+deb14-cloud-amd64",
        version: "7.2.13-1",
        meta: "linux-image-cloud-amd64",
        release: Some("unstable"),
        detached_btf: false,
        one_tcg_thread: true,
    },
    Kernel {
        machine: &ARM64,
        series: "6.1",
        package: "linux-image-6.1.0-57-cloud-arm64",
        version: "6.1.192-3",
        meta: "linux-image-cloud-arm64",
        release: Some("bookworm"),
        detached_btf: false,
        one_tcg_thread: false,
    },
    Kernel {
        machine: &ARM64,
        series: "6.12",
        package: "linux-image-6.12.118+deb12-cloud-arm64",
        version: "6.12.118-1~deb12u1",
        meta: "linux-image-6.12-cloud-arm64",
        release: Some("bookworm"),
        detached_btf: false,
        one_tcg_thread: false,
    },
    Kernel {
        machine: &ARM64,
        series: "7.2",
        package: "linux-binary-7.2.13+deb14-cloud-arm64",
        version: "7.2.13-1",
        meta: "linux-image-cloud-arm64",
        release: Some("unstable"),
        detached_btf: false,
        one_tcg_thread: false,
    },
    // No BTF of its own: planned from pahole's, made from its -dbg package.
    Kernel {
        machine: &ARMHF,
        series: "6.1",
        package: "linux-image-6.1.0-50-armmp-lpae",
        version: "6.1.176-1",
        meta: "linux-image-armmp-lpae",
        release: Some("bookworm"),
        detached_btf: true,
        one_tcg_thread: false,
    },
    // No BTF and no -dbg package used: a board as it comes, oomtrace
    // run with no flag (kernel-log mode).
    Kernel {
        machine: &ARMHF_NOLPAE,
        series: "6.12",
        package: "linux-image-6.12.118+deb13-armmp",
        version: "6.12.118-1",
        meta: "linux-image-armmp",
        release: Some("trixie"),
        detached_btf: false,
        one_tcg_thread: false,
    },
];
const BOOT_TIMEOUT_SECS: u64 = 300;

fn cache() -> PathBuf {
    workspace_root().join(".cache/vm")
}

/// apt's options for a Debian release or architecture other than this
/// machine's: its own sources, lists and cache under
/// .cache/apt-RELEASE[-ARCH] (the machine's dpkg architectures untouched).
fn apt_options(release: Option<&str>, arch: &str) -> Result<Vec<String>> {
    let foreign = arch != X86_64.debian_arch;
    let Some(release) = release else {
        return Ok(Vec::new());
    };
    let dir = workspace_root().join(if foreign {
        format!(".cache/apt-{release}-{arch}")
    } else {
        format!(".cache/apt-{release}")
    });
    fs::create_dir_all(dir.join("lists/partial"))?;
    fs::create_dir_all(dir.join("cache/archives/partial"))?;
    let sources = dir.join("sources.list");
    fs::write(
        &sources,
        if release == "unstable" {
            // Unstable has no security suite.
            format!("deb http://deb.debian.org/debian {release} main\n")
        } else {
            format!(
                "deb http://deb.debian.org/debian {release} main\n\
                 deb http://deb.debian.org/debian-security {release}-security main\n"
            )
        },
    )?;
    let mut opts = vec![
        format!("-oDir::Etc::SourceList={}", sources.display()),
        "-oDir::Etc::SourceParts=/dev/null".to_owned(),
        format!("-oDir::State::Lists={}", dir.join("lists").display()),
        format!("-oDir::Cache={}", dir.join("cache").display()),
    ];
    if foreign {
        opts.extend([
            format!("-oAPT::Architecture={arch}"),
            format!("-oAPT::Architectures::={arch}"),
            // This machine's installed packages are not the VM's.
            "-oDir::State::status=/dev/null".to_owned(),
        ]);
    }
    if !has_package_lists(&dir.join("lists")) {
        update(&opts)?;
    }
    Ok(opts)
}

/// Whether apt has a package list in `lists` (compressed or not).
fn has_package_lists(lists: &Path) -> bool {
    fs::read_dir(lists).is_ok_and(|d| {
        d.filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
    })
}

/// `apt-get update` for a private configuration. A mirror caught mid-sync
/// fails one index (bookworm-security's armhf list, seen here: "File has
/// unexpected size"); the kernels come from the main archive, so a
/// failure with lists in place is said and passed over.
fn update(opts: &[String]) -> Result<()> {
    let lists = opts
        .iter()
        .find_map(|o| o.strip_prefix("-oDir::State::Lists="))
        .map(PathBuf::from);
    match run(Command::new("apt-get").args(opts).args(["update", "-qq"])) {
        Err(e) if lists.as_deref().is_some_and(has_package_lists) => {
            eprintln!("xtask: going on with the package lists apt has: {e:#}");
            Ok(())
        }
        other => other,
    }
}

/// The newest kernel of a series, as apt resolves the meta-package: the
/// package that holds its image and that package's version.
fn newest(k: &Kernel, apt: &[String]) -> Result<(String, String)> {
    let meta = k.meta;
    let deps = output(
        Command::new("apt-cache")
            .args(apt)
            .args(["depends", "--important", meta]),
    )
    .with_context(|| format!("apt-cache depends {meta}"))?;
    let image = deps
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-") && !p.contains("-dbg"))
        .with_context(|| format!("{meta} depends on no linux-image package"))?;
    // From 7.x the image package is empty; linux-binary-* holds the image.
    let binary = image.replacen("linux-image-", "linux-binary-", 1);
    let package = if candidate(&binary, apt).is_some() {
        binary
    } else {
        image.to_owned()
    };
    let version =
        candidate(&package, apt).with_context(|| format!("apt has no version of {package}"))?;
    Ok((package, version))
}

/// The version apt would install of a package, if it has one.
fn candidate(package: &str, apt: &[String]) -> Option<String> {
    let policy = output(
        Command::new("apt-cache")
            .args(apt)
            .args(["policy", package]),
    )?;
    policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Candidate: "))
        .filter(|v| *v != "(none)")
        .map(str::to_owned)
}

/// Whether apt can download this version of a package.
fn served(package: &str, version: &str, apt: &[String]) -> bool {
    output(
        Command::new("apt-cache")
            .args(apt)
            .args(["show", &format!("{package}={version}")]),
    )
    .is_some_and(|s| s.contains("Package:"))
}

/// The kernel image in an unpacked package: boot/vmlinuz-RELEASE, or from
/// 7.x usr/lib/modules/RELEASE/vmlinuz. Returns it and its release.
fn find_image(dir: &Path) -> Option<(PathBuf, String)> {
    let boot = fs::read_dir(dir.join("boot")).ok().and_then(|d| {
        d.filter_map(|e| e.ok().map(|e| e.path())).find_map(|p| {
            let release = p
                .file_name()?
                .to_str()?
                .strip_prefix("vmlinuz-")?
                .to_owned();
            Some((p, release))
        })
    });
    boot.or_else(|| {
        fs::read_dir(dir.join("usr/lib/modules"))
            .ok()
            .and_then(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path())).find_map(|m| {
                    let image = m.join("vmlinuz");
                    let release = m.file_name()?.to_str()?.to_owned();
                    image.exists().then_some((image, release))
                })
            })
    })
}

/// The package and version a run tests: the pinned ones while Debian
/// serves them; else the series' newest, said on stderr with the table
/// to change (a pinned build Debian has dropped can be tested no more).
fn chosen(k: &Kernel, apt: &[String]) -> Result<(String, String)> {
    if served(k.package, k.version, apt) {
        return Ok((k.package.to_owned(), k.version.to_owned()));
    }
    update(apt)?;
    if served(k.package, k.version, apt) {
        return Ok((k.package.to_owned(), k.version.to_owned()));
    }
    let (package, version) = newest(k, apt)?;
    eprintln!(
        "xtask: {}: Debian no longer serves the pinned {} {}; testing its newest, {package} \
         {version}: pin it in xtask/src/vm.rs's KERNELS",
        k.name(),
        k.package,
        k.version
    );
    Ok((package, version))
}

/// Downloads and unpacks a kernel package once; returns its image and the
/// kernel's release.
fn kernel(k: &Kernel) -> Result<(PathBuf, String)> {
    let apt = apt_options(k.release, k.machine.debian_arch)?;
    let (package, version) = chosen(k, &apt)?;
    let dir = cache().join(format!("{package}_{version}"));
    if let Some(found) = find_image(&dir) {
        return Ok(found);
    }
    let _ = fs::remove_dir_all(&dir);
    unpack(&apt, &format!("{package}={version}"), &dir)?;
    find_image(&dir).with_context(|| {
        format!("{package} {version} has no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz")
    })
}

/// `cargo xtask vm-test --newest`: for each kernel of the table, whether
/// Debian has a newer build than the one pinned (apt's lists read afresh).
pub fn newest_report() -> Result<()> {
    let mut behind = 0;
    for k in KERNELS {
        let apt = apt_options(k.release, k.machine.debian_arch)?;
        update(&apt)?;
        let (package, version) = newest(k, &apt)?;
        if (package.as_str(), version.as_str()) == (k.package, k.version) {
            println!(
                "{:<12} {} {}: Debian's newest",
                k.name(),
                k.package,
                k.version
            );
        } else {
            behind += 1;
            let served = if served(k.package, k.version, &apt) {
                "still served"
            } else {
                "no longer served"
            };
            println!(
                "{:<12} {} {} ({served}); Debian's newest: {package} {version}",
                k.name(),
                k.package,
                k.version
            );
        }
    }
    println!(
        "{behind} of {} kernels have a newer build; the pins are in xtask/src/vm.rs's KERNELS",
        KERNELS.len()
    );
    Ok(())
}

/// Downloads a package (once, into .cache/vm/debs) and unpacks it into `dir`.
fn unpack(apt: &[String], pkg: &str, dir: &Path) -> Result<()> {
    let deb = download(apt, pkg)?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir))
}

/// A package's .deb, downloaded once into .cache/vm/debs (`NAME:ARCH`
/// picks that architecture's, `NAME=VERSION` that version).
fn download(apt: &[String], pkg: &str) -> Result<PathBuf> {
    let debs = cache().join("debs");
    fs::create_dir_all(&debs)?;
    let (name, version) = match pkg.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (pkg, None),
    };
    let (name, arch) = match name.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (name, None),
    };
    // apt names the file NAME_VERSION_ARCH.deb, an epoch's colon escaped.
    let prefix = match version {
        Some(v) => format!("{name}_{}_", v.replace(':', "%3a")),
        None => format!("{name}_"),
    };
    let downloaded = || -> Option<PathBuf> {
        fs::read_dir(&debs)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&prefix) && arch.is_none_or(|a| n.ends_with(&format!("_{a}.deb")))
                })
            })
    };
    if downloaded().is_none() {
        eprintln!("xtask: downloading {pkg}");
        run(Command::new("apt-get")
            .args(apt)
            .args(["download", pkg])
            .current_dir(&debs))?;
    }
    downloaded().with_context(|| format!("apt-get download {pkg} left no .deb"))
}

/// A static busybox for the machine: this one's own, or Debian's
/// busybox-static of that architecture.
fn busybox(m: &Machine) -> Result<PathBuf> {
    if m.debian_arch == X86_64.debian_arch {
        return Ok(PathBuf::from("/bin/busybox"));
    }
    let dir = cache().join(format!("busybox-{}", m.debian_arch));
    let exe = dir.join("bin/busybox");
    if !exe.exists() {
        let apt = apt_options(Some("bookworm"), m.debian_arch)?;
        unpack(&apt, &format!("busybox-static:{}", m.debian_arch), &dir)?;
    }
    Ok(exe)
}

/// oomtrace built as a static executable for the machine (the VM has
/// no shared libraries), its BPF object built for that architecture.
pub fn static_oomtrace(m: &Machine) -> Result<PathBuf> {
    m.target.ensure()?;
    run(m.target.cargo_build().args(["--package", "oomtrace"]))?;
    Ok(workspace_root().join(format!("target/{}/release/oomtrace", m.target.rust)))
}

/// `btfs`: detached BTF files, put in /btf/ under their own names
/// (`<kernel release>.btf`: init.sh uses the running kernel's).
fn initramfs(m: &Machine, oomtrace: &Path, btfs: &[PathBuf]) -> Result<PathBuf> {
    let root = cache().join(format!("initramfs-{}", m.debian_arch));
    let _ = fs::remove_dir_all(&root);
    for d in ["bin", "proc", "sys", "dev", "tmp"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::copy(busybox(m)?, root.join("bin/busybox")).context("busybox-static")?;
    fs::copy(oomtrace, root.join("bin/oomtrace"))?;
    fs::create_dir_all(root.join("btf"))?;
    for b in btfs {
        fs::copy(b, root.join("btf").join(b.file_name().unwrap()))?;
    }
    fs::copy(workspace_root().join("tests/vm/init.sh"), root.join("init"))?;
    run(Command::new("chmod").arg("+x").arg(root.join("init")))?;
    let image = cache().join(format!("initramfs-{}.cpio.gz", m.debian_arch));
    run(Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find . | cpio -o -H newc --quiet | gzip -1 > {}",
            image.display()
        ))
        .current_dir(&root))?;
    Ok(image)
}

/// The thrash scenario's disk: ext4 (no journal: mounted read-only by
/// every VM) holding one file of 256 MiB, a third of the VM's memory,
/// for a reader to pull through the page cache while a hog takes the
/// rest. Made once; an NVMe disk, which every Debian cloud kernel has
/// built in.
fn thrash_disk() -> Result<PathBuf> {
    let image = cache().join("thrash.ext4");
    if image.exists() {
        return Ok(image);
    }
    let dir = cache().join("thrash-files");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    run(Command::new("sh").arg("-c").arg(format!(
        "head -c 256M /dev/urandom > '{}'",
        dir.join("big").display()
    )))?;
    let tmp = image.with_extension("tmp");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-O", "^has_journal", "-d"])
        .arg(&dir)
        .arg(&tmp)
        .arg("300M"))?;
    fs::rename(&tmp, &image)?;
    fs::remove_dir_all(&dir)?;
    Ok(image)
}

/// Boots `kernel` with the scenarios as init; any failure fails the run.
fn boot(k: &Kernel, kernel: &Path, initrd: &Path, log: &Path) -> Result<()> {
    let m = k.machine;
    install_debian_packages(m.qemu_packages)?;
    let disk = thrash_disk()?;
    let out = fs::File::create(log)?;
    let status = Command::new("timeout")
        .arg(BOOT_TIMEOUT_SECS.to_string())
        .arg(m.qemu)
        .args(m.qemu_args)
        .args([
            "-accel",
            if k.one_tcg_thread {
                "tcg,thread=single"
            } else {
                "tcg"
            },
            "-m",
            &m.memory_mib.to_string(),
            "-smp",
            "2",
            "-nographic",
            "-no-reboot",
            "-monitor",
            "none",
        ])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .arg("-drive")
        .arg(format!(
            "file={},if=none,id=thrash,format=raw,readonly=on",
            disk.display()
        ))
        .args(["-device", "nvme,serial=thrash,drive=thrash"])
        .arg("-append")
        .arg(format!(
            "console={} loglevel=1 panic=-1 oops=panic softlockup_panic=1 log_buf_len=4M",
            m.console
        ))
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()?;
    let text = fs::read_to_string(log).unwrap_or_default();
    let failed = if !text.contains("VMTEST done") {
        Some(if status.code() == Some(124) {
            format!("the VM did not finish within {BOOT_TIMEOUT_SECS} s")
        } else {
            format!("the VM stopped early ({status})")
        })
    } else if text.contains("Kernel panic") || text.contains("soft lockup") {
        Some("the kernel panicked or locked up".to_owned())
    } else {
        None
    };
    if let Some(why) = failed {
        eprintln!("{text}");
        bail!(
            "{}: {why}; the log above is {}",
            kernel.display(),
            log.display()
        );
    }
    Ok(())
}

impl Kernel {
    /// "6.1@arm64".
    pub fn name(&self) -> String {
        format!("{}@{}", self.series, self.machine.debian_arch)
    }
}

/// The kernels named (all when none is), or which name is unknown.
fn selected(only: &[String]) -> Result<Vec<&'static Kernel>> {
    for name in only {
        if !KERNELS.iter().any(|k| k.name() == *name) {
            let all: Vec<String> = KERNELS.iter().map(Kernel::name).collect();
            bail!(
                "no kernel {name} in the VM tests; they are {}",
                all.join(", ")
            );
        }
    }
    Ok(KERNELS
        .iter()
        .filter(|k| only.is_empty() || only.contains(&k.name()))
        .collect())
}

pub fn test(only: &[String]) -> Result<()> {
    let kernels = selected(only)?;
    let logs = boot_all(&kernels)?;
    // Each kernel that must run, by series and architecture ("6.1@arm64").
    let series: Vec<String> = kernels.iter().map(|k| k.name()).collect();
    // The oracle check is a Rust test of the oomtrace crate.
    let list = logs
        .iter()
        .map(|l| l.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    run(ignored_test("vm_oracle")
        .arg("--nocapture")
        .env("OOMTRACE_VM_LOGS", list)
        .env(
            "OOMTRACE_VM_DETACHED_BTF",
            kernels
                .iter()
                .filter(|k| k.detached_btf)
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(","),
        )
        .env("OOMTRACE_VM_SERIES", series.join(",")))
}

/// `cargo xtask btf --kernel-package NAME`: a detached BTF file for a
/// kernel, made with pahole from the vmlinux of its Debian `-dbg`
/// package (downloaded once, its vmlinux kept in .cache/vm and the
/// package deleted; the architecture is the flavour's, through a
/// private apt configuration when foreign).
/// Returns `.cache/btf/<kernel release>.btf`.
pub fn btf(package: &str) -> Result<PathBuf> {
    install_debian_packages(&["dwarves", "xz-utils"])?;
    let pkg = package.strip_suffix("-dbg").unwrap_or(package);
    let release = pkg
        .strip_prefix("linux-image-")
        .with_context(|| format!("{package}: not a linux-image-*-dbg package"))?;
    let arch = if release.ends_with("-arm64") {
        "arm64"
    } else if release.contains("-armmp") {
        "armhf"
    } else {
        "amd64"
    };
    let out = workspace_root().join(format!(".cache/btf/{release}.btf"));
    if out.exists() {
        return Ok(out);
    }
    let apt = if arch == X86_64.debian_arch {
        Vec::new()
    } else {
        apt_options(Some("bookworm"), arch)?
    };
    // Only the kernel's own vmlinux, out of the package's 1.7 GB.
    let dir = cache().join(format!("dbg-{release}"));
    let vmlinux = dir.join(format!("usr/lib/debug/boot/vmlinux-{release}"));
    if !vmlinux.exists() {
        // Some 300-600 MB, once.
        let deb = download(&apt, &format!("{pkg}-dbg"))?;
        fs::create_dir_all(&dir)?;
        run(Command::new("sh")
            .arg("-c")
            .arg(format!(
                "dpkg-deb --fsys-tarfile '{}' | tar -x -C '{}' './usr/lib/debug/boot/vmlinux-{release}'",
                deb.display(),
                dir.display()
            )))?;
        // The vmlinux is what is kept: the package would hold 300-600 MB
        // of a CI machine's disk for nothing.
        fs::remove_file(&deb)?;
    }
    fs::create_dir_all(out.parent().unwrap())?;
    run(Command::new("pahole")
        .arg(format!("--btf_encode_detached={}", out.display()))
        .arg(&vmlinux))?;
    Ok(out)
}

/// Boots every kernel with the scenarios; returns the serial logs.
pub fn boot_all(kernels: &[&'static Kernel]) -> Result<Vec<PathBuf>> {
    install_debian_packages(VM_PACKAGES)?;
    let results = workspace_root().join("target/vm");
    fs::create_dir_all(&results)?;
    let mut logs = Vec::new();
    let mut initrds: Vec<(&str, PathBuf)> = Vec::new();
    // Every kernel first: the detached BTFs go into the initramfs.
    let mut booted = Vec::new();
    let mut btfs: Vec<(&str, PathBuf)> = Vec::new();
    for &k in kernels {
        let (vmlinuz, release) = kernel(k)?;
        if k.detached_btf {
            btfs.push((
                k.machine.debian_arch,
                btf(&format!("linux-image-{release}-dbg"))?,
            ));
        }
        booted.push((k, vmlinuz));
    }
    for (k, vmlinuz) in booted {
        let m = k.machine;
        let initrd = match initrds.iter().find(|(a, _)| *a == m.debian_arch) {
            Some((_, i)) => i.clone(),
            None => {
                let mine: Vec<PathBuf> = btfs
                    .iter()
                    .filter(|(a, _)| *a == m.debian_arch)
                    .map(|(_, b)| b.clone())
                    .collect();
                let i = initramfs(m, &static_oomtrace(m)?, &mine)?;
                initrds.push((m.debian_arch, i.clone()));
                i
            }
        };
        let log = results.join(format!("{}-{}.log", k.series, m.debian_arch));
        let t = Instant::now();
        boot(k, &vmlinuz, &initrd, &log)?;
        eprintln!(
            "xtask: {} {}: {} booted, scenarios ran in {:.1} s",
            k.series,
            m.debian_arch,
            vmlinuz.display(),
            t.elapsed().as_secs_f64()
        );
        logs.push(log);
    }
    Ok(logs)
}
