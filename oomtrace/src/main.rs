//! oomtrace: the Linux OOM killer, traced with eBPF.

use oomtrace::cmd::{agent, btf, check, import, report, trace, trigger, watch};
use oomtrace::parse_size;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::io;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "oomtrace",
    version,
    about = "Trace the Linux OOM killer: who asked, from where, what memory looked like, what was killed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every OOM live, as the kernel's report or as JSON Lines.
    Trace(trace::TraceArgs),
    /// Record OOMs to a session file for later review (`report`).
    Record(trace::RecordArgs),
    /// The long-running recorder of a machine or a node: rotated session
    /// files, Prometheus metrics, JSON Lines for log shippers.
    Agent(agent::AgentArgs),
    /// Memory pressure as it builds, on one screen: PSI, zones against their
    /// watermarks, reclaim, the memory cgroups nearest their limit, OOM kills.
    Watch(watch::WatchArgs),
    /// Show recorded sessions: the same text or JSON as live, or a summary.
    Report(report::ReportArgs),
    /// Past OOMs from kernel logs (dmesg, journalctl -k, kern.log, a serial
    /// console, /dev/kmsg) as events: printed, or written as a session.
    Import(import::ImportArgs),
    /// Make a BTF file bound to its kernel build from that kernel's vmlinux
    /// (for `--btf FILE` on a kernel without BTF of its own).
    Btf(btf::BtfArgs),
    /// Say what this kernel offers and what oomtrace would use.
    Check {
        #[arg(long)]
        json: bool,
        /// The kernel's types from this BTF file (see `trace --btf`).
        #[arg(long, value_name = "FILE")]
        btf: Option<std::path::PathBuf>,
    },
    /// Cause an OOM on purpose, to check oomtrace end to end.
    Trigger {
        #[command(subcommand)]
        what: Trigger,
    },
    /// Man pages and shell completions from these definitions, into DIR
    /// (`man/`, `completions/`): what `cargo xtask dist` packages.
    #[command(name = "__generate", hide = true)]
    Generate { dir: std::path::PathBuf },
    /// The child of `trigger memcg`.
    #[command(name = "__hog", hide = true)]
    Hog {
        /// Stop allocating after this many MiB and sleep.
        #[arg(long)]
        mib: Option<u64>,
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        adj: i16,
        /// Freeze a process sharing this one's memory in this cgroup v1
        /// freezer group before allocating: the memory outlives the kill.
        #[arg(long)]
        frozen_sharer: Option<std::path::PathBuf>,
        /// Allocate this many MiB a second (a slow hog, for `watch`).
        #[arg(long)]
        mib_per_s: Option<u32>,
    },
}

#[derive(Subcommand)]
enum Trigger {
    /// A memory-cgroup OOM that kills only oomtrace's own child.
    Memcg {
        /// The cgroup's memory limit (e.g. 32M).
        #[arg(long, default_value = "32M", value_parser = parse_size)]
        limit: u64,
        /// Keep the victim's memory alive for 4 s after the kill (a process
        /// sharing it, frozen by the cgroup v1 freezer), so the OOM reaper,
        /// which acts on victims whose memory outlives the kill by 2 s,
        /// frees it: shows the reaper's steps.
        #[arg(long, conflicts_with = "command")]
        reaper: bool,
        /// Make the cgroup at this path below the memory hierarchy's root,
        /// parents included (e.g. a pod's:
        /// kubepods.slice/kubepods-burstable.slice/...-pod<uid>.slice/cri-containerd-<id>.scope);
        /// it must not exist. All made is removed after.
        #[arg(long, value_name = "PATH")]
        cgroup: Option<String>,
        /// Run this program as the child instead of oomtrace's own hog
        /// (after `--`): it must allocate past the limit.
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Many memory-cgroup OOMs at once, killing only oomtrace's own children.
    Storm {
        /// Stop after this many OOM kills.
        #[arg(long, default_value_t = 1000)]
        kills: u64,
        /// Memory cgroups OOMing side by side.
        #[arg(long, default_value_t = 4)]
        parallel: u32,
        /// Each cgroup's memory limit.
        #[arg(long, default_value = "8M", value_parser = parse_size)]
        limit: u64,
    },
    /// The manual OOM of sysrq-f: kills a real task.
    Sysrq {
        #[arg(long)]
        yes: bool,
    },
}

/// `oomtrace.1` and one page per subcommand, and completions for bash, zsh
/// and fish, all from the clap definitions above.
fn generate(dir: &std::path::Path) -> Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    let (man, completions) = (dir.join("man"), dir.join("completions"));
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    clap_mangen::generate_to(Cli::command(), &man).context("writing the man pages")?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut Cli::command(), "oomtrace", &completions)
            .with_context(|| format!("writing the {shell} completions"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<bool> = match cli.command {
        Command::Hog {
            mib,
            adj,
            frozen_sharer,
            mib_per_s,
        } => trigger::hog(mib, adj, frozen_sharer.as_deref(), mib_per_s),
        Command::Check { json, btf } => check::run(json, btf.as_deref()),
        Command::Btf(args) => btf::run(&args).map(|()| true),
        Command::Generate { dir } => generate(&dir).map(|()| true),
        Command::Trace(args) => trace::trace(&args).map(|()| true),
        Command::Record(args) => trace::record(&args).map(|()| true),
        Command::Agent(args) => agent::run(&args).map(|()| true),
        Command::Watch(args) => watch::run(&args).map(|()| true),
        Command::Report(args) => report::run(&args).map(|()| true),
        Command::Import(args) => import::run(&args).map(|()| true),
        Command::Trigger { what } => match what {
            Trigger::Memcg {
                limit,
                reaper,
                cgroup,
                command,
            } => trigger::memcg(limit, reaper, cgroup.as_deref(), &command).map(|o| {
                if o.killed_by_oom {
                    println!(
                        "oomtrace: child {} was killed by the OOM killer in memory cgroup {} ({:?}) after {} ms",
                        o.pid,
                        o.cgroup,
                        o.version,
                        o.elapsed.as_millis()
                    );
                } else {
                    println!("oomtrace: child {} ended, but not by the OOM killer", o.pid);
                }
                o.killed_by_oom
            }),
            Trigger::Storm {
                kills,
                parallel,
                limit,
            } => trigger::storm(kills, parallel, limit).map(|o| {
                println!(
                    "oomtrace: {} OOM kills in {} memory cgroups in {:.2} s ({:.0} kills/s)",
                    o.kills,
                    parallel,
                    o.elapsed.as_secs_f64(),
                    o.kills as f64 / o.elapsed.as_secs_f64()
                );
                o.kills >= kills
            }),
            Trigger::Sysrq { yes } => trigger::sysrq(yes).map(|()| true),
        },
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // `oomtrace report ... | head`: the reader left, nothing to say.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oomtrace: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32M"), Ok(32 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("3T").is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
