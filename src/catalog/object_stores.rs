//! Object stores per URL scheme: `s3://` (AWS and S3-compatible stores), `gs://`, `az://` /
//! `abfss://`, `http(s)://` and `file://`.
//!
//! A store is built for each bucket (scheme and host) from, in order, the standard environment
//! variables of its cloud (`AWS_*`, `GOOGLE_*`, `AZURE_*`, read as the cloud's own tools read
//! them), then the options of a matching `[[object_stores]]` entry, whose values may be
//! `${ENV_VAR}`. With neither, S3 falls back to the instance's credential provider chain.
//! Requests are retried a bounded number of times (`max_retries`, default 3, within
//! `retry_timeout`, default 15 s), so a stopped store fails queries quickly instead of hanging.
//!
//! Option values never leave this module: they are not logged, not in error messages (which
//! name the option, never its value) and not in any session setting.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::{ClientConfigKey, RetryConfig};
use url::Url;

use super::counting_store::{CountingStore, RequestCounts, RequestSnapshot};
use crate::config::{ObjectStoreConfig, expand_env};
use crate::error::first_line;
use crate::error::{Result, SegmintError};

/// Default number of retries of a failed request.
const DEFAULT_MAX_RETRIES: usize = 3;
/// Default bound on the time spent retrying one request.
const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(15);

/// The stores of every bucket the catalog reads, built on first use and registered in the
/// runtime, each wrapped to count its requests.
pub struct ObjectStores {
    runtime: Arc<RuntimeEnv>,
    configs: Vec<(Url, BTreeMap<String, String>)>,
    counts: Mutex<BTreeMap<String, Arc<RequestCounts>>>,
}

impl ObjectStores {
    /// Checks the configured stores and registers them (a missing `${VAR}` or an unknown
    /// option is reported now, not at the first query).
    pub fn new(runtime: Arc<RuntimeEnv>, configs: &[ObjectStoreConfig]) -> Result<ObjectStores> {
        let stores = ObjectStores {
            runtime,
            configs: parse_configs(configs)?,
            counts: Mutex::new(BTreeMap::new()),
        };
        for (url, _) in &stores.configs {
            stores.register(url)?;
        }
        stores.register(&local_root())?;
        Ok(stores)
    }

    /// Makes sure a store serves `url`, building one when the bucket is new.
    pub fn ensure(&self, url: &Url) -> Result<()> {
        let registered = ObjectStoreUrl::parse(store_key(url).as_str())
            .is_ok_and(|key| self.runtime.object_store(key).is_ok());
        if registered {
            return Ok(());
        }
        self.register(url)
    }

    /// The store serving `url` (built when the bucket is new), for writing files directly.
    pub fn store_for(&self, url: &Url) -> Result<Arc<dyn object_store::ObjectStore>> {
        self.ensure(url)?;
        let key = ObjectStoreUrl::parse(store_key(url).as_str())?;
        Ok(self.runtime.object_store(key)?)
    }

    fn register(&self, url: &Url) -> Result<()> {
        let key = store_key(url);
        let options = options_for(&self.configs, &key);
        let store = build_store(url, &options).map_err(|message| SegmintError::ObjectStore {
            url: key.to_string(),
            message,
        })?;
        let counts = Arc::new(RequestCounts::default());
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(key.to_string(), counts.clone());
        self.runtime
            .register_object_store(&key, Arc::new(CountingStore::new(store, counts)));
        tracing::info!(store = %key, "object store ready");
        Ok(())
    }

    /// Requests sent to each store since start, by store URL.
    pub fn request_counts(&self) -> Vec<(String, RequestSnapshot)> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(url, counts)| (url.clone(), counts.snapshot()))
            .collect()
    }
}

/// An object-store registry that builds the store of a bucket the first time a plan reads
/// it, from the same `[[object_stores]]` entries and environment as the server: what cluster
/// schedulers and executors use, since the server's plans name buckets they have not seen.
#[derive(Debug)]
pub struct OnDemandStores {
    configs: Vec<(Url, BTreeMap<String, String>)>,
    built: datafusion::execution::object_store::DefaultObjectStoreRegistry,
}

impl OnDemandStores {
    /// A registry for `configs`, whose stores are built now (a bad URL, option or `${VAR}` is
    /// reported at start).
    pub fn new(configs: &[ObjectStoreConfig]) -> Result<OnDemandStores> {
        let stores = OnDemandStores {
            configs: parse_configs(configs)?,
            built: Default::default(),
        };
        // Configured stores are built now: a missing ${VAR} or a misspelled option is
        // reported when the process starts, not at its first task.
        for (url, _) in &stores.configs {
            datafusion::execution::object_store::ObjectStoreRegistry::get_store(&stores, url)
                .map_err(|e| SegmintError::ObjectStore {
                    url: store_key(url).to_string(),
                    message: first_line(&e.to_string()),
                })?;
        }
        Ok(stores)
    }
}

impl datafusion::execution::object_store::ObjectStoreRegistry for OnDemandStores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.built.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.built.get_store(url) {
            return Ok(store);
        }
        let key = store_key(url);
        let options = options_for(&self.configs, &key);
        let store = build_store(url, &options).map_err(|message| {
            datafusion::error::DataFusionError::External(Box::new(SegmintError::ObjectStore {
                url: key.to_string(),
                message,
            }))
        })?;
        tracing::info!(store = %key, "object store ready");
        self.built.register_store(&key, store.clone());
        Ok(store)
    }
}

/// The `[[object_stores]]` entries with their URLs parsed (a bad URL is an error now).
fn parse_configs(configs: &[ObjectStoreConfig]) -> Result<Vec<(Url, BTreeMap<String, String>)>> {
    configs
        .iter()
        .map(|config| {
            let url = Url::parse(&config.url).map_err(|e| SegmintError::ObjectStore {
                url: config.url.clone(),
                message: e.to_string(),
            })?;
            Ok((url, config.options.clone()))
        })
        .collect()
}

/// The options of the entry for the store `key` (none when no entry names it).
fn options_for(configs: &[(Url, BTreeMap<String, String>)], key: &Url) -> BTreeMap<String, String> {
    configs
        .iter()
        .find(|(configured, _)| store_key(configured) == *key)
        .map(|(_, options)| options.clone())
        .unwrap_or_default()
}

/// The scheme and bucket (or host) of `url`: what one store serves.
fn store_key(url: &Url) -> Url {
    let mut key = url.clone();
    let _ = key.set_username("");
    let _ = key.set_password(None);
    key.set_path("");
    key.set_query(None);
    key.set_fragment(None);
    key
}

fn local_root() -> Url {
    Url::parse("file:///").expect("a constant URL")
}

/// Builds the store for `url`'s bucket. Errors name options, never their values.
fn build_store(
    url: &Url,
    options: &BTreeMap<String, String>,
) -> std::result::Result<Arc<dyn ObjectStore>, String> {
    let mut resolved = BTreeMap::new();
    for (key, value) in options {
        let value = expand_env(value).map_err(|e| e.to_string())?;
        resolved.insert(key.to_ascii_lowercase(), value);
    }
    let retry = retry_config(&mut resolved)?;
    let built = |e: object_store::Error| first_line(&e.to_string());
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => Arc::new(LocalFileSystem::new().with_automatic_cleanup(true)),
        "s3" | "s3a" => {
            let builder = apply(
                AmazonS3Builder::from_env().with_url(url.as_str()),
                &resolved,
                AmazonS3Builder::with_config,
            )?;
            Arc::new(builder.with_retry(retry).build().map_err(built)?)
        }
        "gs" => {
            let builder = apply(
                GoogleCloudStorageBuilder::from_env().with_url(url.as_str()),
                &resolved,
                GoogleCloudStorageBuilder::with_config,
            )?;
            Arc::new(builder.with_retry(retry).build().map_err(built)?)
        }
        "az" | "azure" | "abfs" | "abfss" | "adl" => {
            let builder = apply(
                MicrosoftAzureBuilder::from_env().with_url(url.as_str()),
                &resolved,
                MicrosoftAzureBuilder::with_config,
            )?;
            Arc::new(builder.with_retry(retry).build().map_err(built)?)
        }
        "http" | "https" => {
            let mut builder = HttpBuilder::new().with_url(store_key(url).as_str());
            if url.scheme() == "http" {
                builder = builder.with_config(ClientConfigKey::AllowHttp, "true");
            }
            let builder = apply(builder, &resolved, HttpBuilder::with_config)?;
            Arc::new(builder.with_retry(retry).build().map_err(built)?)
        }
        other => {
            return Err(format!(
                "URL scheme '{other}://' is not supported; use s3://, gs://, az://, abfss://, \
                 http(s):// or file://"
            ));
        }
    };
    Ok(store)
}

/// Takes Segmint's own retry options out of `options`.
fn retry_config(
    options: &mut BTreeMap<String, String>,
) -> std::result::Result<RetryConfig, String> {
    let mut retry = RetryConfig {
        max_retries: DEFAULT_MAX_RETRIES,
        retry_timeout: DEFAULT_RETRY_TIMEOUT,
        ..RetryConfig::default()
    };
    if let Some(value) = options.remove("max_retries") {
        retry.max_retries = value
            .trim()
            .parse()
            .map_err(|_| "option max_retries must be a whole number".to_string())?;
    }
    if let Some(value) = options.remove("retry_timeout") {
        retry.retry_timeout = humantime::parse_duration(value.trim())
            .map_err(|_| "option retry_timeout must be a duration like 15s".to_string())?;
    }
    Ok(retry)
}

/// Applies every option to a builder, refusing unknown option names.
fn apply<B, K>(
    mut builder: B,
    options: &BTreeMap<String, String>,
    set: fn(B, K, String) -> B,
) -> std::result::Result<B, String>
where
    K: FromStr,
{
    for (key, value) in options {
        let parsed = K::from_str(key).map_err(|_| format!("unknown option '{key}'"))?;
        builder = set(builder, parsed, value.clone());
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_scheme_builds_a_store() {
        let s3 = options(&[
            ("endpoint", "http://127.0.0.1:9000"),
            ("region", "us-east-1"),
            ("access_key_id", "AKID"),
            ("secret_access_key", "not-a-real-secret"),
            ("allow_http", "true"),
        ]);
        for (url, options) in [
            ("s3://lake/crm/", s3),
            (
                "gs://lake/crm/",
                options(&[("service_account_key", "{}"), ("skip_signature", "true")]),
            ),
            (
                "az://lake/crm/",
                options(&[("account_name", "shop"), ("skip_signature", "true")]),
            ),
            ("https://data.example.com/orders.parquet", options(&[])),
            ("file:///tmp/", options(&[])),
        ] {
            let url = Url::parse(url).unwrap();
            if let Err(error) = build_store(&url, &options) {
                // GCS needs a parsable service account; the point is the scheme is served.
                assert!(url.scheme() == "gs", "{url}: {error}");
            }
        }
    }

    #[test]
    fn unknown_options_and_schemes_are_named_without_values() {
        let url = Url::parse("s3://lake/").unwrap();
        let error = build_store(&url, &options(&[("secret_acces_key", "hunter2")]))
            .expect_err("typo refused");
        assert!(error.contains("secret_acces_key"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let error = build_store(&Url::parse("ftp://host/x").unwrap(), &options(&[]))
            .expect_err("ftp refused");
        assert!(error.contains("ftp"), "{error}");
    }

    #[test]
    fn retries_are_bounded_and_configurable() {
        let mut opts = options(&[("max_retries", "1"), ("retry_timeout", "2s")]);
        let retry = retry_config(&mut opts).unwrap();
        assert_eq!(retry.max_retries, 1);
        assert_eq!(retry.retry_timeout, Duration::from_secs(2));
        assert!(opts.is_empty(), "Segmint's options are not passed on");
        assert!(retry_config(&mut options(&[("max_retries", "many")])).is_err());
    }
}
