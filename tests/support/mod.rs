//! Shared fixtures: demo data generated once per test run, and real Segmint servers listening
//! on `127.0.0.1:0`, each on its own runtime thread so they outlive individual tests.

pub mod olist;
pub mod pg_text;
pub mod s3;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use segmint::Config;
use tokio_postgres::{Client, NoTls};

/// Customers in the test demo data (small enough for debug builds, big enough for shapes).
pub const DEMO_CUSTOMERS: u64 = 3_000;
/// Seed of the test demo data.
pub const DEMO_SEED: u64 = 7;

/// The test demo data, generated on first use into a temporary folder kept for the run.
pub fn demo_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("segmint-test-demo")
            .tempdir()
            .expect("temp dir")
            .keep();
        segmint::app::demo_data(&dir, DEMO_CUSTOMERS, DEMO_SEED, None).expect("demo data");
        dir
    })
}

/// A config serving the test demo data on an ephemeral port.
pub fn demo_config() -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    config.datasets = segmint::demo::datasets(demo_dir());
    config
        .functions
        .insert("as_of".to_string(), segmint::demo::DEMO_AS_OF.to_string());
    config
}

/// A config serving the CRM function fixtures of `udfs/slt/data/*.csv` (the same tables the
/// in-process runner of `udfs/slt/` registers).
pub fn fixture_config() -> Config {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("udfs/slt/data");
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".to_string();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("udfs/slt/data exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name");
        config.datasets.push(segmint::config::DatasetConfig {
            name: name.to_string(),
            url: path.to_string_lossy().into_owned(),
            format: segmint::config::DatasetFormat::Csv,
            partition_columns: None,
            shared: false,
        });
    }
    config
}

/// The shared fixture server for the CRM function `.slt` files.
pub fn fixture_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| TestServer::start(fixture_config()))
}

/// A server running on its own thread; stops when dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its metrics endpoint listens, when `server.metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server for `config` and waits until it listens.
    pub fn start(config: Config) -> TestServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let engine = segmint::app::build_engine(&config).await.expect("engine");
                let _reports = segmint::app::start_background(&config, &engine)
                    .await
                    .expect("refresh, reports and scheduler");
                let server = segmint::Server::bind(&config, engine).await.expect("bind");
                let addrs = (
                    server.local_addr().expect("addr"),
                    server.metrics_addr().expect("metrics addr"),
                );
                addr_tx.send(addrs).expect("send addr");
                server
                    .serve(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let (addr, metrics_addr) = addr_rx.recv().expect("server started");
        TestServer {
            addr,
            metrics_addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// A connection string for this server.
    pub fn conn_str(&self, user: &str) -> String {
        format!(
            "host={} port={} user={user} dbname=segmint",
            self.addr.ip(),
            self.addr.port()
        )
    }

    /// Connects with tokio-postgres.
    pub async fn connect(&self) -> Client {
        connect_to(&self.conn_str("analyst")).await
    }

    /// Stops the server and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Connects to a server and drives the connection in the background.
pub async fn connect_to(conn_str: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(conn_str, NoTls)
        .await
        .expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The shared demo server for tests that only read.
pub fn demo_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| TestServer::start(demo_config()))
}

/// Connects to the shared demo server.
pub async fn connect() -> Client {
    demo_server().connect().await
}

/// A `segmint serve` process started with `args` and `SEGMINT_LOG=log`, once it has printed
/// where it listens; its remaining stderr lines are in `lines`.
pub struct ServeProcess {
    /// The process.
    pub child: std::process::Child,
    /// The host it listens on.
    pub host: String,
    /// The port it listens on.
    pub port: String,
    /// What it wrote to stderr before the address line.
    pub before: Vec<String>,
    /// What it writes to stderr after the address line.
    pub lines: std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
}

impl ServeProcess {
    /// Starts `segmint <args>` and waits for its "listening on" line.
    pub fn start<S: AsRef<std::ffi::OsStr>>(args: &[S], log: &str) -> ServeProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_segmint"))
            .args(args)
            .env("SEGMINT_LOG", log)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start segmint serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let mut before = Vec::new();
        let addr = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("server printed its address; it printed {before:?}"))
                .expect("read stderr");
            if let Some(rest) = line.strip_prefix("Segmint listening on ") {
                break rest.split(':').take(2).collect::<Vec<_>>().join(":");
            }
            before.push(line);
        };
        let (host, port) = addr.split_once(':').expect("host:port");
        ServeProcess {
            host: host.to_string(),
            port: port.to_string(),
            child,
            before,
            lines,
        }
    }

    /// A connection string for `user`.
    pub fn conn_str(&self, user: &str) -> String {
        format!(
            "host={} port={} user={user} dbname=segmint",
            self.host, self.port
        )
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill failed");
    }
}

/// `GET path` on the server's metrics endpoint: the status code and the body.
pub fn http_get(server: &TestServer, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = server
        .metrics_addr
        .expect("the server has a metrics endpoint");
    let mut socket = std::net::TcpStream::connect(addr).expect("connect to metrics");
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        socket,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    socket.read_to_string(&mut response).expect("read response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of a metric line (`name{labels} value`) in Prometheus text; panics when the
/// metric is not there.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// The SQLSTATE of a failed statement.
pub fn sqlstate(error: &tokio_postgres::Error) -> String {
    error
        .as_db_error()
        .map(|e| e.code().code().to_string())
        .unwrap_or_else(|| format!("not a database error: {error}"))
}
