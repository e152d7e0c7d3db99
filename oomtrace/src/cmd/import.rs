//! `oomtrace import`: the kernel's own OOM reports from its logs, as events
//! printed like `trace` prints them or written as a session `report` reads.

use super::{FilterArgs, TimeArgs};
use crate::source::kernel_log::{Input, KernelLogs};
use anyhow::{Result, bail};
use oomtrace_core::pipeline;
use oomtrace_core::sink::session;
use oomtrace_core::sink::{Json, Sink, Text};
use std::io;
use std::path::PathBuf;

#[derive(Clone, Debug, clap::Args)]
pub struct ImportArgs {
    /// Kernel logs: dmesg output, `journalctl -k`, /var/log/kern.log, a
    /// serial console capture; `-` (or nothing) reads standard input.
    pub files: Vec<PathBuf>,
    /// Read the kernel's log buffer as it is now (/dev/kmsg).
    #[arg(long)]
    pub kmsg: bool,
    /// Write a session file for `oomtrace report` instead of printing.
    #[arg(short, long, value_name = "SESSION")]
    pub output: Option<String>,
    /// Overwrite SESSION if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// Print JSON Lines instead of the kernel-style report.
    #[arg(long, conflicts_with = "output")]
    pub json: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub time: TimeArgs,
}

pub fn run(a: &ImportArgs) -> Result<()> {
    let mut inputs: Vec<Input> = a
        .files
        .iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                Input::Stdin
            } else {
                Input::File(f.clone())
            }
        })
        .collect();
    if a.kmsg {
        inputs.push(Input::Kmsg);
    }
    if inputs.is_empty() {
        inputs.push(Input::Stdin);
    }
    if inputs.iter().filter(|i| **i == Input::Stdin).count() > 1 {
        bail!("standard input (-) can be read once");
    }
    let mut source = KernelLogs::new(inputs);
    let stdout = io::stdout();
    let mut sink: Box<dyn Sink> = match &a.output {
        Some(path) => {
            let existing = if a.force {
                session::Existing::Overwrite
            } else {
                session::Existing::Refuse
            };
            Box::new(session::Writer::new(session::create(path, existing)?))
        }
        None if a.json => Box::new(Json::batch(io::BufWriter::new(stdout.lock()))),
        None => Box::new(Text::batch(
            io::BufWriter::new(stdout.lock()),
            oomtrace_core::sink::render::Options::default(),
        )),
    };
    let out = pipeline::run(
        &mut source,
        &mut [&mut crate::enrich::workloads::Workloads::new(
            std::path::Path::new("/"),
        )],
        &a.filter.filter_in(&a.time),
        sink.as_mut(),
        None,
    )?;
    if let Some(path) = &a.output {
        eprintln!("oomtrace: imported {} OOMs into {path}", out.shown);
    }
    Ok(())
}
