//! The CLI's own sinks (the others are `oomtrace_core::sink`): items in;
//! `agent`'s Prometheus metrics out.

pub mod metrics;
