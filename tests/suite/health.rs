//! The workers' HTTP endpoint: live at once, ready only when connected, metrics that move.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::support::TestEnv;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Status code and body of `GET path`, or None while nothing listens.
async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let code = out.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}

async fn wait_for(port: u16, path: &str, code: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((c, body)) = get(port, path).await
            && c == code
        {
            return body;
        }
        assert!(Instant::now() < deadline, "{path} never answered {code}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn settings(pairs: &[(&str, String)]) -> shared::config::Settings {
    shared::config::Settings::from_vars(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone()))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_is_live_but_not_ready_while_its_services_are_down() {
    // Nothing listens on these ports.
    let (dead_amqp, dead_redis, http) = (free_port(), free_port(), free_port());
    let s = settings(&[
        ("COPYDESK_AMQP_URL", format!("amqp://guest:guest@127.0.0.1:{dead_amqp}/%2f")),
        ("COPYDESK_REDIS_URL", format!("redis://127.0.0.1:{dead_redis}/")),
        ("COPYDESK_HTTP_ADDR", format!("127.0.0.1:{http}")),
        ("COPYDESK_PREFIX", "test-health-down".into()),
    ]);
    let stop = CancellationToken::new();
    let worker = tokio::spawn(copydesk_dedup::run(s, stop.clone()));
    wait_for(http, "/healthz", 200).await;
    assert_eq!(get(http, "/readyz").await.unwrap().0, 503);
    assert!(get(http, "/metrics").await.unwrap().1.contains("copydesk_ready 0"));
    stop.cancel();
    worker.await.unwrap().expect("stops cleanly even without ever connecting");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_worker_is_ready_and_its_counters_move() {
    let http = free_port();
    let mut env = TestEnv::new(&[]).await;
    let mut s = env.settings.clone();
    s.http_addr = format!("127.0.0.1:{http}").parse().unwrap();
    let stop = CancellationToken::new();
    let worker = tokio::spawn(copydesk_clean::worker::run(s, stop.clone()));
    wait_for(http, "/readyz", 200).await;
    for i in 0..5 {
        env.publish_job("clean", &crate::pipeline::bulk_job(i)).await;
    }
    env.publish_job("clean", b"{broken").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = get(http, "/metrics").await.unwrap().1;
        if metrics.contains("copydesk_messages_total{stage=\"clean\",outcome=\"done\"} 5")
            && metrics.contains("copydesk_messages_total{stage=\"clean\",outcome=\"dead_lettered\"} 1")
        {
            assert!(metrics.contains("copydesk_dead_letters_total{stage=\"clean\",kind=\"not_json\"} 1"));
            assert!(metrics.contains("copydesk_stage_duration_seconds_count{stage=\"clean\"} 6"));
            assert!(metrics.contains("copydesk_ready 1"));
            assert!(
                metrics.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).all(|l| l.starts_with("copydesk_"))
            );
            break;
        }
        assert!(Instant::now() < deadline, "counters never reached the jobs sent:\n{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    worker.await.unwrap().unwrap();
    env.stop_workers().await;
    env.cleanup().await;
}
