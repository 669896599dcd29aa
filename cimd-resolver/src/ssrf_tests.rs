//! The SSRF battery and the cache behaviour, through the whole resolver.
//!
//! Network rule: these tests connect only to the local test server on 127.0.0.1. Blocked
//! addresses come from a fake DNS; the guarded resolver records every address it hands to the
//! connector (and, under `cfg(test)`, refuses to hand out anything but loopback), so the tests
//! assert that a blocked address never reached the connector.

use std::sync::Arc;
use std::time::Duration;

use mcp_auth_core::ext::ClientResolver;
use mcp_auth_core::{ClientId, ClientSource, FixedClock, GrantType, TokenEndpointAuthMethod};

use crate::support::{FakeDns, Reply, TestServer, document};
use crate::{CimdError, CimdResolver, CimdResolverBuilder, DocumentError, UrlError};

const NOW: i64 = 1_767_225_600;
const HOST: &str = "cimd.test";
const PATH: &str = "/oauth/client.json";

struct Fixture {
    server: TestServer,
    dns: Arc<FakeDns>,
    clock: Arc<FixedClock>,
}

impl Fixture {
    async fn new() -> Self {
        Self::with_dns(&[]).await
    }

    /// The test server, a fake DNS mapping `cimd.test` to 127.0.0.1 plus `extra`, and a clock.
    async fn with_dns(extra: &[(&str, &[&str])]) -> Self {
        let server = TestServer::start(&[HOST]).await;
        let mut entries: Vec<(&str, &[&str])> = vec![(HOST, &["127.0.0.1"])];
        entries.extend_from_slice(extra);
        Self {
            server,
            dns: FakeDns::new(&entries),
            clock: Arc::new(FixedClock::new(NOW)),
        }
    }

    /// Test mode: loopback allowed, the test CA trusted.
    fn builder(&self) -> CimdResolverBuilder {
        self.strict_builder()
            .insecure_allow_loopback(true)
            .insecure_add_root_certificate_pem(self.server.ca_pem.as_bytes())
    }

    /// Production address rules (loopback refused), the fake DNS and clock.
    fn strict_builder(&self) -> CimdResolverBuilder {
        CimdResolver::builder()
            .dns_lookup(self.dns.clone())
            .clock(self.clock.clone())
    }

    fn resolver(&self) -> CimdResolver {
        self.builder().build().unwrap()
    }

    fn id(&self) -> ClientId {
        self.server.url(HOST, PATH).parse().unwrap()
    }

    fn serve(&self, reply: Reply) {
        self.server.set(PATH, reply);
    }

    fn serve_doc(&self, name: &str, cache_control: &str) {
        self.serve(
            Reply::json(document(self.id().as_str(), name)).header("Cache-Control", cache_control),
        );
    }

    fn hits(&self) -> usize {
        self.server.hits(PATH)
    }
}

fn id(s: &str) -> ClientId {
    s.parse().unwrap()
}

/// One name per blocked range (v4 and v6, embedded forms, cloud metadata): (name, address,
/// range).
const BLOCKED: &[(&str, &str, &str)] = &[
    ("loop4.test", "127.0.0.1", "127.0.0.0/8"),
    ("loop6.test", "::1", "::1/128"),
    ("unspec.test", "0.0.0.0", "0.0.0.0/8"),
    ("ten.test", "10.1.2.3", "10.0.0.0/8"),
    ("rfc1918b.test", "172.20.0.1", "172.16.0.0/12"),
    ("rfc1918c.test", "192.168.1.10", "192.168.0.0/16"),
    ("cgnat.test", "100.64.0.1", "100.64.0.0/10"),
    ("linklocal.test", "169.254.10.10", "169.254.0.0/16"),
    ("metadata.test", "169.254.169.254", "169.254.0.0/16"),
    ("azure.test", "168.63.129.16", "168.63.129.16/32"),
    ("alibaba.test", "100.100.100.200", "100.64.0.0/10"),
    ("doc1.test", "192.0.2.1", "192.0.2.0/24"),
    ("doc2.test", "198.51.100.1", "198.51.100.0/24"),
    ("doc3.test", "203.0.113.1", "203.0.113.0/24"),
    ("bench.test", "198.18.0.1", "198.18.0.0/15"),
    ("multicast.test", "224.0.0.251", "224.0.0.0/4"),
    ("reserved.test", "240.0.0.1", "240.0.0.0/4"),
    ("bcast.test", "255.255.255.255", "240.0.0.0/4"),
    ("ula.test", "fd00::1", "fc00::/7"),
    ("aws6.test", "fd00:ec2::254", "fc00::/7"),
    ("ll6.test", "fe80::1", "fe80::/10"),
    ("mc6.test", "ff02::1", "ff00::/8"),
    ("doc6.test", "2001:db8::1", "2001:db8::/32"),
    ("mapped.test", "::ffff:10.0.0.1", "10.0.0.0/8"),
    (
        "mappedmeta.test",
        "::ffff:169.254.169.254",
        "169.254.0.0/16",
    ),
    ("nat64.test", "64:ff9b::c0a8:0101", "192.168.0.0/16"),
    ("sixtofour.test", "2002:7f00:0001::", "127.0.0.0/8"),
    ("oracle.test", "192.0.0.192", "192.0.0.0/24"),
    ("relay.test", "192.88.99.1", "192.88.99.0/24"),
    ("mappedloop.test", "::ffff:127.0.0.1", "127.0.0.0/8"),
    ("unspec6.test", "::", "::/128"),
    ("discard6.test", "100::1", "100::/64"),
    ("teredo.test", "2001::1", "2001::/23"),
    ("sitelocal.test", "fec0::1", "fec0::/10"),
    ("localnat64.test", "64:ff9b:1::1", "64:ff9b:1::/48"),
    ("doc6b.test", "3fff::1", "3fff::/20"),
];

/// CIMD-11: a DNS name resolving into any blocked range, v4 or v6, is refused and nothing is
/// handed to the connector.
#[tokio::test]
async fn names_resolving_to_blocked_ranges_are_never_connected() {
    let cases = BLOCKED;
    let table: Vec<(&str, Vec<&str>)> = cases.iter().map(|(h, a, _)| (*h, vec![*a])).collect();
    let entries: Vec<(&str, &[&str])> = table.iter().map(|(h, a)| (*h, a.as_slice())).collect();
    let dns = FakeDns::new(&entries);
    let resolver = CimdResolver::builder()
        .dns_lookup(dns.clone())
        .clock(Arc::new(FixedClock::new(NOW)))
        .build()
        .unwrap();
    for (host, addr, range) in cases {
        let err = resolver
            .resolve_document(&id(&format!("https://{host}/client.json")))
            .await
            .unwrap_err();
        match err {
            CimdError::BlockedAddress {
                host: h,
                addr: a,
                range: r,
            } => {
                assert_eq!(h, *host);
                assert_eq!(a, addr.parse::<std::net::IpAddr>().unwrap(), "{host}");
                assert_eq!(r.range, *range, "{host}");
            }
            other => panic!("{host}: expected BlockedAddress, got {other:?}"),
        }
    }
    assert_eq!(
        dns.asked(),
        cases
            .iter()
            .map(|(h, _, _)| h.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(resolver.handed_out(), vec![]);
}

/// CIMD-11: a URL whose host is an IP literal in any blocked range is refused before any
/// lookup or connection, even with IP-literal hosts allowed.
#[tokio::test]
async fn ip_literals_in_every_blocked_range_are_refused_without_io() {
    let dns = FakeDns::new(&[]);
    let resolver = CimdResolver::builder()
        .dns_lookup(dns.clone())
        .allow_ip_literal_hosts(true)
        .build()
        .unwrap();
    for (_, addr, range) in BLOCKED {
        let ip: std::net::IpAddr = addr.parse().unwrap();
        let host = match ip {
            std::net::IpAddr::V4(_) => addr.to_string(),
            std::net::IpAddr::V6(_) => format!("[{addr}]"),
        };
        let err = resolver
            .resolve_document(&id(&format!("https://{host}/client.json")))
            .await
            .unwrap_err();
        match err {
            CimdError::BlockedAddress {
                addr: a, range: r, ..
            } => {
                assert_eq!(a, ip, "{addr}");
                assert_eq!(r.range, *range, "{addr}");
            }
            other => panic!("{addr}: expected BlockedAddress, got {other:?}"),
        }
    }
    assert_eq!(dns.asked(), Vec::<String>::new());
    assert_eq!(resolver.handed_out(), vec![]);
}

/// CIMD-11: one private address among public ones refuses the whole name.
#[tokio::test]
async fn one_private_address_among_public_ones_refuses_the_name() {
    let dns = FakeDns::new(&[("mixed.test", &["93.184.216.34", "10.0.0.7"])]);
    let resolver = CimdResolver::builder().dns_lookup(dns).build().unwrap();
    let err = resolver
        .resolve_document(&id("https://mixed.test/client.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CimdError::BlockedAddress { addr, .. } if addr.to_string() == "10.0.0.7"),
        "{err:?}"
    );
    assert_eq!(resolver.handed_out(), vec![]);
}

/// CIMD-11: without the insecure switch, a name resolving to the (listening) local server is
/// refused and the server sees no request.
#[tokio::test]
async fn loopback_target_is_refused_without_the_insecure_switch() {
    let fx = Fixture::new().await;
    fx.serve_doc("Example", "max-age=600");
    let resolver = fx
        .strict_builder()
        .insecure_add_root_certificate_pem(fx.server.ca_pem.as_bytes())
        .build()
        .unwrap();
    let err = resolver.resolve_document(&fx.id()).await.unwrap_err();
    assert!(
        matches!(&err, CimdError::BlockedAddress { range, .. } if range.range == "127.0.0.0/8"),
        "{err:?}"
    );
    assert_eq!(fx.server.requests().len(), 0);
    assert_eq!(resolver.handed_out(), vec![]);
}

/// CIMD-11: IP-literal hosts in blocked ranges are refused before any lookup or connection.
#[tokio::test]
async fn blocked_ip_literal_hosts_are_refused_without_io() {
    let fx = Fixture::new().await;
    let resolver = fx
        .strict_builder()
        .allow_ip_literal_hosts(true)
        .build()
        .unwrap();
    for raw in [
        "https://10.0.0.1/client.json".to_owned(),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[fd00::1]/client.json".to_owned(),
        "https://[::ffff:192.168.0.1]/client.json".to_owned(),
        format!("https://127.0.0.1:{}{PATH}", fx.server.port()),
        format!("https://[::1]:{}{PATH}", fx.server.port()),
    ] {
        let err = resolver.resolve_document(&id(&raw)).await.unwrap_err();
        assert!(
            matches!(err, CimdError::BlockedAddress { .. }),
            "{raw}: {err:?}"
        );
    }
    assert_eq!(fx.dns.asked(), Vec::<String>::new());
    assert_eq!(fx.server.requests().len(), 0);
    assert_eq!(resolver.handed_out(), vec![]);
}

/// CIMD-08: a 302 to a private address is not followed: one request, one lookup, and only the
/// loopback test server's address reached the connector.
#[tokio::test]
async fn redirect_to_a_private_address_is_not_followed() {
    let fx = Fixture::new().await;
    fx.serve(Reply::status(302).header("Location", "https://10.0.0.1/client.json"));
    let resolver = fx.resolver();
    let err = resolver.resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(err, CimdError::Redirect(302));
    assert_eq!(fx.server.requests().len(), 1);
    assert_eq!(fx.dns.asked(), vec![HOST.to_owned()]);
    assert!(
        resolver.handed_out().iter().all(|a| a.ip().is_loopback()),
        "{:?}",
        resolver.handed_out()
    );
}

/// CIMD-10: a declared body above 5 KiB is refused.
#[tokio::test]
async fn oversized_declared_body_is_refused() {
    let fx = Fixture::new().await;
    fx.serve(Reply::json(format!("{{\"pad\":\"{}\"}}", "x".repeat(6000))));
    let err = fx.resolver().resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(err, CimdError::BodyTooLarge(5120));
}

/// CIMD-10: a body without `Content-Length` is cut off once it passes the limit while
/// streaming.
#[tokio::test]
async fn oversized_streamed_body_is_refused() {
    let fx = Fixture::new().await;
    let mut reply = Reply::json(format!("{{\"pad\":\"{}\"}}", "x".repeat(200_000)));
    reply.close_delimited = true;
    fx.serve(reply);
    let err = fx.resolver().resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(err, CimdError::BodyTooLarge(5120));
}

/// Spec §3.3: a body that stalls is abandoned at the total timeout.
#[tokio::test]
async fn slow_body_times_out() {
    let fx = Fixture::new().await;
    let mut reply = Reply::json(document(fx.id().as_str(), "Slow"));
    reply.stall = true;
    fx.serve(reply);
    let resolver = fx
        .builder()
        .total_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = resolver.resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(err, CimdError::Timeout);
}

/// Spec §3.3: a non-JSON content type is refused, even with a JSON body.
#[tokio::test]
async fn non_json_content_type_is_refused() {
    let fx = Fixture::new().await;
    fx.serve(Reply::json(document(fx.id().as_str(), "Html")).content_type("text/html"));
    let err = fx.resolver().resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(err, CimdError::ContentType("text/html".into()));
}

/// CIMD-04: a body that is not JSON is refused.
#[tokio::test]
async fn non_json_body_is_refused() {
    let fx = Fixture::new().await;
    fx.serve(Reply::json("<html>hello</html>"));
    let err = fx.resolver().resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(err, CimdError::InvalidDocument(DocumentError::NotJson));
}

/// CIMD-03, CIMD-09: a mismatched `client_id` is refused and not cached.
#[tokio::test]
async fn mismatched_client_id_is_refused_and_not_cached() {
    let fx = Fixture::new().await;
    fx.serve(
        Reply::json(document("https://evil.example/oauth/client.json", "Evil"))
            .header("Cache-Control", "max-age=3600"),
    );
    let resolver = fx.resolver();
    for _ in 0..2 {
        let err = resolver.resolve_document(&fx.id()).await.unwrap_err();
        assert_eq!(
            err,
            CimdError::InvalidDocument(DocumentError::ClientIdMismatch)
        );
    }
    assert_eq!(fx.hits(), 2);
}

/// CIMD-13: a document carrying `client_secret` is refused.
#[tokio::test]
async fn document_with_client_secret_is_refused() {
    let fx = Fixture::new().await;
    let mut doc: serde_json::Value =
        serde_json::from_str(&document(fx.id().as_str(), "Secretive")).unwrap();
    doc["client_secret"] = "hunter2".into();
    fx.serve(Reply::json(doc.to_string()));
    let err = fx.resolver().resolve_document(&fx.id()).await.unwrap_err();
    assert_eq!(
        err,
        CimdError::InvalidDocument(DocumentError::SecretPresent("client_secret".into()))
    );
}

/// CIMD-07: fragment and userinfo URLs are refused with no lookup and no request.
#[tokio::test]
async fn fragment_and_userinfo_urls_are_refused_without_io() {
    let fx = Fixture::new().await;
    fx.serve_doc("Example", "max-age=600");
    let resolver = fx.resolver();
    let port = fx.server.port();
    let cases = [
        (format!("https://{HOST}:{port}{PATH}#x"), UrlError::Fragment),
        (
            format!("https://u:p@{HOST}:{port}{PATH}"),
            UrlError::Userinfo,
        ),
        (
            format!("https://{HOST}:{port}/a/../client.json"),
            UrlError::DotSegment,
        ),
        (format!("https://{HOST}:{port}/"), UrlError::NoPath),
    ];
    for (raw, want) in cases {
        assert_eq!(
            resolver.resolve_document(&id(&raw)).await.unwrap_err(),
            CimdError::InvalidUrl(want),
            "{raw}"
        );
    }
    assert_eq!(fx.dns.asked(), Vec::<String>::new());
    assert_eq!(fx.server.requests().len(), 0);
}

/// CIMD-09: a non-200 answer fails and a second attempt fetches again.
#[tokio::test]
async fn non_200_fails_and_is_not_cached() {
    let fx = Fixture::new().await;
    fx.serve(Reply::status(404));
    let resolver = fx.resolver();
    for _ in 0..2 {
        assert_eq!(
            resolver.resolve_document(&fx.id()).await.unwrap_err(),
            CimdError::Status(404)
        );
    }
    assert_eq!(fx.hits(), 2);
}

/// A name the DNS does not know fails with a DNS error.
#[tokio::test]
async fn unknown_name_fails_with_a_dns_error() {
    let fx = Fixture::new().await;
    let err = fx
        .resolver()
        .resolve_document(&id("https://nowhere.test/client.json"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CimdError::Dns { host, .. } if host == "nowhere.test"),
        "{err:?}"
    );
}

/// The failure window: within it a failure is repeated without a fetch; after it, refetched.
#[tokio::test]
async fn negative_window_only_spans_its_seconds() {
    let fx = Fixture::new().await;
    fx.serve(Reply::status(500));
    let resolver = fx.builder().negative_ttl(10).build().unwrap();
    for _ in 0..3 {
        assert_eq!(
            resolver.resolve_document(&fx.id()).await.unwrap_err(),
            CimdError::Status(500)
        );
    }
    assert_eq!(fx.hits(), 1);
    fx.clock.advance(10);
    fx.serve_doc("Recovered", "max-age=600");
    let doc = resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(doc.client_name.as_deref(), Some("Recovered"));
    assert_eq!(fx.hits(), 2);
}

/// Spec §3.6: concurrent requests for one uncached URL cause one fetch.
#[tokio::test]
async fn concurrent_requests_for_one_url_cause_one_fetch() {
    let fx = Fixture::new().await;
    fx.serve_doc("Shared", "max-age=600");
    let resolver = fx.resolver();
    let client_id = fx.id();
    let results =
        futures_util::future::join_all((0..20).map(|_| resolver.resolve_document(&client_id)))
            .await;
    for r in results {
        assert_eq!(r.unwrap().client_name.as_deref(), Some("Shared"));
    }
    assert_eq!(fx.hits(), 1);
    assert_eq!(resolver.flights_in_progress(), 0);
}

/// Spec §3.6: a fetch whose only requester went away still completes, fills the cache, and
/// is not repeated.
#[tokio::test]
async fn abandoned_fetch_still_fills_the_cache() {
    use futures_util::FutureExt;
    let fx = Fixture::new().await;
    fx.serve_doc("Patient", "max-age=600");
    let resolver = fx.resolver();
    let client_id = fx.id();
    assert!(
        resolver
            .resolve_document(&client_id)
            .now_or_never()
            .is_none()
    );
    let doc = resolver.resolve_document(&client_id).await.unwrap();
    assert_eq!(doc.client_name.as_deref(), Some("Patient"));
    assert_eq!(fx.hits(), 1);
    assert_eq!(resolver.flights_in_progress(), 0);
}

/// CIMD-14: with `max-age=600` a request within 600 s uses the cache; after expiry it
/// refetches.
#[tokio::test]
async fn max_age_is_honoured() {
    let fx = Fixture::new().await;
    fx.serve_doc("Cached", "max-age=600");
    let resolver = fx.resolver();
    resolver.resolve_document(&fx.id()).await.unwrap();
    fx.clock.advance(599);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 1);
    fx.clock.advance(1);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 2);
}

/// CIMD-15: a `max-age` above 24 h is clamped to 24 h.
#[tokio::test]
async fn max_age_above_a_day_is_clamped() {
    let fx = Fixture::new().await;
    fx.serve_doc("Forever", "max-age=31536000");
    let resolver = fx.resolver();
    resolver.resolve_document(&fx.id()).await.unwrap();
    fx.clock.advance(86_399);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 1);
    fx.clock.advance(1);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 2);
}

/// A20: a `max-age` below the minimum is raised to 60 s.
#[tokio::test]
async fn max_age_below_the_minimum_is_raised() {
    let fx = Fixture::new().await;
    fx.serve_doc("Brief", "max-age=1");
    let resolver = fx.resolver();
    resolver.resolve_document(&fx.id()).await.unwrap();
    fx.clock.advance(59);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 1);
    fx.clock.advance(1);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 2);
}

/// CIMD-14: a changed document is picked up after the cached one expires, not before.
#[tokio::test]
async fn changed_document_is_picked_up_after_expiry() {
    let fx = Fixture::new().await;
    fx.serve_doc("Version One", "max-age=120");
    let resolver = fx.resolver();
    assert_eq!(
        resolver
            .resolve_document(&fx.id())
            .await
            .unwrap()
            .client_name
            .as_deref(),
        Some("Version One")
    );
    fx.serve_doc("Version Two", "max-age=120");
    fx.clock.advance(119);
    assert_eq!(
        resolver
            .resolve_document(&fx.id())
            .await
            .unwrap()
            .client_name
            .as_deref(),
        Some("Version One")
    );
    fx.clock.advance(1);
    assert_eq!(
        resolver
            .resolve_document(&fx.id())
            .await
            .unwrap()
            .client_name
            .as_deref(),
        Some("Version Two")
    );
}

/// Spec §3.6: `Expires` without `max-age` sets the lifetime.
#[tokio::test]
async fn expires_header_sets_the_lifetime() {
    let fx = Fixture::new().await;
    let expires =
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + Duration::from_secs((NOW + 900) as u64));
    fx.serve(Reply::json(document(fx.id().as_str(), "Dated")).header("Expires", &expires));
    let resolver = fx.resolver();
    resolver.resolve_document(&fx.id()).await.unwrap();
    fx.clock.advance(899);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 1);
    fx.clock.advance(1);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 2);
}

/// Spec §3.6: a stale entry is revalidated with `If-None-Match`; a 304 renews it.
#[tokio::test]
async fn stale_entry_is_revalidated_with_its_etag() {
    let fx = Fixture::new().await;
    fx.serve(
        Reply::json(document(fx.id().as_str(), "Tagged"))
            .header("Cache-Control", "max-age=60")
            .header("ETag", "\"v1\""),
    );
    let resolver = fx.resolver();
    resolver.resolve_document(&fx.id()).await.unwrap();
    fx.clock.advance(60);
    let doc = resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(doc.client_name.as_deref(), Some("Tagged"));
    let requests = fx.server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].header("if-none-match"), Some("\"v1\""));
    assert_eq!(requests[1].header("accept"), Some("application/json"));
    fx.clock.advance(59);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 2);
}

/// Spec §3.6: `no-store` documents are used for the request only and fetched every time.
#[tokio::test]
async fn no_store_document_is_not_cached() {
    let fx = Fixture::new().await;
    fx.serve_doc("Ephemeral", "no-store");
    let resolver = fx.resolver();
    resolver.resolve_document(&fx.id()).await.unwrap();
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 2);
}

/// SEC-06: the per-host fetch budget is enforced before any I/O.
#[tokio::test]
async fn per_host_fetch_rate_limit_is_enforced() {
    let fx = Fixture::new().await;
    fx.serve_doc("Busy", "no-store");
    let resolver = fx.builder().fetch_rate_limit(2, 60).build().unwrap();
    resolver.resolve_document(&fx.id()).await.unwrap();
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(
        resolver.resolve_document(&fx.id()).await.unwrap_err(),
        CimdError::RateLimited(HOST.into())
    );
    assert_eq!(fx.hits(), 2);
    fx.clock.advance(60);
    resolver.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 3);
}

/// CIMD-UI-5: denied hosts, and hosts off a non-empty allow list, are refused without I/O.
#[tokio::test]
async fn host_lists_are_applied_before_any_io() {
    let fx = Fixture::new().await;
    fx.serve_doc("Listed", "max-age=600");
    let denied = fx.builder().deny_host("*.test").build().unwrap();
    assert_eq!(
        denied.resolve_document(&fx.id()).await.unwrap_err(),
        CimdError::HostNotAllowed(HOST.into())
    );
    let protected = fx.builder().allow_host("app.example.com").build().unwrap();
    assert_eq!(
        protected.resolve_document(&fx.id()).await.unwrap_err(),
        CimdError::HostNotAllowed(HOST.into())
    );
    assert_eq!(fx.dns.asked(), Vec::<String>::new());
    let allowed = fx.builder().allow_host("*.test").build().unwrap();
    allowed.resolve_document(&fx.id()).await.unwrap();
    assert_eq!(fx.hits(), 1);
}

/// CIMD-UI-5: trusted hosts are reported for auto-approval.
#[tokio::test]
async fn trusted_hosts_are_reported() {
    let fx = Fixture::new().await;
    let resolver = fx.builder().trusted_host("*.example.com").build().unwrap();
    assert!(resolver.is_trusted(&id("https://app.example.com/client.json")));
    assert!(!resolver.is_trusted(&id("https://app.example.org/client.json")));
    assert!(!resolver.is_trusted(&id("dcr_abc")));
}

/// CIMD-02, A7: the `ClientResolver` answers with a metadata-document client.
#[tokio::test]
async fn resolver_returns_a_metadata_document_client() {
    let fx = Fixture::new().await;
    fx.serve_doc("Example MCP Desktop", "max-age=600");
    let resolver = fx.resolver();
    assert!(resolver.handles(&fx.id()));
    assert!(!resolver.handles(&id("dcr_abc")));
    let client = resolver.resolve(&fx.id()).await.unwrap().unwrap();
    assert_eq!(client.client_id, fx.id());
    assert_eq!(client.source, ClientSource::MetadataDocument);
    assert_eq!(client.client_name.as_deref(), Some("Example MCP Desktop"));
    assert_eq!(
        client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::None
    );
    assert_eq!(
        client.grant_types,
        vec![GrantType::authorization_code(), GrantType::refresh_token()]
    );
    assert!(client.secrets.is_empty());
    assert_eq!(client.resources, None);
    assert_eq!(client.client_id_issued_at, NOW);
    let refused = resolver
        .resolve(&id("https://cimd.test/client.json#frag"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), mcp_auth_core::ErrorCode::InvalidClient);
    assert_eq!(
        refused.description(),
        "client_id URL must not contain a fragment"
    );
}

/// Build rejects out-of-range settings.
#[test]
fn out_of_range_settings_are_rejected_at_build() {
    let cases = [
        CimdResolver::builder().max_body_bytes(0),
        CimdResolver::builder().max_body_bytes(65_537),
        CimdResolver::builder().cache_ttl_bounds(600, 60),
        CimdResolver::builder().cache_ttl_bounds(60, 86_401),
        CimdResolver::builder().negative_ttl(61),
        CimdResolver::builder().fetch_rate_limit(0, 60),
        CimdResolver::builder().total_timeout(Duration::ZERO),
    ];
    for builder in cases {
        assert!(matches!(
            builder.build(),
            Err(crate::CimdBuildError::Setting(_))
        ));
    }
    assert!(matches!(
        CimdResolver::builder()
            .insecure_add_root_certificate_pem(b"not a certificate")
            .build(),
        Err(crate::CimdBuildError::Certificate(_))
    ));
}
