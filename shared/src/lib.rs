//! copydesk's common library: everything more than one stage or binary needs to agree on.
//!
//! # Layout
//!
//! - [`message`]: the contract's wire types, the crawler's [`message::Job`] and the
//!   [`message::ArticleEvent`] we publish, with the job decoder that names the field at fault.
//! - [`text`]: text normalization, the content hash, SimHash, word counts and excerpts. These
//!   define article identity, so they change only with a new schema version.

pub mod message;
pub mod text;
