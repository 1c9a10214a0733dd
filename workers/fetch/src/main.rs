//! `copydesk-fetch`: the fetch worker. Consumes `P.fetch` until SIGTERM or SIGINT, then drains and exits 0.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::worker::main("copydesk-fetch", copydesk_fetch::run).await
}
