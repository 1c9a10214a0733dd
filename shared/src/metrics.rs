//! Prometheus metrics, in the text exposition format, with low-cardinality labels.
//!
//! A small registry of our own: counters, gauges and one latency histogram, keyed by name and
//! labels under one mutex. At a few thousand messages a second the lock is never contended
//! enough to show, and it keeps the exposition exact (no torn reads between buckets).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    counters: BTreeMap<(&'static str, Labels), f64>,
    gauges: BTreeMap<(&'static str, Labels), f64>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
}

/// The metrics of one worker process.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

const HELP: &[(&str, &str, &str)] = &[
    ("copydesk_messages_total", "counter", "Messages handled, by stage and outcome."),
    ("copydesk_stage_duration_seconds", "histogram", "Time from delivery to settlement, by stage."),
    ("copydesk_in_flight", "gauge", "Messages being handled now, by stage."),
    ("copydesk_redis_duration_seconds", "histogram", "Time for a Redis command to answer, by command."),
    ("copydesk_fetch_unchanged_total", "counter", "Pages the server reported unchanged (304): no event."),
    (
        "copydesk_retries_total",
        "counter",
        "Messages sent to a delay queue for another attempt, by stage and error kind.",
    ),
    ("copydesk_dead_letters_total", "counter", "Messages dead-lettered, by stage and error kind."),
    ("copydesk_duplicates_total", "counter", "Articles recognised as already seen."),
    (
        "copydesk_dedup_redis_rounds_total",
        "counter",
        "Dedup decisions by the Redis round trips they took (1: no candidate; 2: candidates read).",
    ),
    ("copydesk_articles_total", "counter", "New articles published."),
    (
        "copydesk_dedup_unmarked_seconds",
        "histogram",
        "From an article event's publish to its confirmed mark in Redis: a dedup crash inside this window repeats the event (repeats per crash ≈ article rate × this time).",
    ),
    (
        "copydesk_dedup_published_again_total",
        "counter",
        "Article events published again by a redelivered message whose confirmed mark was missing (possible repeats).",
    ),
    ("copydesk_reconnects_total", "counter", "Connections re-established, by service."),
    ("copydesk_ready", "gauge", "1 when connected to everything the worker needs."),
    ("copydesk_fetch_responses_total", "counter", "HTTP responses received by the fetcher, by status class."),
];

fn labels(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

impl Metrics {
    pub fn inc(&self, name: &'static str, pairs: &[(&'static str, &str)]) {
        self.add(name, pairs, 1.0);
    }

    pub fn add(&self, name: &'static str, pairs: &[(&'static str, &str)], by: f64) {
        let mut inner = self.inner.lock().expect("metrics lock");
        *inner.counters.entry((name, labels(pairs))).or_default() += by;
    }

    pub fn set(&self, name: &'static str, pairs: &[(&'static str, &str)], value: f64) {
        let mut inner = self.inner.lock().expect("metrics lock");
        inner.gauges.insert((name, labels(pairs)), value);
    }

    pub fn gauge_add(&self, name: &'static str, pairs: &[(&'static str, &str)], by: f64) {
        let mut inner = self.inner.lock().expect("metrics lock");
        *inner.gauges.entry((name, labels(pairs))).or_default() += by;
    }

    pub fn observe(&self, name: &'static str, pairs: &[(&'static str, &str)], elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.inner.lock().expect("metrics lock");
        let h = inner.histograms.entry((name, labels(pairs))).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// The value of a counter, for tests.
    pub fn counter(&self, name: &'static str, pairs: &[(&'static str, &str)]) -> f64 {
        let inner = self.inner.lock().expect("metrics lock");
        inner.counters.get(&(name, labels(pairs))).copied().unwrap_or(0.0)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for ((n, l), v) in inner.counters.iter().chain(&inner.gauges) {
                if n == name {
                    let _ = writeln!(out, "{name}{} {v}", render_labels(l, None));
                }
            }
            for ((n, l), h) in &inner.histograms {
                if n != name {
                    continue;
                }
                for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(out, "{name}_bucket{} {count}", render_labels(l, Some(&bound.to_string())));
                }
                let _ = writeln!(out, "{name}_bucket{} {}", render_labels(l, Some("+Inf")), h.count);
                let _ = writeln!(out, "{name}_sum{} {}", render_labels(l, None), h.sum);
                let _ = writeln!(out, "{name}_count{} {}", render_labels(l, None), h.count);
            }
        }
        out
    }
}

fn render_labels(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_gauges_and_histograms() {
        let m = Metrics::default();
        m.inc("copydesk_messages_total", &[("stage", "clean"), ("outcome", "done")]);
        m.inc("copydesk_messages_total", &[("stage", "clean"), ("outcome", "done")]);
        m.set("copydesk_ready", &[], 1.0);
        m.observe("copydesk_stage_duration_seconds", &[("stage", "clean")], Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("copydesk_messages_total{stage=\"clean\",outcome=\"done\"} 2"), "{text}");
        assert!(text.contains("copydesk_ready 1"));
        assert!(text.contains("copydesk_stage_duration_seconds_bucket{stage=\"clean\",le=\"0.005\"} 1"));
        assert!(text.contains("copydesk_stage_duration_seconds_bucket{stage=\"clean\",le=\"0.0025\"} 0"));
        assert!(text.contains("copydesk_stage_duration_seconds_count{stage=\"clean\"} 1"));
        assert_eq!(m.counter("copydesk_messages_total", &[("stage", "clean"), ("outcome", "done")]), 2.0);
    }
}
