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
//! Options every backend understands: `safe` (default on), `enable` (default
//! on), `hash_key` (signing secret), `prefix`. `mem://` adds `size` and
//! `check_interval`; `redis://` adds `db`, `cluster`,
//! `create_connection_timeout` and `socket_timeout`; `memcached://` adds the
//! two timeouts. An unknown option, or a bad value, is an error that names it.
//! Durations are seconds (`0.5`) or TTL strings (`500ms`), at least 1 ms.
//! Ports are 1-65535.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ttl::parse_ttl;

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
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            size: 1_000,
            check_interval: Duration::from_secs(1),
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

/// Options of the Redis backend.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisSettings {
    /// One node, or the seed nodes of a cluster.
    pub nodes: Vec<RedisAddress>,
    /// TLS (`rediss://`).
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
    /// Give up waiting for an answer after this long. Default 1 s.
    pub socket_timeout: Duration,
}

/// Options of the memcached backend.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemcachedSettings {
    /// `host:port` of each server; keys are spread over them.
    pub servers: Vec<(String, u16)>,
    /// Give up connecting after this long. Default 1 s.
    pub create_connection_timeout: Duration,
    /// Give up waiting for an answer after this long. Default 1 s.
    pub socket_timeout: Duration,
}

const COMMON_OPTIONS: &[&str] = &["safe", "enable", "hash_key", "prefix"];
const MEMORY_OPTIONS: &[&str] = &["size", "check_interval"];
const REDIS_OPTIONS: &[&str] = &[
    "db",
    "cluster",
    "create_connection_timeout",
    "socket_timeout",
];
const MEMCACHED_OPTIONS: &[&str] = &["create_connection_timeout", "socket_timeout"];
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
                "{url:?} is not a setup URL; expected one of {SCHEMES}"
            ))
        })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut options = Options::parse(scheme, query)?;
        let backend = match scheme {
            "mem" => {
                options.allow(MEMORY_OPTIONS)?;
                if !location.trim_end_matches('/').is_empty() {
                    return Err(Error::settings(format!(
                        "mem:// takes no host or path, got {location:?}"
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
                    "unknown scheme `{other}://`; expected one of {SCHEMES}"
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

fn require_feature(enabled: bool, scheme: &str, feature: &str) -> Result<()> {
    if enabled {
        Ok(())
    } else {
        Err(Error::settings(format!(
            "the {scheme}:// backend is compiled out; enable the cargo feature `{feature}` of cashews"
        )))
    }
}

fn memory(options: &mut Options) -> Result<MemorySettings> {
    let defaults = MemorySettings::default();
    let size = match options.take("size")? {
        None => defaults.size,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(bad_value("size", &v, "a whole number of entries above 0")),
        },
    };
    let check_interval = options
        .take_duration("check_interval")?
        .unwrap_or(defaults.check_interval);
    Ok(MemorySettings {
        size,
        check_interval,
    })
}

fn redis(scheme: &str, location: &str, options: &mut Options) -> Result<RedisSettings> {
    let (userinfo, location) = match location.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, location),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(info) => {
            let (user, pass) = info.split_once(':').unwrap_or(("", info));
            let user = decode(user);
            let pass = decode(pass);
            (
                (!user.is_empty()).then_some(user),
                (!pass.is_empty()).then(|| Secret::new(pass)),
            )
        }
    };
    let unix = matches!(scheme, "redis+unix" | "unix");
    let mut path_db = None;
    let nodes = if unix {
        if location.is_empty() {
            return Err(Error::settings(format!(
                "{scheme}:// needs a socket path, as {scheme}:///run/redis.sock"
            )));
        }
        vec![RedisAddress::Unix(decode(location))]
    } else {
        let (hosts, path) = location.split_once('/').unwrap_or((location, ""));
        if !path.is_empty() {
            path_db = Some(parse_db(path)?);
        }
        hosts_and_ports(hosts, 6379, scheme)?
            .into_iter()
            .map(|(host, port)| RedisAddress::Tcp { host, port })
            .collect()
    };
    let option_db = match options.take("db")? {
        Some(v) => Some(parse_db(&v)?),
        None => None,
    };
    if let (Some(a), Some(b)) = (path_db, option_db)
        && a != b
    {
        return Err(Error::settings(format!(
            "the URL names database {a} in its path and {b} in `db`; name it once"
        )));
    }
    let cluster = options.take_bool("cluster")?.unwrap_or(false);
    let db = path_db.or(option_db).unwrap_or(0);
    if cluster && db != 0 {
        return Err(Error::settings(
            "a Redis Cluster has only database 0; drop `db` or `cluster`",
        ));
    }
    if unix && cluster {
        return Err(Error::settings(
            "`cluster` needs TCP seed nodes, not a unix socket",
        ));
    }
    if !cluster && nodes.len() > 1 {
        return Err(Error::settings(
            "several Redis hosts are seed nodes of a cluster: add `cluster=1`",
        ));
    }
    Ok(RedisSettings {
        nodes,
        tls: scheme == "rediss",
        cluster,
        db,
        username,
        password,
        create_connection_timeout: options
            .take_duration("create_connection_timeout")?
            .unwrap_or(DEFAULT_TIMEOUT),
        socket_timeout: options
            .take_duration("socket_timeout")?
            .unwrap_or(DEFAULT_TIMEOUT),
    })
}

fn memcached(location: &str, options: &mut Options) -> Result<MemcachedSettings> {
    let hosts = location.trim_end_matches('/');
    if hosts.contains('/') || hosts.contains('@') {
        return Err(Error::settings(format!(
            "memcached:// takes only host:port pairs, got {location:?}"
        )));
    }
    Ok(MemcachedSettings {
        servers: hosts_and_ports(hosts, 11211, "memcached")?,
        create_connection_timeout: options
            .take_duration("create_connection_timeout")?
            .unwrap_or(DEFAULT_TIMEOUT),
        socket_timeout: options
            .take_duration("socket_timeout")?
            .unwrap_or(DEFAULT_TIMEOUT),
    })
}

fn parse_db(v: &str) -> Result<i64> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(bad_value("db", v, "a database number, 0 or more")),
    }
}

fn hosts_and_ports(hosts: &str, default_port: u16, scheme: &str) -> Result<Vec<(String, u16)>> {
    if hosts.is_empty() {
        return Err(Error::settings(format!(
            "{scheme}:// needs a host, as {scheme}://127.0.0.1:{default_port}"
        )));
    }
    hosts
        .split(',')
        .map(|entry| {
            // `[::1]:6379` keeps its brackets out of the host name.
            let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
                let (host, after) = rest
                    .split_once(']')
                    .ok_or_else(|| Error::settings(format!("unclosed `[` in host {entry:?}")))?;
                (host, after.strip_prefix(':'))
            } else {
                match entry.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (entry, None),
                }
            };
            if host.is_empty() {
                return Err(Error::settings(format!("empty host in {hosts:?}")));
            }
            let port = match port {
                None => default_port,
                Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                    Error::settings(format!(
                        "bad port {p:?} for host {host:?}; expected 1-65535"
                    ))
                })?,
            };
            Ok((host.to_owned(), port))
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn bad_value(option: &str, value: &str, expected: &str) -> Error {
    Error::settings(format!(
        "bad value {value:?} for option `{option}`; expected {expected}"
    ))
}

/// Query options not yet consumed; anything left unknown is rejected up front.
struct Options(Vec<(String, String)>);

impl Options {
    fn parse(scheme: &str, query: &str) -> Result<Self> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(Error::settings(format!(
                    "option `{k}` is given twice in the {scheme}:// URL"
                )));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(pairs))
    }

    /// Rejects any option that is neither common nor in `specific`.
    fn allow(&self, specific: &[&str]) -> Result<()> {
        for (k, _) in &self.0 {
            if !COMMON_OPTIONS.contains(&k.as_str()) && !specific.contains(&k.as_str()) {
                let accepted: Vec<&str> = COMMON_OPTIONS.iter().chain(specific).copied().collect();
                return Err(Error::settings(format!(
                    "unknown option `{k}`; accepted: {}",
                    accepted.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn take(&mut self, name: &str) -> Result<Option<String>> {
        Ok(self
            .0
            .iter()
            .position(|(k, _)| k == name)
            .map(|i| self.0.swap_remove(i).1))
    }

    fn take_bool(&mut self, name: &str) -> Result<Option<bool>> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(Some(true)),
            "0" | "false" | "no" | "off" => Ok(Some(false)),
            _ => Err(bad_value(
                name,
                &v,
                "one of 1, 0, true, false, yes, no, on, off",
            )),
        }
    }

    fn take_duration(&mut self, name: &str) -> Result<Option<Duration>> {
        let Some(v) = self.take(name)? else {
            return Ok(None);
        };
        let seconds = v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9);
        let duration = match seconds {
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => parse_ttl(&v).ok(),
        };
        // At least a millisecond: less rounds to zero on every backend, and
        // a timer of zero panics.
        duration
            .filter(|d| *d >= Duration::from_millis(1))
            .map(Some)
            .ok_or_else(|| {
                bad_value(
                    name,
                    &v,
                    "positive seconds (0.5) or a duration (500ms, 2s), at least 1ms",
                )
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
        assert!(err("memcached://h/x").contains("host:port"));
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
