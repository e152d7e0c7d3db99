//! `oomtrace btf`: a BTF file bound to its kernel build, made once from
//! that kernel's vmlinux (its `.BTF` section, or pahole from its DWARF),
//! for `--btf FILE` on a kernel without BTF of its own. The file records
//! the vmlinux's build ID, which `--btf` checks against the running
//! kernel's (`/sys/kernel/notes`).

use crate::plan::btf::bound;
use anyhow::{Context as _, Result, bail};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct BtfArgs {
    /// The kernel's vmlinux with DWARF (a Debian `-dbg` package's
    /// /usr/lib/debug/boot/vmlinux-RELEASE) or with a .BTF section.
    #[arg(long, value_name = "VMLINUX")]
    pub vmlinux: PathBuf,
    /// Where to write the file.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// The vmlinux's largest read: debug vmlinux files are some 600 MB.
const MAX_VMLINUX: u64 = 2 << 30;

pub fn run(a: &BtfArgs) -> Result<()> {
    let shown = a.vmlinux.display();
    let len = std::fs::metadata(&a.vmlinux)
        .with_context(|| format!("{shown}"))?
        .len();
    if len > MAX_VMLINUX {
        bail!("{shown}: more than 2 GiB, which no vmlinux is");
    }
    let bytes = std::fs::read(&a.vmlinux).with_context(|| format!("reading {shown}"))?;
    use object::{Object, ObjectSection};
    let file = object::File::parse(&*bytes)
        .map_err(|e| anyhow::anyhow!("{shown}: not an ELF file: {e}"))?;
    let Some(id) = file.build_id().ok().flatten().map(bound::hex) else {
        bail!("{shown}: no GNU build-id note: it cannot be told from another build");
    };
    let release = banner(&bytes);
    let btf = match file.section_by_name(".BTF") {
        Some(s) => s
            .data()
            .map_err(|e| anyhow::anyhow!("{shown}: its .BTF section: {e}"))?
            .to_vec(),
        None => pahole(&a.vmlinux)?,
    };
    let out = bound::write(
        &bound::Header {
            build_id: id.clone(),
            release: release.clone(),
        },
        &btf,
    );
    write_new(&a.output, &out, a.force)?;
    eprintln!(
        "oomtrace: {} written: BTF of build {id}{}; use it with --btf {}",
        a.output.display(),
        release.map(|r| format!(" ({r})")).unwrap_or_default(),
        a.output.display()
    );
    Ok(())
}

/// The kernel's `Linux version 6.12.117+deb13-armmp ...` release.
fn banner(bytes: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"Linux version ";
    let at = bytes.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = bytes.get(at..at + 64)?;
    let end = rest.iter().position(|&b| b == b' ' || b == 0)?;
    let r = std::str::from_utf8(&rest[..end]).ok()?;
    (r.starts_with(|c: char| c.is_ascii_digit()) && r.contains('.')).then(|| r.to_owned())
}

/// pahole's BTF of a vmlinux's DWARF, through a file of its own.
fn pahole(vmlinux: &Path) -> Result<Vec<u8>> {
    let tmp = std::env::temp_dir().join(format!("oomtrace-btf-{}", std::process::id()));
    let status = std::process::Command::new("pahole")
        .arg(format!("--btf_encode_detached={}", tmp.display()))
        .arg(vmlinux)
        .status()
        .context(
            "the vmlinux has no .BTF section, and pahole (Debian's dwarves), which makes one \
             from its DWARF, could not be run",
        )?;
    let btf = std::fs::read(&tmp);
    let _ = std::fs::remove_file(&tmp);
    if !status.success() {
        bail!(
            "pahole could not make BTF from {} ({status}): is it a debug vmlinux?",
            vmlinux.display()
        );
    }
    Ok(btf?)
}

fn write_new(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if force {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let mut f = o.open(path).with_context(|| {
        if path.exists() && !force {
            format!("{} exists (--force replaces it)", path.display())
        } else {
            format!("creating {}", path.display())
        }
    })?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))
}
