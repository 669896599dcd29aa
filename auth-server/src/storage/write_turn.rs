//! One writer at a time per SQLite database in this process, first come first served.
//!
//! SQLite takes one write transaction at a time. Writers that meet inside the database wait in
//! its busy handler, which sleeps in steps growing to 100 ms and keeps no queue: a connection
//! that just committed and writes again at once wins the lock over one that is asleep. Under
//! concurrent token requests (each redemption of a code writes the code, the refresh token and
//! the grant's use) this gave the write paths a latency tail of hundreds of milliseconds and a
//! fraction of their throughput (`bench/grants.sh`). The SQLite stores therefore take a
//! [`WriteTurn`] for every call that writes (`storage::deadline`'s `write fn`s, the replay
//! claims' batch writer): writers of this process queue in arrival order in memory, and only
//! one at a time reaches the database, where it finds the lock free (other processes, like the
//! admin commands, still meet it in the busy handler), over the database's one writing
//! connection (`sqlite::SqlitePools`). Reads take no turn and use the other connections: in WAL
//! mode they never wait for the writer. Waiting for the turn counts against the call's store
//! deadline.
//!
//! PostgreSQL needs none: it locks rows, not the database.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

/// The turn to write to one SQLite database (see the module documentation). Clones share it.
#[derive(Debug, Clone, Default)]
pub struct WriteTurn(Arc<Mutex<()>>);

impl WriteTurn {
    /// A turn of its own, for one database.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wait for the turn (in arrival order: tokio's mutex is fair); it is held until the guard
    /// is dropped.
    pub async fn take(&self) -> MutexGuard<'_, ()> {
        self.0.lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Clones share the turn: of several writers, one at a time holds it, and each gets it.
    #[tokio::test]
    async fn one_writer_at_a_time() {
        let turn = WriteTurn::new();
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut writers = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (turn, inside, most) = (turn.clone(), inside.clone(), most.clone());
            writers.spawn(async move {
                let _turn = turn.take().await;
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                inside.fetch_sub(1, Ordering::SeqCst);
            });
        }
        let mut done = 0;
        while let Some(w) = writers.join_next().await {
            w.unwrap();
            done += 1;
        }
        assert_eq!((done, most.load(Ordering::SeqCst)), (8, 1));
    }
}
