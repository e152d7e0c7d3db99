//! One module per command; each builds a source and a sink and runs the
//! pipeline (`trace`, `record`, `report`, `import`), or asks the kernel
//! (`check`), or makes an OOM (`trigger`).

pub mod agent;
pub mod btf;
pub mod check;
pub mod import;
pub mod report;
pub mod trace;
pub mod trigger;
pub mod watch;

use oomtrace_core::pipeline::Filter;
use std::time::SystemTime;

/// `--pid`, `--comm`, `--cgroup`: which OOMs, for every command.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FilterArgs {
    /// Only OOMs whose trigger or victim has this pid.
    #[arg(long)]
    pub pid: Option<i32>,
    /// Only OOMs whose trigger or victim has this command name.
    #[arg(long)]
    pub comm: Option<String>,
    /// Only OOMs in this cgroup or below it (OOM domain, trigger or victim).
    #[arg(long)]
    pub cgroup: Option<String>,
}

/// `--since`, `--until`: which OOMs by time, for commands that read the past.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TimeArgs {
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-27T10:00:00Z).
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub since: Option<SystemTime>,
    /// Only events before this time.
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub until: Option<SystemTime>,
}

impl FilterArgs {
    pub fn filter(&self) -> Filter {
        Filter {
            pid: self.pid,
            comm: self.comm.clone(),
            cgroup: self.cgroup.clone(),
            ..Filter::default()
        }
    }

    pub fn filter_in(&self, time: &TimeArgs) -> Filter {
        Filter {
            since: time.since,
            until: time.until,
            ..self.filter()
        }
    }
}
