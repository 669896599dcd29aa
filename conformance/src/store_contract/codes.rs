//! Authorization codes
//! ([`AuthorizationCodeStore`](mcp_auth_core::store::AuthorizationCodeStore)): single use,
//! replays recognised.

use std::sync::Arc;

use mcp_auth_core::store::{CodeTake, Stores};
use tokio::task::JoinSet;

use super::Check;
use super::fixtures::*;

/// The checks of this artifact, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    super::check!(code_take_is_single_use),
    super::check!(concurrent_takes_yield_one_fresh),
    super::check!(expired_code_is_missing),
    super::check!(unknown_code_is_missing),
    super::check!(replayed_code_reports_what_was_issued),
    super::check!(spent_codes_are_kept_an_hour_past_expiry),
];

async fn code_take_is_single_use(s: &Stores) {
    let c = code("code-1", 1_600);
    s.codes.insert(&c).await.unwrap();
    assert_eq!(
        s.codes.take(&c.code_hash, 1_000).await.unwrap(),
        CodeTake::Fresh(c.clone())
    );
    assert_eq!(
        s.codes.take(&c.code_hash, 1_001).await.unwrap(),
        CodeTake::Replayed {
            client_id: "client-1".to_owned(),
            issued: None
        }
    );
}

async fn concurrent_takes_yield_one_fresh(s: &Stores) {
    let c = code("code-race", 1_600);
    s.codes.insert(&c).await.unwrap();
    let mut set = JoinSet::new();
    for _ in 0..RACERS {
        let codes = Arc::clone(&s.codes);
        let h = c.code_hash.clone();
        set.spawn(async move { codes.take(&h, 1_000).await.unwrap() });
    }
    let outcomes = set.join_all().await;
    let fresh = outcomes
        .iter()
        .filter(|o| matches!(o, CodeTake::Fresh(_)))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, CodeTake::Replayed { .. }))
        .count();
    assert_eq!((fresh, replayed), (1, RACERS - 1));
}

async fn expired_code_is_missing(s: &Stores) {
    let c = code("code-old", 1_600);
    s.codes.insert(&c).await.unwrap();
    assert_eq!(
        s.codes.take(&c.code_hash, 1_600).await.unwrap(),
        CodeTake::Missing
    );
}

async fn unknown_code_is_missing(s: &Stores) {
    assert_eq!(
        s.codes.take(&hash("never-issued"), 1_000).await.unwrap(),
        CodeTake::Missing
    );
}

async fn replayed_code_reports_what_was_issued(s: &Stores) {
    let (with_refresh, without) = (code("code-r", 1_600), code("code-n", 1_600));
    for c in [&with_refresh, &without] {
        s.codes.insert(c).await.unwrap();
        assert!(matches!(
            s.codes.take(&c.code_hash, 1_000).await.unwrap(),
            CodeTake::Fresh(_)
        ));
    }
    let first = issued("jti-1", Some("family-1"));
    let second = issued("jti-2", None);
    s.codes
        .record_issued(&with_refresh.code_hash, &first)
        .await
        .unwrap();
    s.codes
        .record_issued(&without.code_hash, &second)
        .await
        .unwrap();
    // Replays are recognised even after the code's expiry.
    assert_eq!(
        s.codes.take(&with_refresh.code_hash, 2_000).await.unwrap(),
        CodeTake::Replayed {
            client_id: "client-1".to_owned(),
            issued: Some(first)
        }
    );
    assert_eq!(
        s.codes.take(&without.code_hash, 1_001).await.unwrap(),
        CodeTake::Replayed {
            client_id: "client-1".to_owned(),
            issued: Some(second)
        }
    );
}

async fn spent_codes_are_kept_an_hour_past_expiry(s: &Stores) {
    let c = code("code-p", 1_600);
    s.codes.insert(&c).await.unwrap();
    s.codes.take(&c.code_hash, 1_000).await.unwrap();
    assert_eq!(s.codes.purge(1_600 + 3_600).await.unwrap(), 0);
    assert!(matches!(
        s.codes.take(&c.code_hash, 1_600 + 3_600).await.unwrap(),
        CodeTake::Replayed { .. }
    ));
    assert_eq!(s.codes.purge(1_600 + 3_601).await.unwrap(), 1);
    assert_eq!(
        s.codes.take(&c.code_hash, 1_600 + 3_601).await.unwrap(),
        CodeTake::Missing
    );
}
