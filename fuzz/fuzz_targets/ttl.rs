//! TTL strings: a positive duration or an error, never a panic.
#![no_main]

use cashews::IntoTtl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(ttl) = cashews::parse_ttl(s) {
        assert!(!ttl.is_zero(), "{s:?} parsed to zero");
    }
    let _ = s.into_ttl();
});
