//! An application's own rustls provider, installed before its first
//! `rediss://` cache is built, stays the process-wide default. A test
//! binary of its own: the default provider is state of the whole process.
#![cfg(feature = "redis")]

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

#[test]
fn a_tls_cache_keeps_the_provider_the_application_installed() {
    // One cipher suite: told apart from the provider cashews would install.
    let mut own = rustls::crypto::ring::default_provider();
    own.cipher_suites.truncate(1);
    own.install_default().unwrap();
    let own = Arc::clone(CryptoProvider::get_default().unwrap());

    cashews::Cache::from_url("rediss://127.0.0.1:1").unwrap();
    cashews::Cache::from_url("rediss://127.0.0.1:2/?cluster=1").unwrap();

    let default = CryptoProvider::get_default().unwrap();
    assert!(Arc::ptr_eq(&own, default));
    assert_eq!(default.cipher_suites.len(), 1);
}
