//! The Redis backend: one node (`redis://`, `rediss://`, `redis+unix://`)
//! or a Redis Cluster (`redis://seed1,seed2/?cluster=1`), on redis-rs.
//!
//! Every command is written once over one connection type, which is either a
//! multiplexed connection to one node or a cluster connection: one
//! connection serves every concurrent task, without a pool. On a cluster,
//! redis-rs routes each key to its slot's master and splits `MGET`/`DEL`
//! by slot; pipelines are grouped by slot here, and `SCAN` visits every
//! master.
//!
//! - TTLs are milliseconds (`PX`, `PEXPIRE`, `PTTL`).
//! - `unlock` (compare-and-delete), `incr` with an expiry applied only
//!   when it creates the key, and the rate limits' `fixed_window` and
//!   `slide_window` are Lua scripts: atomic, one round trip (`EVALSHA`,
//!   loading the script on first use). A sliding window's slot keys are
//!   `{key}:0`, `{key}:1`, …: the hash tag keeps them on one cluster node.
//! - Sets are Redis sets (`SADD` in a script that also extends the TTL,
//!   `SMEMBERS`, `SREM`); on a cluster each set is one key on one node.
//! - Pattern commands use `SCAN … MATCH`, never `KEYS`, so a large keyspace
//!   never blocks the server. A scan that has not ended after 60 times
//!   `socket_timeout` (a page is asked for only before that) is a
//!   `Timeout` error. Keys that are not UTF-8 (written by other
//!   clients) are deleted by `delete_match` but left out of `scan` and
//!   `get_match`, which return `String`s.
//! - `clear` is `FLUSHDB`: every key of the selected database (on a
//!   cluster, of every master), not only this cache's. A cache with a
//!   `prefix` turns `clear` into `delete_match("prefix:*")` instead.
//! - `get_keys_count` is `DBSIZE` (summed over masters), which may count
//!   keys that expired a moment ago and that Redis has not reclaimed yet.
//! - A command that times out drops its connection (the next command
//!   opens another): redis-rs would otherwise go on reading the late reply
//!   into the connection's buffer. redis-rs 1.8 has no bound on a reply's
//!   size (its parser holds a reply as its bytes arrive, without
//!   allocating its announced length up front), so what bounds one is
//!   `socket_timeout`: a reply is held for at most that long after its
//!   command was sent. On a cluster the whole cluster connection is
//!   dropped and remade, its node connections with it. Nor does an
//!   array's announced count reserve memory: redis-rs makes room for its
//!   items once they arrive (at most 4096 ahead). An `MGET` reply must
//!   hold one value per key, or it is a `Backend` error.
//! - A connection is used from any runtime while the runtime it was opened
//!   on runs (its driver task runs there); once that runtime has shut
//!   down, the next command opens a new one instead of failing.

mod commands;
mod connection;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use redis::cluster::ClusterClientBuilder;
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, FromRedisValue,
    IntoConnectionInfo, RedisConnectionInfo, RedisError, Script, ToRedisArgs, cmd,
};
use tokio::time::Instant;

use self::connection::{Lease, Link, Node, Target};
use super::LISTING_TIMEOUTS;
use crate::error::{Error, ErrorKind, Result};
use crate::settings::{RedisAddress, RedisSettings};

/// The Redis backend, on one node or a cluster.
///
/// Cheap to clone: clones share one connection. It connects on first use,
/// reconnects by itself after the connection breaks, and while the server
/// is unreachable fails at once (a `Connection` error) rather than making
/// callers wait, trying again after a short, growing delay (at most a
/// second). A command that gets no answer within `socket_timeout` fails
/// with a `Timeout` error.
///
/// Usually made from a URL by [`Cache::from_url`](crate::Cache::from_url);
/// by hand:
///
/// ```
/// use cashews::backend::RedisBackend;
/// use cashews::{BackendSettings, Cache, Settings};
///
/// let settings = Settings::from_url("redis://127.0.0.1:6379/0?socket_timeout=250ms")?;
/// let BackendSettings::Redis(redis) = &settings.backend else { unreachable!() };
/// let cache = Cache::builder(RedisBackend::new(redis)?).prefix("app").build();
/// # Ok::<(), cashews::Error>(())
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    link: Arc<Link>,
    /// How long a `SCAN` to its end may take: [`LISTING_TIMEOUTS`]
    /// `socket_timeout`s.
    listing_limit: Duration,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("at", &self.link.name())
            .finish_non_exhaustive()
    }
}

/// Deletes the key only if it still holds the owner's token.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then \
             return redis.call('DEL', KEYS[1]) \
         end \
         return 0",
    )
});

/// Creates the key at 0 with a TTL if it is absent, then increments it: the
/// TTL is set only by the call that creates the key. The result is read
/// back as text: Lua holds numbers as doubles, exact only up to 2^53.
static INCR_EXPIRING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('SET', KEYS[1], 0, 'PX', ARGV[2], 'NX') \
         redis.call('INCRBY', KEYS[1], ARGV[1]) \
         return redis.call('GET', KEYS[1])",
    )
});

/// The fixed window of [`Backend::fixed_window`]: the counter created at 0
/// with the window's TTL, incremented; the call that crosses the limit
/// stretches it over the ban. 1 if admitted.
/// `KEYS[1]`: the counter; `ARGV`: limit, period (ms), ban (ms, 0: none).
static FIXED_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('SET', KEYS[1], 0, 'PX', ARGV[2], 'NX') \
         local calls = redis.call('INCR', KEYS[1]) \
         local limit = tonumber(ARGV[1]) \
         if calls <= limit then return 1 end \
         local ban = tonumber(ARGV[3]) \
         if calls == limit + 1 and ban > 0 and redis.call('PTTL', KEYS[1]) < ban then \
             redis.call('PEXPIRE', KEYS[1], ban) \
         end \
         return 0",
    )
});

/// The sliding window of [`Backend::slide_window`]: takes the first free
/// slot (`SET NX` with the period as TTL). 1 if admitted.
/// `KEYS`: the slots; `ARGV[1]`: period (ms).
static SLIDE_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "for i = 1, #KEYS do \
             if redis.call('SET', KEYS[i], 1, 'PX', ARGV[1], 'NX') then return 1 end \
         end \
         return 0",
    )
});

/// Adds members to a set and makes it live at least the given time: the
/// TTL is set when the set is new or has a shorter one (a set without one
/// stays so). `KEYS[1]`: the set; `ARGV`: the TTL (ms), then the members.
static SET_ADD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local new = redis.call('EXISTS', KEYS[1]) == 0 \
         for i = 2, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end \
         local left = redis.call('PTTL', KEYS[1]) \
         if new or (left >= 0 and left < tonumber(ARGV[1])) then \
             redis.call('PEXPIRE', KEYS[1], ARGV[1]) \
         end \
         return 1",
    )
});

/// Keys asked of `SCAN` per round trip: a hint, Redis may return more or fewer.
const SCAN_COUNT: usize = 500;

impl RedisBackend {
    /// A backend for these settings. Nothing is connected yet: the first
    /// command connects, so this only fails on settings redis-rs rejects.
    ///
    /// With TLS, it installs rustls's ring provider as the process-wide
    /// default crypto provider when none is installed: an application that
    /// wants its own installs it first ([`settings`](crate::settings)).
    pub fn new(settings: &RedisSettings) -> Result<Self> {
        if settings.tls {
            // redis-rs builds its TLS config from the process-wide rustls
            // provider; install ours unless the application chose one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let nodes = settings
            .nodes
            .iter()
            .map(|node| connection_info(node, settings))
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<String> = nodes.iter().map(|n| n.addr().to_string()).collect();
        let (target, name) = if settings.cluster {
            let mut builder = ClusterClientBuilder::new(nodes)
                .connection_timeout(settings.create_connection_timeout)
                .response_timeout(settings.socket_timeout)
                .retries(2);
            if let Some(user) = &settings.username {
                builder = builder.username(user);
            }
            if let Some(password) = &settings.password {
                builder = builder.password(password.expose());
            }
            let client = builder.build().map_err(|e| settings_error(&e))?;
            (
                Target::Cluster(client),
                format!("cluster {}", names.join(",")),
            )
        } else {
            let [node] = <[ConnectionInfo; 1]>::try_from(nodes).map_err(|_| {
                Error::settings("several Redis hosts are seed nodes of a cluster: add `cluster=1`")
            })?;
            let client = Client::open(node).map_err(|e| settings_error(&e))?;
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(settings.create_connection_timeout))
                .set_response_timeout(Some(settings.socket_timeout));
            (Target::Node(client, config), names.join(","))
        };
        Ok(Self {
            link: Arc::new(Link::new(target, name, settings.create_connection_timeout)),
            listing_limit: settings.socket_timeout.saturating_mul(LISTING_TIMEOUTS),
        })
    }

    /// Runs `command` on the connection and maps its outcome.
    async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T> {
        let mut lease = self.link.get().await?;
        // The name is worked out only for an error's message.
        command
            .query_async(&mut lease.conn)
            .await
            .map_err(|e| self.link.fail(&lease, name_of(command), e))
    }

    async fn invoke<T: FromRedisValue>(
        &self,
        name: &str,
        script: &Script,
        key: &str,
        args: &[&[u8]],
    ) -> Result<T> {
        let mut lease = self.link.get().await?;
        let mut invocation = script.key(key);
        for arg in args {
            invocation.arg(*arg);
        }
        invocation
            .invoke_async(&mut lease.conn)
            .await
            .map_err(|e| self.link.fail(&lease, name, e))
    }

    /// Every key matching `pattern`, page by page: each node (every master
    /// of a cluster) is scanned to the end in turn.
    async fn scan_pages(&self, pattern: &str) -> Result<Scan> {
        let mut lease = self.link.get().await?;
        let nodes = (lease.conn.masters().await).map_err(|e| self.link.fail(&lease, "SCAN", e))?;
        Ok(Scan {
            lease,
            pattern: pattern.to_owned(),
            nodes,
            cursor: 0,
            deadline: Instant::now() + self.listing_limit,
        })
    }

    /// The next page of keys, `None` at the end. No page is asked for past
    /// the scan's deadline: a server that never ends its scan gets a
    /// `Timeout` error.
    async fn next_page(&self, scan: &mut Scan) -> Result<Option<Vec<Vec<u8>>>> {
        let Some(node) = scan.nodes.last() else {
            return Ok(None);
        };
        if Instant::now() >= scan.deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "redis SCAN at {}: the scan did not end within {:?}",
                    self.link.name(),
                    self.listing_limit
                ),
            ));
        }
        let mut command = cmd("SCAN");
        command
            .arg(scan.cursor)
            .arg("MATCH")
            .arg(&scan.pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let reply = (scan.lease.conn.query_node(node, &command).await)
            .map_err(|e| self.link.fail(&scan.lease, "SCAN", e))?;
        let (cursor, keys): (u64, Vec<Vec<u8>>) =
            redis::from_redis_value(reply).map_err(|e| error("SCAN", e.into()))?;
        scan.cursor = cursor;
        if cursor == 0 {
            scan.nodes.pop();
        }
        Ok(Some(keys))
    }

    /// The live values of `keys` (found by a scan: some may be gone by now).
    async fn values_of(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Bytes>>> {
        self.mget(keys, keys.len()).await
    }

    /// `MGET` of `keys` (`count` of them): one value for each, in order.
    /// A reply of another length is an error, not values for other keys.
    async fn mget(&self, keys: impl ToRedisArgs, count: usize) -> Result<Vec<Option<Bytes>>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Bytes>> = self.query(cmd("MGET").arg(keys)).await?;
        if values.len() != count {
            return Err(Error::new(
                ErrorKind::Backend,
                format!(
                    "redis MGET of {count} keys answered {} values",
                    values.len()
                ),
            ));
        }
        Ok(values)
    }
}

/// A `SCAN` under way.
struct Scan {
    lease: Lease,
    pattern: String,
    /// Nodes left to scan; the last is the current one.
    nodes: Vec<Node>,
    cursor: u64,
    /// When the scan must have ended.
    deadline: Instant,
}

fn name_of(command: &Cmd) -> &str {
    command
        .args_iter()
        .next()
        .and_then(|arg| match arg {
            redis::Arg::Simple(name) => std::str::from_utf8(name).ok(),
            _ => None,
        })
        .unwrap_or("command")
}

fn connection_info(node: &RedisAddress, settings: &RedisSettings) -> Result<ConnectionInfo> {
    let addr = match node {
        RedisAddress::Tcp { host, port } if settings.tls => ConnectionAddr::TcpTls {
            host: host.clone(),
            port: *port,
            insecure: false,
            tls_params: None,
        },
        RedisAddress::Tcp { host, port } => ConnectionAddr::Tcp(host.clone(), *port),
        RedisAddress::Unix(path) => ConnectionAddr::Unix(path.into()),
    };
    let mut redis = RedisConnectionInfo::default().set_db(settings.db);
    if let Some(user) = &settings.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &settings.password {
        redis = redis.set_password(password.expose());
    }
    Ok(addr
        .into_connection_info()
        .map_err(|e| settings_error(&e))?
        .set_redis_settings(redis))
}

fn settings_error(e: &RedisError) -> Error {
    Error::settings(format!("redis-rs rejected the settings: {e}"))
}

/// Maps a redis-rs error to ours: the one place where Redis errors are classified.
fn error(command: &str, e: RedisError) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
    {
        ErrorKind::Connection
    } else if matches!(
        e.kind(),
        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
    ) && e
        .detail()
        .is_some_and(|d| d.contains("not an integer") || d.contains("would overflow"))
    {
        ErrorKind::NotInteger
    } else {
        ErrorKind::Backend
    };
    Error::new(kind, format!("redis {command}: {e}")).with_source(e)
}

/// A TTL in milliseconds as Redis takes it: at least 1 (Redis refuses 0),
/// and far below the overflow Redis refuses.
fn millis(d: Duration) -> u64 {
    const LONGEST: u64 = 1 << 52;
    u64::try_from(d.as_millis())
        .unwrap_or(LONGEST)
        .clamp(1, LONGEST)
}

fn utf8(key: Vec<u8>) -> Option<String> {
    String::from_utf8(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_in_milliseconds_never_zero() {
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), 1 << 52);
    }

    #[test]
    fn a_get_future_is_small() {
        // Connecting is boxed (`Link::get`): inline, its state made every
        // command's future 2.3 KB, each copied on every call. And a GET is
        // sent without `query` and `query_async`, whose layers made it 256
        // bytes.
        let settings = crate::Settings::from_url("redis://127.0.0.1:1/").unwrap();
        let crate::BackendSettings::Redis(redis) = &settings.backend else {
            unreachable!("a redis URL");
        };
        let backend = RedisBackend::new(redis).unwrap();
        let size =
            std::mem::size_of_val(&crate::backend::native::NativeBackend::get(&backend, "k"));
        assert!(size <= 224, "a GET's future is {size} bytes");
    }

    #[test]
    fn errors_are_classified() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(error("GET", refused).is_connection());
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(error("GET", timeout).is_timeout());
        let other = RedisError::from((redis::ErrorKind::Client, "bad", "thing".to_owned()));
        let e = error("GET", other);
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(
            e.to_string().starts_with("backend error: redis GET:"),
            "{e}"
        );
    }

    #[test]
    fn settings_become_connection_info() {
        let settings = crate::Settings::from_url("redis://me:pw@127.0.0.1:7000/3").unwrap();
        let crate::BackendSettings::Redis(redis) = &settings.backend else {
            panic!()
        };
        let info = connection_info(&redis.nodes[0], redis).unwrap();
        assert_eq!(info.addr().to_string(), "127.0.0.1:7000");
        let r = info.redis_settings();
        assert_eq!(
            (r.db(), r.username(), r.password()),
            (3, Some("me"), Some("pw"))
        );
        let backend = RedisBackend::new(redis).unwrap();
        assert_eq!(
            format!("{backend:?}"),
            "RedisBackend { at: \"127.0.0.1:7000\", .. }"
        );
    }
}
