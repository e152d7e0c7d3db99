//! oomtrace: the Linux OOM killer, traced with eBPF.
//!
//! The planner (`plan`, with `btf`, `tracefs`, `kallsyms`) decides at start-up
//! what this kernel lets us see; the kernel side (the `oomtrace-ebpf` crate)
//! only copies; `decode` assembles records into `event::OomEvent`s; `render`
//! and `sink` only format. `kreport` reads the kernel's own report, the oracle.

pub mod btf;
pub mod check;
pub mod decode;
pub mod event;
pub mod gfp;
pub mod kallsyms;
pub mod kreport;
#[cfg(all(test, feature = "bpf"))]
mod loop_shape;
pub mod memstate;
pub mod plan;
pub mod render;
pub mod report;
pub mod session;
pub mod sink;
#[cfg(test)]
mod testdata;
#[cfg(feature = "bpf")]
pub mod trace;
pub mod tracefs;
pub mod trigger;
