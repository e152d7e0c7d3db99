#!/bin/busybox sh
# PID 1 of the test VM: runs each scenario with oomtrace tracing it, then
# prints the events, oomtrace's stderr and the kernel log between markers
# for `cargo xtask vm-test` to check, and powers off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tracefs nodev /sys/kernel/tracing
mount -t cgroup2 none /sys/fs/cgroup
echo +memory > /sys/fs/cgroup/cgroup.subtree_control
mkdir -p /out
# The tracer and this script must survive every OOM; the hogs set their own adj.
echo -1000 > /proc/self/oom_score_adj
echo "VMTEST kernel $(uname -r)"
# Whether kallsyms lists data (CONFIG_KALLSYMS_ALL): the global scenario's
# memory path depends on it.
echo "VMTEST kallsyms-data $(grep -c -w -e node_data -e contig_page_data /proc/kallsyms)" >> /out/markers.txt

# A kernel without BTF of its own (Debian's armhf) is planned from the
# detached one made by pahole from its -dbg package (`cargo xtask btf`),
# where the tests made one; without it, oomtrace runs as a board user's
# does, with no flag: kernel-log mode.
BTF=/btf/$(uname -r).btf
[ -e /sys/kernel/btf/vmlinux ] || [ ! -e $BTF ] || OWN_BTF_MISSING="--btf $BTF"
[ -e /sys/kernel/btf/vmlinux ] || [ -e $BTF ] || echo "VMTEST no-btf" >> /out/markers.txt

start_tracer() { # name, then trace arguments
    name=$1; shift
    # Recorded: the oracle checks the session file (header, events, end).
    case " $* " in
        *" --btf "*) btf= ;;
        *) btf=$OWN_BTF_MISSING ;;
    esac
    oomtrace record --quiet -o /out/$name.json $btf "$@" 2> /out/$name.err &
    TRACER=$!
    for i in $(seq 1 600); do
        grep -q "^oomtrace: attached" /out/$name.err && return 0
        sleep 0.1
    done
    echo "VMTEST $name: the tracer did not attach"
}

stop_tracer() {
    kill -INT $TRACER 2>/dev/null
    wait $TRACER
}

# The tracers run with --count 1: give the OOM (asynchronous for sysrq-f,
# which runs in a kworker) up to 20 s to be reported, then stop it anyway.
finish_tracer() {
    for i in $(seq 1 200); do
        kill -0 $TRACER 2>/dev/null || break
        sleep 0.1
    done
    stop_tracer
}

# A sacrificial sleeper for sysrq-f, with the highest adj, once it runs
# `sleep` (killed mid-exec, its memory is a half-built mm that the kernel's
# report and oomtrace read moments apart).
sacrificial_sleeper() {
    sleep 1000 &
    VICTIM=$!
    for i in $(seq 1 100); do
        [ "$(cat /proc/$VICTIM/comm)" = sleep ] && break
        sleep 0.05
    done
    echo 1000 > /proc/$VICTIM/oom_score_adj
}

in_cgroup() { # cgroup dir, then the command
    dir=$1; shift
    sh -c "echo \$\$ > $dir/cgroup.procs && exec $*" &
}

# sysrq-f: the manual OOM; a sacrificial sleeper with the highest adj dies.
start_tracer sysrq --mode kprobe --count 1
sacrificial_sleeper
echo "VMTEST sysrq victim $VICTIM" >> /out/markers.txt
echo f > /proc/sysrq-trigger
finish_tracer

# A global OOM from a page-fault path; memory state through kallsyms data
# symbols (the others go through the memory cgroup).
start_tracer global --mode kprobe --count 1 --memory-via kallsyms
oomtrace __hog &
wait $!
finish_tracer

# A memory-cgroup OOM (cgroup v2 memory.max).
start_tracer memcg --mode kprobe --count 1
oomtrace trigger memcg --limit 32M
finish_tracer

# oom_score_adj steering: of three hogs in one cgroup, the one with adj 500
# dies. The third triggers the OOM and lives on, so that its user stack is
# named from its mappings: it stops at 40 MiB (the other two's 32 less the
# victim's 16 leave room), and its adj is -1000, since its next charge may
# come before the victim's memory is uncharged and OOM again (seen on armhf:
# it was killed 4 ms later).
mkdir /sys/fs/cgroup/steer
echo 64M > /sys/fs/cgroup/steer/memory.max
start_tracer steer --mode kprobe --count 1
in_cgroup /sys/fs/cgroup/steer oomtrace __hog --mib 16 --adj 0
A=$!
in_cgroup /sys/fs/cgroup/steer oomtrace __hog --mib 16 --adj 500
B=$!
echo "VMTEST steer a=$A b=$B" >> /out/markers.txt
# Both hold their 16 MiB before the third starts: it is the trigger.
for i in $(seq 1 300); do
    [ "$(cat /sys/fs/cgroup/steer/memory.current)" -ge 33554432 ] && break
    sleep 0.1
done
in_cgroup /sys/fs/cgroup/steer oomtrace __hog --mib 40 --adj -1000
C=$!
echo "VMTEST steer-trigger c=$C" >> /out/markers.txt
wait $TRACER
kill -9 $A $B $C 2>/dev/null
wait
rmdir /sys/fs/cgroup/steer

# Tracepoint mode forced on a kernel with kprobes: the fallback.
start_tracer tracepoint --mode tracepoint --count 1
oomtrace trigger memcg --limit 32M
finish_tracer

# A kernel without its own BTF plans from a detached one, made by pahole
# from its -dbg package (`cargo xtask btf`): the memcg OOM again, planned
# from that file.
if [ -f $BTF ]; then
    echo "VMTEST btf $BTF" >> /out/markers.txt
    oomtrace check --btf $BTF > /out/btf-check.txt 2>&1
    start_tracer btf --mode kprobe --count 1 --btf $BTF
    oomtrace trigger memcg --limit 32M
    finish_tracer
fi

# Tracepoint mode on the other two kinds of OOM: the oom_control is found
# on the OOM task's stack there too (a kworker's for sysrq-f).
start_tracer tp-sysrq --mode tracepoint --count 1
sacrificial_sleeper
echo "VMTEST tp-sysrq victim $VICTIM" >> /out/markers.txt
echo f > /proc/sysrq-trigger
finish_tracer

start_tracer tp-global --mode tracepoint --count 1
oomtrace __hog &
wait $!
finish_tracer

# Kernel-log mode forced (--btf none, what a kernel without BTF gets): the
# three kinds of OOM again, each event completed by the kernel's report.
start_tracer kl-sysrq --btf none --mode kprobe --count 1
sacrificial_sleeper
echo "VMTEST kl-sysrq victim $VICTIM" >> /out/markers.txt
echo f > /proc/sysrq-trigger
finish_tracer

start_tracer kl-global --btf none --mode kprobe --count 1
oomtrace __hog &
wait $!
finish_tracer

start_tracer kl-memcg --btf none --mode kprobe --count 1
oomtrace trigger memcg --limit 32M
finish_tracer

# A victim whose memory outlives the kill (a frozen process shares it,
# cgroup v1 freezer): the OOM reaper frees it, and says so in the log.
mkdir -p /freezer
mount -t cgroup -o freezer none /freezer
start_tracer reaper --mode kprobe
oomtrace trigger memcg --limit 32M --reaper
stop_tracer

# Survive the OOM it watches: global OOMs while the page cache thrashes (a
# reader pulls a 256 MiB file from disk through it again and again while
# three hogs in turn take the rest), `record` running throughout: every OOM
# recorded, the recorder alive at the end, its kill-to-event latency in its
# end record. Everything here but the hogs inherits this script's -1000.
mkdir -p /mnt
if [ ! -e /dev/nvme0n1 ]; then
    # Debian's armhf kernels build NVMe and ext4 as modules (the cloud
    # kernels build them in); this VM has no modules.
    echo "VMTEST thrash-skipped: no /dev/nvme0n1" >> /out/markers.txt
elif mount -t ext4 -o ro /dev/nvme0n1 /mnt 2> /out/thrash-mount.txt; then
    start_tracer thrash
    sh -c 'while :; do cat /mnt/big > /dev/null; done' &
    READER=$!
    sleep 2
    HOGS=""
    for i in 1 2 3; do
        oomtrace __hog &
        HOGS="$HOGS,$!"
        wait $!
    done
    kill -0 $TRACER && ALIVE=$TRACER
    echo "VMTEST thrash recorder=$TRACER alive=$ALIVE hogs=${HOGS#,} $(grep VmLck /proc/$TRACER/status | tr -d '\t ')" >> /out/markers.txt
    kill $READER
    killall cat
    wait $READER
    stop_tracer
    umount /mnt
fi

# The agent on cgroup v2: a memcg OOM in a cgroup shaped like a Kubernetes
# pod's container (systemd driver, containerd) and a global OOM of a hog in
# a systemd unit's cgroup; its metrics fetched over loopback (busybox wget)
# and its session file printed, with the kernel's oom_kill count around them.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
KILLS_BEFORE=$(grep '^oom_kill ' /proc/vmstat | cut -d' ' -f2)
mkdir -p /fleet
oomtrace agent --dir /fleet --metrics-addr 127.0.0.1:9464 $OWN_BTF_MISSING 2> /out/fleet.err &
AGENT=$!
for i in $(seq 1 600); do
    grep -q "^oomtrace: attached" /out/fleet.err && break
    sleep 0.1
done
POD=kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b8f2c4e_1d2a_4f6b_9c3d_5e7f8a9b0c1d.slice
oomtrace trigger memcg --limit 32M --cgroup $POD/cri-containerd-$(printf 'ab%.0s' $(seq 1 32)).scope
# The unit has a memory cgroup of its own, as systemd's accounting gives it:
# its slice delegates the controller (else the task's memcg is the slice's).
mkdir -p /sys/fs/cgroup/system.slice
echo +memory > /sys/fs/cgroup/system.slice/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/system.slice/oomtrace-hog.service
in_cgroup /sys/fs/cgroup/system.slice/oomtrace-hog.service oomtrace __hog
wait $!
KILLS_AFTER=$(grep '^oom_kill ' /proc/vmstat | cut -d' ' -f2)
for i in $(seq 1 100); do
    wget -q -O /out/fleet-metrics.txt http://127.0.0.1:9464/metrics
    grep -q 'constraint="global"' /out/fleet-metrics.txt && break
    sleep 0.2
done
kill -TERM $AGENT
wait $AGENT
cat /fleet/*.jsonl > /out/fleet.json
echo "VMTEST fleet oom_kill=$((KILLS_AFTER - KILLS_BEFORE))" >> /out/markers.txt
rmdir /sys/fs/cgroup/system.slice/oomtrace-hog.service /sys/fs/cgroup/system.slice

# watch and the lead-up on cgroup v2: a hog growing 3 MiB/s in a 24 MiB
# memory cgroup, recorded with its lead-up; a watch snapshot while it grows,
# with the files it reads copied right after.
start_tracer leadup --lead-up 30s
mkdir /sys/fs/cgroup/slow
echo 24M > /sys/fs/cgroup/slow/memory.max
echo 0 > /sys/fs/cgroup/slow/memory.swap.max 2>/dev/null
in_cgroup /sys/fs/cgroup/slow oomtrace __hog --mib-per-s 3
SLOW=$!
sleep 3
cat /sys/fs/cgroup/slow/memory.current > /out/watch-usage-before.txt
oomtrace watch --once --json > /out/watch.json 2> /out/watch.err
cat /sys/fs/cgroup/slow/memory.current > /out/watch-usage.txt
cat /proc/zoneinfo > /out/zoneinfo.txt
wait $SLOW
sleep 1
stop_tracer
rmdir /sys/fs/cgroup/slow

# Kernel-log mode through a storm (late: it spends the kernel's report rate
# limit, which the scenarios before it need whole): the kernel prints at most ten whole
# reports in five seconds (oom_rs); a kill past them prints its `Killed
# process` line alone, and its event must say the report was rate-limited.
start_tracer kl-storm --btf none --mode kprobe
STORM_BEFORE=$(grep '^oom_kill ' /proc/vmstat | cut -d' ' -f2)
oomtrace trigger storm --kills 20 --parallel 2 --limit 8M
sleep 2
STORM_AFTER=$(grep '^oom_kill ' /proc/vmstat | cut -d' ' -f2)
stop_tracer
echo "VMTEST kl-storm oom_kill=$((STORM_AFTER - STORM_BEFORE))" >> /out/markers.txt

# In-kernel cost in kprobe mode (read by `cargo xtask bench`, not a check):
# each program's run count and time over a small storm of memcg OOMs.
start_tracer cost --mode kprobe --bpf-stats
oomtrace trigger storm --kills 20 --parallel 2 --limit 8M
stop_tracer

# The same, with no OOM: print_rss is a kprobe on printk, which runs at
# every printk of the machine while tracing; what it costs a machine that
# is not out of memory, over 200 printks from one shell (sysrq's loglevel
# key says two lines a write; a fresh process for each printk, or
# drop_caches' line, each after a flush of every cache, cost TCG 13-16 µs a
# call on armhf, its emulated TLB refilled, against 2 µs in a burst).
start_tracer printk-cost --mode kprobe --bpf-stats
LEVELS=$(cat /proc/sys/kernel/printk)
for i in $(seq 1 100); do echo 1 > /proc/sysrq-trigger; done
echo "$LEVELS" > /proc/sys/kernel/printk
stop_tracer

for f in /out/*; do
    echo "=== BEGIN $(basename $f)"
    cat $f
    echo "=== END $(basename $f)"
done
echo "=== BEGIN dmesg"
dmesg
echo "=== END dmesg"
echo "VMTEST done"
poweroff -f
