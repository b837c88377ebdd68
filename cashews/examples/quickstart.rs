//! `cargo run --example quickstart`: a cached read in front of a stand-in
//! database, and the invalidation that keeps it true after a write.
//!
//! The database counts its reads, so each line can say where an answer came
//! from: a read that did not reach the database was a cache hit.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

/// A stand-in for a real database: a table of user names that counts how
/// often it was read.
struct Database {
    names: Mutex<HashMap<u64, String>>,
    reads: AtomicUsize,
}

/// The error of a write to a user the database does not hold.
#[derive(Debug)]
struct NoSuchUser(u64);

impl std::fmt::Display for NoSuchUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no user {}", self.0)
    }
}

impl std::error::Error for NoSuchUser {}

impl Database {
    fn read(&self, id: u64) -> Option<String> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.names.lock().unwrap().get(&id).cloned()
    }

    fn write(&self, id: u64, name: &str) -> Result<(), NoSuchUser> {
        let mut names = self.names.lock().unwrap();
        let stored = names.get_mut(&id).ok_or(NoSuchUser(id))?;
        *stored = name.to_owned();
        Ok(())
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }
}

static DATABASE: LazyLock<Database> = LazyLock::new(|| Database {
    names: Mutex::new(HashMap::from([(1, "Ada Lovelace".to_owned())])),
    reads: AtomicUsize::new(0),
});

/// A user's name: from the cache when it holds `user:{id}`, else read from
/// the database and stored for ten minutes.
#[cashews::cache(ttl = "10m", key = "user:{id}")]
async fn get_user(id: u64) -> Option<String> {
    DATABASE.read(id)
}

/// Renames a user in the database; once that has succeeded, deletes the key
/// that `get_user(id)` caches under, so the next read goes to the database.
#[cashews::invalidate(get_user(id))]
async fn rename_user(id: u64, name: &str) -> Result<(), NoSuchUser> {
    DATABASE.write(id, name)
}

/// Calls `get_user(id)` and says whether the database was read for it.
async fn read_user(out: &mut impl Write, id: u64) -> std::io::Result<()> {
    let reads_before = DATABASE.reads();
    let name = get_user(id).await;
    let reads = DATABASE.reads();
    let what = if reads > reads_before {
        "miss: read from the database, now cached"
    } else {
        "hit: from the cache, no database read"
    };
    let call = format!("get_user({id}) -> {name:?}");
    writeln!(out, "{call:<38}{what} (reads: {reads})")
}

/// The whole story, written to `out`.
async fn tour(out: &mut impl Write) -> Result<(), Box<dyn std::error::Error>> {
    // Without `cashews::setup(url)`, the attributes use an in-memory cache.
    let cache = cashews::global();

    read_user(out, 1).await?;
    read_user(out, 1).await?;

    let renamed = rename_user(1, "Ada King").await;
    let what = if cache.exists("user:1").await? {
        "the database changed, but user:1 is still cached"
    } else {
        "the database changed; #[invalidate] deleted user:1"
    };
    let call = format!("rename_user(1, \"Ada King\") -> {renamed:?}");
    writeln!(out, "{call:<38}{what}")?;
    renamed?;

    read_user(out, 1).await?;
    read_user(out, 1).await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tour(&mut std::io::stdout()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_tour_reads_the_database_on_misses_only_and_shows_the_rename() {
        let mut out = Vec::new();
        tour(&mut out).await.unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert_eq!(
            printed,
            r#"get_user(1) -> Some("Ada Lovelace")   miss: read from the database, now cached (reads: 1)
get_user(1) -> Some("Ada Lovelace")   hit: from the cache, no database read (reads: 1)
rename_user(1, "Ada King") -> Ok(())  the database changed; #[invalidate] deleted user:1
get_user(1) -> Some("Ada King")       miss: read from the database, now cached (reads: 2)
get_user(1) -> Some("Ada King")       hit: from the cache, no database read (reads: 2)
"#
        );
        assert!(
            include_str!("../../README.md").contains(&printed),
            "the README shows other lines as the quickstart's output"
        );
        assert_eq!(DATABASE.reads(), 2);
        assert_eq!(DATABASE.read(1).as_deref(), Some("Ada King"));
    }
}
