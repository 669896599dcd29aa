//! Parsed inline `jwks` of `private_key_jwt` clients (RFC 7591 §2), kept so that a client's
//! assertions do not parse its JWK Set and build its keys again on every request.
//!
//! An entry is the client's `jwks` document as it was parsed, and its keys. It answers only for
//! a document equal to the one it was parsed from (`serde_json::Value` equality, member order
//! aside), so a client whose registration changes its keys gets the new keys on the first
//! request that reads the new record: nothing here outlives the client record it came from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mcp_auth_core::jose::{KeyError, KeySet};

/// Most clients whose parsed key sets are kept. A JWK Set of one EC key is about 1 KB parsed;
/// a client's `jwks` is at most the registration's size limit, so the cache stays within a few
/// MB. When full it is emptied and fills again with the clients in use.
pub(super) const INLINE_KEY_SET_ENTRIES: usize = 1024;

/// One client's parsed `jwks`: the document and its keys.
struct Entry {
    doc: serde_json::Value,
    keys: Arc<KeySet>,
}

/// Parsed inline key sets by `client_id`, at most [`INLINE_KEY_SET_ENTRIES`]. A document that
/// does not parse ([`KeySet::from_json`] fails) is not kept.
#[derive(Default)]
pub(super) struct InlineKeySets {
    entries: Mutex<HashMap<Box<str>, Arc<Entry>>>,
}

impl InlineKeySets {
    /// The keys of `doc`, the inline `jwks` of client `client_id`: the kept ones when `doc`
    /// equals the document they were parsed from, else [`KeySet::from_json`] of `doc` (kept for
    /// the next request).
    ///
    /// # Errors
    /// Those of [`KeySet::from_json`].
    pub(super) fn get_or_parse(
        &self,
        client_id: &str,
        doc: &serde_json::Value,
    ) -> Result<Arc<KeySet>, KeyError> {
        if let Some(hit) = self.lock().get(client_id)
            && hit.doc == *doc
        {
            return Ok(Arc::clone(&hit.keys));
        }
        let keys = Arc::new(KeySet::from_json(doc)?);
        let entry = Arc::new(Entry {
            keys: Arc::clone(&keys),
            doc: doc.clone(),
        });
        let mut entries = self.lock();
        if entries.len() >= INLINE_KEY_SET_ENTRIES && !entries.contains_key(client_id) {
            entries.clear();
        }
        entries.insert(client_id.into(), entry);
        Ok(keys)
    }

    /// How many clients' key sets are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, Arc<Entry>>> {
        // A panic while holding the lock leaves only complete entries behind.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::client_auth::test_support::NOW;
    use crate::keys::SigningKey;

    fn public_jwk() -> serde_json::Value {
        SigningKey::from_stored(&SigningKey::generate(NOW).unwrap())
            .unwrap()
            .public_jwk()
    }

    /// The same document answers from the cache; a changed document is parsed again and
    /// replaces the entry, so the old keys no longer verify anything for that client.
    #[test]
    fn a_changed_document_is_parsed_again() {
        let cache = InlineKeySets::default();
        let (first, second) = (public_jwk(), public_jwk());
        let doc = json!({"keys": [first.clone()]});
        let a = cache.get_or_parse("c1", &doc).unwrap();
        let b = cache.get_or_parse("c1", &doc.clone()).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "the same document is parsed once");
        assert_eq!((a.len(), cache.len()), (1, 1));

        let rotated = json!({"keys": [second.clone()]});
        let keys = cache.get_or_parse("c1", &rotated).unwrap();
        assert!(!Arc::ptr_eq(&a, &keys));
        let kid = second["kid"].as_str().unwrap();
        assert!(
            keys.select(Some(kid), jsonwebtoken::Algorithm::ES256)
                .is_ok()
        );
        let old = first["kid"].as_str().unwrap();
        assert!(
            keys.select(Some(old), jsonwebtoken::Algorithm::ES256)
                .is_err()
        );
        assert_eq!(cache.len(), 1);
    }

    /// Two clients with equal documents each get their own entry; a document that is not a JWK
    /// Set is refused each time and never kept.
    #[test]
    fn entries_are_per_client_and_failures_are_not_kept() {
        let cache = InlineKeySets::default();
        let doc = json!({"keys": [public_jwk()]});
        cache.get_or_parse("c1", &doc).unwrap();
        cache.get_or_parse("c2", &doc).unwrap();
        assert_eq!(cache.len(), 2);
        for _ in 0..2 {
            assert!(matches!(
                cache.get_or_parse("c3", &json!({"key": []})),
                Err(KeyError::NoKeysArray)
            ));
        }
        assert_eq!(cache.len(), 2);
    }

    /// The cache never holds more than its bound of clients.
    #[test]
    fn the_cache_stays_bounded() {
        let cache = InlineKeySets::default();
        let doc = json!({"keys": [public_jwk()]});
        for i in 0..INLINE_KEY_SET_ENTRIES + 10 {
            cache.get_or_parse(&format!("c{i}"), &doc).unwrap();
            assert!(cache.len() <= INLINE_KEY_SET_ENTRIES);
        }
        assert_eq!(cache.len(), 10);
    }
}
