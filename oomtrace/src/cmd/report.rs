//! `oomtrace report FILE...`: recorded sessions through the same pipeline
//! and sinks as live tracing, or into the summary.

use super::{FilterArgs, TimeArgs};
use crate::enrich::user_frames::StoredUserFrames;
use crate::source::read_ahead::ReadAhead;
use crate::source::session::SessionFiles;
use anyhow::{Context as _, Result};
use oomtrace_core::pipeline;
use oomtrace_core::sink::html::Html;
use oomtrace_core::sink::render;
use oomtrace_core::sink::summary::SummarySink;
use oomtrace_core::sink::{Json, Sink, Text};
use oomtrace_core::source::session::Depth;
use std::io::{self, Write};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// One self-contained page with charts (write it with `-o FILE`).
    Html,
}

#[derive(Clone, Debug, clap::Args)]
pub struct ReportArgs {
    /// Session files written by `oomtrace record` or `oomtrace import`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// HTML: OOMs with a section of their own (the rest are counted in the
    /// charts only, and the page says so).
    #[arg(long, value_name = "N", default_value_t = oomtrace_core::sink::html::DETAIL_LIMIT)]
    pub detail_limit: usize,
    /// A table of OOMs per victim, memcg, trigger and gfp/order instead of the events.
    #[arg(long)]
    pub summary: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub time: TimeArgs,
    /// Add every vm_node_stat / vm_zone_stat counter (index, name, value) to the text.
    #[arg(long)]
    pub counters: bool,
    /// Go on past lines that do not parse (each is named on stderr).
    #[arg(long)]
    pub skip_bad: bool,
    /// A directory of separate debug files (`.build-id/xx/rest.debug`), searched
    /// before /usr/lib/debug for user frames not named when recorded. Text
    /// output names them always; JSON, which is passed on as recorded, only
    /// when this is given.
    #[arg(long, value_name = "DIR")]
    pub debug_dir: Vec<PathBuf>,
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the report to {}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let out = io::BufWriter::with_capacity(1 << 16, out);
    // JSON and the summary need only what the filters look at: JSON lines
    // are passed through as recorded.
    let depth = if args.summary || (args.format == Format::Json && args.debug_dir.is_empty()) {
        Depth::Brief
    } else if args.format == Format::Json {
        Depth::Full
    } else {
        Depth::Rendered
    };
    let mut sink: Box<dyn Sink> = if args.summary {
        Box::new(SummarySink::new(out))
    } else {
        match args.format {
            Format::Text => Box::new(Text::batch(
                out,
                render::Options {
                    counters: args.counters,
                    ..render::Options::default()
                },
            )),
            Format::Json => Box::new(Json::batch(out)),
            Format::Html => Box::new(Html::new(
                out,
                render::Options::default(),
                args.detail_limit,
            )),
        }
    };
    let files = SessionFiles::new(args.files.clone(), args.skip_bad, depth);
    // Events rendered anew are read ahead on a thread of their own (JSON
    // and summaries read too little to gain), from regular files only: a
    // FIFO's events must come out as they are written.
    let read_ahead = depth == Depth::Rendered && args.files.iter().all(|f| f.is_file());
    let mut source: Box<dyn pipeline::Source> = if read_ahead {
        // Measured (bench/RESULTS.md): two parsers feed the HTML page,
        // one the text, whose rendering is the slower half.
        let parsers = if args.format == Format::Html { 2 } else { 1 };
        Box::new(ReadAhead::new(files, parsers))
    } else {
        Box::new(files)
    };
    let mut names = StoredUserFrames::new(&args.debug_dir);
    pipeline::run(
        source.as_mut(),
        &mut [&mut names],
        &args.filter.filter_in(&args.time),
        sink.as_mut(),
        None,
    )?;
    Ok(())
}
