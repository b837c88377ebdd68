//! Each backend's part of a setup URL: its location and its own options.

use super::options::{Options, bad_value, check_host, decode, holds_hash_key, redacted};
use super::{DEFAULT_MAX_VALUE_SIZE, DEFAULT_TIMEOUT};
use super::{MemcachedSettings, MemorySettings, RedisAddress, RedisSettings, Secret};
use crate::error::{Error, Result};

pub(super) fn require_feature(enabled: bool, scheme: &str, feature: &str) -> Result<()> {
    if enabled {
        Ok(())
    } else {
        Err(Error::settings(format!(
            "the {scheme}:// backend is compiled out; enable the cargo feature `{feature}` of cashews"
        )))
    }
}

pub(super) fn memory(options: &mut Options) -> Result<MemorySettings> {
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
    let protected_size = match options.take("protected_size")? {
        None => defaults.protected_size,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(bad_value(
                    "protected_size",
                    &v,
                    "a whole number of entries above 0",
                ));
            }
        },
    };
    Ok(MemorySettings {
        size,
        check_interval,
        protected_size,
    })
}

pub(super) fn redis(scheme: &str, location: &str, options: &mut Options) -> Result<RedisSettings> {
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
        let path = decode(location);
        // A mistyped option glued to the path (`….sockhash_key:…`) would
        // put its secret in the path, which `Debug` shows.
        if path.contains(['?', '#', '&', '=']) || holds_hash_key(&path) {
            return Err(Error::settings(format!(
                "socket path {:?} holds `?`, `#`, `&`, `=` or an option name: options go after `?`",
                redacted(&path)
            )));
        }
        vec![RedisAddress::Unix(path)]
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

pub(super) fn memcached(location: &str, options: &mut Options) -> Result<MemcachedSettings> {
    let hosts = location.trim_end_matches('/');
    if hosts.contains('/') || hosts.contains('@') {
        return Err(Error::settings(format!(
            "memcached:// takes only host:port pairs, got {:?}",
            redacted(location)
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
        max_value_size: options
            .take_size("max_value_size")?
            .unwrap_or(DEFAULT_MAX_VALUE_SIZE),
    })
}

pub(super) fn parse_db(v: &str) -> Result<i64> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(bad_value("db", v, "a database number, 0 or more")),
    }
}

pub(super) fn hosts_and_ports(
    hosts: &str,
    default_port: u16,
    scheme: &str,
) -> Result<Vec<(String, u16)>> {
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
                let (host, after) = rest.split_once(']').ok_or_else(|| {
                    Error::settings(format!("unclosed `[` in host {:?}", redacted(entry)))
                })?;
                (host, after.strip_prefix(':'))
            } else {
                match entry.rsplit_once(':') {
                    Some((h, p)) => (h, Some(p)),
                    None => (entry, None),
                }
            };
            if host.is_empty() {
                return Err(Error::settings(format!(
                    "empty host in {:?}",
                    redacted(hosts)
                )));
            }
            check_host(host)?;
            let port = match port {
                None => default_port,
                Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
                    Error::settings(format!(
                        "bad port {:?} for host {:?}; expected 1-65535",
                        redacted(p),
                        redacted(host)
                    ))
                })?,
            };
            Ok((host.to_owned(), port))
        })
        .collect()
}
