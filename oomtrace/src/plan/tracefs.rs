//! tracefs: where it is, mounting it when it is not, and reading a
//! tracepoint's `format` file (parsed by `oomtrace_core::kernel::tracepoint_format`).

use oomtrace_core::kernel::tracepoint_format::{Field, parse_format};
use std::{
    collections::HashMap,
    ffi::CString,
    fs,
    path::{Path, PathBuf},
};

const CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs root holding `events/`, if mounted.
pub fn find() -> Option<PathBuf> {
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// Why tracefs, mounted, is not readable by this process (root's alone,
/// mode 0700: not ours to mount again either).
pub fn unreadable() -> Option<String> {
    let p = CANDIDATES.iter().map(PathBuf::from).find(|p| {
        fs::metadata(p.join("events"))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
    })?;
    Some(format!(
        "cannot read tracefs at {}: {}",
        p.display(),
        super::host::describe(&["CAP_DAC_READ_SEARCH"])
    ))
}

/// Finds tracefs, mounting it at `/sys/kernel/tracing` when it is not mounted
/// (as `perf` and `bpftrace` do). The error says how to mount it by hand.
pub fn find_or_mount() -> Result<PathBuf, String> {
    if let Some(p) = find() {
        return Ok(p);
    }
    if let Some(why) = unreadable() {
        return Err(why);
    }
    let target = Path::new(CANDIDATES[0]);
    let how = format!(
        "mount it with `mount -t tracefs nodev {}`",
        target.display()
    );
    if !target.is_dir() {
        return Err(format!(
            "tracefs is not mounted and {} does not exist; {how}",
            target.display()
        ));
    }
    let (src, dst, fstype) = (
        CString::new("nodev").unwrap(),
        CString::new(CANDIDATES[0]).unwrap(),
        CString::new("tracefs").unwrap(),
    );
    // SAFETY: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(format!(
            "tracefs is not mounted and mounting it failed ({err}); {how}"
        ));
    }
    find().ok_or_else(|| format!("mounted tracefs but found no events/ in it; {how}"))
}

/// The raw layout of `events/<category>/<name>`, or `None` when the kernel
/// lacks the tracepoint.
pub fn event_format(root: &Path, category: &str, name: &str) -> Option<HashMap<String, Field>> {
    let text =
        fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()?;
    Some(parse_format(&text))
}

/// The `print fmt:` line of a tracepoint's format (where the kernel spells out
/// flag tables such as the GFP names).
pub fn print_fmt(root: &Path, category: &str, name: &str) -> Option<String> {
    let text =
        fs::read_to_string(root.join("events").join(category).join(name).join("format")).ok()?;
    oomtrace_core::kernel::tracepoint_format::print_fmt(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_kernels_gfp_table() {
        let root = find_or_mount().expect("tracefs");
        let fmt = print_fmt(&root, "kmem", "mm_page_alloc");
        let t = oomtrace_core::kernel::gfp::GfpTable::for_kernel(fmt.as_deref(), "");
        assert!(t.source.starts_with("tracefs"));
        assert_eq!(t.format(0xcc0), "GFP_KERNEL");
    }
}
