//! A cached method in a trait impl: the impl can hold only the trait's
//! items, so the companion must be left out (`companion = false`), and a
//! companion that is not a bool is refused.

trait Directory {
    async fn title(&self, id: u64) -> String;
    async fn name(&self, id: u64) -> String;
}

struct Staff;

impl Directory for Staff {
    #[cashews::cache(ttl = "1m", key = "title:{id}")]
    async fn title(&self, id: u64) -> String {
        id.to_string()
    }

    #[cashews::cache(ttl = "1m", key = "name:{id}", companion = "no")]
    async fn name(&self, id: u64) -> String {
        id.to_string()
    }
}

fn main() {}
