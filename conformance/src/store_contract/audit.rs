//! The audit trail's hash chain ([`AuditLog`](mcp_auth_core::store::AuditLog)).

use std::sync::Arc;

use mcp_auth_core::store::{AuditFilter, AuditRow, GENESIS_HASH, NewAuditEvent, Stores};
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(audit_appends_form_a_hash_chain),
    super::check!(audit_list_filters_by_user_client_and_time),
    super::check!(audit_prune_keeps_the_head_and_the_chain_goes_on),
    super::check!(concurrent_audit_appends_form_one_chain),
    super::check!(audit_batches_are_contiguous_links_of_the_chain),
    super::check!(audit_batch_longer_than_one_statement_is_stored_whole),
];

/// `chain` is one whole chain: `seq` 1, 2, … from [`GENESIS_HASH`], each row linked to the one
/// before and its hash matching its content.
fn assert_one_chain(chain: &[AuditRow]) {
    let mut previous = GENESIS_HASH;
    for (i, row) in chain.iter().enumerate() {
        assert_eq!(row.seq, i as i64 + 1);
        assert_eq!(row.prev_hash, previous);
        assert_eq!(row.hash, row.compute_hash());
        previous = &row.hash;
    }
}

fn event<'a>(at: i64, sub: Option<&'a str>, client_id: Option<&'a str>) -> NewAuditEvent<'a> {
    NewAuditEvent {
        at,
        kind: "token_issued",
        sub,
        client_id,
        data: "{\"kind\":\"token_issued\"}",
    }
}

async fn audit_appends_form_a_hash_chain(s: &Stores) {
    let a = &s.audit;
    let first = a.append(&event(10, Some("u"), Some("c"))).await.unwrap();
    assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH));
    assert_eq!(first.hash, first.compute_hash());
    let second = a.append(&event(11, None, None)).await.unwrap();
    assert_eq!((second.seq, &second.prev_hash), (2, &first.hash));
    assert_eq!(second.hash, second.compute_hash());
    let chain = a.chain().await.unwrap();
    assert_eq!(chain, [first, second]);
}

async fn audit_list_filters_by_user_client_and_time(s: &Stores) {
    let a = &s.audit;
    a.append(&event(10, Some("u"), Some("c1"))).await.unwrap();
    a.append(&event(20, Some("v"), Some("c1"))).await.unwrap();
    a.append(&event(30, Some("u"), Some("c2"))).await.unwrap();
    a.append(&event(40, None, None)).await.unwrap();
    let seqs = |rows: Vec<AuditRow>| -> Vec<i64> { rows.into_iter().map(|r| r.seq).collect() };
    let all = AuditFilter::default();
    assert_eq!(seqs(a.list(&all).await.unwrap()), [1, 2, 3, 4]);
    let user = AuditFilter {
        sub: Some("u".into()),
        ..Default::default()
    };
    assert_eq!(seqs(a.list(&user).await.unwrap()), [1, 3]);
    let client = AuditFilter {
        client_id: Some("c1".into()),
        ..Default::default()
    };
    assert_eq!(seqs(a.list(&client).await.unwrap()), [1, 2]);
    let since = AuditFilter {
        since: Some(20),
        sub: Some("u".into()),
        ..Default::default()
    };
    assert_eq!(seqs(a.list(&since).await.unwrap()), [3]);
}

async fn audit_prune_keeps_the_head_and_the_chain_goes_on(s: &Stores) {
    let a = &s.audit;
    for at in [10, 20, 30] {
        a.append(&event(at, None, None)).await.unwrap();
    }
    assert_eq!(a.prune(25).await.unwrap(), 2);
    assert_eq!(a.prune(1_000).await.unwrap(), 0, "the head stays");
    let head = a.chain().await.unwrap();
    assert_eq!(head.len(), 1);
    let next = a.append(&event(40, None, None)).await.unwrap();
    assert_eq!((next.seq, &next.prev_hash), (4, &head[0].hash));
}

async fn concurrent_audit_appends_form_one_chain(s: &Stores) {
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let audit = Arc::clone(&s.audit);
        set.spawn(async move {
            let sub = format!("user-{i}");
            audit.append(&event(100, Some(&sub), None)).await.unwrap();
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let chain = s.audit.chain().await.unwrap();
    assert_eq!(chain.len(), RACERS);
    assert_one_chain(&chain);
}

/// `append_batch`: the rows come back in the batch's order, linked to the chain before them and
/// to each other, and stay contiguous while single appends race with the batches.
async fn audit_batches_are_contiguous_links_of_the_chain(s: &Stores) {
    let a = &s.audit;
    assert!(a.append_batch(&[]).await.unwrap().is_empty());
    let first = a.append(&event(10, Some("u"), None)).await.unwrap();
    let rows = a
        .append_batch(&[event(11, Some("v"), Some("c")), event(12, None, None)])
        .await
        .unwrap();
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(
        (rows[0].prev_hash.as_str(), rows[1].prev_hash.as_str()),
        (first.hash.as_str(), rows[0].hash.as_str())
    );
    assert_eq!((rows[0].at, rows[0].sub.as_deref()), (11, Some("v")));
    assert!(rows.iter().all(|r| r.hash == r.compute_hash()));

    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let audit = Arc::clone(&s.audit);
        set.spawn(async move {
            let sub = format!("batch-{i}");
            if i % 2 == 0 {
                let rows = audit
                    .append_batch(&[event(100, Some(&sub), None), event(101, Some(&sub), None)])
                    .await
                    .unwrap();
                assert_eq!(rows[1].seq, rows[0].seq + 1, "a batch is contiguous");
            } else {
                audit.append(&event(100, Some(&sub), None)).await.unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let chain = a.chain().await.unwrap();
    assert_eq!(chain.len(), 3 + RACERS + RACERS.div_ceil(2));
    assert_one_chain(&chain);
    for pair in chain.windows(2) {
        if pair[1].at == 101 {
            assert_eq!(
                (pair[0].at, &pair[0].sub),
                (100, &pair[1].sub),
                "a batch's rows are next to each other"
            );
        }
    }
}

/// A batch too long for one SQL statement's parameters (2,500 rows of 8: over SQLite's 32,766 and
/// PostgreSQL's 65,535 limits if sent as one) is stored whole and in order, every column as
/// given: what `chain` reads back is what `append_batch` returned.
async fn audit_batch_longer_than_one_statement_is_stored_whole(s: &Stores) {
    let a = &s.audit;
    let subs: Vec<String> = (0..2_500).map(|i| format!("user-{i}")).collect();
    let events: Vec<NewAuditEvent<'_>> = subs
        .iter()
        .enumerate()
        .map(|(i, sub)| {
            let client_id = (i % 3 == 0).then_some("c");
            event(
                1_000 + i as i64,
                (i % 2 == 0).then_some(sub.as_str()),
                client_id,
            )
        })
        .collect();
    let rows = a.append_batch(&events).await.unwrap();
    assert_eq!(rows.len(), 2_500);
    let chain = a.chain().await.unwrap();
    assert_eq!(chain, rows);
    assert_one_chain(&chain);
    assert_eq!(
        (chain[4].at, chain[4].sub.as_deref()),
        (1_004, Some("user-4"))
    );
    assert_eq!(
        (chain[3].sub.as_deref(), chain[3].client_id.as_deref()),
        (None, Some("c"))
    );
}
