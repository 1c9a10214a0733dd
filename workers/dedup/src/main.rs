//! `copydesk-dedup`: the dedup worker. Consumes `P.dedup` until SIGTERM or SIGINT, then drains and exits 0.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::worker::main("copydesk-dedup", copydesk_dedup::run).await
}
