//! The token vault ([`VaultStore`](mcp_auth_core::store::VaultStore)).

use std::sync::Arc;

use mcp_auth_core::store::{SealedEntry, Stores};
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(vault_entries_upsert_list_and_delete),
    super::check!(vault_replace_and_delete_if_compare_the_sealing),
    super::check!(vault_replace_race_has_exactly_one_winner),
];

/// ELIC-CB-04: the vault is keyed by (iss, sub, connection): upsert by slot (last write wins),
/// lookups, a user's entries ordered by connection, every entry, delete of one slot.
async fn vault_entries_upsert_list_and_delete(s: &Stores) {
    let vault = &s.vault;
    const ISS: &str = "https://idp.example";
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    vault.put(&sealed("u1", "github", 1)).await.unwrap();
    vault.put(&sealed("u1", "drive", 2)).await.unwrap();
    vault.put(&sealed("u2", "github", 3)).await.unwrap();
    vault.put(&sealed("u1", "github", 4)).await.unwrap();
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(sealed("u1", "github", 4))
    );
    assert_eq!(
        vault
            .get("https://other.example", "u1", "github")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        vault.list_for_subject(ISS, "u1").await.unwrap(),
        vec![sealed("u1", "drive", 2), sealed("u1", "github", 4)]
    );
    assert_eq!(vault.list().await.unwrap().len(), 3);
    assert!(vault.delete(ISS, "u1", "github").await.unwrap());
    assert!(!vault.delete(ISS, "u1", "github").await.unwrap());
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    assert!(vault.get(ISS, "u2", "github").await.unwrap().is_some());
}

/// ELIC-CB-04 (the vault slot is the user's): `replace(old, new)` writes only while the slot
/// still holds exactly `old`, compared by key id, nonce and ciphertext (`updated_at` is not
/// compared); it never fills an empty slot and refuses a `new` of another slot; `delete_if(old)`
/// removes only that exact entry. Neither touches another user's slot holding the same bytes.
async fn vault_replace_and_delete_if_compare_the_sealing(s: &Stores) {
    let vault = &s.vault;
    const ISS: &str = "https://idp.example";
    let a = sealed("u1", "github", 1);
    let b = sealed("u1", "github", 2);
    let c = sealed("u1", "github", 3);
    // An empty slot stays empty.
    assert!(!vault.replace(&a, &b).await.unwrap());
    assert!(!vault.delete_if(&a).await.unwrap());
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    vault.put(&a).await.unwrap();
    // Same bytes in another user's slot: never the target.
    vault.put(&sealed("u2", "github", 1)).await.unwrap();
    // Any difference in key id, nonce or ciphertext: nothing written.
    let mut other_key = a.clone();
    other_key.key_id = "v2".into();
    let mut other_nonce = a.clone();
    other_nonce.nonce[11] ^= 1;
    let mut other_ciphertext = a.clone();
    other_ciphertext.ciphertext[19] ^= 1;
    for stale in [&other_key, &other_nonce, &other_ciphertext] {
        assert!(!vault.replace(stale, &b).await.unwrap(), "{stale:?}");
        assert!(!vault.delete_if(stale).await.unwrap(), "{stale:?}");
        assert_eq!(
            vault.get(ISS, "u1", "github").await.unwrap(),
            Some(a.clone())
        );
    }
    // `new` for another slot: refused, nothing written anywhere.
    assert!(vault.replace(&a, &sealed("u3", "github", 9)).await.is_err());
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(vault.get(ISS, "u3", "github").await.unwrap(), None);
    // `updated_at` is not part of the comparison; the whole new entry is stored.
    let mut a_later = a.clone();
    a_later.updated_at = 99;
    assert!(vault.replace(&a_later, &b).await.unwrap());
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(b.clone())
    );
    // `a` is gone: a second replace from it loses, and so does delete_if.
    assert!(!vault.replace(&a, &c).await.unwrap());
    assert!(!vault.delete_if(&a).await.unwrap());
    assert_eq!(
        vault.get(ISS, "u1", "github").await.unwrap(),
        Some(b.clone())
    );
    assert!(vault.delete_if(&b).await.unwrap());
    assert!(!vault.delete_if(&b).await.unwrap());
    assert_eq!(vault.get(ISS, "u1", "github").await.unwrap(), None);
    assert_eq!(
        vault.get(ISS, "u2", "github").await.unwrap(),
        Some(sealed("u2", "github", 1))
    );
}

/// ELIC-CB-04: [`RACERS`] concurrent `replace` calls from the same `old`, each with its own
/// `new`: exactly one returns `true` and the slot holds that one's entry; then [`RACERS`]
/// concurrent `delete_if` of it: exactly one deletes.
async fn vault_replace_race_has_exactly_one_winner(s: &Stores) {
    const ISS: &str = "https://idp.example";
    let old = sealed("u1", "github", 1);
    s.vault.put(&old).await.unwrap();
    let mut set = JoinSet::new();
    for i in 0..RACERS {
        let vault = Arc::clone(&s.vault);
        let old = old.clone();
        let mut new = sealed("u1", "github", 100 + i as i64);
        new.nonce = vec![i as u8 + 2; 12];
        set.spawn(async move { (vault.replace(&old, &new).await.unwrap(), new) });
    }
    let outcomes = set.join_all().await;
    let winners: Vec<&SealedEntry> = outcomes
        .iter()
        .filter(|(won, _)| *won)
        .map(|(_, new)| new)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    let stored = s.vault.get(ISS, "u1", "github").await.unwrap().unwrap();
    assert_eq!(&stored, winners[0]);
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let vault = Arc::clone(&s.vault);
        let stored = stored.clone();
        set.spawn(async move { vault.delete_if(&stored).await.unwrap() });
    }
    let deleted = set.join_all().await.into_iter().filter(|d| *d).count();
    assert_eq!(deleted, 1);
    assert_eq!(s.vault.get(ISS, "u1", "github").await.unwrap(), None);
}
