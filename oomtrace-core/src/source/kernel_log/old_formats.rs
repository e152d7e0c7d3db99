//! Reports of kernels before 5.0, each laid out by that kernel's format
//! strings in mm/oom_kill.c, arch/arm/kernel/traps.c and mm/page_alloc.c.

use super::*;

#[test]
fn odd_escapes_pass_as_they_are() {
    assert_eq!(
        kmsg_record_lines("a\\xzz\\x\u{e9}b\\x"),
        ["a\\xzz\\x\u{e9}b\\x"]
    );
    assert_eq!(kmsg_record_lines("a\\x41\\xe9b"), ["aA\\xe9b"]);
}

#[test]
fn a_kmsg_record_of_several_lines_is_split() {
    let rec = "6,1234,5000000,-;active_anon:1 inactive_anon:2 isolated_anon:3\\x0a active_file:4 isolated_file:5\\x0a free:6\n SUBSYSTEM=x\n";
    let lines = kmsg_record_lines(rec);
    assert_eq!(
        lines,
        [
            "6,1234,5000000,-;active_anon:1 inactive_anon:2 isolated_anon:3",
            " active_file:4 isolated_file:5",
            " free:6"
        ]
    );
    let mut p = LogParser::new();
    for l in [
        "6,1,4000000,-;hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
        "6,2,4000001,-;Mem-Info:",
    ] {
        p.line(l);
    }
    for l in lines {
        p.line(&l);
    }
    p.line("3,3,4000002,-;Out of memory: Killed process 9 (hog) total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:4kB oom_score_adj:0");
    let r = p.finish().unwrap();
    assert_eq!(r.mem_info.get("isolated_anon"), Some(&3));
    assert_eq!(r.mem_info.get("isolated_file"), Some(&5));
    assert_eq!(r.mem_info.get("free"), Some(&6));
    assert_eq!(r.timestamp, Some(4.0));
}

fn one(log: &str) -> KernelReport {
    let mut r = parse_log(log);
    assert_eq!(r.len(), 1, "{r:#?}");
    r.remove(0)
}

/// 2.6.36 on ARMv5: `oom_adj`, a mask without names, frames with
/// both addresses, "Kill process ... or sacrifice child" first.
#[test]
fn a_2_6_36_arm_report() {
    let r = one("\
<4>[ 3471.413659] Xorg invoked oom-killer: gfp_mask=0x200da, order=0, oom_adj=2, oom_score_adj=134
<4>[ 3471.413721] [<c00497f4>] (unwind_backtrace+0x0/0x12c) from [<c0135760>] (dump_header.clone.1+0x6c/0x18c)
<4>[ 3471.413747] [<c0135760>] (dump_header.clone.1+0x6c/0x18c) from [<c01358c0>] (oom_kill_process.clone.0+0x40/0x21c)
<4>[ 3471.413772] [<c01358c0>] (oom_kill_process.clone.0+0x40/0x21c) from [<c0135cf8>] (out_of_memory+0x25c/0x330)
<4>[ 3471.413799] [<c0135cf8>] (out_of_memory+0x25c/0x330) from [<c0139728>] (__alloc_pages_nodemask+0x4fc/0x6ac)
<4>[ 3471.413800] r6:00000000 r5:0000020c r4:c045f06c
<4>[ 3471.413810] Exception stack(0xc09e7fb0 to 0xc09e7ff8)
<4>[ 3471.413820] 7fa0:                                     00001431 00000d31 0271e2d0 0271cea0
<4>[ 3471.413900] Mem-info:
<4>[ 3471.413910] Normal per-cpu:
<4>[ 3471.413920] CPU    0: hi:    0, btch:   1 usd:   0
<4>[ 3471.413930] active_anon:3734 inactive_anon:0 isolated_anon:0
<4>[ 3471.413940]  active_file:159 inactive_file:376 isolated_file:0
<4>[ 3471.413950]  unevictable:0 dirty:0 writeback:68 unstable:0
<4>[ 3471.413960]  free:180 slab_reclaimable:94 slab_unreclaimable:600
<3>[ 3471.414100] Out of memory: Kill process 1234 (Xorg) score 834 or sacrifice child
<3>[ 3471.414200] Killed process 1234 (Xorg) total-vm:120640kB, anon-rss:80012kB, file-rss:1024kB
");
    assert_eq!(r.trigger_comm, "Xorg");
    assert_eq!(
        (r.gfp_mask, r.order, r.trigger_oom_score_adj),
        (0x200da, 0, 134)
    );
    assert!(!r.gfp_named);
    assert_eq!(r.arch, Some(crate::kernel::arch::ARM.machine));
    let names: Vec<&str> = r.stack.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "dump_header.clone.1",
            "oom_kill_process.clone.0",
            "out_of_memory",
            "__alloc_pages_nodemask"
        ]
    );
    assert_eq!(r.stack_addrs[2], 0xc0135cf8);
    assert_eq!(r.stack[2], ("out_of_memory".to_owned(), 0x25c, 0x330));
    // "Mem-info:" (its old spelling) ends the trace and opens the
    // counters; registers and the exception stack are passed over.
    assert_eq!(r.stack.len(), 4);
    assert_eq!(r.mem_info.get("active_anon"), Some(&3734));
    assert_eq!(r.mem_info.get("free"), Some(&180));
    assert_eq!(r.mem_info.get("writeback"), Some(&68));
    let ev = to_event(&r, 1);
    assert_eq!(ev.gfp_mask, Some(0x200da));
    assert_eq!(ev.gfp_flags, None, "no names of that era's bits");
    let v = ev.victim.unwrap();
    assert_eq!((v.pid, v.comm.as_deref()), (Some(1234), Some("Xorg")));
    assert_eq!(
        (v.total_vm_kb, v.anon_rss_kb, v.file_rss_kb),
        (Some(120640), Some(80012), Some(1024))
    );
    assert_eq!(
        (v.shmem_rss_kb, v.uid, v.pgtables_kb),
        (None, None, None),
        "not printed then"
    );
    assert_eq!(v.points, Some(834));
    assert_eq!(ev.message.as_deref(), Some("Out of memory"));
    assert!(!ev.unavailable.iter().any(|u| u == "points"));
}

/// 4.4 on a Qualcomm ARM phone: names not printed yet, frames whose
/// first function has no offset.
#[test]
fn a_4_4_arm_report() {
    let r = one("\
[ 5318.123456] kworker/u16:3 invoked oom-killer: gfp_mask=0x26080c0, order=3, oom_score_adj=0
[ 5318.123470] CPU: 2 PID: 9251 Comm: kworker/u16:3 Tainted: G        W       4.4.153-perf+ #1
[ 5318.123480] [<c02149d0>] (unwind_backtrace) from [<c02125a4>] (show_stack+0x10/0x14)
[ 5318.123490] [<c02125a4>] (show_stack) from [<c05a2f14>] (dump_stack+0x84/0x98)
[ 5318.123500] [<c05a2f14>] (dump_stack) from [<c0310b40>] (dump_header+0x5c/0x1a8)
[ 5318.123510] [<c0310b40>] (dump_header) from [<c03112c0>] (oom_kill_process+0xd8/0x4a8)
[ 5318.123600] Out of memory: Kill process 812 (system_server) score 93 or sacrifice child
[ 5318.123700] Killed process 812 (system_server) total-vm:2143872kB, anon-rss:124108kB, file-rss:18832kB, shmem-rss:1024kB
");
    assert_eq!((r.gfp_mask, r.order), (0x26080c0, 3));
    assert_eq!(r.trigger_pid, Some(9251));
    assert_eq!(r.kernel.as_deref(), Some("4.4.153-perf+"));
    assert_eq!(r.stack[0], ("show_stack".to_owned(), 0x10, 0x14));
    assert_eq!(r.stack[3], ("oom_kill_process".to_owned(), 0xd8, 0x4a8));
    assert_eq!(r.stack_addrs[3], 0xc03112c0);
    let ev = to_event(&r, 1);
    assert_eq!(ev.stack[3].addr, "0xc03112c0");
    assert_eq!(ev.gfp_flags, None);
    let v = ev.victim.unwrap();
    assert_eq!(
        (v.pid, v.shmem_rss_kb, v.points),
        (Some(812), Some(1024), Some(93))
    );
}

/// 4.19: names printed, the victim chosen and killed on two lines, a
/// memcg OOM's message carried from the first to the second.
#[test]
fn a_4_19_memcg_report() {
    let r = one("\
[  812.112233] a.out invoked oom-killer: gfp_mask=0x6000c0(GFP_KERNEL), nodemask=(null), order=0, oom_score_adj=0
[  812.112240] a.out cpuset=/ mems_allowed=0
[  812.112250] CPU: 0 PID: 3359 Comm: a.out Not tainted 4.19.0-16-amd64 #1 Debian 4.19.181-1
[  812.112300] memory: usage 102400kB, limit 102400kB, failcnt 41
[  812.112400] Memory cgroup out of memory: Kill process 3359 (a.out) score 1000 or sacrifice child
[  812.112500] Killed process 3359 (a.out) total-vm:106600kB, anon-rss:101588kB, file-rss:1456kB, shmem-rss:0kB
[  812.112600] oom_reaper: reaped process 3359 (a.out), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB
");
    assert_eq!(r.gfp_flags, "GFP_KERNEL");
    let ev = to_event(&r, 1);
    assert_eq!(ev.gfp_flags.as_deref(), Some("GFP_KERNEL"));
    assert_eq!(ev.message.as_deref(), Some("Memory cgroup out of memory"));
    assert_eq!(ev.cpuset.as_deref(), Some("/"));
    let v = ev.victim.unwrap();
    assert_eq!(
        (v.pid, v.anon_rss_kb, v.points),
        (Some(3359), Some(101588), Some(1000))
    );
    assert_eq!(ev.memcg_memory.map(|m| m.limit_kb), Some(102400));
}

/// A console that wraps at 80 columns cut the kill line: its rest, on
/// the next line, is joined back.
#[test]
fn a_wrapped_kill_line_is_joined() {
    for (head, tail) in [
        (
            "file-r",
            "ss:1456kB, shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
        ),
        (
            "file-rss:1456kB,",
            " shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
        ),
        (
            "file-rss:14",
            "56kB, shmem-rss:0kB, UID:0 pgtables:240kB oom_score_adj:0",
        ),
    ] {
        let log = format!("\
[  100.000001] hog invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=0
[  100.000300] Out of memory: Killed process 3359 (hog) total-vm:106600kB, anon-rss:101588kB, {head}
{tail}
");
        let ev = to_event(&one(&log), 1);
        let v = ev.victim.unwrap();
        assert_eq!(
            (v.file_rss_kb, v.shmem_rss_kb, v.pgtables_kb, v.uid),
            (Some(1456), Some(0), Some(240), Some(0)),
            "{head}|{tail}"
        );
    }
}

/// A memory.oom.group kill: one report, every victim in it.
#[test]
fn a_memory_oom_group_kill_is_one_report() {
    let mut log = String::from("\
[ 200.000001] worker invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[ 200.000100] memory: usage 65536kB, limit 65536kB, failcnt 9
[ 200.000200] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/job,task_memcg=/job,task=worker,pid=100,uid=0
[ 200.000300] Memory cgroup out of memory: Killed process 100 (worker) total-vm:9000kB, anon-rss:8000kB, file-rss:100kB, shmem-rss:0kB, UID:0 pgtables:60kB oom_score_adj:0
[ 200.000400] Tasks in /job are going to be killed due to memory.oom.group set
");
    for pid in 101..106 {
        log.push_str(&format!("[ 200.000500] Memory cgroup out of memory: Killed process {pid} (helper) total-vm:900kB, anon-rss:80kB, file-rss:10kB, shmem-rss:0kB, UID:0 pgtables:40kB oom_score_adj:0\n"));
    }
    log.push_str("[ 201.000000] something else\n");
    let r = one(&log);
    assert_eq!(r.oom_group.as_deref(), Some("/job"));
    let ev = to_event(&r, 1);
    assert_eq!(ev.victim.unwrap().pid, Some(100));
    let more: Vec<Option<i32>> = ev.also_killed.iter().map(|v| v.pid).collect();
    assert_eq!(more, (101..106).map(Some).collect::<Vec<_>>());
}

/// 3.x's Mem-Info opens with per-CPU lists, then the counters.
#[test]
fn a_3_x_mem_info_with_per_cpu_lines() {
    let r = one("\
May  1 21:13:05 dev kernel: [ 4563.079551] memory-hog invoked oom-killer: gfp_mask=0x2084d0, order=0, oom_score_adj=0
May  1 21:13:06 dev kernel: [ 4563.079563] memory-hog cpuset=/ mems_allowed=0
May  1 21:13:06 dev kernel: [ 4563.079570] CPU: 1 PID: 4242 Comm: memory-hog Not tainted 3.13.0-85-generic #129-Ubuntu
May  1 21:13:06 dev kernel: [ 4563.079821] Mem-Info:
May  1 21:13:06 dev kernel: [ 4563.079827] Node 0 DMA per-cpu:
May  1 21:13:06 dev kernel: [ 4563.079834] CPU    0: hi:    0, btch:   1 usd:   0
May  1 21:13:06 dev kernel: [ 4563.079855] Node 0 DMA32 per-cpu:
May  1 21:13:06 dev kernel: [ 4563.079861] CPU    0: hi:  186, btch:  31 usd:  26
May  1 21:13:06 dev kernel: [ 4563.079900] active_anon:400263 inactive_anon:1124 isolated_anon:0
May  1 21:13:06 dev kernel: [ 4563.079901]  active_file:27 inactive_file:41 isolated_file:0
May  1 21:13:06 dev kernel: [ 4563.079902]  free:13227 slab_reclaimable:3065 slab_unreclaimable:3612
May  1 21:13:06 dev kernel: [ 4563.079950] Node 0 DMA free:15900kB min:264kB low:328kB high:396kB active_anon:0kB present:15992kB managed:15908kB
May  1 21:13:06 dev kernel: [ 4563.079960] lowmem_reserve[]: 0 1987 1987 1987
May  1 21:13:06 dev kernel: [ 4563.080000] Node 0 DMA: 1*4kB (U) 1*8kB (U) 0*16kB 1*32kB (U) 2*64kB (U) 1*128kB (U) 1*256kB (U) 0*512kB 1*1024kB (U) 1*2048kB (R) 3*4096kB (M) = 15900kB
May  1 21:13:07 dev kernel: [ 4563.080100] Out of memory: Kill process 4242 (memory-hog) score 915 or sacrifice child
May  1 21:13:07 dev kernel: [ 4563.080200] Killed process 4242 (memory-hog) total-vm:1663640kB, anon-rss:1601108kB, file-rss:0kB
");
    assert_eq!(r.mem_info.get("active_anon"), Some(&400263));
    assert_eq!(r.mem_info.get("free"), Some(&13227));
    assert!(!r.mem_info.contains_key("hi"));
    assert_eq!(r.zone_watermarks.len(), 1);
    assert_eq!(r.free_areas[0].2[10], 3);
    let ev = to_event(&r, 1);
    assert_eq!(ev.victim.unwrap().points, Some(915));
    assert!(ev.zones.is_some());
}
