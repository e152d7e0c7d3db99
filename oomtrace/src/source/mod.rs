//! Where events come from: the kernel live ([`bpf`]), recorded sessions
//! ([`session`]), the kernel's own logs ([`kernel_log`]). Each is a
//! `oomtrace_core::pipeline::Source`.

pub mod bpf;
pub mod kernel_log;
pub mod kmsg;
pub mod session;
