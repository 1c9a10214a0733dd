//! copydesk's end-to-end suite: one test binary, a module per area.

/// Bad input through the whole pipeline.
mod bad_input;
/// The chaos soak: kills, restarts and stalls during a stream of 10,000 jobs, against a control.
mod chaos;
/// The deployment files: docker-compose.yml and the Dockerfile.
mod deploy;
/// Extraction quality on the shared corpora, and agreement with the reference scorer.
mod extraction;
/// Faults during a stream on throwaway services: nothing lost.
mod faults;
/// The fetch stage against real HTTP servers: decoding, limits, the guard, politeness.
mod fetch;
/// The workers' health, readiness and metrics endpoint.
mod health;
/// Near-duplicate detection in the dedup stage, on one Redis and on a Redis Cluster.
mod neardup;
/// Kubernetes manifests, the dashboard and the alert rules.
mod ops;
/// The three workers end to end on the real RabbitMQ and Redis.
mod pipeline;
/// Helpers: a prefix per test, in-process workers, an output queue, a page server.
mod support;
/// One trace per job across the workers.
mod tracing;

use std::path::PathBuf;

/// The project's root folder.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/corpus/NAME`, beside the project.
pub fn corpus(name: &str) -> PathBuf {
    project_root().join("../shared/corpus").join(name)
}
