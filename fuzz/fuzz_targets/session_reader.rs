//! Any bytes given to `report` as a session file: the reader must answer
//! with sessions or one of its errors, never panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for skip_bad in [false, true] {
        let _ = oomtrace_core::source::session::read_from(data, "fuzz.jsonl", skip_bad);
    }
});
