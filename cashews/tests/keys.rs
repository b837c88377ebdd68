//! Keys are injective: two calls whose written arguments differ never share
//! a key, whatever the values hold (`:`, `%`, globs, braces, newlines,
//! Unicode, empty strings, NaNs), in templates and default keys; and an
//! invalidation deletes exactly the entries it names.
//!
//! Each property calls real `#[cashews::cache]` functions, on a memory
//! cache, with a batch of argument tuples drawn from small alphabets (so
//! that, were values written unescaped, some tuples would share a key):
//! every call must answer from its own arguments, never another's. And
//! each function's companion (`<name>_cache_key`) builds, from the same
//! arguments, the very key the call stored.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use cashews::strategy::invalidate::Invalidation;
use cashews::{Cache, KeyPart};
use proptest::prelude::*;
use proptest::sample::select;
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}

/// The tests share the caches below (each clears one and reads it back):
/// they take turns.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The one key `cache` holds (it was cleared before one call): the key
/// that call stored.
async fn stored_key(cache: &Cache) -> String {
    let keys = cache.scan("*").await.unwrap();
    assert_eq!(keys.len(), 1, "one call, one key: {keys:?}");
    keys.into_iter().next().unwrap_or_default()
}

/// Checks a companion's keys for one call against the key it stored: with
/// every argument given, exactly that key; with any one argument open, a
/// pattern that matches it.
fn companion_keys_meet(
    stored: &str,
    exact: &Invalidation,
    open: impl IntoIterator<Item = Invalidation>,
) -> Result<(), TestCaseError> {
    let key = exact.key();
    prop_assert_eq!(key.as_deref(), Some(stored));
    for pattern in open {
        prop_assert!(!pattern.is_exact(), "{}", pattern.pattern());
        prop_assert!(
            cashews::pattern::glob_match(pattern.pattern(), stored),
            "{} does not match {}",
            pattern.pattern(),
            stored
        );
    }
    Ok(())
}

/// Short strings made of pieces that an unescaped key would confuse.
fn text() -> impl Strategy<Value = String> {
    let piece = select(vec![
        "", "a", "b", ":", "%", "%3A", "%25", "*", "?", "[", "]", "\\", "{", "}", "\n", "é", "ß",
        "😀", "None", "Some(", ")", "acl", "-",
    ]);
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

/// Floats whose `Display` alone would confuse: signed zeros and NaNs.
fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        select(vec![
            0.0,
            -0.0,
            1.5,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_0000_0001),
            f64::INFINITY,
        ]),
        any::<f64>(),
    ]
}

fn float32() -> impl Strategy<Value = f32> {
    select(vec![
        0.0,
        -0.0,
        f32::NAN,
        f32::from_bits(0x7fc0_0001),
        f32::MIN_POSITIVE,
    ])
}

// --- a two-value template, and its invalidations ---------------------------

static ACL: LazyLock<Cache> = LazyLock::new(|| Cache::from_url("mem://?size=100000").unwrap());
/// Bumped between filling the cache and reading it back: an answer made
/// before the bump was cached, one made after it was recomputed.
static ACL_GENERATION: AtomicU64 = AtomicU64::new(0);

#[cashews::cache(ttl = "1h", key = "acl:{a}:{b}", cache = ACL)]
async fn acl(a: &str, b: &str) -> (String, u64) {
    (
        format!("{a:?}|{b:?}"),
        ACL_GENERATION.load(Ordering::SeqCst),
    )
}

#[cashews::invalidate(acl(a, b))]
async fn forget_one(a: &str, b: &str) {}

#[cashews::invalidate(acl(a, _))]
async fn forget_by_call(a: &str) {}

#[cashews::invalidate("acl:{a}:*", cache = ACL)]
async fn forget_by_pattern(a: &str) {}

/// Every way to cut `left:right` at a `:` into two values that `parse`
/// accepts: the tuples that would share a key if values were written as is.
fn resplits<L, R>(
    left: &str,
    right: &str,
    parse: impl Fn(&str, &str) -> Option<(L, R)>,
) -> Vec<(L, R)> {
    let joined = format!("{left}:{right}");
    joined
        .match_indices(':')
        .filter_map(|(i, _)| parse(&joined[..i], &joined[i + 1..]))
        .collect()
}

/// Pairs, each followed by its re-cuts at every `:`.
fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((text(), text()), 1..6).prop_map(|pairs| {
        pairs
            .iter()
            .flat_map(|(a, b)| resplits(a, b, |l, r| Some((l.to_owned(), r.to_owned()))))
            .collect()
    })
}

#[test]
fn a_template_never_gives_one_call_another_ones_answer() {
    let _serial = serial();
    let rt = runtime();
    proptest!(config(), |(calls in pairs())| {
        rt.block_on(async {
            ACL.clear().await.unwrap();
            for (a, b) in &calls {
                prop_assert_eq!(acl(a, b).await.0, format!("{a:?}|{b:?}"));
            }
            Ok(())
        })?;
    });
}

/// How a test invalidates the entries of `(a, b)`: that entry only
/// (`One`), or every `b` of that `a` (the others).
#[derive(Clone, Copy, Debug)]
enum Forget {
    One,
    ByCall,
    ByPattern,
    OfCall,
}

#[test]
fn invalidation_deletes_exactly_the_entries_it_names() {
    let _serial = serial();
    let rt = runtime();
    let forget = select(vec![
        Forget::One,
        Forget::ByCall,
        Forget::ByPattern,
        Forget::OfCall,
    ]);
    proptest!(config(), |(
        calls in pairs(),
        target in (text(), text()),
        how in forget,
    )| {
        rt.block_on(async {
            ACL.clear().await.unwrap();
            ACL_GENERATION.store(0, Ordering::SeqCst);
            for (a, b) in calls.iter().chain([&target]) {
                acl(a, b).await;
            }
            let (a, b) = (&target.0, &target.1);
            match how {
                Forget::One => forget_one(a, b).await,
                Forget::ByCall => forget_by_call(a).await,
                Forget::ByPattern => forget_by_pattern(a).await,
                Forget::OfCall => {
                    let stale = acl_cache_key(KeyPart::Value(a), KeyPart::ANY);
                    stale.run().await.unwrap();
                }
            }
            ACL_GENERATION.store(1, Ordering::SeqCst);
            for (a, b) in calls.iter().chain([&target]) {
                let named = *a == target.0 && (!matches!(how, Forget::One) || *b == target.1);
                let (answer, generation) = acl(a, b).await;
                prop_assert_eq!(answer, format!("{a:?}|{b:?}"));
                prop_assert_eq!(
                    generation == 1,
                    named,
                    "{:?} of {:?}: ({:?}, {:?}) was {}",
                    how, target, a, b, if named { "kept" } else { "deleted" }
                );
            }
            Ok(())
        })?;
    });
}

// --- default keys, over every `KeyArg` ---------------------------------------

static DEFAULTS: LazyLock<Cache> = LazyLock::new(|| Cache::from_url("mem://?size=100000").unwrap());

#[allow(clippy::too_many_arguments)]
#[cashews::cache(ttl = "1h", cache = DEFAULTS)]
async fn defaulted(
    s: String,
    o: Option<&str>,
    oo: Option<Option<u8>>,
    i: i64,
    u: u128,
    flag: bool,
    c: char,
    f: f64,
    g: f32,
) -> String {
    format!(
        "{s:?}|{o:?}|{oo:?}|{i}|{u}|{flag}|{c:?}|{:x}|{:x}",
        f.to_bits(),
        g.to_bits()
    )
}

type Defaulted = (
    String,
    Option<String>,
    Option<Option<u8>>,
    i64,
    u128,
    bool,
    char,
    f64,
    f32,
);

fn defaulted_args() -> impl Strategy<Value = Defaulted> {
    (
        text(),
        prop::option::of(text()),
        prop::option::of(prop::option::of(select(vec![0u8, 1, 12]))),
        select(vec![0i64, -1, 1, 12, i64::MIN]),
        select(vec![0u128, 1, 12, u128::MAX]),
        any::<bool>(),
        select(vec![':', '%', '*', '\n', 'a', 'é', '{']),
        float(),
        float32(),
    )
}

/// `base`, then `base` with one field taken from each of `others` in
/// turn: calls that differ in a single value.
fn one_field_apart(base: Defaulted, others: Vec<(usize, Defaulted)>) -> Vec<Defaulted> {
    let mut calls = vec![base.clone()];
    for (field, o) in others {
        let mut c = base.clone();
        match field % 9 {
            0 => c.0 = o.0,
            1 => c.1 = o.1,
            2 => c.2 = o.2,
            3 => c.3 = o.3,
            4 => c.4 = o.4,
            5 => c.5 = o.5,
            6 => c.6 = o.6,
            7 => c.7 = o.7,
            _ => c.8 = o.8,
        }
        calls.push(c);
    }
    calls
}

#[test]
fn a_default_key_never_gives_one_call_another_ones_answer() {
    let _serial = serial();
    let rt = runtime();
    let calls = (
        defaulted_args(),
        prop::collection::vec((any::<usize>(), defaulted_args()), 1..12),
    )
        .prop_map(|(base, others)| one_field_apart(base, others));
    proptest!(config(), |(calls in calls)| {
        rt.block_on(async {
            DEFAULTS.clear().await.unwrap();
            for (s, o, oo, i, u, flag, c, f, g) in &calls {
                let answer = defaulted(s.clone(), o.as_deref(), *oo, *i, *u, *flag, *c, *f, *g).await;
                prop_assert_eq!(
                    answer,
                    format!(
                        "{s:?}|{o:?}|{oo:?}|{i}|{u}|{flag}|{c:?}|{:x}|{:x}",
                        f.to_bits(),
                        g.to_bits()
                    )
                );
            }
            Ok(())
        })?;
    });
}

// --- templates with fields, filters and `display` ----------------------------

static FILTERED: LazyLock<Cache> = LazyLock::new(|| Cache::from_url("mem://?size=100000").unwrap());

/// A type whose `Display` writes user text as is (injective, like most).
struct Label(String);

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct Pair(String, Option<i32>);

/// `lower` and `hash` are many-to-one by design: the answer depends on
/// what they keep (`{p.0:lower}`), the rest is written whole.
#[cashews::cache(
    ttl = "1h",
    key = "f:{p.0:lower}:{p.1}:{ip:display}:{label:display}:{x}:{token:hash}{tail}:{tail:len}",
    cache = FILTERED
)]
async fn filtered(p: &Pair, ip: IpAddr, label: &Label, x: f64, token: &str, tail: &str) -> String {
    format!(
        "{:?}|{:?}|{ip}|{:?}|{:x}|{token:?}|{tail:?}",
        p.0.to_lowercase(),
        p.1,
        label.0,
        x.to_bits()
    )
}

fn ip() -> impl Strategy<Value = IpAddr> {
    select(vec![
        "1.2.3.4",
        "::1",
        "::1:2",
        "1::",
        "::ffff:1.2.3.4",
        "::",
    ])
    .prop_map(|ip| ip.parse().unwrap())
}

#[test]
fn fields_filters_and_display_never_give_one_call_another_ones_answer() {
    let _serial = serial();
    let rt = runtime();
    let args = (
        text(),
        prop::option::of(select(vec![-1, 0, 1])),
        ip(),
        text(),
        float(),
        text(),
        text(),
    );
    // With each call, its re-cuts of `{ip}:{label}` and of `{label}:{x}`.
    let calls = prop::collection::vec(args, 1..6).prop_map(|calls| {
        let mut all = Vec::new();
        for c in calls {
            let (p0, p1, ip, label, x, token, tail) = c.clone();
            for (ip, label) in resplits(&ip.to_string(), &label, |l, r| {
                Some((l.parse::<IpAddr>().ok()?, r.to_owned()))
            }) {
                all.push((p0.clone(), p1, ip, label, x, token.clone(), tail.clone()));
            }
            for (label, x) in resplits(&label, &x.to_string(), |l, r| {
                Some((l.to_owned(), r.parse::<f64>().ok()?))
            }) {
                all.push((p0.clone(), p1, ip, label, x, token.clone(), tail.clone()));
            }
            all.push(c);
        }
        all
    });
    proptest!(config(), |(calls in calls)| {
        rt.block_on(async {
            FILTERED.clear().await.unwrap();
            for (p0, p1, ip, label, x, token, tail) in &calls {
                let p = Pair(p0.clone(), *p1);
                let label = Label(label.clone());
                prop_assert_eq!(
                    filtered(&p, *ip, &label, *x, token, tail).await,
                    format!(
                        "{:?}|{:?}|{ip}|{:?}|{:x}|{token:?}|{tail:?}",
                        p0.to_lowercase(),
                        p1,
                        label.0,
                        x.to_bits()
                    )
                );
            }
            Ok(())
        })?;
    });
}

/// The instance from the report, spelled out.
#[tokio::test]
async fn a_separator_in_a_value_does_not_move_the_boundary() {
    let cache = Cache::from_url("mem://").unwrap();
    #[cashews::cache(ttl = "1h", key = "acl:{a}:{b}", cache = cache)]
    async fn allowed(cache: &Cache, a: &str, b: &str) -> String {
        format!("{a}|{b}")
    }
    assert_eq!(allowed(&cache, "a", "b:c").await, "a|b:c");
    assert_eq!(allowed(&cache, "a:b", "c").await, "a:b|c");
    let mut keys = cache.scan("*").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["acl:a%3Ab:c", "acl:a:b%3Ac"]);
}

// --- companions: the key each call stored -----------------------------------

#[test]
fn a_companion_builds_the_key_a_template_call_stored() {
    let _serial = serial();
    let rt = runtime();
    proptest!(config(), |((a, b) in (text(), text()))| {
        rt.block_on(async {
            ACL.clear().await.unwrap();
            acl(&a, &b).await;
            let stored = stored_key(&ACL).await;
            companion_keys_meet(
                &stored,
                &acl_cache_key(KeyPart::Value(&a), KeyPart::Value(&b)),
                [
                    acl_cache_key(KeyPart::ANY, KeyPart::Value(&b)),
                    acl_cache_key(KeyPart::Value(&a), KeyPart::ANY),
                ],
            )
        })?;
    });
}

#[test]
fn a_companion_builds_the_default_key_a_call_stored() {
    let _serial = serial();
    let rt = runtime();
    proptest!(config(), |((s, o, oo, i, u, flag, c, f, g) in defaulted_args())| {
        rt.block_on(async {
            DEFAULTS.clear().await.unwrap();
            defaulted(s.clone(), o.as_deref(), oo, i, u, flag, c, f, g).await;
            let stored = stored_key(&DEFAULTS).await;
            let key = |open: usize| {
                let part = |n: usize| n != open;
                defaulted_cache_key(
                    if part(0) { s.clone().into() } else { KeyPart::ANY },
                    if part(1) { o.as_deref().into() } else { KeyPart::ANY },
                    if part(2) { oo.into() } else { KeyPart::ANY },
                    if part(3) { i.into() } else { KeyPart::ANY },
                    if part(4) { u.into() } else { KeyPart::ANY },
                    if part(5) { flag.into() } else { KeyPart::ANY },
                    if part(6) { c.into() } else { KeyPart::ANY },
                    if part(7) { f.into() } else { KeyPart::ANY },
                    if part(8) { g.into() } else { KeyPart::ANY },
                )
            };
            companion_keys_meet(&stored, &key(usize::MAX), (0..9).map(key))
        })?;
    });
}

#[test]
fn a_companion_builds_the_key_of_fields_filters_and_display() {
    let _serial = serial();
    let rt = runtime();
    let args = (
        text(),
        prop::option::of(select(vec![-1, 0, 1])),
        ip(),
        text(),
        float(),
        text(),
        text(),
    );
    proptest!(config(), |((p0, p1, ip, label, x, token, tail) in args)| {
        rt.block_on(async {
            FILTERED.clear().await.unwrap();
            let (p, label) = (Pair(p0, p1), Label(label));
            filtered(&p, ip, &label, x, &token, &tail).await;
            let stored = stored_key(&FILTERED).await;
            let key = |open: usize| {
                let part = |n: usize| n != open;
                filtered_cache_key(
                    if part(0) { KeyPart::Value(&p) } else { KeyPart::ANY },
                    if part(1) { ip.into() } else { KeyPart::ANY },
                    if part(2) { KeyPart::Value(&label) } else { KeyPart::ANY },
                    if part(3) { x.into() } else { KeyPart::ANY },
                    if part(4) { KeyPart::Value(&token) } else { KeyPart::ANY },
                    if part(5) { KeyPart::Value(&tail) } else { KeyPart::ANY },
                )
            };
            companion_keys_meet(&stored, &key(usize::MAX), (0..6).map(key))
        })?;
    });
}
