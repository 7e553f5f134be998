//! Pure computations shared by several functions: no Arrow, no SQL, just numbers and labels,
//! so each rule from the CRM reference is written once and property-tested once. The one
//! exception is [`wallet_accumulator`], the Arrow accumulator that the share-of-wallet
//! aggregates (`share_of_wallet`, `top_k_share`, `hhi`) share around [`wallet::Wallet`].

pub mod btyd;
pub mod funnel;
pub mod lifecycle;
pub mod scoring;
pub mod segments;
pub mod sessions;
pub mod wallet;
pub mod wallet_accumulator;
