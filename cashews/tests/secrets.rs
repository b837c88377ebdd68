//! Secrets never leave: no error (its `Display`, its `Debug`, its sources),
//! no `Debug` of settings, builders or caches, and no log line shows the
//! user info of a setup URL or its `hash_key`, however mistyped the URL.
//!
//! Every secret here contains `entinel` (percent-encoded too: `%73entinel`
//! is `sentinel`), a text no message of ours holds: finding it anywhere is
//! a leak.

mod support;

use std::error::Error as _;
use std::sync::Mutex;

use cashews::{Cache, CacheBuilder, Settings};
use proptest::prelude::*;
use proptest::sample::select;
use support::logs::capture_logs;

const MARK: &str = "entinel";

/// Fails with `what` if `text` holds a secret.
fn clean(what: &str, text: &str) {
    assert!(
        !text.to_ascii_lowercase().contains(MARK),
        "{what} shows a secret: {text}"
    );
}

/// Checks an error's `Display`, `Debug` and every source's.
fn clean_error(url: &str, e: &cashews::Error) {
    clean(&format!("the error of {url:?}"), &e.to_string());
    clean(&format!("the error of {url:?} (Debug)"), &format!("{e:?}"));
    let mut source = e.source();
    while let Some(s) = source {
        clean(&format!("a source of the error of {url:?}"), &s.to_string());
        clean(
            &format!("a source of the error of {url:?}"),
            &format!("{s:?}"),
        );
        source = s.source();
    }
}

/// Parses `url` every way a user can: settings, a cache, a builder, a
/// route; checks whatever comes out.
fn sweep(url: &str) {
    match Settings::from_url(url) {
        Ok(s) => clean(&format!("the settings of {url:?}"), &format!("{s:?}")),
        Err(e) => clean_error(url, &e),
    }
    match Cache::from_url(url) {
        Ok(c) => clean(&format!("the cache of {url:?}"), &format!("{c:?}")),
        Err(e) => clean_error(url, &e),
    }
    match CacheBuilder::from_url(url) {
        Ok(b) => clean(&format!("the builder of {url:?}"), &format!("{b:?}")),
        Err(e) => clean_error(url, &e),
    }
    let routed = CacheBuilder::from_url("mem://").and_then(|b| b.route("r:", url));
    match routed {
        Ok(b) => clean(&format!("the builder routing {url:?}"), &format!("{b:?}")),
        Err(e) => clean_error(url, &e),
    }
}

fn logged(log: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&log.lock().unwrap()).into_owned()
}

/// URL-ish strings: a scheme, a separator (often mistyped), user info
/// holding secrets, a host, and options (often mistyped) with a `hash_key`.
fn urlish() -> impl Strategy<Value = String> {
    let scheme = select(vec![
        "redis",
        "rediss",
        "mem",
        "memcached",
        "redis+unix",
        "unix",
        "ftp",
        "",
        "REDIS",
    ]);
    let separator = select(vec![
        "://", ":/", "//", ":", "", ":///", "/", "://\n", ":\\\\",
    ]);
    let userinfo = select(vec![
        "",
        "Usr0sentinel:Pw0sentinel@",
        ":Pw0sentinel@",
        "Usr0sentinel@",
        "Usr0sentinel:Pw0%73entinel@",
        "Usr0sentinel:Pw0s/entinel@",
        "Usr0sentinel:Pw0:s,entinel@",
        "Usr0sentinel:Pw0sentinel@x:Pw1sentinel@",
        "Usr0sentinel:Pw0sentinel@@",
    ]);
    let host = select(vec![
        "127.0.0.1",
        "127.0.0.1:99999",
        "h:x",
        "[::1",
        "[::1]:1",
        "a,b",
        "",
        "h/x",
        "h/1",
        "h:1/",
        "/tmp/r.sock",
    ]);
    let start = select(vec!["?", "", "/?", "#", "&", "??"]);
    let option = select(vec![
        "hash_key=Hk0sentinel",
        "hash_key:Hk0sentinel",
        "hash_key%3DHk0sentinel",
        "hash%5Fkey=Hk0sentinel",
        "HASH_KEY=Hk0sentinel",
        "hash_key=Hk0sentinel=x",
        "hash_key=Hk0%73entinel",
        "hash_key=Hk0sentinel&hash_key=Hk1sentinel",
        "size=0",
        "size=ten",
        "db=x",
        "db=1",
        "cluster=1",
        "colour=blue",
        "safe=maybe",
        "prefix=p",
        "socket_timeout=soon",
    ]);
    let joint = select(vec!["&", "?", ";", "&&", " ", "#"]);
    let options = prop::collection::vec((joint, option), 0..4);
    (scheme, separator, userinfo, host, start, options).prop_map(
        |(scheme, separator, userinfo, host, start, options)| {
            let mut url = format!("{scheme}{separator}{userinfo}{host}");
            for (i, (joint, option)) in options.iter().enumerate() {
                url.push_str(if i == 0 { start } else { joint });
                url.push_str(option);
            }
            url
        },
    )
}

#[test]
fn no_setup_url_shows_its_secrets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    let (log, _guard) = capture_logs();
    proptest!(ProptestConfig::with_cases(2000), |(url in urlish())| {
        sweep(&url);
    });
    clean("the log", &logged(&log));
}

/// The instances of the report, and a URL of each shape by hand.
#[test]
fn mistyped_urls_of_every_backend_hide_their_secrets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _runtime = rt.enter();
    for url in [
        "redis:/user:Pw0sentinel@host",
        "redis:/Usr0sentinel:pw@host",
        "mem//?hash_key=Hk0sentinel",
        "mem:/?hash_key=Hk0sentinel",
        "memcached://Usr0sentinel:Pw0sentinel@127.0.0.1:11211",
        "memcached://Usr0sentinel@127.0.0.1",
        "mem://Usr0sentinel:Pw0sentinel@host",
        "mem://?size=10?hash_key=Hk0sentinel",
        "mem://?size=10;hash_key=Hk0sentinel",
        "redis://Usr0sentinel:Pw0sentinel@h:99999",
        "redis://Usr0sentinel:Pw0sentinel@[::1",
        "redis://Usr0sentinel:Pw0sentinel@h/x",
        "redis://Usr0sentinel:Pw0sentinel@a,b",
        "redis://Usr0sentinel:Pw0sentinel@h?colour=blue",
        "redis://Usr0sentinel:Pw0sentinel@h",
        "unix://Usr0sentinel:Pw0sentinel@/tmp/redis.sock",
        "ftp://Usr0sentinel:Pw0sentinel@host",
        "Usr0sentinel:Pw0sentinel@host",
    ] {
        sweep(url);
    }
    // A route refuses a hash_key without repeating it.
    let e = CacheBuilder::from_url("mem://")
        .and_then(|b| b.route("r:", "mem://?hash_key=Hk0sentinel"))
        .unwrap_err();
    clean_error("a route", &e);
}

/// A Redis server that wants a password, given a wrong one: neither the
/// errors (safe mode off) nor the warnings (safe mode on) show it.
#[cfg(feature = "redis")]
#[tokio::test]
async fn a_refused_redis_password_is_not_repeated() {
    use support::servers::RedisServer;

    let (log, _guard) = capture_logs();
    let server = RedisServer::start_with(&["--requirepass", "right"]).await;
    let port = server.port;
    let urls = [
        format!("redis://Usr0sentinel:Pw0sentinel@127.0.0.1:{port}"),
        format!("redis://:Pw0sentinel@127.0.0.1:{port}"),
        format!("redis://Usr0sentinel@127.0.0.1:{port}"),
        format!("redis://Usr0sentinel:Pw0sentinel@127.0.0.1:{port}/?cluster=1"),
        format!(
            "redis+unix://Usr0sentinel:Pw0sentinel@{}",
            server.socket().display()
        ),
    ];
    for url in &urls {
        for safe in ["0", "1"] {
            let url = format!(
                "{url}{}safe={safe}&hash_key=Hk0sentinel&create_connection_timeout=2s&socket_timeout=2s",
                if url.contains('?') { "&" } else { "?" }
            );
            let settings = Settings::from_url(&url).unwrap();
            clean("the settings", &format!("{settings:?}"));
            let cache = Cache::from_url(&url).unwrap();
            clean("the cache", &format!("{cache:?}"));
            let answers = [
                cache.get::<String>("k").await.map(drop),
                cache.set("k", &1, 60).await.map(drop),
                cache.incr("n", 1, None).await.map(drop),
            ];
            for answer in answers {
                match answer {
                    Err(e) => {
                        assert_eq!(safe, "0", "safe mode answers empty: {e}");
                        clean_error(&url, &e);
                    }
                    Ok(()) => assert_eq!(safe, "1", "a wrong password was accepted"),
                }
            }
        }
    }
    let log = logged(&log);
    assert!(log.contains("safe mode"), "safe mode logged nothing: {log}");
    clean("the log", &log);
}
