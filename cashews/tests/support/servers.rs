//! The real servers of the backend suites (`cashews-test-servers`). A
//! server that cannot start fails the test with the reason: these suites
//! never skip.

// Each suite uses some of them (as `dead_code` in `support/mod.rs`).
#[allow(unused_imports)]
pub use cashews_test_servers::{
    MemcachedServer, RawMemcached, RedisCluster, RedisServer, free_port,
};
