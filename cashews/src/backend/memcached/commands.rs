//! The memcached backend's commands: [`NativeBackend`] over its connections.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::try_join_all;

use super::{
    Listing, MAX_SET, MemcachedBackend, Reply, SetWrite, kept_ttl, storage_key, ttl_flag,
    unsupported,
};
use crate::backend::members;
use crate::backend::native::{NativeBackend, backend_by_native, with_commands};
use crate::backend::{Exist, Expiry};
use crate::error::{Error, ErrorKind, Result};

with_commands!(backend_by_native, MemcachedBackend, Memcached);

impl NativeBackend for MemcachedBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let key = storage_key(key);
        match self.one("get", &key, |r| r.get(&key, "v")).await? {
            (Reply::Value(_, value), _) => Ok(Some(value)),
            (Reply::Miss, _) => Ok(None),
            (other, server) => Err(server.unexpected("get", &other)),
        }
    }

    #[allow(clippy::indexing_slicing, reason = "`batch` passes indexes of `keys`")]
    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| storage_key(k)).collect();
        self.batch("get_many", &keys, |r, i| r.get(&keys[i], "v"))
            .await?
            .into_iter()
            .map(|reply| match reply {
                (Reply::Value(_, value), _) => Ok(Some(value)),
                (Reply::Miss, _) => Ok(None),
                (other, server) => Err(server.unexpected("get_many", &other)),
            })
            .collect()
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool> {
        self.check_size(&value)?;
        let key = storage_key(key);
        let mut flags = ttl_flag('T', expire);
        match exist {
            Some(Exist::Absent) => flags.push_str(" ME"),
            Some(Exist::Present) => flags.push_str(" MR"),
            None => {}
        }
        match self
            .one("set", &key, |r| r.set(&key, &value, &flags))
            .await?
        {
            (Reply::Done(_), _) => Ok(true),
            (Reply::NotStored, _) => Ok(false),
            (other, server) => Err(server.unexpected("set", &other)),
        }
    }

    #[allow(clippy::indexing_slicing, reason = "`batch` passes indexes of `keys`")]
    async fn set_many(&self, pairs: &[(&str, Bytes)], expire: Option<Duration>) -> Result<()> {
        // All or nothing: no pair is written if one is too long.
        for (_, value) in pairs {
            self.check_size(value)?;
        }
        let keys: Vec<Cow<'_, str>> = pairs.iter().map(|(k, _)| storage_key(k)).collect();
        let flags = ttl_flag('T', expire);
        for reply in self
            .batch("set_many", &keys, |r, i| {
                r.set(&keys[i], &pairs[i].1, &flags)
            })
            .await?
        {
            match reply {
                (Reply::Done(_), _) => {}
                (other, server) => return Err(server.unexpected("set_many", &other)),
            }
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        let key = storage_key(key);
        match self.one("delete", &key, |r| r.delete(&key, "")).await? {
            (Reply::Done(_), _) => Ok(true),
            (Reply::NotFound, _) => Ok(false),
            (other, server) => Err(server.unexpected("delete", &other)),
        }
    }

    #[allow(clippy::indexing_slicing, reason = "`batch` passes indexes of `keys`")]
    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        let keys: Vec<Cow<'_, str>> = keys.iter().map(|k| storage_key(k)).collect();
        let mut deleted = 0;
        for reply in self
            .batch("delete_many", &keys, |r, i| r.delete(&keys[i], ""))
            .await?
        {
            match reply {
                (Reply::Done(_), _) => deleted += 1,
                (Reply::NotFound, _) => {}
                (other, server) => return Err(server.unexpected("delete_many", &other)),
            }
        }
        Ok(deleted)
    }

    async fn delete_match(&self, _pattern: &str) -> Result<u64> {
        Err(unsupported("delete_match"))
    }

    async fn scan(&self, _pattern: &str) -> Result<Vec<String>> {
        Err(unsupported("scan"))
    }

    async fn get_match(&self, _pattern: &str) -> Result<Vec<(String, Bytes)>> {
        Err(unsupported("get_match"))
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        let key = storage_key(key);
        match self.one("exists", &key, |r| r.get(&key, "")).await? {
            (Reply::Done(_), _) => Ok(true),
            (Reply::Miss, _) => Ok(false),
            (other, server) => Err(server.unexpected("exists", &other)),
        }
    }

    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        self.incr_checked(&storage_key(key), by, expire).await
    }

    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool> {
        let key = storage_key(key);
        let flags = ttl_flag('T', Some(timeout));
        match self.one("expire", &key, |r| r.get(&key, &flags)).await? {
            (Reply::Done(_), _) => Ok(true),
            (Reply::Miss, _) => Ok(false),
            (other, server) => Err(server.unexpected("expire", &other)),
        }
    }

    async fn get_expire(&self, key: &str) -> Result<Expiry> {
        let key = storage_key(key);
        match self.one("get_expire", &key, |r| r.get(&key, "t")).await? {
            (Reply::Done(meta), server) => match meta.ttl {
                Some(-1) => Ok(Expiry::Persistent),
                // The key may expire a second sooner than memcached's count
                // says (its clock ticks whole seconds): tell the sure part.
                Some(t) if t >= 0 => Ok(Expiry::Remaining(Duration::from_secs(
                    t.saturating_sub(1).unsigned_abs(),
                ))),
                _ => Err(server.unexpected("get_expire", &Reply::Done(meta))),
            },
            (Reply::Miss, _) => Ok(Expiry::Missing),
            (other, server) => Err(server.unexpected("get_expire", &other)),
        }
    }

    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        // memcached has no echo: `mn` on every server proves they answer.
        self.everywhere("mn").await?;
        Ok(Bytes::copy_from_slice(message.unwrap_or(b"PONG")))
    }

    async fn clear(&self) -> Result<()> {
        self.everywhere("flush_all").await
    }

    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool> {
        let key = storage_key(key);
        let cas = match self.one("unlock", &key, |r| r.get(&key, "v c")).await? {
            (Reply::Value(meta, held), server) if held == value => meta
                .cas
                .ok_or_else(|| server.unexpected("unlock", &Reply::Value(meta, held)))?,
            (Reply::Value(..) | Reply::Miss, _) => return Ok(false),
            (other, server) => return Err(server.unexpected("unlock", &other)),
        };
        // Deletes only if nobody wrote the key since we read it.
        match self
            .one("unlock", &key, |r| r.delete(&key, &format!("C{cas}")))
            .await?
        {
            (Reply::Done(_), _) => Ok(true),
            (Reply::Exists | Reply::NotFound, _) => Ok(false),
            (other, server) => Err(server.unexpected("unlock", &other)),
        }
    }

    async fn set_add(&self, key: &str, added: &[&str], expire: Duration) -> Result<()> {
        if added.is_empty() {
            return Ok(());
        }
        let key = storage_key(key);
        self.swap_set("set_add", &key, |current| {
            let added = members::add(&key, current.map(|(v, _)| v), added)?;
            let ttl = match current.map(|(_, ttl)| ttl) {
                None => Some(ttl_flag('T', Some(expire))),
                // No TTL stays so.
                Some(Some(-1)) => None,
                // memcached counts a second more than the item surely lives.
                Some(Some(left))
                    if Duration::from_secs(left.saturating_sub(1).unsigned_abs()) >= expire =>
                {
                    None
                }
                Some(_) => Some(ttl_flag('T', Some(expire))),
            };
            let (value, ttl) = match (added, ttl, current) {
                (None, None, _) => return Ok((None, ())),
                (Some(value), ttl, current) => (
                    value,
                    ttl.unwrap_or_else(|| kept_ttl(current.and_then(|(_, t)| t))),
                ),
                (None, Some(ttl), Some((value, _))) => (value.to_vec(), ttl),
                (None, Some(_), None) => return Ok((None, ())),
            };
            if value.len() > MAX_SET {
                return Err(Error::new(
                    ErrorKind::Backend,
                    format!("memcached set_add of {key:?}: the set would pass {MAX_SET} bytes"),
                ));
            }
            Ok((Some(SetWrite::Store(value, ttl)), ()))
        })
        .await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        let key = storage_key(key);
        match self.one("set_members", &key, |r| r.get(&key, "v")).await? {
            (Reply::Value(_, value), _) => Ok(members::decode(&value)
                .ok_or_else(|| members::not_a_set(&key))?
                .into_iter()
                .map(str::to_owned)
                .collect()),
            (Reply::Miss, _) => Ok(Vec::new()),
            (other, server) => Err(server.unexpected("set_members", &other)),
        }
    }

    async fn set_remove(&self, key: &str, removed: &[&str]) -> Result<u64> {
        let key = storage_key(key);
        self.swap_set("set_remove", &key, |current| {
            let Some((value, ttl)) = current else {
                return Ok((None, 0));
            };
            match members::remove(&key, value, removed)? {
                (_, 0) => Ok((None, 0)),
                (None, n) => Ok((Some(SetWrite::Delete), n)),
                (Some(kept), n) => Ok((Some(SetWrite::Store(kept, kept_ttl(ttl))), n)),
            }
        })
        .await
    }

    async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        let key = storage_key(key);
        match self.one("get_size", &key, |r| r.get(&key, "s")).await? {
            (Reply::Done(meta), server) => meta
                .size
                .map(Some)
                .ok_or_else(|| server.unexpected("get_size", &Reply::Done(meta))),
            (Reply::Miss, _) => Ok(None),
            (other, server) => Err(server.unexpected("get_size", &other)),
        }
    }

    async fn get_keys_count(&self) -> Result<u64> {
        let counted = self.servers.iter().map(|server| async move {
            // The crawler serves one walk at a time; the periodic LRU crawl
            // may hold it for a moment.
            for _ in 0..100 {
                let listing = server
                    .count_lines("get_keys_count", "lru_crawler metadump hash", |line| {
                        line.starts_with(b"key=")
                    })
                    .await?;
                match listing {
                    Listing::Answer(line) if line.starts_with("BUSY") => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Listing::Answer(line) => {
                        return Err(server.unexpected("get_keys_count", &Reply::Error(line)));
                    }
                    Listing::Items(count) => return Ok(count),
                }
            }
            Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "memcached get_keys_count: the LRU crawler of {} stayed busy",
                    server.name
                ),
            ))
        });
        Ok(try_join_all(counted).await?.into_iter().sum())
    }
}
