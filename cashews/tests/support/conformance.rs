//! The command conformance suite: written once, run against every backend.
//!
//! Each case takes a [`Harness`]: the backend under test (empty at the
//! start) and a way to let time pass on it. On the memory backend time is
//! tokio's paused clock; on a server, the harness moves the server's notion
//! of time (see each suite). [`conformance_suite!`] turns every case into
//! its own `#[tokio::test]`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cashews::backend::Backend;
use cashews::{ErrorKind, Exist, Expiry};

type Advance = Box<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A backend under test and its clock.
pub struct Harness {
    pub backend: Arc<dyn Backend>,
    advance: Advance,
    /// Whether the backend supports pattern commands (memcached does not).
    pub patterns: bool,
}

impl Harness {
    pub fn new(backend: Arc<dyn Backend>, advance: Advance) -> Self {
        Self {
            backend,
            advance,
            patterns: true,
        }
    }

    /// A harness on tokio's paused clock (the test must start paused).
    pub fn paused(backend: Arc<dyn Backend>) -> Self {
        Self::new(backend, Box::new(|d| Box::pin(tokio::time::advance(d))))
    }

    #[must_use]
    pub fn without_patterns(mut self) -> Self {
        self.patterns = false;
        self
    }

    pub async fn advance(&self, d: Duration) {
        (self.advance)(d).await
    }
}

/// Defines one `#[tokio::test]` per conformance case.
///
/// `conformance_suite!(#[tokio::test(start_paused = true)], async { harness });`
#[macro_export]
macro_rules! conformance_suite {
    (#[$test:meta], $make:expr) => {
        $crate::conformance_suite!(@cases #[$test], $make;
            set_and_get, set_without_ttl_clears_ttl, ttl_expires, nx_and_xx, many,
            delete_and_delete_many, exists, incr_creates_and_adds, incr_expiry_only_on_create,
            incr_on_non_integer_fails, expire_and_get_expire, ping, clear, locks,
            get_size, get_keys_count, scan_and_get_match, delete_match, glob_escapes_and_classes,
            binary_and_unicode_keys, fixed_window, slide_window,
            incr_refused_changes_nothing, incr_keeps_a_long_ttl,
            sets_add_list_and_remove, sets_live_as_long_as_their_longest_ttl, sets_are_not_values,
            protective_commands);
    };
    (@cases #[$test:meta], $make:expr; $($case:ident),*) => {$(
        #[$test]
        async fn $case() {
            let harness = $make;
            $crate::support::conformance::$case(&harness).await;
        }
    )*};
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn get(h: &Harness, key: &str) -> Option<String> {
    h.backend
        .get(key)
        .await
        .unwrap()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
}

const MIN: Duration = Duration::from_secs(60);

pub async fn set_and_get(h: &Harness) {
    assert_eq!(get(h, "a").await, None);
    assert!(h.backend.set("a", b("1"), None, None).await.unwrap());
    assert_eq!(get(h, "a").await.as_deref(), Some("1"));
    assert!(h.backend.set("a", b("2"), Some(MIN), None).await.unwrap());
    assert_eq!(get(h, "a").await.as_deref(), Some("2"));
    assert!(h.backend.set("empty", b(""), None, None).await.unwrap());
    assert_eq!(get(h, "empty").await.as_deref(), Some(""));
}

pub async fn set_without_ttl_clears_ttl(h: &Harness) {
    h.backend.set("k", b("v"), Some(MIN), None).await.unwrap();
    assert!(matches!(
        h.backend.get_expire("k").await.unwrap(),
        Expiry::Remaining(_)
    ));
    h.backend.set("k", b("w"), None, None).await.unwrap();
    assert_eq!(h.backend.get_expire("k").await.unwrap(), Expiry::Persistent);
    h.advance(MIN * 2).await;
    assert_eq!(get(h, "k").await.as_deref(), Some("w"));
}

pub async fn ttl_expires(h: &Harness) {
    h.backend
        .set("short", b("v"), Some(Duration::from_secs(10)), None)
        .await
        .unwrap();
    h.backend
        .set("long", b("v"), Some(Duration::from_secs(30)), None)
        .await
        .unwrap();
    h.advance(Duration::from_secs(9)).await;
    assert_eq!(get(h, "short").await.as_deref(), Some("v"));
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(get(h, "short").await, None, "expired after its ttl");
    assert!(!h.backend.exists("short").await.unwrap());
    assert_eq!(
        h.backend.get_expire("short").await.unwrap(),
        Expiry::Missing
    );
    assert_eq!(get(h, "long").await.as_deref(), Some("v"));
    assert_eq!(h.backend.get_keys_count().await.unwrap(), 1);
    if h.patterns {
        assert_eq!(h.backend.scan("*").await.unwrap(), vec!["long".to_string()]);
    }
}

pub async fn nx_and_xx(h: &Harness) {
    assert!(
        !h.backend
            .set("k", b("x"), None, Some(Exist::Present))
            .await
            .unwrap()
    );
    assert_eq!(get(h, "k").await, None, "XX does not create");
    assert!(
        h.backend
            .set(
                "k",
                b("1"),
                Some(Duration::from_secs(5)),
                Some(Exist::Absent)
            )
            .await
            .unwrap()
    );
    assert!(
        !h.backend
            .set("k", b("2"), None, Some(Exist::Absent))
            .await
            .unwrap()
    );
    assert_eq!(
        get(h, "k").await.as_deref(),
        Some("1"),
        "NX keeps the old value"
    );
    assert!(
        h.backend
            .set(
                "k",
                b("3"),
                Some(Duration::from_secs(5)),
                Some(Exist::Present)
            )
            .await
            .unwrap()
    );
    assert_eq!(get(h, "k").await.as_deref(), Some("3"));
    h.advance(Duration::from_secs(6)).await;
    assert!(
        !h.backend
            .set("k", b("4"), None, Some(Exist::Present))
            .await
            .unwrap(),
        "an expired key is absent"
    );
    assert!(
        h.backend
            .set("k", b("5"), None, Some(Exist::Absent))
            .await
            .unwrap(),
        "NX over an expired key"
    );
    assert_eq!(get(h, "k").await.as_deref(), Some("5"));
}

pub async fn many(h: &Harness) {
    h.backend
        .set_many(
            &[("m1", b("1")), ("m2", b("2"))],
            Some(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    let got = h.backend.get_many(&["m1", "missing", "m2"]).await.unwrap();
    assert_eq!(got, vec![Some(b("1")), None, Some(b("2"))]);
    assert!(matches!(
        h.backend.get_expire("m2").await.unwrap(),
        Expiry::Remaining(_)
    ));
    h.advance(Duration::from_secs(11)).await;
    assert_eq!(
        h.backend.get_many(&["m1", "m2"]).await.unwrap(),
        vec![None, None]
    );
    assert_eq!(
        h.backend.get_many(&[]).await.unwrap(),
        Vec::<Option<Bytes>>::new()
    );
}

pub async fn delete_and_delete_many(h: &Harness) {
    h.backend.set("d1", b("1"), None, None).await.unwrap();
    h.backend.set("d2", b("2"), None, None).await.unwrap();
    h.backend
        .set("d3", b("3"), Some(Duration::from_secs(1)), None)
        .await
        .unwrap();
    assert!(h.backend.delete("d1").await.unwrap());
    assert!(!h.backend.delete("d1").await.unwrap());
    h.advance(Duration::from_secs(2)).await;
    assert!(
        !h.backend.delete("d3").await.unwrap(),
        "an expired key is not deleted again"
    );
    assert_eq!(
        h.backend.delete_many(&["d2", "d3", "nope"]).await.unwrap(),
        1
    );
    assert_eq!(get(h, "d2").await, None);
}

pub async fn exists(h: &Harness) {
    assert!(!h.backend.exists("e").await.unwrap());
    h.backend
        .set("e", b(""), Some(Duration::from_secs(3)), None)
        .await
        .unwrap();
    assert!(h.backend.exists("e").await.unwrap());
    h.advance(Duration::from_secs(4)).await;
    assert!(!h.backend.exists("e").await.unwrap());
}

pub async fn incr_creates_and_adds(h: &Harness) {
    assert_eq!(h.backend.incr("n", 1, None).await.unwrap(), 1);
    assert_eq!(h.backend.incr("n", 1, None).await.unwrap(), 2);
    assert_eq!(h.backend.incr("n", 10, None).await.unwrap(), 12);
    assert_eq!(h.backend.incr("n", -20, None).await.unwrap(), -8);
    assert_eq!(
        get(h, "n").await.as_deref(),
        Some("-8"),
        "stored natively, as text"
    );
    h.backend.set("s", b("41"), None, None).await.unwrap();
    assert_eq!(
        h.backend.incr("s", 1, None).await.unwrap(),
        42,
        "a set integer counts"
    );
    assert_eq!(h.backend.incr("z", 0, None).await.unwrap(), 0);
    assert!(
        h.backend.exists("z").await.unwrap(),
        "incr by 0 creates at 0"
    );
}

pub async fn incr_expiry_only_on_create(h: &Harness) {
    let ttl = Duration::from_secs(10);
    assert_eq!(h.backend.incr("c", 1, Some(ttl)).await.unwrap(), 1);
    h.advance(Duration::from_secs(6)).await;
    assert_eq!(
        h.backend.incr("c", 1, Some(ttl)).await.unwrap(),
        2,
        "expire given again does not reset"
    );
    h.advance(Duration::from_secs(5)).await;
    assert_eq!(get(h, "c").await, None, "expired on the first ttl");
    assert_eq!(
        h.backend.incr("c", 1, Some(ttl)).await.unwrap(),
        1,
        "recreated at 0 after expiry"
    );
    assert!(matches!(
        h.backend.get_expire("c").await.unwrap(),
        Expiry::Remaining(_)
    ));
    h.backend.incr("p", 1, None).await.unwrap();
    h.backend.incr("p", 1, Some(ttl)).await.unwrap();
    assert_eq!(
        h.backend.get_expire("p").await.unwrap(),
        Expiry::Persistent,
        "no ttl added to an existing key"
    );
}

async fn fixed(h: &Harness, key: &str, limit: u64, ban: Duration) -> Vec<bool> {
    let period = Duration::from_secs(10);
    let mut admitted = Vec::new();
    for _ in 0..=limit {
        admitted.push(
            h.backend
                .fixed_window(key, limit, period, ban)
                .await
                .unwrap(),
        );
    }
    admitted
}

pub async fn fixed_window(h: &Harness) {
    let ban = Duration::from_secs(30);
    assert_eq!(fixed(h, "fw", 3, ban).await, [true, true, true, false]);
    h.advance(Duration::from_secs(12)).await;
    assert!(
        !h.backend
            .fixed_window("fw", 3, Duration::from_secs(10), ban)
            .await
            .unwrap(),
        "past the window, inside the ban"
    );
    h.advance(Duration::from_secs(20)).await;
    assert_eq!(
        fixed(h, "fw", 3, ban).await,
        [true, true, true, false],
        "after the ban"
    );
    // Without a ban, the next window opens on time.
    assert_eq!(
        fixed(h, "fw0", 2, Duration::ZERO).await,
        [true, true, false]
    );
    h.advance(Duration::from_secs(11)).await;
    assert_eq!(
        fixed(h, "fw0", 2, Duration::ZERO).await,
        [true, true, false]
    );
}

async fn slide(h: &Harness, key: &str, calls: usize) -> Vec<bool> {
    let mut admitted = Vec::new();
    for _ in 0..calls {
        admitted.push(
            h.backend
                .slide_window(key, 3, Duration::from_secs(10))
                .await
                .unwrap(),
        );
    }
    admitted
}

pub async fn slide_window(h: &Harness) {
    assert_eq!(slide(h, "sw", 1).await, [true]);
    h.advance(Duration::from_secs(5)).await;
    assert_eq!(slide(h, "sw", 3).await, [true, true, false]);
    h.advance(Duration::from_secs(6)).await;
    assert_eq!(
        slide(h, "sw", 2).await,
        [true, false],
        "only the first call left the window"
    );
    // A Redis Cluster keeps a window's slots on one node, whatever the key.
    assert_eq!(slide(h, "}odd{", 4).await, [true, true, true, false]);
    assert!(
        !h.backend
            .slide_window("none", 0, Duration::from_secs(10))
            .await
            .unwrap(),
        "a limit of 0 admits nothing"
    );
}

/// What Redis's `INCRBY` refuses (a sum past `i64`, text that is not a
/// canonical decimal `i64`) is an error on every backend, and leaves the
/// value as it was.
pub async fn incr_refused_changes_nothing(h: &Harness) {
    for (key, start, by) in [
        ("max", i64::MAX - 1, 2),
        ("min", i64::MIN + 1, -2),
        ("max", i64::MAX, i64::MAX),
        ("min", i64::MIN, i64::MIN),
    ] {
        let start = start.to_string();
        h.backend
            .set(key, b(&start), Some(MIN), None)
            .await
            .unwrap();
        let err = h.backend.incr(key, by, None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotInteger, "{start} + {by}: {err}");
        assert_eq!(get(h, key).await, Some(start), "overflow leaves the value");
    }
    assert_eq!(h.backend.incr("max", -1, None).await.unwrap(), i64::MAX - 1);
    assert_eq!(h.backend.incr("min", 1, None).await.unwrap(), i64::MIN + 1);
    for text in [
        "+5",
        " 5",
        "5 ",
        "007",
        "-0",
        "",
        "9223372036854775808",
        "18446744073709551615",
    ] {
        h.backend.set("odd", b(text), None, None).await.unwrap();
        let err = h.backend.incr("odd", 1, None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotInteger, "{text:?}: {err}");
        assert_eq!(get(h, "odd").await.as_deref(), Some(text), "left untouched");
    }
}

/// A counter keeps a TTL beyond 30 days (memcached's limit of relative
/// TTLs) through increments and decrements, also below 0.
pub async fn incr_keeps_a_long_ttl(h: &Harness) {
    let forty_days = Duration::from_secs(40 * 24 * 3600);
    assert_eq!(h.backend.incr("n", 5, Some(forty_days)).await.unwrap(), 5);
    assert_eq!(h.backend.incr("n", 1, None).await.unwrap(), 6);
    assert_eq!(h.backend.incr("n", -1, None).await.unwrap(), 5);
    assert_eq!(h.backend.incr("n", -10, None).await.unwrap(), -5);
    assert_eq!(h.backend.incr("n", 6, None).await.unwrap(), 1);
    assert_eq!(get(h, "n").await.as_deref(), Some("1"));
    let left = h.backend.get_expire("n").await.unwrap();
    assert!(
        matches!(left, Expiry::Remaining(d) if d > forty_days - MIN && d <= forty_days),
        "{left:?}"
    );
}

pub async fn incr_on_non_integer_fails(h: &Harness) {
    h.backend.set("t", b("twelve"), None, None).await.unwrap();
    let err = h.backend.incr("t", 1, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotInteger, "{err}");
    assert_eq!(
        get(h, "t").await.as_deref(),
        Some("twelve"),
        "left untouched"
    );
    h.backend.set("f", b("1.5"), None, None).await.unwrap();
    assert!(
        h.backend
            .incr("f", 1, None)
            .await
            .unwrap_err()
            .is_not_integer()
    );
}

pub async fn expire_and_get_expire(h: &Harness) {
    assert_eq!(h.backend.get_expire("x").await.unwrap(), Expiry::Missing);
    assert!(
        !h.backend.expire("x", MIN).await.unwrap(),
        "expire on a missing key"
    );
    h.backend.set("x", b("v"), None, None).await.unwrap();
    assert_eq!(h.backend.get_expire("x").await.unwrap(), Expiry::Persistent);
    assert!(
        h.backend
            .expire("x", Duration::from_secs(20))
            .await
            .unwrap()
    );
    let Expiry::Remaining(left) = h.backend.get_expire("x").await.unwrap() else {
        panic!("a ttl was set")
    };
    assert!(
        left <= Duration::from_secs(20) && left > Duration::from_secs(18),
        "{left:?}"
    );
    h.advance(Duration::from_secs(10)).await;
    let Expiry::Remaining(left) = h.backend.get_expire("x").await.unwrap() else {
        panic!("still there")
    };
    assert!(
        left <= Duration::from_secs(10) && left > Duration::from_secs(8),
        "{left:?}"
    );
    h.advance(Duration::from_secs(11)).await;
    assert_eq!(h.backend.get_expire("x").await.unwrap(), Expiry::Missing);
    assert_eq!(get(h, "x").await, None);
}

pub async fn ping(h: &Harness) {
    assert_eq!(h.backend.ping(None).await.unwrap(), b("PONG"));
    assert_eq!(h.backend.ping(Some(b"hello")).await.unwrap(), b("hello"));
}

pub async fn clear(h: &Harness) {
    h.backend.set("c1", b("1"), None, None).await.unwrap();
    h.backend.set("c2", b("2"), Some(MIN), None).await.unwrap();
    h.backend.clear().await.unwrap();
    assert_eq!(get(h, "c1").await, None);
    assert_eq!(get(h, "c2").await, None);
    assert_eq!(h.backend.get_keys_count().await.unwrap(), 0);
    h.backend.set("c3", b("3"), None, None).await.unwrap();
    assert_eq!(
        get(h, "c3").await.as_deref(),
        Some("3"),
        "usable after clear"
    );
}

pub async fn locks(h: &Harness) {
    let ttl = Duration::from_secs(5);
    assert!(h.backend.set_lock("L", b("owner-1"), ttl).await.unwrap());
    assert!(
        !h.backend.set_lock("L", b("owner-2"), ttl).await.unwrap(),
        "held"
    );
    assert!(
        !h.backend.unlock("L", b"owner-2").await.unwrap(),
        "only the owner unlocks"
    );
    assert!(h.backend.exists("L").await.unwrap());
    assert!(h.backend.unlock("L", b"owner-1").await.unwrap());
    assert!(
        !h.backend.unlock("L", b"owner-1").await.unwrap(),
        "already released"
    );
    assert!(
        h.backend.set_lock("L", b("owner-2"), ttl).await.unwrap(),
        "free again"
    );
    h.advance(Duration::from_secs(6)).await;
    assert!(
        h.backend.set_lock("L", b("owner-3"), ttl).await.unwrap(),
        "an expired lock is free"
    );
    assert!(
        !h.backend.unlock("L", b"owner-2").await.unwrap(),
        "a stale owner cannot unlock"
    );
    assert!(h.backend.exists("L").await.unwrap());
}

pub async fn get_size(h: &Harness) {
    assert_eq!(h.backend.get_size("nothing").await.unwrap(), None);
    h.backend
        .set("big", Bytes::from(vec![7u8; 1000]), None, None)
        .await
        .unwrap();
    let size = h.backend.get_size("big").await.unwrap().expect("present");
    assert!(size >= 1000, "{size}");
}

pub async fn get_keys_count(h: &Harness) {
    assert_eq!(h.backend.get_keys_count().await.unwrap(), 0);
    for i in 0..5 {
        h.backend
            .set(&format!("k{i}"), b("v"), None, None)
            .await
            .unwrap();
    }
    h.backend
        .set("k9", b("v"), Some(Duration::from_secs(1)), None)
        .await
        .unwrap();
    assert_eq!(h.backend.get_keys_count().await.unwrap(), 6);
    h.backend.delete("k0").await.unwrap();
    h.advance(Duration::from_secs(2)).await;
    assert_eq!(h.backend.get_keys_count().await.unwrap(), 4);
}

async fn pattern_fixture(h: &Harness) {
    for key in [
        "user:1",
        "user:2",
        "user:10",
        "user:1:orders",
        "item:1",
        "user:x",
    ] {
        h.backend.set(key, b(key), None, None).await.unwrap();
    }
    h.backend
        .set("user:3", b("gone"), Some(Duration::from_secs(1)), None)
        .await
        .unwrap();
    h.advance(Duration::from_secs(2)).await;
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn unsupported(h: &Harness) {
    for err in [
        h.backend.scan("*").await.map(drop).unwrap_err(),
        h.backend.get_match("*").await.map(drop).unwrap_err(),
        h.backend.delete_match("*").await.map(drop).unwrap_err(),
    ] {
        assert!(err.is_unsupported(), "{err}");
    }
}

pub async fn scan_and_get_match(h: &Harness) {
    if !h.patterns {
        return unsupported(h).await;
    }
    pattern_fixture(h).await;
    assert_eq!(
        sorted(h.backend.scan("user:?").await.unwrap()),
        ["user:1", "user:2", "user:x"],
        "`?` is one character; expired keys are not listed"
    );
    assert_eq!(
        sorted(h.backend.scan("user:*").await.unwrap()),
        ["user:1", "user:10", "user:1:orders", "user:2", "user:x"]
    );
    assert_eq!(
        sorted(h.backend.scan("*:1").await.unwrap()),
        ["item:1", "user:1"]
    );
    assert_eq!(
        h.backend.scan("nothing*").await.unwrap(),
        Vec::<String>::new()
    );
    let mut found = h.backend.get_match("user:1*").await.unwrap();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("user:1".to_string(), b("user:1")),
            ("user:10".to_string(), b("user:10")),
            ("user:1:orders".to_string(), b("user:1:orders")),
        ]
    );
}

pub async fn delete_match(h: &Harness) {
    if !h.patterns {
        return;
    }
    pattern_fixture(h).await;
    assert_eq!(h.backend.delete_match("user:1*").await.unwrap(), 3);
    assert_eq!(
        sorted(h.backend.scan("*").await.unwrap()),
        ["item:1", "user:2", "user:x"]
    );
    assert_eq!(h.backend.delete_match("none:*").await.unwrap(), 0);
}

pub async fn glob_escapes_and_classes(h: &Harness) {
    if !h.patterns {
        return;
    }
    for key in [
        "a*b",
        "axb",
        "a?b",
        "a[b",
        "hello",
        "hallo",
        "hxllo",
        "h-llo",
        r"back\slash",
    ] {
        h.backend.set(key, b("v"), None, None).await.unwrap();
    }
    let scan = |p: &'static str| async move { sorted(h.backend.scan(p).await.unwrap()) };
    assert_eq!(scan(r"a\*b").await, ["a*b"], "escaped star is literal");
    assert_eq!(scan("a*b").await, ["a*b", "a?b", "a[b", "axb"]);
    assert_eq!(scan(r"a\?b").await, ["a?b"]);
    assert_eq!(scan(r"a\[b").await, ["a[b"]);
    assert_eq!(scan("h[ae]llo").await, ["hallo", "hello"]);
    assert_eq!(scan("h[^e]llo").await, ["h-llo", "hallo", "hxllo"]);
    assert_eq!(scan("h[a-f]llo").await, ["hallo", "hello"]);
    assert_eq!(
        scan("h[f-a]llo").await,
        ["hallo", "hello"],
        "reversed range"
    );
    assert_eq!(scan(r"h[\-]llo").await, ["h-llo"]);
    assert_eq!(scan(r"back\\slash").await, [r"back\slash"]);
}

pub async fn binary_and_unicode_keys(h: &Harness) {
    for key in [
        "ключ",
        "emoji:🦀",
        "with space",
        "tab\tkey",
        "colon:::",
        &"long".repeat(100),
    ] {
        h.backend.set(key, b(key), None, None).await.unwrap();
        assert_eq!(get(h, key).await.as_deref(), Some(key), "{key:?}");
        assert!(h.backend.delete(key).await.unwrap());
    }
    let raw = Bytes::from_static(&[0, 159, 146, 150, 255]);
    h.backend.set("bin", raw.clone(), None, None).await.unwrap();
    assert_eq!(h.backend.get("bin").await.unwrap(), Some(raw));
}

async fn members(h: &Harness, key: &str) -> Vec<String> {
    sorted(h.backend.set_members(key).await.unwrap())
}

pub async fn sets_add_list_and_remove(h: &Harness) {
    assert_eq!(members(h, "tags:t").await, Vec::<String>::new());
    h.backend.set_add("tags:t", &[], MIN).await.unwrap();
    assert!(
        !h.backend.exists("tags:t").await.unwrap(),
        "adding nothing creates nothing"
    );
    h.backend
        .set_add("tags:t", &["a", "b", "a"], MIN)
        .await
        .unwrap();
    h.backend
        .set_add("tags:t", &["b", "c*", "ключ with space"], MIN)
        .await
        .unwrap();
    assert_eq!(
        members(h, "tags:t").await,
        ["a", "b", "c*", "ключ with space"]
    );
    assert_eq!(
        h.backend
            .set_remove("tags:t", &["a", "zz", "a"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(h.backend.set_remove("missing", &["a"]).await.unwrap(), 0);
    assert_eq!(members(h, "tags:t").await, ["b", "c*", "ключ with space"]);
    assert!(
        matches!(h.backend.get_expire("tags:t").await.unwrap(), Expiry::Remaining(left) if left > MIN / 2),
        "a removal keeps the ttl"
    );
    assert_eq!(
        h.backend
            .set_remove("tags:t", &["b", "c*", "ключ with space"])
            .await
            .unwrap(),
        3
    );
    assert!(
        !h.backend.exists("tags:t").await.unwrap(),
        "an emptied set goes"
    );
    assert_eq!(members(h, "tags:t").await, Vec::<String>::new());
}

pub async fn sets_live_as_long_as_their_longest_ttl(h: &Harness) {
    let remaining = |key: &'static str| async move {
        match h.backend.get_expire(key).await.unwrap() {
            Expiry::Remaining(left) => left,
            other => panic!("{key}: {other:?}"),
        }
    };
    h.backend
        .set_add("ttl:s", &["x"], Duration::from_secs(20))
        .await
        .unwrap();
    let left = remaining("ttl:s").await;
    assert!(
        left <= Duration::from_secs(20) && left > Duration::from_secs(18),
        "{left:?}"
    );
    h.backend
        .set_add("ttl:s", &["y"], Duration::from_secs(5))
        .await
        .unwrap();
    assert!(
        remaining("ttl:s").await > Duration::from_secs(18),
        "a shorter ttl never shortens"
    );
    h.backend
        .set_add("ttl:s", &["x"], Duration::from_secs(40))
        .await
        .unwrap();
    let left = remaining("ttl:s").await;
    assert!(
        left <= Duration::from_secs(40) && left > Duration::from_secs(38),
        "{left:?}"
    );
    h.advance(Duration::from_secs(30)).await;
    assert_eq!(members(h, "ttl:s").await, ["x", "y"]);
    h.advance(Duration::from_secs(11)).await;
    assert_eq!(
        members(h, "ttl:s").await,
        Vec::<String>::new(),
        "gone after the longest"
    );
    h.backend
        .set_add("ttl:s", &["x"], Duration::from_secs(20))
        .await
        .unwrap();
    h.backend
        .set_add("ttl:s", &["y"], Duration::from_secs(20))
        .await
        .unwrap();
    let left = remaining("ttl:s").await;
    assert!(
        left > Duration::from_secs(18),
        "a recreated set takes a ttl again: {left:?}"
    );
}

pub async fn sets_are_not_values(h: &Harness) {
    h.backend
        .set("val:v", b("plain"), None, None)
        .await
        .unwrap();
    assert!(h.backend.set_add("val:v", &["m"], MIN).await.is_err());
    assert!(h.backend.set_members("val:v").await.is_err());
    assert!(h.backend.set_remove("val:v", &["m"]).await.is_err());
    assert_eq!(
        get(h, "val:v").await.as_deref(),
        Some("plain"),
        "left as it was"
    );
}

/// Protective writes behave as `set`/`incr` with an expiry on every
/// backend, and the plain commands see, expire and delete their keys.
pub async fn protective_commands(h: &Harness) {
    let ttl = Duration::from_secs(10);
    let be = &h.backend;
    assert!(
        be.set_protective("p", b("1"), ttl, Some(Exist::Absent))
            .await
            .unwrap()
    );
    assert!(
        !be.set_protective("p", b("2"), ttl, Some(Exist::Absent))
            .await
            .unwrap(),
        "NX on a held key"
    );
    assert!(
        !be.set_protective("q", b("1"), ttl, Some(Exist::Present))
            .await
            .unwrap()
    );
    assert_eq!(get(h, "p").await.as_deref(), Some("1"));
    assert!(be.exists("p").await.unwrap());
    assert!(matches!(
        be.get_expire("p").await.unwrap(),
        Expiry::Remaining(_)
    ));
    assert_eq!(be.incr_protective("c", 2, ttl).await.unwrap(), 2);
    h.advance(Duration::from_secs(6)).await;
    assert_eq!(
        be.incr_protective("c", 3, ttl).await.unwrap(),
        5,
        "expire applies only on create"
    );
    assert!(be.set_protective("d", b("x"), ttl, None).await.unwrap());
    assert!(be.delete("d").await.unwrap());
    h.advance(Duration::from_secs(5)).await;
    assert_eq!(get(h, "p").await, None, "expired with its ttl");
    assert_eq!(get(h, "c").await, None, "expired on the first ttl");
    assert_eq!(get(h, "d").await, None);
    assert!(
        be.set_protective("p", b("3"), ttl, Some(Exist::Absent))
            .await
            .unwrap()
    );
    assert!(be.unlock("p", b"3").await.unwrap());
    assert_eq!(get(h, "p").await, None);
}
