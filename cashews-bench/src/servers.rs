//! The harness's own `redis-server` and `memcached`: each on a free loopback
//! port (never the default 6379 / 11211, so a server of the machine is never
//! touched), in a temporary directory, and killed when dropped, also when
//! the harness panics.
//!
//! Starting fails with a message instead of a panic (a missing binary, a
//! server that never answers): the harness notes it and skips those rows.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server gets to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running server, killed on drop.
pub(crate) struct Server {
    child: Child,
    /// The server's working directory and log; removed after the kill.
    _dir: TempDir,
    url: String,
}

impl Server {
    /// The setup URL of a cache on this server.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`, for the raw clients.
    pub(crate) fn addr(&self) -> &str {
        self.url
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('/')
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL: nothing of these servers is worth keeping.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` with persistence off.
pub(crate) fn redis() -> Result<Server, String> {
    start(
        "redis-server",
        "redis://127.0.0.1:{port}/",
        "INFO server\r\n",
        "process_id:",
        |port, dir| {
            vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--save".into(),
                String::new(),
                "--appendonly".into(),
                "no".into(),
                "--dir".into(),
                dir.to_owned(),
            ]
        },
    )
}

/// A `memcached` on TCP only.
pub(crate) fn memcached() -> Result<Server, String> {
    start(
        "memcached",
        "memcached://127.0.0.1:{port}",
        "stats\r\n",
        "STAT pid ",
        |port, _| {
            let mut args: Vec<String> = ["-l", "127.0.0.1", "-p", &port.to_string(), "-U", "0"]
                .map(str::to_owned)
                .into();
            // memcached refuses to run as root unless told which user to be.
            if nix::unistd::geteuid().is_root() {
                args.extend(["-u".to_owned(), "root".to_owned()]);
            }
            args
        },
    )
}

/// Starts `program` with `args(port, dir)` and waits until it answers
/// `probe` with `pid_field` followed by its own process id: another
/// process's server that took the port first would answer there too, while
/// ours exits. `url` has `{port}` in it.
fn start(
    program: &str,
    url: &str,
    probe: &str,
    pid_field: &str,
    args: impl Fn(u16, &str) -> Vec<String>,
) -> Result<Server, String> {
    let mut last = String::new();
    // The port is free when chosen, but another process may take it before
    // the server binds it: try again with another.
    for _ in 0..3 {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cashews-bench-{program}-"))
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory for {program}: {e}"))?;
        let port =
            free_port().map_err(|e| format!("cannot find a free port for {program}: {e}"))?;
        let log_path = dir.path().join("server.log");
        let log =
            File::create(&log_path).map_err(|e| format!("cannot create the {program} log: {e}"))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot create the {program} log: {e}"))?;
        let child = Command::new(program)
            .args(args(port, &dir.path().to_string_lossy()))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("`{program}` is not installed (not on PATH)"));
            }
            Err(e) => return Err(format!("cannot start `{program}`: {e}")),
        };
        // From here on, `server` kills the process on every way out.
        let mut server = Server {
            child,
            _dir: dir,
            url: url.replace("{port}", &port.to_string()),
        };
        let ours = format!("{pid_field}{}\r\n", server.child.id());
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if ask(port, probe).is_some_and(|answer| answer.contains(&ours)) {
                return Ok(server);
            }
            if server.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        last = format!(
            "`{program}` did not answer on port {port} within {READY_WITHIN:?}: {}",
            log.trim().lines().last().unwrap_or("(empty log)")
        );
    }
    Err(last)
}

/// A loopback port nobody listens on right now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends `request` and returns the start of the answer (one read), if any.
fn ask(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = [0; 4096];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}
