//! `auth-server audit verify`: re-compute the hash chain and name the first broken link.

use mcp_auth_core::store::{AuditRow, GENESIS_HASH};

/// The first link of the chain that does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BrokenLink {
    /// The row's `hash` is not the hash of its fields: the row was changed.
    #[error("event {seq}: its hash does not match its content (the row was changed)")]
    Altered {
        /// The row.
        seq: i64,
    },
    /// The row's `prev_hash` is not the previous row's `hash`, or `seq` skips: a row was
    /// changed, inserted or deleted before it.
    #[error(
        "event {seq}: it does not follow event {previous} (a row before it was changed, removed or inserted)"
    )]
    Unlinked {
        /// The row.
        seq: i64,
        /// The row before it.
        previous: i64,
    },
    /// The first row is event 1 but does not start from the genesis hash.
    #[error("event {seq}: the chain does not start from the genesis hash")]
    BadStart {
        /// The row.
        seq: i64,
    },
}

/// Check `rows` (by `seq`, as [`mcp_auth_core::store::AuditLog::chain`] returns them): every
/// row's hash matches its content, and each row links to the one before (consecutive `seq`,
/// `prev_hash` = previous `hash`). The first row anchors the check: event 1 must start from
/// [`GENESIS_HASH`]; a later first row (older ones pruned) is taken as it is. Returns how many
/// rows were checked.
///
/// # Errors
/// The first [`BrokenLink`].
pub fn verify(rows: &[AuditRow]) -> Result<usize, BrokenLink> {
    let mut previous: Option<&AuditRow> = None;
    for row in rows {
        match previous {
            None if row.seq == 1 && row.prev_hash != GENESIS_HASH => {
                return Err(BrokenLink::BadStart { seq: row.seq });
            }
            Some(p) if row.seq != p.seq + 1 || row.prev_hash != p.hash => {
                return Err(BrokenLink::Unlinked {
                    seq: row.seq,
                    previous: p.seq,
                });
            }
            _ => {}
        }
        if row.compute_hash() != row.hash {
            return Err(BrokenLink::Altered { seq: row.seq });
        }
        previous = Some(row);
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcp_auth_core::store::{NewAuditEvent, next_row};

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut rows: Vec<AuditRow> = Vec::new();
        for i in 0..n {
            let data = format!("{{\"kind\":\"key_rotated\",\"kid\":\"k{i}\"}}");
            let event = NewAuditEvent {
                at: 1_000 + i,
                kind: "key_rotated",
                sub: None,
                client_id: None,
                data: &data,
            };
            let last = rows.last().map(|r| (r.seq, r.hash.clone()));
            rows.push(next_row(last, &event));
        }
        rows
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
        // Pruned: the first row left anchors.
        assert_eq!(verify(&chain(5)[2..]), Ok(3));
    }

    #[test]
    fn an_edited_row_is_named() {
        let mut rows = chain(5);
        rows[2].data = rows[2].data.replace("k2", "kX");
        assert_eq!(verify(&rows), Err(BrokenLink::Altered { seq: 3 }));
    }

    #[test]
    fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        rows[2].at += 1;
        rows[2].hash = rows[2].compute_hash();
        assert_eq!(
            verify(&rows),
            Err(BrokenLink::Unlinked {
                seq: 4,
                previous: 3
            })
        );
    }

    #[test]
    fn a_removed_row_and_a_forged_start_are_named() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(
            verify(&rows),
            Err(BrokenLink::Unlinked {
                seq: 3,
                previous: 1
            })
        );
        let mut rows = chain(2);
        rows[0].prev_hash = "f".repeat(64);
        rows[0].hash = rows[0].compute_hash();
        assert_eq!(verify(&rows), Err(BrokenLink::BadStart { seq: 1 }));
    }
}
