//! Password hashing for local users: Argon2id with the `argon2` crate's default parameters
//! (RFC 9106), stored as PHC strings.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A PHC string of a password nobody knows, checked when the username is unknown so that the
/// answer takes as long as for a known user.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$mXjW1VfK8I0qfqnL3k7rXb0t1nhV0T5y4Gf7n1Qy2Xo";

/// Hash `password` into an Argon2id PHC string.
///
/// # Errors
/// The message of the hashing library (it fails only on absurd parameters).
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| "random number generator failed".to_owned())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Check `password` against a stored PHC string; `None` checks against a dummy hash and
/// returns `false`, taking the same time.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let phc = stored.unwrap_or(DUMMY_HASH);
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("correct horse", None));
    }
}
