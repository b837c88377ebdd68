//! Unit tests of the memcached backend's key and TTL mapping.

use super::*;

#[test]
fn a_get_future_is_small() {
    // A decorated hit's box holds this future (`AnyBackend::get`): at
    // 672 bytes (680 in debug builds), the box is 960, within the
    // 1,032 that glibc's per-thread cache serves. Boxing the connecting
    // path would save 16 bytes: its state and the exchange's overlap.
    let settings = crate::Settings::from_url("memcached://127.0.0.1:1").unwrap();
    let crate::BackendSettings::Memcached(servers) = &settings.backend else {
        unreachable!("a memcached URL");
    };
    let backend = MemcachedBackend::new(servers).unwrap();
    let size = std::mem::size_of_val(&crate::backend::native::NativeBackend::get(&backend, "k"));
    assert!(size <= 688, "a get's future is {size} bytes");
}

#[test]
fn keys_memcached_can_hold_stay_as_they_are() {
    for key in [
        "user:1",
        "ключ",
        "emoji:🦀",
        "tag#b3",
        "#b:3",
        &"k".repeat(250),
    ] {
        assert_eq!(storage_key(key), key);
    }
}

#[test]
fn other_keys_are_hashed_consistently() {
    let long = "long".repeat(100);
    for key in [
        "",
        "with space",
        "tab\tkey",
        "nl\r\n",
        &long,
        "a#b3:b",
        "#b3:",
        "\u{7f}",
    ] {
        let stored = storage_key(key);
        assert_ne!(stored, key);
        assert_eq!(stored, storage_key(key), "stable");
        assert!(stored.len() <= MAX_KEY);
        assert!(
            !stored.bytes().any(|b| b <= b' ' || b == 0x7f),
            "{stored:?}"
        );
        assert!(stored.contains(HASHED));
    }
    assert!(storage_key("with space").starts_with("with_space#b3:"));
    assert_ne!(storage_key("a b"), storage_key("a_b"));
    assert_ne!(storage_key(&long), storage_key(&format!("{long}x")));
}

#[test]
fn ttls_round_up_and_switch_to_unix_time() {
    assert_eq!(ttl_seconds(None), 0);
    assert_eq!(ttl_seconds(Some(Duration::from_millis(1))), 2);
    assert_eq!(ttl_seconds(Some(Duration::from_secs(10))), 11);
    assert_eq!(ttl_seconds(Some(Duration::from_millis(10_001))), 12);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forty_days = ttl_seconds(Some(Duration::from_secs(40 * 24 * 3600)));
    assert!(forty_days >= now + 40 * 24 * 3600 && forty_days <= now + 40 * 24 * 3600 + 5);
    assert_eq!(ttl_seconds(Some(Duration::MAX)), i32::MAX as u64);
}

#[test]
fn integers_parse_as_redis_does() {
    for (text, n) in [
        ("0", 0),
        ("-8", -8),
        ("42", 42),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ] {
        assert_eq!(parse_int(text.as_bytes()), Some(n), "{text}");
    }
    for text in [
        "",
        "-",
        "+1",
        "01",
        "-0",
        " 1",
        "1 ",
        "1.5",
        "twelve",
        "9223372036854775808",
    ] {
        assert_eq!(parse_int(text.as_bytes()), None, "{text:?}");
    }
}

#[test]
fn servers_are_chosen_stably_and_spread() {
    let settings = crate::Settings::from_url("memcached://a:1,b:2,c:3").unwrap();
    let crate::BackendSettings::Memcached(m) = &settings.backend else {
        panic!()
    };
    let backend = MemcachedBackend::new(m).unwrap();
    let mut counts = std::collections::HashMap::new();
    for i in 0..3000 {
        let key = format!("key:{i}");
        let name = &backend.server(&key).name;
        assert_eq!(name, &backend.server(&key).name);
        *counts.entry(name.clone()).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 3);
    assert!(counts.values().all(|&n| n > 800), "{counts:?}");
    // Removing a server moves only its own keys.
    let two = crate::Settings::from_url("memcached://a:1,b:2").unwrap();
    let crate::BackendSettings::Memcached(m2) = &two.backend else {
        panic!()
    };
    let smaller = MemcachedBackend::new(m2).unwrap();
    for i in 0..3000 {
        let key = format!("key:{i}");
        let before = &backend.server(&key).name;
        if before != "c:3" {
            assert_eq!(before, &smaller.server(&key).name);
        }
    }
}
