//! # Segmint
//!
//! A PostgreSQL-compatible SQL engine for e-commerce customer analytics. Modules are listed in
//! dependency order: configuration → access (users, roles, row filters) → catalog (object
//! stores and datasets) → engine (DataFusion session with the CRM functions) → pgcompat (what
//! makes it look like PostgreSQL: catalog, pg functions, parser, rewrites, naming) →
//! observability (metrics, query log) → reports, protocol server and cluster processes (none
//! uses another); the demo-data generator and the command implementations sit beside them.

/// Implements `PartialEq`, `Eq` and `Hash` for a function struct by its SQL name: DataFusion
/// compares functions by these, and instances of one function are interchangeable.
macro_rules! udf_identity {
    ($t:ty, $name:literal) => {
        impl PartialEq for $t {
            fn eq(&self, _: &Self) -> bool {
                true
            }
        }
        impl Eq for $t {}
        impl std::hash::Hash for $t {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                $name.hash(state)
            }
        }
    };
}

pub mod config;
pub mod error;
pub mod project;
pub mod sqlstate;

pub mod access;

pub mod catalog;
pub mod engine;
pub mod model;
pub mod pgcompat;

pub mod observe;
pub mod reports;
pub mod server;

pub mod cluster;

pub mod demo;

pub mod app;
pub mod check;
pub mod init;
pub mod output;

pub use config::Config;
pub use engine::Engine;
pub use error::{Result, SegmintError};
pub use server::Server;
