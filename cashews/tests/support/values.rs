//! The value suite: every value type round-trips through the typed
//! [`Cache`] API on every backend, signed or not, and integers that `set`
//! wrote are counters. Written once, run against each backend's URL (and
//! routes: a router over several backends).
//!
//! Values come from proptest (fixed seed, modest case counts: the suite
//! also runs against real servers). Each value is written with `set` and
//! read back with `get` and `get_cloned` as its own type, then returned by
//! a decorated function twice, which must not run the second time.
//! [`values_suite!`] turns every case into its own `#[test]`, on a runtime
//! of its own (proptest's cases are synchronous).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};

use cashews::{Cache, CacheBuilder};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

/// A backend to run the suite on: its URL, the routes of other keys to
/// other backends (prefix, URL), and whatever keeps its server up.
pub struct Target {
    pub url: String,
    pub routes: Vec<(String, String)>,
    _server: Option<Box<dyn std::any::Any>>,
}

impl Target {
    pub fn new(url: impl Into<String>, server: Option<Box<dyn std::any::Any>>) -> Self {
        Self {
            url: url.into(),
            routes: Vec::new(),
            _server: server,
        }
    }

    /// Keys starting with `prefix` go to the backend of `url`.
    pub fn route(mut self, prefix: impl Into<String>, url: impl Into<String>) -> Self {
        self.routes.push((prefix.into(), url.into()));
        self
    }
}

/// Defines one `#[test]` per value case; `$make` is an async expression
/// giving a [`Target`] (a fresh server for each test).
#[macro_export]
macro_rules! values_suite {
    ($make:expr) => {
        $crate::values_suite!(@cases $make;
            values_round_trip, set_integers_are_counters, signed_values_are_not_counters);
    };
    (@cases $make:expr; $($case:ident),*) => {$(
        #[test]
        fn $case() {
            let rt = $crate::support::values::runtime();
            let target = rt.block_on($make);
            $crate::support::values::$case(&rt, &target);
        }
    )*};
}

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(0x0076_a1e5),
        failure_persistence: None,
        ..Config::default()
    })
}

/// The unsigned and the signed cache over `target`, each with a prefix of
/// its own so that they never read each other's keys.
fn caches(rt: &Runtime, target: &Target) -> [(&'static str, Cache); 2] {
    let url = &target.url;
    let sep = if url.contains('?') { '&' } else { '?' };
    let build = |extra: &str| {
        rt.block_on(async {
            let builder = CacheBuilder::from_url(&format!("{url}{sep}safe=0&{extra}")).unwrap();
            target
                .routes
                .iter()
                .fold(builder, |b, (prefix, url)| b.route(prefix, url).unwrap())
                .build()
        })
    };
    [
        ("unsigned", build("prefix=plain")),
        ("signed", build("prefix=signed&hash_key=secret")),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Id(u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Balance(i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Huge(i128);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Marker;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Inner {
    Empty,
    Count(u64),
    Named { text: String, ratio: f32 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Outer {
    Leaf,
    One(Inner),
    Pair(Inner, Option<Box<Inner>>),
    Tagged { inner: Inner, level: i16 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Meta {
    source: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: Id,
    #[serde(flatten)]
    meta: Meta,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    tags: Vec<String>,
    loose: Loose,
    #[serde(with = "serde_bytes_like")]
    blob: Vec<u8>,
    extra: BTreeMap<String, Loose>,
}

/// `Vec<u8>` as a byte string, as `serde_bytes` writes it.
mod serde_bytes_like {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl serde::de::Visitor<'_> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// A value of one of the types under test.
#[derive(Debug, Clone)]
enum Sample {
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    Isize(isize),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    U128(u128),
    Usize(usize),
    OptU32(Option<u32>),
    OptI128(Option<i128>),
    OptId(Option<Id>),
    Id(Id),
    Balance(Balance),
    Huge(Huge),
    Unit(()),
    Marker(Marker),
    Bool(bool),
    F32(f32),
    F64(f64),
    Text(String),
    OptText(Option<String>),
    Bytes(Vec<u8>),
    Ints(Vec<i64>),
    Outer(Outer),
    Loose(Loose),
    Record(Record),
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(-0.0),
        Just(0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
        any::<f64>().prop_filter("NaN never equals itself", |f| !f.is_nan()),
    ]
}

fn float32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(-0.0f32),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        any::<f32>().prop_filter("NaN never equals itself", |f| !f.is_nan()),
    ]
}

/// Text that often looks like a number.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "12",
            "-0",
            "007",
            "+5",
            " 5",
            "1e3",
            "1.5",
            "-",
            "null",
            "true",
            "9223372036854775808",
            "\u{1}"
        ])
        .prop_map(str::to_owned),
        "-?[0-9]{1,20}",
        any::<String>(),
    ]
}

fn inner() -> impl Strategy<Value = Inner> {
    prop_oneof![
        Just(Inner::Empty),
        any::<u64>().prop_map(Inner::Count),
        (text(), float32()).prop_map(|(text, ratio)| Inner::Named { text, ratio }),
    ]
}

fn outer() -> impl Strategy<Value = Outer> {
    prop_oneof![
        Just(Outer::Leaf),
        inner().prop_map(Outer::One),
        (inner(), prop::option::of(inner().prop_map(Box::new)))
            .prop_map(|(a, b)| Outer::Pair(a, b)),
        (inner(), any::<i16>()).prop_map(|(inner, level)| Outer::Tagged { inner, level }),
    ]
}

fn loose() -> impl Strategy<Value = Loose> {
    prop_oneof![
        any::<i64>().prop_map(Loose::Int),
        // Whole floats would read back as `Int` (untagged tries it first).
        float()
            .prop_filter("not whole", |f| f.fract() != 0.0)
            .prop_map(Loose::Float),
        text().prop_map(Loose::Text),
        prop::collection::vec(any::<u8>(), 0..4).prop_map(Loose::List),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<u32>(),
        text(),
        prop::option::of(text()),
        prop::collection::vec(text(), 0..3),
        loose(),
        prop::collection::vec(any::<u8>(), 0..20),
        prop::collection::btree_map("[a-z]{1,3}", loose(), 0..3),
    )
        .prop_map(|(id, source, note, tags, loose, blob, extra)| Record {
            id: Id(id),
            meta: Meta { source, note },
            tags,
            loose,
            blob,
            extra,
        })
}

fn sample() -> impl Strategy<Value = Sample> {
    prop_oneof![
        any::<i8>().prop_map(Sample::I8),
        any::<i16>().prop_map(Sample::I16),
        any::<i32>().prop_map(Sample::I32),
        any::<i64>().prop_map(Sample::I64),
        prop_oneof![Just(i128::MIN), Just(i128::MAX), any::<i128>(), -9i128..9]
            .prop_map(Sample::I128),
        any::<isize>().prop_map(Sample::Isize),
        any::<u8>().prop_map(Sample::U8),
        any::<u16>().prop_map(Sample::U16),
        any::<u32>().prop_map(Sample::U32),
        prop_oneof![Just(u64::MAX), any::<u64>()].prop_map(Sample::U64),
        prop_oneof![Just(u128::MAX), any::<u128>(), 0u128..9].prop_map(Sample::U128),
        any::<usize>().prop_map(Sample::Usize),
        any::<Option<u32>>().prop_map(Sample::OptU32),
        any::<Option<i128>>().prop_map(Sample::OptI128),
        any::<Option<u32>>().prop_map(|n| Sample::OptId(n.map(Id))),
        any::<u32>().prop_map(|n| Sample::Id(Id(n))),
        any::<i64>().prop_map(|n| Sample::Balance(Balance(n))),
        any::<i128>().prop_map(|n| Sample::Huge(Huge(n))),
        Just(Sample::Unit(())),
        Just(Sample::Marker(Marker)),
        any::<bool>().prop_map(Sample::Bool),
        float32().prop_map(Sample::F32),
        float().prop_map(Sample::F64),
        text().prop_map(Sample::Text),
        prop::option::of(text()).prop_map(Sample::OptText),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Sample::Bytes),
        prop::collection::vec(any::<i64>(), 0..5).prop_map(Sample::Ints),
        outer().prop_map(Sample::Outer),
        loose().prop_map(Sample::Loose),
        record().prop_map(Sample::Record),
    ]
}

/// Counts the runs of [`produce`].
static RUNS: AtomicUsize = AtomicUsize::new(0);

/// Returns `value`, through the cache: a hit must not run it.
#[cashews::cache(ttl = "1h", key = "decorated:{key}", cache = cache)]
async fn produce<T>(cache: &Cache, key: &str, value: T) -> T
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    RUNS.fetch_add(1, Ordering::SeqCst);
    value
}

/// `Debug` compares floats by sign and bits where `==` does not (`-0.0`).
fn same<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// Checks one value of type `T` on `cache` under `key`.
async fn round_trip<T>(cache: &Cache, key: &str, value: T) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + Clone + Send + Sync + Debug + 'static,
{
    prop_assert!(cache.set(key, &value, 3600).await.unwrap(), "set {key}");
    let got: Option<T> = cache.get(key).await.unwrap();
    prop_assert!(
        got.as_ref().is_some_and(|g| same(g, &value)),
        "get {key}: {got:?}, not {value:?}"
    );
    for _ in 0..2 {
        let got: Option<T> = cache.get_cloned(key).await.unwrap();
        prop_assert!(
            got.as_ref().is_some_and(|g| same(g, &value)),
            "get_cloned {key}: {got:?}, not {value:?}"
        );
    }
    let before = RUNS.load(Ordering::SeqCst);
    let first = produce(cache, key, value.clone()).await;
    let second = produce(cache, key, value.clone()).await;
    let runs = RUNS.load(Ordering::SeqCst) - before;
    prop_assert!(
        same(&first, &value) && same(&second, &value),
        "{first:?}, {second:?}"
    );
    prop_assert_eq!(runs, 1, "decorated {} ran again on a hit: {:?}", key, value);
    Ok(())
}

async fn check(cache: &Cache, key: &str, sample: Sample) -> Result<(), TestCaseError> {
    match sample {
        Sample::I8(v) => round_trip(cache, key, v).await,
        Sample::I16(v) => round_trip(cache, key, v).await,
        Sample::I32(v) => round_trip(cache, key, v).await,
        Sample::I64(v) => round_trip(cache, key, v).await,
        Sample::I128(v) => round_trip(cache, key, v).await,
        Sample::Isize(v) => round_trip(cache, key, v).await,
        Sample::U8(v) => round_trip(cache, key, v).await,
        Sample::U16(v) => round_trip(cache, key, v).await,
        Sample::U32(v) => round_trip(cache, key, v).await,
        Sample::U64(v) => round_trip(cache, key, v).await,
        Sample::U128(v) => round_trip(cache, key, v).await,
        Sample::Usize(v) => round_trip(cache, key, v).await,
        Sample::OptU32(v) => round_trip(cache, key, v).await,
        Sample::OptI128(v) => round_trip(cache, key, v).await,
        Sample::OptId(v) => round_trip(cache, key, v).await,
        Sample::Id(v) => round_trip(cache, key, v).await,
        Sample::Balance(v) => round_trip(cache, key, v).await,
        Sample::Huge(v) => round_trip(cache, key, v).await,
        Sample::Unit(v) => round_trip(cache, key, v).await,
        Sample::Marker(v) => round_trip(cache, key, v).await,
        Sample::Bool(v) => round_trip(cache, key, v).await,
        Sample::F32(v) => round_trip(cache, key, v).await,
        Sample::F64(v) => round_trip(cache, key, v).await,
        Sample::Text(v) => round_trip(cache, key, v).await,
        Sample::OptText(v) => round_trip(cache, key, v).await,
        Sample::Bytes(v) => round_trip(cache, key, v).await,
        Sample::Ints(v) => round_trip(cache, key, v).await,
        Sample::Outer(v) => round_trip(cache, key, v).await,
        Sample::Loose(v) => round_trip(cache, key, v).await,
        Sample::Record(v) => round_trip(cache, key, v).await,
    }
}

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{e}");
    }
}

/// Every generated value reads back as itself, and a decorated function
/// returning it does not run on a hit, signed or not.
pub fn values_round_trip(rt: &Runtime, target: &Target) {
    let caches = caches(rt, target);
    let case = AtomicUsize::new(0);
    run(64, prop::collection::vec(sample(), 1..8), |samples| {
        let n = case.fetch_add(1, Ordering::Relaxed);
        for (name, cache) in &caches {
            for (i, sample) in samples.iter().enumerate() {
                let key = format!("{name}:{n}:{i}");
                rt.block_on(check(cache, &key, sample.clone()))?;
            }
        }
        Ok(())
    });
}

/// Without a `hash_key`, an integer that `set` wrote counts with `incr`,
/// and the count reads back as any integer type, `Option` or newtype that
/// holds it.
pub fn set_integers_are_counters(rt: &Runtime, target: &Target) {
    let [(_, cache), _] = caches(rt, target);
    let case = AtomicUsize::new(0);
    run(
        64,
        (any::<i32>(), any::<i32>(), 0..3u8),
        |(start, by, wrapping)| {
            let key = format!("counter:{}", case.fetch_add(1, Ordering::Relaxed));
            let total = i64::from(start) + i64::from(by);
            rt.block_on(async {
                match wrapping {
                    0 => cache.set(&key, &start, 3600).await,
                    1 => cache.set(&key, &Some(Balance(start.into())), 3600).await,
                    _ => cache.set(&key, &i128::from(start), 3600).await,
                }
                .unwrap();
                prop_assert_eq!(cache.incr(&key, by.into(), None).await.unwrap(), total);
                prop_assert_eq!(cache.get::<i64>(&key).await.unwrap(), Some(total));
                prop_assert_eq!(cache.get::<i128>(&key).await.unwrap(), Some(total.into()));
                prop_assert_eq!(
                    cache.get::<Option<Balance>>(&key).await.unwrap(),
                    Some(Some(Balance(total)))
                );
                prop_assert_eq!(
                    cache.get_cloned::<Huge>(&key).await.unwrap(),
                    Some(Huge(total.into()))
                );
                let narrow = u16::try_from(total).ok();
                prop_assert_eq!(cache.get::<u16>(&key).await.unwrap(), narrow);
                prop_assert_eq!(
                    cache.get::<Option<u16>>(&key).await.unwrap(),
                    narrow.map(Some)
                );
                prop_assert_eq!(cache.get::<String>(&key).await.unwrap(), None);
                Ok(())
            })
        },
    );
}

/// With a `hash_key`, `set` signs what it writes, so `incr` on it fails,
/// saying why, and leaves it as it was.
pub fn signed_values_are_not_counters(rt: &Runtime, target: &Target) {
    let [(_, plain), (_, signed)] = caches(rt, target);
    rt.block_on(async {
        for value in [0i64, 41, -7] {
            signed.set("n", &value, 3600).await.unwrap();
            let err = signed.incr("n", 1, None).await.unwrap_err();
            assert!(err.is_not_integer(), "{err}");
            assert!(
                err.to_string().contains("signed values can't be counters"),
                "{err}"
            );
            assert_eq!(signed.get::<i64>("n").await.unwrap(), Some(value));
        }
        // Not a signed value: the backend's own error.
        plain.set("text", &"x", 3600).await.unwrap();
        let err = plain.incr("text", 1, None).await.unwrap_err();
        assert!(
            err.is_not_integer() && !err.to_string().contains("signed"),
            "{err}"
        );
        // A counter that `incr` created on a signed cache counts.
        assert_eq!(signed.incr("hits", 2, None).await.unwrap(), 2);
        assert_eq!(signed.incr("hits", 3, None).await.unwrap(), 5);
    });
}
