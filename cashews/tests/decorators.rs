//! `#[cashews::cache]` on paused time: hits and misses, expiry, conditions,
//! `Result`s, TTLs from values, keys as stored, single-flight, safe mode.
//! And the same strategy without the macro.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cashews::backend::Backend;
use cashews::{Cache, Error, ErrorKind, Expiry};
use futures_util::future::join_all;
use tokio::time::{advance, sleep};

fn mem() -> Cache {
    Cache::from_url("mem://").unwrap()
}

/// Counts the calls of one test's functions.
struct Calls(AtomicUsize);

impl Calls {
    const fn new() -> Self {
        Self(AtomicUsize::new(0))
    }
    fn hit(&self) -> usize {
        self.0.fetch_add(1, SeqCst) + 1
    }
    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn miss_then_hit() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "square:{n}", cache = cache)]
    async fn square(cache: &Cache, n: u64) -> u64 {
        CALLS.hit();
        n * n
    }
    let cache = mem();
    assert_eq!(square(&cache, 3).await, 9);
    assert_eq!(square(&cache, 3).await, 9);
    assert_eq!(CALLS.count(), 1, "the second call is a hit");
    assert_eq!(cache.get::<u64>("square:3").await.unwrap(), Some(9));
    assert_eq!(square(&cache, 4).await, 16);
    assert_eq!(CALLS.count(), 2, "another argument is another key");
}

#[tokio::test(start_paused = true)]
async fn a_value_expires_after_its_ttl() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "10s", key = "n", cache = cache)]
    async fn counted(cache: &Cache) -> usize {
        CALLS.hit()
    }
    let cache = mem();
    assert_eq!(counted(&cache).await, 1);
    advance(Duration::from_secs(9)).await;
    assert_eq!(counted(&cache).await, 1, "still fresh after 9s");
    advance(Duration::from_secs(2)).await;
    assert_eq!(counted(&cache).await, 2, "expired after 10s");
}

#[tokio::test(start_paused = true)]
async fn every_ttl_form_stores_for_its_duration() {
    const MINUTE: Duration = Duration::from_secs(60);
    struct Config {
        ttl: Duration,
    }
    #[cashews::cache(ttl = 90, key = "seconds", cache = cache)]
    async fn seconds(cache: &Cache) -> u8 {
        1
    }
    #[cashews::cache(ttl = MINUTE * 2, key = "expr", cache = cache)]
    async fn expression(cache: &Cache) -> u8 {
        2
    }
    #[cashews::cache(ttl = config.ttl, key = "arg", cache = cache)]
    async fn from_argument(cache: &Cache, config: &Config) -> u8 {
        3
    }
    #[cashews::cache(ttl = "1h30m", key = "literal", cache = cache)]
    async fn literal(cache: &Cache) -> u8 {
        4
    }
    let cache = mem();
    seconds(&cache).await;
    expression(&cache).await;
    from_argument(
        &cache,
        &Config {
            ttl: Duration::from_secs(7),
        },
    )
    .await;
    literal(&cache).await;
    for (key, secs) in [
        ("seconds", 90),
        ("expr", 120),
        ("arg", 7),
        ("literal", 5400),
    ] {
        assert_eq!(
            cache.get_expire(key).await.unwrap(),
            Expiry::Remaining(Duration::from_secs(secs)),
            "{key}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_ttl_can_be_chosen_from_the_result() {
    #[cashews::cache(
        ttl = |found| if found.is_some() { Duration::from_secs(600) } else { Duration::from_secs(5) },
        key = "user:{id}",
        cache = cache,
    )]
    async fn find(cache: &Cache, id: u64) -> Option<String> {
        (id == 1).then(|| "Ada".to_owned())
    }
    let cache = mem();
    assert_eq!(find(&cache, 1).await.as_deref(), Some("Ada"));
    assert_eq!(find(&cache, 2).await, None);
    assert_eq!(
        cache.get_expire("user:1").await.unwrap(),
        Expiry::Remaining(Duration::from_secs(600))
    );
    assert_eq!(
        cache.get_expire("user:2").await.unwrap(),
        Expiry::Remaining(Duration::from_secs(5)),
        "None is stored too, here briefly"
    );
}

#[tokio::test(start_paused = true)]
async fn a_condition_decides_what_is_stored() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "half:{n}", cache = cache, condition = |v| v % 2 == 0)]
    async fn half(cache: &Cache, n: u32) -> u32 {
        CALLS.hit();
        n / 2
    }
    let cache = mem();
    half(&cache, 8).await; // 4: stored
    half(&cache, 8).await;
    assert_eq!(CALLS.count(), 1);
    half(&cache, 6).await; // 3: refused
    half(&cache, 6).await;
    assert_eq!(CALLS.count(), 3);
    assert!(!cache.exists("half:6").await.unwrap());
}

/// An error of the user's own: neither `Clone` nor serde.
#[derive(Debug, PartialEq)]
struct NotFound {
    id: u64,
}

#[tokio::test(start_paused = true)]
async fn errors_are_not_stored_and_come_back_as_they_are() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "item:{id}", cache = cache)]
    async fn item(cache: &Cache, id: u64) -> Result<String, NotFound> {
        if CALLS.hit() == 1 {
            return Err(NotFound { id });
        }
        let name = format!("item {id}");
        Ok(name)
    }
    let cache = mem();
    assert_eq!(item(&cache, 5).await, Err(NotFound { id: 5 }));
    assert!(
        !cache.exists("item:5").await.unwrap(),
        "the error is not stored"
    );
    assert_eq!(item(&cache, 5).await.as_deref(), Ok("item 5"));
    assert_eq!(item(&cache, 5).await.as_deref(), Ok("item 5"));
    assert_eq!(CALLS.count(), 2);
    assert_eq!(
        cache.get::<String>("item:5").await.unwrap().as_deref(),
        Some("item 5"),
        "the Ok value is stored, not the Result"
    );
}

#[tokio::test(start_paused = true)]
async fn question_marks_and_returns_in_the_body_work_as_before() {
    #[cashews::cache(ttl = "1m", key = "parse:{text}", cache = cache)]
    async fn parse(cache: &Cache, text: &str) -> Result<u32, std::num::ParseIntError> {
        if text.is_empty() {
            return Ok(0);
        }
        let n: u32 = text.parse()?;
        Ok(n + 1)
    }
    let cache = mem();
    assert_eq!(parse(&cache, "41").await, Ok(42));
    assert_eq!(parse(&cache, "").await, Ok(0));
    assert!(parse(&cache, "x").await.is_err());
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[tokio::test(start_paused = true)]
async fn template_and_prefix_keys_are_stored_as_written() {
    #[cashews::cache(
        ttl = "1m",
        prefix = "v2",
        key = "user:{user.id}:{name:lower}:{shout:upper}:{items:len}:{token:hash}:{pair.1}",
        cache = cache,
    )]
    async fn profile(
        cache: &Cache,
        user: &User,
        name: &str,
        shout: String,
        items: Vec<u8>,
        token: &str,
        pair: (u8, char),
    ) -> String {
        format!("{}/{name}", user.id)
    }
    let cache = mem();
    let ada = User {
        id: 7,
        name: "Ada".into(),
    };
    profile(
        &cache,
        &ada,
        "AdA",
        "hey".into(),
        vec![1, 2, 3],
        "s3cret",
        (1, 'z'),
    )
    .await;
    let hash = &blake3::hash(b"s3cret").to_hex()[..32];
    let expected = format!("v2:user:7:ada:HEY:3:{hash}:z");
    assert_eq!(cache.scan("*").await.unwrap(), vec![expected.clone()]);
    assert_eq!(
        cache.get::<String>(&expected).await.unwrap().as_deref(),
        Some("7/AdA")
    );
}

#[tokio::test(start_paused = true)]
async fn the_default_key_is_the_path_then_each_argument() {
    static CACHE: LazyLock<Cache> = LazyLock::new(mem);
    #[cashews::cache(ttl = "1m", cache = CACHE)]
    async fn search(query: &str, page: Option<u32>, exact: bool) -> Vec<String> {
        vec![query.to_owned()]
    }
    search("a:b", Some(2), true).await;
    search("50%", None, false).await;
    let mut keys = CACHE.scan("*").await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "decorators::search:query:50%25:page:None:exact:false",
            "decorators::search:query:a%3Ab:page:Some(2):exact:true",
        ]
    );
}

struct Repo {
    cache: Cache,
    tenant: String,
    calls: AtomicUsize,
}

impl Repo {
    /// A method: `self` is left out of the default key, which starts with
    /// the type's path.
    #[cashews::cache(ttl = "1m", cache = self.cache)]
    pub(crate) async fn get(&self, id: u64) -> User {
        self.calls.fetch_add(1, SeqCst);
        User {
            id,
            name: "Ada".into(),
        }
    }

    /// A template may name `self`'s fields.
    #[cashews::cache(ttl = "1m", key = "{self.tenant}:{id}", cache = self.cache)]
    async fn by_tenant(&self, id: u64) -> u64 {
        id
    }
}

#[tokio::test(start_paused = true)]
async fn methods_leave_self_out_of_the_default_key() {
    let repo = Repo {
        cache: mem(),
        tenant: "acme".into(),
        calls: AtomicUsize::new(0),
    };
    assert_eq!(repo.get(1).await.name, "Ada");
    assert_eq!(repo.get(1).await.id, 1);
    assert_eq!(repo.calls.load(SeqCst), 1);
    assert_eq!(
        repo.cache.scan("*").await.unwrap(),
        ["decorators::Repo::get:id:1"]
    );
    repo.by_tenant(5).await;
    assert!(repo.cache.exists("acme:5").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn generic_functions_key_their_type_parameters() {
    static CACHE: LazyLock<Cache> = LazyLock::new(mem);
    #[cashews::cache(ttl = "1m", cache = CACHE)]
    async fn parsed<T>(text: &str) -> Option<T>
    where
        T: std::str::FromStr
            + Clone
            + Send
            + Sync
            + serde::Serialize
            + serde::de::DeserializeOwned
            + 'static,
    {
        text.parse().ok()
    }
    assert_eq!(parsed::<u8>("7").await, Some(7));
    assert_eq!(parsed::<String>("7").await.as_deref(), Some("7"));
    let mut keys = CACHE.scan("*").await.unwrap();
    keys.sort();
    assert_eq!(
        keys,
        [
            "decorators::parsed::<alloc::string::String>:text:7",
            "decorators::parsed::<u8>:text:7",
        ],
        "one key per type: a u8 is never read back as a String"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_calls_run_the_function_once() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "slow", cache = cache)]
    async fn slow(cache: &Cache) -> String {
        CALLS.hit();
        sleep(Duration::from_secs(1)).await;
        "done".to_owned()
    }
    let cache = mem();
    let results = join_all((0..100).map(|_| slow(&cache))).await;
    assert!(results.iter().all(|r| r == "done"));
    assert_eq!(CALLS.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn unprotected_concurrent_calls_each_run() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "slow", cache = cache, protected = false)]
    async fn slow(cache: &Cache) -> u8 {
        CALLS.hit();
        sleep(Duration::from_secs(1)).await;
        1
    }
    let cache = mem();
    join_all((0..100).map(|_| slow(&cache))).await;
    assert_eq!(CALLS.count(), 100);
}

#[tokio::test(start_paused = true)]
async fn a_failed_leader_lets_the_next_waiter_run_and_share() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "flaky", cache = cache)]
    async fn flaky(cache: &Cache) -> Result<u8, NotFound> {
        let n = CALLS.hit();
        sleep(Duration::from_secs(1)).await;
        if n == 1 {
            Err(NotFound { id: 0 })
        } else {
            Ok(n as u8)
        }
    }
    let cache = mem();
    let results = join_all((0..3).map(|_| flaky(&cache))).await;
    assert_eq!(results, [Err(NotFound { id: 0 }), Ok(2), Ok(2)]);
    assert_eq!(CALLS.count(), 2, "one failed run, then one shared run");
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_never_leaves_waiters_hanging() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "slow", cache = cache)]
    async fn slow(cache: Cache) -> usize {
        let n = CALLS.hit();
        sleep(Duration::from_secs(10)).await;
        n
    }
    let cache = mem();
    let leader = tokio::spawn(slow(cache.clone()));
    tokio::task::yield_now().await;
    let waiter = tokio::spawn(slow(cache.clone()));
    advance(Duration::from_secs(1)).await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    assert_eq!(
        waiter.await.unwrap(),
        2,
        "the waiter ran the function itself"
    );
    assert_eq!(slow(cache).await, 2, "and stored it");
}

/// A backend that is down: every command fails as a lost connection would.
struct Down;

fn down<T>() -> cashews::Result<T> {
    Err(Error::new(ErrorKind::Connection, "connection refused"))
}

#[async_trait]
impl Backend for Down {
    async fn get(&self, _: &str) -> cashews::Result<Option<Bytes>> {
        down()
    }
    async fn get_many(&self, _: &[&str]) -> cashews::Result<Vec<Option<Bytes>>> {
        down()
    }
    async fn set(
        &self,
        _: &str,
        _: Bytes,
        _: Option<Duration>,
        _: Option<cashews::Exist>,
    ) -> cashews::Result<bool> {
        down()
    }
    async fn set_many(&self, _: &[(&str, Bytes)], _: Option<Duration>) -> cashews::Result<()> {
        down()
    }
    async fn delete(&self, _: &str) -> cashews::Result<bool> {
        down()
    }
    async fn delete_many(&self, _: &[&str]) -> cashews::Result<u64> {
        down()
    }
    async fn delete_match(&self, _: &str) -> cashews::Result<u64> {
        down()
    }
    async fn scan(&self, _: &str) -> cashews::Result<Vec<String>> {
        down()
    }
    async fn get_match(&self, _: &str) -> cashews::Result<Vec<(String, Bytes)>> {
        down()
    }
    async fn exists(&self, _: &str) -> cashews::Result<bool> {
        down()
    }
    async fn incr(&self, _: &str, _: i64, _: Option<Duration>) -> cashews::Result<i64> {
        down()
    }
    async fn expire(&self, _: &str, _: Duration) -> cashews::Result<bool> {
        down()
    }
    async fn get_expire(&self, _: &str) -> cashews::Result<Expiry> {
        down()
    }
    async fn ping(&self, _: Option<&[u8]>) -> cashews::Result<Bytes> {
        down()
    }
    async fn clear(&self) -> cashews::Result<()> {
        down()
    }
    async fn unlock(&self, _: &str, _: &[u8]) -> cashews::Result<bool> {
        down()
    }
    async fn get_size(&self, _: &str) -> cashews::Result<Option<u64>> {
        down()
    }
    async fn get_keys_count(&self) -> cashews::Result<u64> {
        down()
    }
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_is_down_never_fails_the_call() {
    static CALLS: Calls = Calls::new();
    #[cashews::cache(ttl = "1m", key = "k", cache = cache)]
    async fn answer(cache: &Cache) -> Result<u32, NotFound> {
        CALLS.hit();
        Ok(42)
    }
    let safe = Cache::builder(Down).build();
    let unsafe_ = Cache::builder(Down).safe(false).build();
    for cache in [&safe, &unsafe_] {
        assert_eq!(answer(cache).await, Ok(42));
        assert_eq!(answer(cache).await, Ok(42));
    }
    assert_eq!(CALLS.count(), 4, "every call ran the function");
    assert!(
        safe.stats().backend_failures >= 2,
        "safe mode counted the failures"
    );
}

#[tokio::test(start_paused = true)]
async fn without_the_macro_closures_and_dynamic_keys() {
    let cache = mem();
    let calls = AtomicUsize::new(0);
    let user = |id: u64| {
        calls.fetch_add(1, SeqCst);
        async move {
            Ok::<_, NotFound>(User {
                id,
                name: format!("user {id}"),
            })
        }
    };
    for _ in 0..2 {
        let key = format!("user:{}", 9);
        let found = cache.cached(&key, "1m").try_get_with(|| user(9)).await;
        assert_eq!(found.unwrap().name, "user 9");
    }
    assert_eq!(calls.load(SeqCst), 1);

    let empty = cache
        .cached("list", 60)
        .condition(|v: &Vec<u8>| !v.is_empty())
        .get_with(|| async { Vec::<u8>::new() })
        .await;
    assert!(empty.is_empty());
    assert!(!cache.exists("list").await.unwrap());

    cache
        .cached("sized", 60)
        .ttl_with(|v: &Vec<u8>| Duration::from_secs(v.len() as u64))
        .get_with(|| async { vec![1u8, 2, 3] })
        .await;
    assert_eq!(
        cache.get_expire("sized").await.unwrap(),
        Expiry::Remaining(Duration::from_secs(3))
    );
}
