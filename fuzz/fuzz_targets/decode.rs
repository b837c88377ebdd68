//! Stored values from a hostile backend: decoding arbitrary bytes as a few
//! types, unsigned and signed (the payload signed, so that decoding reaches
//! it), is a value or a miss, never a panic or a stack overflow.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
enum Tree {
    Leaf(i64),
    Node(Box<Tree>),
    Pair(Box<Tree>, Box<Tree>),
    Named { children: Vec<Tree> },
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Record {
    id: u64,
    name: String,
    #[serde(flatten)]
    rest: HashMap<String, serde_json::Value>,
}

fn decode_all(hash_key: Option<&str>, bytes: &[u8]) {
    use cashews::__private::codec::decode;
    let _ = decode::<i64>(hash_key, "k", bytes);
    let _ = decode::<u64>(hash_key, "k", bytes);
    let _ = decode::<Option<u8>>(hash_key, "k", bytes);
    let _ = decode::<String>(hash_key, "k", bytes);
    let _ = decode::<Vec<u8>>(hash_key, "k", bytes);
    let _ = decode::<Tree>(hash_key, "k", bytes);
    let _ = decode::<Record>(hash_key, "k", bytes);
    let _ = decode::<serde_json::Value>(hash_key, "k", bytes);
}

fuzz_target!(|bytes: &[u8]| {
    decode_all(None, bytes);
    decode_all(Some("secret"), bytes);
    decode_all(
        Some("secret"),
        &cashews::__private::codec::sign("secret", "k", bytes),
    );
});
