//! `segmint`: command-line entry point. Parses flags, sets up logging, hands over to
//! [`segmint::app`].

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use segmint::app::{self, DataSources};
use segmint::output::OutputFormat;
use tracing_subscriber::EnvFilter;

/// Segmint: PostgreSQL-compatible SQL for e-commerce customer analytics on Parquet.
#[derive(Debug, Parser)]
#[command(name = "segmint", version, about)]
struct Cli {
    /// Log format on stderr: `text` for people, `json` (one object per line) for log
    /// pipelines. The level comes from `SEGMINT_LOG` (default `info`); statements are logged
    /// under the target `segmint::query`.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SEGMINT_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// `2026-11-23T10:00:00Z  INFO segmint::query: statement user=alice rows=3 ...`
    Text,
    /// `{"timestamp":...,"level":"INFO","fields":{...},"target":"segmint::query"}`
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve datasets over the PostgreSQL wire protocol.
    Serve {
        #[command(flatten)]
        sources: SourceArgs,
        /// Address to listen on (overrides server.listen).
        #[arg(long, env = "SEGMINT_LISTEN")]
        listen: Option<String>,
        /// Send query execution to this Ballista scheduler, df://HOST:PORT (overrides
        /// cluster.scheduler).
        #[arg(long, env = "SEGMINT_CLUSTER", value_name = "df://HOST:PORT")]
        cluster: Option<String>,
    },
    /// Run an Apache DataFusion Ballista scheduler with Segmint's functions, settings, object
    /// stores and plan codecs (give it the server's --config).
    Scheduler {
        /// The address executors and servers connect to.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: std::net::SocketAddr,
        /// An executor silent for this long is lost, and its tasks run again elsewhere.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        executor_timeout: std::time::Duration,
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// Run an Apache DataFusion Ballista executor with Segmint's functions, settings, object
    /// stores and plan codecs (give it the server's --config).
    Executor {
        /// The scheduler, df://HOST:PORT.
        #[arg(long, value_name = "df://HOST:PORT")]
        scheduler: String,
        /// The address results and shuffle data are served on (Arrow Flight).
        #[arg(long, default_value = "127.0.0.1:50051")]
        bind: std::net::SocketAddr,
        /// The port the scheduler launches tasks on (default: the --bind port + 1).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// The address advertised to the scheduler and other executors (default: --bind's).
        #[arg(long)]
        external_host: Option<String>,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Where shuffle files are kept (default: a temporary folder).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// How often the executor tells the scheduler it is alive.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        heartbeat: std::time::Duration,
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// Run one SQL query and print the result.
    Sql {
        /// The query.
        query: String,
        #[command(flatten)]
        sources: SourceArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// List or run the goal-breakdown reports (sql/reports/).
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Print a `[[users]]` entry with a salted password hash for segmint.toml. The password is
    /// read from standard input (one line), so it stays out of shell history.
    Passwd {
        /// The user name.
        user: String,
        /// The user's role: admin, analyst, or one from [[roles]].
        #[arg(long, default_value = "analyst")]
        role: String,
        /// Store an md5 hash (for old clients) instead of a SCRAM-SHA-256 verifier.
        #[arg(long)]
        md5: bool,
    },
    /// Write a starter project for your own data: segmint.toml, model/ mapping templates and
    /// copies of the shipped SQL assets to edit.
    Init {
        /// The folder to write (created if missing; existing files are kept).
        dir: PathBuf,
    },
    /// Check what a configuration serves (datasets, model entities, views, tags, reports,
    /// functions) and exit non-zero when something configured is broken.
    Check {
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// Generate the demo e-commerce dataset as Parquet.
    DemoData {
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Number of customers (about 3 orders each on average).
        #[arg(long, default_value_t = 20_000)]
        customers: u64,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// List the reports: schedule, time zone, period, outputs and last run.
    List {
        #[command(flatten)]
        sources: SourceArgs,
    },
    /// Run one report now (for cron, Airflow or a backfill) and print the files written.
    Run {
        /// The report name (see `segmint report list`).
        name: String,
        /// The last day to report on (YYYY-MM-DD, a UTC day); default: yesterday.
        #[arg(long, value_name = "DATE")]
        as_of: Option<chrono::NaiveDate>,
        /// Overrides the report's period: day, week, month, quarter, year or all.
        #[arg(long)]
        period: Option<segmint::reports::Period>,
        #[command(flatten)]
        sources: SourceArgs,
    },
}

#[derive(Debug, Args)]
struct SourceArgs {
    /// Configuration file (segmint.toml).
    #[arg(long, env = "SEGMINT_CONFIG")]
    config: Option<PathBuf>,
    /// Serve the built-in demo data (generated into a cache folder on first use).
    #[arg(long)]
    demo: bool,
    /// Register an extra dataset, NAME=URL (repeatable).
    #[arg(long = "dataset", value_name = "NAME=URL")]
    datasets: Vec<String>,
    /// The project folder: model/ mappings and sql/ assets (its segmint.toml is read when
    /// --config is not given).
    #[arg(long, env = "SEGMINT_PROJECT", value_name = "DIR")]
    project: Option<PathBuf>,
}

impl From<SourceArgs> for DataSources {
    fn from(args: SourceArgs) -> Self {
        DataSources {
            config: args.config,
            demo: args.demo,
            datasets: args.datasets,
            project: args.project,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("SEGMINT_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or pipeline gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> segmint::Result<()> {
    if let Command::DemoData {
        out,
        customers,
        seed,
        threads,
    } = &cli.command
    {
        let summary = app::demo_data(out, *customers, *seed, *threads)?;
        for (table, rows) in &summary.tables {
            println!("{table:<16} {rows:>12} rows");
        }
        let seconds = summary.elapsed.as_secs_f64();
        println!(
            "{} rows in {seconds:.2} s ({:.0} rows/s; orders {:.0}/s) -> {}",
            summary.total_rows(),
            summary.total_rows() as f64 / seconds.max(1e-9),
            summary.rows("orders") as f64 / seconds.max(1e-9),
            out.display()
        );
        return Ok(());
    }
    if let Command::Passwd { user, role, md5 } = &cli.command {
        return app::passwd(user, role, *md5);
    }
    if let Command::Init { dir } = &cli.command {
        return app::init(dir);
    }
    // Deep plans (a tag rule set is one CASE per tag) recurse deeply when they are planned and
    // serialized; Ballista's own binaries give their threads 32 MiB for the same reason.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .map_err(|e| segmint::SegmintError::io("starting the async runtime", e))?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve {
                sources,
                listen,
                cluster,
            } => {
                let mut config = app::load_config(&sources.into(), listen.as_deref())?;
                if let Some(scheduler) = cluster {
                    segmint::config::parse_scheduler_url(&scheduler)?;
                    config.cluster.scheduler = Some(scheduler);
                }
                app::serve(config).await
            }
            Command::Scheduler {
                bind,
                executor_timeout,
                sources,
            } => {
                let config = app::load_config(&sources.into(), None)?;
                let options = segmint::cluster::SchedulerOptions {
                    bind,
                    executor_timeout,
                };
                app::scheduler(config, options).await
            }
            Command::Executor {
                scheduler,
                bind,
                grpc_port,
                external_host,
                concurrent_tasks,
                work_dir,
                heartbeat,
                sources,
            } => {
                let config = app::load_config(&sources.into(), None)?;
                let options = segmint::cluster::ExecutorOptions {
                    scheduler,
                    bind,
                    external_host,
                    grpc_port,
                    concurrent_tasks,
                    work_dir,
                    heartbeat,
                };
                app::executor(config, options).await
            }
            Command::Sql {
                query,
                sources,
                format,
            } => {
                let config = app::load_config(&sources.into(), None)?;
                app::sql(config, &query, format).await.map(|_| ())
            }
            Command::Report { command } => match command {
                ReportCommand::List { sources } => {
                    let config = app::load_config(&sources.into(), None)?;
                    app::report_list(config).await
                }
                ReportCommand::Run {
                    name,
                    as_of,
                    period,
                    sources,
                } => {
                    let config = app::load_config(&sources.into(), None)?;
                    app::report_run(config, &name, as_of, period)
                        .await
                        .map(|_| ())
                }
            },
            Command::Check { sources } => {
                let config = app::load_config(&sources.into(), None)?;
                if app::check(config).await? {
                    Ok(())
                } else {
                    Err(segmint::SegmintError::ConfigInvalid(
                        "segmint check found problems (listed above)".to_string(),
                    ))
                }
            }
            Command::DemoData { .. } | Command::Passwd { .. } | Command::Init { .. } => Ok(()),
        }
    })
}
