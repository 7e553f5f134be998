//! # Segmint
//!
//! A PostgreSQL-compatible SQL engine for e-commerce customer analytics. Modules are listed in
//! dependency order: configuration → catalog (object stores and datasets) → engine
//! (DataFusion session with the CRM functions) → protocol server; the demo-data generator and
//! the command implementations sit beside them.

pub mod config;
pub mod error;

pub mod catalog;
pub mod engine;

pub mod server;

pub mod demo;

pub mod app;
pub mod output;

pub use config::Config;
pub use engine::Engine;
pub use error::{Result, SegmintError};
pub use server::Server;
