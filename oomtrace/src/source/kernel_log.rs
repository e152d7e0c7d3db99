//! Kernel logs as pipeline items: files (`dmesg`, `journalctl -k`,
//! `/var/log/kern.log`, a serial console), standard input, or the records
//! `/dev/kmsg` holds now. Each input is one session; each OOM report in it
//! one event (`source: "kernel-log"`). Lines are read bounded, and a report
//! goes out as soon as it is complete.

use anyhow::{Context as _, Result};
use oomtrace_core::pipeline::{Item, Source};
use oomtrace_core::schema::event::{Header, Trailer};
use oomtrace_core::source::kernel_log::{self, KernelReport, LogParser};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// Where lines come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
    /// `/dev/kmsg`, read up to its current end.
    Kmsg,
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "standard input".into(),
            Input::Kmsg => "/dev/kmsg".into(),
        }
    }
}

/// Lines of one input, at most `MAX_LINE` bytes each.
enum Lines {
    Text(Box<dyn BufRead>),
    /// The device, and the further lines of the last record read.
    Kmsg(std::fs::File, VecDeque<String>),
}

impl Lines {
    fn open(input: &Input) -> Result<Self> {
        Ok(match input {
            Input::File(p) => Lines::Text(Box::new(BufReader::new(
                std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
            ))),
            Input::Stdin => Lines::Text(Box::new(BufReader::new(std::io::stdin()))),
            Input::Kmsg => Lines::Kmsg(super::kmsg::open()?, VecDeque::new()),
        })
    }

    /// The next line into `buf` (lossy UTF-8, cut at `MAX_LINE`); false at the end.
    fn next(&mut self, buf: &mut String) -> Result<bool> {
        buf.clear();
        match self {
            Lines::Text(r) => {
                let mut bytes = Vec::new();
                let n = r
                    .by_ref()
                    .take(kernel_log::MAX_LINE as u64)
                    .read_until(b'\n', &mut bytes)?;
                if n == 0 {
                    return Ok(false);
                }
                if !bytes.ends_with(b"\n") && n == kernel_log::MAX_LINE {
                    // Skip the rest of an overlong line.
                    loop {
                        let chunk = r.fill_buf()?;
                        if chunk.is_empty() {
                            break;
                        }
                        let (used, found) = match chunk.iter().position(|&b| b == b'\n') {
                            Some(i) => (i + 1, true),
                            None => (chunk.len(), false),
                        };
                        r.consume(used);
                        if found {
                            break;
                        }
                    }
                }
                buf.push_str(&String::from_utf8_lossy(&bytes));
                Ok(true)
            }
            Lines::Kmsg(f, further) => {
                if let Some(l) = further.pop_front() {
                    buf.push_str(&l);
                    return Ok(true);
                }
                let mut rec = vec![0u8; kernel_log::MAX_LINE];
                let Some(lines) = super::kmsg::read_record(f, &mut rec)? else {
                    return Ok(false);
                };
                let mut lines = lines.into_iter();
                buf.push_str(&lines.next().unwrap_or_default());
                further.extend(lines);
                Ok(true)
            }
        }
    }
}

/// The kernel logs given, one session each.
pub struct KernelLogs {
    inputs: VecDeque<Input>,
    current: Option<(Input, Lines, LogParser)>,
    pending: VecDeque<Item>,
    /// Events of the current input, for its session header and end.
    seq: u64,
    header_sent: bool,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC of this boot, for /dev/kmsg times.
    boot_offset_ns: i128,
    line: String,
}

impl KernelLogs {
    pub fn new(inputs: Vec<Input>) -> Self {
        Self {
            inputs: inputs.into(),
            current: None,
            pending: VecDeque::new(),
            seq: 0,
            header_sent: false,
            boot_offset_ns: oomtrace_core::source::assemble::realtime_offset_ns(),
            line: String::new(),
        }
    }

    fn emit(&mut self, r: KernelReport) {
        let Some((input, _, _)) = &self.current else {
            return;
        };
        if !self.header_sent {
            self.header_sent = true;
            let this_boot = *input == Input::Kmsg;
            let mut h = Header::new(
                r.kernel.as_deref().unwrap_or(""),
                "kernel-log",
                vec![input.name()],
            );
            h.arch = r.arch.unwrap_or("").to_owned();
            if !this_boot {
                // A file's log is of some machine at some time: not ours.
                h.hostname.clear();
                h.boot_id.clear();
            }
            self.pending.push_back(Item::Session(h));
        }
        self.seq += 1;
        let mut ev = kernel_log::to_event(&r, self.seq);
        if ev.time.is_empty() && self.current.as_ref().is_some_and(|c| c.0 == Input::Kmsg) {
            ev.time = oomtrace_core::source::assemble::format_time(
                ev.uptime_ns as i128 + self.boot_offset_ns,
            );
        }
        self.pending.push_back(Item::event(ev));
    }
}

impl Source for KernelLogs {
    fn next(&mut self, _wait: bool) -> Result<Option<Item>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Ok(Some(item));
            }
            if self.current.is_none() {
                let Some(input) = self.inputs.pop_front() else {
                    return Ok(None);
                };
                let lines = Lines::open(&input)?;
                self.current = Some((input, lines, LogParser::new()));
                self.seq = 0;
                self.header_sent = false;
            }
            let Some((_, lines, parser)) = self.current.as_mut() else {
                continue;
            };
            let mut line = std::mem::take(&mut self.line);
            let more = lines.next(&mut line)?;
            let done = if more {
                parser.line(&line)
            } else {
                parser.finish()
            };
            self.line = line;
            if let Some(r) = done {
                self.emit(r);
            }
            if !more && let Some((input, _, _)) = self.current.take() {
                if self.seq == 0 {
                    eprintln!("oomtrace: {}: no OOM report in it", input.name());
                } else {
                    self.pending
                        .push_back(Item::End(Trailer::now(self.seq, 0, 0, 0)));
                }
            }
        }
    }
}
