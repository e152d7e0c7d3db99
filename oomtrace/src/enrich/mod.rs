//! The CLI's enrichers: an event in; the same event with what this machine
//! knows of it (the trigger's user stack named, its workloads, the lead-up)
//! out, before it is filtered and shown, while what it names still exists.

pub mod lead_up;
pub mod user_frames;
pub mod workloads;
