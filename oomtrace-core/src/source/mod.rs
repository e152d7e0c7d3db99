//! Sources: kernel records, kernel logs and session files in; events, in
//! the order the kernel made them, out. Adding a source is implementing
//! [`crate::pipeline::Source`] over what these modules parse.

pub mod assemble;
pub mod kernel_log;
pub mod memstate;
pub mod session;
pub mod symbols;
