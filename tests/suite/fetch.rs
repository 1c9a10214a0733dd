//! The fetch stage against real HTTP servers on 127.0.0.1: decoding, limits, the SSRF guard,
//! politeness shared by replicas, robots.txt and conditional GET. Every refusal lands in
//! `P.dead` with its reason.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use crate::project_root;
use crate::support::{Reply, TestEnv, TestServer, header};

fn gbk_page() -> Vec<u8> {
    // The example GBK page without its charset declaration.
    let page = std::fs::read(project_root().join("examples/tree-planting-gbk.html")).unwrap();
    let decl = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\">";
    let at = page.windows(decl.len()).position(|w| w == decl).expect("the example declares its charset");
    [&page[..at], &page[at + decl.len()..]].concat()
}

async fn fetch(env: &TestEnv, url: &str) {
    env.publish_job("fetch", &serde_json::to_vec(&json!({ "url": url })).unwrap()).await;
}

async fn dead_kind(env: &TestEnv) -> (String, String) {
    let m = env.next_on(&env.names.dead(), Duration::from_secs(30)).await.expect("a dead letter");
    (header(&m, "x-copydesk-error-kind").unwrap(), header(&m, "x-copydesk-error").unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gbk_without_charset_and_gbk_behind_a_lying_header_decode_right() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let server = TestServer::start(|seen| {
        let ct = if seen.path == "/lying" { "text/html; charset=utf-8" } else { "text/html" };
        Reply::ok(ct, gbk_page())
    })
    .await;
    for path in ["/plain", "/lying"] {
        fetch(&env, &format!("{}{path}", server.base)).await;
        let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("an article");
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        assert_eq!(event["title"], "春季植树活动在城郊展开", "{path}");
        assert!(event["text"].as_str().unwrap().contains("三千多名志愿者"), "{path}");
        // The same page twice: the second is a duplicate event.
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_compressed_slow_and_non_html_responses_are_refused_cleanly() {
    let mut env = TestEnv::new(&[("COPYDESK_FETCH_TIMEOUT_SECONDS", "2"), ("COPYDESK_MAX_ATTEMPTS", "1")]).await;
    env.start_workers();
    // 1 GiB of zeros, gzip: about 1 MB on the wire.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 2 << 20);
    let server = TestServer::start(move |seen| match seen.path.as_str() {
        "/bomb" => Reply::ok("text/html", bomb.clone()).header("content-encoding", "gzip"),
        "/huge" => Reply::ok("text/html", vec![b'a'; 50 << 20]),
        "/slow" => Reply { trickle: true, ..Reply::ok("text/html", vec![b'x'; 60]) },
        "/pdf" => Reply::ok("application/pdf", b"%PDF-1.7".to_vec()),
        _ => Reply::status(404),
    })
    .await;
    for (path, kind) in
        [("/bomb", "too_large"), ("/huge", "too_large"), ("/slow", "http_timeout"), ("/pdf", "unsupported_type")]
    {
        fetch(&env, &format!("{}{path}", server.base)).await;
        let (got, message) = dead_kind(&env).await;
        assert_eq!(got, kind, "{path}: {message}");
        if path == "/pdf" {
            assert!(message.contains("application/pdf"), "the type is named: {message}");
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let peak_kb: u64 =
        status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(peak_kb < 400 * 1024, "peak memory {} MB: the body caps held", peak_kb / 1024);
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_chain_longer_than_the_limit_is_refused() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let server = TestServer::start(|seen| {
        let n: u32 = seen.path.trim_start_matches("/r/").parse().unwrap_or(0);
        Reply::status(302).header("location", &format!("/r/{}", n + 1))
    })
    .await;
    fetch(&env, &format!("{}/r/0", server.base)).await;
    let (kind, message) = dead_kind(&env).await;
    assert_eq!(kind, "too_many_redirects", "{message}");
    assert_eq!(server.requests().len(), 11, "the first request and ten redirects, no more");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_guard_on_private_addresses_are_refused_without_a_connection() {
    let server = TestServer::start(|_| Reply::ok("text/html", "<p>secret</p>")).await;
    let target = TestServer::start(|_| Reply::ok("text/html", "<p>internal</p>")).await;
    let redirector = {
        let to = format!("{}/internal", target.base);
        TestServer::start(move |_| Reply::status(301).header("location", &to)).await
    };
    let allowed = redirector.addr.to_string();
    let mut env =
        TestEnv::new(&[("COPYDESK_FETCH_ALLOW_PRIVATE", "0"), ("COPYDESK_FETCH_ALLOW_ADDRS", allowed.as_str())]).await;
    env.start_workers();
    let port = server.addr.port();
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://localhost:{port}/"),
    ];
    for url in &urls {
        fetch(&env, url).await;
        let (kind, message) = dead_kind(&env).await;
        assert_eq!(kind, "forbidden_url", "{url}: {message}");
        assert!(message.contains("public"), "{url}: the reason is clear: {message}");
    }
    assert!(server.requests().is_empty(), "no connection reached the private server");

    fetch(&env, &format!("{}/start", redirector.base)).await;
    let (kind, message) = dead_kind(&env).await;
    assert_eq!(kind, "forbidden_url", "{message}");
    assert_eq!(redirector.requests().len(), 1);
    assert!(target.requests().is_empty(), "the redirect to the private address was not followed");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fetch_workers_share_one_hosts_pace() {
    let mut env = TestEnv::new(&[("COPYDESK_FETCH_HOST_INTERVALS", "127.0.0.1=300")]).await;
    env.start_workers();
    // A second fetch replica.
    let extra = tokio::spawn(copydesk_fetch::run(env.settings.clone(), tokio_util::sync::CancellationToken::new()));
    let server = TestServer::start(|seen| {
        Reply::ok("text/html", crate::support::bulk_page(seen.path.len() * 1000 + seen.path.as_bytes()[1] as usize))
    })
    .await;
    let n = 6;
    for i in 0..n {
        fetch(&env, &format!("{}/{}", server.base, "p".repeat(i + 1))).await;
    }
    for _ in 0..n {
        assert!(env.next_on(&env.out, Duration::from_secs(30)).await.is_some());
    }
    let mut times: Vec<_> = server.requests().iter().map(|s| s.at).collect();
    times.sort();
    assert_eq!(times.len(), n);
    // The slots are 300 ms apart by Redis's clock; what reaches the server also carries each
    // request's own scheduling delay, so single gaps get some slack and the whole run none.
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(200), "requests {gap:?} apart; the pace is 300 ms");
    }
    let span = times[n - 1] - times[0];
    assert!(span >= Duration::from_millis(300 * (n as u64 - 1) - 100), "{n} requests in {span:?}");
    extra.abort();
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_txt_is_respected_and_a_304_yields_no_event() {
    let mut env = TestEnv::new(&[("COPYDESK_FETCH_ROBOTS", "1")]).await;
    env.start_workers();
    let page = std::fs::read(project_root().join("examples/council-budget.html")).unwrap();
    let server = TestServer::start(move |seen| match seen.path.as_str() {
        "/robots.txt" => Reply::ok("text/plain", "User-agent: *\nDisallow: /private/\n"),
        "/news/a" if seen.headers.iter().any(|(k, v)| k == "if-none-match" && v == "\"v1\"") => Reply::status(304),
        "/news/a" => Reply::ok("text/html", page.clone())
            .header("etag", "\"v1\"")
            .header("last-modified", "Tue, 12 May 2026 22:05:00 GMT"),
        _ => Reply::status(404),
    })
    .await;
    fetch(&env, &format!("{}/private/x", server.base)).await;
    let (kind, message) = dead_kind(&env).await;
    assert_eq!(kind, "robots_disallowed", "{message}");
    assert!(!server.requests().iter().any(|s| s.path.starts_with("/private")), "the disallowed page was not requested");

    fetch(&env, &format!("{}/news/a", server.base)).await;
    assert!(env.next_on(&env.out, Duration::from_secs(30)).await.is_some(), "the page, the first time");
    fetch(&env, &format!("{}/news/a", server.base)).await;
    assert!(env.next_on(&env.out, Duration::from_secs(3)).await.is_none(), "unchanged: no event");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(200)).await.is_none());
    let seen = server.requests();
    assert_eq!(seen.iter().filter(|s| s.path == "/robots.txt").count(), 1, "robots.txt is cached");
    assert!(
        seen.iter()
            .filter(|s| s.path == "/news/a")
            .nth(1)
            .is_some_and(|s| s.headers.iter().any(|(k, _)| k == "if-none-match"))
    );
    env.cleanup().await;
}
