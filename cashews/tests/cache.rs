//! The typed `Cache` over the memory backend: values, signing, safe mode,
//! prefixes, switches and locks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cashews::backend::{Backend, MemoryBackend};
use cashews::{Cache, ErrorKind, Exist, Expiry};
use serde::{Deserialize, Serialize};

fn mem() -> MemoryBackend {
    MemoryBackend::new(Default::default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Contact {
    Email { email: String },
    Phone(u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    #[serde(flatten)]
    address: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    nickname: Option<String>,
    contacts: Vec<Contact>,
    scores: BTreeMap<String, f64>,
    raw: Vec<u8>,
}

fn ada() -> User {
    User {
        id: 1,
        name: "Ada".into(),
        address: Address {
            city: "London".into(),
            zip: None,
        },
        nickname: None,
        contacts: vec![
            Contact::Email {
                email: "ada@example.com".into(),
            },
            Contact::Phone(5551234),
        ],
        scores: BTreeMap::from([("math".into(), 9.5)]),
        raw: vec![0, 255, 7],
    }
}

#[tokio::test]
async fn serde_attributes_round_trip() {
    let cache = Cache::builder(mem()).build();
    cache.set("u", &ada(), 60).await.unwrap();
    assert_eq!(cache.get::<User>("u").await.unwrap(), Some(ada()));
    let mut nick = ada();
    nick.nickname = Some("Countess".into());
    nick.address.zip = Some("W1".into());
    cache.set("u", &nick, 60).await.unwrap();
    assert_eq!(cache.get::<User>("u").await.unwrap(), Some(nick));
}

#[tokio::test]
async fn added_and_removed_fields_still_decode() {
    #[derive(Serialize)]
    struct V1 {
        id: u64,
        name: String,
        legacy: bool,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct V2 {
        id: u64,
        name: String,
        #[serde(default)]
        email: Option<String>,
    }
    let cache = Cache::builder(mem()).build();
    let old = V1 {
        id: 3,
        name: "old".into(),
        legacy: true,
    };
    cache.set("v", &old, 60).await.unwrap();
    assert_eq!(
        cache.get::<V2>("v").await.unwrap(),
        Some(V2 {
            id: 3,
            name: "old".into(),
            email: None
        })
    );
}

#[tokio::test]
async fn a_value_of_another_type_is_a_miss_not_a_panic() {
    let cache = Cache::builder(mem()).build();
    cache.set("u", &ada(), 60).await.unwrap();
    assert_eq!(cache.get::<Vec<u32>>("u").await.unwrap(), None);
    assert_eq!(cache.get::<u64>("u").await.unwrap(), None);
    cache.set("s", "text", 60).await.unwrap();
    assert_eq!(cache.get::<User>("s").await.unwrap(), None);
    assert_eq!(cache.stats().rejected_values, 3);
    // The value is still there for readers of the right type.
    assert_eq!(
        cache.get::<String>("s").await.unwrap().as_deref(),
        Some("text")
    );
}

/// A value whose `Serialize` stores another value in the cache while it is
/// being encoded: the memory backend's shared encode buffer is busy then,
/// and must not be borrowed twice.
struct StoresWhileEncoding(Cache);

impl Serialize for StoresWhileEncoding {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use futures_util::FutureExt;
        // The memory backend completes a set without awaiting anything.
        let inner = self.0.set("inner", &7, 60).now_or_never();
        assert!(matches!(inner, Some(Ok(true))), "inner set: {inner:?}");
        serializer.serialize_str("outer")
    }
}

#[tokio::test]
async fn a_value_may_store_into_the_cache_while_it_is_encoded() {
    let cache = Cache::from_url("mem://").unwrap();
    let outer = StoresWhileEncoding(cache.clone());
    assert!(cache.set("outer", &outer, 60).await.unwrap());
    assert_eq!(
        cache.get::<String>("outer").await.unwrap().as_deref(),
        Some("outer")
    );
    assert_eq!(cache.get::<i32>("inner").await.unwrap(), Some(7));
}

#[tokio::test]
async fn integers_are_counters() {
    let cache = Cache::builder(mem()).build();
    cache.set("n", &41, 60).await.unwrap();
    assert_eq!(cache.incr("n", 1, None).await.unwrap(), 42);
    assert_eq!(cache.get::<i64>("n").await.unwrap(), Some(42));
    assert_eq!(cache.get::<u8>("n").await.unwrap(), Some(42));
    assert_eq!(
        cache
            .incr("fresh", 5, Some(Duration::from_secs(9)))
            .await
            .unwrap(),
        5
    );
    assert!(
        cache.incr("u", 1, None).await.is_ok(),
        "absent key starts at 0"
    );
    cache.set("word", "seven", 60).await.unwrap();
    assert_eq!(
        cache.incr("word", 1, None).await.unwrap_err().kind(),
        ErrorKind::NotInteger
    );
}

#[tokio::test]
async fn signed_values_reject_tampering_moves_and_unsigned_writes() {
    let raw = mem();
    let signed = Cache::builder(raw.clone()).hash_key("s3cret").build();
    let unsigned = Cache::builder(raw.clone()).build();
    signed.set("user:1", &ada(), 60).await.unwrap();
    assert_eq!(signed.get::<User>("user:1").await.unwrap(), Some(ada()));

    // Tampered: one byte of the payload flipped.
    let mut bytes = raw.get("user:1").await.unwrap().unwrap().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    raw.set("user:1", Bytes::from(bytes), None, None)
        .await
        .unwrap();
    assert_eq!(signed.get::<User>("user:1").await.unwrap(), None);

    // Moved: a valid value copied under another key.
    signed.set("user:2", &ada(), 60).await.unwrap();
    let good = raw.get("user:2").await.unwrap().unwrap();
    raw.set("user:3", good, None, None).await.unwrap();
    assert_eq!(signed.get::<User>("user:3").await.unwrap(), None);
    assert_eq!(signed.get::<User>("user:2").await.unwrap(), Some(ada()));

    // Unsigned: written by a cache without the secret, or with another one.
    unsigned.set("user:4", &ada(), 60).await.unwrap();
    assert_eq!(signed.get::<User>("user:4").await.unwrap(), None);
    Cache::builder(raw.clone())
        .hash_key("other")
        .build()
        .set("user:5", &ada(), 60)
        .await
        .unwrap();
    assert_eq!(signed.get::<User>("user:5").await.unwrap(), None);
    unsigned.set("n", &7, 60).await.unwrap();
    assert_eq!(
        signed.get::<i64>("n").await.unwrap(),
        None,
        "an unsigned integer is rejected too"
    );

    assert_eq!(signed.stats().rejected_values, 5);
    // Signed values carry the key: get_match verifies each under its own key.
    let found = signed.get_match::<User>("user:*").await.unwrap();
    assert_eq!(found, vec![("user:2".to_string(), ada())]);
}

/// A memory entry keeps the value its first `get_cloned` decoded, for the
/// codec that decoded it: a cache with another signing key (or none) on the
/// same backend checks the bytes itself.
#[tokio::test]
async fn a_decoded_copy_is_served_only_to_the_codec_that_decoded_it() {
    let raw = mem();
    let unsigned = Cache::builder(raw.clone()).build();
    let signed = Cache::builder(raw.clone()).hash_key("s3cret").build();
    let other = Cache::builder(raw.clone()).hash_key("other").build();

    unsigned.set("user:1", &ada(), 60).await.unwrap();
    assert_eq!(unsigned.get_cloned("user:1").await.unwrap(), Some(ada()));
    assert_eq!(signed.get_cloned::<User>("user:1").await.unwrap(), None);

    signed.set("user:2", &ada(), 60).await.unwrap();
    assert_eq!(signed.get_cloned("user:2").await.unwrap(), Some(ada()));
    assert_eq!(other.get_cloned::<User>("user:2").await.unwrap(), None);
    assert_eq!(signed.get_cloned("user:2").await.unwrap(), Some(ada()));
    assert_eq!(signed.stats().rejected_values, 1);
    assert_eq!(other.stats().rejected_values, 1);
}

#[tokio::test]
async fn hash_key_never_shows_in_debug() {
    let cache = Cache::from_url("mem://?hash_key=hunter2").unwrap();
    assert!(!format!("{cache:?}").contains("hunter2"));
    let settings = cashews::Settings::from_url("mem://?hash_key=hunter2").unwrap();
    assert!(!format!("{settings:?}").contains("hunter2"));
}

#[tokio::test]
async fn prefix_is_applied_and_stripped() {
    let raw = mem();
    let cache = Cache::builder(raw.clone()).prefix("app").build();
    cache.set("user:1", &1, 60).await.unwrap();
    cache.set("user:2", &2, 60).await.unwrap();
    raw.set("user:9", Bytes::from_static(b"9"), None, None)
        .await
        .unwrap();
    assert!(raw.exists("app:user:1").await.unwrap());
    let mut keys = cache.scan("user:*").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["user:1", "user:2"]);
    assert_eq!(cache.delete_match("user:*").await.unwrap(), 2);
    assert!(
        raw.exists("user:9").await.unwrap(),
        "keys outside the prefix are untouched"
    );
    cache.set("x", &1, 60).await.unwrap();
    cache.clear().await.unwrap();
    assert!(
        raw.exists("user:9").await.unwrap(),
        "clear with a prefix clears only the prefix"
    );
    assert!(!raw.exists("app:x").await.unwrap());
}

#[tokio::test]
async fn prefix_with_glob_characters_matches_only_itself() {
    let raw = mem();
    let cache = Cache::builder(raw.clone()).prefix("a*").build();
    cache.set("k", &1, 60).await.unwrap();
    raw.set("abc:k", Bytes::from_static(b"1"), None, None)
        .await
        .unwrap();
    assert_eq!(cache.scan("*").await.unwrap(), ["k"]);
}

#[tokio::test]
async fn disabled_cache_stores_and_returns_nothing() {
    let cache = Cache::from_url("mem://?enable=0").unwrap();
    assert!(!cache.is_enabled());
    assert!(!cache.set("k", &1, 60).await.unwrap());
    assert_eq!(cache.get::<i32>("k").await.unwrap(), None);
    assert!(!cache.exists("k").await.unwrap());
    assert_eq!(cache.incr("k", 1, None).await.unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn typed_commands() {
    let cache = Cache::builder(mem()).build();
    assert!(cache.set_if("k", &1, "10s", Exist::Absent).await.unwrap());
    assert!(!cache.set_if("k", &2, "10s", Exist::Absent).await.unwrap());
    assert!(cache.set_if("k", &3, "10s", Exist::Present).await.unwrap());
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(3));
    assert!(
        matches!(cache.get_expire("k").await.unwrap(), Expiry::Remaining(d) if d <= Duration::from_secs(10))
    );
    assert!(cache.expire("k", "2m").await.unwrap());
    assert!(
        cache
            .expire("k", None::<Duration>)
            .await
            .unwrap_err()
            .is_ttl()
    );
    assert!(
        cache.set("k", &1, "1h30").await.unwrap_err().is_ttl(),
        "malformed ttl is an error"
    );
    cache.set_many(&[("a", 1), ("b", 2)], 60).await.unwrap();
    assert_eq!(
        cache.get_many::<i32>(&["a", "zz", "b"]).await.unwrap(),
        vec![Some(1), None, Some(2)]
    );
    assert_eq!(cache.delete_many(&["a", "b", "zz"]).await.unwrap(), 2);
    assert_eq!(cache.get_or_set("g", 5, 60).await.unwrap(), 5);
    assert_eq!(
        cache.get_or_set("g", 6, 60).await.unwrap(),
        5,
        "an existing value wins"
    );
    assert!(cache.get_size("g").await.unwrap().is_some());
    assert_eq!(cache.ping(None).await.unwrap(), Bytes::from_static(b"PONG"));
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(cache.get::<i32>("g").await.unwrap(), None);
    assert_eq!(cache.get_keys_count().await.unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn scoped_lock_is_released_by_drop_and_waiters_see_it() {
    let cache = Cache::builder(mem()).build();
    let guard = cache.lock("job", "30s").await.unwrap();
    assert!(cache.lock("job", "30s").await.unwrap_err().is_locked());
    assert!(cache.is_locked("job", None).await.unwrap());
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .is_locked("job", Some(Duration::from_secs(5)))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(guard);
    assert!(!waiter.await.unwrap(), "the waiter saw the release");
    assert!(!cache.is_locked("job", None).await.unwrap());

    // A cancelled holder releases too.
    let holder = {
        let cache = cache.clone();
        tokio::spawn(async move {
            let _guard = cache.lock("job", "30s").await.unwrap();
            std::future::pending::<()>().await;
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(cache.is_locked("job", None).await.unwrap());
    holder.abort();
    let _ = holder.await;
    assert!(
        !cache
            .is_locked("job", Some(Duration::from_secs(1)))
            .await
            .unwrap()
    );

    // A waiter gives up after `wait` while the lock is held.
    let _guard = cache.lock("job", "30s").await.unwrap();
    assert!(
        cache
            .is_locked("job", Some(Duration::from_secs(2)))
            .await
            .unwrap()
    );
    // And a lock expires by its ttl if nobody releases it.
    std::mem::forget(_guard);
    tokio::time::advance(Duration::from_secs(31)).await;
    assert!(!cache.is_locked("job", None).await.unwrap());
}

/// A backend whose every command fails, to see what callers get.
struct Down {
    calls: AtomicU64,
}

#[async_trait]
impl Backend for Down {
    async fn get(&self, _: &str) -> cashews::Result<Option<Bytes>> {
        Err(self.fail())
    }
    async fn get_many(&self, _: &[&str]) -> cashews::Result<Vec<Option<Bytes>>> {
        Err(self.fail())
    }
    async fn set(
        &self,
        _: &str,
        _: Bytes,
        _: Option<Duration>,
        _: Option<Exist>,
    ) -> cashews::Result<bool> {
        Err(self.fail())
    }
    async fn set_many(&self, _: &[(&str, Bytes)], _: Option<Duration>) -> cashews::Result<()> {
        Err(self.fail())
    }
    async fn delete(&self, _: &str) -> cashews::Result<bool> {
        Err(self.fail())
    }
    async fn delete_many(&self, _: &[&str]) -> cashews::Result<u64> {
        Err(self.fail())
    }
    async fn delete_match(&self, _: &str) -> cashews::Result<u64> {
        Err(self.fail())
    }
    async fn scan(&self, _: &str) -> cashews::Result<Vec<String>> {
        Err(self.fail())
    }
    async fn get_match(&self, _: &str) -> cashews::Result<Vec<(String, Bytes)>> {
        Err(self.fail())
    }
    async fn exists(&self, _: &str) -> cashews::Result<bool> {
        Err(self.fail())
    }
    async fn incr(&self, _: &str, _: i64, _: Option<Duration>) -> cashews::Result<i64> {
        Err(self.fail())
    }
    async fn expire(&self, _: &str, _: Duration) -> cashews::Result<bool> {
        Err(self.fail())
    }
    async fn get_expire(&self, _: &str) -> cashews::Result<Expiry> {
        Err(self.fail())
    }
    async fn ping(&self, _: Option<&[u8]>) -> cashews::Result<Bytes> {
        Err(self.fail())
    }
    async fn clear(&self) -> cashews::Result<()> {
        Err(self.fail())
    }
    async fn unlock(&self, _: &str, _: &[u8]) -> cashews::Result<bool> {
        Err(self.fail())
    }
    async fn get_size(&self, _: &str) -> cashews::Result<Option<u64>> {
        Err(self.fail())
    }
    async fn get_keys_count(&self) -> cashews::Result<u64> {
        Err(self.fail())
    }
}

impl Down {
    fn fail(&self) -> cashews::Error {
        self.calls.fetch_add(1, Ordering::Relaxed);
        cashews::Error::new(ErrorKind::Connection, "connection refused")
    }
}

fn down() -> Down {
    Down {
        calls: AtomicU64::new(0),
    }
}

#[tokio::test]
async fn safe_mode_answers_empty_and_counts() {
    let cache = Cache::builder(down()).build();
    assert_eq!(cache.get::<i32>("k").await.unwrap(), None);
    assert!(!cache.set("k", &1, 60).await.unwrap());
    assert!(!cache.exists("k").await.unwrap());
    assert_eq!(cache.incr("k", 1, None).await.unwrap(), 0);
    assert_eq!(
        cache.get_many::<i32>(&["a", "b"]).await.unwrap(),
        vec![None, None]
    );
    assert_eq!(cache.scan("*").await.unwrap(), Vec::<String>::new());
    assert_eq!(cache.get_expire("k").await.unwrap(), Expiry::Missing);
    assert!(!cache.set_lock("l", "me", 5).await.unwrap());
    assert_eq!(cache.stats().backend_failures, 8);
    // A health check is never hidden.
    assert!(cache.ping(None).await.unwrap_err().is_connection());
}

#[tokio::test]
async fn unsafe_mode_returns_typed_errors() {
    let cache = Cache::builder(down()).safe(false).build();
    let err = cache.get::<i32>("k").await.unwrap_err();
    assert!(err.is_connection() && err.is_backend_failure(), "{err}");
    assert!(cache.set("k", &1, 60).await.unwrap_err().is_connection());
    assert!(cache.delete_match("*").await.unwrap_err().is_connection());
    assert_eq!(cache.stats().backend_failures, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_hammering_keys_keep_invariants() {
    // Room for every key: eviction would legitimately drop the counter.
    let cache = Cache::from_url("mem://?size=2000&hash_key=k").unwrap();
    let tasks: Vec<_> = (0..32u64)
        .map(|t| {
            let cache = cache.clone();
            tokio::spawn(async move {
                for i in 0..300u64 {
                    cache.incr("hits", 1, None).await.unwrap();
                    let own = format!("task:{t}:{}", i % 40);
                    cache.set(&own, &(t, i), 60).await.unwrap();
                    if let Some((owner, _)) = cache.get::<(u64, u64)>(&own).await.unwrap() {
                        assert_eq!(owner, t, "a value never shows under another task's key");
                    }
                    cache.set("shared", &format!("{t}:{i}"), 60).await.unwrap();
                    let shared: Option<String> = cache.get("shared").await.unwrap();
                    assert!(
                        shared.is_some_and(|s| s.split(':').count() == 2),
                        "no torn values"
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        cache.incr("hits", 0, None).await.unwrap(),
        32 * 300,
        "no lost increments"
    );
    assert_eq!(cache.get_keys_count().await.unwrap(), 32 * 40 + 2);
    assert_eq!(cache.stats().rejected_values, 0);
}

#[test]
fn global_cache_is_configured_once() {
    let first = cashews::setup("mem://?size=10&prefix=g").unwrap();
    assert!(std::ptr::eq(first, cashews::global()));
    let err = cashews::setup("mem://").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyConfigured);
    assert!(cashews::set_global(Cache::from_url("mem://").unwrap()).is_err());

    // The same URL again is the same cache; so is the global cache itself.
    let again = cashews::setup("mem://?size=10&prefix=g").unwrap();
    assert!(std::ptr::eq(first, again));
    let set_again = cashews::set_global(first.clone()).unwrap();
    assert!(std::ptr::eq(first, set_again));

    // Another URL fails without repeating it: it may hold a password.
    let err = cashews::setup("redis://user:hunter2@127.0.0.1:1/").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyConfigured);
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test(start_paused = true)]
async fn get_cloned_sees_every_write_and_every_codec_checks() {
    let raw = mem();
    let signed = Cache::builder(raw.clone()).hash_key("s").build();
    signed.set("k", &vec![1, 2], 60).await.unwrap();
    assert_eq!(
        signed.get_cloned::<Vec<i32>>("k").await.unwrap(),
        Some(vec![1, 2])
    );
    assert_eq!(
        signed.get_cloned::<Vec<i32>>("k").await.unwrap(),
        Some(vec![1, 2])
    );
    // Another type than the kept copy decodes from the bytes.
    assert_eq!(
        signed.get_cloned::<Vec<i64>>("k").await.unwrap(),
        Some(vec![1, 2])
    );
    assert_eq!(signed.get_cloned::<String>("k").await.unwrap(), None);
    // A write replaces the entry and its kept copy.
    signed.set("k", &vec![3], 60).await.unwrap();
    assert_eq!(
        signed.get_cloned::<Vec<i32>>("k").await.unwrap(),
        Some(vec![3])
    );
    // A cache with another secret still checks the signature itself.
    let other = Cache::builder(raw.clone()).hash_key("t").build();
    assert_eq!(other.get_cloned::<Vec<i32>>("k").await.unwrap(), None);
    assert_eq!(other.stats().rejected_values, 1);
    // Expired entries are not served from the copy.
    signed
        .set("short", &7u8, std::time::Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(signed.get_cloned::<u8>("short").await.unwrap(), Some(7));
    tokio::time::advance(Duration::from_millis(5)).await;
    assert_eq!(signed.get_cloned::<u8>("short").await.unwrap(), None);
}
