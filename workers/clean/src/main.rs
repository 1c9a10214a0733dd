//! `copydesk-clean`: the clean worker. Consumes `P.clean` until SIGTERM or SIGINT, then drains and exits 0.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::worker::main("copydesk-clean", copydesk_clean::worker::run).await
}
