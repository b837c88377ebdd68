//! Scoped switches: turn caching off (all commands or chosen ones) for one
//! task and what it awaits, without touching any other task.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> cashews::Result<()> {
//! use cashews::switch::{self, Command};
//!
//! let cache = cashews::Cache::from_url("mem://")?;
//! cache.set("k", &1, 60).await?;
//! // Inside the scope reads miss, so decorated functions run for real.
//! let inside: Option<i32> = switch::disabled(cache.get("k")).await?;
//! assert_eq!(inside, None);
//! // Only `set` is off: reads still hit, writes are dropped.
//! switch::disabled_commands(Command::Set.into(), async {
//!     assert_eq!(cache.get::<i32>("k").await?, Some(1));
//!     assert!(!cache.set("k", &2, 60).await?);
//!     cashews::Result::Ok(())
//! })
//! .await?;
//! assert_eq!(cache.get::<i32>("k").await?, Some(1));
//! # Ok(()) }
//! ```
//!
//! # Scope
//!
//! The switch is a tokio task-local: it covers the future passed to
//! [`disabled`] and everything that future awaits, including work in
//! `join!`/`select!`. A task started with `tokio::spawn` is a new task and
//! does **not** inherit it. The background tasks the strategies spawn
//! themselves (early refresh, hit refresh, lock release) carry the scope of
//! the call that spawned them. For your own spawns, wrap the future in
//! [`inherit`]: `tokio::spawn(switch::inherit(fut))`. Threads and
//! `spawn_blocking` never see the switch.
//!
//! A disabled command behaves as with `enable=0`: reads miss, writes store
//! nothing, counters read 0, and no backend is contacted.

use std::fmt;
use std::future::Future;
use std::ops::{BitOr, BitOrAssign};
use std::sync::atomic::{AtomicBool, Ordering};

tokio::task_local! {
    static DISABLED: Commands;
}

/// Whether any task has ever entered a switch scope in this process: until
/// one has, no task can have a command off, and [`allows`] needs no
/// task-local read. Set before the scope is entered, so the scoped future
/// (and whatever inherits its scope) sees it.
static EVER_SCOPED: AtomicBool = AtomicBool::new(false);

/// Runs `fut` with `disabled` as the current task's switched-off commands.
fn scope<F: Future>(disabled: Commands, fut: F) -> impl Future<Output = F::Output> {
    EVER_SCOPED.store(true, Ordering::Relaxed);
    DISABLED.scope(disabled, fut)
}

/// A cache command, as switched by [`disabled_commands`].
///
/// Each variant covers the [`Cache`](crate::Cache) method of the same name;
/// [`Cache::is_locked`](crate::Cache::is_locked) is [`Command::Exists`] and
/// [`Cache::lock`](crate::Cache::lock) is [`Command::SetLock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Command {
    /// `get`.
    Get,
    /// `get_many`.
    GetMany,
    /// `set`, `set_if` and the write of `get_or_set`.
    Set,
    /// `set_many`.
    SetMany,
    /// `delete`.
    Delete,
    /// `delete_many`.
    DeleteMany,
    /// `delete_match`.
    DeleteMatch,
    /// `scan`.
    Scan,
    /// `get_match`.
    GetMatch,
    /// `exists` and `is_locked`.
    Exists,
    /// `incr`.
    Incr,
    /// `expire`.
    Expire,
    /// `get_expire`.
    GetExpire,
    /// `clear`.
    Clear,
    /// `set_lock` and `lock`.
    SetLock,
    /// `unlock` and lock release.
    Unlock,
    /// `get_size`.
    GetSize,
    /// `get_keys_count`.
    GetKeysCount,
}

impl Command {
    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A set of [`Command`]s: `Command::Get | Command::Set`, or [`Commands::ALL`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Commands(u32);

impl Commands {
    /// No command.
    pub const NONE: Self = Self(0);
    /// Every command.
    pub const ALL: Self = Self(u32::MAX);
    /// The reads: `get`, `get_many`, `get_match`, `scan`, `exists`, `get_expire`.
    pub const READS: Self = Self(
        Command::Get.bit()
            | Command::GetMany.bit()
            | Command::GetMatch.bit()
            | Command::Scan.bit()
            | Command::Exists.bit()
            | Command::GetExpire.bit(),
    );
    /// The writes: `set`, `set_many`, `incr`, `expire`.
    pub const WRITES: Self = Self(
        Command::Set.bit() | Command::SetMany.bit() | Command::Incr.bit() | Command::Expire.bit(),
    );

    /// Whether `command` is in the set.
    pub const fn contains(self, command: Command) -> bool {
        self.0 & command.bit() != 0
    }

    /// The commands in `self` or in `other`.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The commands in `self` but not in `other`.
    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl fmt::Debug for Commands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const EACH: [Command; 18] = [
            Command::Get,
            Command::GetMany,
            Command::Set,
            Command::SetMany,
            Command::Delete,
            Command::DeleteMany,
            Command::DeleteMatch,
            Command::Scan,
            Command::GetMatch,
            Command::Exists,
            Command::Incr,
            Command::Expire,
            Command::GetExpire,
            Command::Clear,
            Command::SetLock,
            Command::Unlock,
            Command::GetSize,
            Command::GetKeysCount,
        ];
        f.debug_set()
            .entries(EACH.iter().filter(|c| self.contains(**c)))
            .finish()
    }
}

impl From<Command> for Commands {
    fn from(command: Command) -> Self {
        Self(command.bit())
    }
}

impl BitOr for Commands {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl BitOr<Command> for Commands {
    type Output = Self;
    fn bitor(self, rhs: Command) -> Self {
        self.union(rhs.into())
    }
}

impl BitOr for Command {
    type Output = Commands;
    fn bitor(self, rhs: Self) -> Commands {
        Commands::from(self).union(rhs.into())
    }
}

impl BitOrAssign<Command> for Commands {
    fn bitor_assign(&mut self, rhs: Command) {
        *self = self.union(rhs.into());
    }
}

/// Runs `fut` with every cache command off.
pub async fn disabled<F: Future>(fut: F) -> F::Output {
    disabled_commands(Commands::ALL, fut).await
}

/// Runs `fut` with `commands` off, in addition to those an enclosing scope
/// already switched off.
pub async fn disabled_commands<F: Future>(commands: Commands, fut: F) -> F::Output {
    scope(current().union(commands), fut).await
}

/// Runs `fut` with `commands` back on, inside a scope that switched them off.
///
/// It cannot turn on a cache built with `enable=0`.
pub async fn enabled_commands<F: Future>(commands: Commands, fut: F) -> F::Output {
    scope(current().difference(commands), fut).await
}

/// The commands switched off for the current task.
pub fn current() -> Commands {
    DISABLED.try_with(|d| *d).unwrap_or(Commands::NONE)
}

/// Carries the current task's switches into `fut`, for a task you spawn:
/// `tokio::spawn(switch::inherit(fut))`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use cashews::switch;
/// let cache = cashews::Cache::from_url("mem://").unwrap();
/// switch::disabled(async {
///     let c = cache.clone();
///     let child = tokio::spawn(switch::inherit(async move { c.set("k", &1, 60).await }));
///     assert!(!child.await.unwrap().unwrap());
/// })
/// .await;
/// # }
/// ```
pub fn inherit<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    DISABLED.scope(current(), fut)
}

/// Spawns `fut` carrying the current switches: how the strategies start
/// their background work.
pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(inherit(fut))
}

/// Whether `command` is allowed in the current task: the check every
/// [`Cache`](crate::Cache) command makes first.
#[inline]
pub(crate) fn allows(command: Command) -> bool {
    !EVER_SCOPED.load(Ordering::Relaxed)
        || DISABLED.try_with(|d| !d.contains(command)).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_combine() {
        let s = Command::Get | Command::Set;
        assert!(s.contains(Command::Get) && s.contains(Command::Set));
        assert!(!s.contains(Command::Incr));
        assert_eq!(format!("{s:?}"), "{Get, Set}");
        assert!(Commands::ALL.contains(Command::GetKeysCount));
        assert!(!Commands::NONE.contains(Command::Get));
        assert!(
            !Commands::ALL
                .difference(Commands::READS)
                .contains(Command::Exists)
        );
    }

    #[tokio::test]
    async fn scopes_nest_and_reenable() {
        assert!(allows(Command::Get));
        disabled(async {
            assert!(!allows(Command::Get));
            enabled_commands(Command::Get.into(), async {
                assert!(allows(Command::Get));
                assert!(!allows(Command::Set));
            })
            .await;
            assert!(!allows(Command::Get));
        })
        .await;
        disabled_commands(Command::Set.into(), async {
            disabled_commands(Command::Get.into(), async {
                assert_eq!(current(), Command::Get | Command::Set);
            })
            .await;
        })
        .await;
        assert_eq!(current(), Commands::NONE);
    }
}
