//! copydesk's common library: everything more than one stage or binary needs to agree on.
//!
//! # Layout
//!
//! - [`message`]: the contract's wire types, the crawler's [`message::Job`] and the
//!   [`message::ArticleEvent`] we publish, with the job decoder that names the field at fault.
//! - [`text`]: text normalization, the content hash, SimHash, word counts and excerpts. These
//!   define article identity, so they change only with a new schema version.
//! - [`neardup`]: near-duplicate detection (MinHash sketches, LSH bands).
//! - [`config`]: the settings every worker reads from the environment.
//! - [`http`]: the health, readiness and metrics endpoint; [`metrics`]: the metrics behind it.
//! - [`amqp`]: the topology, confirmed publishing, and the one consume loop of every worker,
//!   with retries through delay queues and dead letters.
//! - [`redis`]: the dedup store's commands. [`worker`]: what every worker binary runs.
//! - [`telemetry`]: logs; [`shutdown`]: SIGTERM and SIGINT; [`Allocator`]: the dedup worker's allocator.

pub mod amqp;
pub mod config;
pub mod http;
pub mod message;
pub mod metrics;
pub mod neardup;
pub mod redis;
pub mod shutdown;
pub mod telemetry;
pub mod text;
pub mod worker;

/// The dedup worker's allocator (`#[global_allocator]`, also in the pipeline bench): it allocates a
/// few buffers per message from several threads, where glibc's malloc took a fifth of its CPU.
/// The clean worker keeps glibc's: with mimalloc its peak RSS on large pages rose from under
/// 50 MB to over 400 MB (BENCHMARKS.md).
pub use mimalloc::MiMalloc as Allocator;
