//! Any text as the `print fmt:` of a tracepoint with a GFP flag table (what
//! the planner reads from tracefs to name GFP bits as this kernel does), and
//! as one of its C constant expressions: a table or none, a value or none,
//! never a panic or a hang; a table formats any mask.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(t) = oomtrace_core::kernel::gfp::GfpTable::from_print_fmt(&text) {
        for mask in [0, 0xcc0, 0x140dca, u64::from(u32::MAX), u64::MAX] {
            let _ = t.format(mask);
        }
    }
    let _ = oomtrace_core::kernel::gfp::eval(&text);
});
