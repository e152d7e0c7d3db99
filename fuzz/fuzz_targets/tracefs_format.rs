//! Any text as a tracepoint's tracefs `format` file, and as its `print fmt:`
//! line with a GFP flag table (the C constant expressions the planner
//! evaluates): parsed or refused, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields = oomtrace_core::kernel::tracepoint_format::parse_format(&text);
    for f in fields.values() {
        let _ = f.value(data);
    }
    if let Some(fmt) = oomtrace_core::kernel::tracepoint_format::print_fmt(&text) {
        let _ = oomtrace_core::kernel::gfp::GfpTable::from_print_fmt(&fmt);
    }
    if let Some(t) = oomtrace_core::kernel::gfp::GfpTable::from_print_fmt(&text) {
        let _ = t.format(u64::MAX);
    }
    let _ = oomtrace_core::kernel::gfp::eval(&text);
});
