//! `cargo xtask dist`: the release artifacts in target/dist/ — a static
//! binary per architecture (each embedding the BPF object built for its
//! own architecture), their SHA256SUMS, and a Debian package per
//! architecture with the binary, the systemd unit, man pages and shell
//! completions generated from the clap definitions.

use super::*;
use std::fs;

/// What `dist` builds, as the VM tests boot them.
const MACHINES: &[&vm::Machine] = &[&vm::X86_64, &vm::ARM64, &vm::ARMHF];

/// The workspace's version (Cargo.toml's `[workspace.package]`).
fn version() -> Result<String> {
    let toml = fs::read_to_string(workspace_root().join("Cargo.toml"))?;
    toml.lines()
        .find_map(|l| {
            let v = l.trim().strip_prefix("version")?.trim().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_owned())
        })
        .context("Cargo.toml has no version")
}

pub fn run() -> Result<Vec<PathBuf>> {
    deps()?;
    install_debian_packages(&["dpkg", "coreutils", "gzip"])?;
    let version = version()?;
    let dist = workspace_root().join("target/dist");
    let _ = fs::remove_dir_all(&dist);
    fs::create_dir_all(&dist)?;
    // Man pages and completions come from this machine's own build.
    let generated = workspace_root().join("target/dist-generated");
    let _ = fs::remove_dir_all(&generated);
    run_cmd(Command::new(build()?).arg("__generate").arg(&generated))?;
    let mut made = Vec::new();
    for m in MACHINES {
        let exe = vm::static_oomtrace(m)?;
        let name = format!("oomtrace-{version}-{}-linux", m.uname_machine);
        let bin = dist.join(&name);
        fs::copy(&exe, &bin).with_context(|| format!("copying {}", exe.display()))?;
        made.push(bin);
        made.push(deb(m, &exe, &version, &generated, &dist)?);
    }
    let names: Vec<String> = made
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let sums = Command::new("sha256sum")
        .args(&names)
        .current_dir(&dist)
        .output()
        .context("sha256sum (coreutils)")?;
    if !sums.status.success() {
        bail!("sha256sum: {}", String::from_utf8_lossy(&sums.stderr));
    }
    fs::write(dist.join("SHA256SUMS"), &sums.stdout)?;
    for p in &made {
        eprintln!("xtask: made {}", p.display());
    }
    Ok(made)
}

/// Makes the artifacts, then checks them as a user gets them (tests/dist.rs:
/// the other architecture's binary runs through qemu-user).
pub fn test() -> Result<()> {
    run()?;
    install_debian_packages(&["qemu-user-static"])?;
    run_cmd(ignored_test("dist").env("OOMTRACE_DIST", workspace_root().join("target/dist")))
}

fn run_cmd(cmd: &mut Command) -> Result<()> {
    super::run(cmd)
}

/// `oomtrace_<version>_<arch>.deb`, laid out as Debian's own packages are.
fn deb(
    m: &vm::Machine,
    exe: &Path,
    version: &str,
    generated: &Path,
    dist: &Path,
) -> Result<PathBuf> {
    let root = workspace_root().join(format!("target/dist-deb-{}", m.debian_arch));
    let _ = fs::remove_dir_all(&root);
    let put = |rel: &str, from: &Path, mode: u32| -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let to = root.join(rel);
        fs::create_dir_all(to.parent().unwrap())?;
        fs::copy(from, &to).with_context(|| format!("copying {}", from.display()))?;
        fs::set_permissions(&to, fs::Permissions::from_mode(mode))?;
        Ok(())
    };
    put("usr/bin/oomtrace", exe, 0o755)?;
    // The units as contrib/ has them, for the binary where the package puts it.
    for name in ["oomtrace.service", "oomtrace-agent.service"] {
        let unit = fs::read_to_string(workspace_root().join("contrib").join(name))?
            .replace("/usr/local/bin/oomtrace", "/usr/bin/oomtrace");
        let unit_file = root.join("lib/systemd/system").join(name);
        fs::create_dir_all(unit_file.parent().unwrap())?;
        fs::write(&unit_file, unit)?;
    }
    for page in fs::read_dir(generated.join("man"))? {
        let page = page?.path();
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let to = root.join(format!("usr/share/man/man1/{name}.gz"));
        fs::create_dir_all(to.parent().unwrap())?;
        let gz = Command::new("gzip")
            .args(["-9n", "-c"])
            .arg(&page)
            .output()
            .context("gzip")?;
        fs::write(&to, gz.stdout)?;
    }
    let completions = generated.join("completions");
    put(
        "usr/share/bash-completion/completions/oomtrace",
        &completions.join("oomtrace.bash"),
        0o644,
    )?;
    put(
        "usr/share/zsh/vendor-completions/_oomtrace",
        &completions.join("_oomtrace"),
        0o644,
    )?;
    put(
        "usr/share/fish/vendor_completions.d/oomtrace.fish",
        &completions.join("oomtrace.fish"),
        0o644,
    )?;
    put(
        "usr/share/doc/oomtrace/README.md",
        &workspace_root().join("README.md"),
        0o644,
    )?;
    let size_kb = fs::metadata(exe)?.len() / 1024;
    let control = root.join("DEBIAN/control");
    fs::create_dir_all(control.parent().unwrap())?;
    fs::write(
        &control,
        format!(
            "Package: oomtrace\n\
             Version: {version}\n\
             Architecture: {arch}\n\
             Maintainer: oomtrace developers <oomtrace@example.invalid>\n\
             Installed-Size: {size_kb}\n\
             Section: admin\n\
             Priority: optional\n\
             Homepage: https://example.invalid/oomtrace\n\
             Description: trace the Linux OOM killer with eBPF\n \
             Who asked for memory and from where, what memory looked like (the\n \
             counters and buddy free lists of the kernel's report), what was killed\n \
             and what the OOM reaper did: live, recorded, or imported from kernel logs.\n",
            arch = m.debian_arch,
        ),
    )?;
    let deb = dist.join(format!("oomtrace_{version}_{}.deb", m.debian_arch));
    run_cmd(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(&root)
            .arg(&deb),
    )?;
    Ok(deb)
}
