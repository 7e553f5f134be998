//! The processes a benchmark run talks to: the Python worker (DuckDB and psycopg), a
//! `segmint serve` child, and peak-memory readings from `/proc`.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Boxed errors: the harness reports them and stops.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Resets the peak resident set size of `pid` (Linux `clear_refs`), so the next reading is the
/// peak from now on.
pub fn reset_peak(pid: u32) {
    // Best effort: without the permission the reading is the peak since the process started.
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

/// The peak resident set size of `pid` in MiB (`VmHWM`).
pub fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// One answer of the worker: milliseconds and rows (bytes for COPY).
#[derive(Debug, Clone, Copy)]
pub struct Timed {
    /// Elapsed milliseconds of the work alone.
    pub ms: f64,
    /// Rows fetched (bytes for COPY).
    pub rows: u64,
}

/// The Python worker (`worker.py`): DuckDB in-process, psycopg as a client.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Worker {
    /// Starts `python worker.py`.
    pub fn start(python: &Path, script: &Path) -> BenchResult<Worker> {
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("worker stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("worker stdout")?);
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request and reads its answer.
    pub fn call(&mut self, request: Value) -> BenchResult<Value> {
        writeln!(self.stdin, "{request}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        let answer: Value =
            serde_json::from_str(&line).map_err(|e| format!("worker answered {line:?}: {e}"))?;
        if let Some(error) = answer.get("error") {
            return Err(format!("{}: {error}", request["op"]).into());
        }
        Ok(answer)
    }

    /// Sends a request that answers with a timing.
    pub fn timed(&mut self, request: Value) -> BenchResult<Timed> {
        let answer = self.call(request)?;
        Ok(Timed {
            ms: answer["ms"].as_f64().unwrap_or(f64::NAN),
            rows: answer["rows"].as_u64().unwrap_or(0),
        })
    }

    /// Opens DuckDB with `setup`; returns DuckDB's version.
    pub fn open_duckdb(&mut self, setup: &[String]) -> BenchResult<String> {
        let answer = self.call(json!({"op": "duckdb_open", "setup": setup}))?;
        Ok(answer["version"].as_str().unwrap_or("?").to_string())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `segmint serve` child on a loopback port.
pub struct Server {
    child: Child,
    /// The port it listens on.
    pub port: u16,
}

impl Server {
    /// Starts `bin serve --config config` and waits for its "listening" line.
    pub fn start(bin: &Path, config: &Path, log: &Path) -> BenchResult<Server> {
        Server::start_with(bin, config, log, &[])
    }

    /// Starts `bin serve --config config ARGS...` and waits for its "listening" line.
    pub fn start_with(
        bin: &Path,
        config: &Path,
        log: &Path,
        args: &[String],
    ) -> BenchResult<Server> {
        let log_file = std::fs::File::create(log)?;
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(config)
            .args(args)
            .env("SEGMINT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(port) = text.lines().find_map(|line| {
                line.strip_prefix("Segmint listening on 127.0.0.1:")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|port| port.trim().parse::<u16>().ok())
            }) {
                return Ok(Server { child, port });
            }
            if let Some(status) = child.try_wait()? {
                return Err(format!("segmint serve exited ({status}):\n{text}").into());
            }
            if started.elapsed() > Duration::from_secs(600) {
                let _ = child.kill();
                return Err(format!("segmint serve did not start:\n{text}").into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a command to completion, failing with its output when it fails; returns stdout.
pub fn run(command: &mut Command) -> BenchResult<String> {
    let output = command
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The median of some timings (milliseconds).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}
