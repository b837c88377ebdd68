//! What a Redis server was asked: `MONITOR`, for tests of round trips.

use super::servers::RedisServer;

/// The commands clients sent, as `MONITOR` shows them, from its start
/// until [`Monitor::commands`] (commands run by scripts are left out).
pub struct Monitor {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::net::TcpStream>>,
}

impl Monitor {
    pub async fn start(server: &RedisServer) -> Self {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        stream.write_all(b"MONITOR\r\n").await.unwrap();
        let mut lines = tokio::io::BufReader::new(stream).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));
        Self { lines }
    }

    /// Each command's name until now: a raw client sends `ECHO <mark>`,
    /// and the stream is read up to it.
    pub async fn commands(mut self, server: &RedisServer) -> Vec<String> {
        const MARK: &str = "end-of-test";
        let mut raw = server.raw().await;
        let _: String = redis::cmd("ECHO")
            .arg(MARK)
            .query_async(&mut raw)
            .await
            .unwrap();
        let mut commands = Vec::new();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            // `+1700000000.123456 [0 127.0.0.1:5000] "evalsha" "…" …`, or
            // `[0 lua]` for a command a script ran.
            let Some((source, command)) = line.split_once("] ") else {
                continue;
            };
            if source.ends_with(" lua") {
                continue;
            }
            let name = command.split('"').nth(1).unwrap_or_default().to_lowercase();
            if name == "echo" && command.contains(MARK) {
                return commands;
            }
            commands.push(name);
        }
        panic!("the monitor stream ended before the mark");
    }
}
