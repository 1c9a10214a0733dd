//! Throughput of the AMQP workers on the real broker and Redis, side by side with a bare relay
//! (consume, publish with confirm, ack, no work) running the same consume loop.
//!
//! `cargo bench -p integration-tests --bench pipeline [-- N]` (default N = 20000; the prefetch is
//! 64 for every worker and the relay, or `COPYDESK_PREFETCH`). Needs the
//! worker binaries: `cargo build --release --workspace --bins`. A benchmark, not a test: it
//! prints figures for BENCHMARKS.md.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use shared::amqp::{Broker, Failure, Handler, Incoming, Outcome, json_properties};
use shared::config::Settings;
use tokio_util::sync::CancellationToken;

/// The dedup worker's allocator, so that the relay runs on it too.
#[global_allocator]
static ALLOCATOR: shared::Allocator = shared::Allocator;

/// Consumes a stage queue and republishes every message to `P.articles`, confirmed, doing nothing else.
struct Relay;

impl Handler for Relay {
    fn stage(&self) -> &'static str {
        "dedup"
    }

    async fn handle(&self, message: &Incoming, broker: &Broker) -> Outcome {
        match broker.publish(&broker.names.articles(), "relay", &message.body, json_properties(), true).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(Failure::new("publish", e.to_string())),
        }
    }
}

fn settings(prefix: &str) -> Settings {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    Settings::from_vars([
        ("COPYDESK_AMQP_URL".to_owned(), env("COPYDESK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")),
        ("COPYDESK_REDIS_URL".to_owned(), env("COPYDESK_REDIS_URL", "redis://127.0.0.1:6379/")),
        ("COPYDESK_PREFIX".to_owned(), prefix.to_owned()),
        ("COPYDESK_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
        ("COPYDESK_PREFETCH".to_owned(), env("COPYDESK_PREFETCH", "64")),
        // Keys sized for the run, kept two hours at most.
        ("COPYDESK_DEDUP_CAPACITY".to_owned(), "20000".to_owned()),
        ("COPYDESK_DEDUP_TTL_SECONDS".to_owned(), "3600".to_owned()),
    ])
    .unwrap()
}

/// A clean job of about 4 KB whose article is distinct for each `i`.
fn clean_job(i: usize) -> Vec<u8> {
    // Every article its own story (words from a generator seeded by i): templated pages would all
    // be near copies of each other, and the dedup stage would rightly publish duplicates.
    let mut state = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut word = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 3 + (state % 7) as usize;
        (0..len).map(|k| char::from(b'a' + ((state >> (8 + 5 * k)) % 26) as u8)).collect::<String>()
    };
    let body: String = (0..20)
        .map(|k| {
            let words: Vec<String> = (0..18).map(|_| word()).collect();
            format!("<p>Paragraph {k} of report {i}: {}.</p>", words.join(" "))
        })
        .collect();
    let page = format!(
        "<html><head><title>Report {i}</title></head><body><article><h1>Report {i}</h1>{body}</article></body></html>"
    );
    serde_json::to_vec(&serde_json::json!({"id": format!("b{i}"), "url": format!("https://bench.example.com/{i}"), "content": page, "content_type": "text/html"})).unwrap()
}

struct Stage {
    broker: Broker,
    out: String,
}

async fn prepare(prefix: &str) -> Stage {
    let s = settings(prefix);
    let broker = Broker::connect(&s, "copydesk-bench").await.expect("RabbitMQ");
    let ch = broker.connection.create_channel().await.unwrap();
    let out = format!("{prefix}.bench-out");
    ch.queue_declare(
        out.as_str().into(),
        QueueDeclareOptions { durable: true, ..Default::default() },
        FieldTable::default(),
    )
    .await
    .unwrap();
    ch.queue_bind(
        out.as_str().into(),
        broker.names.articles().into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    Stage { broker, out }
}

async fn count(broker: &Broker, queue: &str) -> u32 {
    let ch = broker.connection.create_channel().await.unwrap();
    let q = ch
        .queue_declare(queue.into(), QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
        .await
        .unwrap();
    let _ = ch.close(200, "".into()).await;
    q.message_count()
}

/// Publishes `bodies` to `stage` on `P.jobs`, one confirmed publish after another.
async fn preload(broker: &Broker, stage: &str, bodies: Vec<Vec<u8>>) {
    preload_with(broker, stage, bodies.into_iter().map(|b| (b, json_properties())).collect()).await;
}

/// Publishes messages with their properties (headers included).
async fn preload_with(broker: &Broker, stage: &str, messages: Vec<(Vec<u8>, lapin::BasicProperties)>) {
    for (b, p) in messages {
        broker.publish(&broker.names.jobs(), stage, &b, p, true).await.unwrap();
    }
}

/// Waits until `out` holds `n` messages; the rate from `start`.
async fn drain(broker: &Broker, out: &str, n: usize, start: Instant) -> f64 {
    loop {
        if count(broker, out).await as usize >= n {
            return n as f64 / start.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Takes `n` messages off `queue`, with their properties (the clean stage's sketch header).
async fn take_all(broker: &Broker, queue: &str, n: usize) -> Vec<(Vec<u8>, lapin::BasicProperties)> {
    use futures_lite::StreamExt;
    use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
    let ch = broker.connection.create_channel().await.unwrap();
    ch.basic_qos(1000, BasicQosOptions::default()).await.unwrap();
    let mut consumer =
        ch.basic_consume(queue.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default()).await.unwrap();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let d = consumer.next().await.unwrap().unwrap();
        d.acker.ack(BasicAckOptions::default()).await.unwrap();
        out.push((d.data, d.properties));
    }
    let _ = ch.close(200, "".into()).await;
    out
}

async fn cleanup(stage: Stage) {
    let ch = stage.broker.connection.create_channel().await.unwrap();
    let names = &stage.broker.names;
    let mut queues = vec![stage.out.clone(), names.dead()];
    for s in shared::amqp::STAGES {
        queues.push(names.queue(s));
        for l in 0..shared::amqp::topology::RETRY_LEVELS {
            queues.push(names.retry(s, l));
        }
    }
    for q in queues {
        let _ = ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
    }
    stage.broker.close().await;
}

fn spawn(binary: &str, prefix: &str) -> Child {
    spawn_on(binary, prefix, "127.0.0.1:0", &[])
}

fn spawn_on(binary: &str, prefix: &str, http: &str, extra: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let s = settings(prefix);
    Command::new(dir.join(binary))
        .env("COPYDESK_AMQP_URL", &s.amqp_url)
        .env("COPYDESK_REDIS_URL", &s.redis_url)
        .env("COPYDESK_PREFIX", prefix)
        .env("COPYDESK_HTTP_ADDR", http)
        .env("COPYDESK_PREFETCH", s.prefetch.to_string())
        .env("COPYDESK_DEDUP_CAPACITY", s.dedup_capacity.to_string())
        .env("COPYDESK_DEDUP_TTL_SECONDS", s.dedup_ttl.as_secs().to_string())
        .env("RUST_LOG", "warn")
        .envs(extra.iter().copied())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{binary}: {e} (build with `cargo build --release --workspace --bins`)"))
}

async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// A histogram's mean in Prometheus text, in milliseconds (0 when absent).
fn mean_ms(text: &str, name: &str) -> f64 {
    let sample = |suffix: &str| {
        let full = format!("{name}_{suffix}");
        text.lines()
            .find(|l| l.starts_with(&full) && l[full.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    1000.0 * sample("sum") / sample("count").max(1.0)
}

/// Peak resident memory of a process, in MB.
fn peak_mb(child: &Child) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU seconds this process has used.
fn self_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds a process has used (user + system).
fn cpu_seconds(child: &Child) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let tag = format!("{:08x}", fastrand::u32(..));
        let jobs: Vec<Vec<u8>> = (0..n).map(clean_job).collect();
        let prefetch = settings("p").prefetch;
        println!("{n} messages, clean jobs of {} bytes, prefetch {prefetch}, quorum queues", jobs[0].len());

        // Clean alone: clean jobs in, cleaned articles on P.dedup (counted there).
        let clean = prepare(&format!("bench-clean-{tag}")).await;
        preload(&clean.broker, "clean", jobs.clone()).await;
        let worker = spawn("copydesk-clean", &format!("bench-clean-{tag}"));
        let dedup_queue = clean.broker.names.queue("dedup");
        let clean_rate = drain(&clean.broker, &dedup_queue, n, Instant::now()).await;
        let (clean_mb, clean_cpu) = (peak_mb(&worker), cpu_seconds(&worker));
        stop(worker);
        let events = take_all(&clean.broker, &dedup_queue, n).await;
        cleanup(clean).await;
        let size = events.iter().map(|(b, _)| b.len()).sum::<usize>() / n;

        // The same cleaned articles through a bare relay (the same consume loop, publish with
        // confirm, ack, no work) and through the dedup worker.
        let relay = prepare(&format!("bench-relay-{tag}")).await;
        preload_with(&relay.broker, "dedup", events.clone()).await;
        let stop_relay = CancellationToken::new();
        let s = settings(&format!("bench-relay-{tag}"));
        let task = tokio::spawn(shared::amqp::consume(s, Arc::new(Relay), Arc::new(shared::http::Health::new(false)), Arc::new(Default::default()), stop_relay.clone()));
        let cpu_before = self_cpu_seconds();
        let relay_rate = drain(&relay.broker, &relay.out, n, Instant::now()).await;
        let relay_cpu = self_cpu_seconds() - cpu_before;
        stop_relay.cancel();
        let _ = task.await;
        cleanup(relay).await;

        // The strict mode (at most one repeat per crash) on a fifth of the articles, afterwards.
        let strict_events: Vec<_> = events.iter().take(n / 5).cloned().collect();
        let dedup = prepare(&format!("bench-dedup-{tag}")).await;
        preload_with(&dedup.broker, "dedup", events).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let worker = spawn_on("copydesk-dedup", &format!("bench-dedup-{tag}"), &format!("127.0.0.1:{port}"), &[]);
        let dedup_rate = drain(&dedup.broker, &dedup.out, n, Instant::now()).await;
        let metrics = scrape(port).await;
        let mean = |name: &str| mean_ms(&metrics, name);
        println!("dedup: mean {:.2} ms from delivery to settlement, of which {:.2} ms for the Redis decision", mean("copydesk_stage_duration_seconds"), mean("copydesk_redis_duration_seconds"));
        // A dedup worker killed at full speed repeats the events out but not yet marked confirmed.
        let unmarked = mean("copydesk_dedup_unmarked_seconds");
        println!("dedup: mean {unmarked:.2} ms from an event's publish to its confirmed mark: a SIGKILL at this rate repeats about {:.0} events", dedup_rate * unmarked / 1000.0);
        let (dedup_mb, dedup_cpu) = (peak_mb(&worker), cpu_seconds(&worker));
        stop(worker);
        cleanup(dedup).await;

        let strict = prepare(&format!("bench-strict-{tag}")).await;
        preload_with(&strict.broker, "dedup", strict_events).await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let worker = spawn_on(
            "copydesk-dedup",
            &format!("bench-strict-{tag}"),
            &format!("127.0.0.1:{port}"),
            &[("COPYDESK_DEDUP_MAX_UNMARKED", "1")],
        );
        let strict_rate = drain(&strict.broker, &strict.out, n / 5, Instant::now()).await;
        let strict_unmarked = mean_ms(&scrape(port).await, "copydesk_dedup_unmarked_seconds");
        stop(worker);
        cleanup(strict).await;
        println!("cleaned article events: {size} bytes on average");
        println!("bare relay:          {relay_rate:>8.0} msg/s   {:.0} µs CPU per message (with the bench's own polling)", 1e6 * relay_cpu / n as f64);
        println!("clean worker:        {clean_rate:>8.0} msg/s   peak RSS {clean_mb:.1} MB   {:.0} µs CPU per message", 1e6 * clean_cpu / n as f64);
        println!("dedup worker:        {dedup_rate:>8.0} msg/s   peak RSS {dedup_mb:.1} MB   {:.0} µs CPU per message   ({:.0}% of the bare relay)", 1e6 * dedup_cpu / n as f64, 100.0 * dedup_rate / relay_rate);
        println!("dedup, at most one unmarked event (COPYDESK_DEDUP_MAX_UNMARKED=1): {strict_rate:>8.0} msg/s   mean {strict_unmarked:.2} ms from publish to mark");

        // End to end: clean jobs in, article events out, both workers running.
        let e2e = prepare(&format!("bench-e2e-{tag}")).await;
        preload(&e2e.broker, "clean", jobs).await;
        let (c, d) = (spawn("copydesk-clean", &format!("bench-e2e-{tag}")), spawn("copydesk-dedup", &format!("bench-e2e-{tag}")));
        let e2e_rate = drain(&e2e.broker, &e2e.out, n, Instant::now()).await;
        let (cm, dm) = (peak_mb(&c), peak_mb(&d));
        stop(c);
        stop(d);
        cleanup(e2e).await;
        println!("end to end:          {e2e_rate:>8.0} articles/s   peak RSS clean {cm:.1} MB, dedup {dm:.1} MB");
    });
}
