//! The names the loader uses exist in the embedded BPF object: every hook's
//! program, the maps it opens, the configuration global. A name changed on
//! one side only fails here, not at load time on some user's kernel.

use crate::plan::HOOKS;
use crate::source::bpf::BPF_OBJECT;
use object::{Object, ObjectSection, ObjectSymbol};
use oomtrace_common::names;

#[test]
fn every_name_the_loader_uses_is_in_the_object() {
    let file = object::File::parse(BPF_OBJECT).unwrap();
    let symbol_in = |name: &str| {
        file.symbols().find(|s| s.name() == Ok(name)).map(|s| {
            s.section_index()
                .and_then(|i| file.section_by_index(i).ok())
                .and_then(|sec| sec.name().ok().map(str::to_owned))
                .unwrap_or_default()
        })
    };
    for hook in HOOKS {
        let section = symbol_in(hook.program)
            .unwrap_or_else(|| panic!("program {} is not in the BPF object", hook.program));
        let kind = match hook.attach {
            crate::plan::Attach::Kprobe(_) => "kprobe",
            crate::plan::Attach::Tracepoint(..) => "tracepoint",
            crate::plan::Attach::RawTracepoint(_) => "raw_tp",
        };
        assert!(
            section.contains(kind),
            "program {} is in section {section}, not a {kind} section",
            hook.program
        );
    }
    for map in [names::EVENTS_MAP, names::TALLY_MAP] {
        assert_eq!(
            symbol_in(map).as_deref(),
            Some("maps"),
            "map {map} is not in the object's maps section"
        );
    }
    let global = symbol_in(names::CONFIG_GLOBAL).expect("the configuration global");
    assert!(
        global.starts_with(".rodata") || global.starts_with(".data"),
        "{} is in {global}",
        names::CONFIG_GLOBAL
    );
}
