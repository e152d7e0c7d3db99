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

/// One kernel the VM tests boot.
pub struct Kernel {
    pub machine: &'static Machine,
    /// The series the oracle must see run, by name.
    pub series: &'static str,
    /// The meta-package whose dependency is the series' newest kernel.
    meta: &'static str,
    /// The Debian release that has it when it is not this machine's
    /// (read through a private apt configuration under .cache/, never
    /// the machine's own).
    release: Option<&'static str>,
    /// Also traced with a detached BTF made by pahole from its `-dbg`
    /// package (`--btf`), as a kernel without its own BTF is.
    pub detached_btf: bool,
}

pub const KERNELS: &[Kernel] = &[
    // Debian 11's kernel; also the base of Android 12 GKI and Amazon Linux 2's.
    Kernel {
        machine: &X86_64,
        series: "5.10",
        meta: "linux-image-cloud-amd64",
        release: Some("bullseye"),
        detached_btf: false,
    },
    Kernel {
        machine: &X86_64,
        series: "6.1",
        meta: "linux-image-cloud-amd64",
        release: None,
        detached_btf: true,
    },
    Kernel {
        machine: &X86_64,
        series: "6.12",
        meta: "linux-image-6.12-cloud-amd64",
        release: None,
        detached_btf: false,
    },
    Kernel {
        machine: &ARM64,
        series: "6.1",
        meta: "linux-image-cloud-arm64",
        release: Some("bookworm"),
        detached_btf: false,
    },
    Kernel {
        machine: &ARM64,
        series: "6.12",
        meta: "linux-image-6.12-cloud-arm64",
        release: Some("bookworm"),
        detached_btf: false,
    },
    // No BTF of its own: planned from pahole's, made from its -dbg package.
    Kernel {
        machine: &ARMHF,
        series: "6.1",
        meta: "linux-image-armmp-lpae",
        release: Some("bookworm"),
        detached_btf: true,
    },
    // No BTF and no -dbg package used: a board as it comes, oomtrace
    // run with no flag (kernel-log mode).
    Kernel {
        machine: &ARMHF_NOLPAE,
        series: "6.12",
        meta: "linux-image-armmp",
        release: Some("trixie"),
        detached_btf: false,
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
        format!(
            "deb http://deb.debian.org/debian {release} main\n\
             deb http://deb.debian.org/debian-security {release}-security main\n"
        ),
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

/// The newest kernel package of a series, as apt resolves the meta-package.
fn resolve(meta: &str, apt: &[String]) -> Result<String> {
    let deps = output(
        Command::new("apt-cache")
            .args(apt)
            .args(["depends", "--important", meta]),
    )
    .with_context(|| format!("apt-cache depends {meta}"))?;
    deps.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-") && !p.contains("-dbg"))
        .map(str::to_owned)
        .with_context(|| format!("{meta} depends on no linux-image package"))
}

/// Downloads and unpacks a kernel package once; returns its vmlinuz.
fn kernel(k: &Kernel) -> Result<PathBuf> {
    let (meta, release) = (k.meta, k.release);
    let apt = apt_options(release, k.machine.debian_arch)?;
    let mut pkg = resolve(meta, &apt);
    if pkg.is_err() {
        update(&apt)?;
        pkg = resolve(meta, &apt);
    }
    let pkg = pkg?;
    let dir = cache().join(&pkg);
    let find = |dir: &Path| -> Option<PathBuf> {
        fs::read_dir(dir.join("boot"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
    };
    if let Some(k) = find(&dir) {
        return Ok(k);
    }
    unpack(&apt, &pkg, &dir)?;
    find(&dir).with_context(|| format!("{pkg} has no boot/vmlinuz-*"))
}

/// Downloads a package (once, into .cache/vm/debs) and unpacks it into `dir`.
fn unpack(apt: &[String], pkg: &str, dir: &Path) -> Result<()> {
    let deb = download(apt, pkg)?;
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir))
}

/// A package's .deb, downloaded once into .cache/vm/debs (`NAME:ARCH`
/// picks that architecture's).
fn download(apt: &[String], pkg: &str) -> Result<PathBuf> {
    let debs = cache().join("debs");
    fs::create_dir_all(&debs)?;
    let name = pkg.split(':').next().unwrap_or(pkg);
    let arch = pkg.split(':').nth(1);
    let downloaded = || -> Option<PathBuf> {
        fs::read_dir(&debs)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&format!("{name}_"))
                        && arch.is_none_or(|a| n.ends_with(&format!("_{a}.deb")))
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

fn boot(m: &Machine, kernel: &Path, initrd: &Path, log: &Path) -> Result<()> {
    install_debian_packages(m.qemu_packages)?;
    let disk = thrash_disk()?;
    let out = fs::File::create(log)?;
    let status = Command::new("timeout")
        .arg(BOOT_TIMEOUT_SECS.to_string())
        .arg(m.qemu)
        .args(m.qemu_args)
        .args([
            "-accel",
            "tcg",
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
        let vmlinuz = kernel(k)?;
        if k.detached_btf {
            let name = vmlinuz.file_name().unwrap().to_string_lossy().into_owned();
            let release = name.trim_start_matches("vmlinuz-");
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
        boot(m, &vmlinuz, &initrd, &log)?;
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
