//! Signing keys ([`SigningKeyStore`](mcp_auth_core::store::SigningKeyStore)): rotation and purge.

use mcp_auth_core::store::Stores;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(key_rotation_retires_previous),
    super::check!(rotated_in_key_is_current_whatever_it_says),
    super::check!(key_purge_drops_only_long_retired_keys),
];

async fn key_rotation_retires_previous(s: &Stores) {
    assert!(s.keys.list().await.unwrap().is_empty());
    s.keys.rotate(&signing_key("k1", 100), 100).await.unwrap();
    s.keys.rotate(&signing_key("k2", 200), 200).await.unwrap();
    let mut k1 = signing_key("k1", 100);
    k1.retired_at = Some(200);
    assert_eq!(
        s.keys.list().await.unwrap(),
        vec![k1, signing_key("k2", 200)]
    );
}

async fn rotated_in_key_is_current_whatever_it_says(s: &Stores) {
    let mut k = signing_key("k1", 100);
    k.retired_at = Some(50);
    s.keys.rotate(&k, 100).await.unwrap();
    let listed = s.keys.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].retired_at, None);
}

async fn key_purge_drops_only_long_retired_keys(s: &Stores) {
    for (kid, t) in [("k1", 100), ("k2", 200), ("k3", 300)] {
        s.keys.rotate(&signing_key(kid, t), t).await.unwrap();
    }
    // k1 retired at 200, k2 at 300, k3 current.
    assert_eq!(s.keys.purge_retired(200).await.unwrap(), 0);
    assert_eq!(s.keys.purge_retired(250).await.unwrap(), 1);
    let kids: Vec<String> = s
        .keys
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["k2", "k3"]);
}
