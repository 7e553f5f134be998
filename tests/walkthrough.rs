//! The README's "Use your own data" walkthrough, run as written: `segmint init`, a CSV
//! dataset, one mapping, `segmint check`, an RFM query and a report, on the CDNOW log.

use std::path::Path;
use std::process::Command;

/// The shell block between the walkthrough markers of README.md.
fn walkthrough_block() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let start = readme
        .find("<!-- walkthrough -->")
        .expect("README has a walkthrough block");
    let end = readme
        .find("<!-- /walkthrough -->")
        .expect("README closes the walkthrough block");
    let block = &readme[start..end];
    let body_start = block.find("```sh\n").expect("a sh code block") + "```sh\n".len();
    let body_end = block.rfind("```").expect("the code block ends");
    block[body_start..body_end].to_string()
}

#[test]
fn readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir bin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_segmint"), bin.join("segmint"))
        .expect("link segmint");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let csv = crate::cdnow::cdnow_csv();
    let output = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg("-c")
        .arg(walkthrough_block())
        .current_dir(dir.path())
        .env("PATH", path)
        .env("ORDERS_CSV", csv)
        .env("SEGMINT_LOG", "warn")
        .output()
        .expect("run the walkthrough");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // `segmint check` passed and listed the mapping.
    assert!(
        stdout.contains("ready: nothing configured is broken"),
        "{stdout}"
    );
    assert!(stdout.contains("model/orders.sql"), "{stdout}");
    // The browse reports are unavailable on an orders-only shop, with the reason.
    assert!(stdout.contains("unavailable: needs events"), "{stdout}");
    // No channel on this shop: the channel breakdown is dropped, not filled with NULLs.
    assert!(!stdout.contains("| channel"), "{stdout}");
    // The RFM query printed segments.
    assert!(stdout.contains("champions"), "{stdout}");

    // The report's revenue for March 1997 equals the log's own sum.
    let text = std::fs::read_to_string(csv).expect("read csv");
    // Without an order id, an order is one customer and timestamp (here: day).
    let mut revenue = 0.0_f64;
    let mut orders = std::collections::HashSet::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[1].starts_with("1997-03") {
            revenue += fields[3].parse::<f64>().expect("amount");
            orders.insert((fields[0].to_string(), fields[1].to_string()));
        }
    }
    let orders = orders.len() as u64;
    let all_row = stdout
        .lines()
        .find(|l| l.contains("| all"))
        .unwrap_or_else(|| panic!("no 'all' row in:\n{stdout}"));
    let cells: Vec<&str> = all_row
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells[1].parse::<u64>().expect("orders"),
        orders,
        "{all_row}"
    );
    let reported: f64 = cells[2].parse().expect("revenue");
    assert!(
        (reported - revenue).abs() < 0.01,
        "revenue {reported} vs {revenue} in the log"
    );
}
