//! One server process: started under `setpriv --pdeathsig KILL`, its
//! output in a log in its own temporary directory, signalled only while it
//! is ours, and killed on drop.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;

use crate::{READY_WITHIN, StartError};

/// How often a wait for a server checks again.
pub(crate) const STEP: Duration = Duration::from_millis(10);

/// A server process, killed on drop.
///
/// Only `child` ever reaps the process, and it is cleared once it has:
/// while it is `Some`, its pid is ours (running, or a zombie not yet
/// reaped), so a signal sent to that pid never reaches another process.
pub(crate) struct Process {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    dir: TempDir,
}

impl Process {
    /// Starts `name` (looked up on `PATH`) with `args` in a new temporary
    /// directory.
    pub(crate) fn spawn(name: &'static str, args: Vec<String>) -> Result<Self, StartError> {
        let program = find_on_path(name).ok_or_else(|| {
            StartError::new(format!(
                "`{name}` is not installed (not on PATH; scripts/test installs \
                 redis-server, redis-tools and memcached)"
            ))
        })?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("cashews-{name}-"))
            .tempdir()
            .map_err(|e| StartError::new(format!("a temporary directory for {name}: {e}")))?;
        let mut process = Self {
            name,
            program,
            args,
            child: None,
            dir,
        };
        process.respawn()?;
        Ok(process)
    }

    /// The server's working directory.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Starts the program again with the same arguments and directory
    /// (after [`Process::kill`]).
    pub(crate) fn respawn(&mut self) -> Result<(), StartError> {
        let log = File::create(self.log_path())
            .and_then(|log| Ok((log.try_clone()?, log)))
            .map_err(|e| StartError::new(format!("the {} log: {e}", self.name)))?;
        let mut command = Command::new(SETPRIV);
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&self.program)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.0)
            .stderr(log.1);
        let child = spawn_from_lasting_thread(command).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                StartError::new(format!(
                    "`{SETPRIV}` (util-linux) is not installed: it ties {} to this process",
                    self.name
                ))
            } else {
                StartError::new(format!("cannot start {}: {e}", self.name))
            }
        })?;
        self.child = Some(child);
        Ok(())
    }

    /// The log so far, for failure messages.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Whether the process ended (it failed to start, or was killed).
    fn exited(&mut self) -> bool {
        let Some(child) = &mut self.child else {
            return true;
        };
        match child.try_wait() {
            Ok(None) => false,
            // Reaped (or beyond reach): its pid may be reused from now on.
            Ok(Some(_)) | Err(_) => {
                self.child = None;
                true
            }
        }
    }

    /// The pid, while the process is ours.
    pub(crate) fn pid(&self) -> Option<Pid> {
        let id = self.child.as_ref()?.id();
        Some(Pid::from_raw(i32::try_from(id).ok()?))
    }

    /// Sends `signal` to the process; panics if it was already reaped.
    pub(crate) fn signal(&self, signal: Signal) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("{} is not running: not signalled", self.name));
        kill(pid, signal).unwrap_or_else(|e| panic!("signal {} with {signal}: {e}", self.name));
    }

    /// Stops the process (SIGSTOP) and waits until every thread of it is
    /// stopped: the signal is delivered asynchronously, and a thread that
    /// is running when it is sent may still answer a request.
    pub(crate) async fn stop(&self) {
        self.signal(Signal::SIGSTOP);
        let pid = self.pid().expect("signalled just now");
        let tasks = PathBuf::from(format!("/proc/{pid}/task"));
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            let stopped = std::fs::read_dir(&tasks)
                .unwrap_or_else(|e| panic!("the threads of {}: {e}", self.name))
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
                // The state follows the parenthesised command name.
                .all(|stat| {
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, rest)| rest.starts_with('T'))
                });
            if stopped {
                return;
            }
            tokio::time::sleep(STEP).await;
        }
        panic!(
            "{} did not stop within {READY_WITHIN:?} of SIGSTOP",
            self.name
        );
    }

    /// Kills the process (SIGKILL, which also ends a stopped one) and
    /// reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until `ready` answers true, for at most [`READY_WITHIN`] of
    /// real time; fails at once if the process exits.
    pub(crate) async fn wait_ready<F, Fut>(&mut self, mut ready: F) -> Result<(), StartError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if self.exited() {
                return Err(StartError::new(format!(
                    "{} exited while starting:\n{}",
                    self.name,
                    self.log()
                )));
            }
            if ready().await {
                return Ok(());
            }
            tokio::time::sleep(STEP).await;
        }
        Err(StartError::new(format!(
            "{} did not answer within {READY_WITHIN:?}:\n{}",
            self.name,
            self.log()
        )))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs a program with a parent-death signal, then execs the server in
/// the same process (so the pid we hold is the server's).
const SETPRIV: &str = "setpriv";

/// The file `name` names on `PATH`, if any.
fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// A command to spawn and where to send the spawned child.
type SpawnRequest = (Command, mpsc::SyncSender<io::Result<Child>>);

/// Spawns `command` from one thread that lives as long as the process: the
/// kernel sends the parent-death signal when the *thread* that forked the
/// child ends, and the caller's thread (a test's, a runtime's) may end
/// before the server is dropped.
fn spawn_from_lasting_thread(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Result<mpsc::Sender<SpawnRequest>, String>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("cashews-test-servers-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| requests)
            .map_err(|e| format!("cannot start the spawner thread: {e}"))
    });
    let spawner = spawner.as_ref().map_err(|e| io::Error::other(e.clone()))?;
    let (reply, child) = mpsc::sync_channel(1);
    spawner
        .send((command, reply))
        .map_err(|_| io::Error::other("the spawner thread ended"))?;
    child
        .recv()
        .map_err(|_| io::Error::other("the spawner thread ended"))?
}

#[cfg(test)]
mod tests {
    use super::Process;

    #[test]
    fn a_missing_program_is_named_in_the_error() {
        let error = Process::spawn("cashews-no-such-server", Vec::new())
            .err()
            .expect("no such program");
        assert!(
            error
                .to_string()
                .contains("`cashews-no-such-server` is not installed"),
            "{error}"
        );
    }
}
