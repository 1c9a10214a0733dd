//! The fetch stage's I/O shell: GET the page within limits, decode it, hand a clean job on.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use shared::amqp::{AMQPValue, Broker, Failure, Handler, Incoming, LongString, Outcome, json_properties};
use shared::config::FetchSettings;
use shared::message::{CONTENT_TYPE_HTML, Job, Stage};
use shared::metrics::Metrics;

use crate::guard;
use crate::robots::Robots;
use shared::redis::Redis;

/// Resolves names with the system resolver and keeps only public addresses, so that a name
/// pointing at a private address (or rebinding to one) is never connected to.
struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = guard::public_only(addrs.into_iter());
            if public.is_empty() {
                return Err(format!("{host} resolves only to non-public addresses").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

pub struct FetchHandler {
    client: reqwest::Client,
    settings: FetchSettings,
    metrics: Arc<Metrics>,
    redis: Redis,
    prefix: String,
}

/// Longest wait for a host's next slot while holding the delivery; beyond it the job goes back
/// through a delay queue, since sleeping long on a held delivery trips the consumer timeout.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(5);
/// Largest robots.txt read.
const MAX_ROBOTS_BYTES: usize = 512 * 1024;
/// How long the validators of a page (ETag, Last-Modified) are remembered.
const VALIDATORS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

use copydesk_clean::worker::{HTTP_DATE_HEADER, LAST_MODIFIED_HEADER};

/// A fetched page, or the news that it has not changed.
enum Fetched {
    Page { url: String, body: Vec<u8>, charset: Option<String>, last_modified: Option<String>, date: Option<String> },
    Unchanged,
}

impl FetchHandler {
    /// # Errors
    ///
    /// When the HTTP client cannot be built.
    pub fn new(
        settings: FetchSettings,
        metrics: Arc<Metrics>,
        redis: Redis,
        prefix: &str,
    ) -> anyhow::Result<FetchHandler> {
        // One crypto provider (ring) for every TLS user in the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let allow_private = settings.allow_private;
        let allow_addrs = settings.allow_addrs.clone();
        let max_redirects = settings.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            match guard::check_url(attempt.url(), allow_private, &allow_addrs) {
                Ok(()) => attempt.follow(),
                Err(reason) => {
                    let message = format!("redirect to {}: {reason}", attempt.url());
                    attempt.error(message)
                }
            }
        });
        let mut builder = reqwest::Client::builder()
            .user_agent(settings.user_agent.clone())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .redirect(policy)
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicResolver));
        }
        Ok(FetchHandler { client: builder.build()?, settings, metrics, redis, prefix: prefix.to_owned() })
    }

    /// Waits for the host's next request slot, shared by all replicas through Redis.
    async fn polite_wait(&self, host: &str, interval: Duration) -> Result<(), Failure> {
        if interval.is_zero() {
            return Ok(());
        }
        let key = format!("{}:fetch:rate:{host}", self.prefix);
        match self.redis.reserve_slot(&key, interval, MAX_INLINE_WAIT).await {
            Ok(Some(wait)) => {
                tokio::time::sleep(wait).await;
                Ok(())
            }
            Ok(None) => {
                Err(Failure::wait("rate_limited", format!("{host} is busy; waiting for its turn"), MAX_INLINE_WAIT))
            }
            Err(e) => Err(Failure::new("redis", e.to_string())),
        }
    }

    /// The robots.txt of `url`'s origin, from the cache or fetched (and cached).
    async fn robots(&self, url: &url::Url, interval: Duration) -> Result<Robots, Failure> {
        let origin = url.origin().ascii_serialization();
        let key = format!("{}:fetch:robots:{origin}", self.prefix);
        match self.redis.get(&key).await {
            Ok(Some(text)) => return Ok(Robots::parse(&text)),
            Ok(None) => {}
            Err(e) => return Err(Failure::new("redis", e.to_string())),
        }
        self.polite_wait(url.host_str().unwrap_or(""), interval).await?;
        let robots_url = format!("{origin}/robots.txt");
        let text = match self.client.get(&robots_url).send().await {
            Ok(r) if r.status().is_success() => {
                let mut body = Vec::new();
                let mut stream = r.bytes_stream();
                while let Some(Ok(chunk)) = stream.next().await {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_ROBOTS_BYTES {
                        break;
                    }
                }
                String::from_utf8_lossy(&body).into_owned()
            }
            // RFC 9309: unavailable (4xx) means no rules; unreachable (5xx) means wait.
            Ok(r) if r.status().is_client_error() => String::new(),
            Ok(r) => return Err(Failure::new("robots_unavailable", format!("HTTP {} for {robots_url}", r.status()))),
            Err(e) if e.is_timeout() || e.is_connect() => {
                return Err(Failure::new("robots_unavailable", error_chain(&e)));
            }
            Err(_) => String::new(),
        };
        let _ = self.redis.set(&key, &text, self.settings.robots_ttl).await;
        Ok(Robots::parse(&text))
    }

    async fn fetch(&self, job: &Job) -> Result<Fetched, Failure> {
        let url = job.url.as_deref().unwrap_or_default();
        let url = url::Url::parse(url).map_err(|e| Failure::new("bad_url", format!("`{url}` is not a URL: {e}")))?;
        guard::check_url(&url, self.settings.allow_private, &self.settings.allow_addrs)
            .map_err(|r| Failure::new("forbidden_url", r))?;
        let host = url.host_str().unwrap_or("").to_owned();
        let mut interval = self.settings.interval_for(&host);
        if self.settings.robots {
            let robots = self.robots(&url, interval).await?;
            let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
            if !robots.allowed(&self.settings.user_agent, path) {
                return Err(Failure::new("robots_disallowed", format!("robots.txt of {host} disallows {path}")));
            }
            if let Some(delay) = robots.crawl_delay(&self.settings.user_agent) {
                interval = interval.max(delay);
            }
        }
        self.polite_wait(&host, interval).await?;
        let validators_key = format!("{}:fetch:validators:{url}", self.prefix);
        let mut request = self.client.get(url.clone());
        if let Ok(Some(v)) = self.redis.get(&validators_key).await {
            let (etag, modified) = v.split_once('\n').unwrap_or((v.as_str(), ""));
            if !etag.is_empty() {
                request = request.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if !modified.is_empty() {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, modified);
            }
        }
        // The HTTP request as a client span, a child of the message's span.
        let http_span = tracing::info_span!(
            "GET",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.request.method = "GET",
            url.full = %url,
            server.address = %host,
            http.response.status_code = tracing::field::Empty,
        );
        let sent = tracing::Instrument::instrument(request.send(), http_span.clone()).await;
        if let Ok(r) = &sent {
            http_span.record("http.response.status_code", r.status().as_u16());
            if r.status().as_u16() >= 500 {
                http_span.record("otel.status_code", "ERROR");
            }
        } else {
            http_span.record("otel.status_code", "ERROR");
        }
        let response = sent.map_err(|e| {
            let text = error_chain(&e);
            if e.is_redirect() && text.contains("redirects") {
                Failure::new("too_many_redirects", text)
            } else if e.is_redirect() || text.contains("non-public") {
                Failure::new("forbidden_url", text)
            } else if e.is_timeout() {
                Failure::new("http_timeout", text)
            } else {
                Failure::new("http_connect", text)
            }
        })?;
        let status = response.status();
        self.metrics.inc("copydesk_fetch_responses_total", &[("class", &format!("{}xx", status.as_u16() / 100))]);
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::Unchanged);
        }
        if status.as_u16() == 429 || status.is_server_error() {
            let after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, chrono::Utc::now()));
            let mut failure = Failure::new(
                if status.as_u16() == 429 { "http_429" } else { "http_5xx" },
                format!("HTTP {status} from {url}"),
            );
            failure.delay = after;
            return Err(failure);
        }
        if !status.is_success() {
            return Err(Failure {
                counts: true,
                delay: None,
                kind: "http_4xx",
                message: format!("HTTP {status} from {url}"),
            });
        }
        let final_url = response.url().to_string();
        let header = |name: reqwest::header::HeaderName| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
        };
        let (etag, last_modified, date) =
            (header(reqwest::header::ETAG), header(reqwest::header::LAST_MODIFIED), header(reqwest::header::DATE));
        let content_type =
            response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(ct) = &content_type {
            let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if !matches!(essence.as_str(), "text/html" | "application/xhtml+xml" | "") {
                return Err(Failure::new("unsupported_type", format!("content type `{essence}` is not a web page")));
            }
        }
        let charset = content_type.as_deref().and_then(|ct| {
            ct.split(';').find_map(|p| p.trim().strip_prefix("charset=").map(|c| c.trim_matches('"').to_owned()))
        });
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                if e.is_timeout() {
                    Failure::new("http_timeout", error_chain(&e))
                } else {
                    Failure::new("http_body", error_chain(&e))
                }
            })?;
            if body.len() + chunk.len() > self.settings.max_bytes {
                return Err(Failure::new(
                    "too_large",
                    format!("the page is larger than {} bytes", self.settings.max_bytes),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        if etag.is_some() || last_modified.is_some() {
            let value = format!("{}\n{}", etag.unwrap_or_default(), last_modified.clone().unwrap_or_default());
            let _ = self.redis.set(&validators_key, &value, VALIDATORS_TTL).await;
        }
        Ok(Fetched::Page { url: final_url, body, charset, last_modified, date })
    }
}

/// The wait a `Retry-After` value asks for: seconds, or an HTTP date (RFC 9110); at most an
/// hour. `None` when it cannot be read or lies in the past (the usual backoff applies).
fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    let seconds = match value.parse::<u64>() {
        Ok(s) => s,
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            u64::try_from((at.with_timezone(&chrono::Utc) - now).num_seconds()).ok().filter(|s| *s > 0)?
        }
    };
    Some(Duration::from_secs(seconds.min(3600)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A transient failure is retried; the rest are dead-lettered.
fn is_transient(kind: &str) -> bool {
    matches!(kind, "http_timeout" | "http_connect" | "http_5xx" | "http_429" | "http_body")
}

impl Handler for FetchHandler {
    fn stage(&self) -> &'static str {
        "fetch"
    }

    async fn handle(&self, message: &Incoming, broker: &Broker) -> Outcome {
        let job = match Job::parse(&message.body, Stage::Fetch) {
            Ok(job) => job,
            Err(error) => return Outcome::Reject(Failure::new(error.kind(), error.to_string())),
        };
        let (final_url, body, charset, last_modified, date) = match self.fetch(&job).await {
            Ok(Fetched::Page { url, body, charset, last_modified, date }) => (url, body, charset, last_modified, date),
            Ok(Fetched::Unchanged) => {
                self.metrics.inc("copydesk_fetch_unchanged_total", &[]);
                return Outcome::Done;
            }
            Err(failure) if is_transient(failure.kind) => return Outcome::Retry(failure),
            Err(failure) => return Outcome::Reject(failure),
        };
        let fetched_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let tld = url::Url::parse(&final_url)
            .ok()
            .and_then(|u| u.host_str().and_then(|h| h.rsplit('.').next().map(str::to_owned)));
        let text = copydesk_clean::charset::decode(&body, charset.as_deref(), tld.as_deref()).text.into_owned();
        let clean_job = Job {
            url: Some(final_url),
            content: Some(text),
            content_type: Some(CONTENT_TYPE_HTML.to_owned()),
            id: job.id,
            metadata: job.metadata,
        };
        let body = serde_json::to_vec(&clean_job).expect("a job serializes");
        let mut headers = shared::amqp::FieldTable::default();
        headers.insert(
            copydesk_clean::worker::FETCHED_AT_HEADER.into(),
            AMQPValue::LongString(LongString::from(fetched_at.as_str())),
        );
        for (name, value) in [(LAST_MODIFIED_HEADER, last_modified), (HTTP_DATE_HEADER, date)] {
            if let Some(v) = value {
                headers.insert(name.into(), AMQPValue::LongString(LongString::from(v.as_str())));
            }
        }
        let properties = json_properties().with_headers(headers);
        match broker.publish(&broker.names.jobs(), "clean", &body, properties, true).await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Retry(Failure::new("publish", error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-28T07:28:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 99999 ", now), Some(Duration::from_secs(3600)), "at most an hour");
        assert_eq!(retry_after("Sat, 28 Nov 2026 07:29:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(retry_after("Sat, 28 Nov 2026 07:00:00 GMT", now), None, "in the past");
        assert_eq!(retry_after("soon", now), None);
    }
}
