//! Any text given to `import` as a kernel log, or read live from /dev/kmsg
//! in kernel-log mode: the parser must read it line by line into reports,
//! events and joins with a live event, never panic or hold more than a line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oomtrace_core::source::kernel_log::{self, KernelReport};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut p = kernel_log::LogParser::new();
    let mut seq = 0;
    let mut take = |r: KernelReport| {
        seq += 1;
        let ev = kernel_log::to_event(&r, seq);
        let _ = oomtrace_core::sink::render::text(&ev);
        // As kernel-log mode completes a live event with it.
        let mut live = oomtrace_core::schema::event::OomEvent {
            victim: ev.victim.clone(),
            ..Default::default()
        };
        oomtrace_core::enrich::report_join::join(&mut live, Some(&r));
        let _ = oomtrace_core::sink::render::text(&live);
    };
    for record in text.split('\n') {
        // Each input line also as a /dev/kmsg record of several lines.
        for line in kernel_log::kmsg_record_lines(record) {
            if let Some(r) = p.line(&line) {
                take(r);
            }
            while let Some(r) = p.drain() {
                take(r);
            }
        }
    }
    while let Some(r) = p.finish() {
        take(r);
    }
});
