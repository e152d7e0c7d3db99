//! Enrichers: what is looked up outside an event and added to it before it
//! is filtered and shown.

use crate::event::OomEvent;
use crate::pipeline::Enricher;

/// The file and offset each user frame of the trigger falls in, from
/// `/proc/PID/maps` while the process still lives: only for live events
/// (a pid in a recorded session may belong to another process by now).
pub struct UserMappings;

impl Enricher for UserMappings {
    fn enrich(&mut self, ev: &mut OomEvent) {
        let (Some(frames), Some(pid)) = (ev.user_stack.as_mut(), ev.trigger.pid) else {
            return;
        };
        if frames.is_empty() {
            return;
        }
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            return;
        };
        for f in frames.iter_mut().filter(|f| f.mapping.is_none()) {
            let Some(addr) = f
                .addr
                .strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            if let Some((path, offset)) = crate::symbols::mapping_of(&maps, addr) {
                f.mapping = Some(path);
                f.offset = Some(offset);
            }
        }
    }
}
