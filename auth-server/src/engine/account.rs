//! What a user authorized, and taking it back (issue 25 §1): the data of the account page
//! (`GET /account`) and of `auth-server grants list` / `grants revoke`, written once over the
//! [`Stores`] so the page and the admin commands show and do the same.
//!
//! An app is listed per (client, resource) when the user consented to it, the client received
//! an access token for the user, or the user holds a usable refresh token of it. "Remove
//! access" ([`remove_access`]) forgets the consents, revokes the refresh token families (and
//! denies the access tokens issued with them), and records a cut-off: an access token of that
//! user and client issued at or before it is inactive at the introspection endpoint (RFC 7662
//! §2.2) at once, and an authorization code issued before it can no longer be redeemed. A
//! resource server that validates JWTs locally only stops accepting such a token at its `exp`.

use std::collections::BTreeMap;

use mcp_auth_core::store::Stores;
use mcp_auth_core::{ClientId, ResourceUri, ScopeSet, StoreError, UnixTime};

use crate::server::AuthorizationServer;

/// One app a user authorized for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedApp {
    /// The client's `client_id`.
    pub client_id: String,
    /// The name to show: the registered `client_name`, the host of a metadata-document
    /// `client_id`, or the `client_id` of a client no longer registered.
    pub client_name: String,
    /// The verified domain: the host of a `client_id` that is a client ID metadata document
    /// URL (the server fetched the document from it); `None` for registered clients ("not
    /// verified").
    pub verified_domain: Option<String>,
    /// The resource (RFC 8707).
    pub resource: ResourceUri,
    /// The scopes the user approved (empty when consent was never asked, as in the
    /// development profile).
    pub scopes: ScopeSet,
    /// When the client first received an access token for the user and resource.
    pub first_used: Option<UnixTime>,
    /// When it last did.
    pub last_used: Option<UnixTime>,
    /// Whether the user holds a usable refresh token of it (the app stays connected).
    pub refresh_token: bool,
}

/// What [`remove_access`] took back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovedAccess {
    /// (client, resource) consents forgotten.
    pub consents: u64,
    /// Refresh tokens revoked (of every state they were in).
    pub refresh_tokens: usize,
}

impl RemovedAccess {
    /// The audit event of this removal of `client_id`'s access for `sub`, done `by` `user` or
    /// `admin`.
    pub fn event(&self, sub: &str, client_id: &str, by: &str) -> mcp_auth_core::ext::AuditEvent {
        mcp_auth_core::ext::AuditEvent::AccessRemoved {
            sub: sub.to_owned(),
            client_id: client_id.to_owned(),
            by: by.to_owned(),
            consents: self.consents,
            refresh_tokens: self.refresh_tokens as u64,
        }
    }
}

/// The apps the user `sub` authorized at `now`, sorted by client id, then resource.
///
/// # Errors
/// A store failed.
pub async fn authorized_apps(
    stores: &Stores,
    sub: &str,
    now: UnixTime,
) -> Result<Vec<AuthorizedApp>, StoreError> {
    let mut rows: BTreeMap<(String, String), AuthorizedApp> = BTreeMap::new();
    let mut row = |client_id: &str, resource: &ResourceUri| -> (String, String) {
        let key = (client_id.to_owned(), resource.as_str().to_owned());
        rows.entry(key.clone()).or_insert_with(|| AuthorizedApp {
            client_id: client_id.to_owned(),
            client_name: client_id.to_owned(),
            verified_domain: None,
            resource: resource.clone(),
            scopes: ScopeSet::default(),
            first_used: None,
            last_used: None,
            refresh_token: false,
        });
        key
    };
    let mut consents = Vec::new();
    for c in stores.consent.list_for_user(sub).await? {
        consents.push((row(&c.client_id, &c.resource), c.scopes));
    }
    let mut uses = Vec::new();
    for u in stores.grant_usage.list_for_user(sub).await? {
        uses.push((row(&u.client_id, &u.resource), u.first_used, u.last_used));
    }
    let mut held = Vec::new();
    for (client_id, resource) in stores.refresh_tokens.held_by_subject(sub, now).await? {
        held.push(row(&client_id, &resource));
    }
    for (key, scopes) in consents {
        if let Some(app) = rows.get_mut(&key) {
            app.scopes = scopes;
        }
    }
    for (key, first, last) in uses {
        if let Some(app) = rows.get_mut(&key) {
            app.first_used = Some(first);
            app.last_used = Some(last);
        }
    }
    for key in held {
        if let Some(app) = rows.get_mut(&key) {
            app.refresh_token = true;
        }
    }
    let mut apps: Vec<AuthorizedApp> = rows.into_values().collect();
    name_clients(stores, &mut apps).await?;
    Ok(apps)
}

/// Fill in each app's name and verified domain from its `client_id` and registration.
async fn name_clients(stores: &Stores, apps: &mut [AuthorizedApp]) -> Result<(), StoreError> {
    for app in apps {
        let Ok(id) = app.client_id.parse::<ClientId>() else {
            continue;
        };
        if id.is_metadata_document_url() {
            app.verified_domain = url::Url::parse(id.as_str())
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
        }
        match stores.clients.get(&id).await? {
            Some(client) => app.client_name = client.display_name(),
            None => {
                if let Some(domain) = &app.verified_domain {
                    app.client_name = domain.clone();
                }
            }
        }
    }
    Ok(())
}

/// The user `sub` removes `client_id`'s access at `now`: forget the consents, revoke the refresh
/// token families (denying the access tokens issued with them), and cut off every other access
/// token and outstanding authorization code of the pair (see the module documentation). The
/// cut-off is recorded first, so a token minted while this runs is covered too. Removing an app
/// that holds nothing changes nothing but the cut-off.
///
/// # Errors
/// A store failed; what was done before the failure stays done, and repeating the call is
/// safe.
pub async fn remove_access(
    stores: &Stores,
    sub: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<RemovedAccess, StoreError> {
    stores.grant_usage.cut_off(sub, client_id, now).await?;
    let consents = stores.consent.revoke_user(sub, Some(client_id)).await?;
    let revoked = stores
        .refresh_tokens
        .revoke_subject(sub, Some(client_id))
        .await?;
    for access in &revoked {
        if access.exp > now {
            stores.denylist.deny(&access.jti, access.exp).await?;
        }
    }
    Ok(RemovedAccess {
        consents,
        refresh_tokens: revoked.len(),
    })
}

impl AuthorizationServer {
    /// [`authorized_apps`] of `sub`, now.
    ///
    /// # Errors
    /// A store failed.
    pub async fn authorized_apps(&self, sub: &str) -> Result<Vec<AuthorizedApp>, StoreError> {
        authorized_apps(self.stores(), sub, self.clock().now()).await
    }

    /// [`remove_access`] of `client_id` for `sub`, now.
    ///
    /// # Errors
    /// A store failed.
    pub async fn remove_access(
        &self,
        sub: &str,
        client_id: &str,
    ) -> Result<RemovedAccess, StoreError> {
        let removed = remove_access(self.stores(), sub, client_id, self.clock().now()).await?;
        self.audit(removed.event(sub, client_id, "user")).await;
        tracing::info!(
            client_id = %client_id,
            consents = removed.consents,
            refresh_tokens = removed.refresh_tokens,
            "access removed by its user"
        );
        Ok(removed)
    }

    /// Note that `client_id` received an access token for `sub` and `resource` at `at` (the
    /// account page's first and last use).
    ///
    /// # Errors
    /// A store failed.
    pub(crate) async fn record_grant_use(
        &self,
        sub: &str,
        client_id: &str,
        resource: &ResourceUri,
        at: UnixTime,
    ) -> Result<(), StoreError> {
        self.stores()
            .grant_usage
            .record_use(sub, client_id, resource, at)
            .await
    }

    /// How long a cut-off must be kept, in seconds: until every access token and code issued
    /// before it has expired (the longest access token lifetime of any resource, or the code
    /// lifetime).
    fn cut_off_horizon(&self) -> u64 {
        let settings = self.settings();
        settings
            .resources
            .all()
            .iter()
            .filter_map(|r| r.access_token_ttl)
            .fold(settings.access_token_ttl, u64::max)
            .max(settings.code_ttl)
    }

    /// Forget the cut-offs no token or code can outlive any more (the background purge).
    ///
    /// # Errors
    /// A store failed.
    pub async fn purge_cut_offs(&self) -> Result<u64, StoreError> {
        let before = self.clock().now() - self.cut_off_horizon() as i64;
        self.stores().grant_usage.purge_cut_offs(before).await
    }

    /// Whether an access token of `sub` and `client_id` issued at `iat` was cut off by its
    /// user's removal of the client ([`remove_access`]).
    ///
    /// # Errors
    /// A store failed.
    pub(crate) async fn is_cut_off(
        &self,
        sub: &str,
        client_id: &str,
        iat: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .stores()
            .grant_usage
            .cut_off_at(sub, client_id)
            .await?
            .is_some_and(|cut_off| iat <= cut_off))
    }
}
