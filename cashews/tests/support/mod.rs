//! Shared by the integration test suites.
#![allow(dead_code, unreachable_pub)]

pub mod conformance;
pub mod logs;
#[cfg(feature = "redis")]
pub mod monitor;
pub mod outage;
pub mod servers;
pub mod values;
