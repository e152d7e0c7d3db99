//! The OOM's `struct oom_control`, found on the copy of the OOM task's
//! stack by its `chosen` (tracepoint mode).

use crate::kernel::arch::Arch;
use crate::source::assemble::nodelist;
use oomtrace_common::*;

/// The fields of a `struct oom_control` found on a stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OomControl {
    pub gfp_mask: u32,
    pub order: i32,
    pub totalpages: u64,
    pub chosen_points: i64,
    pub constraint: u32,
    pub memcg: u64,
    /// `nodemask=` as the report prints it, where it can be told.
    pub nodemask: Option<String>,
}

/// Finds the OOM's `struct oom_control` in a copy of the OOM task's kernel
/// stack: a word equal to the victim's task is its `chosen`; the other
/// fields must be what an OOM's are (order -1 to 10, a known constraint,
/// totalpages above zero, gfp bits below 2^28, pointers kernel or NULL).
/// Exactly one such place, or the reason there is none.
pub fn find_oom_control(
    st: &OomStackRecord,
    off: &KernelOffsets,
    arch: &Arch,
) -> Result<OomControl, String> {
    let fields = [
        off.oc_zonelist,
        off.oc_nodemask,
        off.oc_memcg,
        off.oc_gfp_mask,
        off.oc_order,
        off.oc_totalpages,
        off.oc_chosen,
        off.oc_chosen_points,
        off.oc_constraint,
    ];
    if fields.contains(&ABSENT) {
        return Err("this kernel's BTF lacks oom_control's fields".into());
    }
    let len = (st.len as usize).min(STACK_COPY);
    let bytes = &st.stack[..len];
    let word = (arch.pointer_bits / 8) as usize;
    let ptr = |at: usize| -> Option<u64> {
        let b = bytes.get(at..at + word)?;
        Some(if word == 4 {
            u32::from_le_bytes(b.try_into().ok()?) as u64
        } else {
            u64::from_le_bytes(b.try_into().ok()?)
        })
    };
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let kernel_or_null = |v: u64| v == 0 || arch.is_kernel_address(v);
    if st.victim_task == 0 || st.len == 0 {
        return Err("no stack was copied".into());
    }
    // Each distinct oom_control, with its distance below the stack's top.
    let mut found: Vec<(OomControl, u64)> = Vec::new();
    let mut candidates = 0;
    let chosen = off.oc_chosen as usize;
    for at in (chosen..len).step_by(word) {
        if ptr(at) != Some(st.victim_task) {
            continue;
        }
        candidates += 1;
        let base = at - chosen;
        let f = |o: u32| base + o as usize;
        let (Some(zonelist), Some(nodemask), Some(memcg), Some(gfp), Some(order)) = (
            ptr(f(off.oc_zonelist)),
            ptr(f(off.oc_nodemask)),
            ptr(f(off.oc_memcg)),
            u32_at(f(off.oc_gfp_mask)),
            u32_at(f(off.oc_order)).map(|o| o as i32),
        ) else {
            continue;
        };
        let (Some(totalpages), Some(points), Some(constraint)) = (
            ptr(f(off.oc_totalpages)),
            ptr(f(off.oc_chosen_points)).map(|p| p as i64),
            u32_at(f(off.oc_constraint)),
        ) else {
            continue;
        };
        let plausible = (-1..=10).contains(&order)
            && constraint <= 3
            && totalpages > 0
            && totalpages < 1 << 40
            && gfp < 1 << 28
            && points > 0
            && kernel_or_null(zonelist)
            && kernel_or_null(nodemask)
            && kernel_or_null(memcg);
        if !plausible {
            continue;
        }
        // A nodemask on the same stack (a mempolicy's copy) can be read.
        let top = st.stack_top;
        let start = top - len as u64;
        let nodemask = if nodemask == 0 {
            Some("(null)".to_owned())
        } else if (start..top.saturating_sub(8)).contains(&nodemask) {
            ptr((nodemask - start) as usize).map(nodelist)
        } else {
            None
        };
        let oc = OomControl {
            gfp_mask: gfp,
            order,
            totalpages,
            chosen_points: points,
            constraint,
            memcg,
            nodemask,
        };
        if !found.iter().any(|(o, _)| *o == oc) {
            found.push((oc, top - (start + base as u64)));
        }
    }
    match found.len() {
        1 => Ok(found.remove(0).0),
        0 => Err(format!(
            "{candidates} words point at the victim, none in an oom_control (an OOM task that was itself exiting has none)"
        )),
        n => Err(format!(
            "{n} places look like it ({}); none is trusted",
            found
                .iter()
                .map(|(_, below)| format!("{below} bytes below the top"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
