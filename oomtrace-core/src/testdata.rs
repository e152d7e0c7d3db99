//! Where the unit tests find the real kernel reports.
use std::path::PathBuf;

pub fn kernel_reports_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kernel-reports")
}
