//! copydesk's common library: everything more than one stage or binary needs to agree on.
//!
//! # Layout
//!
//! - [`message`]: the contract's wire types, the crawler's [`message::Job`] and the
//!   [`message::ArticleEvent`] we publish, with the job decoder that names the field at fault.
//! - [`text`]: text normalization, the content hash, SimHash, word counts and excerpts. These
//!   define article identity, so they change only with a new schema version.
//! - [`config`]: the settings every worker reads from the environment.
//! - [`http`]: the health, readiness and metrics endpoint; [`metrics`]: the metrics behind it.

pub mod config;
pub mod http;
pub mod message;
pub mod metrics;
pub mod text;
