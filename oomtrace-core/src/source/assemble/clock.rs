//! The kernel's clocks as an event says them: CLOCK_MONOTONIC now, and
//! RFC 3339 from CLOCK_REALTIME.

/// CLOCK_MONOTONIC now, the clock of the kernel's timestamps.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// RFC 3339 in UTC with microseconds, as the event's `time`.
pub fn format_time(realtime_ns: i128) -> String {
    let ns = realtime_ns.max(0) as u128;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns as u64);
    humantime::format_rfc3339_micros(t).to_string()
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC now.
pub fn realtime_offset_ns() -> i128 {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid out pointer.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    };
    read(libc::CLOCK_REALTIME) - read(libc::CLOCK_MONOTONIC)
}
