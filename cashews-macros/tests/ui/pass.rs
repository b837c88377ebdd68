//! Everything the attributes accept: every ttl form, methods, generics,
//! `where` clauses, visibility, attributes, a renamed crate, and
//! invalidation targets; the companions (`<name>_cache_key`) they call.

// The crate under another name, as a renamed dependency would be.
extern crate cashews as my_cashews;

use std::time::Duration;

use cashews::Cache;

const TTL: Duration = Duration::from_secs(60);

#[cashews::cache(ttl = "1h30m")]
async fn literal(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = 90)]
async fn seconds(id: u64) -> Option<u64> {
    Some(id)
}

#[cashews::cache(ttl = TTL * 2)]
async fn expression(id: u64) -> Result<u64, std::io::Error> {
    Ok(id)
}

#[cashews::cache(ttl = |v| Duration::from_secs(*v))]
async fn per_value(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = |v| if *v > 1 { "1m" } else { "5s" }, condition = |v| *v > 0)]
async fn per_ok_value(id: u64) -> Result<u64, String> {
    Ok(id)
}

/// Docs and attributes are kept.
#[cashews::cache(ttl = "1m", key = "generic:{id}", protected = false)]
#[allow(clippy::needless_pass_by_value)]
pub(crate) async fn generic<T>(id: u64, _marker: Option<T>) -> Vec<u64>
where
    T: Send,
{
    vec![id]
}

struct Repo {
    cache: Cache,
    tenant: String,
}

impl Repo {
    #[cashews::cache(ttl = "1m", cache = self.cache)]
    pub async fn get(&self, id: u64) -> Option<String> {
        Some(format!("{}:{id}", self.tenant))
    }

    #[cashews::cache(ttl = "1m", key = "{self.tenant}:{id}", prefix = "repo", cache = &self.cache)]
    async fn by_tenant(&self, id: u64) -> Result<String, String> {
        Ok(id.to_string())
    }

    #[cashews::invalidate(self.get(_), Self::by_tenant(self, id), "repo:{self.tenant}:*")]
    async fn update(&self, id: u64) -> Result<(), String> {
        Ok(())
    }
}

struct Point {
    x: i32,
}

#[cashews::cache(ttl = "1m", key = "point:{point.x}")]
async fn by_point(point: &Point) -> i32 {
    point.x
}

/// A wildcard needs no value of the parameter's type (`Point` has no
/// `Default`).
#[cashews::invalidate(by_point(_))]
async fn forget_points() {}

#[cashews::locked(ttl = "1m", key = "report:{day}")]
async fn report(day: u32) -> u32 {
    day
}

/// A strategy's function has a companion too.
#[cashews::invalidate(report(day))]
async fn redo(day: u32) {}

mod renamed {
    #[my_cashews::cache(crate = "my_cashews", ttl = "1m", key = "renamed:{id}")]
    pub async fn renamed(id: u64) -> u64 {
        id
    }

    #[my_cashews::invalidate(crate = "my_cashews", renamed(_))]
    pub async fn forget() {}
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Missing {
    Gone,
    Moved(u16),
}

fn is_gone(e: &Missing) -> bool {
    *e == Missing::Gone
}

#[cashews::cache(ttl = "1m", key = "fn-errors:{id}", cache_errors = is_gone)]
async fn fn_errors(id: u16) -> Result<u16, Missing> {
    if id == 0 { Err(Missing::Gone) } else { Err(Missing::Moved(id)) }
}

#[cashews::cache(
    ttl = "1m",
    key = "listed-errors:{id}",
    cache_errors = [Missing::Moved(..)],
    condition = |v| *v > 1,
    time_condition = TTL / 60
)]
async fn listed_errors(id: u16) -> Result<u16, Missing> {
    Ok(id)
}

#[cashews::cache(ttl = "1m", cache_errors = false, time_condition = 2)]
async fn no_errors(id: u16) -> Result<u16, Missing> {
    Ok(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(fn_errors(0).await, Err(Missing::Gone));
    assert!(cashews::global().exists("fn-errors:0").await.unwrap());
    assert_eq!(fn_errors(3).await, Err(Missing::Moved(3)));
    assert!(!cashews::global().exists("fn-errors:3").await.unwrap());
    assert_eq!(listed_errors(2).await, Ok(2));
    assert_eq!(no_errors(2).await, Ok(2));
    assert_eq!(literal(1).await, 1);
    assert_eq!(seconds(2).await, Some(2));
    assert_eq!(expression(3).await.unwrap(), 3);
    assert_eq!(per_value(4).await, 4);
    assert_eq!(per_ok_value(5).await, Ok(5));
    assert_eq!(generic::<u8>(6, None).await, [6]);
    let repo = Repo {
        cache: Cache::from_url("mem://").unwrap(),
        tenant: "acme".into(),
    };
    assert_eq!(repo.get(7).await.as_deref(), Some("acme:7"));
    assert_eq!(repo.by_tenant(8).await.as_deref(), Ok("8"));
    repo.update(8).await.unwrap();
    assert!(!repo.cache.exists("repo:acme:8").await.unwrap());
    assert_eq!(renamed::renamed(9).await, 9);
    renamed::forget().await;
    assert_eq!(by_point(&Point { x: 3 }).await, 3);
    let point = by_point_cache_key(cashews::KeyPart::Value(&Point { x: 3 }));
    assert_eq!(point.key().as_deref(), Some("point:3"));
    assert!(point.cache().exists("point:3").await.unwrap());
    forget_points().await;
    assert!(!point.cache().exists("point:3").await.unwrap());
    assert_eq!(report(4).await, 4);
    assert!(report_cache_key(4.into()).cache().exists("report:4").await.unwrap());
    redo(4).await;
    assert!(!cashews::global().exists("report:4").await.unwrap());
}
