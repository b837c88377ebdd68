//! The process-local state of the strategies, one per [`Cache`](crate::Cache):
//! the single-flight slots of its keys, and per function the perf trace and
//! early's seeded generator. State shared by processes (locks, counters,
//! breakers) lives in the backend instead.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::panic::Location;
use std::time::Duration;

use parking_lot::Mutex;

use crate::single_flight::Flights;

/// A function, as the strategies tell functions apart: the place in the
/// source where its options are built (`Perf::new`, `Early::new` record
/// their caller). The attributes build them in the decorated function, so
/// each function has its own; a direct caller has one per place it builds
/// them.
pub(crate) type FunctionSite = &'static Location<'static>;

/// What the strategies keep in one process for one function.
#[derive(Default)]
pub(crate) struct FunctionState {
    /// Perf's last call durations, oldest first.
    pub(crate) trace: VecDeque<Duration>,
    /// Early's generator for XFetch draws, seeded on first use.
    pub(crate) rng: Option<fastrand::Rng>,
}

/// The strategies' process-local state of one cache, dropped with it.
///
/// Only misses and the strategies that keep per-function state touch it:
/// a plain cache hit never does.
#[derive(Default)]
pub(crate) struct StrategyState {
    flights: Flights,
    functions: Mutex<HashMap<FunctionSite, FunctionState, foldhash::fast::RandomState>>,
}

impl StrategyState {
    /// The single-flight slots of this cache's keys.
    pub(crate) fn flights(&self) -> &Flights {
        &self.flights
    }

    /// Runs `f` on the state of `function`, created empty on first use.
    pub(crate) fn with_function<T>(
        &self,
        function: FunctionSite,
        f: impl FnOnce(&mut FunctionState) -> T,
    ) -> T {
        f(self.functions.lock().entry(function).or_default())
    }

    /// Reads the state of `function`, if it has any.
    pub(crate) fn read_function<T>(
        &self,
        function: FunctionSite,
        f: impl FnOnce(&FunctionState) -> T,
    ) -> Option<T> {
        self.functions.lock().get(function).map(f)
    }
}
