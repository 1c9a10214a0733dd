//! One job, one trace across the three workers: each worker's span is the child of the publish
//! span of the message it consumed, and the published event's `traceparent` belongs to the trace.
//! Spans are collected with the SDK's in-memory exporter.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::json;

use crate::project_root;
use crate::support::{PageServer, TestEnv, header};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_is_one_trace_across_the_three_workers() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    shared::telemetry::install("copydesk-tests", false, Some(provider.clone()));

    let mut env = TestEnv::new(&[]).await;
    env.start_workers();
    let page = std::fs::read(project_root().join("examples/council-budget.html")).unwrap();
    let server = PageServer::start(page, "text/html").await;
    env.publish_job("fetch", &serde_json::to_vec(&json!({"url": server.url})).unwrap()).await;
    let event = env.next_on(&env.out, Duration::from_secs(30)).await.expect("an article");
    let traceparent = header(&event, "traceparent").expect("the event carries a traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    let trace_id = TraceId::from_hex(parts[1]).unwrap();
    let event_parent = SpanId::from_hex(parts[2]).unwrap();
    env.cleanup().await;
    let _ = provider.force_flush();

    let spans: Vec<_> =
        exporter.get_finished_spans().unwrap().into_iter().filter(|s| s.span_context.trace_id() == trace_id).collect();
    let by_name: HashMap<String, &opentelemetry_sdk::trace::SpanData> =
        spans.iter().map(|s| (s.name.to_string(), s)).collect();
    let p = &env_prefix(&spans);
    let name = |n: &str| n.replace("P.", &format!("{p}."));
    for n in ["process P.fetch", "GET", "process P.clean", "process P.dedup", "publish P.articles"] {
        assert!(
            by_name.contains_key(&name(n)),
            "span {} in the trace; got {:?}",
            name(n),
            by_name.keys().collect::<Vec<_>>()
        );
    }
    let span = |n: &str| by_name[&name(n)];
    let parent_of =
        |n: &str| spans.iter().find(|s| s.span_context.span_id() == span(n).parent_span_id).map(|s| s.name.to_string());
    // The job was published like `copydesk submit` does: its publish span starts the trace.
    assert_eq!(parent_of("process P.fetch"), Some(name("publish P.jobs")));
    assert_eq!(parent_of("GET"), Some(name("process P.fetch")));
    assert_eq!(parent_of("process P.clean"), Some(name("publish P.jobs")));
    assert_eq!(parent_of("process P.dedup"), Some(name("publish P.jobs")));
    assert_eq!(parent_of("publish P.articles"), Some(name("process P.dedup")));
    // The two `publish P.jobs` spans hang under fetch and clean respectively.
    let jobs_publishers: Vec<String> = spans
        .iter()
        .filter(|s| s.name == name("publish P.jobs"))
        .filter_map(|s| spans.iter().find(|q| q.span_context.span_id() == s.parent_span_id).map(|q| q.name.to_string()))
        .collect();
    assert!(
        jobs_publishers.contains(&name("process P.fetch")) && jobs_publishers.contains(&name("process P.clean")),
        "{jobs_publishers:?}"
    );
    assert_eq!(
        span("publish P.articles").span_context.span_id(),
        event_parent,
        "the event's traceparent is its publish span"
    );
    let attrs: HashMap<String, String> =
        span("process P.dedup").attributes.iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect();
    assert_eq!(attrs.get("messaging.system").map(String::as_str), Some("rabbitmq"));
    assert_eq!(attrs.get("messaging.operation.name").map(String::as_str), Some("process"));
    assert_eq!(attrs.get("messaging.destination.name").map(String::as_str), Some(name("P.dedup").as_str()));
}

/// The test prefix, read off the span names.
fn env_prefix(spans: &[opentelemetry_sdk::trace::SpanData]) -> String {
    spans
        .iter()
        .find_map(|s| s.name.strip_prefix("process ").and_then(|q| q.strip_suffix(".fetch")).map(str::to_owned))
        .expect("a fetch span")
}
