//! The redis backend's commands: [`NativeBackend`] over its connections.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::try_join_all;
use redis::aio::ConnectionLike;
use redis::{Cmd, Value, cmd};

use super::{
    FIXED_WINDOW, INCR_EXPIRING, RedisBackend, SET_ADD, SLIDE_WINDOW, UNLOCK, millis, utf8,
};
use crate::backend::native::{NativeBackend, backend_by_native, with_commands};
use crate::backend::{Exist, Expiry};
use crate::error::{Error, ErrorKind, Result};

with_commands!(backend_by_native, RedisBackend, Redis);

impl NativeBackend for RedisBackend {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        // Sent as packed bytes, not through `query` and redis-rs's
        // `query_async`, whose layers would grow every hit's future; the
        // command is sized up front so that it never reallocates.
        let mut get = Cmd::with_capacity(2, "GET".len() + key.len());
        get.arg("GET").arg(key);
        let mut lease = self.link.get().await?;
        lease
            .conn
            .req_packed_command(&get)
            .await
            .and_then(Value::extract_error)
            .and_then(|reply| Ok(redis::from_redis_value(reply)?))
            .map_err(|e| self.link.fail(&lease, "GET", e))
    }

    async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        self.mget(keys, keys.len()).await
    }

    async fn set(
        &self,
        key: &str,
        value: Bytes,
        expire: Option<Duration>,
        exist: Option<Exist>,
    ) -> Result<bool> {
        let mut command = cmd("SET");
        command.arg(key).arg(&value[..]);
        if let Some(ttl) = expire {
            command.arg("PX").arg(millis(ttl));
        }
        match exist {
            Some(Exist::Absent) => command.arg("NX"),
            Some(Exist::Present) => command.arg("XX"),
            None => &mut command,
        };
        let reply: Value = self.query(&command).await?;
        Ok(!matches!(reply, Value::Nil))
    }

    async fn set_many(&self, pairs: &[(&str, Bytes)], expire: Option<Duration>) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let lease = self.link.get().await?;
        // A cluster pipeline must stay within one slot.
        let mut shards = HashMap::new();
        for (key, value) in pairs {
            let pipe = shards
                .entry(lease.conn.shard(key))
                .or_insert_with(redis::pipe);
            let set = pipe.cmd("SET").arg(*key).arg(&value[..]);
            if let Some(ttl) = expire {
                set.arg("PX").arg(millis(ttl));
            }
            set.ignore();
        }
        let sent = shards.into_values().map(|pipe| {
            let mut conn = lease.conn.clone();
            async move { pipe.exec_async(&mut conn).await }
        });
        try_join_all(sent)
            .await
            .map(drop)
            .map_err(|e| self.link.fail(&lease, "SET", e))
    }

    async fn delete(&self, key: &str) -> Result<bool> {
        Ok(self.query::<u64>(cmd("DEL").arg(key)).await? > 0)
    }

    async fn delete_many(&self, keys: &[&str]) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        self.query(cmd("DEL").arg(keys)).await
    }

    async fn delete_match(&self, pattern: &str) -> Result<u64> {
        let mut scan = self.scan_pages(pattern).await?;
        let mut deleted = 0;
        while let Some(keys) = self.next_page(&mut scan).await? {
            if !keys.is_empty() {
                // A key that SCAN repeats, or that expired meanwhile, counts 0.
                deleted += self.query::<u64>(cmd("DEL").arg(keys)).await?;
            }
        }
        Ok(deleted)
    }

    async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let mut scan = self.scan_pages(pattern).await?;
        // SCAN may return a key more than once.
        let mut found = HashSet::new();
        while let Some(keys) = self.next_page(&mut scan).await? {
            found.extend(keys.into_iter().filter_map(utf8));
        }
        Ok(found.into_iter().collect())
    }

    async fn get_match(&self, pattern: &str) -> Result<Vec<(String, Bytes)>> {
        let mut scan = self.scan_pages(pattern).await?;
        let mut found = HashMap::new();
        while let Some(keys) = self.next_page(&mut scan).await? {
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|k| std::str::from_utf8(k).is_ok())
                .collect();
            let values = self.values_of(&keys).await?;
            for (key, value) in keys.into_iter().zip(values) {
                if let (Some(key), Some(value)) = (utf8(key), value) {
                    found.insert(key, value);
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.query::<u64>(cmd("EXISTS").arg(key)).await? > 0)
    }

    async fn incr(&self, key: &str, by: i64, expire: Option<Duration>) -> Result<i64> {
        match expire {
            None => self.query(cmd("INCRBY").arg(key).arg(by)).await,
            Some(ttl) => {
                let by = by.to_string();
                let ttl = millis(ttl).to_string();
                self.invoke(
                    "INCRBY",
                    &INCR_EXPIRING,
                    key,
                    &[by.as_bytes(), ttl.as_bytes()],
                )
                .await
            }
        }
    }

    async fn expire(&self, key: &str, timeout: Duration) -> Result<bool> {
        Ok(self
            .query::<u64>(cmd("PEXPIRE").arg(key).arg(millis(timeout)))
            .await?
            == 1)
    }

    async fn get_expire(&self, key: &str) -> Result<Expiry> {
        let ttl: i64 = self.query(cmd("PTTL").arg(key)).await?;
        Ok(match ttl {
            -1 => Expiry::Persistent,
            ms if ms >= 0 => Expiry::Remaining(Duration::from_millis(ms.unsigned_abs())),
            _ => Expiry::Missing,
        })
    }

    async fn ping(&self, message: Option<&[u8]>) -> Result<Bytes> {
        let mut command = cmd("PING");
        if let Some(message) = message {
            command.arg(message);
        }
        // A bare PING answers a status (`+PONG`), an echo a bulk string.
        match self.query(&command).await? {
            Value::SimpleString(status) => Ok(Bytes::from(status)),
            Value::BulkString(echo) => Ok(Bytes::from(echo)),
            other => Err(Error::new(
                ErrorKind::Backend,
                format!("redis PING: unexpected reply {other:?}"),
            )),
        }
    }

    async fn clear(&self) -> Result<()> {
        self.query(&cmd("FLUSHDB")).await
    }

    async fn fixed_window(
        &self,
        key: &str,
        limit: u64,
        period: Duration,
        ban: Duration,
    ) -> Result<bool> {
        // Lua holds numbers as doubles: a limit beyond 2^52 is no limit.
        let limit = limit.min(1 << 52).to_string();
        let period = millis(period).to_string();
        let ban = if ban.is_zero() { 0 } else { millis(ban) }.to_string();
        let admitted: u64 = self
            .invoke(
                "fixed_window",
                &FIXED_WINDOW,
                key,
                &[limit.as_bytes(), period.as_bytes(), ban.as_bytes()],
            )
            .await?;
        Ok(admitted == 1)
    }

    /// One slot key per admission, as the default, in one script. The slots
    /// share the hash tag `{key}` so that a cluster keeps them on one node
    /// (a script may only touch keys of one slot).
    async fn slide_window(&self, key: &str, limit: u64, period: Duration) -> Result<bool> {
        if limit == 0 {
            return Ok(false);
        }
        crate::backend::check_slots(limit)?;
        // A key starting with `}` would make the tag empty, and the slots
        // scatter: `_` keeps one in front.
        let tag = if key.starts_with('}') { "_" } else { "" };
        let slots: Vec<String> = (0..limit).map(|i| format!("{{{tag}{key}}}:{i}")).collect();
        let mut invocation = SLIDE_WINDOW.prepare_invoke();
        for slot in &slots {
            invocation.key(slot.as_str());
        }
        invocation.arg(millis(period));
        let mut lease = self.link.get().await?;
        let admitted: u64 = (invocation.invoke_async(&mut lease.conn).await)
            .map_err(|e| self.link.fail(&lease, "slide_window", e))?;
        Ok(admitted == 1)
    }

    async fn unlock(&self, key: &str, value: &[u8]) -> Result<bool> {
        Ok(self.invoke::<u64>("unlock", &UNLOCK, key, &[value]).await? == 1)
    }

    async fn set_add(&self, key: &str, members: &[&str], expire: Duration) -> Result<()> {
        if members.is_empty() {
            return Ok(());
        }
        let ttl = millis(expire).to_string();
        let args: Vec<&[u8]> = std::iter::once(ttl.as_bytes())
            .chain(members.iter().map(|m| m.as_bytes()))
            .collect();
        self.invoke::<u64>("set_add", &SET_ADD, key, &args)
            .await
            .map(drop)
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>> {
        let found: Vec<Vec<u8>> = self.query(cmd("SMEMBERS").arg(key)).await?;
        Ok(found.into_iter().filter_map(utf8).collect())
    }

    async fn set_remove(&self, key: &str, members: &[&str]) -> Result<u64> {
        if members.is_empty() {
            return Ok(0);
        }
        self.query(cmd("SREM").arg(key).arg(members)).await
    }

    async fn get_size(&self, key: &str) -> Result<Option<u64>> {
        self.query(cmd("MEMORY").arg("USAGE").arg(key).arg("SAMPLES").arg(0))
            .await
    }

    async fn get_keys_count(&self) -> Result<u64> {
        self.query(&cmd("DBSIZE")).await
    }
}
