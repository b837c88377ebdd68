//! `#[cashews::invalidate]`: by pattern and by a call of a cached function
//! (its companion, `<name>_cache_key`), with hostile arguments (`*`, `?`,
//! `[`) that must delete only their own keys. And the same without the
//! macro. An exact invalidation (no
//! wildcard) is one delete on every backend; a real pattern on memcached
//! fails loudly: logged at error level and counted.

mod support;

use std::sync::LazyLock;

use cashews::strategy::invalidate::{Invalidation, after};
use cashews::{Cache, KeyPart};

/// One cache per function pair below, so tests running in parallel do not
/// see each other's keys.
static FIELDS: LazyLock<Cache> = LazyLock::new(|| Cache::from_url("mem://").unwrap());

#[cashews::cache(ttl = "1h", key = "user:{name}:{field}", cache = FIELDS)]
async fn user_field(name: &str, field: &str) -> String {
    format!("{field} of {name}")
}

#[cashews::invalidate("user:{name}:*", cache = FIELDS)]
async fn forget_by_pattern(name: &str) -> Result<(), std::io::Error> {
    Ok(())
}

#[cashews::invalidate(user_field(name, _))]
async fn forget_by_call(name: &str) {}

#[cashews::invalidate(user_field(name, _))]
async fn fail_to_forget(name: &str) -> Result<(), std::io::Error> {
    Err(std::io::Error::other(format!("{name} stays")))
}

const HOSTILE: [&str; 4] = ["*", "?", "[", "a*b[c]?\\"];

async fn fill(names: &[&str]) {
    for name in names {
        for field in ["email", "name"] {
            user_field(name, field).await;
        }
    }
}

async fn users_left() -> Vec<String> {
    let mut keys = FIELDS.scan("user:*").await.unwrap();
    keys.sort();
    keys.dedup();
    keys
}

/// The tests share `FIELDS`; each uses its own names and runs its steps
/// under this lock.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_pattern_escapes_the_values_it_interpolates() {
    let _serial = SERIAL.lock().await;
    FIELDS.clear().await.unwrap();
    fill(&["alice", "bob"]).await;
    fill(&HOSTILE).await;
    for hostile in HOSTILE {
        forget_by_pattern(hostile).await.unwrap();
        let left = users_left().await;
        assert!(
            !left
                .iter()
                .any(|k| k.starts_with(&format!("user:{hostile}:"))),
            "{hostile}: {left:?}"
        );
        assert!(
            left.contains(&"user:alice:email".to_owned()),
            "{hostile}: {left:?}"
        );
        assert!(
            left.contains(&"user:bob:name".to_owned()),
            "{hostile}: {left:?}"
        );
    }
    assert_eq!(
        users_left().await.len(),
        4,
        "only alice's and bob's keys are left"
    );
    forget_by_pattern("alice").await.unwrap();
    assert_eq!(users_left().await, ["user:bob:email", "user:bob:name"]);
}

#[tokio::test]
async fn a_call_of_the_cached_function_deletes_its_keys_with_wildcards() {
    let _serial = SERIAL.lock().await;
    FIELDS.clear().await.unwrap();
    fill(&["carol", "dave"]).await;
    fill(&HOSTILE).await;
    for hostile in HOSTILE {
        forget_by_call(hostile).await;
        let left = users_left().await;
        assert!(
            !left
                .iter()
                .any(|k| k.starts_with(&format!("user:{hostile}:"))),
            "{hostile}: {left:?}"
        );
        assert!(
            left.contains(&"user:carol:email".to_owned()),
            "{hostile}: {left:?}"
        );
    }
    forget_by_call("carol").await;
    assert_eq!(users_left().await, ["user:dave:email", "user:dave:name"]);
}

#[tokio::test]
async fn nothing_is_deleted_when_the_function_fails() {
    let _serial = SERIAL.lock().await;
    FIELDS.clear().await.unwrap();
    fill(&["erin"]).await;
    assert!(fail_to_forget("erin").await.is_err());
    assert_eq!(users_left().await, ["user:erin:email", "user:erin:name"]);
}

/// Default keys, methods, and the target's own cache.
struct Shop {
    cache: Cache,
}

impl Shop {
    #[cashews::cache(ttl = "1h", cache = self.cache)]
    async fn page(&self, category: &str, n: u32) -> Vec<String> {
        vec![format!("{category} #{n}")]
    }

    /// Every page of one category: `n` is any value.
    #[cashews::invalidate(self.page(category, _))]
    async fn restock(&self, category: &str) -> Result<u32, String> {
        Ok(1)
    }

    /// One page of every category, through a path call.
    #[cashews::invalidate(Self::page(self, _, n))]
    async fn reprint(&self, n: u32) {}
}

#[tokio::test]
async fn a_method_call_target_uses_the_default_key_and_its_own_cache() {
    let shop = Shop {
        cache: Cache::from_url("mem://").unwrap(),
    };
    for category in ["tea", "t*a", "coffee"] {
        for n in [1, 2] {
            shop.page(category, n).await;
        }
    }
    assert_eq!(shop.restock("t*a").await, Ok(1));
    let mut left = shop.cache.scan("*").await.unwrap();
    left.sort();
    assert_eq!(
        left,
        [
            "invalidate::Shop::page:category:coffee:n:1",
            "invalidate::Shop::page:category:coffee:n:2",
            "invalidate::Shop::page:category:tea:n:1",
            "invalidate::Shop::page:category:tea:n:2",
        ],
        "only the pages of `t*a` went"
    );
    shop.reprint(2).await;
    let mut left = shop.cache.scan("*").await.unwrap();
    left.sort();
    assert_eq!(
        left,
        [
            "invalidate::Shop::page:category:coffee:n:1",
            "invalidate::Shop::page:category:tea:n:1",
        ]
    );
}

#[tokio::test]
async fn without_the_macro() {
    let cache = Cache::from_url("mem://").unwrap();
    cache.set("items:page:1", &1, 60).await.unwrap();
    cache.set("items:page:2", &2, 60).await.unwrap();
    cache.set("items:count", &2, 60).await.unwrap();
    let done: Result<(), String> = after(
        [Invalidation::new(&cache, "items:page:*")],
        Result::is_ok,
        || async { Ok(()) },
    )
    .await;
    assert!(done.is_ok());
    assert_eq!(cache.scan("items:*").await.unwrap(), ["items:count"]);

    let open = user_field_cache_key(KeyPart::Value("a?"), KeyPart::ANY);
    assert_eq!(open.pattern(), r"user:a\?:*");
    assert_eq!(open.key(), None);
    let exact = user_field_cache_key("a?".into(), "x".into());
    assert_eq!(exact.key().as_deref(), Some("user:a?:x"));
    assert!(
        !FIELDS.exists("user:a?:x").await.unwrap(),
        "building a key does not run the call"
    );
}

/// The companion of a method takes `&self`, and one whose `cache` option
/// reads a parameter takes that parameter's value (never a wildcard): the
/// key is the one each call stores, on the cache it stores it in.
#[tokio::test]
async fn companions_of_methods_and_of_functions_given_their_cache() {
    #[cashews::cache(ttl = "1h", key = "n:{n}", cache = cache)]
    async fn numbered(cache: &Cache, n: u32) -> u32 {
        n
    }
    #[cashews::invalidate(numbered(cache, _))]
    async fn forget_numbers(cache: &Cache) {}

    let (one, two) = (
        Cache::from_url("mem://").unwrap(),
        Cache::from_url("mem://").unwrap(),
    );
    for n in [1, 2] {
        numbered(&one, n).await;
        numbered(&two, n).await;
    }
    let key = numbered_cache_key(KeyPart::Value(&one), KeyPart::Value(2));
    assert_eq!(key.key().as_deref(), Some("n:2"));
    assert_eq!(key.run().await.unwrap(), 1);
    assert!(two.exists("n:2").await.unwrap(), "only its own cache");
    forget_numbers(&two).await;
    assert_eq!(two.scan("*").await.unwrap(), Vec::<String>::new());
    assert_eq!(one.scan("*").await.unwrap(), ["n:1"]);

    let shop = Shop {
        cache: Cache::from_url("mem://").unwrap(),
    };
    shop.page("tea", 3).await;
    let key = shop.page_cache_key(KeyPart::Value("tea"), KeyPart::Value(3));
    assert_eq!(
        key.key().as_deref(),
        Some("invalidate::Shop::page:category:tea:n:3")
    );
    assert!(
        key.cache()
            .exists("invalidate::Shop::page:category:tea:n:3")
            .await
            .unwrap()
    );
    assert_eq!(
        shop.page_cache_key(KeyPart::ANY, KeyPart::Value(3))
            .pattern(),
        "invalidate::Shop::page:category:*:n:3"
    );
}

/// Argument types without `Default`, generic functions and prefixes: a
/// wildcard needs no value of the type, and the key is the stored one.
#[tokio::test]
async fn wildcards_need_no_value_of_the_type() {
    static CACHE: LazyLock<Cache> = LazyLock::new(|| Cache::from_url("mem://").unwrap());
    struct Account {
        id: u64,
    }
    #[cashews::cache(
        ttl = "1h",
        key = "account:{account.id}:{period}",
        prefix = "v2",
        cache = CACHE
    )]
    async fn statement(account: &Account, period: u32) -> u64 {
        account.id * 100 + u64::from(period)
    }
    #[cashews::invalidate(statement(_, period))]
    async fn close_period(period: u32) {}

    #[cashews::cache(ttl = "1h", cache = CACHE)]
    async fn typed<T>(id: u8) -> T
    where
        T: Default + serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        T::default()
    }
    #[cashews::invalidate(typed::<u16>(id))]
    async fn forget_typed(id: u8) {}

    for id in [1, 2] {
        for period in [7, 8] {
            statement(&Account { id }, period).await;
        }
    }
    close_period(7).await;
    let mut left = CACHE.scan("v2:*").await.unwrap();
    left.sort();
    assert_eq!(left, ["v2:account:1:8", "v2:account:2:8"]);

    typed::<u16>(5).await;
    typed::<u32>(5).await;
    let exact = |key: Invalidation| key.key().map(|k| k.into_owned());
    let (u16_key, u32_key) = (
        exact(typed_cache_key::<u16>(5.into())).unwrap(),
        exact(typed_cache_key::<u32>(5.into())).unwrap(),
    );
    assert!(u16_key.ends_with("typed::<u16>:id:5"), "{u16_key}");
    assert!(CACHE.exists(&u16_key).await.unwrap());
    forget_typed(5).await;
    assert!(!CACHE.exists(&u16_key).await.unwrap());
    assert!(
        CACHE.exists(&u32_key).await.unwrap(),
        "another type, another key"
    );
}

/// A cached function on a cache of its own, and invalidations of it in
/// every form: exact and by pattern, by call and by template.
struct Profiles {
    cache: Cache,
}

impl Profiles {
    #[cashews::cache(ttl = "1h", key = "user:{name}:{field}", cache = self.cache)]
    async fn field(&self, name: &str, field: &str) -> String {
        format!("{field} of {name}")
    }

    #[cashews::invalidate(self.field(name, field))]
    async fn forget_by_call(&self, name: &str, field: &str) -> Result<(), String> {
        Ok(())
    }

    #[cashews::invalidate("user:{name}:{field}", cache = self.cache)]
    async fn forget_by_template(&self, name: &str, field: &str) -> Result<(), String> {
        Ok(())
    }

    #[cashews::invalidate(self.field(name, _))]
    async fn forget_user(&self, name: &str) -> Result<(), String> {
        Ok(())
    }

    async fn has(&self, name: &str, field: &str) -> bool {
        self.cache
            .exists(&format!("user:{name}:{field}"))
            .await
            .unwrap()
    }
}

/// Names whose escaped patterns hold every kind of glob character.
const NAMES: [&str; 6] = ["ada", "a*b", "axb", "?", "[x]", r"back\slash"];

/// Every exact invalidation deletes its one key, and nothing else.
async fn exact_invalidations_delete_their_key(cache: Cache) {
    let p = Profiles { cache };
    for name in NAMES {
        for field in ["email", "name"] {
            p.field(name, field).await;
        }
    }
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(p.forget_by_call(name, "email").await, Ok(()));
        assert!(!p.has(name, "email").await, "{name}: by call");
        assert!(p.has(name, "name").await, "{name}");
        assert_eq!(p.forget_by_template(name, "name").await, Ok(()));
        assert!(!p.has(name, "name").await, "{name}: by template");
        for later in &NAMES[i + 1..] {
            assert!(
                p.has(later, "email").await && p.has(later, "name").await,
                "{name} took {later}"
            );
        }
    }
    assert_eq!(p.cache.stats().failed_invalidations, 0);
}

#[tokio::test]
async fn exact_on_memory() {
    exact_invalidations_delete_their_key(Cache::from_url("mem://").unwrap()).await;
}

#[tokio::test]
async fn exact_on_memory_routed_with_a_prefix() {
    let cache = cashews::CacheBuilder::from_url("mem://?prefix=app")
        .unwrap()
        .route("user:a", "mem://")
        .unwrap()
        .build();
    exact_invalidations_delete_their_key(cache).await;
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use support::monitor::Monitor;
    use support::servers::{RedisCluster, RedisServer};

    #[tokio::test]
    async fn exact() {
        let server = RedisServer::start().await;
        exact_invalidations_delete_their_key(Cache::from_url(&server.url()).unwrap()).await;
    }

    #[tokio::test]
    async fn exact_on_a_cluster() {
        let cluster = RedisCluster::start().await;
        exact_invalidations_delete_their_key(Cache::from_url(&cluster.url()).unwrap()).await;
    }

    #[tokio::test]
    async fn an_exact_invalidation_is_one_del_and_no_scan() {
        let server = RedisServer::start().await;
        let p = Profiles {
            cache: Cache::from_url(&server.url()).unwrap(),
        };
        p.field("a*b", "email").await;
        p.field("a*b", "name").await;
        let monitor = Monitor::start(&server).await;
        p.forget_by_call("a*b", "email").await.unwrap();
        p.forget_by_template("a*b", "name").await.unwrap();
        assert_eq!(monitor.commands(&server).await, ["del", "del"]);
        let monitor = Monitor::start(&server).await;
        p.forget_user("a*b").await.unwrap();
        assert_eq!(
            monitor.commands(&server).await.first().map(String::as_str),
            Some("scan"),
            "a wildcard is a real pattern"
        );
    }
}

#[cfg(feature = "memcached")]
mod memcached {
    use super::*;
    use support::logs::capture_logs;
    use support::servers::MemcachedServer;

    #[tokio::test]
    async fn exact() {
        let server = MemcachedServer::start().await;
        exact_invalidations_delete_their_key(Cache::from_url(&server.url()).unwrap()).await;
    }

    #[tokio::test]
    async fn a_pattern_fails_loudly_and_the_call_stands() {
        let (logs, _guard) = capture_logs();
        let server = MemcachedServer::start().await;
        let p = Profiles {
            cache: Cache::from_url(&server.url()).unwrap(),
        };
        p.field("ada", "email").await;
        assert_eq!(
            p.forget_user("ada").await,
            Ok(()),
            "the call's result stands"
        );
        assert!(
            p.has("ada", "email").await,
            "memcached cannot match a pattern"
        );
        assert_eq!(p.cache.stats().failed_invalidations, 1);
        let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
        let line = logs
            .lines()
            .find(|l| l.contains("invalidation failed"))
            .unwrap_or_else(|| panic!("not logged: {logs}"));
        assert!(
            line.contains("ERROR") && line.contains("user:ada:*"),
            "{line}"
        );
    }
}

/// A repository behind a trait: its cached method lives in a trait impl,
/// which holds only the trait's items, so it has no companion.
trait Directory {
    async fn title(&self, name: &str) -> String;
    async fn retitle(&self, name: &str) -> Result<(), String>;
}

struct Staff {
    cache: Cache,
}

impl Directory for Staff {
    #[cashews::cache(ttl = "1h", key = "title:{name}", cache = self.cache, companion = false)]
    async fn title(&self, name: &str) -> String {
        format!("title of {name}")
    }

    #[cashews::invalidate("title:{name}", cache = self.cache)]
    async fn retitle(&self, name: &str) -> Result<(), String> {
        Ok(())
    }
}

#[tokio::test]
async fn a_cached_method_of_a_trait_impl_is_invalidated_by_its_template() {
    let staff = Staff {
        cache: Cache::from_url("mem://").unwrap(),
    };
    assert_eq!(staff.title("a*b").await, "title of a*b");
    assert!(staff.cache.exists("title:a*b").await.unwrap());
    staff.title("axb").await;
    assert_eq!(staff.retitle("a*b").await, Ok(()));
    assert!(!staff.cache.exists("title:a*b").await.unwrap());
    assert!(
        staff.cache.exists("title:axb").await.unwrap(),
        "only its own key"
    );
}
