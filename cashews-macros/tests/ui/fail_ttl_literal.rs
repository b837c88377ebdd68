//! A malformed ttl literal fails the build, pointing at the literal.

#[cashews::cache(ttl = "1h30")]
async fn trailing_digits(id: u64) -> u64 {
    id
}

fn main() {}
