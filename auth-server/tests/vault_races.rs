//! Vault writes that cannot undo each other (compare-and-swap): a refresh that races with a
//! removal, a reconnect or another node, made deterministic by a fake third party on loopback
//! whose token endpoint holds each refresh until the test opens its gate. Two
//! [`Connections`] over one shared store stand for two nodes (each has its own per-slot
//! locks). Also: an entry sealed under a key that is no longer configured is "not connected",
//! never an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mcp_auth_core::store::{SealedEntry, Stores, VaultStore};
use mcp_auth_core::vault::{VaultKeyring, VaultSlot};
use mcp_auth_core::{Secret, UnixTime};
use mcp_auth_server::config::ConnectionConfig;
use mcp_auth_server::connections::{Connection, ConnectionKind, Connections};
use tokio::sync::{Notify, Semaphore};

const ISSUER: &str = "https://auth.example.com";
const ISS: &str = "https://idp.example.com";
const SUB: &str = "user-1";
const CONN: &str = "calendar";
const K0: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const K1: &str = "HxcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAB8eHRwbGhk=";
const NOW: UnixTime = 1_800_000_000;
/// Long enough for an unblocked task to finish on a loaded machine.
const SETTLE: Duration = Duration::from_millis(300);

/// What the fake third party saw and how it answers.
struct Fake {
    /// One permit per refresh request that has arrived.
    arrived: Notify,
    /// Each refresh waits for one permit.
    gate: Semaphore,
    /// Answer refreshes with `invalid_grant`.
    refuse: std::sync::atomic::AtomicBool,
    /// Refreshes answered so far (numbers the tokens `at-N` / `rt-N`).
    issued: std::sync::atomic::AtomicUsize,
    /// The refresh tokens presented, in order.
    refreshed_with: Mutex<Vec<String>>,
    /// The tokens revoked (RFC 7009), in order.
    revoked: Mutex<Vec<String>>,
}

impl Fake {
    fn new() -> Self {
        Self {
            arrived: Notify::new(),
            gate: Semaphore::new(0),
            refuse: Default::default(),
            issued: Default::default(),
            refreshed_with: Mutex::default(),
            revoked: Mutex::default(),
        }
    }

    fn revoked(&self) -> Vec<String> {
        self.revoked.lock().unwrap().clone()
    }
}

async fn token(State(f): State<Arc<Fake>>, Form(form): Form<HashMap<String, String>>) -> Response {
    assert_eq!(
        form.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    f.refreshed_with
        .lock()
        .unwrap()
        .push(form.get("refresh_token").cloned().unwrap_or_default());
    f.arrived.notify_one();
    f.gate.acquire().await.unwrap().forget();
    if f.refuse.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let n = f.issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 2;
    axum::Json(serde_json::json!({
        "access_token": format!("at-{n}"),
        "refresh_token": format!("rt-{n}"),
        "token_type": "Bearer",
        "expires_in": 900,
    }))
    .into_response()
}

async fn revoke(
    State(f): State<Arc<Fake>>,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    f.revoked
        .lock()
        .unwrap()
        .push(form.get("token").cloned().unwrap_or_default());
    StatusCode::OK
}

/// The fake third party on a loopback port, and its base URL.
async fn fake_third_party() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::new());
    let app = axum::Router::new()
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, base)
}

fn calendar(base: &str) -> Connection {
    Connection::from_config(&ConnectionConfig {
        name: CONN.into(),
        display_name: "Example Calendar".into(),
        kind: ConnectionKind::OAuth,
        issuer: None,
        authorization_endpoint: Some(format!("{base}/authorize")),
        token_endpoint: Some(format!("{base}/token")),
        revocation_endpoint: Some(format!("{base}/revoke")),
        client_id: Some("connector".into()),
        client_secret: Some(Secret::new("connector-secret-0123456789")),
        scopes: vec!["calendar:read".into()],
        resource_indicator: None,
        resources: vec!["https://mcp.example.com/mcp".into()],
        allow_insecure_http: true,
        allow_insecure_private_addresses: false,
        scope_descriptions: Default::default(),
    })
    .unwrap()
}

fn keyring(keys: &[(&str, &str)]) -> VaultKeyring {
    let owned: Vec<(String, Secret)> = keys
        .iter()
        .map(|(id, k)| ((*id).to_owned(), Secret::new(*k)))
        .collect();
    let refs: Vec<(&str, &Secret)> = owned.iter().map(|(i, k)| (i.as_str(), k)).collect();
    VaultKeyring::new(&refs).unwrap()
}

/// One node: the `calendar` connection at `base`, sealing with key `k1`, over `store`.
fn node(base: &str, store: &Arc<dyn VaultStore>) -> Arc<Connections> {
    Arc::new(
        Connections::new(
            &ISSUER.parse().unwrap(),
            vec![calendar(base)],
            keyring(&[("k1", K1)]),
            store.clone(),
        )
        .unwrap(),
    )
}

/// An oauth entry for the slot with `access`/`refresh` tokens expiring at `expires_at`,
/// sealed under `key_id`.
fn oauth_entry(
    key_id: &str,
    key: &str,
    access: &str,
    refresh: &str,
    expires_at: i64,
) -> SealedEntry {
    let json = serde_json::json!({
        "kind": "oauth",
        "access_token": access,
        "refresh_token": refresh,
        "expires_at": expires_at,
    })
    .to_string();
    keyring(&[(key_id, key)])
        .seal(&VaultSlot::new(ISS, SUB, CONN), json.as_bytes(), NOW - 1000)
        .unwrap()
}

async fn stored(store: &Arc<dyn VaultStore>) -> Option<SealedEntry> {
    store.get(ISS, SUB, CONN).await.unwrap()
}

/// Start `credential()` on `node` for an expired entry and wait until its refresh request has
/// reached the third party (where it is held at the gate).
async fn refresh_in_flight(
    fake: &Fake,
    node: &Arc<Connections>,
) -> tokio::task::JoinHandle<Option<String>> {
    let n = node.clone();
    let task = tokio::spawn(async move {
        n.credential(ISS, SUB, CONN, NOW)
            .await
            .unwrap()
            .map(|c| c.value.expose().to_owned())
    });
    tokio::time::timeout(Duration::from_secs(10), fake.arrived.notified())
        .await
        .expect("the refresh reached the third party");
    task
}

/// (A) Another node removes the connection (revokes, deletes) while this node's refresh is at
/// the third party: the refresh's `replace` loses, the slot stays empty, the answer is "not
/// connected" and the tokens the refresh just got are revoked too.
#[tokio::test]
async fn a_removal_during_a_refresh_on_another_node_sticks() {
    let (fake, base) = fake_third_party().await;
    let store = Stores::in_memory().vault;
    let (a, b) = (node(&base, &store), node(&base, &store));
    store
        .put(&oauth_entry("k1", K1, "at-1", "rt-1", NOW - 60))
        .await
        .unwrap();
    let refresh = refresh_in_flight(&fake, &a).await;
    assert!(b.remove(ISS, SUB, CONN).await.unwrap());
    assert_eq!(fake.revoked(), ["rt-1", "at-1"]);
    assert_eq!(stored(&store).await, None);
    fake.gate.add_permits(1);
    assert_eq!(refresh.await.unwrap(), None);
    assert_eq!(stored(&store).await, None, "the removal was undone");
    assert_eq!(fake.revoked(), ["rt-1", "at-1", "rt-2", "at-2"]);
    assert_eq!(*fake.refreshed_with.lock().unwrap(), ["rt-1"]);
}

/// (A) on one node: `remove` waits for the slot's refresh, then revokes and deletes what the
/// refresh stored; the refresh's caller got the new token; the slot ends empty.
#[tokio::test]
async fn a_removal_on_the_same_node_waits_for_the_refresh_and_revokes_its_tokens() {
    let (fake, base) = fake_third_party().await;
    let store = Stores::in_memory().vault;
    let a = node(&base, &store);
    store
        .put(&oauth_entry("k1", K1, "at-1", "rt-1", NOW - 60))
        .await
        .unwrap();
    let refresh = refresh_in_flight(&fake, &a).await;
    let n = a.clone();
    let removal = tokio::spawn(async move { n.remove(ISS, SUB, CONN).await.unwrap() });
    tokio::time::sleep(SETTLE).await;
    assert!(
        !removal.is_finished(),
        "remove did not wait for the refresh"
    );
    assert!(fake.revoked().is_empty());
    fake.gate.add_permits(1);
    assert_eq!(refresh.await.unwrap().as_deref(), Some("at-2"));
    assert!(removal.await.unwrap());
    assert_eq!(stored(&store).await, None);
    assert_eq!(fake.revoked(), ["rt-2", "at-2"]);
}

/// A late refresh does not overwrite a fresh reconnect (another node stored the user's new
/// grant while the refresh was at the third party): the reconnect's entry stays and is the
/// answer.
#[tokio::test]
async fn a_late_refresh_does_not_overwrite_a_reconnect() {
    let (fake, base) = fake_third_party().await;
    let store = Stores::in_memory().vault;
    let a = node(&base, &store);
    store
        .put(&oauth_entry("k1", K1, "at-1", "rt-1", NOW - 60))
        .await
        .unwrap();
    let refresh = refresh_in_flight(&fake, &a).await;
    let reconnect = oauth_entry("k1", K1, "at-new", "rt-new", NOW + 3600);
    store.put(&reconnect).await.unwrap();
    fake.gate.add_permits(1);
    assert_eq!(refresh.await.unwrap().as_deref(), Some("at-new"));
    assert_eq!(stored(&store).await, Some(reconnect));
}

/// (B) `invalid_grant` for a refresh token another node already rotated: the other node's
/// fresh entry is kept (`delete_if` of the stale one does nothing) and used; a refusal for the
/// entry still stored deletes it.
#[tokio::test]
async fn a_refused_refresh_deletes_only_the_entry_it_read() {
    let (fake, base) = fake_third_party().await;
    fake.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let store = Stores::in_memory().vault;
    let a = node(&base, &store);
    store
        .put(&oauth_entry("k1", K1, "at-1", "rt-1", NOW - 60))
        .await
        .unwrap();
    let refresh = refresh_in_flight(&fake, &a).await;
    let other_node = oauth_entry("k1", K1, "at-9", "rt-9", NOW + 900);
    store.put(&other_node).await.unwrap();
    fake.gate.add_permits(1);
    assert_eq!(refresh.await.unwrap().as_deref(), Some("at-9"));
    assert_eq!(stored(&store).await, Some(other_node));
    // Refused for the entry that is still stored: it goes.
    store
        .put(&oauth_entry("k1", K1, "at-3", "rt-3", NOW - 60))
        .await
        .unwrap();
    fake.gate.add_permits(1);
    assert_eq!(
        a.credential(ISS, SUB, CONN, NOW)
            .await
            .unwrap()
            .map(|c| c.value.expose().to_owned()),
        None
    );
    assert_eq!(stored(&store).await, None);
}

/// Every log line of this test binary, from a global subscriber installed once.
fn capture_logs() -> Arc<Mutex<Vec<u8>>> {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = Buf(buf.clone());
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
    .clone()
}

/// (C) An entry sealed under key `k0`, which this node no longer has (only `k1`): not an
/// error but "not connected" (`Ok(None)`, so the user gets a fresh elicitation), whether the
/// token is expired or not; a warning names the connection and the key id and no bytes; the
/// entry is kept (nothing is sent to the third party) until a connect overwrites it, and
/// `remove` deletes it without revoking.
#[tokio::test]
async fn an_entry_under_a_lost_key_is_not_connected() {
    let logs = capture_logs();
    let (fake, base) = fake_third_party().await;
    let store = Stores::in_memory().vault;
    let a = node(&base, &store);
    for expires_at in [NOW + 3600, NOW - 60] {
        let lost = oauth_entry("k0", K0, "at-lost", "rt-lost", expires_at);
        store.put(&lost).await.unwrap();
        assert_eq!(
            a.credential(ISS, SUB, CONN, NOW)
                .await
                .unwrap()
                .map(|c| c.value.expose().to_owned()),
            None
        );
        assert_eq!(stored(&store).await, Some(lost));
    }
    // Tampered under the configured key: the same.
    let mut tampered = oauth_entry("k1", K1, "at-t", "rt-t", NOW + 3600);
    tampered.ciphertext[0] ^= 1;
    store.put(&tampered).await.unwrap();
    assert!(a.credential(ISS, SUB, CONN, NOW).await.unwrap().is_none());
    assert!(fake.refreshed_with.lock().unwrap().is_empty());
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let warning = text
        .lines()
        .find(|l| l.contains("WARN") && l.contains("key_id=k0"))
        .unwrap_or_else(|| panic!("no warning naming the key id: {text}"));
    assert!(warning.contains("connection=calendar"), "{warning}");
    assert!(
        !text.contains("at-lost") && !text.contains("rt-lost"),
        "{text}"
    );
    assert!(a.remove(ISS, SUB, CONN).await.unwrap());
    assert_eq!(stored(&store).await, None);
    assert!(fake.revoked().is_empty());
}
