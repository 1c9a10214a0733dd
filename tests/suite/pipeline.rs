//! The three workers end to end on the real RabbitMQ and Redis: events out, duplicates
//! recognised, bad jobs dead-lettered with their reasons, nothing lost.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{PageServer, TestEnv, header};
use crate::{corpus, project_root};

const SINA_URL: &str = "https://finance.sina.com.cn/china/2022-08-02/doc-imizmscv4536251.shtml";

fn seed_job(id: &str) -> Vec<u8> {
    let seed = std::fs::read_to_string(corpus("seed/000_2fd2c59e8df45501.txt")).unwrap();
    serde_json::to_vec(&json!({"id": id, "url": SINA_URL, "content": seed, "content_type": "text/markdown"})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_gives_one_article_then_one_duplicate() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    env.publish_job("clean", &seed_job("crawler-1")).await;

    let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("an article event");
    assert_eq!(m.delivery.routing_key.as_str(), "article.zh.finance_sina_com_cn");
    let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    let props = &m.delivery.properties;
    assert_eq!(event["schema"], "copydesk.article.v1");
    assert_eq!(event["title"], "山西河曲人口小县机构改革基本完成：36个党政机构精简为22个");
    assert_eq!(event["job_id"], "crawler-1");
    assert_eq!(event["site"], "finance.sina.com.cn");
    assert!(event["duplicate_of"].is_null());
    let id = event["id"].as_str().unwrap().to_owned();
    assert_eq!(props.message_id().as_ref().map(|s| s.as_str()), Some(id.as_str()));
    assert_eq!(props.kind().as_ref().map(|s| s.as_str()), Some("copydesk.article.v1"));
    assert_eq!(props.content_type().as_ref().map(|s| s.as_str()), Some("application/json"));
    assert_eq!(*props.delivery_mode(), Some(2));
    assert!(props.timestamp().is_some());
    assert_eq!(header(&m, "cloudEvents_specversion").as_deref(), Some("1.0"));
    assert_eq!(header(&m, "cloudEvents_id").as_deref(), Some(id.as_str()));
    assert_eq!(header(&m, "cloudEvents_type").as_deref(), Some("copydesk.article.v1"));
    assert!(header(&m, "cloudEvents_source").is_some() && header(&m, "cloudEvents_time").is_some());

    env.publish_job("clean", &seed_job("crawler-2")).await;
    let d = env.next_on(&env.out, Duration::from_secs(30)).await.expect("a duplicate event");
    assert_eq!(d.delivery.routing_key.as_str(), "duplicate.zh.finance_sina_com_cn");
    let dup: Value = serde_json::from_slice(&d.delivery.data).unwrap();
    assert_eq!(dup["duplicate_of"], id.as_str());
    assert!(env.next_on(&env.out, Duration::from_secs(2)).await.is_none(), "no other event");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_article_event_no_queue_takes_is_dead_lettered_not_dropped() {
    // One attempt: the unroutable event goes to the dead letters at once, not after retries.
    let mut env = TestEnv::new(&[("COPYDESK_MAX_ATTEMPTS", "1")]).await;
    // Nothing bound to the articles exchange: the event has nowhere to go.
    env.channel
        .queue_unbind(
            env.out.as_str().into(),
            env.names.articles().into(),
            "#".into(),
            shared::amqp::FieldTable::default(),
        )
        .await
        .unwrap();
    env.start_workers();
    env.publish_job("clean", &seed_job("unbound-1")).await;
    let m = env.next_on(&env.names.dead(), Duration::from_secs(30)).await.expect("a dead letter");
    assert_eq!(header(&m, "x-copydesk-error-kind").as_deref(), Some("unroutable"));
    assert_eq!(header(&m, "x-copydesk-stage").as_deref(), Some("dedup"));
    let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(event["job_id"], "unbound-1");
    assert!(env.next_on(&env.names.dead(), Duration::from_secs(1)).await.is_none(), "one dead letter");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_job_for_a_local_page_gives_an_article() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let page = std::fs::read(project_root().join("examples/tree-planting-gbk.html")).unwrap();
    let server = PageServer::start(page, "text/html").await;
    env.publish_job("fetch", &serde_json::to_vec(&json!({"url": server.url, "id": "f-1"})).unwrap()).await;
    let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("an article event");
    let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(event["title"], "春季植树活动在城郊展开");
    assert_eq!(event["url"], server.url.as_str());
    assert_eq!(event["job_id"], "f-1");
    assert_eq!(m.delivery.routing_key.as_str(), "article.zh.127_0_0_1");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_jobs_are_dead_lettered_with_their_reasons_and_the_workers_go_on() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let bad: [(&str, &[u8], &str); 5] = [
        ("clean", b"{not json", "not_json"),
        ("clean", br#"{"url": "https://x.test/"}"#, "missing_field"),
        ("clean", br#"{"content": "<p>x</p>", "metadata": {"title": 7}}"#, "wrong_type"),
        ("clean", b"\xff\xfe\x00{\"content\": 1}", "not_utf8"),
        ("fetch", br#"{"content": "no url here"}"#, "missing_field"),
    ];
    for (stage, body, _) in &bad {
        env.publish_job(stage, body).await;
    }
    let mut kinds = Vec::new();
    for _ in 0..bad.len() {
        let m = env.next_on(&env.names.dead(), Duration::from_secs(30)).await.expect("a dead letter");
        kinds.push(header(&m, "x-copydesk-error-kind").unwrap());
        assert!(!header(&m, "x-copydesk-error").unwrap().is_empty());
        assert!(header(&m, "x-copydesk-stage").is_some() && header(&m, "x-copydesk-worker-version").is_some());
        assert!(bad.iter().any(|(_, body, _)| *body == m.delivery.data.as_slice()), "the original body is kept");
    }
    kinds.sort();
    let mut expected: Vec<&str> = bad.iter().map(|(_, _, k)| *k).collect();
    expected.sort();
    assert_eq!(kinds, expected);

    env.publish_job("clean", &seed_job("after-the-bad-ones")).await;
    assert!(env.next_on(&env.out, Duration::from_secs(30)).await.is_some(), "the workers kept going");
    env.cleanup().await;
}

/// A clean job holding a small distinct article.
pub fn bulk_job(n: usize) -> Vec<u8> {
    let page = crate::support::bulk_page(n);
    serde_json::to_vec(&json!({"id": format!("bulk-{n}"), "url": format!("https://bulk.example.com/{n}"), "content": page, "content_type": "text/html"})).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_jobs_through_the_three_workers_give_ten_thousand_distinct_events() {
    let n = 10_000;
    let mut env = TestEnv::new(&[("COPYDESK_PREFETCH", "64")]).await;
    env.start_workers();
    let server = crate::support::BulkServer::start().await;
    // Half fetch jobs (fetch → clean → dedup), half clean jobs (clean → dedup).
    for i in 0..n {
        if i % 2 == 0 {
            let job = json!({"id": format!("bulk-{i}"), "url": format!("{}/{i}", server.base)});
            env.publish_job("fetch", &serde_json::to_vec(&job).unwrap()).await;
        } else {
            env.publish_job("clean", &bulk_job(i)).await;
        }
    }
    let mut ids = HashSet::new();
    let mut jobs = HashSet::new();
    let mut raw = 0;
    while ids.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else {
            break;
        };
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        assert!(event["duplicate_of"].is_null());
        ids.insert(event["id"].as_str().unwrap().to_owned());
        jobs.insert(event["job_id"].as_str().unwrap().to_owned());
        raw += 1;
    }
    assert_eq!(ids.len(), n, "distinct events");
    assert_eq!(jobs.len(), n, "every job");
    assert_eq!(raw, n, "no repeats");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(200)).await.is_none(), "nothing dead-lettered");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_away_is_a_transient_failure_retried_then_dead_lettered() {
    let dead_redis = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis = format!("redis://127.0.0.1:{dead_redis}/");
    let mut env = TestEnv::new(&[("COPYDESK_REDIS_URL", redis.as_str()), ("COPYDESK_MAX_ATTEMPTS", "2")]).await;
    env.start_workers();
    env.publish_job("clean", &bulk_job(1)).await;
    let m = env.next_on(&env.names.dead(), Duration::from_secs(60)).await.expect("a dead letter after the retries");
    assert_eq!(header(&m, "x-copydesk-error-kind").as_deref(), Some("redis"));
    assert_eq!(header(&m, "x-copydesk-stage").as_deref(), Some("dedup"));
    assert_eq!(shared::amqp::header_u64(m.delivery.properties.headers().as_ref(), "x-copydesk-attempts"), Some(2));
    assert!(env.next_on(&env.out, Duration::from_millis(200)).await.is_none(), "no article without the dedup store");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copydesk_submit_publishes_files_and_urls_as_a_crawler_would() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let page = std::fs::read(project_root().join("examples/council-budget.html")).unwrap();
    let server = PageServer::start(page, "text/html").await;
    let status = std::process::Command::new(crate::support::worker_binary("copydesk"))
        .args(["submit", "examples/harbour-ferry.md", "examples/tree-planting-gbk.html", &server.url])
        .envs(env.process_env())
        .current_dir(project_root())
        .status()
        .unwrap();
    assert!(status.success());
    let mut titles = Vec::new();
    for _ in 0..3 {
        let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("an event per submitted job");
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        titles.push(event["title"].as_str().unwrap().to_owned());
    }
    titles.sort();
    assert_eq!(
        titles,
        [
            "Council approves budget with new money for parks",
            "Harbour ferry returns to service after winter repairs",
            "春季植树活动在城郊展开"
        ]
    );
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_is_retried_through_the_delay_queue() {
    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let page = std::fs::read(project_root().join("examples/council-budget.html")).unwrap();
    let server = PageServer::flaky(page, "text/html", 2).await;
    env.publish_job("fetch", &serde_json::to_vec(&json!({"url": server.url})).unwrap()).await;
    let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("an article after the retries");
    let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(event["title"], "Council approves budget with new money for parks");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 3, "two 503s, then the page");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_lasts_is_dead_lettered_after_the_last_attempt() {
    let mut env = TestEnv::new(&[("COPYDESK_MAX_ATTEMPTS", "3")]).await;
    env.start_workers();
    let server = PageServer::flaky(Vec::new(), "text/html", usize::MAX).await;
    env.publish_job("fetch", &serde_json::to_vec(&json!({"url": server.url})).unwrap()).await;
    let m = env.next_on(&env.names.dead(), Duration::from_secs(30)).await.expect("a dead letter");
    assert_eq!(header(&m, "x-copydesk-error-kind").as_deref(), Some("http_5xx"));
    assert_eq!(shared::amqp::header_u64(m.delivery.properties.headers().as_ref(), "x-copydesk-attempts"), Some(3));
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 3);
    assert!(env.next_on(&env.out, Duration::from_millis(300)).await.is_none());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_stream_stops_each_worker_cleanly_and_nothing_is_lost() {
    use std::process::{Child, Command};

    let env = TestEnv::new(&[]).await;
    let spawn = |name: &str| -> Child { env.spawn_worker(name) };
    let names = ["copydesk-fetch", "copydesk-clean", "copydesk-dedup"];
    let mut children: Vec<Child> = names.iter().map(|n| spawn(n)).collect();
    let n = 2000;
    for i in 0..n {
        env.publish_job("clean", &bulk_job(i)).await;
    }
    let mut raw = 0;
    let mut ids = HashSet::new();
    // Let part of the stream through, then stop every worker mid-stream.
    while ids.len() < n / 4 {
        let m = env.next_on(&env.out, Duration::from_secs(60)).await.expect("events while running");
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        ids.insert(event["job_id"].as_str().unwrap().to_owned());
        raw += 1;
    }
    for child in &children {
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
    for (child, name) in children.iter_mut().zip(names) {
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{name} exits 0 after SIGTERM");
    }
    assert!(ids.len() < n, "the stop came mid-stream");
    let mut restarted: Vec<Child> = names.iter().map(|n| spawn(n)).collect();
    while ids.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else {
            break;
        };
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        ids.insert(event["job_id"].as_str().unwrap().to_owned());
        raw += 1;
    }
    for child in &mut restarted {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
    assert_eq!(ids.len(), n, "every job yields its event after the restart");
    assert_eq!(raw, n, "a graceful stop repeats nothing");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(200)).await.is_none());
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_fixed_and_replayed_becomes_an_article() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut env = TestEnv::new(&[("COPYDESK_MAX_ATTEMPTS", "2")]).await;
    env.start_workers();
    let fixed = Arc::new(AtomicBool::new(false));
    let page = std::fs::read(project_root().join("examples/council-budget.html")).unwrap();
    let server = {
        let fixed = fixed.clone();
        crate::support::TestServer::start(move |_| {
            if fixed.load(Ordering::SeqCst) {
                crate::support::Reply::ok("text/html", page.clone())
            } else {
                crate::support::Reply::status(503)
            }
        })
        .await
    };
    env.publish_job(
        "fetch",
        &serde_json::to_vec(&json!({"url": format!("{}/story", server.base), "id": "replay-me"})).unwrap(),
    )
    .await;
    // Wait until it is dead-lettered: the operator sees it, with its reason.
    let cli = |args: &[&str]| {
        std::process::Command::new(crate::support::worker_binary("copydesk"))
            .args(args)
            .envs(env.process_env())
            .output()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = cli(&["dlq", "list"]);
        assert!(out.status.success());
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        if listing.contains("http_5xx") {
            assert!(listing.contains("fetch"), "{listing}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let shown = String::from_utf8_lossy(&cli(&["dlq", "show", "1"]).stdout).into_owned();
    assert!(shown.contains("kind: http_5xx") && shown.contains("replay-me"), "{shown}");

    fixed.store(true, Ordering::SeqCst);
    let out = cli(&["dlq", "replay", "--kind", "http_5xx"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("replayed 1 dead letters"));
    let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("the replayed job becomes an article");
    let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(event["job_id"], "replay-me");
    assert!(env.next_on(&env.names.dead(), Duration::from_millis(300)).await.is_none(), "the dead letter is gone");
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_article_twice_at_once_gives_one_article_and_one_duplicate() {
    let mut env = TestEnv::new(&[]).await;
    // Both copies are in the queue before the dedup worker starts, so they are handled at once.
    for i in 0..20 {
        env.publish_job("clean", &bulk_job(i)).await;
        env.publish_job("clean", &bulk_job(i)).await;
    }
    env.start_workers();
    let (mut articles, mut duplicates) = (HashSet::new(), 0);
    let mut raw = 0;
    while raw < 40 {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else { break };
        raw += 1;
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        if m.delivery.routing_key.as_str().starts_with("article.") {
            assert!(articles.insert(event["id"].as_str().unwrap().to_owned()), "one article per content");
        } else {
            duplicates += 1;
        }
    }
    assert_eq!((articles.len(), duplicates), (20, 20));
    env.cleanup().await;
}
