//! Redis: the connection and the few commands the workers use.
//!
//! `COPYDESK_REDIS_URL` names one server (`redis://`, `rediss://`) or a Redis Cluster
//! (`redis+cluster://[user:password@]host:port,host:port,…`, `rediss+cluster://` with TLS). Every
//! command and script touches keys of one hash slot, so the same code works on both; a "round" of
//! several commands on different slots is sent at once and costs one round trip.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use ::redis::aio::{ConnectionLike, ConnectionManager};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{AsyncCommands, Client, Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, Value};

pub use ::redis::{RedisResult, Script, ScriptInvocation};

/// An error for an answer that makes no sense.
pub fn protocol_error(message: &'static str) -> RedisError {
    RedisError::from((::redis::ErrorKind::UnexpectedReturnType, message))
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

#[expect(clippy::large_enum_variant, reason = "one per client, behind an Arc")]
enum Target {
    Single(Client),
    Cluster(ClusterClient),
}

/// A connection to one server or to a cluster; cheap to clone (both are multiplexed).
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(cmd, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// The node URLs of a `redis+cluster://` or `rediss+cluster://` URL, or `None` for a single
/// server's URL.
pub fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("+cluster://")?;
    let rest = rest.split('/').next().unwrap_or("");
    let (userinfo, hosts) = match rest.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), rest),
    };
    Some(
        hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| format!("{scheme}://{userinfo}{h}"))
            .collect(),
    )
}

/// A Redis client that connects on first use and reconnects after failures, so a worker can
/// start, and report live, while Redis is still down.
#[derive(Clone)]
pub struct Redis {
    target: Arc<Target>,
    connection: Arc<Mutex<Option<Connection>>>,
}

impl Redis {
    /// # Errors
    ///
    /// When the URL is not a Redis URL.
    pub fn new(url: &str) -> RedisResult<Redis> {
        let target = match cluster_nodes(url) {
            Some(nodes) => Target::Cluster(
                ClusterClient::builder(nodes)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(2)
                    .build()?,
            ),
            None => Target::Single(Client::open(url)?),
        };
        Ok(Redis { target: Arc::new(target), connection: Arc::new(Mutex::new(None)) })
    }

    /// Whether this client talks to a Redis Cluster (where one script may touch only the keys of
    /// one hash slot).
    pub fn is_cluster(&self) -> bool {
        matches!(self.target.as_ref(), Target::Cluster(_))
    }

    async fn connection(&self) -> RedisResult<Connection> {
        let mut slot = self.connection.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let timed_out = || RedisError::from((::redis::ErrorKind::Io, "connecting to Redis timed out"));
        let c = match self.target.as_ref() {
            Target::Single(client) => {
                let config = ::redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1);
                let connecting = client.get_connection_manager_with_config(config);
                Connection::Single(tokio::time::timeout(CONNECT_TIMEOUT, connecting).await.map_err(|_| timed_out())??)
            }
            Target::Cluster(client) => {
                let connecting = client.get_async_connection();
                Connection::Cluster(tokio::time::timeout(CONNECT_TIMEOUT, connecting).await.map_err(|_| timed_out())??)
            }
        };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// # Errors
    ///
    /// When the server does not answer.
    pub async fn ping(&self) -> RedisResult<()> {
        let mut c = self.connection().await?;
        ::redis::cmd("PING").query_async::<String>(&mut c).await.map(|_| ())
    }

    /// Runs one script (loading it first if the server does not have it).
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached, or the script fails.
    pub async fn invoke<T: FromRedisValue>(&self, invocation: &ScriptInvocation<'_>) -> RedisResult<T> {
        let mut c = self.connection().await?;
        invocation.invoke_async(&mut c).await
    }

    /// Runs scripts as one round: all are sent before any answer is awaited (on a cluster each
    /// goes to its slot's node), and the answers come back in order.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached, or any script fails.
    pub async fn invoke_round<T: FromRedisValue>(&self, invocations: &[ScriptInvocation<'_>]) -> RedisResult<Vec<T>> {
        let c = self.connection().await?;
        let calls = invocations.iter().map(|invocation| {
            let mut c = c.clone();
            async move { invocation.invoke_async::<T>(&mut c).await }
        });
        futures_util::future::join_all(calls).await.into_iter().collect()
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
    ) -> RedisResult<Option<Duration>> {
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
    pub async fn get(&self, key: &str) -> RedisResult<Option<String>> {
        let mut c = self.connection().await?;
        c.get(key).await
    }

    /// Caches `value` under `key` for `ttl`.
    ///
    /// # Errors
    ///
    /// When Redis cannot be reached.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> RedisResult<()> {
        let mut c = self.connection().await?;
        c.set_ex(key, value, ttl.as_secs().max(1)).await
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_nodes;

    #[test]
    fn cluster_urls_name_every_node_with_the_credentials() {
        assert_eq!(cluster_nodes("redis://127.0.0.1:6379/"), None);
        assert_eq!(cluster_nodes("redis+cluster://a:7000,b:7001/").unwrap(), ["redis://a:7000", "redis://b:7001"]);
        assert_eq!(
            cluster_nodes("rediss+cluster://user:p%40ss@a:7000, b:7001").unwrap(),
            ["rediss://user:p%40ss@a:7000", "rediss://user:p%40ss@b:7001"]
        );
    }
}
