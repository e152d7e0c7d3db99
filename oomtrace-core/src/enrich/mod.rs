//! Enrichers: an event in; the same event, with what the machine knows
//! beyond the kernel's records (its workload, the lead-up, the kernel's own
//! report), out. Each is a [`crate::pipeline::Enricher`] in the CLI.

pub mod leadup;
pub mod pressure;
pub mod report_join;
pub mod workload;
