//! Least privilege, proven: oomtrace run as an unprivileged user (nobody)
//! with exactly the file capabilities `oomtrace check` lists, then with
//! each removed in turn. With all of them it attaches and names the kernel
//! frames of a real memcg OOM; without one it says, in one sentence, which
//! is missing and what it is for. The book's setcap line and the systemd
//! unit name the same set.
//!
//! The list is not taken on oomtrace's word: for each capability a process
//! of nobody's, given the list without it, asks the kernel itself for what
//! the capability is for (load a tracepoint program, open tracefs, read
//! kallsyms' addresses, lock memory above RLIMIT_MEMLOCK, lower its
//! oom_score_adj), and the kernel must refuse, where with the whole list it
//! allows it. oomtrace checks CAP_BPF and CAP_PERFMON itself before it
//! plans; the others it learns from the kernel's answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::*;

/// (name, what for, need) of each capability, from `oomtrace check --json`.
fn table() -> Vec<(String, String, String)> {
    let (out, _) = oomtrace_ok(&["check", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["capabilities"]
        .as_array()
        .expect("check --json lists the capabilities")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["for"].as_str().unwrap().to_owned(),
                c["need"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The capability numbers the kernel knows them by (linux/capability.h).
fn number(name: &str) -> u32 {
    match name {
        "CAP_DAC_READ_SEARCH" => 2,
        "CAP_IPC_LOCK" => 14,
        "CAP_SYS_RESOURCE" => 24,
        "CAP_SYSLOG" => 34,
        "CAP_PERFMON" => 38,
        "CAP_BPF" => 39,
        other => panic!("a capability this test does not know: {other}"),
    }
}

/// This process's bounding set: a file capability outside it makes the
/// kernel refuse to run the file.
fn bounding() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap()
}

/// A copy of oomtrace that nobody may run, with exactly `caps` (+ep).
fn with_caps(dir: &Path, caps: &[&str]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let name = if caps.is_empty() {
        "none".to_owned()
    } else {
        caps.join("-").to_ascii_lowercase()
    };
    let sub = dir.join(name);
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = sub.join("oomtrace");
    std::fs::copy(OOMTRACE, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    if !caps.is_empty() {
        let list = format!("{}+ep", caps.join(",").to_ascii_lowercase());
        let out = Command::new("setcap")
            .arg(&list)
            .arg(&bin)
            .output()
            .expect("setcap (libcap2-bin)");
        assert!(out.status.success(), "setcap {list}: {out:?}");
    }
    bin
}

fn as_nobody(bin: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin);
    cmd
}

/// What a process of nobody's holding exactly `caps` asks the kernel.
#[derive(Clone, Copy, Debug)]
enum Ask {
    /// `bpf(BPF_PROG_LOAD)` of the smallest tracepoint program (`r0 = 0;
    /// exit`), the kind oomtrace loads.
    LoadTracepointProgram,
    /// `open` of a tracepoint's layout in tracefs.
    ReadTracefs,
    /// /proc/kallsyms' first text symbol has its address (not zeros).
    KallsymsAddresses,
    /// `mlock` of 16 MiB under an 8 MiB RLIMIT_MEMLOCK (Debian's default).
    LockMemory,
    /// `oom_score_adj` set to -1000.
    LowerOomScoreAdj,
}

/// What the kernel answers: `Ok` or the errno (for kallsyms, `EPERM` when
/// it shows zeros). Asked from a forked child that takes nobody's ids and
/// exactly `caps` (capset(2)), and allocates nothing after the fork.
fn kernel_answers(caps: &[&str], ask: Ask) -> Result<(), i32> {
    let mask: u64 = caps.iter().map(|c| 1u64 << number(c)).sum();
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|d| format!("{d}/events/oom/mark_victim/format"))
        .find(|p| Path::new(p).exists())
        .expect("tracefs with oom:mark_victim");
    let tracefs = std::ffi::CString::new(tracefs).unwrap();
    let kallsyms = c"/proc/kallsyms";
    let oom_score_adj = c"/proc/self/oom_score_adj";
    let mut buf = vec![0u8; 1 << 20];
    // r0 = 0; exit
    let insns: [u64; 2] = [0x0000_0000_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&5u32.to_ne_bytes()); // BPF_PROG_TYPE_TRACEPOINT
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let data = [
        CapData {
            effective: mask as u32,
            permitted: mask as u32,
            inheritable: 0,
        },
        CapData {
            effective: (mask >> 32) as u32,
            permitted: (mask >> 32) as u32,
            inheritable: 0,
        },
    ];
    let region = 16usize << 20;
    // SAFETY: the child calls only system calls on memory prepared above,
    // and ends with _exit.
    unsafe {
        let pid = libc::fork();
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let errno = || *libc::__errno_location();
            if libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(65534, 65534, 65534) != 0
                || libc::setresuid(65534, 65534, 65534) != 0
                || libc::syscall(libc::SYS_capset, &header, data.as_ptr()) != 0
            {
                libc::_exit(200);
            }
            let rl = libc::rlimit {
                rlim_cur: 8 << 20,
                rlim_max: 8 << 20,
            };
            let answer = match ask {
                Ask::LoadTracepointProgram => {
                    let fd = libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len());
                    if fd < 0 { errno() } else { 0 }
                }
                Ask::ReadTracefs => {
                    let fd = libc::open(tracefs.as_ptr(), libc::O_RDONLY);
                    if fd < 0 { errno() } else { 0 }
                }
                Ask::KallsymsAddresses => {
                    let fd = libc::open(kallsyms.as_ptr(), libc::O_RDONLY);
                    let mut len = 0;
                    while fd >= 0 && len < buf.len() {
                        let n = libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len);
                        if n <= 0 {
                            break;
                        }
                        len += n as usize;
                    }
                    // The first text symbol's address: zeros are a refusal.
                    let shown = buf[..len].split(|&b| b == b'\n').find_map(|l| {
                        let mut w = l.split(|&b| b == b' ');
                        let (addr, kind) = (w.next()?, w.next()?);
                        (kind == b"t" || kind == b"T").then(|| addr.iter().any(|&b| b != b'0'))
                    });
                    match shown {
                        Some(true) => 0,
                        Some(false) => libc::EPERM,
                        None => 201,
                    }
                }
                Ask::LockMemory => {
                    let p = libc::mmap(
                        std::ptr::null_mut(),
                        region,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    );
                    if libc::setrlimit(libc::RLIMIT_MEMLOCK, &rl) != 0 || p == libc::MAP_FAILED {
                        202
                    } else if libc::mlock(p, region) != 0 {
                        errno()
                    } else {
                        0
                    }
                }
                Ask::LowerOomScoreAdj => {
                    let fd = libc::open(oom_score_adj.as_ptr(), libc::O_WRONLY);
                    if fd < 0 || libc::write(fd, b"-1000".as_ptr().cast(), 5) != 5 {
                        errno()
                    } else {
                        0
                    }
                }
            };
            libc::_exit(answer);
        }
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
        assert!(libc::WIFEXITED(status), "the asking child: {status:#x}");
        match libc::WEXITSTATUS(status) {
            0 => Ok(()),
            n @ 200.. => panic!("the asking child could not set itself up ({n})"),
            errno => Err(errno),
        }
    }
}

/// What each capability of the table is asked for.
fn ask_for(name: &str) -> Ask {
    match name {
        "CAP_BPF" | "CAP_PERFMON" => Ask::LoadTracepointProgram,
        "CAP_DAC_READ_SEARCH" => Ask::ReadTracefs,
        "CAP_SYSLOG" => Ask::KallsymsAddresses,
        "CAP_IPC_LOCK" => Ask::LockMemory,
        "CAP_SYS_RESOURCE" => Ask::LowerOomScoreAdj,
        other => panic!("a capability this test does not know: {other}"),
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn with_the_listed_capabilities_nobody_traces_and_without_one_hears_which() {
    require_root();
    let _one = ONE_OOM_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let table = table();
    let bnd = bounding();
    // What this machine can grant at all (its bounding set may lack some).
    let grantable: Vec<&str> = table
        .iter()
        .map(|(n, _, _)| n.as_str())
        .filter(|n| bnd & (1 << number(n)) != 0)
        .collect();
    let dir = Scratch::new("caps");
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    // All of them: a real OOM, traced by nobody, with named kernel frames.
    let all = with_caps(dir.path(), &grantable);
    let mut cmd = as_nobody(&all);
    cmd.args(["trace", "--json", "--count", "1"]);
    let tracer = Tracer::start_command(cmd);
    let pid = trigger_memcg();
    let out = tracer.finish(Duration::from_secs(30));
    let ev: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(ev["victim"]["pid"], pid, "{out}");
    let frames: Vec<&str> = ev["stack"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["symbol"].as_str())
        .collect();
    assert!(frames.contains(&"out_of_memory"), "{frames:?}");
    let check = as_nobody(&all).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    for (name, _, _) in &table {
        let missing = text
            .lines()
            .any(|l| l.contains("missing") && l.contains(name.as_str()));
        assert_eq!(
            missing,
            !grantable.contains(&name.as_str()),
            "check as nobody with {grantable:?}: {text}"
        );
    }

    // Each removed in turn.
    for (name, what_for, need) in table
        .iter()
        .filter(|(n, _, _)| grantable.contains(&n.as_str()))
    {
        let fewer: Vec<&str> = grantable.iter().copied().filter(|c| c != name).collect();
        // The kernel itself: with the list it allows what the capability is
        // for; without it, it refuses.
        let ask = ask_for(name);
        assert_eq!(
            kernel_answers(&grantable, ask),
            Ok(()),
            "nobody with {grantable:?}: {ask:?}"
        );
        let refused = kernel_answers(&fewer, ask);
        assert!(
            refused.is_err(),
            "the kernel did not refuse {ask:?} to nobody without {name}: it is not needed"
        );
        println!("without {name}, the kernel refuses {ask:?}: errno {refused:?}");
        let bin = with_caps(dir.path(), &fewer);
        let sentence = format!("missing {name}, needed {what_for}");
        match need.as_str() {
            "attach" => {
                let out = as_nobody(&bin)
                    .args(["trace", "--duration", "0"])
                    .output()
                    .unwrap();
                let err = stderr(&out);
                assert_eq!(out.status.code(), Some(1), "without {name}: {err}");
                assert_eq!(
                    err.trim().lines().count(),
                    1,
                    "one sentence without {name}: {err}"
                );
                assert!(err.contains(&sentence), "without {name}: {err}");
            }
            "names" => {
                let out = as_nobody(&bin)
                    .args(["trace", "--duration", "0"])
                    .output()
                    .unwrap();
                let err = stderr(&out);
                assert!(out.status.success(), "without {name}: {err}");
                assert!(err.contains(&sentence), "without {name}: {err}");
            }
            _ => {
                // A directory of nobody's own for the session.
                let home = dir.join(format!("home-{name}"));
                std::fs::create_dir_all(&home).unwrap();
                std::os::unix::fs::chown(&home, Some(65534), Some(65534)).unwrap();
                let file = home.join("session.jsonl");
                // A user's usual RLIMIT_MEMLOCK (8 MiB, Debian's default),
                // not this harness's: above it mlockall needs CAP_IPC_LOCK.
                let mut cmd = as_nobody(&bin);
                // SAFETY: setrlimit between fork and exec is async-signal-safe.
                unsafe {
                    std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                        let rl = libc::rlimit {
                            rlim_cur: 8 << 20,
                            rlim_max: 8 << 20,
                        };
                        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &rl) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let out = cmd
                    .args(["record", "--duration", "1s", "-o"])
                    .arg(&file)
                    .output()
                    .unwrap();
                let err = stderr(&out);
                assert!(out.status.success(), "without {name}: {err}");
                assert!(err.contains(&sentence), "without {name}: {err}");
            }
        }
        let check = as_nobody(&bin).arg("check").output().unwrap();
        let text = String::from_utf8_lossy(&check.stdout);
        assert!(
            text.lines()
                .any(|l| l.contains("missing") && l.contains(&format!("{name}, needed"))),
            "check without {name}: {text}"
        );
    }
}

#[test]
fn readme_and_unit_name_the_same_set() {
    require_root();
    let names: Vec<String> = table().into_iter().map(|(n, _, _)| n).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The book's "Without root" section (docs/src/commands.md).
    let doc = std::fs::read_to_string(root.join("docs/src/commands.md")).unwrap();
    let setcap = format!("setcap {}+ep", names.join(",").to_ascii_lowercase());
    assert!(
        doc.contains(&setcap),
        "docs/src/commands.md lacks `{setcap}`"
    );
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort();
    for file in ["contrib/oomtrace.service", "contrib/oomtrace-agent.service"] {
        let unit = std::fs::read_to_string(root.join(file)).unwrap();
        let mut bounded: Vec<&str> = unit
            .lines()
            .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
            .expect("the unit bounds its capabilities")
            .split_whitespace()
            .collect();
        bounded.sort();
        assert_eq!(bounded, want, "{file}'s CapabilityBoundingSet");
    }
    // The DaemonSet adds the same, by Kubernetes' names (no CAP_).
    let ds = std::fs::read_to_string(root.join("contrib/kubernetes/daemonset.yaml")).unwrap();
    let added = ds
        .lines()
        .find_map(|l| l.trim().strip_prefix("add: ["))
        .expect("the DaemonSet adds capabilities");
    let mut added: Vec<String> = added
        .trim_end_matches(']')
        .split(',')
        .map(|c| format!("CAP_{}", c.trim().trim_matches('"')))
        .collect();
    added.sort();
    assert_eq!(added, want, "the DaemonSet's capabilities");
}

/// The capabilities each of systemd.exec(5)'s settings takes out of a
/// unit's bounding set, read from the manual page of the systemd on this
/// machine (`\fBCAP_X\fR` in a setting's entry that says "from the
/// capability bounding set").
fn systemd_removals() -> std::collections::BTreeMap<String, Vec<String>> {
    let out = Command::new("zcat")
        .arg("/usr/share/man/man5/systemd.exec.5.gz")
        .output()
        .expect("zcat");
    assert!(
        out.status.success(),
        "systemd.exec(5) is not on this machine (Debian's systemd has it)"
    );
    let page = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = page.lines().collect();
    let mut removals = std::collections::BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(name) = l
            .strip_prefix("\\fI")
            .and_then(|r| r.strip_suffix("=\\fR"))
            .filter(|_| lines.get(i + 1) == Some(&".RS 4"))
        else {
            continue;
        };
        // The entry, to its own .RE.
        let mut depth = 0;
        let mut entry = Vec::new();
        for l in &lines[i + 1..] {
            match *l {
                ".RS 4" => depth += 1,
                ".RE" => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                break;
            }
            entry.push(*l);
        }
        let text = entry.join(" ");
        // "... remove(s) CAP_A and CAP_B from the capability bounding set".
        let Some((before, _)) = text.split_once("from the capability bounding set") else {
            continue;
        };
        let clause = &before[before.rfind("remove").unwrap_or(0)..];
        let caps: Vec<String> = clause
            .split("\\fB")
            .skip(1)
            .filter_map(|s| s.split_once("\\fR").map(|(c, _)| c.to_owned()))
            .filter(|c| c.starts_with("CAP_"))
            .collect();
        removals.insert(name.to_owned(), caps);
    }
    removals
}

/// Each unit keeps every capability it bounds: none of its other settings
/// takes one out (ProtectKernelLogs=yes took CAP_SYSLOG, so the units'
/// kernel frames had no names), by systemd's own manual; and systemd's own
/// verifier accepts it (`systemd-analyze verify`, its binary swapped for
/// this build's).
#[test]
fn each_unit_keeps_its_capabilities_and_systemd_accepts_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let removals = systemd_removals();
    assert!(
        removals
            .get("ProtectKernelLogs")
            .is_some_and(|c| c.contains(&"CAP_SYSLOG".to_owned())),
        "the manual's entries were not read: {removals:?}"
    );
    println!("systemd.exec(5): {removals:?}");
    let dir = Scratch::new("units");
    for file in ["oomtrace.service", "oomtrace-agent.service"] {
        let unit = std::fs::read_to_string(root.join("contrib").join(file)).unwrap();
        let set = |k: &str| {
            unit.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::to_owned)
        };
        let bounded = set("CapabilityBoundingSet").unwrap();
        for (setting, caps) in &removals {
            let on = set(setting).is_some_and(|v| !matches!(v.as_str(), "no" | "false" | "0"));
            for cap in caps {
                assert!(
                    !(on && bounded.split_whitespace().any(|b| b == cap)),
                    "{file}: {setting}={} takes {cap} out of its bounding set",
                    set(setting).unwrap()
                );
            }
        }
        let copy = dir.join(file);
        std::fs::write(&copy, unit.replace("/usr/local/bin/oomtrace", OOMTRACE)).unwrap();
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&copy)
            .output()
            .expect("systemd-analyze (Debian's systemd)");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{file}: {said}"
        );
    }
}
