//! Mistakes the attributes report themselves, each at the offending token.

#[cashews::cache(key = "user:{id}")]
async fn missing_ttl(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m", key = "user:{user_id}")]
async fn unknown_parameter(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m", tll = "1m")]
async fn unknown_option(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m")]
fn not_async(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m", key = "user:{id:shout}")]
async fn unknown_filter(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = 0)]
async fn zero_ttl(id: u64) -> u64 {
    id
}

#[cashews::cache(ttl = "1m")]
async fn unnamed_parameter((a, b): (u8, u8)) -> u8 {
    a + b
}

#[cashews::invalidate(forget_me)]
async fn bad_target() {}

#[cashews::invalidate((get_user)(1))]
async fn target_not_a_path() {}

#[cashews::cache(ttl = "1m", key = "acl:{a}-{b}")]
async fn joined_values(a: &str, b: &str) -> usize {
    a.len() + b.len()
}

fn main() {}
