//! Session-wide defaults for the CRM functions (`segmint.*` config keys).
//!
//! Spec references: RFM scores run 1..n with n = 5 by default (crm-reference §1.2); lifecycle
//! stages use 30 / 90 / 180 days for new / active / churned (crm-reference §2).

use datafusion::common::extensions_options;
use datafusion::config::ConfigExtension;

extensions_options! {
    /// Defaults read by the CRM functions when a call does not pass the value itself.
    pub struct FunctionOptions {
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
