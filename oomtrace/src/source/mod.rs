//! Where events come from: the kernel live ([`bpf`]), recorded sessions
//! ([`session`]), the kernel's own logs ([`kernel_log`]). Each is a
//! `oomtrace_core::pipeline::Source`; the live one runs ahead of its reader
//! through [`queue`], files through [`read_ahead`].

pub mod bpf;
pub mod kernel_log;
pub mod kmsg;
pub mod queue;
pub mod read_ahead;
pub mod session;
