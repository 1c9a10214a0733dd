// WORK IN PROGRESS, NOT COMPILED, NOT IN THE SUITE (issue 7). To run it: move it to
// tests/suite/ and declare `mod chaos;` in tests/suite/main.rs, then
// `COPYDESK_SOAK_JOBS=2000 cargo nextest run -p integration-tests chaos_soak --no-capture`.
// Observed on 2026-11-28: the no-fault control passes (400 jobs, 0 repeats); the chaos run
// (2,000 jobs, 5 broker kills, 5 Redis kills, 10 worker SIGKILLs, 5 SIGTERMs, 6 stalls) gave
// 286 raw article repeats (each an existing message_id), far above the bound of broker kills +
// worker SIGKILLs, and its loop stops counting once raw events reach the expected total, so
// "0 lost" is not yet shown either. Next: count until every distinct article id is seen, and
// find where the repeats come from. Likely: every dedup message between its publish and its
// done mark when its worker or the broker dies can repeat; with prefetch 32 that is up to 32
// per kill (5 broker + 5 dedup kills ≈ 300, as observed). A publish whose confirm is lost to a
// broker kill releases its claim and is retried, although the broker may have stored it.
// Reaching the bound (≤ 1 repeat per kill) needs the window narrowed: keep the claim on
// an uncertain publish failure, and mark done before acking with fewer messages in that window.
// Plan (2026-11-28): AMQP transactions on the dedup consumer's channel (publish + ack committed
// together, one commit per batch of settled messages, the Redis record written after the
// commit-ok): a worker killed before a commit leaves neither the events nor the acks, so nothing
// repeats; a broker killed mid-commit may still apply part of a batch (RabbitMQ's tx is not
// atomic across queues). Note that `bulk_page` now makes distinct stories (the dedup stage finds
// near copies), so the planted repeats here are exact copies of earlier pages, as intended.
//! The chaos soak: jobs streaming through the three worker processes while the broker, Redis and
//! the workers are killed and restarted and their links stalled, against a no-fault control.
//! Fixed seed; `COPYDESK_SOAK_JOBS` (default 10,000) sets the size, for longer runs.
//!
//! Counted from a durable output queue: every job in, each distinct article out, raw repeats
//! (bounded by the kills, each an existing `message_id`), dead letters by reason.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{FaultProxy, TestEnv, ThrowawayRabbit, ThrowawayRedis, header, worker_binary};

const NAMES: [&str; 3] = ["copydesk-fetch", "copydesk-clean", "copydesk-dedup"];

/// The planted mix: 10% repeats of an earlier job's article, 1% malformed, 2% hostile (no
/// article), the rest distinct articles.
fn plan(n: usize, seed: u64) -> (Vec<Vec<u8>>, usize, usize, usize) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut jobs, mut repeats, mut malformed, mut hostile) = (Vec::with_capacity(n), 0, 0, 0);
    let mut distinct = 0usize;
    for i in 0..n {
        let roll = rng.u32(..100);
        let body = if roll < 1 {
            malformed += 1;
            format!("{{broken job {i}").into_bytes()
        } else if roll < 3 {
            hostile += 1;
            serde_json::to_vec(&json!({"id": format!("hostile-{i}"), "content": "<html><body><nav><a href=/>x</a></nav></body></html>"})).unwrap()
        } else if roll < 13 && distinct > 0 {
            repeats += 1;
            let of = rng.usize(..distinct);
            serde_json::to_vec(&json!({"id": format!("repeat-{i}"), "content": crate::support::bulk_page(of), "content_type": "text/html"})).unwrap()
        } else {
            distinct += 1;
            serde_json::to_vec(&json!({"id": format!("job-{i}"), "content": crate::support::bulk_page(distinct - 1), "content_type": "text/html"})).unwrap()
        };
        jobs.push(body);
    }
    (jobs, repeats, malformed, hostile)
}

struct Workers {
    children: Vec<Child>,
    env: Vec<(String, String)>,
    peak_rss_kb: u64,
}

impl Workers {
    fn spawn(&mut self, i: usize) {
        self.children[i] = Command::new(worker_binary(NAMES[i]))
            .envs(self.env.clone())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    }

    fn start(env: Vec<(String, String)>) -> Workers {
        let children = NAMES
            .iter()
            .map(|n| {
                Command::new(worker_binary(n))
                    .envs(env.clone())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        Workers { children, env, peak_rss_kb: 0 }
    }

    /// No worker exited unless we made it; and the peak RSS so far.
    fn check(&mut self) {
        for (i, c) in self.children.iter_mut().enumerate() {
            assert!(c.try_wait().unwrap().is_none(), "{} exited unplanned", NAMES[i]);
            let status = std::fs::read_to_string(format!("/proc/{}/status", c.id())).unwrap_or_default();
            let rss = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            self.peak_rss_kb = self.peak_rss_kb.max(rss);
        }
    }

    fn sigkill(&mut self, i: usize) {
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
        self.spawn(i);
    }

    fn sigterm(&mut self, i: usize) {
        let _ = Command::new("kill").args(["-TERM", &self.children[i].id().to_string()]).status();
        let code = self.children[i].wait().unwrap().code();
        assert_eq!(code, Some(0), "{} exits 0 on SIGTERM", NAMES[i]);
        self.spawn(i);
    }

    fn stop(mut self) {
        for i in 0..3 {
            let _ = Command::new("kill").args(["-TERM", &self.children[i].id().to_string()]).status();
            let _ = self.children[i].wait();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    BrokerKill,
    RedisKill,
    WorkerKill(usize),
    WorkerTerm(usize),
    StallBroker,
    StallRedis,
}

struct Outcome {
    articles: usize,
    raw_articles: usize,
    duplicates: usize,
    dead: HashMap<String, usize>,
    peak_rss_mb: u64,
    broker_kills: usize,
    worker_kills: usize,
}

async fn run(n: usize, seed: u64, with_faults: bool) -> (Outcome, (usize, usize, usize)) {
    let mut rabbit = ThrowawayRabbit::start().await;
    let mut redis = ThrowawayRedis::start().await;
    let (rabbit_url, redis_url) = (rabbit.url(), redis.url());
    let amqp_proxy = FaultProxy::start(rabbit.port).await;
    let redis_proxy = FaultProxy::start(redis.port).await;
    let mut env =
        TestEnv::new(&[("COPYDESK_AMQP_URL", rabbit_url.as_str()), ("COPYDESK_REDIS_URL", redis_url.as_str())]).await;
    let mut worker_env = env.process_env();
    for (k, v) in &mut worker_env {
        match k.as_str() {
            "COPYDESK_AMQP_URL" => *v = format!("amqp://guest:guest@127.0.0.1:{}/%2f", amqp_proxy.port),
            "COPYDESK_REDIS_URL" => *v = format!("redis://127.0.0.1:{}/", redis_proxy.port),
            _ => {}
        }
    }
    worker_env.push(("COPYDESK_MAX_ATTEMPTS".into(), "30".into()));
    let (jobs, repeats, malformed, hostile) = plan(n, seed);
    for body in &jobs {
        env.publish_job("clean", body).await;
    }
    // A fresh quorum queue killed within seconds can stay leaderless on 3.10 (TESTING.md).
    if with_faults {
        tokio::time::sleep(Duration::from_secs(12)).await;
    }
    let mut workers = Workers::start(worker_env);
    let mut faults: Vec<Fault> = Vec::new();
    if with_faults {
        faults.extend([Fault::BrokerKill; 5]);
        faults.extend([Fault::RedisKill; 5]);
        faults.extend((0..10).map(|i| Fault::WorkerKill(1 + i % 2)));
        faults.extend((0..5).map(|i| Fault::WorkerTerm(i % 3)));
        faults.extend([Fault::StallBroker; 3]);
        faults.extend([Fault::StallRedis; 3]);
        fastrand::Rng::with_seed(seed).shuffle(&mut faults);
    }
    let expected_events = n - malformed - hostile;
    let every = expected_events / (faults.len() + 1).max(1);
    let (mut ids, mut raw_articles, mut duplicates, mut events) = (HashSet::new(), 0, 0, 0);
    let mut applied = 0;
    let deadline = Instant::now() + Duration::from_secs(900);
    while events < expected_events && Instant::now() < deadline {
        workers.check();
        let Some(m) = env.next_on_checked(Duration::from_secs(120)).await else { break };
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        events += 1;
        if m.delivery.routing_key.as_str().starts_with("article.") {
            raw_articles += 1;
            ids.insert(event["id"].as_str().unwrap().to_owned());
        } else {
            duplicates += 1;
        }
        if applied < faults.len() && events == (applied + 1) * every {
            match faults[applied] {
                Fault::BrokerKill => {
                    rabbit.kill9();
                    rabbit.restart().await;
                    env.reconnect().await;
                }
                Fault::RedisKill => {
                    redis.kill9();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    redis.restart().await;
                }
                Fault::WorkerKill(i) => workers.sigkill(i),
                Fault::WorkerTerm(i) => workers.sigterm(i),
                Fault::StallBroker | Fault::StallRedis => {
                    let proxy = if matches!(faults[applied], Fault::StallBroker) { &amqp_proxy } else { &redis_proxy };
                    proxy.stall(true);
                    tokio::time::sleep(Duration::from_secs(8)).await;
                    proxy.stall(false);
                }
            }
            applied += 1;
        }
    }
    assert_eq!(applied, faults.len(), "every fault was applied");
    let mut dead = HashMap::new();
    while dead.values().sum::<usize>() < malformed + hostile {
        let Some(m) = env.next_on(&env.names.dead(), Duration::from_secs(30)).await else { break };
        *dead.entry(header(&m, "x-copydesk-error-kind").unwrap()).or_default() += 1;
    }
    let peak_rss_mb = workers.peak_rss_kb / 1024;
    workers.stop();
    let broker_kills = faults.iter().filter(|f| matches!(f, Fault::BrokerKill)).count();
    let worker_kills = faults.iter().filter(|f| matches!(f, Fault::WorkerKill(_))).count();
    env.cleanup().await;
    (
        Outcome { articles: ids.len(), raw_articles, duplicates, dead, peak_rss_mb, broker_kills, worker_kills },
        (repeats, malformed, hostile),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_soak_loses_nothing_and_repeats_only_after_kills() {
    let n: usize = std::env::var("COPYDESK_SOAK_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let seed = 20_261_128;
    for with_faults in [false, true] {
        let started = Instant::now();
        let (o, (repeats, malformed, hostile)) = run(if with_faults { n } else { n / 5 }, seed, with_faults).await;
        let jobs = if with_faults { n } else { n / 5 };
        let distinct = jobs - repeats - malformed - hostile;
        eprintln!(
            "{}: {jobs} jobs in {:?}: {} articles ({} raw), {} duplicate events, dead letters {:?}, peak worker RSS {} MB",
            if with_faults { "chaos" } else { "control" },
            started.elapsed(),
            o.articles,
            o.raw_articles,
            o.duplicates,
            o.dead,
            o.peak_rss_mb
        );
        assert_eq!(o.articles, distinct, "every distinct article is published: 0 lost");
        let raw_repeats = o.raw_articles - o.articles;
        if with_faults {
            assert!(raw_repeats <= o.broker_kills + o.worker_kills, "{raw_repeats} raw repeats");
        } else {
            assert_eq!(raw_repeats, 0, "no repeat without faults");
        }
        assert!(o.duplicates >= repeats, "every planted repeat is recognised");
        assert_eq!(o.dead.get("not_json").copied().unwrap_or(0), malformed);
        assert_eq!(o.dead.get("no_article").copied().unwrap_or(0), hostile);
        assert!(o.peak_rss_mb < 512);
    }
}
