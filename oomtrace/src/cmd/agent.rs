//! `oomtrace agent`: the long-running recorder of a machine or a
//! Kubernetes node. The live source into rotated session files, Prometheus
//! metrics and, for log shippers, JSON Lines on stdout.

use super::trace::TraceArgs;
use crate::sink::metrics::{Metrics, MetricsSink};
use anyhow::{Context as _, Result};
use oomtrace_core::sink::rotate::{RotatingSessions, Rotation};
use oomtrace_core::sink::{Json, Tee};
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct AgentArgs {
    /// Directory for the session files (made 0700 if missing).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: String,
    /// Also print each event as a JSON line on stdout (for log shippers).
    #[arg(long)]
    pub stdout: bool,
    /// Start a new session file when the current one reaches this size.
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = crate::parse_size)]
    pub rotate_size: u64,
    /// ... or this age.
    #[arg(long, value_name = "D", default_value = "1d", value_parser = crate::parse_duration)]
    pub rotate_age: Duration,
    /// Session files kept (the oldest are removed).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub rotate_keep: usize,
    /// A workload's kill series is dropped once its cgroup is gone and it
    /// has killed nothing for this long.
    #[arg(long, value_name = "D", default_value = "1h", value_parser = crate::parse_duration)]
    pub series_ttl: Duration,
    #[command(flatten)]
    pub lead_up: super::trace::LeadUpArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
}

pub fn run(a: &AgentArgs) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&a.dir)
        .with_context(|| format!("cannot make the session directory {}", a.dir.display()))?;
    let metrics = Metrics::new(a.series_ttl, &a.trace.host_root);
    let addr = crate::sink::metrics::serve(&a.metrics_addr, metrics.clone())?;
    eprintln!(
        "oomtrace: metrics at http://{addr}/metrics; sessions in {}",
        a.dir.display()
    );
    let files = RotatingSessions::new(
        &a.dir,
        Rotation {
            max_bytes: a.rotate_size,
            max_age: a.rotate_age,
            keep: a.rotate_keep,
        },
    );
    let stdout = a.stdout.then(|| Json::live(std::io::stdout()));
    let mut sink = Tee(files, Some(Tee(MetricsSink(metrics), stdout)));
    // The agent is what is left when the machine is in trouble: protected
    // as `record` is; SIGHUP starts a new file, SIGTERM ends the session.
    let outcome = a
        .trace
        .run_with(&mut sink, true, true, Some(a.lead_up.lead_up))?;
    let t = outcome.end.unwrap_or_default();
    eprintln!(
        "oomtrace: agent stopped: {} events, {} lost records, {} incomplete",
        t.events, t.lost, t.incomplete
    );
    Ok(())
}
