//! The parts of Segmint's PostgreSQL endpoint that read untrusted bytes before a user is
//! known, kept apart from the query engine so they can be fuzzed on their own:
//!
//! - [`frame`]: message-size limits checked from each frame header, one frame per read;
//! - [`shape`]: the shape each message body must have before pgwire decodes it;
//! - [`scram`]: the server side of SCRAM-SHA-256;
//! - [`credential`]: stored SCRAM verifiers and MD5 hashes in PostgreSQL's formats;
//! - [`fuzzing`]: the harnesses behind the fuzz targets in `wire/fuzz`, also run over the
//!   saved corpus by the unit tests.

pub mod credential;
pub mod frame;
pub mod fuzzing;
pub mod scram;
pub mod shape;
