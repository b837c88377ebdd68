//! Whether the tokio runtime a connection was opened on still runs.
//!
//! A connection's socket, its timers and (on Redis) its driver task belong
//! to the runtime that opened it, and die with it: a cache built in one
//! runtime and used from another (a `#[tokio::test]` each, a CLI building
//! a runtime per job) must then open new connections, not fail on the old
//! ones. A watch costs one relaxed load per check.
//!
//! A connection whose runtime still runs keeps serving other runtimes too:
//! its I/O is driven by that runtime, so a current-thread runtime that
//! lives on without being driven (no `block_on` under way) stalls it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::Handle;
#[cfg(feature = "memcached")]
use tokio::runtime::Id;
use tokio::sync::oneshot;

/// Turns false when the watched runtime shuts down.
#[derive(Debug)]
pub(crate) struct RuntimeWatch {
    /// `None` when made outside any runtime: then nothing can die.
    #[cfg(feature = "memcached")]
    runtime: Option<Id>,
    alive: Arc<AtomicBool>,
    /// Dropped with the watch, which ends its task.
    _stop: Option<oneshot::Sender<()>>,
}

/// Lives in a task of the watched runtime: a runtime drops its tasks as it
/// shuts down, and this clears the flag then.
struct ClearOnDrop(Arc<AtomicBool>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

impl RuntimeWatch {
    /// Watches the runtime the caller runs on.
    pub(crate) fn current() -> Self {
        let alive = Arc::new(AtomicBool::new(true));
        let Ok(handle) = Handle::try_current() else {
            return Self {
                #[cfg(feature = "memcached")]
                runtime: None,
                alive,
                _stop: None,
            };
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let guard = ClearOnDrop(Arc::clone(&alive));
        handle.spawn(async move {
            let _guard = guard;
            // Ends when the watch is dropped, or never if the runtime goes first.
            let _ = stopped.await;
        });
        Self {
            #[cfg(feature = "memcached")]
            runtime: Some(handle.id()),
            alive,
            _stop: Some(stop),
        }
    }

    /// Whether the watched runtime still runs.
    #[inline]
    pub(crate) fn runs(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Whether this watches the caller's runtime, and it still runs.
    #[cfg(feature = "memcached")]
    pub(crate) fn is_current(&self) -> bool {
        self.runs() && self.runtime == Handle::try_current().ok().map(|h| h.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn a_watch_sees_its_runtime_shut_down() {
        let a = runtime();
        let watch = a.block_on(async { RuntimeWatch::current() });
        assert!(watch.runs());
        #[cfg(feature = "memcached")]
        {
            assert!(a.block_on(async { watch.is_current() }));
            let b = runtime();
            assert!(!b.block_on(async { watch.is_current() }), "another runtime");
        }
        drop(a);
        assert!(!watch.runs(), "the runtime is gone");
        assert!(
            RuntimeWatch::current().runs(),
            "outside a runtime nothing dies"
        );
    }
}
