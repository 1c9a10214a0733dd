//! Redis: the connection and the few commands the dedup stage uses.
//!
//! The dedup claim is one round trip: `SET key token NX PX ttl GET` (Redis ≥ 7.0) sets the claim
//! if the key is free and returns what was there otherwise. Every key is a single key, so the
//! same commands work on a Redis Cluster.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use ::redis::aio::ConnectionManager;
use ::redis::{AsyncCommands, Client, Script};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The value of a key whose article has been published.
pub const DONE: &str = "done";

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free and is now ours (pending).
    Acquired,
    /// The article was published before; the value stored with it.
    Done(String),
    /// Another worker holds the claim; it expires after this long.
    Pending(Duration),
}

/// A Redis client that connects on first use and reconnects after failures, so a worker can
/// start, and report live, while Redis is still down.
#[derive(Clone)]
pub struct Redis {
    client: Client,
    connection: Arc<Mutex<Option<ConnectionManager>>>,
}

impl Redis {
    /// # Errors
    ///
    /// When the URL is not a Redis URL.
    pub fn new(url: &str) -> ::redis::RedisResult<Redis> {
        Ok(Redis { client: Client::open(url)?, connection: Arc::new(Mutex::new(None)) })
    }

    async fn connection(&self) -> ::redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = ::redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connecting = self.client.get_connection_manager_with_config(config);
        let c = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| ::redis::RedisError::from((::redis::ErrorKind::Io, "connecting to Redis timed out")))??;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// # Errors
    ///
    /// When the server does not answer.
    pub async fn ping(&self) -> ::redis::RedisResult<()> {
        let mut c = self.connection().await?;
        ::redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ())
    }

    /// Claims `key` with `token` for `ttl`, or reports who has it.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached: a transient failure.
    pub async fn claim(&self, key: &str, token: &str, ttl: Duration) -> ::redis::RedisResult<Claim> {
        let mut c = self.connection().await?;
        let previous: Option<String> = ::redis::cmd("SET")
            .arg(key)
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .arg("GET")
            .query_async(&mut c)
            .await?;
        match previous {
            None => Ok(Claim::Acquired),
            Some(v) if v.starts_with(DONE) => Ok(Claim::Done(v)),
            Some(_) => {
                let left: i64 = c.pttl(key).await?;
                Ok(Claim::Pending(Duration::from_millis(left.max(100) as u64)))
            }
        }
    }

    /// Marks `key` done for `ttl`: the dedup window.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn complete(&self, key: &str, value: &str, ttl: Duration) -> ::redis::RedisResult<()> {
        let mut c = self.connection().await?;
        c.set_ex(key, value, ttl.as_secs().max(1)).await
    }

    /// Drops our claim on `key` (only if it still holds `token`), so a retry need not wait for
    /// it to expire.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached; the claim then expires by itself.
    pub async fn release(&self, key: &str, token: &str) -> ::redis::RedisResult<()> {
        let mut c = self.connection().await?;
        let script = Script::new(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end",
        );
        script.key(key).arg(token).invoke_async::<i64>(&mut c).await.map(|_| ())
    }

    /// Reserves the next request slot for a host: the slots of all replicas are spaced by
    /// `interval`, timed by the Redis server's clock so that replicas with skewed clocks agree.
    /// Returns how long to wait for the reserved slot, or `None` (nothing reserved) when that
    /// would be longer than `max_wait`.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn reserve_slot(
        &self,
        key: &str,
        interval: Duration,
        max_wait: Duration,
    ) -> ::redis::RedisResult<Option<Duration>> {
        let mut c = self.connection().await?;
        let script = Script::new(
            "local t = redis.call('TIME') \
             local now = t[1] * 1000 + math.floor(t[2] / 1000) \
             local nxt = tonumber(redis.call('GET', KEYS[1]) or '0') \
             local slot = math.max(now, nxt) \
             if slot - now > tonumber(ARGV[2]) then return -1 end \
             redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) * 2 + 60000) \
             return slot - now",
        );
        let wait: i64 = script
            .key(key)
            .arg(interval.as_millis() as u64)
            .arg(max_wait.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok((wait >= 0).then(|| Duration::from_millis(wait as u64)))
    }

    /// A cached value, if present.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn get(&self, key: &str) -> ::redis::RedisResult<Option<String>> {
        let mut c = self.connection().await?;
        c.get(key).await
    }

    /// Caches `value` under `key` for `ttl`.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> ::redis::RedisResult<()> {
        let mut c = self.connection().await?;
        c.set_ex(key, value, ttl.as_secs().max(1)).await
    }
}
