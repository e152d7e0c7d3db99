//! What differs between the architectures oomtrace runs on, in one place:
//! where user addresses end, how the kernel titles a stack, how big a PMD
//! (a transparent huge page) is for a page size. The running kernel is
//! asked first where it can tell (sysconf, sysfs); this table is what is
//! left.

/// An architecture as `uname -m` and the session header name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// `uname -m`: "x86_64", "aarch64", "armv7l".
    pub machine: &'static str,
    /// The first address that is not a user address (`TASK_SIZE_MAX`, for
    /// the largest layout the architecture has): a user stack walk that
    /// reaches it has run into garbage.
    pub user_top: u64,
    /// How `dump_stack()` titles the stack in the kernel's report.
    pub stack_header: &'static str,
    /// Bits of a kernel pointer.
    pub pointer_bits: u32,
    /// The lowest kernel address of any layout the architecture has: the
    /// largest virtual address space puts the kernel's lowest.
    pub kernel_start: u64,
    /// Bits of the address that pointer authentication may use on arm64
    /// return addresses, masked off before symbolizing (0: none).
    pub pac_mask: u64,
    /// `THREAD_SIZE`, a task's kernel stack (without KASAN's doubling).
    pub thread_size: u32,
    /// Whether `bpf_get_stack` walks the kernel stack from a tracepoint.
    /// 32-bit ARM's unwinder (`CONFIG_ARM_UNWIND`) starts from the caller
    /// registers `perf_fetch_caller_regs` makes, which lack `lr`: it stops
    /// after the first frame. A kprobe's registers are the real ones.
    pub tracepoint_stack_walk: bool,
}

pub const X86_64: Arch = Arch {
    machine: "x86_64",
    // 5-level paging: 56 bits of user space.
    user_top: 0x0100_0000_0000_0000,
    stack_header: "Call Trace:",
    pointer_bits: 64,
    // 5-level paging's kernel half (4-level: 0xffff_8000_0000_0000).
    kernel_start: 0xff00_0000_0000_0000,
    pac_mask: 0,
    thread_size: 16384,
    tracepoint_stack_walk: true,
};

pub const AARCH64: Arch = Arch {
    machine: "aarch64",
    // 52-bit user addresses at most; above them sit PAC bits.
    user_top: 1 << 52,
    stack_header: "Call trace:",
    pointer_bits: 64,
    // 52-bit virtual addresses (Debian's 6.12 arm64 kernels): the linear
    // map starts here; 48-bit at 0xffff_0000_0000_0000.
    kernel_start: 0xfff0_0000_0000_0000,
    pac_mask: 0xffff_0000_0000_0000 & !(1 << 55),
    thread_size: 16384,
    tracepoint_stack_walk: true,
};

pub const ARM: Arch = Arch {
    machine: "armv7l",
    // The 3G/1G split; other splits end lower, never higher.
    user_top: 0xc000_0000,
    stack_header: "Call trace:",
    pointer_bits: 32,
    // The 3G/1G split; the rarer 2G/2G and 1G/3G splits start lower.
    kernel_start: 0xc000_0000,
    pac_mask: 0,
    thread_size: 8192,
    tracepoint_stack_walk: false,
};

const ALL: [Arch; 3] = [X86_64, AARCH64, ARM];

impl Arch {
    /// The architecture `uname -m` names (`armv7l`, `armv8l`, `arm` are 32-bit ARM).
    pub fn from_machine(machine: &str) -> Option<Arch> {
        if machine.starts_with("armv") || machine == "arm" {
            return Some(ARM);
        }
        if machine == "arm64" {
            return Some(AARCH64);
        }
        ALL.into_iter().find(|a| a.machine == machine)
    }

    /// The architecture this oomtrace was built for (and so runs on).
    pub const fn this() -> Arch {
        #[cfg(target_arch = "aarch64")]
        return AARCH64;
        #[cfg(target_arch = "arm")]
        return ARM;
        #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
        return X86_64;
    }

    /// Whether `addr` can be a kernel pointer on this architecture.
    pub fn is_kernel_address(&self, addr: u64) -> bool {
        let top = if self.pointer_bits == 32 {
            0xffff_ffff
        } else {
            u64::MAX
        };
        (self.kernel_start..=top).contains(&addr)
    }

    /// Whether `addr` can be a user address; PAC bits masked first.
    pub fn is_user_address(&self, addr: u64) -> bool {
        let a = addr & !self.pac_mask;
        a != 0 && a < self.user_top
    }
}

/// log2 of a PMD mapping (a THP) for a page size: a page-table page holds
/// `page_size / 8` entries on 64-bit kernels (4K: 2 MiB, 16K: 32 MiB, 64K:
/// 512 MiB). The planner prefers the kernel's own
/// `/sys/kernel/mm/transparent_hugepage/hpage_pmd_size`.
pub fn pmd_shift(page_shift: u32) -> u32 {
    page_shift + page_shift.saturating_sub(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_and_thp_sizes() {
        assert_eq!(Arch::from_machine("armv7l"), Some(ARM));
        assert_eq!(
            Arch::from_machine("aarch64").unwrap().stack_header,
            "Call trace:"
        );
        assert_eq!(Arch::from_machine("riscv64"), None);
        assert_eq!(1u64 << pmd_shift(12), 2 << 20);
        assert_eq!(1u64 << pmd_shift(14), 32 << 20);
        assert_eq!(1u64 << pmd_shift(16), 512 << 20);
        // A PAC-signed arm64 return address is a user address once masked.
        assert!(AARCH64.is_user_address(0x003f_0000_aaaa_0000 | 0x00aa_bbcc));
        assert!(!X86_64.is_user_address(0xffff_ffff_8100_0000));
        // 32-bit ARM as `uname -m` may also say it.
        assert_eq!(Arch::from_machine("arm"), Some(ARM));
        // The last user address is one, the top is not (cargo-mutants).
        for a in ALL {
            assert!(a.is_user_address(a.user_top - 1), "{}", a.machine);
            assert!(!a.is_user_address(a.user_top), "{}", a.machine);
        }
        // Bit 55 picks the kernel's or the user's half of arm64's
        // addresses: PAC bits never include it.
        assert_eq!(AARCH64.pac_mask & (1 << 55), 0);
        assert!(!AARCH64.is_user_address(0x0080_0000_0000_0000 | 0x1000));
    }

    #[test]
    fn kernel_addresses_of_every_layout() {
        // arm64 with 52-bit VAs (Debian's 6.12 config): the linear map,
        // where slab objects such as a memcg live, and the kernel image.
        assert!(AARCH64.is_kernel_address(0xfff0_0000_1234_5678));
        assert!(AARCH64.is_kernel_address(0xffff_a5b8_dcd2_036c));
        assert!(!AARCH64.is_kernel_address(0x0000_ffff_8000_0000));
        // x86_64 with 4- and 5-level paging.
        assert!(X86_64.is_kernel_address(0xffff_8880_0000_0000));
        assert!(X86_64.is_kernel_address(0xff11_0000_0000_0000));
        assert!(!X86_64.is_kernel_address(0x00ff_ffff_ffff_f000));
        assert!(ARM.is_kernel_address(0xc123_4567));
        assert!(!ARM.is_kernel_address(0xbeff_f000));
        assert!(!ARM.is_kernel_address(0x1_c000_0000));
    }
}
