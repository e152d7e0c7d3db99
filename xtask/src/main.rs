//! `cargo xtask deps|build|run|lint|vm-test|test` — everything oomtrace needs, set up
//! by the project itself so a fresh machine gets there with two commands.

use anyhow::{Context, Result, bail};
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// Used by the tests: `dmesg` and `setpriv` from util-linux; a C compiler
/// for the frame-pointer hog whose user stack is symbolized; tmux, the
/// terminal `watch` is tested in; GNU time, for a child's peak memory;
/// systemd's verifier and manual, for the units.
const TEST_PACKAGES: &[&str] = &["util-linux", "gcc", "tmux", "time", "systemd"];
const BPF_LINKER_VERSION: &str = "0.13";

/// The toolchain that builds the eBPF crate, as `oomtrace-ebpf/rust-toolchain.toml`
/// names it (aya-build, in oomtrace/build.rs, reads the same line).
fn ebpf_toolchain() -> String {
    let file = workspace_root().join("oomtrace-ebpf/rust-toolchain.toml");
    std::fs::read_to_string(&file)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let v = l.trim().strip_prefix("channel")?.trim().strip_prefix('=')?;
                Some(v.trim().trim_matches('"').to_owned())
            })
        })
        .unwrap_or_else(|| panic!("{}: no `channel = \"...\"` line", file.display()))
}

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

/// Where `name` is on PATH.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
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

/// The kernel side's nightly with the components its rust-toolchain.toml
/// names (rust-src, clippy): rustup installs what is missing, and says so.
/// Cargo runs xtask with `RUSTUP_TOOLCHAIN` set to the workspace's own
/// toolchain, which outranks the toml: left in place, rustup would
/// "install" that one (present) and nothing else, as it did on a fresh
/// machine.
fn ensure_ebpf_toolchain() -> Result<()> {
    let toolchain = ebpf_toolchain();
    let out = Command::new("rustup")
        .args(["toolchain", "install"])
        .current_dir(workspace_root().join("oomtrace-ebpf"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .context("running rustup")?;
    if !out.status.success() {
        bail!(
            "rustup could not install the {toolchain} toolchain: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    if output(
        Command::new("rustc")
            .arg(format!("+{toolchain}"))
            .arg("--version"),
    )
    .is_none()
    {
        bail!(
            "rustup said it installed the {toolchain} toolchain (from \
             oomtrace-ebpf/rust-toolchain.toml), but `rustc +{toolchain}` does not run: \
             `rustup toolchain install {toolchain}` by hand, then run this again"
        );
    }
    Ok(())
}

/// The eBPF toolchain's own LLVM library (rustc links it dynamically):
/// its directory and file name, `libLLVM.so.23.1-rust-...`.
fn ebpf_llvm() -> Result<(PathBuf, String)> {
    let sysroot = output(Command::new("rustc").args([
        &format!("+{}", ebpf_toolchain()),
        "--print",
        "sysroot",
    ]))
    .context("rustc --print sysroot (the eBPF toolchain)")?;
    let lib = PathBuf::from(sysroot.trim()).join("lib");
    let name = std::fs::read_dir(&lib)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("libLLVM.so."))
        .with_context(|| format!("no libLLVM.so.* in {}", lib.display()))?;
    Ok((lib, name))
}

/// bpf-linker, linked against the eBPF toolchain's own LLVM: the bitcode
/// rustc hands it is that LLVM's, and no distribution package is needed
/// (bookworm's newest LLVM is 22; the toolchain's is 23). Built once; built
/// again when the toolchain's LLVM is another.
fn ensure_bpf_linker() -> Result<()> {
    let (lib, llvm) = ebpf_llvm()?;
    let have = output(Command::new("bpf-linker").arg("--version"));
    let linked = which("bpf-linker")
        .and_then(|p| output(Command::new("ldd").arg(p)))
        .is_some_and(|l| {
            l.lines()
                .any(|l| l.contains(&llvm) && !l.contains("not found"))
        });
    if linked
        && have
            .as_deref()
            .is_some_and(|v| v.contains(&format!(" {BPF_LINKER_VERSION}.")))
    {
        return Ok(());
    }
    // llvm-sys looks for `lib/libLLVM.so` under LLVM_PREFIX and leaves that
    // directory as the binary's run path: a directory of links into the
    // toolchain, kept beside cargo's binaries.
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    let prefix = home.join("oomtrace-llvm").join(&llvm);
    std::fs::create_dir_all(prefix.join("lib"))?;
    for link in ["libLLVM.so", llvm.as_str()] {
        let at = prefix.join("lib").join(link);
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(lib.join(&llvm), &at)
            .with_context(|| format!("linking {}", at.display()))?;
    }
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against {llvm} (a few minutes, once)"
    );
    let t = Instant::now();
    run(Command::new("rustup")
        .args(["run", &ebpf_toolchain(), "cargo", "install", "bpf-linker"])
        .args(["--version", &format!("^{BPF_LINKER_VERSION}"), "--force"])
        .env("LLVM_PREFIX", &prefix))?;
    eprintln!(
        "xtask: bpf-linker built in {:.0} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The HTML report's tests open it in Debian's Chromium, driven by
/// playwright-core (pinned in tests/browser/package-lock.json) under the
/// machine's Node.js.
const BROWSER_PACKAGES: &[&str] = &["chromium"];

fn ensure_browser() -> Result<()> {
    install_debian_packages(BROWSER_PACKAGES)?;
    let dir = workspace_root().join("tests/browser");
    let lock = std::fs::read_to_string(dir.join("package-lock.json"))?;
    let installed = std::fs::read_to_string(dir.join("node_modules/playwright-core/package.json"))
        .unwrap_or_default();
    let version = |text: &str| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let v = v
            .pointer("/packages/node_modules~1playwright-core/version")
            .or_else(|| v.get("version"))?;
        v.as_str().map(str::to_owned)
    };
    if version(&installed).is_some() && version(&installed) == version(&lock) {
        return Ok(());
    }
    if output(Command::new("npm").arg("--version")).is_none() {
        bail!(
            "the browser tests need Node.js 20 or newer and npm (playwright-core): install them, \
             then run this again"
        );
    }
    eprintln!("xtask: installing playwright-core into tests/browser (npm ci)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))
}

/// The fleet tests: Debian's Prometheus server (and promtool) scrapes the
/// agent; Debian's containerd and runc run a real container (and
/// libc6-dev's static libc builds what it runs); kubernetes-validate (PyPI,
/// pinned) checks the DaemonSet offline against the API's schemas.
const FLEET_PACKAGES: &[&str] = &["prometheus", "containerd", "runc", "libc6-dev"];
const KUBERNETES_VALIDATE: &str = "1.37.0";

fn ensure_fleet_tools() -> Result<()> {
    install_debian_packages(FLEET_PACKAGES)?;
    let have = output(Command::new("python3").args(["-m", "kubernetes_validate", "--version"]));
    if have.as_deref().map(str::trim) == Some(KUBERNETES_VALIDATE) {
        return Ok(());
    }
    eprintln!("xtask: installing kubernetes-validate {KUBERNETES_VALIDATE} (pip)");
    run(Command::new("python3").args([
        "-m",
        "pip",
        "install",
        "--quiet",
        &format!("kubernetes-validate=={KUBERNETES_VALIDATE}"),
    ]))
}

/// Installs only what is missing; cheap when everything is there.
pub fn deps() -> Result<()> {
    install_debian_packages(TEST_PACKAGES)?;
    ensure_browser()?;
    ensure_fleet_tools()?;
    ensure_ebpf_toolchain()?;
    ensure_bpf_linker()?;
    toolchains::ensure_all()
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
        .args(["run", &ebpf_toolchain(), "cargo", "clippy"])
        .args(["--release", "--package", "oomtrace-ebpf", "--bins"])
        .args(["--target", "bpfel-unknown-none", "-Z", "build-std=core"])
        .args(["--", "-D", "warnings"])
        .current_dir(workspace_root())
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/ebpf-clippy"),
        ))
}

/// The cargo-mutants release `cargo xtask mutants` installs.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// The CLI's sinks that cargo-mutants runs over with the CLI's unit tests
/// (`--lib`: its integration tests load BPF and boot VMs).
const CLI_MUTANTS: &[&str] = &["oomtrace/src/sink/metrics.rs"];

/// `cargo xtask mutants [FILE...]`: cargo-mutants over oomtrace-core's
/// sources and the CLI's sinks ([`CLI_MUTANTS`]), or the files named, each
/// with its crate's own unit tests, the fast ones; its missed mutants are
/// listed in mutants/MISSED.md, which the project keeps with a line on
/// each (a test that kills it, or why it cannot matter). Not a CI step:
/// some minutes per file.
fn mutants(files: &[String]) -> Result<()> {
    if output(Command::new("cargo").args(["mutants", "--version"]))
        .is_none_or(|v| !v.contains(CARGO_MUTANTS_VERSION))
    {
        run(cargo().args([
            "install",
            "--locked",
            "cargo-mutants",
            "--version",
            CARGO_MUTANTS_VERSION,
        ]))?;
    }
    let (cli, core): (Vec<&str>, Vec<&str>) = files
        .iter()
        .map(String::as_str)
        .partition(|f| f.starts_with("oomtrace/"));
    let runs: Vec<(&str, Vec<&str>)> = if files.is_empty() {
        vec![
            ("oomtrace-core", vec![]),
            ("oomtrace", CLI_MUTANTS.to_vec()),
        ]
    } else {
        [("oomtrace-core", core), ("oomtrace", cli)]
            .into_iter()
            .filter(|(_, f)| !f.is_empty())
            .collect()
    };
    for (package, files) in runs {
        let out = workspace_root().join("target/mutants").join(package);
        let mut cmd = cargo();
        cmd.args([
            "mutants",
            "--package",
            package,
            "-j",
            "2",
            // The fast tests take under a second: a mutant still running
            // after 30 s loops for ever (a bin's end turned to 0.0). At
            // 120 s, charts' 14 such mutants took half an hour of the run.
            "--timeout",
            "30",
        ])
        .arg("-o")
        .arg(&out);
        if package == "oomtrace" {
            cmd.arg("--cargo-test-arg=--lib");
        }
        for f in files {
            cmd.args(["-f", f]);
        }
        // Missed mutants make cargo-mutants exit 2: the list is the result.
        let _ = cmd.status()?;
        let dir = out.join("mutants.out");
        let count =
            |name: &str| std::fs::read_to_string(dir.join(name)).map_or(0, |t| t.lines().count());
        eprintln!(
            "xtask: mutants of {package}: {} caught, {} missed, {} unviable, {} timed out ({})",
            count("caught.txt"),
            count("missed.txt"),
            count("unviable.txt"),
            count("timeout.txt"),
            dir.display()
        );
    }
    Ok(())
}

fn test() -> Result<()> {
    deps()?;
    if !is_root() {
        bail!(
            "the tests load BPF programs and create memory cgroups: run `cargo xtask test` as root"
        );
    }
    say_disk("before the build");
    // Every toolchain proven in seconds before any test, here and in a
    // clean root where nothing was installed by hand.
    toolchains::prove(&workspace_root().join("target/toolchain-proof"), true)?;
    toolchains::prove_in_clean_root()?;
    lint()?;
    book::build()?;
    run(cargo().args([
        "test",
        "--release",
        "--workspace",
        "--exclude",
        "oomtrace-ebpf",
    ]))?;
    say_disk("after the host's tests");
    vm::test(&[])?;
    say_disk("after the VM tests");
    dist::test()?;
    fuzz(FUZZ_SECONDS)?;
    say_disk("at the end");
    Ok(())
}

/// What a whole `cargo xtask test` may take of the disk: the build and the
/// VM kernels took 4.6 GiB beyond the clone at the peak of a fresh-clone
/// run (df every 5 s), the Debian packages it installs some more, and a
/// margin.
const DISK_NEEDED_GIB: u64 = 8;

/// Says how much of the workspace's disk is free, so that a run that ends
/// in "No space left on device" says why in its own log; warns below
/// [`DISK_NEEDED_GIB`] before the build.
fn say_disk(when: &str) {
    let Some(free) = free_bytes(&workspace_root()) else {
        return;
    };
    let gib = free as f64 / (1u64 << 30) as f64;
    eprintln!("xtask: {gib:.1} GiB free on the workspace's disk {when}");
    if when == "before the build" && free < DISK_NEEDED_GIB << 30 {
        eprintln!(
            "xtask: warning: the tests need about {DISK_NEEDED_GIB} GiB free (the build, the VM \
             kernels, sessions of a few hundred MB); with {gib:.1} GiB some may fail with \
             \"No space left on device\""
        );
    }
}

fn free_bytes(path: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs is plain data; all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statvfs to fill.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// How long `cargo xtask test` fuzzes each reader.
const FUZZ_SECONDS: u64 = 45;

/// The readers of outside text, each a cargo-fuzz target in fuzz/ with its
/// seeds in fuzz/corpus/<target>.
const FUZZ_TARGETS: &[&str] = &[
    "session_reader",
    "kernel_log",
    "tracefs_format",
    "gfp_print_fmt",
];

/// libFuzzer on every reader of outside text (fuzz/), each for a bounded
/// time, from its seeds. A crash fails with its input saved under
/// fuzz/artifacts/.
fn fuzz(seconds: u64) -> Result<()> {
    ensure_ebpf_toolchain()?;
    let have = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("xtask: installing cargo-fuzz");
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    for target in FUZZ_TARGETS {
        run(Command::new("rustup")
            .args(["run", &ebpf_toolchain(), "cargo", "fuzz", "run", target])
            .args(["--fuzz-dir", "fuzz", "--"])
            .arg(format!("-max_total_time={seconds}"))
            // Inputs of up to 64 KiB: several log lines, whole format files.
            .arg("-max_len=65536")
            .current_dir(workspace_root()))?;
    }
    Ok(())
}

/// `cargo test` of one of the oomtrace crate's ignored tests, which check
/// what xtask made (VM logs, release artifacts); the caller adds its input.
fn ignored_test(name: &str) -> Command {
    let mut cmd = cargo();
    cmd.args(["test", "--release", "--package", "oomtrace", "--test", name])
        .args(["--", "--ignored"]);
    cmd
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
        "vm-test" => match rest {
            [flag] if flag == "--newest" => vm::newest_report(),
            _ => deps().and_then(|()| vm::test(rest)),
        },
        "dist" => dist::run().map(|_| ()),
        "btf" => match rest {
            [flag, package] if flag == "--kernel-package" => deps()
                .and_then(|()| vm::btf(package))
                .map(|p| eprintln!("xtask: {}", p.display())),
            _ => Err(anyhow::anyhow!(
                "usage: cargo xtask btf --kernel-package linux-image-<release>-dbg"
            )),
        },
        "test" => test(),
        "book" => book::build(),
        "mutants" => mutants(rest),
        "toolchains" => toolchains::command(rest),
        "bench" => match rest {
            [what, secs @ ..] if what == "watch" => deps().and_then(|()| {
                bench::watch(secs.first().and_then(|s| s.parse().ok()).unwrap_or(3600))
            }),
            [what] if what == "stall" => deps().and_then(|()| bench::stall()),
            [what] if what == "report" => deps().and_then(|()| bench::report()),
            [what] if what == "startup" => deps().and_then(|()| bench::startup_only()),
            [what] if what == "kernel" => deps().and_then(|()| bench::kernel_side_by_side()),
            [what] if what == "idle" => deps().and_then(|()| bench::idle_only()),
            [] => deps().and_then(|()| bench::run()),
            _ => Err(anyhow::anyhow!(
                "usage: cargo xtask bench [watch [SECONDS] | stall | report | startup | kernel | idle]"
            )),
        },
        "fuzz" => fuzz(
            rest.first()
                .and_then(|s| s.parse().ok())
                .unwrap_or(FUZZ_SECONDS),
        ),
        "run" => build().and_then(|exe| {
            let rest = rest.strip_prefix(&["--".to_owned()]).unwrap_or(rest);
            run(Command::new(exe).args(rest))
        }),
        _ => {
            eprintln!(
                "usage: cargo xtask <deps|build|run|lint|book|toolchains|vm-test|test|dist|fuzz|bench|mutants>\n\
                 \x20 deps   install what is missing (Debian packages, rust-src, bpf-linker)\n\
                 \x20 build  build oomtrace (the BPF object is embedded)\n\
                 \x20 run    build, then run: cargo xtask run -- trace --json\n\
                 \x20 lint   rustfmt and clippy, the eBPF crate with its own target\n\
                 \x20 book   check the book's links and build it with mdBook into target/book/\n\
                 \x20 vm-test [SERIES@ARCH...]  boot Debian's x86_64 5.10, 6.1, 6.12, 7.2, arm64 6.1, 6.12, 7.2 and armhf 6.1,\n\
                 \x20         6.12 kernels in QEMU (or those named: 6.1@armhf), check oomtrace against their reports\n\
                 \x20 vm-test --newest  whether Debian has newer builds than the kernels the VM tests pin\n\
                 \x20 dist   static binaries for x86_64 and aarch64, SHA256SUMS and .deb packages in target/dist/\n\
                 \x20 btf --kernel-package NAME  a BTF file for a kernel without its own, by pahole from NAME (a -dbg package)\n\
                 \x20 toolchains [--clean-root]  link a static program for each release target and build the BPF\n\
                 \x20         object (--clean-root: set up and link in a fresh bookworm root made by mmdebstrap)\n\
                 \x20 test   lint, vm-test, unit tests and the integration tests on this kernel (root)\n\
                 \x20 fuzz [SECONDS]  fuzz each reader of outside text (cargo fuzz), 45 s each by default\n\
                 \x20 bench  measure start-up, in-kernel cost, idle cost, report throughput, latency: bench/RESULTS.md\n\
                 \x20 bench watch [SECONDS]  oomtrace watch's CPU and memory over an hour (or SECONDS)\n\
                 \x20 bench stall  how long a reader may stall during the fastest storm: bench/RESULTS.md\n\
                 \x20 bench report | startup | kernel | idle  report's throughput, the start-up and where its time goes, the in-kernel cost per OOM beside bpftrace's, or the idle cost, alone\n\
                 \x20 mutants [FILE...]  cargo-mutants over oomtrace-core and the CLI's metrics sink (or those files)\n\
                 \x20         with their unit tests; missed mutants in target/mutants/CRATE; mutants/MISSED.md keeps\n\
                 \x20         their triage (not a CI step)"
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

mod bench;
mod book;
mod dist;
mod toolchains;
mod vm;
