//! Pending URL-mode elicitations ([`ElicitationStore`](mcp_auth_core::store::ElicitationStore)).

use std::sync::Arc;

use mcp_auth_core::Secret;
use mcp_auth_core::store::{
    ElicitationBinding, ElicitationStatus, ElicitationStore, PendingElicitation, Stores,
};
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(elicitation_insert_get_and_conflict),
    super::check!(elicitation_find_open_picks_newest_of_exact_binding),
    super::check!(elicitation_begin_replaces_state),
    super::check!(elicitation_state_is_found_without_being_spent),
    super::check!(elicitation_state_is_spent_once),
    super::check!(elicitation_concurrent_spend_state_has_one_winner),
    super::check!(elicitation_expired_is_not_actionable),
    super::check!(elicitation_finish_only_from_open_states),
    super::check!(elicitation_purge_drops_entries_expired_a_day_ago),
];

/// ELIC-08: an elicitation reads back exactly as stored (every field, including a state hash,
/// the PKCE verifier and `finished_at`); an unknown id is `None`; inserting an id that exists
/// is an error and leaves the first entry unchanged.
async fn elicitation_insert_get_and_conflict(s: &Stores) {
    let e = &s.elicitations;
    let plain = elicitation("el-1", 1_000);
    e.insert(&plain).await.unwrap();
    let mut full = elicitation("el-2", 1_000);
    full.status = ElicitationStatus::InProgress;
    full.state_hash = Some(state("st-full"));
    full.code_verifier = Some(Secret::new("verifier-full"));
    full.finished_at = Some(1_010);
    e.insert(&full).await.unwrap();
    assert_eq!(e.get("el-1").await.unwrap(), Some(plain.clone()));
    let got = e.get("el-2").await.unwrap().unwrap();
    assert_eq!(got, full);
    assert_eq!(got.code_verifier.unwrap().expose(), "verifier-full");
    assert_eq!(e.get("el-unknown").await.unwrap(), None);
    let mut clash = elicitation("el-1", 2_000);
    clash.sub = "mallory".into();
    assert!(e.insert(&clash).await.is_err());
    assert_eq!(e.get("el-1").await.unwrap(), Some(plain));
}

/// ELIC-07, ELIC-R2-10: `find_open` returns the newest open, unexpired elicitation of exactly
/// (iss, sub, client_id, connection, resource) — never one that differs in any of them (case
/// included), an expired or a finished one — with ties on `created_at` broken by the greater
/// id; `count_open_for_subject` counts the user's open, unexpired ones across bindings.
async fn elicitation_find_open_picks_newest_of_exact_binding(s: &Stores) {
    let e = &s.elicitations;
    let now = 1_500;
    insert_find_open_candidates(e, now).await;

    let r = mcp_resource();
    let found = e.find_open(&alice_binding(&r), now).await.unwrap().unwrap();
    assert_eq!(found.id, "tie-b");
    assert_eq!(found, elicitation("tie-b", 1_100));
    // In progress is still open.
    assert!(
        e.begin("old", &state("s-old"), &Secret::new("v"), now)
            .await
            .unwrap()
    );
    assert!(
        e.finish("tie-b", ElicitationStatus::Cancelled, now)
            .await
            .unwrap()
    );
    let found = e.find_open(&alice_binding(&r), now).await.unwrap().unwrap();
    assert_eq!(found.id, "tie-a");
    assert!(
        e.finish("tie-a", ElicitationStatus::Failed, now)
            .await
            .unwrap()
    );
    let found = e.find_open(&alice_binding(&r), now).await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.status),
        ("old", ElicitationStatus::InProgress)
    );
    // Once it expires nothing is open for the binding.
    assert_eq!(e.find_open(&alice_binding(&r), 1_900).await.unwrap(), None);
    let nobody = ElicitationBinding {
        sub: "bob",
        ..alice_binding(&r)
    };
    assert_eq!(e.find_open(&nobody, now).await.unwrap(), None);
    assert_open_counts_of_alice(e, now).await;
}

/// The elicitations of [`elicitation_find_open_picks_newest_of_exact_binding`]: three open ones
/// exactly bound (`old`, and `tie-a`/`tie-b` created at the same second), newer ones that each
/// differ from the binding in one field, and newer exactly bound ones that are expired at `now`
/// or finished.
async fn insert_find_open_candidates(e: &Arc<dyn ElicitationStore>, now: i64) {
    e.insert(&elicitation("old", 1_000)).await.unwrap();
    e.insert(&elicitation("tie-a", 1_100)).await.unwrap();
    e.insert(&elicitation("tie-b", 1_100)).await.unwrap();
    // Newer, but each differs from the binding in one field.
    type Change = fn(&mut PendingElicitation);
    let variants: [(&str, Change); 6] = [
        ("o-iss", |x| x.iss = "https://other.example".into()),
        ("o-sub", |x| x.sub = "Alice".into()),
        ("o-client", |x| x.client_id = "other-client".into()),
        ("o-conn", |x| x.connection = "crm".into()),
        ("o-res", |x| {
            x.resource = "http://127.0.0.1:8080/mcp2".parse().unwrap()
        }),
        ("o-res-case", |x| {
            x.resource = "http://127.0.0.1:8080/MCP".parse().unwrap()
        }),
    ];
    for (id, change) in variants {
        let mut x = elicitation(id, 1_400);
        change(&mut x);
        e.insert(&x).await.unwrap();
    }
    // Newer and exactly bound, but expired at `now` (expires_at == now) or finished.
    let mut expired = elicitation("expired", 1_450);
    expired.expires_at = now;
    e.insert(&expired).await.unwrap();
    let mut done = elicitation("done", 1_460);
    done.status = ElicitationStatus::Completed;
    done.finished_at = Some(1_470);
    e.insert(&done).await.unwrap();
    let mut failed = elicitation("failed", 1_461);
    failed.status = ElicitationStatus::Failed;
    e.insert(&failed).await.unwrap();
    let mut cancelled = elicitation("cancelled", 1_462);
    cancelled.status = ElicitationStatus::Cancelled;
    e.insert(&cancelled).await.unwrap();
}

/// The open counts of [`insert_find_open_candidates`] after `tie-a` and `tie-b` finished.
async fn assert_open_counts_of_alice(e: &Arc<dyn ElicitationStore>, now: i64) {
    // alice at `now`: old, o-client, o-conn, o-res, o-res-case (not o-iss, o-sub, expired,
    // finished ones, tie-a, tie-b).
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", now).await.unwrap(),
        5
    );
    assert_eq!(
        e.count_open_for_subject(E_ISS, "Alice", now).await.unwrap(),
        1
    );
    assert_eq!(
        e.count_open_for_subject("https://other.example", "alice", now)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        e.count_open_for_subject(E_ISS, "bob", now).await.unwrap(),
        0
    );
    // All of them expired by 1_000 + 900 / 1_400 + 900.
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", 2_300)
            .await
            .unwrap(),
        0
    );
}

/// ELIC-CB-03: `begin` moves an open elicitation to in progress with a state and verifier; a
/// second `begin` replaces them, and the earlier state no longer works. `begin` on an unknown,
/// finished or expired elicitation changes nothing and returns false.
async fn elicitation_begin_replaces_state(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), 1_010)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::InProgress);
    assert_eq!(got.state_hash, Some(state("s1")));
    assert_eq!(got.code_verifier, Some(Secret::new("v1")));
    assert!(
        e.begin("el", &state("s2"), &Secret::new("v2"), 1_020)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.state_hash, Some(state("s2")));
    assert_eq!(got.code_verifier, Some(Secret::new("v2")));
    assert_eq!(take_state(e, &state("s1"), 1_030).await, None);
    assert!(take_state(e, &state("s2"), 1_030).await.is_some());
    // Unknown, expired, finished.
    assert!(
        !e.begin("nope", &state("s3"), &Secret::new("v3"), 1_040)
            .await
            .unwrap()
    );
    assert!(
        !e.begin("el", &state("s3"), &Secret::new("v3"), 1_900)
            .await
            .unwrap()
    );
    assert!(
        e.finish("el", ElicitationStatus::Completed, 1_050)
            .await
            .unwrap()
    );
    assert!(
        !e.begin("el", &state("s4"), &Secret::new("v4"), 1_060)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::Completed);
    assert_eq!((got.state_hash, got.code_verifier), (None, None));
    assert_eq!(take_state(e, &state("s4"), 1_070).await, None);
}

/// Issue 19 §6: `find_state` returns the entry holding an outstanding state as it is (state and
/// verifier included) and changes nothing, however often it is asked, so a callback refused
/// after the look-up (another user, a wrong `iss`) leaves the state to its owner. An unknown
/// state, or the state of a pending (never begun) entry, finds nothing.
async fn elicitation_state_is_found_without_being_spent(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    let mut pending = elicitation("pending", 1_000);
    pending.state_hash = Some(state("never-begun"));
    e.insert(&pending).await.unwrap();
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), 1_010)
            .await
            .unwrap()
    );
    let mut expected = elicitation("el", 1_000);
    expected.status = ElicitationStatus::InProgress;
    expected.state_hash = Some(state("s1"));
    expected.code_verifier = Some(Secret::new("v1"));
    for at in [1_020, 1_021] {
        let found = e.find_state(&state("s1"), at).await.unwrap();
        assert_eq!(found.as_ref(), Some(&expected));
    }
    assert_eq!(e.get("el").await.unwrap(), Some(expected));
    assert_eq!(e.find_state(&state("unknown"), 1_021).await.unwrap(), None);
    assert_eq!(
        e.find_state(&state("never-begun"), 1_021).await.unwrap(),
        None
    );
}

/// ELIC-CB-03, ELIC-R2-07: `spend_state` clears the state and verifier of the entry that holds
/// it, once: a second spend, a spend naming another entry, an unknown state, or the state of a
/// pending (never begun) entry changes nothing and returns false; a spent state is found no
/// more.
async fn elicitation_state_is_spent_once(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    e.insert(&elicitation("other", 1_000)).await.unwrap();
    let mut pending = elicitation("pending", 1_000);
    pending.state_hash = Some(state("never-begun"));
    e.insert(&pending).await.unwrap();
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), 1_010)
            .await
            .unwrap()
    );
    assert!(!e.spend_state("other", &state("s1"), 1_020).await.unwrap());
    assert!(!e.spend_state("el", &state("unknown"), 1_020).await.unwrap());
    assert!(
        !e.spend_state("pending", &state("never-begun"), 1_020)
            .await
            .unwrap()
    );
    assert!(e.find_state(&state("s1"), 1_020).await.unwrap().is_some());
    assert!(e.spend_state("el", &state("s1"), 1_020).await.unwrap());
    let after = e.get("el").await.unwrap().unwrap();
    assert_eq!(after.status, ElicitationStatus::InProgress);
    assert_eq!((after.state_hash, after.code_verifier), (None, None));
    assert!(!e.spend_state("el", &state("s1"), 1_021).await.unwrap());
    assert_eq!(e.find_state(&state("s1"), 1_021).await.unwrap(), None);
    assert_eq!(take_state(e, &state("s1"), 1_021).await, None);
}

/// ELIC-CB-03, ELIC-R2-07: 16 concurrent callbacks that all found one state race to spend it:
/// exactly one wins (and it found the verifier).
async fn elicitation_concurrent_spend_state_has_one_winner(s: &Stores) {
    s.elicitations
        .insert(&elicitation("el", 1_000))
        .await
        .unwrap();
    assert!(
        s.elicitations
            .begin("el", &state("race"), &Secret::new("v-race"), 1_010)
            .await
            .unwrap()
    );
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let store = Arc::clone(&s.elicitations);
        set.spawn(async move { take_state(&store, &state("race"), 1_020).await });
    }
    let winners: Vec<PendingElicitation> = set.join_all().await.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1);
    assert_eq!(winners[0].id, "el");
    assert_eq!(winners[0].code_verifier, Some(Secret::new("v-race")));
}

/// ELIC-17, ELIC-CB-03: at `expires_at` an elicitation is no longer actionable: not found open,
/// not counted, cannot begin, and its outstanding state cannot be spent; `finish` still records
/// the outcome (it ignores expiry), once.
async fn elicitation_expired_is_not_actionable(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("el", 1_000)).await.unwrap();
    let at = 1_900; // expires_at
    assert!(
        e.begin("el", &state("s1"), &Secret::new("v1"), at - 1)
            .await
            .unwrap()
    );
    let r = mcp_resource();
    assert!(
        e.find_open(&alice_binding(&r), at - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(e.find_open(&alice_binding(&r), at).await.unwrap(), None);
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", at - 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        e.count_open_for_subject(E_ISS, "alice", at).await.unwrap(),
        0
    );
    assert!(
        !e.begin("el", &state("s2"), &Secret::new("v2"), at)
            .await
            .unwrap()
    );
    assert_eq!(take_state(e, &state("s1"), at).await, None);
    assert!(!e.spend_state("el", &state("s1"), at).await.unwrap());
    // Nothing changed by the refused steps.
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.state_hash, Some(state("s1")));
    assert_eq!(got.status, ElicitationStatus::InProgress);
    assert!(
        e.finish("el", ElicitationStatus::Failed, at + 5)
            .await
            .unwrap()
    );
    assert!(
        !e.finish("el", ElicitationStatus::Completed, at + 6)
            .await
            .unwrap()
    );
    let got = e.get("el").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::Failed);
    assert_eq!(got.finished_at, Some(at + 5));
}

/// ELIC-17: `finish` moves only an open (pending or in progress) elicitation, only to
/// completed, failed or cancelled; it stamps `finished_at` and clears state and verifier. An
/// open-status argument, an unknown id, or a second finish returns false and changes nothing.
async fn elicitation_finish_only_from_open_states(s: &Stores) {
    let e = &s.elicitations;
    e.insert(&elicitation("a", 1_000)).await.unwrap();
    e.insert(&elicitation("b", 1_000)).await.unwrap();
    assert!(
        !e.finish("a", ElicitationStatus::Pending, 1_010)
            .await
            .unwrap()
    );
    assert!(
        !e.finish("a", ElicitationStatus::InProgress, 1_010)
            .await
            .unwrap()
    );
    assert_eq!(e.get("a").await.unwrap(), Some(elicitation("a", 1_000)));
    assert!(
        !e.finish("nope", ElicitationStatus::Completed, 1_010)
            .await
            .unwrap()
    );
    // From pending.
    assert!(
        e.finish("a", ElicitationStatus::Cancelled, 1_020)
            .await
            .unwrap()
    );
    assert!(
        !e.finish("a", ElicitationStatus::Completed, 1_030)
            .await
            .unwrap()
    );
    let got = e.get("a").await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.finished_at),
        (ElicitationStatus::Cancelled, Some(1_020))
    );
    // From in progress: state and verifier cleared, the state is dead.
    assert!(
        e.begin("b", &state("sb"), &Secret::new("vb"), 1_040)
            .await
            .unwrap()
    );
    assert!(
        e.finish("b", ElicitationStatus::Completed, 1_050)
            .await
            .unwrap()
    );
    let got = e.get("b").await.unwrap().unwrap();
    assert_eq!(got.status, ElicitationStatus::Completed);
    assert_eq!(got.finished_at, Some(1_050));
    assert_eq!((got.state_hash, got.code_verifier), (None, None));
    assert_eq!(take_state(e, &state("sb"), 1_060).await, None);
    assert!(!e.spend_state("b", &state("sb"), 1_060).await.unwrap());
    assert!(
        !e.finish("b", ElicitationStatus::Failed, 1_070)
            .await
            .unwrap()
    );
    assert_eq!(
        e.get("b").await.unwrap().unwrap().status,
        ElicitationStatus::Completed
    );
}

/// ELIC-17: `purge_expired` deletes entries expired a day (`ELICITATION_RETENTION`) or more
/// before `now`, whatever their status, and keeps the others.
async fn elicitation_purge_drops_entries_expired_a_day_ago(s: &Stores) {
    use mcp_auth_core::store::ELICITATION_RETENTION;
    let e = &s.elicitations;
    e.insert(&elicitation("early", 1_000)).await.unwrap(); // expires 1_900
    e.insert(&elicitation("later", 2_000)).await.unwrap(); // expires 2_900
    assert!(
        e.finish("later", ElicitationStatus::Completed, 2_010)
            .await
            .unwrap()
    );
    assert_eq!(
        e.purge_expired(1_900 + ELICITATION_RETENTION - 1)
            .await
            .unwrap(),
        0
    );
    assert!(e.get("early").await.unwrap().is_some());
    assert_eq!(
        e.purge_expired(1_900 + ELICITATION_RETENTION)
            .await
            .unwrap(),
        1
    );
    assert_eq!(e.get("early").await.unwrap(), None);
    assert!(e.get("later").await.unwrap().is_some());
    assert_eq!(
        e.purge_expired(2_900 + ELICITATION_RETENTION)
            .await
            .unwrap(),
        1
    );
    assert_eq!(e.get("later").await.unwrap(), None);
}
