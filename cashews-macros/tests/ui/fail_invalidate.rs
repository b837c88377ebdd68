//! Invalidation targets the compiler refuses, at the token to fix: a
//! function that is not cached (it has no companion), an argument the
//! cached function does not have, an argument of the wrong type, `_` for
//! the parameter that chooses the cache.

use cashews::Cache;

async fn not_cached(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m", key = "user:{id}")]
async fn get_user(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m", key = "n:{n}", cache = cache)]
async fn numbered(cache: &Cache, n: u32) -> u32 {
    n
}

#[cashews::invalidate(not_cached(id))]
async fn forget_uncached(id: u64) {}

#[cashews::invalidate(get_user(id, name))]
async fn forget_extra(id: u64, name: &str) {}

#[cashews::invalidate(get_user(name))]
async fn forget_wrong_type(name: &str) {}

#[cashews::invalidate(numbered(_, n))]
async fn forget_any_cache(n: u32) {}

fn main() {}
