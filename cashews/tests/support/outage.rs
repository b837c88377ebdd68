//! Servers the fault tests can stop, restart and freeze.

use cashews::Cache;

use super::servers::MemcachedServer;
#[cfg(feature = "redis")]
use super::servers::RedisServer;

/// A server the tests can stop, restart and freeze.
pub trait Outage {
    fn url(&self) -> String;
    fn kill(&mut self);
    async fn restart(&mut self);
    async fn pause(&self);
    fn resume(&self);

    /// A cache on this server with small timeouts, so that a dead or
    /// frozen server costs little.
    fn cache(&self, safe: bool) -> Cache {
        let safe = u8::from(safe);
        Cache::from_url(&format!(
            "{}?socket_timeout=200ms&create_connection_timeout=200ms&safe={safe}",
            self.url()
        ))
        .unwrap()
    }
}

#[cfg(feature = "redis")]
impl Outage for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
    fn kill(&mut self) {
        RedisServer::kill(self)
    }
    async fn restart(&mut self) {
        RedisServer::restart(self).await
    }
    async fn pause(&self) {
        RedisServer::pause(self).await
    }
    fn resume(&self) {
        RedisServer::resume(self)
    }
}

impl Outage for MemcachedServer {
    fn url(&self) -> String {
        MemcachedServer::url(self)
    }
    fn kill(&mut self) {
        MemcachedServer::kill(self)
    }
    async fn restart(&mut self) {
        MemcachedServer::restart(self).await
    }
    async fn pause(&self) {
        MemcachedServer::pause(self).await
    }
    fn resume(&self) {
        MemcachedServer::resume(self)
    }
}
