//! `cache_errors` and `time_condition` mistakes, each reported at the
//! option or the type that causes it.

#[derive(Debug)]
struct NotSerde;

#[cashews::cache(ttl = "1m", cache_errors = true)]
async fn unstorable_error(id: u32) -> Result<u32, NotSerde> {
    if id == 0 { Err(NotSerde) } else { Ok(id) }
}

#[cashews::cache(ttl = "1m", cache_errors = true)]
async fn no_errors_to_store(id: u32) -> u32 {
    id
}

#[cashews::cache(ttl = "1m", time_condition = "200 ms")]
async fn malformed_time_condition(id: u32) -> u32 {
    id
}

#[cashews::cache(ttl = "1m", time_condition = |v| v)]
async fn closure_time_condition(id: u32) -> u32 {
    id
}

#[cashews::cache(ttl = "1m", cache_errors = "all")]
async fn string_cache_errors(id: u32) -> Result<u32, String> {
    Ok(id)
}

#[cashews::cache(ttl = "1m", cache_errors = [])]
async fn empty_cache_errors(id: u32) -> Result<u32, String> {
    Ok(id)
}

fn main() {}
