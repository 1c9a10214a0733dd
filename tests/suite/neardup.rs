//! Near-duplicate detection in the dedup stage, on one Redis and on a three-master Redis Cluster:
//! syndicated copies become `duplicate` events naming the first article, different stories stay
//! articles, two near copies at the same instant give one article, and the cost per article.

use std::collections::HashMap;
use std::time::Duration;

use copydesk_dedup::stage::{Decision, Layout};
use copydesk_dedup::store::{Marker, Store};
use serde_json::{Value, json};
use shared::neardup::Sketch;
use shared::redis::Redis;
use shared::text::to_hex as hex;

use crate::corpus;
use crate::support::{TestEnv, ThrowawayCluster, ThrowawayRedis};

/// Long articles from the corpora, each with a syndicated copy at an exact Jaccard similarity of at
/// least 0.8 (the guide for a duplicate): (title, paragraphs).
fn stories(n: usize) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for set in ["cwce-zh-dev", "scrapinghub-aeb"] {
        let truth: HashMap<String, Value> =
            serde_json::from_slice(&std::fs::read(corpus(&format!("{set}/ground-truth.json"))).unwrap()).unwrap();
        let mut ids: Vec<&String> = truth.keys().collect();
        ids.sort();
        let mut taken = 0;
        for id in ids {
            let body = truth[id]["articleBody"].as_str().unwrap_or("");
            let paragraphs: Vec<String> =
                body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
            let title = format!("Story {id}");
            let close = || {
                let (_, copy) = syndicated(&title, &paragraphs);
                shared::neardup::jaccard(&paragraphs.join("\n\n"), &copy.join("\n\n")) >= 0.8
            };
            if paragraphs.len() >= 4 && body.chars().count() >= 600 && taken < n / 2 && close() {
                out.push((title, paragraphs));
                taken += 1;
            }
        }
    }
    out
}

/// A syndicated copy: a source line and a promo line added, the last paragraph dropped, another
/// headline suffix.
fn syndicated(title: &str, paragraphs: &[String]) -> (String, Vec<String>) {
    let mut body = vec!["Source: Example Wire".to_owned()];
    body.extend(paragraphs[..paragraphs.len() - 1].iter().cloned());
    body.push("Download our app for the latest news, wherever you are.".to_owned());
    (format!("{title} - Example News"), body)
}

fn job(id: &str, site: &str, title: &str, paragraphs: &[String]) -> Vec<u8> {
    let content = format!("---\ntitle: \"{title}\"\n---\n\n{}", paragraphs.join("\n\n"));
    serde_json::to_vec(&json!({
        "id": id, "url": format!("https://{site}/{id}"), "content": content, "content_type": "text/markdown",
    }))
    .unwrap()
}

/// The events on the test's output queue until `n` arrived: (routing key, event).
async fn events(env: &TestEnv, n: usize) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    while out.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else { break };
        out.push((m.delivery.routing_key.to_string(), serde_json::from_slice(&m.delivery.data).unwrap()));
    }
    out
}

async fn syndicated_copies_name_the_first_article(redis_url: &str) {
    let mut env = TestEnv::new(&[("COPYDESK_REDIS_URL", redis_url)]).await;
    env.start_workers();
    let stories = stories(6);
    for (i, (title, paragraphs)) in stories.iter().enumerate() {
        env.publish_job("clean", &job(&format!("orig-{i}"), "news.example.com", title, paragraphs)).await;
    }
    let originals = events(&env, stories.len()).await;
    assert_eq!(originals.len(), stories.len());
    let mut ids = HashMap::new();
    for (key, event) in &originals {
        assert!(key.starts_with("article."), "{key}: different stories, even from one site, are articles");
        ids.insert(event["job_id"].as_str().unwrap().to_owned(), event["id"].as_str().unwrap().to_owned());
    }
    for (i, (title, paragraphs)) in stories.iter().enumerate() {
        let (t, p) = syndicated(title, paragraphs);
        env.publish_job("clean", &job(&format!("copy-{i}"), "other.example.org", &t, &p)).await;
        env.publish_job("clean", &job(&format!("again-{i}"), "news.example.com", title, paragraphs)).await;
    }
    let copies = events(&env, 2 * stories.len()).await;
    assert_eq!(copies.len(), 2 * stories.len());
    for (key, event) in &copies {
        let job_id = event["job_id"].as_str().unwrap();
        let i = job_id.rsplit('-').next().unwrap();
        let original = &ids[&format!("orig-{i}")];
        assert!(key.starts_with("duplicate."), "{job_id}: {key}");
        assert_eq!(event["duplicate_of"].as_str(), Some(original.as_str()), "{job_id} names the first article");
        if job_id.starts_with("copy-") {
            assert_ne!(event["id"].as_str(), Some(original.as_str()), "a near copy has its own id");
        }
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syndicated_copies_are_duplicates_of_the_first_article_on_one_redis() {
    syndicated_copies_name_the_first_article("redis://127.0.0.1:6379/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syndicated_copies_are_duplicates_of_the_first_article_on_a_redis_cluster() {
    let cluster = ThrowawayCluster::start().await;
    syndicated_copies_name_the_first_article(&cluster.url()).await;
    let keys = cluster.keys_per_node();
    assert!(keys.iter().all(|k| *k > 0), "the keys spread over the three masters: {keys:?}");
}

/// Two dedup replicas (two sets of workers, each with its own connections) handed pairs of near
/// copies at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_given_near_copies_at_once_publish_one_article_and_one_duplicate() {
    let mut env = TestEnv::new(&[]).await;
    let stories = stories(20);
    for (i, (title, paragraphs)) in stories.iter().enumerate() {
        let (t, p) = syndicated(title, paragraphs);
        env.publish_job("clean", &job(&format!("a-{i}"), "news.example.com", title, paragraphs)).await;
        env.publish_job("clean", &job(&format!("b-{i}"), "other.example.org", &t, &p)).await;
    }
    env.start_workers();
    env.start_workers();
    let got = events(&env, 2 * stories.len()).await;
    assert_eq!(got.len(), 2 * stories.len());
    let mut by_story: HashMap<String, Vec<&Value>> = HashMap::new();
    for (_, event) in &got {
        let i = event["job_id"].as_str().unwrap().rsplit('-').next().unwrap().to_owned();
        by_story.entry(i).or_default().push(event);
    }
    for (i, pair) in &by_story {
        let articles: Vec<_> = pair.iter().filter(|e| e["duplicate_of"].is_null()).collect();
        assert_eq!(articles.len(), 1, "story {i}: one article");
        let duplicate = pair.iter().find(|e| !e["duplicate_of"].is_null()).expect("and one duplicate");
        assert_eq!(duplicate["duplicate_of"], articles[0]["id"], "story {i}");
    }
    env.stop_workers().await;
    env.cleanup().await;
}

fn random_id() -> [u8; 32] {
    std::array::from_fn(|_| fastrand::u8(..))
}

/// A copy of a sketch with `changed` positions redrawn (similarity about 1 − changed/32).
fn near(sketch: &Sketch, changed: usize) -> Sketch {
    let mut s = *sketch;
    for v in s.0.iter_mut().take(changed) {
        *v = fastrand::u32(..);
    }
    s
}

/// Decides an article as a dedup worker would (waiting when told to) and records it.
async fn decide(store: &Store, id: &[u8; 32], sketch: &Sketch) -> Decision {
    // One input message: the same token on every look.
    let token: [u8; 4] = std::array::from_fn(|_| fastrand::u8(..));
    for waits in 0..50 {
        let check = store.check(id, token, sketch, waits).await.expect("Redis answers");
        assert!(check.rounds <= 2);
        match &check.decision {
            Decision::Wait { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            decision => {
                if let Some(claim) = &check.claim
                    && !store.complete(claim, id, decision, &sketch.compact()).await.unwrap()
                {
                    // Taken over meanwhile: look again.
                    continue;
                }
                return check.decision;
            }
        }
    }
    panic!("still waiting after 50 looks");
}

fn store(url: &str, prefix: &str, capacity: u64) -> Store {
    Store {
        redis: Redis::new(url).unwrap(),
        layout: Layout::new(prefix, 3600, capacity),
        pending_ttl: Duration::from_secs(30),
    }
}

async fn near_copies_race(url: &str) {
    let prefix = format!("test-{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
    // Two replicas: two clients, two connections.
    let (a, b) = (store(url, &prefix, 10_000), store(url, &prefix, 10_000));
    for trial in 0..50 {
        let first = Sketch(std::array::from_fn(|_| fastrand::u32(..)));
        let second = near(&first, 4);
        let (x, y) = (random_id(), random_id());
        let (dx, dy) = tokio::join!(decide(&a, &x, &first), decide(&b, &y, &second));
        let (winner, loser) = match (&dx, &dy) {
            (Decision::Publish, other) => (x, other),
            (other, Decision::Publish) => (y, other),
            _ => panic!("trial {trial}: nobody published: {dx:?} {dy:?}"),
        };
        assert_eq!(
            loser,
            &Decision::Duplicate { original: hex(&winner), near: true },
            "trial {trial}: exactly one article, and the other its duplicate"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_copies_decided_at_the_same_instant_by_two_replicas_give_one_article() {
    near_copies_race("redis://127.0.0.1:6379/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_copies_decided_at_the_same_instant_on_a_redis_cluster_give_one_article() {
    let cluster = ThrowawayCluster::start().await;
    near_copies_race(&cluster.url()).await;
}

/// Confirmed marks written many at a time: every article marked by its own input message then
/// publishes nothing on a redelivery, an unmarked one publishes again, and a mark carrying another
/// message's token marks nothing.
async fn confirmed_marks_in_batches(url: &str) {
    let prefix = format!("test-{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
    let store = store(url, &prefix, 1_000);
    let marks = Marker::start(store.clone());
    let articles: Vec<([u8; 32], [u8; 4], Sketch)> = (0..60)
        .map(|_| {
            (random_id(), std::array::from_fn(|_| fastrand::u8(..)), Sketch(std::array::from_fn(|_| fastrand::u32(..))))
        })
        .collect();
    for (id, token, sketch) in &articles {
        let check = store.check(id, *token, sketch, 0).await.unwrap();
        assert_eq!(check.decision, Decision::Publish);
        if let Some(claim) = &check.claim {
            assert!(store.complete(claim, id, &check.decision, &sketch.compact()).await.unwrap());
        }
    }
    // The first 40 confirmed at once (one call, or a few); the next 10 by a stranger's token.
    let marking: Vec<_> = articles[..40]
        .iter()
        .map(|(id, token, _)| {
            let (marks, id, token) = (marks.clone(), *id, *token);
            tokio::spawn(async move { marks.mark(&id, token).await })
        })
        .collect();
    for marked in marking {
        marked.await.unwrap().unwrap();
    }
    for (id, token, _) in &articles[40..50] {
        let stranger = token.map(|b| b ^ 0xff);
        marks.mark(id, stranger).await.unwrap();
    }
    for (i, (id, token, sketch)) in articles.iter().enumerate() {
        let again = store.check(id, *token, sketch, 0).await.unwrap().decision;
        let expected = if i < 40 { Decision::Published } else { Decision::Publish };
        assert_eq!(again, expected, "article {i} delivered again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_marks_written_in_batches_stop_redeliveries_on_one_redis() {
    confirmed_marks_in_batches("redis://127.0.0.1:6379/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_marks_written_in_batches_stop_redeliveries_on_a_redis_cluster() {
    let cluster = ThrowawayCluster::start().await;
    confirmed_marks_in_batches(&cluster.url()).await;
}

/// A claim released (late, say) and then taken by another copy of the article is not overwritten
/// by its first holder: only the copy holding the claim records the article, so the two never
/// both publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_taken_over_by_another_copy_is_not_overwritten_by_its_first_holder() {
    let prefix = format!("test-{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
    let store = store("redis://127.0.0.1:6379/", &prefix, 1_000);
    let original = Sketch(std::array::from_fn(|_| fastrand::u32(..)));
    assert_eq!(decide(&store, &random_id(), &original).await, Decision::Publish);
    // A near copy: its bands name the original, so its record starts as a pending claim.
    let (copy, sketch) = (random_id(), near(&original, 2));
    let first = store.check(&copy, [1, 1, 1, 1], &sketch, 0).await.unwrap();
    let first_claim = first.claim.expect("a near copy is claimed, then recorded");
    store.release(&first_claim).await;
    let second = store.check(&copy, [2, 2, 2, 2], &sketch, 0).await.unwrap();
    let second_claim = second.claim.expect("a released claim can be taken");
    assert!(
        !store.complete(&first_claim, &copy, &first.decision, &sketch.compact()).await.unwrap(),
        "the first holder no longer holds the claim"
    );
    assert!(store.complete(&second_claim, &copy, &second.decision, &sketch.compact()).await.unwrap());
    // The article is decided once: a third copy finds the second holder's record.
    let third = store.check(&copy, [3, 3, 3, 3], &sketch, 0).await.unwrap();
    assert!(matches!(third.decision, Decision::Duplicate { .. }), "{:?}", third.decision);
    assert!(third.claim.is_none());
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn used_memory(port: u16) -> u64 {
    let info = redis_cli(port, &["INFO", "memory"]);
    info.lines().find_map(|l| l.strip_prefix("used_memory:")).unwrap().trim().parse().unwrap()
}

/// Redis memory per remembered article, at the volume the keys were sized for (a tenth of the
/// articles near copies), and the round trips of each decision; every key expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_article_costs_at_most_300_bytes_of_redis_and_two_round_trips() {
    let redis = ThrowawayRedis::start().await;
    let n = 20_000usize;
    let store = store(&redis.url(), "mem", n as u64);
    store.redis.ping().await.unwrap();
    let before = used_memory(redis.port);
    let mut originals: Vec<Sketch> = Vec::new();
    let mut rounds = [0usize; 3];
    let mut duplicates = 0;
    for chunk in 0..n / 100 {
        let items: Vec<([u8; 32], Sketch)> = (0..100)
            .map(|i| {
                let sketch = if i % 10 == 9 && !originals.is_empty() {
                    near(&originals[fastrand::usize(..originals.len())], 3)
                } else {
                    Sketch(std::array::from_fn(|_| fastrand::u32(..)))
                };
                (random_id(), sketch)
            })
            .collect();
        let mut handles = Vec::new();
        for (id, sketch) in items.clone() {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let token = std::array::from_fn(|_| fastrand::u8(..));
                let check = store.check(&id, token, &sketch, 0).await.unwrap();
                if let Some(claim) = &check.claim {
                    assert!(
                        store.complete(claim, &id, &check.decision, &sketch.compact()).await.unwrap(),
                        "the claim is ours"
                    );
                }
                // As the dedup stage does once the broker confirmed the event.
                if check.decision == Decision::Publish {
                    store.confirm(&[(id, token)]).await.unwrap();
                }
                check
            }));
        }
        for (h, (_, sketch)) in handles.into_iter().zip(&items) {
            let check = h.await.unwrap();
            rounds[check.rounds as usize] += 1;
            match check.decision {
                Decision::Publish => originals.push(*sketch),
                Decision::Duplicate { .. } => duplicates += 1,
                Decision::Wait { .. } | Decision::Published => {
                    panic!("nobody else decides these articles (chunk {chunk})")
                }
            }
        }
    }
    let per_article = (used_memory(redis.port) - before) as f64 / n as f64;
    println!(
        "{n} articles ({duplicates} near copies): {per_article:.0} bytes of Redis each; \
         decisions in 1 round trip: {}, in 2: {}",
        rounds[1], rounds[2]
    );
    assert!(per_article <= 300.0, "{per_article:.0} bytes per article");
    assert_eq!(rounds[0], 0);
    assert!(duplicates >= n / 10 * 9 / 10, "most near copies found: {duplicates}");
    // Every key carries the window's TTL (at most two windows).
    let keys = redis_cli(redis.port, &["--scan", "--pattern", "mem:dedup:*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert!(!keys.is_empty());
    for key in keys.iter().step_by(97) {
        let ttl: i64 = redis_cli(redis.port, &["TTL", key]).trim().parse().unwrap();
        assert!(ttl > 0 && ttl <= 2 * 3600, "{key}: TTL {ttl}");
    }
    let encoding = redis_cli(redis.port, &["OBJECT", "ENCODING", keys[0]]);
    assert_eq!(encoding.trim(), "listpack", "{}: a compact hash", keys[0]);
}
