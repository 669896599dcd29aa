//! Password hashing for local users: Argon2id with the `argon2` crate's default parameters
//! (RFC 9106 §4 second recommendation as OWASP tunes it: `m = 19456` KiB, `t = 2`, `p = 1`),
//! stored as PHC strings; and the [`HashPool`] that runs sign-in checks (issue #8 item 2).
//!
//! One check holds about 19 MiB while it runs. The pool runs checks on a few dedicated threads
//! (not on the async runtime's blocking pool, whose up to 512 threads would each keep an
//! allocator arena of their own), and admits only a bounded number of checks at once; a sign-in
//! that finds every slot taken waits briefly, then is told to retry ([`PasswordError::Busy`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use mcp_auth_core::Secret;

/// A PHC string of a password nobody knows, with the same parameters as [`hash_password`]'s
/// (`m = 19456`, `t = 2`, `p = 1`), checked when the username is unknown so that the answer
/// costs as much as for a known user.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$mXjW1VfK8I0qfqnL3k7rXb0t1nhV0T5y4Gf7n1Qy2Xo";

/// Why a password could not be checked. None of these means "wrong password".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// Every password-check slot stayed taken for the whole wait: answer `429` with
    /// `Retry-After: 1`.
    #[error("every password-check slot is busy")]
    Busy,
    /// The check panicked: an internal error.
    #[error("the password check panicked")]
    Panicked,
    /// The stored hash is not a PHC string Argon2 can read: an internal error.
    #[error("the stored password hash cannot be read")]
    UnreadableHash,
    /// The hashing threads are gone: an internal error.
    #[error("the password hashing threads are gone")]
    PoolGone,
}

/// Hash `password` into an Argon2id PHC string.
///
/// # Errors
/// [`PasswordHashError`]: no randomness for the salt, or the hashing library refused (it
/// fails only on absurd parameters).
pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| PasswordHashError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordHashError::Hash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(PasswordHashError::Hash)
}

/// Why [`hash_password`] made no hash. Never carries the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordHashError {
    /// The system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// The hashing library refused.
    #[error("password hashing: {0}")]
    Hash(argon2::password_hash::Error),
}

/// Check `password` against a stored PHC string; `None` (an unknown user) checks against a dummy
/// hash of the same cost and returns `Ok(false)`. Runs on the calling thread: servers call it
/// through [`HashPool::verify`].
///
/// # Errors
/// [`PasswordError::UnreadableHash`] when `stored` is not a readable PHC string (never reported
/// as a wrong password).
pub fn verify_password(password: &str, stored: Option<&str>) -> Result<bool, PasswordError> {
    let phc = stored.unwrap_or(DUMMY_HASH);
    let parsed = PasswordHash::new(phc).map_err(|_| PasswordError::UnreadableHash)?;
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Ok(ok && stored.is_some())
}

/// A fixed set of threads (a [`rayon::ThreadPool`] of its own, threads named
/// `password-hash-N`) that run password checks, behind a bound on checks in flight.
///
/// Memory for hashing is at most `threads` × 19 MiB; at most `max_in_flight` checks are running
/// or queued; a caller waits at most `wait` for a slot. Dropping the pool stops its threads once
/// their queue is empty.
pub struct HashPool {
    threads: rayon::ThreadPool,
    slots: Arc<tokio::sync::Semaphore>,
    wait: Duration,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("free_slots", &self.slots.available_permits())
            .field("wait", &self.wait)
            .finish()
    }
}

impl HashPool {
    /// Start `threads` hashing threads (at least one), admitting `max_in_flight` checks at once
    /// (at least one); a check waits up to `wait` for a slot.
    ///
    /// # Errors
    /// The operating system refused to start a thread.
    pub fn new(threads: usize, max_in_flight: usize, wait: Duration) -> std::io::Result<Self> {
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("password-hash-{i}"))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            threads,
            slots: Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1))),
            wait,
        })
    }

    /// Check `password` against `stored` (see [`verify_password`]) on a pool thread.
    ///
    /// # Errors
    /// [`PasswordError::Busy`] when no slot freed up within the wait; the other variants are
    /// internal errors.
    pub async fn verify(
        &self,
        password: Secret,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(move || verify_password(password.expose(), stored.as_deref()))
            .await?
    }

    /// Run `job` on a pool thread once a slot is free. The slot is held until the job ends, even
    /// when the caller stops waiting; a job whose caller is gone before it starts is skipped.
    ///
    /// # Errors
    /// [`PasswordError::Busy`] when no slot freed up within the wait, [`PasswordError::Panicked`]
    /// when `job` panicked, [`PasswordError::PoolGone`] when the threads are gone.
    pub async fn run<T, F>(&self, job: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let slot =
            match tokio::time::timeout(self.wait, Arc::clone(&self.slots).acquire_owned()).await {
                Ok(Ok(slot)) => slot,
                Ok(Err(_)) => return Err(PasswordError::PoolGone),
                Err(_) => return Err(PasswordError::Busy),
            };
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.threads.spawn(move || {
            if tx.is_closed() {
                return;
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(job));
            // Free the slot before answering, so a caller that got its answer sees it free.
            drop(slot);
            let _ = tx.send(result.map_err(|_| PasswordError::Panicked));
        });
        rx.await.map_err(|_| PasswordError::PoolGone)?
    }

    /// Slots free right now (for tests and diagnostics).
    pub fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(verify_password("correct horse", Some(&h)), Ok(true));
        assert_eq!(verify_password("wrong", Some(&h)), Ok(false));
        assert_eq!(verify_password("correct horse", None), Ok(false));
    }

    /// Issue #8 item 2: the unknown-user path costs the same as the known-user path: the dummy
    /// hash is readable and has exactly the parameters new hashes get.
    #[test]
    fn unknown_user_dummy_hash_has_the_parameters_of_real_hashes() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real_phc = hash_password("x").unwrap();
        let real = PasswordHash::new(&real_phc).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(
            argon2::Params::try_from(&dummy).unwrap(),
            argon2::Params::try_from(&real).unwrap()
        );
        assert_eq!(dummy.hash.unwrap().len(), real.hash.unwrap().len());
    }

    /// Issue #9 §4: `DUMMY_HASH` parses, and checking a password against it runs the whole
    /// Argon2id computation: the library answers "password mismatch" (`Error::Password`), which
    /// it can only say after hashing the password with the dummy's salt and parameters and
    /// comparing. Any other error (unreadable string, bad parameters, bad output length) would
    /// come before the hashing, and unknown users would be answered faster than known ones.
    #[test]
    fn dummy_hash_parses_and_an_unknown_user_costs_a_full_check() {
        let dummy = PasswordHash::new(DUMMY_HASH).expect("DUMMY_HASH must parse");
        assert_eq!(
            Argon2::default().verify_password(b"any password", &dummy),
            Err(argon2::password_hash::Error::Password)
        );
        assert_eq!(verify_password("any password", None), Ok(false));
    }

    /// Issue #8 item 2: an unreadable stored hash is an error, never "wrong password".
    #[test]
    fn unreadable_stored_hash_is_an_error_not_a_wrong_password() {
        assert_eq!(
            verify_password("x", Some("not a phc string")),
            Err(PasswordError::UnreadableHash)
        );
    }

    /// Issue #8 item 2: a panic in the hashing task is an internal error, never "wrong
    /// password", and the pool keeps working afterwards.
    #[tokio::test]
    async fn panic_in_the_hashing_task_is_an_internal_error() {
        let pool = HashPool::new(1, 1, Duration::from_secs(5)).unwrap();
        let r: Result<bool, _> = pool.run(|| panic!("boom")).await;
        assert_eq!(r, Err(PasswordError::Panicked));
        assert_eq!(pool.free_slots(), 1);
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }

    /// Issue #8 item 2: checks run on the pool's own named threads, not the blocking pool.
    #[tokio::test]
    async fn checks_run_on_the_pool_threads() {
        let pool = HashPool::new(2, 4, Duration::from_secs(5)).unwrap();
        let name = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap()
            .unwrap();
        assert!(name.starts_with("password-hash-"), "{name}");
    }

    /// Issue #8 item 2: past the bound on checks in flight, a check waits, then is refused as
    /// busy (not run, not counted as a wrong password); it runs once a slot frees up.
    #[tokio::test]
    async fn checks_past_the_bound_wait_then_are_refused_as_busy() {
        let pool = Arc::new(HashPool::new(1, 1, Duration::from_millis(50)).unwrap());
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(move || release_rx.recv().is_ok()).await })
        };
        while pool.free_slots() != 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            pool.verify(Secret::new("pw"), None).await,
            Err(PasswordError::Busy)
        );
        release_tx.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(true));
        assert_eq!(pool.run(|| 1).await, Ok(1));
    }
}
