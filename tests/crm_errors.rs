//! Every error path of the CRM functions, as the `.slt` files in `udfs/slt/` exercise them
//! (`statement error` / `query error`), run through the pgwire endpoint in file order: each
//! must come back with the SQLSTATE written above it (`# sqlstate: 22023`), which is the code
//! of the error's kind (`segmint_udfs::error::ErrorKind`), never a generic internal error.
//! A new error case without its code fails here; `SEGMINT_BLESS=1` writes the codes the
//! server gives (review them before committing).

use std::path::{Path, PathBuf};

use crate::support::{self, connect_to, sqlstate};

/// The comment that carries a record's expected SQLSTATE.
const MARK: &str = "# sqlstate: ";

/// One record of an `.slt` file.
struct Record {
    /// The line index of its first line (conditions included).
    start: usize,
    /// Whether it must fail.
    error: bool,
    /// Whether it runs only in-process (`onlyif datafusion`).
    in_process: bool,
    /// Its SQL.
    sql: String,
    /// The expected SQLSTATE from the comment above it, if any.
    expected: Option<String>,
}

fn records(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let mut in_process = false;
        while let Some(condition) = lines
            .get(i)
            .filter(|l| l.starts_with("onlyif ") || l.starts_with("skipif "))
        {
            in_process |= condition.trim() == "onlyif datafusion";
            i += 1;
        }
        let Some(header) = lines
            .get(i)
            .filter(|l| l.starts_with("statement ") || l.starts_with("query "))
        else {
            i = start + 1;
            continue;
        };
        let error = header.starts_with("statement error") || header.starts_with("query error");
        let mut sql = Vec::new();
        i += 1;
        while let Some(line) = lines
            .get(i)
            .filter(|l| !l.trim().is_empty() && **l != "----")
        {
            sql.push(*line);
            i += 1;
        }
        let expected = lines[..start]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| l.strip_prefix(MARK))
            .map(|code| code.trim().to_string());
        out.push(Record {
            start,
            error,
            in_process,
            sql: sql.join("\n"),
            expected,
        });
        // Skip the expected rows of a query.
        while lines.get(i).is_some_and(|l| !l.trim().is_empty()) {
            i += 1;
        }
    }
    out
}

fn slt_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("udfs/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("udfs/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

/// Writes `codes` (line index of a record's start → SQLSTATE) above their records.
fn bless(path: &Path, text: &str, codes: &[(usize, String)]) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for (start, code) in codes.iter().rev() {
        // Replace a mark in the comment block right above, or add one.
        let mut at = *start;
        let mut replaced = false;
        while at > 0 && lines[at - 1].starts_with('#') {
            at -= 1;
            if lines[at].starts_with(MARK) {
                lines[at] = format!("{MARK}{code}");
                replaced = true;
                break;
            }
        }
        if !replaced {
            lines.insert(*start, format!("{MARK}{code}"));
        }
    }
    std::fs::write(path, lines.join("\n") + "\n").expect("bless the slt file");
}

#[tokio::test]
async fn every_crm_error_path_has_the_sqlstate_of_its_kind() {
    let server = support::fixture_server();
    let blessing = std::env::var_os("SEGMINT_BLESS").is_some();
    let mut problems = Vec::new();
    let mut checked = 0;
    for path in slt_files() {
        let text = std::fs::read_to_string(&path).expect("read slt");
        let client = connect_to(&server.conn_str("slt")).await;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let mut observed = Vec::new();
        for record in records(&text) {
            if record.in_process {
                continue;
            }
            let result = client.simple_query(&record.sql).await;
            if !record.error {
                continue;
            }
            checked += 1;
            let code = match result {
                Ok(_) => {
                    problems.push(format!("{name}: no error for {}", record.sql));
                    continue;
                }
                Err(error) => sqlstate(&error),
            };
            if code == "XX000" || code == "42000" {
                problems.push(format!("{name}: generic {code} for {}", record.sql));
            }
            match &record.expected {
                Some(expected) if *expected == code => {}
                Some(expected) if !blessing => problems.push(format!(
                    "{name}: {code}, not {expected}, for {}",
                    record.sql
                )),
                None if !blessing => problems.push(format!(
                    "{name}: no `{MARK}CODE` above the error case {}",
                    record.sql
                )),
                _ => {}
            }
            observed.push((record.start, code));
        }
        if blessing {
            bless(&path, &text, &observed);
        }
    }
    assert!(
        checked > 100,
        "only {checked} error cases read: the reader is broken"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn records_and_their_codes_are_read() {
    let text = "# a comment\n# sqlstate: 22023\nstatement error f: bad\nSELECT f(1)\n\n\
                query I\nSELECT 1\n----\n1\n\nonlyif datafusion\nstatement error x\nSELECT x\n";
    let read = records(text);
    assert_eq!(read.len(), 3);
    assert!(read[0].error && read[0].expected.as_deref() == Some("22023"));
    assert_eq!(read[0].sql, "SELECT f(1)");
    assert!(!read[1].error && read[1].sql == "SELECT 1");
    assert!(read[2].in_process && read[2].expected.is_none());
}
