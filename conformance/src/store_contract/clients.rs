//! Registered clients ([`ClientStore`](mcp_auth_core::store::ClientStore)).

use mcp_auth_core::store::Stores;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(client_put_get_delete_list),
    super::check!(unknown_client_is_none),
];

async fn client_put_get_delete_list(s: &Stores) {
    let (a, b) = (client("client-a"), client("client-b"));
    s.clients.put(&b).await.unwrap();
    s.clients.put(&a).await.unwrap();
    assert_eq!(s.clients.get(&a.client_id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.clients.list().await.unwrap(), vec![a.clone(), b.clone()]);

    let mut renamed = a.clone();
    renamed.client_name = Some("Renamed".to_owned());
    renamed.scope = None;
    s.clients.put(&renamed).await.unwrap();
    assert_eq!(s.clients.get(&a.client_id).await.unwrap(), Some(renamed));

    assert!(s.clients.delete(&a.client_id).await.unwrap());
    assert!(!s.clients.delete(&a.client_id).await.unwrap());
    assert_eq!(s.clients.get(&a.client_id).await.unwrap(), None);
    assert_eq!(s.clients.list().await.unwrap(), vec![b]);
}

async fn unknown_client_is_none(s: &Stores) {
    assert_eq!(s.clients.get(&client_id("nobody")).await.unwrap(), None);
    assert!(s.clients.list().await.unwrap().is_empty());
}
