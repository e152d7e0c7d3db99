//! Any text given to `import` as a kernel log: the parser must read it line
//! by line into reports and events, never panic or hold more than a line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut p = oomtrace_core::kernel_log::LogParser::new();
    let mut seq = 0;
    let mut take = |r: Option<oomtrace_core::kernel_log::KernelReport>| {
        if let Some(r) = r {
            seq += 1;
            let ev = oomtrace_core::kernel_log::to_event(&r, seq);
            let _ = oomtrace_core::render::text(&ev);
        }
    };
    for line in text.split('\n') {
        take(p.line(line));
    }
    take(p.finish());
});
