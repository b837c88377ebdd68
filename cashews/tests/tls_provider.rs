//! Building a `rediss://` cache installs rustls's ring provider as the
//! process-wide default when none is installed; a plain `redis://` one
//! installs nothing. A test binary of its own: the default provider is
//! state of the whole process, and this one starts without any.
#![cfg(feature = "redis")]

use rustls::crypto::CryptoProvider;

#[test]
fn a_tls_cache_installs_ring_when_no_provider_is_installed() {
    assert!(CryptoProvider::get_default().is_none());

    // Building connects to nothing: no server is needed.
    cashews::Cache::from_url("redis://127.0.0.1:1").unwrap();
    assert!(
        CryptoProvider::get_default().is_none(),
        "a cache without TLS installed a provider"
    );

    cashews::Cache::from_url("rediss://127.0.0.1:1").unwrap();
    let installed = CryptoProvider::get_default().expect("no provider after a rediss:// cache");
    assert_eq!(
        installed.cipher_suites,
        rustls::crypto::ring::default_provider().cipher_suites
    );
}
