//! The global cache used before `setup`: in a process of its own, since
//! the global cache is set once per process.

use cashews::{Cache, ErrorKind};

#[test]
fn setup_after_the_default_global_cache_was_used_fails() {
    let default = cashews::global();
    let err = cashews::setup("mem://").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyConfigured);
    let err = cashews::set_global(Cache::from_url("mem://").unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyConfigured);
    assert!(std::ptr::eq(default, cashews::global()));
    assert!(std::ptr::eq(
        default,
        cashews::set_global(default.clone()).unwrap()
    ));
}
