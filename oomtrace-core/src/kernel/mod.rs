//! Facts about the traced kernel, each stated once: its architectures, its
//! GFP flags by release, its tracepoints' formats, and the lines of its
//! memory report. Nothing enters; every stage reads them.

pub mod arch;
pub mod gfp;
pub mod show_mem;
pub mod tracepoint_format;
