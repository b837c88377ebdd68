//! Shared by the integration test suites.
#![allow(dead_code, unreachable_pub)]

pub mod conformance;
pub mod servers;
pub mod values;
