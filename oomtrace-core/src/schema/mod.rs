//! What every stage passes on: the event (DESIGN.md's JSON Lines schema),
//! the items a source yields, and a live session's latency histogram.

pub mod counter_map;
pub mod event;
pub mod item;
pub mod latency;
