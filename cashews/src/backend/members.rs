//! A set of strings held in one value: sets for the backends that have
//! none (memory, memcached), read and rewritten whole.
//!
//! Layout: [`MARK`], then each member as its length (4 bytes, little
//! endian) and its UTF-8 bytes. Members are distinct.

use std::collections::HashSet;

use crate::error::{Error, ErrorKind, Result};

/// Starts every set value, so that a key holding another value reads as
/// "not a set" (Redis's `WRONGTYPE`) rather than as members.
const MARK: &[u8] = b"\xffcashews:set:1\n";

/// The members of a set value; `None` if `value` is not one.
pub(crate) fn decode(value: &[u8]) -> Option<Vec<&str>> {
    let mut rest = value.strip_prefix(MARK)?;
    let mut members = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let member = tail.get(..len)?;
        members.push(std::str::from_utf8(member).ok()?);
        rest = tail.get(len..)?;
    }
    Some(members)
}

/// The value holding `members` (assumed distinct).
pub(crate) fn encode<'a>(members: impl IntoIterator<Item = &'a str>) -> Result<Vec<u8>> {
    let mut out = MARK.to_vec();
    for member in members {
        let len = u32::try_from(member.len())
            .map_err(|_| Error::new(ErrorKind::Encode, "a set member over 4 GiB"))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(member.as_bytes());
    }
    Ok(out)
}

/// The set value `current` (none: an empty set) with `added` in it, or
/// `None` when every one of them is a member already.
pub(crate) fn add(key: &str, current: Option<&[u8]>, added: &[&str]) -> Result<Option<Vec<u8>>> {
    let mut members = match current {
        Some(value) => decode(value).ok_or_else(|| not_a_set(key))?,
        None => Vec::new(),
    };
    let mut seen: HashSet<&str> = members.iter().copied().collect();
    let before = members.len();
    members.extend(added.iter().copied().filter(|m| seen.insert(m)));
    if members.len() == before && current.is_some() {
        return Ok(None);
    }
    encode(members).map(Some)
}

/// The set value `current` without `removed`, and how many of them were
/// members; an empty set is `None` (the key goes).
pub(crate) fn remove(
    key: &str,
    current: &[u8],
    removed: &[&str],
) -> Result<(Option<Vec<u8>>, u64)> {
    let members = decode(current).ok_or_else(|| not_a_set(key))?;
    let removed: HashSet<&str> = removed.iter().copied().collect();
    let kept: Vec<&str> = members
        .iter()
        .copied()
        .filter(|m| !removed.contains(m))
        .collect();
    let count = (members.len() - kept.len()) as u64;
    if kept.is_empty() {
        return Ok((None, count));
    }
    Ok((Some(encode(kept)?), count))
}

/// The error of a set command on a key that holds another kind of value.
pub(crate) fn not_a_set(key: &str) -> Error {
    Error::new(
        ErrorKind::Backend,
        format!("{key:?} holds a value that is not a set"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn members_round_trip_and_stay_distinct(
            first in proptest::collection::vec(".{0,6}", 0..8),
            second in proptest::collection::vec(".{0,6}", 0..8),
        ) {
            let first: Vec<&str> = first.iter().map(String::as_str).collect();
            let second: Vec<&str> = second.iter().map(String::as_str).collect();
            let one = add("k", None, &first).unwrap().unwrap();
            let both = add("k", Some(&one), &second).unwrap().unwrap_or(one);
            let mut members = decode(&both).unwrap();
            members.sort_unstable();
            let mut expected: Vec<&str> = first.iter().chain(&second).copied().collect();
            expected.sort_unstable();
            expected.dedup();
            proptest::prop_assert_eq!(&members, &expected);
            let (rest, count) = remove("k", &both, &first).unwrap();
            let distinct_first: HashSet<&str> = first.iter().copied().collect();
            proptest::prop_assert_eq!(count, distinct_first.len() as u64);
            let rest = rest.as_deref().map_or_else(Vec::new, |r| decode(r).unwrap());
            proptest::prop_assert!(rest.iter().all(|m| !distinct_first.contains(m)));
            proptest::prop_assert_eq!(rest.len(), expected.len() - distinct_first.len());
        }
    }

    #[test]
    fn other_values_are_not_sets() {
        for value in [&b""[..], b"plain", b"\xffcashews:set:1\n\x05\0\0\0ab"] {
            assert!(decode(value).is_none(), "{value:?}");
            assert!(add("k", Some(value), &["m"]).is_err());
        }
    }
}
