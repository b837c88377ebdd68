//! Keyed MACs that bind a stored value to its key.
//!
//! BLAKE3 in keyed mode: a proper MAC (no length-extension weakness), fast
//! on short inputs, and its `Hash` compares in constant time. The 32-byte
//! MAC key is derived from the user's `hash_key` of any length.

pub(crate) const MAC_LEN: usize = 32;

/// Signs and verifies values for one `hash_key`.
#[derive(Clone)]
pub(crate) struct Signer {
    mac_key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    pub(crate) fn new(hash_key: &str) -> Self {
        Self {
            mac_key: blake3::derive_key("cashews-rs 2026 stored value MAC", hash_key.as_bytes()),
        }
    }

    /// A non-secret fingerprint of the MAC key (never 0).
    pub(crate) fn fingerprint(&self) -> u64 {
        let h = blake3::hash(&self.mac_key);
        h.as_bytes()
            .first_chunk::<8>()
            .map_or(0, |first| u64::from_le_bytes(*first))
            | 1
    }

    /// The MAC of `payload` stored under `key`. The key's length goes first so
    /// that no (key, payload) pair can be re-split into another.
    pub(crate) fn sign(&self, key: &str, payload: &[u8]) -> [u8; MAC_LEN] {
        *self.hash(key, payload).as_bytes()
    }

    /// Whether `mac` is the MAC of `payload` under `key`, compared in constant time.
    pub(crate) fn verify(&self, key: &str, payload: &[u8], mac: &[u8; MAC_LEN]) -> bool {
        self.hash(key, payload) == blake3::Hash::from_bytes(*mac)
    }

    fn hash(&self, key: &str, payload: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.mac_key);
        h.update(&(key.len() as u64).to_le_bytes());
        h.update(key.as_bytes());
        h.update(payload);
        h.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_payload_cannot_be_re_split() {
        let s = Signer::new("k");
        assert_ne!(s.sign("ab", b"c"), s.sign("a", b"bc"));
        assert!(s.verify("ab", b"c", &s.sign("ab", b"c")));
        assert!(!s.verify("a", b"bc", &s.sign("ab", b"c")));
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", Signer::new("secret")), "Signer(***)");
    }
}
