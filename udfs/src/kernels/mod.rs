//! Pure computations shared by several functions: no Arrow, no SQL, just numbers and labels,
//! so each rule from the CRM reference is written once and property-tested once.

pub mod lifecycle;
pub mod scoring;
pub mod segments;
pub mod wallet;
