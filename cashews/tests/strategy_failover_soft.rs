//! `failover` and `soft`: serving a previous value when the function fails.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cashews::strategy::{Failover, Served, Soft, failover, soft};
use cashews::{Cache, Error, ErrorKind};

#[derive(Debug, PartialEq)]
enum ApiError {
    Timeout,
    NotFound,
    Cache(ErrorKind),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self::Cache(e.kind())
    }
}

fn outcome(step: &AtomicU32, script: &[Result<u32, ApiError>]) -> Result<u32, ApiError> {
    let i = step.fetch_add(1, Ordering::SeqCst) as usize;
    match &script[i] {
        Ok(v) => Ok(*v),
        Err(ApiError::Timeout) => Err(ApiError::Timeout),
        Err(ApiError::NotFound) => Err(ApiError::NotFound),
        Err(ApiError::Cache(k)) => Err(ApiError::Cache(*k)),
    }
}

#[tokio::test(start_paused = true)]
async fn failover_serves_the_last_good_value() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Failover::new(Duration::from_secs(60));
    let step = AtomicU32::new(0);
    let script = [
        Err(ApiError::Timeout),
        Ok(1),
        Ok(2),
        Err(ApiError::Timeout),
        Err(ApiError::Timeout),
    ];
    let (mut seen, mut served) = (Vec::new(), Vec::new());
    for _ in 0..script.len() {
        let reported = failover(&cache, "fail:k", &options, || async {
            outcome(&step, &script)
        })
        .await;
        seen.push(reported.value);
        served.push(reported.served);
    }
    // No good value yet: the error. Then the function runs every time and
    // its failures are answered with the last success.
    assert_eq!(seen, [Err(ApiError::Timeout), Ok(1), Ok(2), Ok(2), Ok(2)]);
    use Served::{Miss, Stale};
    assert_eq!(served, [Miss, Miss, Miss, Stale, Stale]);
    assert_eq!(step.load(Ordering::SeqCst), 5);
}

#[tokio::test(start_paused = true)]
async fn failover_only_on_accepted_errors_and_within_ttl() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Failover::new(Duration::from_secs(60)).when(|e| *e == ApiError::Timeout);
    let step = AtomicU32::new(0);
    let script = [
        Ok(7),
        Err(ApiError::NotFound),
        Err(ApiError::Timeout),
        Err(ApiError::Timeout),
    ];
    let call = || {
        failover(&cache, "fail:k", &options, || async {
            outcome(&step, &script)
        })
    };
    assert_eq!(call().await.value, Ok(7));
    assert_eq!(call().await.value, Err(ApiError::NotFound));
    tokio::time::advance(Duration::from_millis(59_999)).await;
    assert_eq!(call().await.value, Ok(7));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(call().await.value, Err(ApiError::Timeout));
}

#[tokio::test(start_paused = true)]
async fn soft_recomputes_after_soft_ttl_and_serves_stale_on_error_until_ttl() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Soft::new(Duration::from_secs(100), Duration::from_secs(10));
    let step = AtomicU32::new(0);
    let script = [
        Ok(1),
        Ok(2),
        Err(ApiError::Timeout),
        Err(ApiError::Timeout),
        Ok(3),
        Err(ApiError::Timeout),
    ];
    let call = || async {
        let reported = soft(&cache, "k", &options, || async { outcome(&step, &script) }).await;
        (reported.value, reported.served)
    };
    assert_eq!(call().await, (Ok(1), Served::Miss));
    tokio::time::advance(Duration::from_millis(9_999)).await;
    assert_eq!(call().await, (Ok(1), Served::Hit)); // fresh: no call
    assert_eq!(step.load(Ordering::SeqCst), 1);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(call().await, (Ok(2), Served::Miss)); // soft deadline: recomputed in the caller
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(call().await, (Ok(2), Served::Stale)); // failed: stale value (stored at 10 s, kept until 110 s)
    tokio::time::advance(Duration::from_secs(89)).await; // t = 109 s
    assert_eq!(call().await, (Ok(2), Served::Stale)); // failed again: still stale
    assert_eq!(step.load(Ordering::SeqCst), 4);
    tokio::time::advance(Duration::from_secs(1)).await; // t = 110 s: gone
    assert_eq!(call().await, (Ok(3), Served::Miss));
    tokio::time::advance(Duration::from_secs(100)).await;
    assert_eq!(call().await, (Err(ApiError::Timeout), Served::Miss)); // nothing left to serve
}

#[tokio::test(start_paused = true)]
async fn soft_passes_other_errors_through() {
    let cache = Cache::from_url("mem://").unwrap();
    let options = Soft::new(Duration::from_secs(100), Duration::from_secs(10))
        .when(|e| *e == ApiError::Timeout);
    let step = AtomicU32::new(0);
    let script = [Ok(1), Err(ApiError::NotFound)];
    let call = || soft(&cache, "k", &options, || async { outcome(&step, &script) });
    assert_eq!(call().await.value, Ok(1));
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(call().await.value, Err(ApiError::NotFound));
}

#[tokio::test(start_paused = true)]
async fn a_value_that_cannot_be_stored_is_still_returned() {
    use serde::ser::{Error as _, Serialize, Serializer};
    #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
    struct Unencodable;
    impl Serialize for Unencodable {
        fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(S::Error::custom("no"))
        }
    }
    let cache = Cache::from_url("mem://?safe=0").unwrap();
    let options = Failover::new(Duration::from_secs(60));
    let ok = failover(&cache, "fail:k", &options, || async {
        Ok::<_, ApiError>(Unencodable)
    })
    .await;
    assert_eq!(ok.value, Ok(Unencodable));
    let failed = failover(&cache, "fail:k", &options, || async {
        Err::<Unencodable, _>(ApiError::Timeout)
    })
    .await;
    assert_eq!(failed.value, Err(ApiError::Timeout));
}
