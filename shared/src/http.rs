//! The worker's own HTTP endpoint on `COPYDESK_HTTP_ADDR`: `/healthz` (the process is alive),
//! `/readyz` (connected to the broker and, where needed, Redis) and `/metrics` (Prometheus text).
//!
//! A few lines of HTTP/1.1 over tokio rather than a web framework: three fixed GET routes, one
//! request per connection, a bounded request head.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Largest request head read; anything longer is answered 431 and closed.
const MAX_HEAD: usize = 8 * 1024;

/// What the worker is connected to, as the probes report it.
#[derive(Default)]
pub struct Health {
    pub broker: AtomicBool,
    pub redis: AtomicBool,
    /// False for workers that do not use Redis: then only the broker counts.
    pub needs_redis: bool,
}

impl Health {
    pub fn new(needs_redis: bool) -> Health {
        Health { needs_redis, ..Health::default() }
    }

    pub fn ready(&self) -> bool {
        self.broker.load(Ordering::Relaxed) && (!self.needs_redis || self.redis.load(Ordering::Relaxed))
    }

    pub fn set_broker(&self, up: bool, metrics: &Metrics) {
        self.broker.store(up, Ordering::Relaxed);
        metrics.set("copydesk_ready", &[], f64::from(u8::from(self.ready())));
    }

    pub fn set_redis(&self, up: bool, metrics: &Metrics) {
        self.redis.store(up, Ordering::Relaxed);
        metrics.set("copydesk_ready", &[], f64::from(u8::from(self.ready())));
    }
}

/// Serves the three routes until `stop` is cancelled.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue, // a client gave up mid-handshake; keep serving
            },
        };
        let health = health.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            let complete = loop {
                match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break false,
                    Ok(Ok(n)) => head.extend_from_slice(&buf[..n]),
                }
                if head.windows(4).any(|w| w == b"\r\n\r\n") {
                    break true;
                }
                if head.len() > MAX_HEAD {
                    break false;
                }
            };
            let line = String::from_utf8_lossy(&head);
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, content_type, body) = if !complete {
                ("431 Request Header Fields Too Large", "text/plain", String::new())
            } else if method != "GET" {
                ("405 Method Not Allowed", "text/plain", "GET only\n".to_owned())
            } else {
                match path.split('?').next().unwrap_or("") {
                    "/healthz" => ("200 OK", "text/plain", "ok\n".to_owned()),
                    "/readyz" if health.ready() => ("200 OK", "text/plain", "ready\n".to_owned()),
                    "/readyz" => ("503 Service Unavailable", "text/plain", "not ready\n".to_owned()),
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
                }
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
