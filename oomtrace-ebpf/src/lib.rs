#![no_std]
// The library target exists so the CLI can name this crate as a build dependency.
