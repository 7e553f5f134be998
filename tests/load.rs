//! `scripts/load.sh` against the real binary: 16 pgbench clients for 10 seconds with the
//! analyst mix, zero failed transactions, the server answering afterwards, and peak memory
//! under a bound. (Throughput is measured by `benches/`, not here.)
//!
//! Ignored in the parallel run, where it would take the CPU from timing-sensitive tests;
//! `scripts/test.sh` runs it on its own afterwards (`cargo test --test main -- --ignored`).

use std::process::Command;

#[test]
#[ignore = "run alone by scripts/test.sh"]
fn pgbench_clients_run_without_failures_and_memory_stays_bounded() {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new(format!("{root}/scripts/load.sh"))
        .args(["--bin", env!("CARGO_BIN_EXE_segmint")])
        .args(["--clients", "16", "--seconds", "10", "--customers", "2000"])
        .args(["--max-rss-mb", "1024"])
        .output()
        .expect("run scripts/load.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("load: "))
        .unwrap_or_else(|| panic!("no summary in {stdout}"));
    let field = |name: &str| {
        summary
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {summary}"))
            .to_string()
    };
    assert_eq!(field("failed"), "0", "{summary}");
    assert!(
        field("transactions").parse::<u64>().expect("count") > 0,
        "{summary}"
    );
    let peak: u64 = field("peak_rss_mb").parse().expect("peak");
    assert!(peak <= 1024, "{summary}");
}
