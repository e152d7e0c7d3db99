//! Kernel-log mode's second half: the kernel's own OOM reports, read live
//! from `/dev/kmsg` (from the moment the source starts) by the parser
//! `import` uses, handed to the live source to complete each event
//! ([`oomtrace_core::enrich::report_join`]).

use anyhow::{Context as _, Result};
use oomtrace_core::enrich::report_join;
use oomtrace_core::schema::event::OomEvent;
use oomtrace_core::source::kernel_log::{self, KernelReport, LogParser};
use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long an event waits for its report. The kernel prints the report
/// before the kill and the `Killed process` line right after marking the
/// victim, so it is in the log before the event is assembled; this bounds
/// the wait when it never comes.
const WAIT: Duration = Duration::from_secs(1);
/// How long the log must be quiet before a report held for a
/// memory.oom.group's further victims is handed out.
const QUIET: Duration = Duration::from_millis(50);
/// Reports kept unmatched (their OOMs' records lost, or not yet read).
const KEPT: usize = 64;
/// Reports in flight between the reader and the source.
const IN_FLIGHT: usize = 256;

/// The kernel's reports as they are printed.
pub struct KernelReports {
    rx: mpsc::Receiver<KernelReport>,
    received: VecDeque<KernelReport>,
}

impl KernelReports {
    /// Opens /dev/kmsg at its end and reads it on a thread of its own.
    pub fn start() -> Result<Self> {
        let kmsg = open().context("kernel-log mode reads the kernel's own OOM reports")?;
        // SAFETY: lseek on our own descriptor; /dev/kmsg's SEEK_END is the
        // next record to be written.
        unsafe { libc::lseek(kmsg.as_raw_fd(), 0, libc::SEEK_END) };
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        std::thread::Builder::new()
            .name("kmsg".into())
            .spawn(move || read(kmsg, tx))
            .context("starting the /dev/kmsg reader")?;
        Ok(Self {
            rx,
            received: VecDeque::new(),
        })
    }

    /// Completes `ev` with its report, waiting up to [`WAIT`] for it.
    pub fn join(&mut self, ev: &mut OomEvent) {
        let Some(pid) = ev.victim.as_ref().and_then(|v| v.pid) else {
            return;
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self
                .received
                .iter()
                .position(|r| report_join::is_report_of(r, pid, ev.uptime_ns))
            {
                let r = self.received.remove(i);
                report_join::join(ev, r.as_ref());
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(r) => {
                    if self.received.len() >= KEPT {
                        self.received.pop_front();
                    }
                    self.received.push_back(r);
                }
                Err(_) => {
                    report_join::join(ev, None);
                    return;
                }
            }
        }
    }
}

/// The reader: records into the parser, reports out; a held report goes
/// once the log has been quiet for [`QUIET`]. Ends when the source is gone.
fn read(kmsg: std::fs::File, tx: mpsc::SyncSender<KernelReport>) {
    let mut parser = LogParser::new();
    let mut rec = vec![0u8; kernel_log::MAX_LINE];
    let mut kmsg = kmsg;
    loop {
        let mut p = libc::pollfd {
            fd: kmsg.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd.
        let n = unsafe { libc::poll(&mut p, 1, QUIET.as_millis() as i32) };
        let mut out = Vec::new();
        if n == 0 {
            out.extend(parser.flush_held());
        }
        loop {
            match read_record(&mut kmsg, &mut rec) {
                Ok(Some(lines)) => {
                    for line in lines {
                        out.extend(parser.line(&line));
                        out.extend(std::iter::from_fn(|| parser.drain()));
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        for r in out {
            if tx.send(r).is_err() {
                return;
            }
        }
    }
}

/// Opens /dev/kmsg for reading without blocking.
pub fn open() -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .context(
            "opening /dev/kmsg (reading the kernel log needs root or CAP_SYSLOG when \
             kernel.dmesg_restrict is 1)",
        )
}

/// The lines of the next record of /dev/kmsg (one record per read, of one
/// or more lines: a printk of several lines, as Mem-Info's, is one record);
/// `None` when no record is waiting. `buf` holds one record
/// ([`kernel_log::MAX_LINE`] bytes).
pub fn read_record(kmsg: &mut std::fs::File, buf: &mut [u8]) -> Result<Option<Vec<String>>> {
    use std::io::Read;
    loop {
        match kmsg.read(buf) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                return Ok(Some(kernel_log::kmsg_record_lines(&text)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // Overwritten before we read it: the next record follows.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(e) => return Err(e).context("reading /dev/kmsg"),
        }
    }
}
