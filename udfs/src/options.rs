//! Session-wide defaults for the CRM functions (`segmint.*` config keys).
//!
//! Spec references: RFM scores run 1..n with n = 5 by default (crm-reference §1.2); lifecycle
//! stages use 30 / 90 / 180 days for new / active / churned (crm-reference §2).

use std::ops::{Deref, DerefMut};

use datafusion::common::extensions_options;
use datafusion::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::Result;

extensions_options! {
    /// The values of [`FunctionOptions`], one field per `segmint.*` key.
    pub struct FunctionDefaults {
        /// Number of RFM score bins (scores run 1..=rfm_bins, higher is better).
        pub rfm_bins: usize, default = 5
        /// A customer whose first order is at most this many days old is `new`.
        pub lifecycle_new_days: u64, default = 30
        /// A customer whose last order is at most this many days old is `active`.
        pub lifecycle_active_days: u64, default = 90
        /// A customer whose last order is more than this many days old is `churned`.
        pub lifecycle_churn_days: u64, default = 180
        /// The analysis date `segmint_as_of()` returns (`YYYY-MM-DD`); empty means today.
        pub as_of: String, default = String::new()
    }
}

/// Defaults read by the CRM functions when a call does not pass the value itself: the
/// `segmint.*` config extension.
///
/// Its [`ExtensionOptions::entries`] carry the full `segmint.<key>` names (DataFusion's
/// generated options list bare keys), so a session's settings survive a round trip through
/// `ConfigOptions::entries` and `ConfigOptions::set`: that is how `SET segmint.<key>` reaches
/// cluster executors, and how `SHOW segmint.<key>` finds it.
#[derive(Debug, Clone, Default)]
pub struct FunctionOptions(pub FunctionDefaults);

impl Deref for FunctionOptions {
    type Target = FunctionDefaults;

    fn deref(&self) -> &FunctionDefaults {
        &self.0
    }
}

impl DerefMut for FunctionOptions {
    fn deref_mut(&mut self) -> &mut FunctionDefaults {
        &mut self.0
    }
}

impl ExtensionOptions for FunctionOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key
            .strip_prefix(Self::PREFIX)
            .and_then(|k| k.strip_prefix('.'))
            .unwrap_or(key);
        self.0.set(key, value)
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        self.0
            .entries()
            .into_iter()
            .map(|entry| ConfigEntry {
                key: format!("{}.{}", Self::PREFIX, entry.key),
                ..entry
            })
            .collect()
    }
}

impl ConfigExtension for FunctionOptions {
    const PREFIX: &'static str = "segmint";
}

impl FunctionOptions {
    /// The options of a session config, or the defaults when the extension is missing.
    pub fn from_config(config: &datafusion::config::ConfigOptions) -> FunctionOptions {
        config
            .extensions
            .get::<FunctionOptions>()
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::config::ConfigOptions;

    #[test]
    fn settings_survive_a_round_trip_through_entries() {
        let mut config = ConfigOptions::new();
        config.extensions.insert(FunctionOptions::default());
        config.set("segmint.lifecycle_active_days", "7").unwrap();
        let mut copy = ConfigOptions::new();
        copy.extensions.insert(FunctionOptions::default());
        for entry in config.entries() {
            if let Some(value) = entry.value {
                copy.set(&entry.key, &value).unwrap();
            }
        }
        assert_eq!(FunctionOptions::from_config(&copy).lifecycle_active_days, 7);
        assert!(config.entries().iter().any(|e| e.key == "segmint.rfm_bins"));
    }
}
