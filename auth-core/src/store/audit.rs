use std::sync::Mutex;

use async_trait::async_trait;

use crate::clock::UnixTime;
use crate::error::StoreError;

use super::lock;

/// The `prev_hash` of the first event of a chain: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored audit event: a link of the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When it happened, seconds since the epoch.
    pub at: UnixTime,
    /// The event's kind (`token_issued`, …).
    pub kind: String,
    /// The user it concerns, if any.
    pub sub: Option<String>,
    /// The client it concerns, if any.
    pub client_id: Option<String>,
    /// The event as JSON (`crate::ext::AuditEvent`).
    pub data: String,
    /// The `hash` of the previous row ([`GENESIS_HASH`] for `seq` 1).
    pub prev_hash: String,
    /// [`AuditRow::compute_hash`] of this row.
    pub hash: String,
}

impl AuditRow {
    /// SHA-256 hex over `prev_hash`, `seq`, `at`, `kind`, `sub`, `client_id` and `data`, each
    /// length-prefixed (so no two different rows hash the same input).
    pub fn compute_hash(&self) -> String {
        let mut input = String::new();
        let mut field = |s: &str| {
            input.push_str(&s.len().to_string());
            input.push(':');
            input.push_str(s);
        };
        field(&self.prev_hash);
        field(&self.seq.to_string());
        field(&self.at.to_string());
        field(&self.kind);
        field(self.sub.as_deref().unwrap_or("\u{0}"));
        field(self.client_id.as_deref().unwrap_or("\u{0}"));
        field(&self.data);
        crate::secret::TokenHash::of(&input).as_str().to_owned()
    }
}

/// What `append` is given: the row without its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent<'a> {
    /// When it happened.
    pub at: UnixTime,
    /// Its kind.
    pub kind: &'a str,
    /// The user it concerns.
    pub sub: Option<&'a str>,
    /// The client it concerns.
    pub client_id: Option<&'a str>,
    /// The event as JSON.
    pub data: &'a str,
}

/// Which events `list` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this user's.
    pub sub: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only those at or after this time.
    pub since: Option<UnixTime>,
}

/// The audit trail: one append-only hash chain (issue 25 §2).
///
/// Contract:
/// - `append` places the event after the last one, atomically against every other append (on
///   every process and node sharing the store): `seq` is the last `seq` + 1 (1 when empty),
///   `prev_hash` the last row's `hash` ([`GENESIS_HASH`] when empty), `hash`
///   [`AuditRow::compute_hash`]. Returns the row.
/// - `list` returns the rows matching the filter, by `seq`.
/// - `chain` returns every row by `seq` (for verification).
/// - `prune(before)` deletes rows with `at < before`, except the last row (the chain's head,
///   which the next append links to), and returns how many; the rows left keep their
///   `prev_hash`, so the first of them anchors verification.
/// - Rows are never changed.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Append one event to the chain; returns its row. The default is [`Self::append_batch`]
    /// of that one event.
    async fn append(&self, event: &NewAuditEvent<'_>) -> Result<AuditRow, StoreError> {
        let mut rows = self.append_batch(std::slice::from_ref(event)).await?;
        rows.pop()
            .ok_or_else(|| StoreError::backend("audit append stored no row"))
    }
    /// Append `events` to the chain in their order; returns their rows, in that order. One
    /// atomic step against every other append: the rows are contiguous in the chain, and either
    /// all are stored or none (on an error, none). An empty slice stores nothing. The audit
    /// trail writes what requests queued together this way (group commit: one transaction and
    /// one commit for many events).
    async fn append_batch(&self, events: &[NewAuditEvent<'_>])
    -> Result<Vec<AuditRow>, StoreError>;
    /// The rows matching `filter`, by `seq`.
    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError>;
    /// Every row, by `seq`.
    async fn chain(&self) -> Result<Vec<AuditRow>, StoreError>;
    /// Delete rows before `before`; returns how many.
    async fn prune(&self, before: UnixTime) -> Result<u64, StoreError>;
}

/// In-memory [`AuditLog`]: the reference implementation of the contract.
#[derive(Debug, Default)]
pub struct MemoryAuditLog(Mutex<Vec<AuditRow>>);

/// The row that follows `last` (`(seq, hash)`, `None` for an empty chain).
pub fn next_row(last: Option<(i64, String)>, event: &NewAuditEvent<'_>) -> AuditRow {
    let (seq, prev_hash) = last.map_or((1, GENESIS_HASH.to_owned()), |(s, h)| (s + 1, h));
    let mut row = AuditRow {
        seq,
        at: event.at,
        kind: event.kind.to_owned(),
        sub: event.sub.map(str::to_owned),
        client_id: event.client_id.map(str::to_owned),
        data: event.data.to_owned(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = row.compute_hash();
    row
}

/// The rows that follow `last` for `events`, in order: [`next_row`] of each, linked to the one
/// before.
pub fn next_rows(mut last: Option<(i64, String)>, events: &[NewAuditEvent<'_>]) -> Vec<AuditRow> {
    events
        .iter()
        .map(|event| {
            let row = next_row(last.take(), event);
            last = Some((row.seq, row.hash.clone()));
            row
        })
        .collect()
}

#[async_trait]
impl AuditLog for MemoryAuditLog {
    async fn append_batch(
        &self,
        events: &[NewAuditEvent<'_>],
    ) -> Result<Vec<AuditRow>, StoreError> {
        let mut rows = lock(&self.0);
        let added = next_rows(rows.last().map(|r| (r.seq, r.hash.clone())), events);
        rows.extend(added.iter().cloned());
        Ok(added)
    }

    async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
        Ok(lock(&self.0)
            .iter()
            .filter(|r| {
                filter
                    .sub
                    .as_deref()
                    .is_none_or(|s| r.sub.as_deref() == Some(s))
                    && filter
                        .client_id
                        .as_deref()
                        .is_none_or(|c| r.client_id.as_deref() == Some(c))
                    && filter.since.is_none_or(|t| r.at >= t)
            })
            .cloned()
            .collect())
    }

    async fn chain(&self) -> Result<Vec<AuditRow>, StoreError> {
        Ok(lock(&self.0).clone())
    }

    async fn prune(&self, before: UnixTime) -> Result<u64, StoreError> {
        let mut rows = lock(&self.0);
        let n = rows.len();
        let head = rows.last().map_or(0, |r| r.seq);
        rows.retain(|r| r.at >= before || r.seq == head);
        Ok((n - rows.len()) as u64)
    }
}
