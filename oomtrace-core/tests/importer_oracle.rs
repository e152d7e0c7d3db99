//! The importer (`kernel_log::parse_log`) reads every real kernel report the
//! project keeps as the tests' own reader of the kernel's format strings
//! does (`tests/common/kreport.rs`, which shares no code with it): every
//! field that reader reads, equal. Here, beside the importer's crate, so
//! that `cargo xtask mutants` runs it with the crate's fast tests.

#[path = "../../tests/common/kreport.rs"]
mod kreport;

#[test]
fn the_importer_reads_every_kept_report_as_the_oracle_does() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kernel-reports");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&file).unwrap();
            kreport::assert_importer_agrees(&text, &file.display().to_string());
            read += 1;
        }
    }
    assert!(read >= 8, "only {read} kept reports in {}", dir.display());
}
