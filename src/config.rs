//! `segmint.toml`: what to serve, where the data lives, and how the engine runs.
//!
//! Precedence is file → environment → command-line flags: the file is read first, then
//! `main` applies `SEGMINT_*` variables and flags on top. Unknown keys are rejected so a typo
//! never silently falls back to a default. Secrets are never written in the file: any string
//! value in `[object_stores.options]` may be `${ENV_VAR}`, resolved when the store is built.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, SegmintError};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The PostgreSQL wire-protocol listener.
    pub server: ServerConfig,
    /// DataFusion session and runtime settings.
    pub engine: EngineConfig,
    /// Parquet (or CSV / JSON) datasets, each registered as a table.
    pub datasets: Vec<DatasetConfig>,
    /// Object stores for URL prefixes (credentials, endpoints).
    pub object_stores: Vec<ObjectStoreConfig>,
    /// Defaults for the CRM functions, settable per session with `SET segmint.<key> = ...`.
    pub functions: BTreeMap<String, String>,
    /// Where `--demo` keeps its generated data and how much it generates.
    pub demo: DemoConfig,
    /// DDL over the wire (saved segments, external and materialised tables) and dataset refresh.
    pub catalog: CatalogConfig,
    /// Scheduled goal-breakdown reports: definitions, goal tree, where outputs go.
    pub reports: ReportsConfig,
    /// Who may log in: names, stored passwords (`segmint passwd`) and roles.
    pub users: Vec<UserConfig>,
    /// What each role may read and do, and the row filter applied to its queries.
    pub roles: Vec<RoleConfig>,
    /// The project folder: the shop's model mappings and its own SQL assets.
    pub project: ProjectConfig,
    /// Where the customer model's mappings (`<entity>.sql`) are.
    pub model: ModelConfig,
    /// A Ballista cluster that runs query execution (`segmint serve --cluster`).
    pub cluster: ClusterConfig,
    /// Customer indexes on datasets (`CREATE INDEX` over the wire does the same).
    pub indexes: Vec<IndexConfig>,
}

/// `[[indexes]]`: an index on one column of a Parquet dataset, which the planner uses for
/// `column = value` and `column IN (...)` (one customer's orders, say). Built at start, kept
/// under `[catalog] dir` when there is one, extended when a refresh finds new files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexConfig {
    /// The index name (a lowercase identifier, not a table's).
    pub name: String,
    /// The dataset it is on.
    pub dataset: String,
    /// The column it maps to rows (integer or text).
    pub column: String,
}

/// `[cluster]`: send query execution to an Apache DataFusion Ballista cluster, whose
/// scheduler and executors are `segmint scheduler` and `segmint executor` processes started
/// with the same config file. Planning, the catalog, roles and row filters stay in the server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The scheduler, `df://HOST:PORT` (`--cluster` overrides it). Unset: run locally.
    pub scheduler: Option<String>,
    /// Local folders every executor sees at the same path (a shared mount): datasets under
    /// them may be read by the cluster. Other local paths are refused for cluster execution.
    pub shared_paths: Vec<PathBuf>,
}

/// `[project]`: a folder laid out like Segmint's `sql/` (views, tags, segments, goals,
/// reports, functions) plus `model/`, whose files replace the shipped ones of the same name
/// and add new ones, read at start: no rebuild to change a tag threshold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectConfig {
    /// The project folder (relative paths are read from the config file's folder).
    pub dir: Option<PathBuf>,
}

/// `[model]`: the shop's mappings onto Segmint's customer model (docs/model.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Folder of `<entity>.sql` mappings; default `model/` in the project folder.
    pub dir: Option<PathBuf>,
}

impl Config {
    /// The folder of model mappings, if any: `[model] dir`, else `<project>/model`.
    pub fn model_dir(&self) -> Option<PathBuf> {
        self.model
            .dir
            .clone()
            .or_else(|| self.project.dir.as_ref().map(|dir| dir.join("model")))
    }

    /// Reads relative folder settings from `base` (the config file's folder).
    fn resolve_relative(&mut self, base: &Path) {
        let resolve = |path: &mut Option<PathBuf>| {
            if let Some(p) = path.as_mut()
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.project.dir);
        resolve(&mut self.model.dir);
        resolve(&mut self.reports.dir);
        resolve(&mut self.reports.goals_dir);
        resolve(&mut self.catalog.dir);
        let resolve_url = |url: &mut Option<String>| {
            if let Some(u) = url.as_mut()
                && !u.contains("://")
                && Path::new(u.as_str()).is_relative()
            {
                *u = base.join(u.as_str()).to_string_lossy().into_owned();
            }
        };
        for dataset in &mut self.datasets {
            let mut url = Some(std::mem::take(&mut dataset.url));
            resolve_url(&mut url);
            dataset.url = url.unwrap_or_default();
        }
        resolve_url(&mut self.reports.output_url);
        resolve_url(&mut self.catalog.tables_url);
        for path in &mut self.cluster.shared_paths {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

/// The host and port of a Ballista scheduler URL, `df://HOST:PORT` (port 50050 when left
/// out).
pub fn parse_scheduler_url(url: &str) -> Result<(String, u16)> {
    let bad = |why: &str| {
        invalid(format!(
            "cluster scheduler '{url}': {why} (expected df://HOST:PORT, e.g. df://10.0.0.5:50050)"
        ))
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    if parsed.scheme() != "df" {
        return Err(bad("the scheme must be df://"));
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    Ok((host.to_string(), parsed.port().unwrap_or(50050)))
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthMethod {
    /// Anyone may log in as any configured user (as anyone at all when no users are
    /// configured): only on loopback, or when set explicitly.
    #[serde(rename = "trust")]
    Trust,
    /// MD5 challenge for users stored with an md5 hash; SCRAM for users with a verifier.
    #[serde(rename = "md5")]
    Md5,
    /// SCRAM-SHA-256 (the default when users are configured).
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

/// One login.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name clients log in with.
    pub name: String,
    /// The stored password: a SCRAM-SHA-256 verifier or an md5 hash from `segmint passwd`
    /// (plain text is refused). Not needed under `auth = "trust"`.
    #[serde(default)]
    pub password: Option<String>,
    /// The role: `admin`, `analyst` or one from `[[roles]]`.
    #[serde(default = "default_role")]
    pub role: String,
}

fn default_role() -> String {
    "analyst".to_string()
}

/// Shows no password hash.
impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("role", &self.role)
            .finish()
    }
}

/// A role: what its users may read, and whether they administer the server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// The role name users refer to.
    pub name: String,
    /// Administrators read everything and may run DDL, refresh datasets and run reports.
    #[serde(default)]
    pub admin: bool,
    /// Tables and views of the `public` schema the role may read; `["*"]` for all.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// Other schemas the role may read whole (`reports`, `goals`, `segmint`); `["*"]` for all.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// A predicate (`region = 'east'`) applied to every table of `public` the role reads.
    /// A table without the columns it names is refused unless `row_filters` has an entry for it.
    #[serde(default)]
    pub row_filter: Option<String>,
    /// Per-table predicates replacing `row_filter` for that table (`"true"` reads it whole);
    /// they may use subqueries: `customer_id IN (SELECT customer_id FROM customers WHERE ...)`.
    #[serde(default)]
    pub row_filters: BTreeMap<String, String>,
}

/// What to do about scheduled runs that fell while the server was down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedRuns {
    /// Run each report's most recent missed run once at start; older missed runs are not
    /// replayed (`segmint report run NAME --as-of DATE` backfills them).
    #[default]
    Latest,
    /// Run nothing at start: wait for the next scheduled time.
    Skip,
}

/// Scheduled reports (`sql/reports/*.sql`) and the goal tree (`sql/goals/`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Folder of report definitions added to (or replacing, by name) the shipped ones.
    pub dir: Option<PathBuf>,
    /// Folder holding `goals.toml` and `targets.csv`; default: the shipped goal tree.
    pub goals_dir: Option<PathBuf>,
    /// Where runs write their Parquet, CSV and HTML (`s3://lake/reports/`, a local folder).
    /// Without it reports cannot run, and no `reports` tables are served.
    pub output_url: Option<String>,
    /// Run reports on their schedules inside `segmint serve` (default: on when
    /// `output_url` is set).
    pub scheduler: Option<bool>,
    /// Scheduled runs missed while the server was down: `"latest"` or `"skip"`.
    pub missed_runs: MissedRuns,
}

/// What SQL may change in the catalog, where those changes are kept, and how often datasets
/// are listed again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Allows administrators (role `admin`, or a `[[roles]]` entry with `admin = true`)
    /// `CREATE VIEW`, `CREATE EXTERNAL TABLE`, `CREATE TABLE AS`, `DROP` and `REFRESH DATASET`;
    /// other roles get 42501. Off: the endpoint is read-only for everyone (25006).
    pub allow_ddl: bool,
    /// Folder where DDL is kept (one `<name>.sql` per saved object), replayed at start.
    pub dir: Option<PathBuf>,
    /// URL prefixes `CREATE EXTERNAL TABLE` may read (`s3://lake/crm/`, `file:///data/`);
    /// any other location is refused.
    pub allowed_locations: Vec<String>,
    /// Where `CREATE TABLE AS` writes Parquet (`s3://lake/segmint/tables/`), one folder per
    /// table and version. At start, unfinished writes and superseded versions are removed.
    pub tables_url: Option<String>,
    /// How often every dataset is listed again so new files become visible (`"60s"`, `"5m"`;
    /// `"0s"` turns periodic listing off, leaving `REFRESH DATASETS`).
    pub refresh_interval: String,
    /// Memory for cached file listings of all datasets (`"64MiB"`).
    pub list_cache_size: String,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            allow_ddl: false,
            dir: None,
            allowed_locations: vec![],
            tables_url: None,
            refresh_interval: "60s".to_string(),
            list_cache_size: "64MiB".to_string(),
        }
    }
}

impl ReportsConfig {
    /// Whether `segmint serve` runs reports on their schedules.
    pub fn scheduler_enabled(&self) -> bool {
        self.output_url.is_some() && self.scheduler.unwrap_or(true)
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<()> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|e| invalid(format!("server.listen '{}': {e}", self.listen)))?;
        if self.max_connections == 0 {
            return Err(invalid("server.max_connections must be at least 1".into()));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) | (None, Some(_)) => {
                return Err(invalid(
                    "server.tls_cert and server.tls_key go together".into(),
                ));
            }
            (None, None) if self.require_tls => {
                return Err(invalid(
                    "server.require_tls needs server.tls_cert and server.tls_key".into(),
                ));
            }
            _ => {}
        }
        if let Some(addr) = &self.metrics_listen {
            addr.parse::<SocketAddr>()
                .map_err(|e| invalid(format!("server.metrics_listen '{addr}': {e}")))?;
        }
        for (key, value) in [
            ("statement_timeout", &self.statement_timeout),
            ("idle_session_timeout", &self.idle_session_timeout),
        ] {
            parse_duration_setting(value)
                .map_err(|e| invalid(format!("server.{key} '{value}': {e}")))?;
        }
        Ok(())
    }

    /// The default statement timeout; `None` for none.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        parse_duration_setting(&self.statement_timeout)
            .ok()
            .flatten()
    }

    /// How long a session may sit idle; `None` for ever.
    pub fn idle_session_timeout(&self) -> Option<std::time::Duration> {
        parse_duration_setting(&self.idle_session_timeout)
            .ok()
            .flatten()
    }
}

/// Reads a duration setting: `"0"` means none; a bare number is milliseconds, as in PostgreSQL.
pub fn parse_duration_setting(
    text: &str,
) -> std::result::Result<Option<std::time::Duration>, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(ms) => std::time::Duration::from_millis(ms),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    Ok((!duration.is_zero()).then_some(duration))
}

impl CatalogConfig {
    /// The periodic refresh interval; `None` when turned off.
    pub fn refresh_every(&self) -> Result<Option<std::time::Duration>> {
        let every = humantime::parse_duration(self.refresh_interval.trim()).map_err(|e| {
            invalid(format!(
                "catalog.refresh_interval '{}': {e}",
                self.refresh_interval
            ))
        })?;
        Ok((!every.is_zero()).then_some(every))
    }
}

/// Listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:5433`; port 0 picks a free port).
    pub listen: String,
    /// Connections served at once; further clients get SQLSTATE 53300.
    pub max_connections: usize,
    /// The database name reported to clients (`current_database()`).
    pub database: String,
    /// How clients log in; default `scram-sha-256` with `[[users]]`, else `trust` (which is
    /// refused on a non-loopback address unless set here explicitly).
    pub auth: Option<AuthMethod>,
    /// PEM certificate chain for TLS; with `tls_key`, clients may use `sslmode=require`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Refuse clients that do not use TLS (SQLSTATE 28000).
    pub require_tls: bool,
    /// Default `statement_timeout` of every session (`"30s"`, `"0"` for none); planning and
    /// execution together, ended with SQLSTATE 57014.
    pub statement_timeout: String,
    /// Close sessions idle this long (`"30m"`; `"0"` for never), with SQLSTATE 57P05.
    pub idle_session_timeout: String,
    /// Most rows one statement may return (0: no cap); more ends it with SQLSTATE 54000.
    pub max_result_rows: u64,
    /// Keep the results of small deterministic queries (under 1 MiB) for repeated dashboard
    /// queries, until the next DDL or dataset refresh.
    pub cache_results: bool,
    /// Address of the HTTP endpoint with Prometheus metrics (`/metrics`) and a health check
    /// (`/health`), such as `127.0.0.1:9187`; none when unset.
    pub metrics_listen: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:5433".to_string(),
            max_connections: 100,
            database: "segmint".to_string(),
            auth: None,
            tls_cert: None,
            tls_key: None,
            require_tls: false,
            statement_timeout: "0".to_string(),
            idle_session_timeout: "0".to_string(),
            max_result_rows: 0,
            cache_results: true,
            metrics_listen: None,
        }
    }
}

/// Engine settings shared by every session.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Memory pool size for all queries together, e.g. `"4GiB"`; unlimited when absent.
    pub memory_limit: Option<String>,
    /// Memory one query may hold before its sorts, joins and aggregations spill to disk
    /// (`"512MiB"`); a query that still does not fit fails alone with SQLSTATE 53200.
    pub query_memory_limit: Option<String>,
    /// Directory for spill files of sorts, joins and aggregations.
    pub spill_dir: Option<PathBuf>,
    /// Parallelism of plans; defaults to the number of cores.
    pub target_partitions: Option<usize>,
    /// Any DataFusion option, by its full key (`datafusion.execution.batch_size = "8192"`).
    pub options: BTreeMap<String, String>,
}

/// File format of a dataset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetFormat {
    /// Apache Parquet (the default).
    #[default]
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON.
    Json,
}

impl DatasetFormat {
    /// The file extension listed under a dataset prefix.
    pub fn extension(self) -> &'static str {
        match self {
            DatasetFormat::Parquet => ".parquet",
            DatasetFormat::Csv => ".csv",
            DatasetFormat::Json => ".json",
        }
    }
}

/// One dataset: a table name and where its files are.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// The table name used in SQL.
    pub name: String,
    /// A file, a prefix ending in `/`, or a glob (`file:///data/orders/`, `/data/x.parquet`).
    pub url: String,
    /// The file format.
    #[serde(default)]
    pub format: DatasetFormat,
    /// Hive partition columns (`key=value` folders); found from the folders when absent.
    #[serde(default)]
    pub partition_columns: Option<Vec<String>>,
    /// A local path that every cluster executor sees at the same place (a shared mount), so
    /// the cluster may read it. Object-store URLs need no marking.
    #[serde(default)]
    pub shared: bool,
}

/// Settings for the object store serving one URL prefix (`s3://bucket`, `file://`).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStoreConfig {
    /// The store's URL prefix: scheme and bucket/container/host.
    pub url: String,
    /// Store options (`endpoint`, `region`, `access_key_id`...); values may be `${ENV_VAR}`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// Shows option names only: values may be secrets.
impl std::fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreConfig")
            .field("url", &self.url)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Demo data settings for `serve --demo` and `sql --demo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Cache directory for generated data; `$XDG_CACHE_HOME/segmint` or `~/.cache/segmint`.
    pub cache_dir: Option<PathBuf>,
    /// Number of customers to generate (about 3 orders each on average).
    pub customers: u64,
    /// Seed: the same seed always gives the same data.
    pub seed: u64,
    /// Set by `--demo` (never read from the file): the server serves the demo shop, and on
    /// its first start runs the reports once for the demo's last complete month.
    #[serde(skip)]
    pub serving: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            cache_dir: None,
            customers: 20_000,
            seed: 42,
            serving: false,
        }
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| SegmintError::ConfigRead {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::from_toml(&text).map_err(|e| match e {
            SegmintError::ConfigParse { message, .. } => SegmintError::ConfigParse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve_relative(if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        });
        Ok(config)
    }

    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| SegmintError::ConfigParse {
            path: PathBuf::from("<string>"),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<()> {
        if let Some(limit) = &self.engine.memory_limit {
            parse_byte_size(limit)?;
        }
        if let Some(limit) = &self.engine.query_memory_limit {
            parse_byte_size(limit)?;
        }
        self.server.validate()?;
        self.validate_auth()?;
        if self.reports.scheduler == Some(true) && self.reports.output_url.is_none() {
            return Err(invalid(
                "reports.scheduler needs reports.output_url: where the runs write".into(),
            ));
        }
        if self.engine.target_partitions == Some(0) {
            return Err(invalid(
                "engine.target_partitions must be at least 1".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for dataset in &self.datasets {
            if !is_identifier(&dataset.name) {
                return Err(invalid(format!(
                    "dataset name '{}' must be a lowercase SQL identifier ([a-z_][a-z0-9_]*)",
                    dataset.name
                )));
            }
            if !seen.insert(dataset.name.as_str()) {
                return Err(invalid(format!(
                    "dataset '{}' is defined twice",
                    dataset.name
                )));
            }
        }
        self.catalog.refresh_every()?;
        parse_byte_size(&self.catalog.list_cache_size)?;
        if self.catalog.allow_ddl && self.catalog.dir.is_none() {
            return Err(invalid(
                "catalog.allow_ddl needs catalog.dir, where created objects are kept".into(),
            ));
        }
        if self.demo.customers == 0 {
            return Err(invalid("demo.customers must be at least 1".into()));
        }
        if let Some(scheduler) = &self.cluster.scheduler {
            parse_scheduler_url(scheduler)?;
        }
        Ok(())
    }

    /// Trust only on loopback or when asked for; password methods need users.
    fn validate_auth(&self) -> Result<()> {
        let loopback = self.listen_addr()?.ip().is_loopback();
        match self.server.auth {
            None if self.users.is_empty() && !loopback => Err(invalid(format!(
                "server.listen {} is reachable from other machines but no [[users]] are \
                 configured: add users (make their passwords with `segmint passwd NAME`), or set \
                 server.auth = \"trust\" to let anyone in",
                self.server.listen
            ))),
            Some(AuthMethod::Md5 | AuthMethod::ScramSha256) if self.users.is_empty() => Err(
                invalid("server.auth asks for passwords but no [[users]] are configured".into()),
            ),
            _ => Ok(()),
        }
    }

    /// The authentication method in force.
    pub fn auth_method(&self) -> AuthMethod {
        self.server.auth.unwrap_or(if self.users.is_empty() {
            AuthMethod::Trust
        } else {
            AuthMethod::ScramSha256
        })
    }

    /// The address of the metrics endpoint, when one is configured.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>> {
        self.server
            .metrics_listen
            .as_deref()
            .map(|addr| {
                addr.parse()
                    .map_err(|e| invalid(format!("server.metrics_listen '{addr}': {e}")))
            })
            .transpose()
    }

    /// The wire-protocol listen address, already validated.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.server
            .listen
            .parse()
            .map_err(|e| invalid(format!("listen address '{}': {e}", self.server.listen)))
    }
}

fn invalid(message: String) -> SegmintError {
    SegmintError::ConfigInvalid(message)
}

/// True for names usable unquoted in SQL.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses `"512MiB"`, `"4GiB"`, `"2G"`, `"1048576"` into bytes.
pub fn parse_byte_size(text: &str) -> Result<usize> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| invalid(format!("size '{text}' must look like 512MiB or 4GiB")))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(invalid(format!("unknown size unit '{other}' in '{text}'"))),
    };
    Ok((number * multiplier) as usize)
}

/// Replaces every `${NAME}` in `value` with the environment variable `NAME`.
///
/// A missing variable is an error naming the variable (never its would-be value).
pub fn expand_env(value: &str) -> Result<String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(format!("unterminated '${{' in config value '{value}'")))?;
        let name = &after[..end];
        let resolved = std::env::var(name)
            .map_err(|_| invalid(format!("environment variable {name} is not set")))?;
        out.push_str(&resolved);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let config = Config::from_toml("").expect("empty config is valid");
        assert_eq!(config.server.listen, "127.0.0.1:5433");
        assert_eq!(config.server.database, "segmint");
    }

    #[test]
    fn full_file_parses() {
        let config = Config::from_toml(
            r#"
            [server]
            listen = "0.0.0.0:6000"
            auth = "trust"
            max_connections = 10
            [engine]
            memory_limit = "2GiB"
            target_partitions = 4
            options = { "datafusion.execution.batch_size" = "4096" }
            [[datasets]]
            name = "orders"
            url = "file:///data/orders/"
            partition_columns = ["order_month"]
            [[object_stores]]
            url = "s3://lake"
            options = { region = "eu-west-1", secret_access_key = "${AWS_SECRET_ACCESS_KEY}" }
            [functions]
            lifecycle_new_days = "45"
            "#,
        )
        .expect("valid config");
        assert_eq!(config.datasets[0].format, DatasetFormat::Parquet);
        assert_eq!(config.engine.target_partitions, Some(4));
        assert_eq!(config.functions["lifecycle_new_days"], "45");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = Config::from_toml("[server]\nlisten_addr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(Config::from_toml("[server]\nlisten = \"nowhere\"").is_err());
        assert!(Config::from_toml("[engine]\nmemory_limit = \"lots\"").is_err());
        let twice = "[[datasets]]\nname='a'\nurl='/x'\n[[datasets]]\nname='a'\nurl='/y'";
        assert!(Config::from_toml(twice).is_err());
        assert!(Config::from_toml("[[datasets]]\nname='Bad-Name'\nurl='/x'").is_err());
    }

    #[test]
    fn catalog_settings_are_checked() {
        let config = Config::from_toml(
            "[catalog]\nallow_ddl = true\ndir = '/tmp/c'\nrefresh_interval = '5m'",
        )
        .expect("valid");
        assert_eq!(
            config.catalog.refresh_every().unwrap(),
            Some(std::time::Duration::from_secs(300))
        );
        let off = Config::from_toml("[catalog]\nrefresh_interval = '0s'").expect("valid");
        assert_eq!(off.catalog.refresh_every().unwrap(), None);
        assert!(Config::from_toml("[catalog]\nrefresh_interval = 'often'").is_err());
        assert!(Config::from_toml("[catalog]\nallow_ddl = true").is_err());
    }

    #[test]
    fn store_secrets_are_not_debug_printed() {
        let config = Config::from_toml(
            "[[object_stores]]\nurl = 's3://lake'\noptions = { secret_access_key = 'hunter2' }",
        )
        .expect("valid");
        let printed = format!("{config:?}");
        assert!(printed.contains("secret_access_key"), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("1024").unwrap(), 1024);
        assert_eq!(parse_byte_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_byte_size("4G").unwrap(), 4 << 30);
        assert!(parse_byte_size("4 parsecs").is_err());
    }

    #[test]
    fn env_expansion() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("SEGMINT_TEST_SECRET", "s3cr3t") };
        assert_eq!(
            expand_env("k=${SEGMINT_TEST_SECRET}!").unwrap(),
            "k=s3cr3t!"
        );
        let err = expand_env("${SEGMINT_TEST_MISSING_VAR}").unwrap_err();
        assert!(err.to_string().contains("SEGMINT_TEST_MISSING_VAR"));
        assert!(!err.to_string().contains("s3cr3t"));
    }
}
