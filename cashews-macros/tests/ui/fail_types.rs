//! Mistakes the type checker finds in the generated code, with messages
//! that say how to fix them.

struct Point {
    x: i32,
    y: i32,
}

#[cashews::cache(ttl = "1m")]
async fn not_a_key_arg(point: Point) -> i32 {
    point.x + point.y
}

#[cashews::cache(ttl = "1m", key = "{user.id}")]
async fn by_user(user: &Point) -> i32 {
    user.x
}

fn main() {}
