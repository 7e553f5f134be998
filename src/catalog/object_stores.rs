//! Object stores per URL scheme.
//!
//! `file://` is always available. Other schemes are configured in `[[object_stores]]` with an
//! options table; this build serves local files only, and says so plainly for any other scheme
//! rather than failing later with a confusing listing error.

use datafusion::execution::runtime_env::RuntimeEnv;
use url::Url;

use crate::config::{ObjectStoreConfig, expand_env};
use crate::error::{Result, SegmintError};

/// Registers the configured object stores in the runtime environment.
pub fn register_object_stores(runtime: &RuntimeEnv, stores: &[ObjectStoreConfig]) -> Result<()> {
    for store in stores {
        let fail = |message: String| SegmintError::ObjectStore {
            url: store.url.clone(),
            message,
        };
        let url = Url::parse(&store.url).map_err(|e| fail(e.to_string()))?;
        // Resolve `${VAR}` now so a missing secret is reported at start, not at first query.
        for value in store.options.values() {
            expand_env(value)?;
        }
        match url.scheme() {
            "file" => {
                let local = std::sync::Arc::new(object_store::local::LocalFileSystem::new());
                runtime.register_object_store(&url, local);
            }
            other => {
                return Err(fail(format!(
                    "URL scheme '{other}://' is not supported by this build; \
                     datasets can be read from file:// locations"
                )));
            }
        }
    }
    Ok(())
}
