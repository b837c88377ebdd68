//! The memcached backend (`memcached://host:port[,host:port…]`), on a small
//! client of our own over memcached's meta protocol.
//!
//! Why our own client: of the maintained async crates, `memcache-async`
//! speaks only the classic text protocol (no remaining-TTL read, no
//! auto-creating increment, no compare-and-delete), and `async-memcached`
//! has the meta commands but drives one connection through `&mut self`,
//! with no pool, no timeouts and no reconnection, and it refuses keys over
//! 250 bytes at run time. What we need is about 300 lines: the five meta
//! commands with the flags we use, a pool, timeouts and backoff.
//!
//! Semantics, and where they differ from Redis:
//! - Keys are spread over the servers by rendezvous hashing on BLAKE3, so
//!   every process sends a key to the same server, and adding or removing a
//!   server moves only the keys it gains or loses.
//! - Keys memcached cannot hold (over 250 bytes, spaces, control
//!   characters) are stored under a safe form: up to 64 readable bytes of
//!   the key, then `#b3:` and the key's BLAKE3 hash in hex. Keys that
//!   contain `#b3:` are hashed too, so no key is stored under another's
//!   name.
//! - TTLs are whole seconds and memcached's clock ticks once a second at
//!   its own moment, so a TTL is rounded up to whole seconds plus one: a
//!   key lives at least its TTL and at most a second more (a lock never
//!   frees early). `get_expire` tells the time the key is sure to live.
//!   TTLs over 30 days are sent as absolute times, as memcached requires.
//! - `incr` answers as Redis's `INCRBY` does (signed 64-bit, the same
//!   refusals, nothing written when refused), where memcached's own
//!   counters are unsigned, wrap at 2^64 and accept `+`, spaces and leading
//!   zeros: it is a compare-and-swap loop (read, check, then `ma` or `ms`
//!   under the CAS), two round trips, keeping the key's TTL.
//! - A reply may carry a value of at most `max_value_size` bytes (16 MiB
//!   unless set) and lines of at most 8 KiB; a longer one is a `Backend`
//!   error and its connection is closed. A long value is read into a
//!   buffer grown as its bytes arrive, not one of its announced length.
//! - A reply is never taken for another request's: each keyed request
//!   carries an opaque token (`O<n>`, a per-connection counter), and a
//!   reply without the token of the oldest unanswered request (a
//!   duplicate, a stale or reordered reply) is a `Backend` error and its
//!   connection is closed, as is one with bytes left that no request read,
//!   or one whose exchange timed out. A server that forges a reply to a
//!   request not yet sent is beyond this check, as beyond any.
//! - So every write (`set`, `set_many`, and what is built on them: locks,
//!   NX/XX sets, sliding windows) refuses a value over `max_value_size`
//!   before sending it, with [`ErrorKind::ValueTooLarge`]: a value stored
//!   is always one a read accepts. `max_value_size` is at least 20 bytes,
//!   the longest counter memcached writes itself.
//! - Pooled connections belong to the runtime that opened them; once it has
//!   shut down they are dropped unused, so a cache outlives the runtime it
//!   was built in.
//! - A set (`set_add`, …) is one item holding its members (see
//!   `members.rs`), rewritten with compare-and-swap, so concurrent adds
//!   and removals never lose one another. Not `append`: appended members
//!   repeat whenever a key is tagged again, growing the item without
//!   bound, and append cannot extend the TTL. A set is bounded by
//!   memcached's item size: an add past [`MAX_SET`] bytes fails.
//! - `scan`, `get_match` and `delete_match` fail with
//!   [`ErrorKind::Unsupported`]: memcached cannot list keys by pattern.
//! - `clear` is `flush_all` on every server: everything they hold, not
//!   only this cache's keys. `get_keys_count` counts the live items of
//!   every server with `lru_crawler metadump hash` (memcached 1.6: a
//!   walk of the hash table, which skips expired and flushed items, unlike
//!   the `curr_items` statistic): it reads every key, so it is meant for
//!   tests and diagnostics, not for a hot path. A listing that does not
//!   end within 60 times `socket_timeout` is a `Timeout` error.

mod commands;
mod protocol;
mod server;

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::try_join_all;

use self::protocol::{Reply, Requests};
use self::server::{Listing, Server};
use super::memory::parse_int;
use crate::error::{Error, ErrorKind, Result};
use crate::settings::MemcachedSettings;

/// The memcached backend, over one or several servers.
///
/// Cheap to clone: clones share the connections. Each server gets a small
/// pool of connections, opened on demand; a server that cannot be reached
/// fails commands at once (a `Connection` error) until a short, growing
/// delay has passed, and a command with no answer within `socket_timeout`
/// fails with a `Timeout` error.
///
/// ```
/// use cashews::backend::MemcachedBackend;
/// use cashews::{BackendSettings, Cache, Settings};
///
/// let settings = Settings::from_url("memcached://127.0.0.1:11211,127.0.0.1:11212")?;
/// let BackendSettings::Memcached(servers) = &settings.backend else { unreachable!() };
/// let cache = Cache::builder(MemcachedBackend::new(servers)?).build();
/// # Ok::<(), cashews::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MemcachedBackend {
    servers: std::sync::Arc<[Server]>,
    /// `max_value_size`: the longest value written, as the longest read.
    max_value: usize,
}

/// How often `incr` retries its compare-and-swap when other writers win.
const CAS_ATTEMPTS: usize = 64;
/// memcached reads a TTL above this many seconds as a Unix time.
const LONGEST_RELATIVE_TTL: u64 = 30 * 24 * 60 * 60;
/// Marks a key stored under its hash.
const HASHED: &str = "#b3:";
/// The longest key memcached accepts.
const MAX_KEY: usize = 250;
/// The largest set value written: below memcached's default item size
/// (1 MiB, which also holds the key and the item's header).
pub const MAX_SET: usize = 1_000_000;

/// The least `max_value_size`: a counter's longest decimal text
/// (`-9223372036854775808`), since memcached writes counters itself.
const MIN_MAX_VALUE: usize = 20;

impl MemcachedBackend {
    /// A backend over `settings.servers`. Nothing is connected yet.
    pub fn new(settings: &MemcachedSettings) -> Result<Self> {
        if settings.servers.is_empty() {
            return Err(Error::settings("memcached:// needs at least one host"));
        }
        if settings.max_value_size < MIN_MAX_VALUE {
            return Err(Error::settings(format!(
                "option `max_value_size`: {} bytes is below {MIN_MAX_VALUE}, the longest counter",
                settings.max_value_size
            )));
        }
        let servers = settings
            .servers
            .iter()
            .map(|(host, port)| {
                Server::new(
                    host,
                    *port,
                    settings.create_connection_timeout,
                    settings.socket_timeout,
                    settings.max_value_size,
                )
            })
            .collect();
        Ok(Self {
            servers,
            max_value: settings.max_value_size,
        })
    }

    /// Refuses a value that reads would refuse (over `max_value_size`)
    /// before it is sent.
    fn check_size(&self, value: &[u8]) -> Result<()> {
        if value.len() <= self.max_value {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::ValueTooLarge,
            format!(
                "memcached: a value of {} bytes is over max_value_size ({} bytes)",
                value.len(),
                self.max_value
            ),
        ))
    }

    /// The server that holds `key` (a stored key): the one scoring highest
    /// for it (rendezvous hashing).
    #[allow(clippy::expect_used, reason = "`new` refuses an empty server list")]
    fn server(&self, key: &str) -> &Server {
        // One server (the usual setup) needs no hashing, and a hash per
        // request was the costliest step of a `get` in the client.
        if let [only] = &self.servers[..] {
            return only;
        }
        let score = |s: &Server| {
            let hash = blake3::Hasher::new()
                .update(s.name.as_bytes())
                .update(&[0])
                .update(key.as_bytes())
                .finalize();
            hash.as_bytes()
                .first_chunk::<8>()
                .map_or(0, |first| u64::from_le_bytes(*first))
        };
        self.servers
            .iter()
            .max_by_key(|s| score(s))
            .expect("at least one server")
    }

    /// Sends one request to the server of `key` and returns its reply.
    async fn one(
        &self,
        command: &str,
        key: &str,
        request: impl FnOnce(&mut Requests),
    ) -> Result<(Reply, &Server)> {
        let server = self.server(key);
        let reply = server.request(command, request).await?;
        Ok((reply, server))
    }

    /// Runs one batch of requests per server, for keys spread over them;
    /// the replies come back in the order of `keys`.
    #[allow(
        clippy::expect_used,
        clippy::indexing_slicing,
        reason = "`server` returns one of `servers`; indexes enumerate `keys` and `servers`"
    )]
    async fn batch(
        &self,
        command: &str,
        keys: &[Cow<'_, str>],
        request: impl Fn(&mut Requests, usize),
    ) -> Result<Vec<(Reply, &Server)>> {
        // The indexes of the keys each server holds.
        let mut per_server: Vec<Vec<usize>> = self.servers.iter().map(|_| Vec::new()).collect();
        for (i, key) in keys.iter().enumerate() {
            let server = self.server(key);
            let slot = self
                .servers
                .iter()
                .position(|s| std::ptr::eq(s, server))
                .expect("a server of ours");
            per_server[slot].push(i);
        }
        let request = &request;
        let sent = self
            .servers
            .iter()
            .zip(&per_server)
            .filter(|(_, indexes)| !indexes.is_empty())
            .map(|(server, indexes)| async move {
                let write = |r: &mut Requests| indexes.iter().for_each(|&i| request(r, i));
                let replies = server.batch(command, write).await?;
                Ok::<_, Error>((server, indexes, replies))
            });
        let mut out: Vec<Option<(Reply, &Server)>> = keys.iter().map(|_| None).collect();
        for (server, indexes, replies) in try_join_all(sent).await? {
            for (&i, reply) in indexes.iter().zip(replies) {
                out[i] = Some((reply, server));
            }
        }
        out.into_iter()
            .map(|r| {
                r.ok_or_else(|| Error::new(ErrorKind::Backend, "memcached sent too few replies"))
            })
            .collect()
    }

    /// Runs `command` (answered `OK` or `MN`) on every server.
    async fn everywhere(&self, command: &str) -> Result<()> {
        let sent = self.servers.iter().map(|server| async move {
            match server.request(command, |r| r.plain(command)).await? {
                Reply::Ok => Ok(()),
                other => Err(server.unexpected(command, &other)),
            }
        });
        try_join_all(sent).await.map(drop)
    }

    /// [`Backend::incr`] on `key` (a stored key), as Redis's `INCRBY`: the
    /// value is read with its CAS token and checked as Redis checks it
    /// (see [`parse_int`]) before anything is written, so a refused
    /// increment changes nothing. A missing key is created at `by` (`ME`,
    /// add). A non-negative value grown by a non-negative amount is `ma`
    /// under the CAS, which keeps the TTL as it is; anything else is
    /// rewritten by `ms` under the CAS with the TTL the read reported
    /// (memcached's `ma` cannot go below 0, and a `decr` pads the shorter
    /// result with spaces).
    async fn incr_checked(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        for _ in 0..CAS_ATTEMPTS {
            let (reply, server) = self.one("incr", key, |r| r.get(key, "v c t")).await?;
            let (meta, value) = match reply {
                Reply::Miss => {
                    let created = by.to_string();
                    let flags = format!("{} ME", ttl_flag('T', expire));
                    match self
                        .one("incr", key, |r| r.set(key, created.as_bytes(), &flags))
                        .await?
                    {
                        (Reply::Done(_), _) => return Ok(by),
                        // Someone created it meanwhile: read again.
                        (Reply::NotStored, _) => continue,
                        (other, server) => return Err(server.unexpected("incr", &other)),
                    }
                }
                Reply::Value(meta, value) => (meta, value),
                other => return Err(server.unexpected("incr", &other)),
            };
            let n = parse_int(&value).ok_or_else(|| not_integer(key))?;
            let sum = n.checked_add(by).ok_or_else(|| overflow(key, by))?;
            let Some(cas) = meta.cas else {
                return Err(server.unexpected("incr", &Reply::Value(meta, value)));
            };
            let reply = if n >= 0 && by >= 0 {
                let flags = format!("C{cas} D{by}");
                self.one("incr", key, |r| r.arithmetic(key, &flags)).await?
            } else {
                let text = sum.to_string();
                let flags = format!("T{} C{cas}", remaining_ttl(meta.ttl));
                self.one("incr", key, |r| r.set(key, text.as_bytes(), &flags))
                    .await?
            };
            match reply {
                (Reply::Done(_), _) => return Ok(sum),
                // Someone else wrote (or it expired) meanwhile: read again.
                (Reply::Exists | Reply::NotFound, _) => {}
                (other, server) => return Err(server.unexpected("incr", &other)),
            }
        }
        Err(Error::new(
            ErrorKind::Backend,
            format!("memcached incr of {key:?}: gave up after {CAS_ATTEMPTS} conflicting writes"),
        ))
    }

    /// Rewrites the set at `key` (a stored key) with `change`, which gets
    /// its current value and TTL (`None`: missing) and returns the new
    /// value (`None`: delete it) and TTL flag, or `None` to leave it.
    /// Compare-and-swap: retried when another writer wins.
    async fn swap_set<T>(
        &self,
        command: &str,
        key: &str,
        mut change: impl FnMut(Option<(&[u8], Option<i64>)>) -> Result<(Option<SetWrite>, T)>,
    ) -> Result<T> {
        for _ in 0..CAS_ATTEMPTS {
            let (reply, server) = self.one(command, key, |r| r.get(key, "v c t")).await?;
            let (write, out) = match &reply {
                Reply::Miss => change(None)?,
                Reply::Value(meta, value) => change(Some((value, meta.ttl)))?,
                other => return Err(server.unexpected(command, other)),
            };
            let Some(write) = write else {
                return Ok(out);
            };
            let cas = match &reply {
                Reply::Value(meta, _) => match meta.cas {
                    Some(cas) => Some(cas),
                    None => return Err(server.unexpected(command, &reply)),
                },
                _ => None,
            };
            let request = |r: &mut Requests| match (&write, cas) {
                (SetWrite::Store(value, ttl), Some(cas)) => {
                    r.set(key, value, &format!("{ttl} C{cas}"));
                }
                // A missing set is created only if it still is (`ME`: add).
                (SetWrite::Store(value, ttl), None) => r.set(key, value, &format!("{ttl} ME")),
                (SetWrite::Delete, cas) => r.delete(key, &format!("C{}", cas.unwrap_or(0))),
            };
            match self.one(command, key, request).await? {
                (Reply::Done(_), _) => return Ok(out),
                // Someone else wrote (or it expired) meanwhile: read again.
                (Reply::Exists | Reply::NotFound | Reply::NotStored, _) => {}
                (other, server) => return Err(server.unexpected(command, &other)),
            }
        }
        Err(Error::new(
            ErrorKind::Backend,
            format!(
                "memcached {command} of {key:?}: gave up after {CAS_ATTEMPTS} conflicting writes"
            ),
        ))
    }
}

/// What [`MemcachedBackend::swap_set`] writes.
enum SetWrite {
    /// The new value and its TTL flag.
    Store(Vec<u8>, String),
    /// Deletes the set (only ever asked of a set that was read).
    Delete,
}

/// The TTL flag that keeps an item's remaining `ttl` (as `mg … t` tells it).
fn kept_ttl(ttl: Option<i64>) -> String {
    match ttl {
        Some(t) if t > 0 => format!("T{t}"),
        _ => "T0".to_owned(),
    }
}

/// The key as memcached stores it: itself when memcached can hold it,
/// else a readable head and its hash.
fn storage_key(key: &str) -> Cow<'_, str> {
    let unsafe_byte = |b: u8| b <= b' ' || b == 0x7f;
    // One pass over the bytes, and the substring search for `HASHED`
    // (which starts with `#`) only for keys that hold a `#`.
    let is_token = |key: &str| {
        let mut hash_sign = false;
        let clean = key.bytes().all(|b| {
            hash_sign |= b == b'#';
            !unsafe_byte(b)
        });
        clean && (!hash_sign || !key.contains(HASHED))
    };
    if !key.is_empty() && key.len() <= MAX_KEY && is_token(key) {
        return Cow::Borrowed(key);
    }
    let mut head = String::new();
    for c in key.chars() {
        if head.len() + c.len_utf8() > 64 {
            break;
        }
        head.push(if c.is_ascii() && unsafe_byte(c as u8) {
            '_'
        } else {
            c
        });
    }
    Cow::Owned(format!(
        "{head}{HASHED}{}",
        blake3::hash(key.as_bytes()).to_hex()
    ))
}

/// memcached's TTL for `expire`: whole seconds rounded up, plus one for the
/// clock's tick; Unix time beyond 30 days. `0` is no expiry.
fn ttl_seconds(expire: Option<Duration>) -> u64 {
    let Some(d) = expire else { return 0 };
    let seconds = d
        .as_secs()
        .saturating_add(u64::from(d.subsec_nanos() > 0))
        .saturating_add(1);
    relative_or_absolute(seconds)
}

/// A TTL of `seconds` from now (not 0) as memcached reads it: itself up to
/// 30 days, the Unix time it ends beyond.
fn relative_or_absolute(seconds: u64) -> u64 {
    if seconds <= LONGEST_RELATIVE_TTL {
        return seconds;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // memcached holds times as 32-bit numbers.
    now.saturating_add(seconds).min(i32::MAX as u64)
}

/// The `T` flag that gives an item back the TTL an `mg … t` reported:
/// `-1` (or none) is no expiry (`0`), else the seconds left, at least 1.
fn remaining_ttl(reported: Option<i64>) -> u64 {
    match reported {
        Some(t) if t >= 0 => relative_or_absolute(t.unsigned_abs().max(1)),
        _ => 0,
    }
}

/// A TTL flag (`T` or `N`) for `expire`.
fn ttl_flag(flag: char, expire: Option<Duration>) -> String {
    format!("{flag}{}", ttl_seconds(expire))
}

fn not_integer(key: &str) -> Error {
    Error::new(
        ErrorKind::NotInteger,
        format!("value of {key:?} is not an integer"),
    )
}

fn overflow(key: &str, by: i64) -> Error {
    Error::new(
        ErrorKind::NotInteger,
        format!("incrementing {key:?} by {by} would overflow"),
    )
}

fn unsupported(command: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{command} is not supported by the memcached backend: memcached cannot list its keys"
        ),
    )
}

#[cfg(test)]
mod tests;
