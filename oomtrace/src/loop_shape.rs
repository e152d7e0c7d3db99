//! Kernels before 6.3 accept bounded loops only when the edge back into the
//! loop is a jump: `check_cfg` rejects a loop closed by falling through from
//! a plain instruction ("back-edge from insn X to X+1"), a shape LLVM gives
//! loops with large inlined bodies. The 6.1 kernel of the real-kernel tests
//! refused the whole program for it; this check finds it without a VM, by
//! replaying that depth-first search on every function of the BPF object.

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

const BPF_JMP: u8 = 0x05;
const BPF_JMP32: u8 = 0x06;
const BPF_JA: u8 = 0x00;
const BPF_CALL: u8 = 0x80;
const BPF_EXIT: u8 = 0x90;
/// `BPF_LD | BPF_IMM | BPF_DW`: a 64-bit load that takes two slots.
const LD_IMM64: u8 = 0x18;

/// The successors of instruction `t` and whether the edge may close a loop
/// (6.1's `visit_insn`: jumps may, fall-throughs of calls and plain
/// instructions may not).
fn successors(insns: &[[u8; 8]], t: usize) -> Vec<(usize, bool)> {
    let code = insns[t][0];
    let off = i16::from_le_bytes([insns[t][2], insns[t][3]]) as isize;
    let target = (t as isize + off + 1) as usize;
    match code & 0x07 {
        BPF_JMP | BPF_JMP32 => match code & 0xf0 {
            BPF_EXIT => vec![],
            BPF_CALL => vec![(t + 1, false)],
            BPF_JA => vec![(target, true)],
            _ => vec![(t + 1, true), (target, true)],
        },
        _ if code == LD_IMM64 => vec![(t + 2, false)],
        _ => vec![(t + 1, false)],
    }
}

/// The first fall-through back edge of a function, as (from, to).
fn fallthrough_back_edge(insns: &[[u8; 8]]) -> Option<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        OnStack,
        Done,
    }
    let mut state = vec![State::New; insns.len() + 2];
    let mut next_edge = vec![0usize; insns.len() + 2];
    let mut stack = vec![0usize];
    state[0] = State::OnStack;
    while let Some(&t) = stack.last() {
        let succ = if t < insns.len() {
            successors(insns, t)
        } else {
            vec![]
        };
        if let Some(&(w, loop_ok)) = succ.get(next_edge[t]) {
            next_edge[t] += 1;
            match state.get(w).copied() {
                Some(State::New) => {
                    state[w] = State::OnStack;
                    stack.push(w);
                }
                Some(State::OnStack) if !loop_ok => return Some((t, w)),
                _ => {}
            }
        } else {
            state[t] = State::Done;
            stack.pop();
        }
    }
    None
}

#[test]
fn every_bpf_function_loops_as_kernels_before_6_3_accept() {
    let file = object::File::parse(crate::source::bpf::BPF_OBJECT).unwrap();
    let mut checked = 0;
    for sym in file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
    {
        let section = file.section_by_index(sym.section_index().unwrap()).unwrap();
        assert_eq!(section.kind(), SectionKind::Text);
        let data = section.data().unwrap();
        let start = (sym.address() - section.address()) as usize;
        let body = &data[start..start + sym.size() as usize];
        let insns: Vec<[u8; 8]> = body.as_chunks::<8>().0.to_vec();
        let name = sym.name().unwrap_or("?");
        assert_eq!(
            fallthrough_back_edge(&insns),
            None,
            "{name}: a loop closed by a fall-through; 6.1 says \"back-edge from insn\" and refuses the program"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} functions in the BPF object");
}

#[test]
fn finds_a_loop_closed_by_a_fall_through() {
    // 0: r0 = 0; 1: goto +1 (to 3); 2: r0 += 1 (falls into 3); 3: if r0 < 4 goto -2 (to 2); 4: exit
    let insns = [
        [0xb7, 0, 0, 0, 0, 0, 0, 0],
        [0x05, 0, 1, 0, 0, 0, 0, 0],
        [0x07, 0, 0, 0, 1, 0, 0, 0],
        [0xa5, 0, 0xfe, 0xff, 4, 0, 0, 0],
        [0x95, 0, 0, 0, 0, 0, 0, 0],
    ];
    assert_eq!(fallthrough_back_edge(&insns), Some((2, 3)));
    // The same loop closed by its conditional jump is fine.
    let insns = [
        [0xb7, 0, 0, 0, 0, 0, 0, 0],
        [0x07, 0, 0, 0, 1, 0, 0, 0],
        [0xa5, 0, 0xfe, 0xff, 4, 0, 0, 0],
        [0x95, 0, 0, 0, 0, 0, 0, 0],
    ];
    assert_eq!(fallthrough_back_edge(&insns), None);
}
