//! The token vault's store contract ([`VaultStore`]), for the in-memory and SQLite backends,
//! and the sealing through a keyring end to end (ELIC-CB-04, ELIC-CB-08: only ciphertext is
//! stored, bound to its user and connection).

use mcp_auth_core::Secret;
use mcp_auth_core::store::{MemoryVaultStore, SealedEntry, VaultStore};
use mcp_auth_core::vault::{VaultKeyring, VaultSlot};
use mcp_auth_server::storage::sqlite::{SqliteVaultStore, open_pool};

const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K2: &str = "HxweHRwbGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";
const ISS: &str = "https://auth.example.com";

fn keyring(keys: &[(&str, &str)]) -> VaultKeyring {
    let secrets: Vec<(&str, Secret)> = keys.iter().map(|(i, k)| (*i, Secret::new(*k))).collect();
    let refs: Vec<(&str, &Secret)> = secrets.iter().map(|(i, s)| (*i, s)).collect();
    VaultKeyring::new(&refs).unwrap()
}

fn seal(k: &VaultKeyring, sub: &str, connection: &str, text: &str, now: i64) -> SealedEntry {
    k.seal(&VaultSlot::new(ISS, sub, connection), text.as_bytes(), now)
        .unwrap()
}

async fn contract(store: &dyn VaultStore) {
    let k = keyring(&[("k1", K1)]);
    assert_eq!(store.get(ISS, "alice", "calendar").await.unwrap(), None);
    let a_cal = seal(&k, "alice", "calendar", "alice-calendar-token", 10);
    let a_crm = seal(&k, "alice", "crm", "alice-crm-token", 11);
    let b_cal = seal(&k, "bob", "calendar", "bob-calendar-token", 12);
    for e in [&a_cal, &a_crm, &b_cal] {
        store.put(e).await.unwrap();
    }
    let got = store.get(ISS, "alice", "calendar").await.unwrap().unwrap();
    assert_eq!(got, a_cal);
    assert_eq!(k.open(&got).unwrap().expose(), "alice-calendar-token");
    // Last write wins for a slot.
    let rotated = keyring(&[("k2", K2), ("k1", K1)]);
    let again = seal(&rotated, "alice", "calendar", "alice-calendar-token-2", 20);
    store.put(&again).await.unwrap();
    let got = store.get(ISS, "alice", "calendar").await.unwrap().unwrap();
    assert_eq!(got.key_id, "k2");
    assert_eq!(got.updated_at, 20);
    assert_eq!(
        rotated.open(&got).unwrap().expose(),
        "alice-calendar-token-2"
    );
    // A user's entries, by connection; every entry, by slot.
    let alice = store.list_for_subject(ISS, "alice").await.unwrap();
    let names: Vec<&str> = alice.iter().map(|e| e.connection.as_str()).collect();
    assert_eq!(names, ["calendar", "crm"]);
    assert_eq!(store.list().await.unwrap().len(), 3);
    assert!(
        store
            .list_for_subject("https://other.example.com", "alice")
            .await
            .unwrap()
            .is_empty()
    );
    // Delete one slot; the others stay.
    assert!(store.delete(ISS, "alice", "crm").await.unwrap());
    assert!(!store.delete(ISS, "alice", "crm").await.unwrap());
    assert_eq!(store.get(ISS, "alice", "crm").await.unwrap(), None);
    assert!(store.get(ISS, "bob", "calendar").await.unwrap().is_some());
}

/// The in-memory store keeps the contract.
#[tokio::test]
async fn memory_vault_store_contract() {
    contract(&MemoryVaultStore::default()).await;
}

/// The SQLite store keeps the contract, and what it stores is ciphertext only: the plaintext
/// does not appear in the database file (ELIC-CB-08).
#[tokio::test]
async fn sqlite_vault_store_contract_stores_only_ciphertext() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vault.db");
    let pool = open_pool(&path).await.unwrap();
    contract(&SqliteVaultStore::new(pool.clone())).await;
    pool.close().await;
    let mut bytes = std::fs::read(&path).unwrap();
    for side in ["vault.db-wal", "vault.db-shm"] {
        if let Ok(more) = std::fs::read(dir.path().join(side)) {
            bytes.extend(more);
        }
    }
    for plain in [
        "alice-calendar-token",
        "bob-calendar-token",
        "alice-calendar-token-2",
    ] {
        assert!(
            !bytes.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "{plain} is in the database file"
        );
    }
}
