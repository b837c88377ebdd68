//! Setup URLs: any string is settings or an error naming the problem.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|url: &str| {
    if let Ok(settings) = cashews::Settings::from_url(url) {
        // Accepted settings build a cache (no connection is made yet).
        let _ = cashews::CacheBuilder::from_settings(&settings);
    }
});
