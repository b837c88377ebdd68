//! `cargo run --example quickstart`: a decorated function on the default
//! in-memory cache, its hits and misses, and a few commands.

use std::time::Duration;

use tokio::time::Instant;

/// Pretends to be slow, as a database or an API would be.
#[cashews::cache(ttl = "10m", key = "user:{id}")]
async fn get_user(id: u64) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    (id == 1).then(|| "Ada Lovelace".to_owned())
}

/// Drops the user's cached entry once the rename has succeeded.
#[cashews::invalidate(get_user(id))]
async fn rename(id: u64, name: &str) -> Result<(), std::io::Error> {
    println!("  renaming user {id} to {name:?}");
    Ok(())
}

async fn timed(id: u64) {
    let start = Instant::now();
    let user = get_user(id).await;
    println!("get_user({id}) = {user:?} in {:?}", start.elapsed());
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Without `cashews::setup(url)`, decorators use an in-memory `mem://` cache.
    let cache = cashews::global();

    timed(1).await; // miss: runs the function
    timed(1).await; // hit: from the cache
    timed(2).await; // miss: `None` is cached too

    let mut keys = cache.scan("user:*").await?;
    keys.sort();
    println!("stored keys: {keys:?}");
    println!("user:1 = {:?}", cache.get::<String>("user:1").await?);
    println!("user:1 expires in {:?}", cache.get_expire("user:1").await?);

    rename(1, "Ada King").await?;
    println!(
        "after rename, user:1 exists: {}",
        cache.exists("user:1").await?
    );
    timed(1).await; // miss again

    // The basic commands work on the same cache.
    cache.set("visits", &41, 60).await?;
    println!("visits = {}", cache.incr("visits", 1, None).await?);
    Ok(())
}
