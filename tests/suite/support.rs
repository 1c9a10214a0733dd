//! Test helpers: a run under its own `COPYDESK_PREFIX` on the real broker and Redis (from
//! `COPYDESK_AMQP_URL` / `COPYDESK_REDIS_URL`, defaulting to the local services), workers started
//! in-process, an output queue on `P.articles`, and a page server on 127.0.0.1.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lapin::Channel;
use lapin::message::BasicGetMessage;
use lapin::options::{
    BasicAckOptions, BasicGetOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use shared::amqp::{Broker, Names, json_properties};
use shared::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

/// One test's world: its own prefix, so its exchanges, queues and keys are its own.
pub struct TestEnv {
    pub settings: Settings,
    pub names: Names,
    pub broker: Broker,
    pub channel: Channel,
    pub out: String,
    stop: CancellationToken,
    workers: Vec<JoinHandle<anyhow::Result<()>>>,
}

impl TestEnv {
    pub async fn new(extra: &[(&str, &str)]) -> TestEnv {
        let prefix = format!("test-{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
        let mut vars = vec![
            ("COPYDESK_AMQP_URL".to_owned(), env_or("COPYDESK_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")),
            ("COPYDESK_REDIS_URL".to_owned(), env_or("COPYDESK_REDIS_URL", "redis://127.0.0.1:6379/")),
            ("COPYDESK_PREFIX".to_owned(), prefix),
            ("COPYDESK_HTTP_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
            ("COPYDESK_FETCH_ALLOW_PRIVATE".to_owned(), "1".to_owned()),
            ("COPYDESK_RETRY_BASE_MS".to_owned(), "100".to_owned()),
            ("COPYDESK_GRACE_SECONDS".to_owned(), "10".to_owned()),
            // Politeness is tested on its own; elsewhere the local servers take any pace.
            ("COPYDESK_FETCH_INTERVAL_MS".to_owned(), "0".to_owned()),
            ("COPYDESK_FETCH_ROBOTS".to_owned(), "0".to_owned()),
            // The shared Redis keeps what a test leaves for at most two hours (cleanup deletes it).
            ("COPYDESK_DEDUP_TTL_SECONDS".to_owned(), "3600".to_owned()),
            ("COPYDESK_DEDUP_CAPACITY".to_owned(), "100000".to_owned()),
        ];
        vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let settings = Settings::from_vars(vars).expect("test settings");
        let broker = connect_with_backoff(&settings).await;
        let channel = broker.connection.create_channel().await.unwrap();
        let names = Names::new(&settings.prefix);
        let out = format!("{}.test-out", settings.prefix);
        channel
            .queue_declare(
                out.as_str().into(),
                QueueDeclareOptions { durable: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                out.as_str().into(),
                names.articles().into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        TestEnv { settings, names, broker, channel, out, stop: CancellationToken::new(), workers: Vec::new() }
    }

    /// Starts the three workers in this process.
    pub fn start_workers(&mut self) {
        let s = &self.settings;
        self.workers.push(tokio::spawn(copydesk_fetch::run(s.clone(), self.stop.clone())));
        self.workers.push(tokio::spawn(copydesk_clean::worker::run(s.clone(), self.stop.clone())));
        self.workers.push(tokio::spawn(copydesk_dedup::run(s.clone(), self.stop.clone())));
    }

    /// Stops the workers and asserts that each returned `Ok` (a clean, drained stop).
    pub async fn stop_workers(&mut self) {
        self.stop.cancel();
        for w in self.workers.drain(..) {
            w.await.expect("worker task").expect("worker stopped cleanly");
        }
        self.stop = CancellationToken::new();
    }

    /// Publishes a job to `P.jobs` as a crawler would.
    pub async fn publish_job(&self, stage: &str, body: &[u8]) {
        self.broker.publish(&self.names.jobs(), stage, body, json_properties(), true).await.expect("job published");
    }

    /// The next message on `queue`, acked, waiting up to `timeout`.
    pub async fn next_on(&self, queue: &str, timeout: Duration) -> Option<BasicGetMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.channel.basic_get(queue.into(), BasicGetOptions::default()).await.unwrap() {
                m.delivery.acker.ack(BasicAckOptions::default()).await.unwrap();
                return Some(m);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Like [`TestEnv::next_on`] on the output queue, but survives the test's own connection
    /// dying (after a broker kill), reconnecting and trying again.
    pub async fn next_on_checked(&mut self, timeout: Duration) -> Option<BasicGetMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.channel.basic_get(self.out.as_str().into(), BasicGetOptions::default()).await {
                Ok(Some(m)) => {
                    if m.delivery.acker.ack(BasicAckOptions::default()).await.is_ok() {
                        return Some(m);
                    }
                }
                Ok(None) => {}
                Err(_) => self.reconnect().await,
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Messages ready in the pipeline's stage and delay queues: their total, and where they are.
    pub async fn pending(&self) -> (usize, String) {
        let mut queues = Vec::new();
        for stage in shared::amqp::STAGES {
            queues.push(self.names.queue(stage));
            for level in 0..shared::amqp::topology::RETRY_LEVELS {
                queues.push(self.names.retry(stage, level));
            }
        }
        let (mut total, mut detail) = (0, Vec::new());
        for q in queues {
            let options = QueueDeclareOptions { passive: true, ..Default::default() };
            if let Ok(d) = self.channel.queue_declare(q.as_str().into(), options, FieldTable::default()).await
                && d.message_count() > 0
            {
                total += d.message_count() as usize;
                detail.push(format!("{q}: {}", d.message_count()));
            }
        }
        (total, detail.join(", "))
    }

    /// Deletes everything under the prefix (the test's Redis keys expire by themselves).
    pub async fn cleanup(mut self) {
        self.stop_workers().await;
        let mut queues = vec![self.out.clone(), self.names.dead()];
        for stage in shared::amqp::STAGES {
            queues.push(self.names.queue(stage));
            for level in 0..shared::amqp::topology::RETRY_LEVELS {
                queues.push(self.names.retry(stage, level));
            }
        }
        for q in queues {
            let _ = self.channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
        }
        for e in [self.names.jobs(), self.names.articles(), self.names.dead()] {
            let _ = self.channel.exchange_delete(e.as_str().into(), ExchangeDeleteOptions::default()).await;
        }
        self.broker.close().await;
        delete_redis_keys(&self.settings.redis_url, &self.settings.prefix);
    }
}

/// Deletes every key under `prefix` on a single Redis (a test's cluster is thrown away whole).
pub fn delete_redis_keys(url: &str, prefix: &str) {
    if shared::redis::cluster_nodes(url).is_some() {
        return;
    }
    let Ok(scan) = std::process::Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern"])
        .arg(format!("{prefix}:*"))
        .output()
    else {
        return;
    };
    let keys: Vec<String> = String::from_utf8_lossy(&scan.stdout).lines().map(str::to_owned).collect();
    for chunk in keys.chunks(1000) {
        let _ = std::process::Command::new("redis-cli").args(["-u", url, "DEL"]).args(chunk).output();
    }
}

async fn connect_with_backoff(settings: &Settings) -> Broker {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match Broker::connect(settings, "copydesk-tests").await {
            Ok(b) => return b,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for RabbitMQ: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("RabbitMQ at {} never came up: {e}", Settings::host_of(&settings.amqp_url)),
        }
    }
}

/// A header's text value.
pub fn header(m: &BasicGetMessage, name: &str) -> Option<String> {
    shared::amqp::header_str(m.delivery.properties.headers().as_ref(), name).map(str::to_owned)
}

/// Serves `body` with `content_type` to every request on 127.0.0.1, until dropped; the first
/// `failures` requests get a 503 instead.
pub struct PageServer {
    pub url: String,
    pub requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl PageServer {
    pub async fn start(body: Vec<u8>, content_type: &'static str) -> PageServer {
        PageServer::flaky(body, content_type, 0).await
    }

    pub async fn flaky(body: Vec<u8>, content_type: &'static str, failures: usize) -> PageServer {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/news/story.html", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let (status, body) =
                    if n < failures { ("503 Service Unavailable", b"busy".to_vec()) } else { ("200 OK", body.clone()) };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(&body).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        PageServer { url, requests, task }
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A worker binary built beside this test binary (`ops/test.sh` builds them first).
pub fn worker_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built: run `cargo build --workspace --bins` (ops/test.sh does)", path.display());
    path
}

impl TestEnv {
    /// The environment a worker process of this test runs with.
    pub fn process_env(&self) -> Vec<(String, String)> {
        vec![
            ("COPYDESK_AMQP_URL".into(), self.settings.amqp_url.clone()),
            ("COPYDESK_REDIS_URL".into(), self.settings.redis_url.clone()),
            ("COPYDESK_PREFIX".into(), self.settings.prefix.clone()),
            ("COPYDESK_HTTP_ADDR".into(), "127.0.0.1:0".into()),
            ("COPYDESK_FETCH_ALLOW_PRIVATE".into(), "1".into()),
            ("COPYDESK_GRACE_SECONDS".into(), "10".into()),
            ("COPYDESK_FETCH_INTERVAL_MS".into(), "0".into()),
            ("COPYDESK_FETCH_ROBOTS".into(), "0".into()),
            ("RUST_LOG".into(), "warn".into()),
        ]
    }
}

/// Serves page `n` at `/n`: a distinct small article for every path, for bulk runs.
pub struct BulkServer {
    pub base: String,
    task: JoinHandle<()>,
}

impl BulkServer {
    pub async fn start() -> BulkServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]);
                    let path = head.split_whitespace().nth(1).unwrap_or("/0");
                    let page = bulk_page(path.trim_start_matches('/').parse().unwrap_or(0));
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                        page.len()
                    );
                    let _ = s.write_all(response.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        BulkServer { base, task }
    }
}

impl Drop for BulkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A small article, distinct for every `n`.
pub fn bulk_page(n: usize) -> String {
    // Words drawn from a generator seeded by n: every page is its own story, far from the others
    // (a shared template would make them near copies of each other, and the dedup stage would
    // rightly say so).
    let mut state = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut word = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 3 + (state % 7) as usize;
        (0..len).map(|i| char::from(b'a' + ((state >> (8 + 5 * i)) % 26) as u8)).collect::<String>()
    };
    let mut sentence = |words: usize| (0..words).map(|_| word()).collect::<Vec<_>>().join(" ");
    let (a, b) = (sentence(24), sentence(24));
    format!(
        "<html><head><title>Report number {n}</title></head><body><article><h1>Report number {n}</h1>\
         <p>The committee published report number {n} on Tuesday: {a}.</p>\
         <p>Among its {n} recommendations, the first asks the city to {b}.</p>\
         </article></body></html>"
    )
}

/// A request as the test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    /// Lower-case header names with their values.
    pub headers: Vec<(String, String)>,
}

/// What the test server answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body one byte a second.
    pub trickle: bool,
}

impl Reply {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            trickle: false,
        }
    }

    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new(), trickle: false }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Route = dyn Fn(&Seen) -> Reply + Send + Sync;

/// An HTTP server on 127.0.0.1 answering with `route`, logging every request.
pub struct TestServer {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub log: Arc<std::sync::Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl TestServer {
    pub async fn start(route: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
        let route: Arc<Route> = Arc::new(route);
        let (task_log, task_route) = (log.clone(), route.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else { return };
                let (log, route) = (task_log.clone(), task_route.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let mut lines = text.lines();
                    let path = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("/").to_owned();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let seen = Seen { at: Instant::now(), path, headers };
                    log.lock().unwrap().push(seen.clone());
                    let reply = route(&seen);
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (k, v) in &reply.headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    if s.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    if reply.trickle {
                        for b in reply.body {
                            if s.write_all(&[b]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    } else {
                        for chunk in reply.body.chunks(64 * 1024) {
                            if s.write_all(chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = s.shutdown().await;
                });
            }
        });
        TestServer { base: format!("http://{addr}"), addr, log, task }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Redis server of the test's own, on a free port in a temporary folder, with AOF, so that it
/// can be killed and restarted without touching the shared one.
pub struct ThrowawayRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    /// `appendfsync`: `everysec` (a kill loses up to the last second of writes) or `always`.
    fsync: &'static str,
    child: Option<std::process::Child>,
}

impl ThrowawayRedis {
    /// With AOF, `appendfsync everysec` (OPERATIONS.md's minimum).
    pub async fn start() -> ThrowawayRedis {
        ThrowawayRedis::start_with("everysec").await
    }

    /// With AOF, `appendfsync always`: a write is on disk before Redis answers it.
    pub async fn start_fsync_always() -> ThrowawayRedis {
        ThrowawayRedis::start_with("always").await
    }

    async fn start_with(fsync: &'static str) -> ThrowawayRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = ThrowawayRedis { port, dir: tempfile::tempdir().unwrap(), fsync, child: None };
        r.restart().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port and data folder, and waits until it answers.
    pub async fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--dir", self.dir.path().to_str().unwrap()])
            .args(["--appendonly", "yes", "--appendfsync", self.fsync, "--save", ""])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (ops/test.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                let _ = s.write_all(b"PING\r\n").await;
                let mut buf = [0u8; 16];
                if let Ok(n) = s.read(&mut buf).await
                    && buf[..n].starts_with(b"+PONG")
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the throwaway Redis never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`: no shutdown, no final fsync.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A Redis Cluster of the test's own: three masters (no replicas) on free ports, each with its
/// cluster bus on port + 10000, in a temporary folder.
pub struct ThrowawayCluster {
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
    children: Vec<std::process::Child>,
}

impl ThrowawayCluster {
    pub async fn start() -> ThrowawayCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut ports = Vec::new();
        while ports.len() < 3 {
            // The bus port (port + 10000) must be free too.
            let port = 20000 + fastrand::u16(0..30000);
            let free = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
            if !ports.contains(&port) && free(port) && free(port + 10000) {
                ports.push(port);
            }
        }
        let mut children = Vec::new();
        for port in &ports {
            let node_dir = dir.path().join(port.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir", node_dir.to_str().unwrap()])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--save", ""])
                .args(["--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server is installed (ops/test.sh installs it)");
            children.push(child);
        }
        let cluster = ThrowawayCluster { ports, _dir: dir, children };
        for port in &cluster.ports {
            cluster.wait_for(*port, "PONG", &["PING"]).await;
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let created = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed");
        assert!(created.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout));
        for port in &cluster.ports {
            cluster.wait_for(*port, "cluster_state:ok", &["CLUSTER", "INFO"]).await;
        }
        cluster
    }

    async fn wait_for(&self, port: u16, expected: &str, command: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = std::process::Command::new("redis-cli").args(["-p", &port.to_string()]).args(command).output();
            if out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(expected)) {
                return;
            }
            assert!(Instant::now() < deadline, "the throwaway cluster node on {port} never said {expected}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `redis+cluster://` naming every node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}/", nodes.join(","))
    }

    /// How many keys each node holds.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.ports
            .iter()
            .map(|p| {
                let out =
                    std::process::Command::new("redis-cli").args(["-p", &p.to_string(), "DBSIZE"]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
            })
            .collect()
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A RabbitMQ node of the test's own (`../shared/TESTING.md`: run the node directly, with its
/// own cookie, ports and folders), so that it can be killed and restarted.
pub struct ThrowawayRabbit {
    pub port: u16,
    dist_port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl ThrowawayRabbit {
    pub async fn start() -> ThrowawayRabbit {
        let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cookie = format!("COPYDESKTEST{:016X}", fastrand::u64(..));
        let mut r = ThrowawayRabbit::prepare(free(), free(), &cookie, &[]);
        r.restart().await;
        r
    }

    /// A node's folder and configuration, not started; `peers` are the node names of a cluster
    /// it forms with (classic config peer discovery).
    fn prepare(port: u16, dist_port: u16, cookie: &str, peers: &[String]) -> ThrowawayRabbit {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::write(p.join(".erlang.cookie"), cookie).unwrap();
        std::fs::set_permissions(p.join(".erlang.cookie"), std::os::unix::fs::PermissionsExt::from_mode(0o400))
            .unwrap();
        let mut conf = format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n");
        if !peers.is_empty() {
            conf.push_str("cluster_formation.peer_discovery_backend = classic_config\n");
            for (i, peer) in peers.iter().enumerate() {
                conf.push_str(&format!("cluster_formation.classic_config.nodes.{} = {peer}\n", i + 1));
            }
        }
        std::fs::write(p.join("rabbitmq.conf"), conf).unwrap();
        std::fs::write(p.join("enabled_plugins"), "[].\n").unwrap();
        ThrowawayRabbit { port, dist_port, dir, child: None }
    }

    /// Three nodes that form one cluster, all started.
    pub async fn cluster() -> Vec<ThrowawayRabbit> {
        let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free(), free())).collect();
        let names: Vec<String> = ports.iter().map(|(p, _)| format!("copydesk{p}@localhost")).collect();
        let cookie = format!("COPYDESKTEST{:016X}", fastrand::u64(..));
        let mut nodes: Vec<ThrowawayRabbit> =
            ports.iter().map(|(p, d)| ThrowawayRabbit::prepare(*p, *d, &cookie, &names)).collect();
        for node in &mut nodes {
            node.spawn();
        }
        for node in &mut nodes {
            node.wait_up().await;
        }
        // Wait until the three see each other.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let status = nodes[0].ctl(&["cluster_status"]);
            if names.iter().all(|n| status.matches(n.as_str()).count() >= 2) {
                return nodes;
            }
            assert!(Instant::now() < deadline, "the throwaway cluster never formed: {status}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// `rabbitmqctl` against this node; its standard output.
    pub fn ctl(&self, args: &[&str]) -> String {
        let p = self.dir.path();
        let out = std::process::Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .env("HOME", p)
            .env("RABBITMQ_CONF_ENV_FILE", p.join("no-such-file"))
            .args(["-n", &format!("copydesk{}@localhost", self.port)])
            .args(args)
            .output()
            .expect("rabbitmqctl is installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn pid_file(&self) -> std::path::PathBuf {
        self.dir.path().join("rabbit.pid")
    }

    /// Starts (again) on the same ports and data, and waits until it takes AMQP connections.
    pub async fn restart(&mut self) {
        self.spawn();
        self.wait_up().await;
    }

    fn spawn(&mut self) {
        let p = self.dir.path();
        let child = std::process::Command::new("/usr/lib/rabbitmq/bin/rabbitmq-server")
            .env("HOME", p)
            .env("RABBITMQ_NODENAME", format!("copydesk{}@localhost", self.port))
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_BASE", p)
            .env("RABBITMQ_MNESIA_BASE", p.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", p.join("log"))
            .env("RABBITMQ_CONFIG_FILE", p.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", p.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .env("RABBITMQ_CONF_ENV_FILE", p.join("no-such-file"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rabbitmq-server is installed (ops/test.sh installs it)");
        self.child = Some(child);
    }

    async fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let connected = lapin::Connection::connect(&self.url(), lapin::ConnectionProperties::default()).await;
            if let Ok(c) = connected {
                let _ = c.close(200, "up".into()).await;
                return;
            }
            assert!(Instant::now() < deadline, "the throwaway RabbitMQ never came up");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// `kill -9` of the Erlang VM: no shutdown at all.
    pub fn kill9(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.pid_file()) {
            let _ = std::process::Command::new("kill").args(["-9", pid.trim()]).status();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.pid_file());
    }
}

impl Drop for ThrowawayRabbit {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl TestEnv {
    /// A new connection for the test itself (after its broker was killed).
    pub async fn reconnect(&mut self) {
        self.broker = connect_with_backoff(&self.settings).await;
        self.channel = self.broker.connection.create_channel().await.unwrap();
    }
}

/// A TCP proxy on 127.0.0.1 between the workers and a service, that can stall the link (hold
/// every byte, both ways, while stalled) or reset it (close every connection).
pub struct FaultProxy {
    pub port: u16,
    stalled: Arc<std::sync::atomic::AtomicBool>,
    generation: Arc<AtomicUsize>,
    /// Milliseconds added before each chunk is passed on (0: none).
    delay_ms: Arc<AtomicUsize>,
    /// Bytes per second each direction may carry (0: unlimited).
    throttle: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(target: u16) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let generation = Arc::new(AtomicUsize::new(0));
        let (delay_ms, throttle) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (s2, g2, d2, t2) = (stalled.clone(), generation.clone(), delay_ms.clone(), throttle.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else { continue };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let born = g2.load(Ordering::SeqCst);
                for (mut r, mut w) in [
                    (
                        Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                        Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    ),
                    (Box::new(sr), Box::new(cw)),
                ] {
                    let (stalled, generation, delay_ms, throttle) = (s2.clone(), g2.clone(), d2.clone(), t2.clone());
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = match tokio::time::timeout(Duration::from_millis(100), r.read(&mut buf)).await {
                                Ok(Ok(0)) | Ok(Err(_)) => return,
                                Ok(Ok(n)) => n,
                                Err(_) => {
                                    if generation.load(Ordering::SeqCst) != born {
                                        return; // reset: drop both halves
                                    }
                                    continue;
                                }
                            };
                            while stalled.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            let delay = delay_ms.load(Ordering::SeqCst);
                            if delay > 0 {
                                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
                            }
                            // Throttled: slices of a twentieth of the rate, 50 ms apart.
                            let rate = throttle.load(Ordering::SeqCst);
                            let slice = if rate > 0 { (rate / 20).max(1) } else { n };
                            for part in buf[..n].chunks(slice) {
                                if generation.load(Ordering::SeqCst) != born || w.write_all(part).await.is_err() {
                                    return;
                                }
                                if rate > 0 {
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                }
                            }
                        }
                    });
                }
            }
        });
        FaultProxy { port, stalled, generation, delay_ms, throttle, task }
    }

    /// Adds `ms` milliseconds before every chunk passed on, both ways (0 turns it off).
    pub fn delay(&self, ms: usize) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Limits each direction to about `bytes_per_second` (0 turns it off).
    pub fn throttle(&self, bytes_per_second: usize) {
        self.throttle.store(bytes_per_second, Ordering::SeqCst);
    }

    pub fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }

    /// Closes every connection through the proxy (new ones are accepted).
    pub fn reset(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The events read off the output queue: distinct article ids, the jobs they came from, the raw
/// count of article events (repeats included) and the duplicate events.
#[derive(Default)]
pub struct Tally {
    pub ids: std::collections::HashMap<String, usize>,
    pub jobs: std::collections::HashSet<String>,
    pub raw: usize,
    pub duplicates: usize,
}

impl Tally {
    pub fn add(&mut self, m: &BasicGetMessage) {
        let event: serde_json::Value = serde_json::from_slice(&m.delivery.data).unwrap();
        let id = event["id"].as_str().unwrap().to_owned();
        assert_eq!(m.delivery.properties.message_id().as_ref().map(|s| s.to_string()).as_ref(), Some(&id));
        if let Some(job) = event["job_id"].as_str() {
            self.jobs.insert(job.to_owned());
        }
        if m.delivery.routing_key.as_str().starts_with("duplicate.") {
            self.duplicates += 1;
            return;
        }
        // The test's own ack, lost to a broker kill, brings an event back marked redelivered:
        // that is not the pipeline's repeat.
        if m.delivery.redelivered && self.ids.contains_key(&id) {
            return;
        }
        *self.ids.entry(id).or_default() += 1;
        self.raw += 1;
    }

    /// Raw article events beyond one per distinct article.
    pub fn repeats(&self) -> usize {
        self.raw - self.ids.len()
    }
}

impl TestEnv {
    /// A worker binary running as a process with this test's settings.
    pub fn spawn_worker(&self, name: &str) -> std::process::Child {
        std::process::Command::new(worker_binary(name))
            .envs(self.process_env())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }
}
