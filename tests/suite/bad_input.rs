//! Bad input through the whole pipeline on the real broker: every bad job ends in `P.dead` with
//! its reason, every good one yields its event, and no worker stops.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::pipeline::bulk_job;
use crate::support::{TestEnv, header};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_jobs_are_dead_lettered_with_their_reasons() {
    let mut env = TestEnv::new(&[("COPYDESK_MAX_EVENT_BYTES", "100000")]).await;
    env.start_workers();
    let nested = format!("{{\"content\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_job = serde_json::to_vec(&json!({"content": "x".repeat(33 << 20), "content_type": "text/html"})).unwrap();
    // A page whose article event (text and HTML) would pass the event cap (100 kB here).
    let paragraph = "<p>The committee heard evidence from residents, officials and experts, and weighed every cost against every benefit before it voted.</p>";
    let big_page = format!("<html><body><article>{}</article></body></html>", paragraph.repeat(500));
    let big_event_job = serde_json::to_vec(&json!({"content": big_page, "content_type": "text/html"})).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("clean", huge_job, "too_large"),
        ("clean", vec![0x00, 0x9f, 0x92, 0x96, 0xff, 0x00, 0x01], "not_utf8"),
        (
            "clean",
            br#"{"content": "%PDF-1.7 ...", "content_type": "application/pdf"}"#.to_vec(),
            "unsupported_content_type",
        ),
        ("clean", nested.into_bytes(), "not_json"),
        ("clean", big_event_job, "event_too_large"),
        ("clean", br#"{"content": "<html><body><nav><a href=/>Home</a></nav></body></html>"}"#.to_vec(), "no_article"),
    ];
    for (stage, body, _) in &cases {
        env.publish_job(stage, body).await;
    }
    // Unknown fields are ignored: this one is a good job.
    env.publish_job(
        "clean",
        &serde_json::to_vec(&json!({"content": String::from_utf8(bulk_job(1)).unwrap(), "surprise": {"a": [1, 2]}}))
            .unwrap(),
    )
    .await;
    let mut kinds = Vec::new();
    for _ in 0..cases.len() {
        let m = env.next_on(&env.names.dead(), Duration::from_secs(60)).await.expect("a dead letter per bad job");
        kinds.push(header(&m, "x-copydesk-error-kind").unwrap());
    }
    kinds.sort();
    let mut expected: Vec<&str> = cases.iter().map(|(_, _, k)| *k).collect();
    expected.sort();
    assert_eq!(kinds, expected);
    let m = env.next_on(&env.out, Duration::from_secs(30)).await.expect("the job with unknown fields yields its event");
    let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert!(event["text"].as_str().unwrap().contains("report number 1"));
    env.cleanup().await;
}

/// Garbage of many kinds, deterministic by its number.
fn garbage(i: usize) -> Vec<u8> {
    match i % 6 {
        0 => format!("{{not json {i}").into_bytes(),
        1 => format!("{{\"url\": \"https://x.test/{i}\"}}").into_bytes(),
        2 => format!("{{\"content\": {i}}}").into_bytes(),
        3 => vec![0xff, 0xfe, (i % 251) as u8],
        4 => format!("[{i}]").into_bytes(),
        _ => format!("{{\"content\": \"<p>{i}</p>\", \"metadata\": {{\"categories\": [{i}]}}}}").into_bytes(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_garbage_jobs_mixed_into_ten_thousand_good_ones() {
    let n = 10_000;
    let mut env = TestEnv::new(&[("COPYDESK_PREFETCH", "64")]).await;
    env.start_workers();
    for i in 0..n {
        env.publish_job("clean", &bulk_job(i)).await;
        env.publish_job("clean", &garbage(i)).await;
    }
    let mut jobs = HashSet::new();
    while jobs.len() < n {
        let Some(m) = env.next_on(&env.out, Duration::from_secs(60)).await else { break };
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        jobs.insert(event["job_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(jobs.len(), n, "every good job yields its event");
    let mut dead: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    while total < n {
        let Some(m) = env.next_on(&env.names.dead(), Duration::from_secs(30)).await else { break };
        *dead.entry(header(&m, "x-copydesk-error-kind").unwrap()).or_default() += 1;
        total += 1;
    }
    assert_eq!(total, n, "every garbage job is dead-lettered: {dead:?}");
    for kind in ["not_json", "missing_field", "wrong_type", "not_utf8", "not_object"] {
        assert!(dead.get(kind).is_some_and(|c| *c > 0), "{kind} in {dead:?}");
    }
    assert!(env.next_on(&env.out, Duration::from_millis(300)).await.is_none(), "no event from garbage");
    env.cleanup().await;
}

/// CPU seconds a process has used so far (user + system, from `/proc`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A page of 100,000 nested elements (closed, then left open) through the clean worker process:
/// each costs that process at most 2 s of CPU, and the worker goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_pages_cost_the_clean_worker_at_most_two_seconds_of_cpu() {
    let env = TestEnv::new(&[]).await;
    let mut clean = env.spawn_worker("copydesk-clean");
    let mut dedup = env.spawn_worker("copydesk-dedup");
    let n = 100_000;
    let text = "Deep inside the page, the article text still says something worth reading, with commas, clauses and a full stop.";
    let closed = format!("<html><body>{}<p>{text}</p>{}</body></html>", "<div>".repeat(n), "</div>".repeat(n));
    let open = format!("<html><body>{}<p>Unclosed nesting: {text}</p>", "<div><span>".repeat(n));
    // A first job, so that the worker is connected and warm before the count starts.
    env.publish_job("clean", &bulk_job(0)).await;
    assert!(env.next_on(&env.out, Duration::from_secs(60)).await.is_some(), "the workers are up");
    for (name, page) in [("closed", closed), ("open", open)] {
        let before = cpu_seconds(clean.id());
        let job = json!({"id": name, "content": page, "content_type": "text/html"});
        env.publish_job("clean", &serde_json::to_vec(&job).unwrap()).await;
        let m = env.next_on(&env.out, Duration::from_secs(60)).await.expect("the nested page yields its event");
        let event: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        assert!(event["text"].as_str().unwrap().contains("Deep inside the page"), "{name}");
        let cpu = cpu_seconds(clean.id()) - before;
        eprintln!("{name} nesting, {n} deep: {cpu:.2} s of CPU in the clean worker");
        assert!(cpu <= 2.0, "{name}: {cpu:.2} s of CPU");
    }
    assert!(clean.try_wait().unwrap().is_none() && dedup.try_wait().unwrap().is_none(), "no worker stopped");
    for child in [&mut clean, &mut dedup] {
        let _ = child.kill();
        let _ = child.wait();
    }
    env.cleanup().await;
}
