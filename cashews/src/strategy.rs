//! Strategies: what a cached call does on a hit, a miss, a failure or a
//! stampede.
//!
//! Each strategy is a plain async function over a [`Cache`](crate::Cache)
//! handle; the `#[cashews::…]` attributes only build the key and call one of
//! them, so code without macros (closures, dynamic keys) gets the same
//! behaviour.
