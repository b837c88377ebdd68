//! Setup URLs parsed into typed settings.
//!
//! One URL chooses and configures a cache:
//!
//! | URL | backend |
//! |---|---|
//! | `mem://?size=10000&check_interval=1s` | in-process memory |
//! | `redis://[user:password@]host[:port][/db]` | one Redis node |
//! | `rediss://…` | Redis over TLS |
//! | `redis+unix:///path/to/redis.sock` (or `unix://…`) | Redis over a unix socket |
//! | `redis://host1:7000,host2:7001/?cluster=1` | a Redis Cluster, from seed nodes |
//! | `memcached://host1:11211,host2:11211` | memcached, keys spread over the hosts |
//!
//! **`rediss://` sets process-wide state.** redis-rs makes its TLS
//! connections with rustls's process-wide default crypto provider, so
//! building a `rediss://` cache installs rustls's *ring* provider as that
//! default when none is installed yet; one that is installed already is
//! left alone. An application that wants another one (aws-lc-rs, or its
//! own configuration) installs it, through its own `rustls` dependency,
//! before it builds its first `rediss://` cache:
//!
//! ```
//! # #[cfg(feature = "redis")] {
//! // `rustls::crypto::aws_lc_rs::default_provider()` with rustls's
//! // `aws_lc_rs` feature; an error means a provider was installed already.
//! let _ = rustls::crypto::ring::default_provider().install_default();
//! // Nothing connects yet: the first command does.
//! let cache = cashews::Cache::from_url("rediss://cache.internal:6380")?;
//! # }
//! # Ok::<(), cashews::Error>(())
//! ```
//!
//! Options every backend understands: `safe` (default on), `enable` (default
//! on), `hash_key` (signing secret), `prefix`. `mem://` adds `size`,
//! `check_interval` and `protected_size`; `redis://` adds `db`, `cluster`,
//! `create_connection_timeout` and `socket_timeout`; `memcached://` adds the
//! two timeouts and `max_value_size`. An unknown option, or a bad value, is
//! an error that names it. Durations are seconds (`0.5`) or TTL strings
//! (`500ms`), at least 1 ms;
//! ports are 1-65535; sizes are bytes (`1048576`) or `KiB`, `MiB`, `GiB` (`16MiB`).
//!
//! Secrets stay in: errors quote no user info and no `hash_key` (even from
//! a mistyped URL), and `Debug` shows neither the password, the user name
//! nor the `hash_key` ([`Secret`]).

use std::fmt;
use std::time::Duration;

use self::backends::{memcached, memory, redis, require_feature};
use self::options::{Options, redacted};
use crate::error::{Error, Result};

mod backends;
mod options;

/// A secret string (a signing key, a password) that never shows in `Debug`
/// output or logs.
///
/// ```
/// let s = cashews::Secret::new("hunter2");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself; keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything a setup URL says, typed.
///
/// ```
/// use cashews::{BackendSettings, Settings};
/// let s = Settings::from_url("mem://?size=500&prefix=app&safe=0").unwrap();
/// assert!(!s.safe);
/// assert_eq!(s.prefix.as_deref(), Some("app"));
/// let BackendSettings::Memory(mem) = &s.backend else { unreachable!() };
/// assert_eq!(mem.size, 500);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Which backend, and its own options.
    pub backend: BackendSettings,
    /// Safe mode: backend failures are logged and answered as empty results
    /// instead of errors. Default on.
    pub safe: bool,
    /// Caching on or off. Off, every command is a no-op answering empty.
    pub enable: bool,
    /// Secret used to sign every stored value; `None` stores values unsigned.
    pub hash_key: Option<Secret>,
    /// Prepended to every key as `prefix:key`.
    pub prefix: Option<String>,
}

/// The backend a URL chose, with its own options.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum BackendSettings {
    /// `mem://`
    Memory(MemorySettings),
    /// `redis://`, `rediss://`, `redis+unix://`, `unix://`
    Redis(RedisSettings),
    /// `memcached://`
    Memcached(MemcachedSettings),
}

/// Options of the in-process memory backend.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemorySettings {
    /// At most this many entries; beyond it the least recently used go.
    /// Default 1,000 (as cashews).
    pub size: usize,
    /// How often expired entries are swept. Default 1 s; anything shorter
    /// than 1 ms sweeps every millisecond.
    pub check_interval: Duration,
    /// At most this many protective entries (rate-limit windows, locks,
    /// circuit-breaker state, tag indexes), kept apart from `size` and never evicted;
    /// when full, new ones are refused. Default 10,000.
    pub protected_size: usize,
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            size: 1_000,
            check_interval: Duration::from_secs(1),
            protected_size: 10_000,
        }
    }
}

/// Where a Redis server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisAddress {
    /// Host and port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port, default 6379.
        port: u16,
    },
    /// A unix socket path.
    Unix(String),
}

/// Options of the Redis backend. Its `Debug` hides the user name and the
/// password.
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisSettings {
    /// One node, or the seed nodes of a cluster.
    pub nodes: Vec<RedisAddress>,
    /// TLS (`rediss://`). Building a backend with it installs rustls's ring
    /// provider as the process-wide default when none is installed (see
    /// [the module docs](crate::settings)).
    pub tls: bool,
    /// Treat `nodes` as seeds of a Redis Cluster.
    pub cluster: bool,
    /// Database number (path `/1` or option `db`); not allowed with `cluster`.
    pub db: i64,
    /// ACL user name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Secret>,
    /// Give up connecting after this long. Default 1 s.
    pub create_connection_timeout: Duration,
    /// Give up waiting for an answer after this long. Default 1 s. A
    /// pattern command (`SCAN` to its end) asks for no page after 60 times
    /// this long.
    pub socket_timeout: Duration,
}

impl fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSettings")
            .field("nodes", &self.nodes)
            .field("tls", &self.tls)
            .field("cluster", &self.cluster)
            .field("db", &self.db)
            .field("username", &self.username.as_ref().map(|_| "***"))
            .field("password", &self.password)
            .field("create_connection_timeout", &self.create_connection_timeout)
            .field("socket_timeout", &self.socket_timeout)
            .finish()
    }
}

/// Options of the memcached backend.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemcachedSettings {
    /// `host:port` of each server; keys are spread over them.
    pub servers: Vec<(String, u16)>,
    /// Give up connecting after this long. Default 1 s.
    pub create_connection_timeout: Duration,
    /// Give up waiting for an answer after this long. Default 1 s. A
    /// listing (`get_keys_count`) waits this long for each of its lines,
    /// and at most 60 times this long in all.
    pub socket_timeout: Duration,
    /// The longest value written or read (`max_value_size`). Default
    /// 16 MiB, at least 20 bytes. A write of a longer value is refused
    /// before it is sent (`ErrorKind::ValueTooLarge`); a reply announcing
    /// a longer one is an error and its connection is closed; values are
    /// read as their bytes arrive, so a length announced but not sent
    /// allocates nothing.
    pub max_value_size: usize,
}

/// `max_value_size` unless given: far above what a cache usually holds
/// (memcached's own item limit defaults to 1 MiB).
const DEFAULT_MAX_VALUE_SIZE: usize = 16 << 20;

const COMMON_OPTIONS: &[&str] = &["safe", "enable", "hash_key", "prefix"];
const MEMORY_OPTIONS: &[&str] = &["size", "check_interval", "protected_size"];
const REDIS_OPTIONS: &[&str] = &[
    "db",
    "cluster",
    "create_connection_timeout",
    "socket_timeout",
];
const MEMCACHED_OPTIONS: &[&str] = &[
    "create_connection_timeout",
    "socket_timeout",
    "max_value_size",
];
const SCHEMES: &str = "mem://, redis://, rediss://, redis+unix://, unix://, memcached://";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

impl Settings {
    /// Parses a setup URL.
    ///
    /// ```
    /// let err = cashews::Settings::from_url("mem://?colour=blue").unwrap_err();
    /// assert!(err.to_string().contains("unknown option `colour`"));
    /// ```
    pub fn from_url(url: &str) -> Result<Self> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            Error::settings(format!(
                "{:?} is not a setup URL; expected one of {SCHEMES}",
                redacted(url)
            ))
        })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut options = Options::parse(scheme, query)?;
        let backend = match scheme {
            "mem" => {
                options.allow(MEMORY_OPTIONS)?;
                if !location.trim_end_matches('/').is_empty() {
                    return Err(Error::settings(format!(
                        "mem:// takes no host or path, got {:?}",
                        redacted(location)
                    )));
                }
                BackendSettings::Memory(memory(&mut options)?)
            }
            "redis" | "rediss" | "redis+unix" | "unix" => {
                options.allow(REDIS_OPTIONS)?;
                require_feature(cfg!(feature = "redis"), scheme, "redis")?;
                BackendSettings::Redis(redis(scheme, location, &mut options)?)
            }
            "memcached" => {
                options.allow(MEMCACHED_OPTIONS)?;
                require_feature(cfg!(feature = "memcached"), scheme, "memcached")?;
                BackendSettings::Memcached(memcached(location, &mut options)?)
            }
            other => {
                return Err(Error::settings(format!(
                    "unknown scheme `{}://`; expected one of {SCHEMES}",
                    redacted(other)
                )));
            }
        };
        Ok(Self {
            backend,
            safe: options.take_bool("safe")?.unwrap_or(true),
            enable: options.take_bool("enable")?.unwrap_or(true),
            hash_key: options.take("hash_key")?.map(Secret::new),
            prefix: options.take("prefix")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        let e = Settings::from_url(url).unwrap_err();
        assert!(e.is_settings(), "{e}");
        e.to_string()
    }

    #[test]
    fn memory_defaults() {
        let s = Settings::from_url("mem://").unwrap();
        assert!(s.safe && s.enable && s.hash_key.is_none() && s.prefix.is_none());
        let BackendSettings::Memory(m) = s.backend else {
            panic!()
        };
        assert_eq!(m, MemorySettings::default());
    }

    #[test]
    fn every_common_and_memory_option() {
        let s = Settings::from_url(
            "mem://?size=7&check_interval=250ms&safe=false&enable=0&hash_key=k%26y&prefix=p",
        )
        .unwrap();
        assert!(!s.safe && !s.enable);
        assert_eq!(s.hash_key.as_ref().unwrap().expose(), "k&y");
        assert_eq!(s.prefix.as_deref(), Some("p"));
        let BackendSettings::Memory(m) = s.backend else {
            panic!()
        };
        assert_eq!(m.size, 7);
        assert_eq!(m.check_interval, Duration::from_millis(250));
        let s = Settings::from_url("mem://?check_interval=0.5").unwrap();
        let BackendSettings::Memory(m) = s.backend else {
            panic!()
        };
        assert_eq!(m.check_interval, Duration::from_millis(500));
    }

    #[test]
    fn rejections_name_the_culprit() {
        assert!(err("mem://?colour=blue").contains("unknown option `colour`; accepted: safe, enable, hash_key, prefix, size, check_interval"));
        assert!(err("mem://?size=0").contains("`size`"));
        assert!(err("mem://?size=ten").contains("bad value \"ten\" for option `size`"));
        assert!(err("mem://?safe=maybe").contains("option `safe`"));
        assert!(err("mem://?enable=2").contains("option `enable`"));
        assert!(err("mem://?check_interval=-1").contains("option `check_interval`"));
        assert!(err("mem://?size=1&size=2").contains("given twice"));
        assert!(err("mem://host").contains("no host"));
        assert!(err("ftp://x").contains("unknown scheme `ftp://`; expected one of mem://"));
        assert!(err("localhost:6379").contains("not a setup URL"));
        assert!(err("mem://?db=1").contains("unknown option `db`"));
        assert!(err("memcached://h?size=1").contains("unknown option `size`"));
    }

    #[test]
    fn errors_quote_no_user_info_and_no_hash_key() {
        assert_eq!(redacted("redis:/me:hunter2@h"), "***@h");
        assert_eq!(
            redacted("mem//?size=1&hash_key=hunter2"),
            "mem//?size=1&hash_key=***"
        );
        assert_eq!(redacted("1?HASH%5FKEY=hunter2"), "1?hash_key=***");
        assert_eq!(redacted("plain"), "plain");
        for url in [
            "redis:/me:hunter2@h",
            "mem//?hash_key=hunter2",
            "memcached://me:hunter2@h",
            "mem://me:hunter2@",
        ] {
            assert!(!err(url).contains("hunter2"), "{url}: {}", err(url));
        }
    }

    #[test]
    fn an_option_hidden_by_a_mistyped_separator_is_refused() {
        assert!(err("mem://?size=10?hash_key=hunter2").contains("holds `hash_key=`"));
        assert!(err("mem://?prefix=p;hash_key=hunter2").contains("holds `hash_key=`"));
        assert!(Settings::from_url("mem://?prefix=a=b&hash_key=x=y").is_ok());
        #[cfg(feature = "redis")]
        {
            assert!(err("redis://h#hash_key=hunter2").contains("not a host name"));
            assert!(
                err("redis+unix:///run/r.sock#hash_key=hunter2").contains("options go after `?`")
            );
        }
    }

    #[test]
    fn hash_key_is_hidden_from_debug() {
        let s = Settings::from_url("mem://?hash_key=topsecret").unwrap();
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[cfg(feature = "redis")]
    #[test]
    fn redis_urls() {
        let s = Settings::from_url(
            "redis://me:p%40ss@10.0.0.1:7000/2?socket_timeout=0.25&create_connection_timeout=2s&prefix=x",
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("p@ss"));
        let BackendSettings::Redis(r) = s.backend else {
            panic!()
        };
        assert_eq!(
            r.nodes,
            vec![RedisAddress::Tcp {
                host: "10.0.0.1".into(),
                port: 7000
            }]
        );
        assert_eq!((r.db, r.tls, r.cluster), (2, false, false));
        assert_eq!(r.username.as_deref(), Some("me"));
        assert_eq!(r.password.unwrap().expose(), "p@ss");
        assert_eq!(r.socket_timeout, Duration::from_millis(250));
        assert_eq!(r.create_connection_timeout, Duration::from_secs(2));

        let BackendSettings::Redis(r) = Settings::from_url("rediss://:pw@[::1]/?db=3")
            .unwrap()
            .backend
        else {
            panic!()
        };
        assert_eq!(
            r.nodes,
            vec![RedisAddress::Tcp {
                host: "::1".into(),
                port: 6379
            }]
        );
        assert_eq!((r.db, r.tls), (3, true));
        assert_eq!(r.username, None);

        let BackendSettings::Redis(r) = Settings::from_url("redis://a:7000,b:7001/?cluster=1")
            .unwrap()
            .backend
        else {
            panic!()
        };
        assert!(r.cluster);
        assert_eq!(r.nodes.len(), 2);

        let BackendSettings::Redis(r) = Settings::from_url("redis+unix:///run/redis.sock?db=1")
            .unwrap()
            .backend
        else {
            panic!()
        };
        assert_eq!(r.nodes, vec![RedisAddress::Unix("/run/redis.sock".into())]);
        assert_eq!(r.db, 1);

        assert!(err("redis://h/1?db=2").contains("name it once"));
        assert!(err("redis://h/x").contains("option `db`"));
        assert!(err("redis://a,b").contains("cluster=1"));
        assert!(err("redis://a:1/?cluster=1&db=1").contains("database 0"));
        assert!(err("redis://h:99999").contains("bad port"));
        assert!(err("redis://").contains("needs a host"));
        assert!(err("redis://h?size=1").contains(
            "unknown option `size`; accepted: safe, enable, hash_key, prefix, db, cluster"
        ));
        assert!(err("redis://h?socket_timeout=soon").contains("option `socket_timeout`"));
    }

    #[cfg(feature = "memcached")]
    #[test]
    fn memcached_urls() {
        let BackendSettings::Memcached(m) =
            Settings::from_url("memcached://a,b:11212?socket_timeout=1")
                .unwrap()
                .backend
        else {
            panic!()
        };
        assert_eq!(m.servers, vec![("a".into(), 11211), ("b".into(), 11212)]);
        assert_eq!(m.max_value_size, 16 << 20, "the default");
        assert!(err("memcached://h/x").contains("host:port"));
    }

    #[cfg(feature = "memcached")]
    #[test]
    fn max_value_size_is_bytes_or_binary_units() {
        let size = |v: &str| {
            let url = format!("memcached://h?max_value_size={v}");
            match Settings::from_url(&url).map(|s| s.backend) {
                Ok(BackendSettings::Memcached(m)) => Ok(m.max_value_size),
                Ok(other) => panic!("{other:?}"),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(size("1048576"), Ok(1 << 20));
        assert_eq!(size("512B"), Ok(512));
        assert_eq!(size("64KiB"), Ok(64 << 10));
        assert_eq!(size("16mib"), Ok(16 << 20));
        assert_eq!(size("2GiB"), Ok(2 << 30));
        for bad in [
            "0",
            "",
            "-1",
            "1.5MiB",
            "16MB",
            "MiB",
            "99999999999999999999GiB",
        ] {
            let e = size(bad).unwrap_err();
            assert!(e.contains("option `max_value_size`"), "{bad}: {e}");
        }
    }

    #[cfg(not(feature = "redis"))]
    #[test]
    fn redis_compiled_out_names_the_feature() {
        assert!(err("redis://h").contains("enable the cargo feature `redis` of cashews"));
        assert!(err("rediss://h").contains("feature `redis`"));
    }

    #[cfg(not(feature = "memcached"))]
    #[test]
    fn memcached_compiled_out_names_the_feature() {
        assert!(err("memcached://h").contains("enable the cargo feature `memcached` of cashews"));
    }
}
