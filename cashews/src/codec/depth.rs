//! How deeply a MessagePack value nests, found without recursion.
//!
//! Decoding recurses once per level of nesting, and rmp-serde's own limit
//! (1,024 levels) skips enum variants and lets debug builds overflow a
//! 2 MiB stack, so values are checked before they are decoded.

/// The deepest nesting of arrays and maps a stored value may have, as
/// serde_json's default recursion limit.
pub(crate) const MAX_DEPTH: usize = 128;

/// Whether the MessagePack value at the start of `msgpack` nests at most
/// [`MAX_DEPTH`] arrays and maps deep.
///
/// Malformed or truncated input counts only as deep as it goes: the
/// decoder stops at the same byte.
pub(crate) fn within_limit(msgpack: &[u8]) -> bool {
    // Each level takes at least a byte, so a short value cannot be too deep.
    if msgpack.len() <= MAX_DEPTH {
        return true;
    }
    // Items left to read in each open container, innermost last; the
    // outermost "container" holds the one top-level value.
    let mut open = arrayvec::ArrayVec::<u64, { MAX_DEPTH + 1 }>::new();
    open.push(1);
    let mut rest = msgpack;
    loop {
        // Close every finished container.
        while open.last() == Some(&0) {
            open.pop();
        }
        let Some(left) = open.last_mut() else {
            return true;
        };
        *left -= 1;
        let Some((&marker, tail)) = rest.split_first() else {
            return true;
        };
        rest = tail;
        let items = match marker {
            0x80..=0x8f => 2 * u64::from(marker & 0x0f),
            0x90..=0x9f => u64::from(marker & 0x0f),
            0xdc => read_len(&mut rest, 2),
            0xdd => read_len(&mut rest, 4),
            0xde => 2 * read_len(&mut rest, 2),
            0xdf => 2 * read_len(&mut rest, 4),
            _ => {
                let Some(skip) = scalar_len(marker, &mut rest) else {
                    return true;
                };
                rest = rest.get(skip..).unwrap_or_default();
                continue;
            }
        };
        if items > 0 && open.try_push(items).is_err() {
            return false;
        }
    }
}

/// The bytes after `marker` (and its length field, consumed from `rest`)
/// that a scalar takes; `None` for the reserved marker.
fn scalar_len(marker: u8, rest: &mut &[u8]) -> Option<usize> {
    let len = match marker {
        0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => 0,
        0xa0..=0xbf => usize::from(marker & 0x1f),
        0xc4 | 0xd9 => data_len(rest, 1),
        0xc5 | 0xda => data_len(rest, 2),
        0xc6 | 0xdb => data_len(rest, 4),
        // Extensions: a length, then a type byte and the data.
        0xc7 => data_len(rest, 1).saturating_add(1),
        0xc8 => data_len(rest, 2).saturating_add(1),
        0xc9 => data_len(rest, 4).saturating_add(1),
        0xcc | 0xd0 => 1,
        0xcd | 0xd1 => 2,
        0xca | 0xce | 0xd2 => 4,
        0xcb | 0xcf | 0xd3 => 8,
        0xd4 => 2,
        0xd5 => 3,
        0xd6 => 5,
        0xd7 => 9,
        0xd8 => 17,
        _ => return None,
    };
    Some(len)
}

/// [`read_len`] as a byte count.
fn data_len(rest: &mut &[u8], width: usize) -> usize {
    usize::try_from(read_len(rest, width)).unwrap_or(usize::MAX)
}

/// A big-endian length of `width` (1, 2 or 4) bytes, consumed from
/// `rest`; 0 if `rest` is shorter.
fn read_len(rest: &mut &[u8], width: usize) -> u64 {
    let Some((digits, tail)) = rest.split_at_checked(width) else {
        *rest = &[];
        return 0;
    };
    *rest = tail;
    digits
        .iter()
        .fold(0, |len, &byte| (len << 8) | u64::from(byte))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_arrays(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0x91; depth];
        bytes.push(0x01);
        bytes
    }

    #[test]
    fn counts_arrays_maps_and_skips_scalars() {
        assert!(within_limit(&nested_arrays(MAX_DEPTH)));
        assert!(!within_limit(&nested_arrays(MAX_DEPTH + 1)));
        // Maps nest through their values; long strings and binaries are
        // skipped whole, so their bytes are not read as markers.
        let mut maps = Vec::new();
        for _ in 0..MAX_DEPTH + 1 {
            maps.extend_from_slice(&[0x81, 0xa1, b'k']);
        }
        maps.push(0xc0);
        assert!(!within_limit(&maps));
        let mut flat = vec![0x92, 0xc5, 0x01, 0x00];
        flat.extend_from_slice(&[0x91; 256]);
        flat.push(0x01);
        assert!(within_limit(&flat));
    }

    #[test]
    fn malformed_input_ends_the_scan() {
        assert!(within_limit(&[0xc1; 1000]));
        let mut truncated = nested_arrays(MAX_DEPTH);
        truncated.truncate(MAX_DEPTH);
        truncated.extend_from_slice(&[0xdb, 0xff]);
        assert!(within_limit(&truncated));
        assert!(within_limit(&[0xdf, 0xff, 0xff, 0xff, 0xff]));
    }
}
