use std::{env, path::PathBuf};

/// Rebuild the BPF object when bpf-linker changes: cargo does not track the
/// linker, and a new one (or one built against another LLVM) changes the output.
fn main() {
    let linker = env::var_os("PATH")
        .and_then(|path| which::which_in("bpf-linker", Some(path), PathBuf::from(".")).ok());
    match linker {
        Some(linker) => println!("cargo:rerun-if-changed={}", linker.display()),
        None => println!("cargo:warning=bpf-linker not found in PATH; run `cargo xtask deps`"),
    }
}
