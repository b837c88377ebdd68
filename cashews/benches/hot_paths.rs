//! Criterion benches of the hot paths, for developers to profile with:
//! `cargo bench -p cashews -- <filter>`. The comparison with other caches,
//! and the targets, are in the `cashews-bench` harness.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use cashews::__private::{KeyBuf, KeyWriter};
use cashews::Cache;
use cashews::backend::Backend;
use cashews::backend::memory::MemoryBackend;
use cashews::settings::MemorySettings;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

const TTL: Duration = Duration::from_secs(600);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn value() -> String {
    "v".repeat(100)
}

#[cashews::cache(ttl = "10m", key = "user:{id}")]
async fn decorated(id: u64) -> String {
    black_box(id);
    value()
}

/// What `#[cashews::cache(key = "user:{id}:{name}")]` runs on every call.
fn key_building(c: &mut Criterion) {
    let rt = runtime();
    c.bench_function("key/template user:{id}", |b| {
        b.to_async(&rt).iter(|| async {
            let mut key = KeyBuf::with_capacity(21);
            let mut w = KeyWriter::new(&mut key);
            w.text("user:");
            w.arg(black_box(&42u64));
            black_box(key.len())
        })
    });
    c.bench_function("key/template user:{id}:{name}", |b| {
        b.to_async(&rt).iter(|| async {
            let mut key = KeyBuf::with_capacity(24);
            let mut w = KeyWriter::new(&mut key);
            w.text("user:");
            w.arg(black_box(&42u64));
            w.text(":");
            w.arg(black_box("Ada Lovelace"));
            black_box(key.len())
        })
    });
    c.bench_function("key/hash filter (BLAKE3) of a 64-byte token", |b| {
        let token = "t".repeat(64);
        b.iter(|| black_box(cashews::key::hash(black_box(token.as_str()))))
    });
}

/// Values through the codec: MessagePack, then the BLAKE3 MAC when signing.
/// On `mem://`, so the map's share is in `memory/*` to subtract.
fn codec(c: &mut Criterion) {
    let rt = runtime();
    for (name, url) in [
        ("unsigned", "mem://"),
        ("signed", "mem://?hash_key=bench-secret"),
    ] {
        let cache = Cache::from_url(url).unwrap();
        rt.block_on(cache.set("user:1", &value(), TTL)).unwrap();
        c.bench_function(&format!("codec/encode+set {name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(cache.set("user:1", &value(), TTL).await.unwrap()) })
        });
        c.bench_function(&format!("codec/get+decode {name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(cache.get::<String>("user:1").await.unwrap()) })
        });
    }
}

/// The memory backend alone (bytes), and the typed hit every decorated
/// call takes.
fn memory(c: &mut Criterion) {
    let rt = runtime();
    let backend = MemoryBackend::new(MemorySettings::default());
    let bytes = bytes::Bytes::from(value());
    rt.block_on(backend.set("user:1", bytes.clone(), Some(TTL), None))
        .unwrap();
    c.bench_function("memory/backend get (bytes)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(backend.get(black_box("user:1")).await.unwrap()) })
    });
    c.bench_function("memory/backend set (bytes)", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                backend
                    .set("user:1", bytes.clone(), Some(TTL), None)
                    .await
                    .unwrap(),
            )
        })
    });
    let cache = Cache::from_url("mem://").unwrap();
    rt.block_on(cache.set("user:1", &value(), TTL)).unwrap();
    c.bench_function("memory/get_cloned hit", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                cache
                    .get_cloned::<String>(black_box("user:1"))
                    .await
                    .unwrap(),
            )
        })
    });
    let options = cashews::strategy::simple::Options::new(TTL);
    c.bench_function(
        "memory/simple::cache hit (the strategy, no key building)",
        |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    cashews::strategy::simple::cache(
                        cashews::global(),
                        black_box("user:1"),
                        cashews::strategy::simple::StoreAll,
                        &options,
                        || async { value() },
                    )
                    .await,
                )
            })
        },
    );
    rt.block_on(decorated(1));
    c.bench_function("memory/decorated hit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(decorated(black_box(1)).await) })
    });
}

criterion_group!(benches, key_building, codec, memory);
criterion_main!(benches);
