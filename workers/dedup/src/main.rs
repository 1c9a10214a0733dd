//! `copydesk-dedup`: the dedup worker. Consumes `P.dedup` until SIGTERM or SIGINT, then drains and exits 0.

/// See [`shared::Allocator`].
#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::worker::main("copydesk-dedup", copydesk_dedup::run).await
}
