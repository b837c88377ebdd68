//! Mistakes in the strategy attributes, each reported at the offending token.

#[cashews::hit(ttl = "1h")]
async fn missing_cache_hits(id: u64) -> u64 {
    id
}

#[cashews::locked(ttl = "1h", lock = "30s")]
async fn unknown_option(id: u64) -> u64 {
    id
}

#[cashews::early(ttl = "1h", early_ttl = "5 minutes")]
async fn malformed_duration(id: u64) -> u64 {
    id
}

#[cashews::rate_limit(limit = 10, period = "1m", key = "login:{user}")]
async fn unknown_parameter(id: u64) -> Result<u64, cashews::Error> {
    Ok(id)
}

#[cashews::circuit_breaker(errors_rate = 50, period = "1m", ttl = "30s", half_open_percent = 5)]
async fn percent_without_half_open(id: u64) -> Result<u64, cashews::Error> {
    Ok(id)
}

#[cashews::soft(ttl = "1h", soft_ttl = "1m")]
async fn soft_needs_a_result(id: u64) -> u64 {
    id
}

fn main() {}
