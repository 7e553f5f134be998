//! Segmint's integration tests: one binary (DataFusion links once), real servers on
//! `127.0.0.1:0`, real clients (tokio-postgres, psql, the `segmint` CLI).

mod support;

mod architecture;
mod cancel;
mod catalog;
mod cdnow;
mod cli;
mod cluster;
mod compat;
mod crm_errors;
mod demo;
mod functions;
mod hardening;
mod indexes;
mod load;
mod own_data;
mod pgwire;
mod psql;
mod reports;
mod security;
mod segments;
mod slt;
mod storage;
mod walkthrough;
