//! How typed values become bytes and back, optionally signed.
//!
//! Layout of a stored value:
//!
//! | first byte | rest | written when |
//! |---|---|---|
//! | `0x01` | MessagePack | no `hash_key` |
//! | `0x02` | 32-byte MAC, then MessagePack | `hash_key` set |
//! | `-` or a digit | a decimal integer | an integer (any width, also in `Some` or a newtype) is stored without `hash_key`, or `incr` |
//!
//! The format is MessagePack through `rmp-serde`, with structs written as
//! maps (field names included): it is self-describing, so `flatten`,
//! `untagged` and `skip_serializing_if` round-trip and added fields do not
//! break old values, while staying compact and several times faster to decode
//! than JSON. Integers are stored as decimal text, as Redis keeps counters, so
//! `incr` works on a value that `set` wrote, and decimal text reads back as
//! any integer type that holds it, an `Option` of one or a newtype over one
//! (see [`integer`]).
//!
//! Signed values are never counters: `incr` cannot keep a MAC, so on a cache
//! with `hash_key` it fails on a value that `set` wrote (`Cache::incr` says
//! so), and the counters it creates are unsigned decimal text, which `get`
//! rejects there.
//!
//! The MAC is BLAKE3 in keyed mode over the key and the payload (see
//! [`signer`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

mod depth;
mod integer;
pub(crate) mod signer;

use signer::{MAC_LEN, Signer};

const PLAIN: u8 = 0x01;
const SIGNED: u8 = 0x02;

/// Why a stored value was not returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// The value does not decode as the requested type.
    Type,
    /// A `hash_key` is set and the value carries no signature.
    Unsigned,
    /// The signature does not match the key and payload.
    BadSignature,
    /// The bytes are not in any format this crate writes.
    Corrupt,
    /// The value nests deeper than [`depth::MAX_DEPTH`] arrays and maps.
    TooDeep,
}

impl Rejected {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Type => "does not decode as the requested type",
            Self::Unsigned => "is not signed",
            Self::BadSignature => "has a bad signature",
            Self::Corrupt => "is not in a known format",
            Self::TooDeep => "nests too deeply to decode",
        }
    }
}

/// Encodes and decodes values for one cache; holds the signing key if any.
#[derive(Clone, Debug)]
pub(crate) struct Codec {
    signer: Option<Signer>,
    /// What [`id`](Self::id) answers, fixed with the signer.
    id: u64,
}

impl Codec {
    pub(crate) fn new(hash_key: Option<&str>) -> Self {
        let signer = hash_key.map(Signer::new);
        Self {
            id: signer.as_ref().map_or(0, Signer::fingerprint),
            signer,
        }
    }

    /// Tells codecs apart that would decode the same bytes differently:
    /// 0 without signing, else a fingerprint of the signing key.
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn is_signed(&self) -> bool {
        self.signer.is_some()
    }

    /// Whether `bytes` hold a signed value (which `incr` cannot count on).
    pub(crate) fn holds_signed(bytes: &[u8]) -> bool {
        bytes.first() == Some(&SIGNED)
    }

    /// Bytes to store `value` under `key` (the full key, prefix included).
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(key, value, &mut out)?;
        Ok(out)
    }

    /// [`encode`](Self::encode) into `out` (cleared first), so that a
    /// caller can reuse one buffer for many values.
    #[allow(
        clippy::indexing_slicing,
        reason = "`out` holds the header (`header` bytes) before the payload is appended"
    )]
    pub(crate) fn encode_into<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        out.clear();
        if self.signer.is_none() && integer::write_text(value, out) {
            return Ok(());
        }
        out.push(PLAIN);
        if self.signer.is_some() {
            out[0] = SIGNED;
            out.extend_from_slice(&[0; MAC_LEN]);
        }
        let header = out.len();
        rmp_serde::encode::write_named(out, value).map_err(|e| {
            Error::new(ErrorKind::Encode, format!("value for {key:?}")).with_source(e)
        })?;
        if !depth::within_limit(out.get(header..).unwrap_or_default()) {
            return Err(Error::new(
                ErrorKind::Encode,
                format!(
                    "value for {key:?} nests deeper than {} arrays and maps; it could not be read back",
                    depth::MAX_DEPTH
                ),
            ));
        }
        if let Some(signer) = &self.signer {
            let mac = signer.sign(key, &out[header..]);
            out[1..header].copy_from_slice(&mac);
        }
        Ok(())
    }

    /// A MessagePack `payload` as a signed value under `key` (for the
    /// fuzz targets: their payloads are not written by `encode`). An
    /// unsigned codec marks it plain.
    pub(crate) fn sign_payload(&self, key: &str, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + MAC_LEN + payload.len());
        match &self.signer {
            Some(signer) => {
                out.push(SIGNED);
                out.extend_from_slice(&signer.sign(key, payload));
            }
            None => out.push(PLAIN),
        }
        out.extend_from_slice(payload);
        out
    }

    /// The value stored as `bytes` under `key`, or why it was rejected.
    #[allow(
        clippy::indexing_slicing,
        reason = "each slice follows a check that `bytes` is that long"
    )]
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        key: &str,
        bytes: &[u8],
    ) -> Result<T, Rejected> {
        let payload = match bytes.first() {
            Some(&PLAIN) if self.signer.is_none() => &bytes[1..],
            Some(&PLAIN) => return Err(Rejected::Unsigned),
            Some(&SIGNED) => {
                let body = bytes.get(1 + MAC_LEN..).ok_or(Rejected::Corrupt)?;
                if let Some(signer) = &self.signer {
                    let mac: &[u8; MAC_LEN] = bytes[1..1 + MAC_LEN]
                        .try_into()
                        .map_err(|_| Rejected::Corrupt)?;
                    if !signer.verify(key, body, mac) {
                        return Err(Rejected::BadSignature);
                    }
                }
                body
            }
            Some(b'-' | b'0'..=b'9') => {
                if self.signer.is_some() {
                    return Err(Rejected::Unsigned);
                }
                return integer::decode(bytes);
            }
            _ => return Err(Rejected::Corrupt),
        };
        if !depth::within_limit(payload) {
            return Err(Rejected::TooDeep);
        }
        rmp_serde::from_slice(payload).map_err(|_| Rejected::Type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_stored_as_decimal_text() {
        let codec = Codec::new(None);
        for n in [0i64, 7, -1, 300, -40_000, i64::MAX, i64::MIN] {
            let bytes = codec.encode("k", &n).unwrap();
            assert_eq!(bytes, n.to_string().into_bytes());
            assert_eq!(codec.decode::<i64>("k", &bytes), Ok(n));
        }
        assert_eq!(
            codec.encode("k", &u64::MAX).unwrap(),
            u64::MAX.to_string().into_bytes()
        );
        assert_eq!(
            codec.decode::<u64>("k", b"18446744073709551615"),
            Ok(u64::MAX)
        );
        assert_eq!(codec.decode::<u8>("k", b"300"), Err(Rejected::Type));
        assert_eq!(codec.decode::<String>("k", b"12"), Err(Rejected::Type));
    }

    #[test]
    fn non_integers_use_msgpack() {
        let codec = Codec::new(None);
        let bytes = codec.encode("k", "12").unwrap();
        assert_eq!(bytes[0], PLAIN);
        assert_eq!(codec.decode::<String>("k", &bytes).unwrap(), "12");
        assert_eq!(
            codec.decode::<f64>("k", &codec.encode("k", &1.5).unwrap()),
            Ok(1.5)
        );
        assert_eq!(
            codec.decode::<bool>("k", &codec.encode("k", &true).unwrap()),
            Ok(true)
        );
    }

    #[test]
    fn signed_values_are_bound_to_their_key() {
        let codec = Codec::new(Some("secret"));
        let bytes = codec.encode("a", &5).unwrap();
        assert_eq!(bytes[0], SIGNED);
        assert_eq!(codec.decode::<i32>("a", &bytes), Ok(5));
        assert_eq!(
            codec.decode::<i32>("b", &bytes),
            Err(Rejected::BadSignature)
        );
        let other = Codec::new(Some("other secret"));
        assert_eq!(
            other.decode::<i32>("a", &bytes),
            Err(Rejected::BadSignature)
        );
        let mut tampered = bytes.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            codec.decode::<i32>("a", &tampered),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            codec.decode::<i32>("a", &bytes[..10]),
            Err(Rejected::Corrupt)
        );
        let unsigned = Codec::new(None);
        assert_eq!(
            codec.decode::<i32>("a", &unsigned.encode("a", &5).unwrap()),
            Err(Rejected::Unsigned)
        );
        assert_eq!(
            codec.decode::<String>("a", &unsigned.encode("a", "x").unwrap()),
            Err(Rejected::Unsigned)
        );
        // Without a key, signed values still read (signing can be turned off).
        assert_eq!(unsigned.decode::<i32>("a", &bytes), Ok(5));
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        let codec = Codec::new(None);
        assert_eq!(codec.decode::<i32>("k", b""), Err(Rejected::Corrupt));
        assert_eq!(
            codec.decode::<i32>("k", b"\xff\x00"),
            Err(Rejected::Corrupt)
        );
        assert_eq!(codec.decode::<i32>("k", b"12abc"), Err(Rejected::Corrupt));
        assert_eq!(
            codec.decode::<String>("k", b"\x01\xc1"),
            Err(Rejected::Type)
        );
    }
}
